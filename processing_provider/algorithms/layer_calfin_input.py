"""Layer one grey band into the 3-band CALFIN model input (CALFIN step 2)."""

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ...plugin.engine.fronts import enhance, layering
from ..common import (
    GROUPS, check_crs, engine_errors, EngineFeedback, group_icon, help_string, help_url, raster_path,
    with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs


class LayerCalfinInput(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    BAND = "BAND"
    SIGMA = "SIGMA"
    OUTPUT = "OUTPUT"

    def name(self):
        return "layer_calfin_input"

    def displayName(self):  # noqa: N802
        return "Layer bands into a calving-front model input"

    def group(self):
        return GROUPS["calving_fronts"]

    def groupId(self):  # noqa: N802
        return GROUPS["calving_fronts"]

    def tags(self):
        return "glacier,calving,front,calfin,layer,enhance,contrast,preprocessing".split(",")

    def shortDescription(self):  # noqa: N802
        return "Turn a grey band into the 3-band CALFIN model input."

    def helpUrl(self):  # noqa: N802
        return help_url("fronts-prep")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Builds the 3-band input of the calving-front model from one grey band, replacing "
            "CALFIN's Photoshop presets with reproducible filters:\n"
            "1. RAW: the band with a robust 0.5-99.5 percentile stretch;\n"
            "2. LOCAL_CONTRAST: the band normalised by its local mean and standard deviation "
            "(an exact, seam-free relative of CLAHE: the 'HDR' layer);\n"
            "3. SHADOWS_HIGHLIGHTS: dark neighbourhoods brightened, bright ones darkened.",
            "The scene is processed in windows, so any size works.")

    def createInstance(self):  # noqa: N802
        return LayerCalfinInput()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.INPUT, "Input raster (grey scene)"),
            "A grey scene or subset of any data type; its nodata is respected."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.BAND, "Band", QgsProcessingParameterNumber.Integer, defaultValue=1, minValue=1),
            "Which band of the input to layer (default 1)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.SIGMA, "Neighbourhood size of the local filters (sigma, pixels)",
            QgsProcessingParameterNumber.Double, defaultValue=enhance.DEFAULT_SIGMA,
            minValue=0.5, maxValue=200.0),
            "Gaussian sigma of the local-contrast and shadows/highlights filters in pixels "
            "(default 8, about 400 m at CALFIN's 50 m pixels)."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(self.OUTPUT, "Layered model input"),
            "A Byte GeoTIFF with 3 bands (the three layers above, in that order) on the input "
            "grid; 0 is nodata, valid pixels are 1-255."))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        src = raster_path(layer)
        check_crs(layer)
        band = self.parameterAsInt(parameters, self.BAND, context) or 1
        sigma = self.parameterAsDouble(parameters, self.SIGMA, context)
        engine = EngineFeedback(feedback)
        with RunOutputs(self, parameters, context, inputs=[src]) as out, engine_errors(feedback):
            result = layering.layer_calfin_raster(src, out.raster(self.OUTPUT), band, sigma,
                                                  engine.progress, engine.is_canceled)
        feedback.pushInfo("Stretch limits: {:g} .. {:g}".format(*result["limits"]))
        style_outputs(context, feedback, {out.final(self.OUTPUT): "stack"})
        return {self.OUTPUT: out.final(self.OUTPUT)}
