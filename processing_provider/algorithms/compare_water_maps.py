"""Compare water maps: a water raster against a reference on another grid (IoU, F1, ...)."""

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..common import EngineFeedback, check_crs, engine_errors, raster_path, make_fields
from ...plugin.engine import water_metrics

METRICS = ("iou", "f1", "precision", "recall", "accuracy", "tp", "fp", "fn", "tn", "compared_pixels")


def _values(text, what):
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise QgsProcessingException(f"{what} {text!r} must be comma-separated integers.") from None
    if not values:
        raise QgsProcessingException(f"{what} must list at least one value.")
    return values


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
        return "Surface water"

    def groupId(self):  # noqa: N802
        return "water"

    def createInstance(self):  # noqa: N802
        return CompareWaterMaps()

    def shortHelpString(self):  # noqa: N802
        return (
            "Scores a water map against a reference water map, e.g. a 'Detect surface water' "
            "mask against OPERA DSWx or a high-resolution classification. The rasters may have "
            "different CRSs and pixel sizes: both are brought onto the grid of the coarser one, "
            "cut to where they overlap (the finer is resampled by majority, so classes never "
            "blend), window by window.\n\n"
            "<b>Parameters</b>\n<ul>"
            "<li><b>Water map</b> and <b>Reference water map</b>: class rasters.</li>"
            "<li><b>Water / not-water values</b> for each: comma-separated codes (default 1 and "
            "0; OPERA DSWx WTR: water 1,2, not water 0). Other codes (cloud, snow, fill) and "
            "nodata are left out; a pixel counts only where both maps say water or not water.</li>"
            "<li><b>Metrics table</b>: one row per metric (IoU, F1, precision, recall, accuracy, "
            "TP, FP, FN, TN, compared pixels).</li></ul>"
            "The metrics are also algorithm outputs (IOU, F1, PRECISION, RECALL, ACCURACY, TP, FP, "
            "FN, TN, COMPARED_PIXELS). Maps that do not overlap are refused."
        )

    HELP = {
        'INPUT': 'The water map to score (class raster).',
        'REFERENCE': 'The reference water map, on any overlapping grid.',
        'INPUT_WATER': 'Codes meaning water in the water map, comma separated.',
        'INPUT_LAND': 'Codes meaning not water in the water map; other codes are left out.',
        'REFERENCE_WATER': 'Codes meaning water in the reference (OPERA DSWx WTR: 1,2).',
        'REFERENCE_LAND': 'Codes meaning not water in the reference; other codes (cloud, fill) are left out.',
    }

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Water map"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.REFERENCE, "Reference water map"))
        for key, label, default in (
                (self.INPUT_WATER, "Water map: values meaning water", "1"),
                (self.INPUT_LAND, "Water map: values meaning not water", "0"),
                (self.REFERENCE_WATER, "Reference: values meaning water", "1"),
                (self.REFERENCE_LAND, "Reference: values meaning not water", "0")):
            self.addParameter(QgsProcessingParameterString(key, label, defaultValue=default))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Metrics table", QgsProcessing.TypeVector))
        for key in METRICS:
            self.addOutput(QgsProcessingOutputNumber(key.upper(), key.replace("_", " ")))

        for parameter in self.parameterDefinitions():
            if parameter.name() in self.HELP:
                parameter.setHelp(self.HELP[parameter.name()])

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        pred_layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        ref_layer = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        pred, ref = raster_path(pred_layer, "water map"), raster_path(ref_layer, "reference water map")
        check_crs(pred_layer, "water map")
        check_crs(ref_layer, "reference water map")
        values = [_values(self.parameterAsString(parameters, k, context), label) for k, label in (
            (self.INPUT_WATER, "Water values"), (self.INPUT_LAND, "Not-water values"),
            (self.REFERENCE_WATER, "Reference water values"), (self.REFERENCE_LAND, "Reference not-water values"))]
        engine = EngineFeedback(feedback, 0, 95)
        with engine_errors(feedback):
            m = water_metrics.compare(pred, ref, *values, progress=engine.progress,
                                      is_canceled=engine.is_canceled, log=feedback.pushInfo)
        fields = make_fields([("metric", QVariant.String), ("value", QVariant.Double)])
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                          QgsWkbTypes.NoGeometry, QgsCoordinateReferenceSystem())
        if sink is None:
            raise QgsProcessingException("The metrics table could not be created.")
        for key in METRICS:
            f = QgsFeature(fields)
            f.setAttributes([key, float(m[key])])
            sink.addFeature(f, QgsFeatureSink.FastInsert)
        grid = m["grid"]
        feedback.pushInfo(
            f"Common grid: {grid['width']} x {grid['height']} pixels of {grid['pixel_size']:g} "
            f"({grid['resampled']} resampled by {grid['resampling']})")
        feedback.setProgress(100)
        result = {self.OUTPUT: dest}
        result.update({k.upper(): m[k] for k in METRICS})
        return result
