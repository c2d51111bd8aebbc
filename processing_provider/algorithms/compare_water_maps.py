"""Compare water maps: a water raster against a reference on another grid (IoU, F1, ...)."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant

from ..common import (
    GROUPS, add_rows, check_crs, engine_errors, EngineFeedback, group_icon, help_string, help_url,
    int_values, make_fields, raster_path, with_help,
)
from ..outputs import RunOutputs
from ...plugin.engine.water import metrics as water_metrics

METRICS = ("iou", "f1", "precision", "recall", "accuracy", "tp", "fp", "fn", "tn", "compared_pixels")


class CompareWaterMaps(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    REFERENCE = "REFERENCE"
    INPUT_WATER = "INPUT_WATER"
    INPUT_LAND = "INPUT_LAND"
    REFERENCE_WATER = "REFERENCE_WATER"
    REFERENCE_LAND = "REFERENCE_LAND"
    OUTPUT = "OUTPUT"

    def name(self):
        return "compare_water_maps"

    def displayName(self):  # noqa: N802
        return "Compare water maps (IoU, F1, precision, recall)"

    def group(self):
        return GROUPS["water"]

    def groupId(self):  # noqa: N802
        return GROUPS["water"]

    def tags(self):
        return "water,flood,accuracy,iou,f1,compare,validation,dswe,dswx".split(",")

    def shortDescription(self):  # noqa: N802
        return "Compare a water map with a reference map (IoU, F1, precision, recall)."

    def helpUrl(self):  # noqa: N802
        return help_url("water")

    def icon(self):
        return group_icon(self.groupId())

    def createInstance(self):  # noqa: N802
        return CompareWaterMaps()

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Scores a water map against a reference water map, e.g. a 'Detect surface water' "
            "mask against OPERA DSWx or a high-resolution classification. The rasters may have "
            "different CRSs and pixel sizes: both are brought onto the grid of the coarser one, "
            "cut to where they overlap (the finer is resampled by majority, so classes never "
            "blend), window by window. Each map's water and not-water codes are given; other "
            "codes (cloud, snow, fill) and nodata are left out, and a pixel counts only where "
            "both maps say water or not water.",
            "The metrics are also algorithm outputs (IOU, F1, PRECISION, RECALL, ACCURACY, TP, FP, "
            "FN, TN, COMPARED_PIXELS). Maps that do not overlap are refused.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.INPUT, "Water map"),
            "The water map to score (class raster)."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.REFERENCE, "Reference water map"),
            "The reference water map (class raster), on any overlapping grid."))
        for key, label, default, text in (
                (self.INPUT_WATER, "Water map: values meaning water", "1",
                 "Codes meaning water in the water map, comma separated (default 1)."),
                (self.INPUT_LAND, "Water map: values meaning not water", "0",
                 "Codes meaning not water in the water map (default 0); other codes are left out."),
                (self.REFERENCE_WATER, "Reference: values meaning water", "1",
                 "Codes meaning water in the reference, comma separated (default 1; OPERA DSWx WTR: 1,2)."),
                (self.REFERENCE_LAND, "Reference: values meaning not water", "0",
                 "Codes meaning not water in the reference (default 0; OPERA DSWx WTR: 0); other "
                 "codes (cloud, snow, fill) are left out.")):
            self.addParameter(with_help(QgsProcessingParameterString(key, label, defaultValue=default), text))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Metrics table", QgsProcessing.TypeVector),
            "One row per metric (IoU, F1, precision, recall, accuracy, TP, FP, FN, TN, compared "
            "pixels): fields metric and value."))
        for key in METRICS:
            self.addOutput(QgsProcessingOutputNumber(key.upper(), key.replace("_", " ")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        pred_layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        ref_layer = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        pred, ref = raster_path(pred_layer, "water map"), raster_path(ref_layer, "reference water map")
        check_crs(pred_layer, "water map")
        check_crs(ref_layer, "reference water map")
        values = [int_values(self.parameterAsString(parameters, k, context), label, required=True)
                  for k, label in ((self.INPUT_WATER, "Water values"), (self.INPUT_LAND, "Not-water values"),
                                   (self.REFERENCE_WATER, "Reference water values"),
                                   (self.REFERENCE_LAND, "Reference not-water values"))]
        engine = EngineFeedback(feedback, 0, 95)
        with RunOutputs(self, parameters, context, inputs=[pred, ref]) as out:
            with engine_errors(feedback):
                m = water_metrics.compare(pred, ref, *values, progress=engine.progress,
                                          is_canceled=engine.is_canceled, log=feedback.pushInfo)
            fields = make_fields([("metric", QVariant.String), ("value", QVariant.Double)])
            sink, dest = out.sink(self.OUTPUT, fields)
            add_rows(sink, fields, [(key, float(m[key])) for key in METRICS])
        grid = m["grid"]
        feedback.pushInfo(
            f"Common grid: {grid['width']} x {grid['height']} pixels of {grid['pixel_size']:g} "
            f"({grid['resampled']} resampled by {grid['resampling']})")
        feedback.setProgress(100)
        result = {self.OUTPUT: dest}
        result.update({k.upper(): m[k] for k in METRICS})
        return result
