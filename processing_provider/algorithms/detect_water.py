"""Detect surface water: SAR raster or water stack -> water likelihood, mask and optional polygons.

METHOD auto runs the physically based threshold method on calibrated backscatter and
the model on 8-bit renderings (engine ``water.detect.choose_method``); the log says which.
"""

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
    GROUPS, add_feature, check_crs, engine_errors, EngineFeedback, enum_numbers_as_options, group_icon,
    help_string, help_url, make_fields, optional_raster_path, raster_path, static_enum, with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs
from ...plugin.engine.core import raster_io
from ...plugin.engine.water import detect as water_detect
from ...plugin.engine.water import models as water_models
from ...plugin.engine.water import threshold
from ...plugin.engine.water import polygons as water_polygons
from ...plugin.engine.core.model import load_model, resolve_model


class DetectWater(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    METHOD = "METHOD"
    HAND = "HAND"
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
        return GROUPS["water"]

    def tags(self):
        return "water,flood,inundation,sar,sentinel-1,alos,onnx,u-net,deep learning,mask".split(",")

    def shortDescription(self):  # noqa: N802
        return "Map open surface water and floods from SAR: physical thresholds or a U-Net."

    def helpUrl(self):  # noqa: N802
        return help_url("water")

    def icon(self):
        return group_icon(self.groupId())

    def createInstance(self):  # noqa: N802
        return DetectWater()

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Maps open surface water from SAR backscatter (Sentinel-1 VV/VH, ALOS PALSAR HH/HV) in any "
            "CRS, by one of two methods: <b>threshold</b>, the physically based method ASF HyP3 runs "
            "(Twele et al. 2016: thresholds from bimodal tiles, fuzzy refinement with HAND when given, "
            "minimum mapping unit; needs calibrated dB or linear power, no training), or <b>model</b>, "
            "the U-Net run by the inference engine (tiled, blended, windowed). A geographic input "
            "(EPSG:4326) is processed on its UTM zone and the outputs are written on its own grid; "
            "nodata stays nodata.",
            "Also returned: the model used, the number of water pixels and the number of polygons "
            "written. A failed or cancelled run leaves no output.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.INPUT, "SAR raster or water stack"),
            "A raster whose band descriptions name the channels (VV, VH, HH, HV, and for a model also "
            "RED, NIR, SWIR1, SWIR2, DEM, HAND), e.g. from 'Build water stack', or a two-band "
            "VV/VH (HH/HV) raster in that order. SAR in dB or linear power suits both methods; an "
            "8-bit rendering only the model. Any CRS: a geographic one is handled on its UTM zone."))
        self.addParameter(with_help(static_enum(self.METHOD, "Method", water_detect.METHODS, "auto"),
            "auto (default): the threshold method for calibrated backscatter (floating-point dB or "
            "linear power), the model for anything else (8-bit renderings), as measured on real "
            "scenes (see the method card weights/water_threshold.md); the log says which ran and why. "
            "threshold: always the physical method. model: always the U-Net."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(
            self.HAND, "HAND raster (optional, threshold method)", optional=True),
            "Height above nearest drainage in metres (e.g. from 'Compute HAND'), on any grid: the "
            "threshold method uses it to choose tiles and to drop water high above the drainage. "
            "Without it a band of the stack named HAND is used, if there is one."))
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.MODEL_FILE, "Model file (.onnx; empty = shipped model chosen by channels)",
            extension="onnx", optional=True),
            "Optional: a Waterline water model (.onnx). Empty: the shipped water model that uses the "
            "most channels the stack has (water_s1 for VV,VH). A stack missing a channel the model "
            "needs is refused, naming the channel."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.THRESHOLD, "Water probability threshold", QgsProcessingParameterNumber.Double,
            defaultValue=0.5, minValue=0.0, maxValue=1.0),
            "Model method: water where the probability is at least this (default 0.5). The threshold "
            "method sets its own thresholds from the scene."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MIN_AREA, "Minimum polygon area (m²)", QgsProcessingParameterNumber.Double,
            defaultValue=2700.0, minValue=0.0),
            "Water polygons smaller than this (square metres) are dropped (default 2700 m², 27 pixels "
            "of 10 m SAR, the minimum mapping unit of the threshold method)."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROB, "Water probability", optional=True, createByDefault=True),
            "Float32 0..1, -1 = nodata: the model's water probability, or the threshold method's water "
            "likelihood (0.5 at the threshold)."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(self.OUTPUT_MASK, "Water mask"),
            "Uint8: 1 water, 0 not water, 255 nodata."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT_POLYGONS, "Water polygons", QgsProcessing.TypeVectorPolygon,
            optional=True, createByDefault=False),
            "Optional: one polygon per connected water region, with an id and its area in m² "
            "(field area_m2)."))
        self.addOutput(QgsProcessingOutputString(self.MODEL_USED, "Method and model used"))
        self.addOutput(QgsProcessingOutputNumber(self.WATER_PIXELS, "Water pixels"))
        self.addOutput(QgsProcessingOutputNumber(self.POLYGONS, "Water polygons written"))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        return super().checkParameterValues(enum_numbers_as_options(self, parameters), context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        parameters = enum_numbers_as_options(self, parameters)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        path = raster_path(layer, "SAR raster or water stack")
        crs = check_crs(layer, "SAR raster or water stack")
        hand = optional_raster_path(self.parameterAsRasterLayer(parameters, self.HAND, context), "HAND raster")
        want_polygons = parameters.get(self.OUTPUT_POLYGONS) not in (None, "")
        engine = EngineFeedback(feedback, 0, 85 if want_polygons else 100)
        with RunOutputs(self, parameters, context, inputs=[path, hand]) as out, engine_errors(feedback):
            prob_path, mask_path = out.raster(self.OUTPUT_PROB), out.raster(self.OUTPUT_MASK)
            method, why = water_detect.choose_method(
                self.parameterAsEnumString(parameters, self.METHOD, context), path,
                model_given=bool(self.parameterAsFile(parameters, self.MODEL_FILE, context)))
            feedback.pushInfo(f"Method: {method} ({why})")
            if method == "threshold":
                info = threshold.threshold_water(path, mask_path, prob_path, hand_path=hand,
                                                 progress=engine.progress, is_canceled=engine.is_canceled,
                                                 log=feedback.pushInfo)
                used = "threshold (HyP3 method): " + ", ".join(
                    f"{pol} {entry['threshold']:.1f} dB ({entry['source']})" if entry.get("threshold") is not None
                    else f"{pol} no water" for pol, entry in info["thresholds"].items())
            else:
                model = self._model(parameters, context, path, feedback)
                mismatch = water_detect.scale_mismatch(model, path)
                if mismatch:
                    feedback.pushWarning("Warning: " + mismatch)
                info = water_detect.model_water(
                    model, path, mask_path, prob_path, self.parameterAsDouble(parameters, self.THRESHOLD, context),
                    progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo,
                    warn=lambda message: feedback.pushWarning("Warning: " + message))
                used = model.path
            n_poly = self._polygons(out, parameters, context, mask_path, crs, feedback) if want_polygons else 0
        style_outputs(context, feedback, {out.final(self.OUTPUT_PROB): "water_probability", out.final(
            self.OUTPUT_MASK): "water_mask", out.final(self.OUTPUT_POLYGONS): "water_polygons"})
        result = {self.OUTPUT_PROB: out.final(self.OUTPUT_PROB), self.OUTPUT_MASK: out.final(self.OUTPUT_MASK),
                  self.MODEL_USED: used, self.WATER_PIXELS: info["water_pixels"], self.POLYGONS: n_poly}
        if out.final(self.OUTPUT_POLYGONS):
            result[self.OUTPUT_POLYGONS] = out.final(self.OUTPUT_POLYGONS)
        return result

    def _model(self, parameters, context, path, feedback):
        """The water model: the user's file (checked against the stack) or the shipped one that fits it."""
        descriptions = raster_io.band_descriptions(path)
        user_file = self.parameterAsFile(parameters, self.MODEL_FILE, context)
        model_file, meta = resolve_model(
            "water", user_file,
            choose=None if user_file else lambda models: water_models.choose_model(models, descriptions))
        water_models.check_model_fits(meta, descriptions, len(descriptions))
        feedback.pushInfo(f"Model: {model_file} (channels {', '.join(meta['channels'])})")
        return load_model(model_file, log=feedback.pushInfo)

    def _polygons(self, out, parameters, context, mask_path, crs, feedback):
        """Vectorise the water mask into the polygon output; returns the number written."""
        fields = make_fields([("id", QVariant.Int), ("area_m2", QVariant.Double)])
        sink, _ = out.sink(self.OUTPUT_POLYGONS, fields, QgsWkbTypes.Polygon, crs)
        stage = EngineFeedback(feedback, 85, 15)
        n_poly = 0
        for poly, area in water_polygons.water_polygons(
                mask_path, min_area_m2=self.parameterAsDouble(parameters, self.MIN_AREA, context),
                progress=stage.progress, is_canceled=stage.is_canceled):
            n_poly += 1
            add_feature(sink, fields, [n_poly, float(area)], QgsGeometry.fromWkt(poly.wkt))
        return n_poly
