"""Make training chips: non-overlapping stack chips + mapped labels + a CSV manifest."""

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..common import EngineFeedback, check_crs, engine_errors, raster_path
from ...plugin.engine import chips


def _values(text, what):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise QgsProcessingException(f"{what} {text!r} must be comma-separated integers.") from None


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
        return "Surface water"

    def groupId(self):  # noqa: N802
        return "water"

    def createInstance(self):  # noqa: N802
        return MakeTrainingChips()

    def shortHelpString(self):  # noqa: N802
        return (
            "Cuts a water stack and a label raster into non-overlapping square chips for "
            "training a water model (python -m training water --chips manifest.csv). The label "
            "raster is resampled onto the stack grid (nearest neighbour) and mapped to water (1), "
            "not water (0) and ignored (255). Defaults follow the DSWE interpreted layer (INWAM): "
            "1, 2 = water; 0 = not water; 3, 4, 9 and fill = ignored; 9 counts as cloud.\n\n"
            "<b>Parameters</b>\n<ul>"
            "<li><b>Water stack</b>: from 'Build water stack' (band names = channels).</li>"
            "<li><b>Label raster</b>: e.g. DSWE INWAM or OPERA DSWx WTR, any grid overlapping the "
            "stack.</li>"
            "<li><b>Chip size</b>: pixels (512 as in the seed study); edge strips narrower than a "
            "chip are skipped.</li>"
            "<li><b>Water / not-water / cloud values</b>: label codes, comma separated; every other "
            "code and the label's nodata are ignored.</li>"
            "<li><b>Filters</b> (fractions of a chip's pixels): keep a chip when water is at least "
            "5 % of its valid labels, cloud at most 30 %, nodata at most 50 % and valid labels at "
            "least 10 %.</li>"
            "<li><b>Output folder</b>: images/*.tif (stack bands, named), labels/*.tif (uint8 "
            "0/1/255) and manifest.csv (paths, position, water/cloud/nodata/valid fractions, "
            "source stack).</li></ul>"
            "A failed or cancelled run removes the chips it wrote."
        )

    HELP = {
        'STACK': "A water stack whose band descriptions name the channels (from 'Build water stack').", 'LABELS': 'Label raster on any overlapping grid, e.g. DSWE INWAM or OPERA DSWx WTR; resampled by nearest neighbour.',
        'SIZE': 'Chip edge in pixels (512 as in the seed study); chips do not overlap.',
        'WATER_VALUES': 'Label codes meaning water, comma separated (DSWE: 1,2).',
        'LAND_VALUES': 'Label codes meaning not water (DSWE: 0). Every other code is ignored (255).',
        'CLOUD_VALUES': 'Label codes counted as cloud for the cloud filter (DSWE: 9).',
        'MIN_WATER': 'Keep a chip only if water is at least this fraction of its valid labels.',
        'MAX_CLOUD': 'Keep a chip only if cloud is at most this fraction of its pixels.',
        'MAX_NODATA': 'Keep a chip only if nodata (stack or label) is at most this fraction of its pixels.',
        'MIN_VALID': 'Keep a chip only if valid labels (water or not water) are at least this fraction of its pixels.',
    }

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.STACK, "Water stack"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.LABELS, "Label raster (e.g. DSWE INWAM)"))
        self.addParameter(QgsProcessingParameterNumber(
            self.SIZE, "Chip size in pixels", QgsProcessingParameterNumber.Integer,
            defaultValue=512, minValue=32))
        self.addParameter(QgsProcessingParameterString(self.WATER_VALUES, "Label values meaning water",
                                                       defaultValue="1,2"))
        self.addParameter(QgsProcessingParameterString(self.LAND_VALUES, "Label values meaning not water",
                                                       defaultValue="0"))
        self.addParameter(QgsProcessingParameterString(self.CLOUD_VALUES, "Label values meaning cloud",
                                                       defaultValue="9", optional=True))
        for key, label, default in ((self.MIN_WATER, "Minimum water fraction (of valid labels)", 0.05),
                                    (self.MAX_CLOUD, "Maximum cloud fraction", 0.3),
                                    (self.MAX_NODATA, "Maximum nodata fraction", 0.5),
                                    (self.MIN_VALID, "Minimum valid-label fraction", 0.1)):
            self.addParameter(QgsProcessingParameterNumber(
                key, label, QgsProcessingParameterNumber.Double, defaultValue=default,
                minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT, "Output folder"))
        self.addOutput(QgsProcessingOutputFile(self.MANIFEST, "Manifest (CSV)"))
        self.addOutput(QgsProcessingOutputNumber(self.KEPT, "Chips kept"))
        self.addOutput(QgsProcessingOutputNumber(self.REJECTED, "Chips rejected"))

        for parameter in self.parameterDefinitions():
            if parameter.name() in self.HELP:
                parameter.setHelp(self.HELP[parameter.name()])

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        stack_layer = self.parameterAsRasterLayer(parameters, self.STACK, context)
        label_layer = self.parameterAsRasterLayer(parameters, self.LABELS, context)
        stack = raster_path(stack_layer, "water stack")
        labels = raster_path(label_layer, "label raster")
        check_crs(stack_layer, "water stack")
        check_crs(label_layer, "label raster")
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        engine = EngineFeedback(feedback)
        with engine_errors(feedback):
            info = chips.make_chips(
                stack, labels, out, size=self.parameterAsInt(parameters, self.SIZE, context),
                water_values=_values(self.parameterAsString(parameters, self.WATER_VALUES, context), "Water values"),
                land_values=_values(self.parameterAsString(parameters, self.LAND_VALUES, context), "Not-water values"),
                cloud_values=_values(self.parameterAsString(parameters, self.CLOUD_VALUES, context) or "", "Cloud values"),
                min_water=self.parameterAsDouble(parameters, self.MIN_WATER, context),
                max_cloud=self.parameterAsDouble(parameters, self.MAX_CLOUD, context),
                max_nodata=self.parameterAsDouble(parameters, self.MAX_NODATA, context),
                min_valid=self.parameterAsDouble(parameters, self.MIN_VALID, context),
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo)
        if info["kept"] == 0:
            feedback.pushWarning("No chip passed the filters; see the rejection counts above.")
        return {self.OUTPUT: out, self.MANIFEST: info["manifest"], self.KEPT: info["kept"],
                self.REJECTED: sum(info["rejected"].values())}
