"""Detect surface water: water stack -> probability, binary mask and optional polygons."""

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
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

from ..common import EngineFeedback, check_crs, engine_errors, raster_path, make_fields
from ...plugin.engine import inference, water_models, water_polygons
from ...plugin.engine.model import find_models, load_model, read_meta


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
        return "Surface water"

    def groupId(self):  # noqa: N802
        return "water"

    def createInstance(self):  # noqa: N802
        return DetectWater()

    def shortHelpString(self):  # noqa: N802
        return (
            "Maps open surface water from a water stack with a U-Net model run by the inference "
            "engine (tiled, blended, windowed; nodata stays nodata).\n\n"
            "<b>Parameters</b>\n<ul>"
            "<li><b>Water stack</b>: a raster whose band descriptions name the channels (VV, VH, "
            "HH, HV, RED, NIR, SWIR1, SWIR2, DEM, HAND), e.g. from 'Build water stack'. SAR may "
            "be dB, linear power or an 8-bit rendering: the model normalises each scene by its "
            "own percentiles (linear power is converted to dB first).</li>"
            "<li><b>Model file</b> (optional): a Waterline water model (.onnx). Empty: the shipped "
            "water model that uses the most channels the stack has (water_s1 for VV,VH). A stack "
            "missing a channel the model needs is refused, naming the channel.</li>"
            "<li><b>Threshold</b>: water where the probability is at least this (0.5).</li>"
            "<li><b>Minimum polygon area</b>: m²; smaller water polygons are dropped.</li>"
            "<li><b>Water probability</b>: float32 0..1, -1 = nodata.</li>"
            "<li><b>Water mask</b>: uint8, 1 water, 0 not water, 255 nodata.</li>"
            "<li><b>Water polygons</b> (optional): one polygon per connected water region, with "
            "its area in m² (field area_m2).</li></ul>"
            "A failed or cancelled run leaves no output."
        )

    HELP = {
        'INPUT': 'Raster whose band descriptions name the channels (VV, VH, HH, HV, RED, NIR, SWIR1, SWIR2, DEM, HAND).',
        'MODEL_FILE': 'A Waterline water model; empty picks the shipped water model using the most channels the stack has.',
        'THRESHOLD': 'Water where the probability is at least this.',
        'MIN_AREA': 'Water polygons smaller than this (square metres) are dropped.',
    }

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Water stack"))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL_FILE, "Model file (.onnx; empty = shipped model chosen by channels)",
            extension="onnx", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.THRESHOLD, "Water probability threshold", QgsProcessingParameterNumber.Double,
            defaultValue=0.5, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_AREA, "Minimum polygon area (m²)", QgsProcessingParameterNumber.Double,
            defaultValue=0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROB, "Water probability", optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT_MASK, "Water mask"))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_POLYGONS, "Water polygons", QgsProcessing.TypeVectorPolygon,
            optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.MODEL_USED, "Model used"))
        self.addOutput(QgsProcessingOutputNumber(self.WATER_PIXELS, "Water pixels"))
        self.addOutput(QgsProcessingOutputNumber(self.POLYGONS, "Water polygons written"))

        for parameter in self.parameterDefinitions():
            if parameter.name() in self.HELP:
                parameter.setHelp(self.HELP[parameter.name()])

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        import numpy as np
        import rasterio

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        path = raster_path(layer, "water stack")
        crs = check_crs(layer, "water stack")
        prob_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_PROB, context) or None
        mask_path = self.parameterAsOutputLayer(parameters, self.OUTPUT_MASK, context)
        threshold = self.parameterAsDouble(parameters, self.THRESHOLD, context)
        want_polygons = parameters.get(self.OUTPUT_POLYGONS) not in (None, "")
        engine = EngineFeedback(feedback, 0, 85 if want_polygons else 100)
        with engine_errors(feedback):
            with rasterio.open(path) as src:
                descriptions, count = src.descriptions, src.count
                warning_args = (src.crs, src.transform)
            model_file = self.parameterAsFile(parameters, self.MODEL_FILE, context)
            if model_file:
                meta = read_meta(model_file)
                if meta["task"] != "water":
                    raise QgsProcessingException(
                        f"{model_file} is a {meta['task']} model, not a water model.")
                water_models.check_model_fits(meta, descriptions, count)
            else:
                model_file, meta = water_models.choose_model(find_models(), descriptions)
            feedback.pushInfo(f"Model: {model_file} (channels {', '.join(meta['channels'])})")
            model = load_model(model_file, log=feedback.pushInfo)
            warning = inference.check_pixel_size(*warning_args, model.meta)
            if warning:
                feedback.pushWarning("Warning: " + warning)
            inference.predict_raster(
                model, path, prob_path=prob_path, class_path=mask_path, threshold=threshold,
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo)
            water = 0
            with rasterio.open(mask_path) as src:
                for _, win in src.block_windows(1):
                    water += int(np.count_nonzero(src.read(1, window=win) == 1))
            n_poly = 0
            dest = None
            if want_polygons:
                fields = make_fields([("id", QVariant.Int), ("area_m2", QVariant.Double)])
                sink, dest = self.parameterAsSink(parameters, self.OUTPUT_POLYGONS, context, fields,
                                                  QgsWkbTypes.Polygon, crs)
                if sink is None:
                    raise QgsProcessingException("The water polygon output could not be created.")
                stage = EngineFeedback(feedback, 85, 15)
                for poly, area in water_polygons.water_polygons(
                        mask_path, min_area_m2=self.parameterAsDouble(parameters, self.MIN_AREA, context),
                        progress=stage.progress, is_canceled=stage.is_canceled):
                    f = QgsFeature(fields)
                    f.setGeometry(QgsGeometry.fromWkt(poly.wkt))
                    n_poly += 1
                    f.setAttributes([n_poly, float(area)])
                    sink.addFeature(f, QgsFeatureSink.FastInsert)
        result = {self.OUTPUT_PROB: prob_path, self.OUTPUT_MASK: mask_path,
                  self.MODEL_USED: str(model_file), self.WATER_PIXELS: water, self.POLYGONS: n_poly}
        if dest is not None:
            result[self.OUTPUT_POLYGONS] = dest
        return result
