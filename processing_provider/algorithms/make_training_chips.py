"""Make training chips: non-overlapping stack chips + mapped labels + a CSV manifest."""

import os

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..common import (
    GROUPS, check_crs, engine_errors, EngineFeedback, group_icon, help_string, help_url, int_values,
    raster_path, with_help,
)
from ..outputs import RunOutputs
from ...plugin.engine.water import chips


class MakeTrainingChips(QgsProcessingAlgorithm):
    STACK = "STACK"
    LABELS = "LABELS"
    SIZE = "SIZE"
    WATER_VALUES = "WATER_VALUES"
    LAND_VALUES = "LAND_VALUES"
    CLOUD_VALUES = "CLOUD_VALUES"
    MIN_WATER = "MIN_WATER"
    MAX_CLOUD = "MAX_CLOUD"
    MAX_NODATA = "MAX_NODATA"
    MIN_VALID = "MIN_VALID"
    OUTPUT = "OUTPUT"
    MANIFEST = "MANIFEST"
    KEPT = "KEPT"
    REJECTED = "REJECTED"

    def name(self):
        return "make_training_chips"

    def displayName(self):  # noqa: N802
        return "Make training chips (stack + DSWE labels)"

    def group(self):
        return GROUPS["models"]

    def groupId(self):  # noqa: N802
        return GROUPS["models"]

    def tags(self):
        return "training,chips,labels,dswe,water,deep learning,dataset".split(",")

    def shortDescription(self):  # noqa: N802
        return "Cut training chips and labels from a water stack and DSWE labels."

    def helpUrl(self):  # noqa: N802
        return help_url("models")

    def icon(self):
        return group_icon(self.groupId())

    def createInstance(self):  # noqa: N802
        return MakeTrainingChips()

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Cuts a water stack and a label raster into non-overlapping square chips for "
            "training a water model (python -m training water --chips manifest.csv). The label "
            "raster is resampled onto the stack grid (nearest neighbour) and mapped to water (1), "
            "not water (0) and ignored (255). Defaults follow the DSWE interpreted layer (INWAM): "
            "1, 2 = water; 0 = not water; 3, 4, 9 and fill = ignored; 9 counts as cloud. The "
            "filters are fractions of a chip's pixels: by default a chip is kept when water is at "
            "least 5 % of its valid labels, cloud at most 30 %, nodata at most 50 % and valid "
            "labels at least 10 %.",
            "Also returned: the manifest path and the numbers of chips kept and rejected. A failed "
            "or cancelled run removes the chips it wrote.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.STACK, "Water stack"),
            "A water stack whose band descriptions name the channels (from 'Build water stack')."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(
            self.LABELS, "Label raster (e.g. DSWE INWAM)"),
            "Label raster on any grid overlapping the stack, e.g. DSWE INWAM or OPERA DSWx WTR; "
            "resampled by nearest neighbour."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.SIZE, "Chip size in pixels", QgsProcessingParameterNumber.Integer,
            defaultValue=512, minValue=32),
            "Chip edge in pixels (512 as in the seed study); chips do not overlap, and edge strips "
            "narrower than a chip are skipped."))
        for key, label, default, optional, text in (
                (self.WATER_VALUES, "Label values meaning water", "1,2", False,
                 "Label codes meaning water, comma separated (DSWE: 1,2)."),
                (self.LAND_VALUES, "Label values meaning not water", "0", False,
                 "Label codes meaning not water (DSWE: 0). Every other code and the label's nodata "
                 "are ignored (255)."),
                (self.CLOUD_VALUES, "Label values meaning cloud", "9", True,
                 "Label codes counted as cloud for the cloud filter (DSWE: 9).")):
            self.addParameter(with_help(QgsProcessingParameterString(
                key, label, defaultValue=default, optional=optional), text))
        for key, label, default, text in (
                (self.MIN_WATER, "Minimum water fraction (of valid labels)", 0.05,
                 "Keep a chip only if water is at least this fraction of its valid labels (default 0.05)."),
                (self.MAX_CLOUD, "Maximum cloud fraction", 0.3,
                 "Keep a chip only if cloud is at most this fraction of its pixels (default 0.3)."),
                (self.MAX_NODATA, "Maximum nodata fraction", 0.5,
                 "Keep a chip only if nodata (stack or label) is at most this fraction of its pixels "
                 "(default 0.5)."),
                (self.MIN_VALID, "Minimum valid-label fraction", 0.1,
                 "Keep a chip only if valid labels (water or not water) are at least this fraction "
                 "of its pixels (default 0.1).")):
            self.addParameter(with_help(QgsProcessingParameterNumber(
                key, label, QgsProcessingParameterNumber.Double, defaultValue=default,
                minValue=0.0, maxValue=1.0), text))
        self.addParameter(with_help(QgsProcessingParameterFolderDestination(self.OUTPUT, "Output folder"),
            "Receives images/*.tif (stack bands, named), labels/*.tif (uint8 0/1/255) and "
            "manifest.csv (paths, position, water/cloud/nodata/valid fractions, source stack)."))
        self.addOutput(QgsProcessingOutputFile(self.MANIFEST, "Manifest (CSV)"))
        self.addOutput(QgsProcessingOutputNumber(self.KEPT, "Chips kept"))
        self.addOutput(QgsProcessingOutputNumber(self.REJECTED, "Chips rejected"))

    def _codes(self, parameters, key, context, what):
        return int_values(self.parameterAsString(parameters, key, context), what)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        stack_layer = self.parameterAsRasterLayer(parameters, self.STACK, context)
        label_layer = self.parameterAsRasterLayer(parameters, self.LABELS, context)
        stack = raster_path(stack_layer, "water stack")
        labels = raster_path(label_layer, "label raster")
        check_crs(stack_layer, "water stack")
        check_crs(label_layer, "label raster")
        engine = EngineFeedback(feedback)
        with RunOutputs(self, parameters, context, inputs=[stack, labels]) as run, engine_errors(feedback):
            info = chips.make_chips(
                stack, labels, run.folder(self.OUTPUT), size=self.parameterAsInt(parameters, self.SIZE, context),
                water_values=self._codes(parameters, self.WATER_VALUES, context, "Water values"),
                land_values=self._codes(parameters, self.LAND_VALUES, context, "Not-water values"),
                cloud_values=self._codes(parameters, self.CLOUD_VALUES, context, "Cloud values"),
                min_water=self.parameterAsDouble(parameters, self.MIN_WATER, context),
                max_cloud=self.parameterAsDouble(parameters, self.MAX_CLOUD, context),
                max_nodata=self.parameterAsDouble(parameters, self.MAX_NODATA, context),
                min_valid=self.parameterAsDouble(parameters, self.MIN_VALID, context),
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo)
        if info["kept"] == 0:
            feedback.pushWarning("No chip passed the filters; see the rejection counts above.")
        out = run.final(self.OUTPUT)
        return {self.OUTPUT: out, self.MANIFEST: os.path.join(out, "manifest.csv"), self.KEPT: info["kept"],
                self.REJECTED: sum(info["rejected"].values())}
