"""Detect surface water: water stack -> probability, binary mask and optional polygons."""

from qgis.core import (
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..common import (
    GROUPS, add_feature, check_crs, engine_errors, EngineFeedback, group_icon, help_string, help_url,
    make_fields, raster_path, with_help,
)
from ..outputs import RunOutputs
from ...plugin.engine.core import inference, raster_io
from ...plugin.engine.water import models as water_models
from ...plugin.engine.water import polygons as water_polygons
from ...plugin.engine.core.model import load_model, resolve_model


class DetectWater(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    MODEL_FILE = "MODEL_FILE"
    THRESHOLD = "THRESHOLD"
    MIN_AREA = "MIN_AREA"
    OUTPUT_PROB = "OUTPUT_PROB"
    OUTPUT_MASK = "OUTPUT_MASK"
    OUTPUT_POLYGONS = "OUTPUT_POLYGONS"
    MODEL_USED = "MODEL_USED"
    WATER_PIXELS = "WATER_PIXELS"
    POLYGONS = "POLYGONS"

    def name(self):
        return "detect_water"

    def displayName(self):  # noqa: N802
        return "Detect surface water"

    def group(self):
        return GROUPS["water"]

    def groupId(self):  # noqa: N802
        return "water"

    def tags(self):
        return "water,flood,inundation,sar,sentinel-1,alos,onnx,u-net,deep learning,mask".split(",")

    def shortDescription(self):  # noqa: N802
        return "Map open surface water and floods from SAR (dB or power) with a U-Net."

    def helpUrl(self):  # noqa: N802
        return help_url("water")

    def icon(self):
        return group_icon(self.groupId())

    def createInstance(self):  # noqa: N802
        return DetectWater()

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Maps open surface water from a water stack with a U-Net model run by the inference "
            "engine (tiled, blended, windowed; nodata stays nodata).",
            "Also returned: the model used, the number of water pixels and the number of polygons "
            "written. A failed or cancelled run leaves no output.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.INPUT, "Water stack"),
            "A raster whose band descriptions name the channels (VV, VH, HH, HV, RED, NIR, SWIR1, "
            "SWIR2, DEM, HAND), e.g. from 'Build water stack'. SAR may be dB, linear power or an "
            "8-bit rendering: the model normalises each scene by its own percentiles (linear power "
            "is converted to dB first)."))
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.MODEL_FILE, "Model file (.onnx; empty = shipped model chosen by channels)",
            extension="onnx", optional=True),
            "Optional: a Waterline water model (.onnx). Empty: the shipped water model that uses the "
            "most channels the stack has (water_s1 for VV,VH). A stack missing a channel the model "
            "needs is refused, naming the channel."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.THRESHOLD, "Water probability threshold", QgsProcessingParameterNumber.Double,
            defaultValue=0.5, minValue=0.0, maxValue=1.0),
            "Water where the probability is at least this (default 0.5)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MIN_AREA, "Minimum polygon area (m²)", QgsProcessingParameterNumber.Double,
            defaultValue=0.0, minValue=0.0),
            "Water polygons smaller than this (square metres) are dropped."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROB, "Water probability", optional=True, createByDefault=True),
            "Float32 water probability 0..1, -1 = nodata."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(self.OUTPUT_MASK, "Water mask"),
            "Uint8: 1 water, 0 not water, 255 nodata."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT_POLYGONS, "Water polygons", QgsProcessing.TypeVectorPolygon,
            optional=True, createByDefault=False),
            "Optional: one polygon per connected water region, with an id and its area in m² "
            "(field area_m2)."))
        self.addOutput(QgsProcessingOutputString(self.MODEL_USED, "Model used"))
        self.addOutput(QgsProcessingOutputNumber(self.WATER_PIXELS, "Water pixels"))
        self.addOutput(QgsProcessingOutputNumber(self.POLYGONS, "Water polygons written"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        path = raster_path(layer, "water stack")
        crs = check_crs(layer, "water stack")
        threshold = self.parameterAsDouble(parameters, self.THRESHOLD, context)
        want_polygons = parameters.get(self.OUTPUT_POLYGONS) not in (None, "")
        engine = EngineFeedback(feedback, 0, 85 if want_polygons else 100)
        with RunOutputs(self, parameters, context, inputs=[path]) as out, engine_errors(feedback):
            prob_path, mask_path = out.raster(self.OUTPUT_PROB), out.raster(self.OUTPUT_MASK)
            descriptions = raster_io.band_descriptions(path)
            user_file = self.parameterAsFile(parameters, self.MODEL_FILE, context)
            # a user's model is checked against the stack; a shipped one is chosen to fit it
            model_file, meta = resolve_model(
                "water", user_file,
                choose=None if user_file else lambda models: water_models.choose_model(models, descriptions))
            water_models.check_model_fits(meta, descriptions, len(descriptions))
            feedback.pushInfo(f"Model: {model_file} (channels {', '.join(meta['channels'])})")
            model = load_model(model_file, log=feedback.pushInfo)
            stats = inference.predict_raster(
                model, path, prob_path=prob_path, class_path=mask_path, threshold=threshold,
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo,
                warn=lambda message: feedback.pushWarning("Warning: " + message))
            water = stats["positive_pixels"]
            n_poly = 0
            dest = None
            if want_polygons:
                fields = make_fields([("id", QVariant.Int), ("area_m2", QVariant.Double)])
                sink, dest = out.sink(self.OUTPUT_POLYGONS, fields, QgsWkbTypes.Polygon, crs)
                stage = EngineFeedback(feedback, 85, 15)
                for poly, area in water_polygons.water_polygons(
                        mask_path, min_area_m2=self.parameterAsDouble(parameters, self.MIN_AREA, context),
                        progress=stage.progress, is_canceled=stage.is_canceled):
                    n_poly += 1
                    add_feature(sink, fields, [n_poly, float(area)], QgsGeometry.fromWkt(poly.wkt))
        result = {self.OUTPUT_PROB: out.final(self.OUTPUT_PROB), self.OUTPUT_MASK: out.final(self.OUTPUT_MASK),
                  self.MODEL_USED: str(model_file), self.WATER_PIXELS: water, self.POLYGONS: n_poly}
        if dest is not None:
            result[self.OUTPUT_POLYGONS] = dest
        return result
