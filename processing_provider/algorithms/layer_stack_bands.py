"""Stack single-band rasters into one multi-band raster on a reference grid."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ...plugin.engine.water import stack as water_stack
from ...plugin.engine.core import raster_io
from ...plugin.engine.fronts.subset import RESAMPLING
from ..common import (
    GROUPS, check_crs, engine_errors, EngineFeedback, group_icon, help_string, help_url, raster_path,
    with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs


class LayerStackBands(QgsProcessingAlgorithm):
    INPUTS = "INPUTS"
    NAMES = "NAMES"
    REFERENCE = "REFERENCE"
    RESAMPLING = "RESAMPLING"
    OUTPUT = "OUTPUT"

    def name(self):
        return "layer_stack_bands"

    def displayName(self):  # noqa: N802
        return "Layer bands into a multi-band stack"

    def group(self):
        return GROUPS["water"]

    def groupId(self):  # noqa: N802
        return GROUPS["water"]

    def tags(self):
        return "stack,bands,layer,merge,channels,water,sar".split(",")

    def shortDescription(self):  # noqa: N802
        return "Stack single bands from several rasters onto one grid, named by channel."

    def helpUrl(self):  # noqa: N802
        return help_url("water")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Stacks the bands of several rasters, in the order given, into one Float32 raster on "
            "the grid of a reference raster, and names each band (the names are what models "
            "match their input channels against, e.g. HH, HV, RED, NIR, SWIR1, SWIR2, DEM, HAND).")

    def createInstance(self):  # noqa: N802
        return LayerStackBands()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterMultipleLayers(
            self.INPUTS, "Input rasters", QgsProcessing.TypeRaster),
            "Every band of every raster is stacked, in the order given."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.NAMES, "Band names (comma-separated)", optional=True),
            "One name per stacked band, e.g. HH,HV,DEM,HAND; empty keeps each band's description, "
            "or the layer name for single-band rasters."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(
            self.REFERENCE, "Reference grid (default: first input)", optional=True),
            "CRS, extent and pixel size of the output; inputs are reprojected and resampled onto it."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.RESAMPLING, "Resampling", options=list(RESAMPLING), defaultValue=1),
            "Used for reprojection and resampling onto the reference grid."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(self.OUTPUT, "Stacked raster"),
            "Float32 GeoTIFF, one named band per input band, NaN as nodata wherever any input has "
            "no data (the union)."))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layers = self.parameterAsLayerList(parameters, self.INPUTS, context)
        if not layers:
            raise QgsProcessingException("Give at least one input raster.")
        bands = []
        for layer in layers:
            path = raster_path(layer, f"input raster {layer.name()}")
            check_crs(layer)
            descriptions = raster_io.band_descriptions(path)
            for b, description in enumerate(descriptions, start=1):
                default = description or (layer.name() if len(descriptions) == 1 else f"{layer.name()}_{b}")
                bands.append((path, b, default))
        names = [n.strip() for n in self.parameterAsString(parameters, self.NAMES, context).split(",") if n.strip()]
        if names:
            if len(names) != len(bands):
                raise QgsProcessingException(
                    f"{len(names)} band names were given but the inputs have {len(bands)} bands in all.")
            bands = [(p, b, n) for (p, b, _), n in zip(bands, names)]
        reference = self.parameterAsRasterLayer(parameters, self.REFERENCE, context) or layers[0]
        ref_path = raster_path(reference, "reference raster")
        check_crs(reference, "reference raster")
        resampling = RESAMPLING[self.parameterAsEnum(parameters, self.RESAMPLING, context)]
        engine = EngineFeedback(feedback)
        inputs = [p for p, _, _ in bands] + [ref_path]
        with RunOutputs(self, parameters, context, inputs=inputs) as run, engine_errors(feedback):
            water_stack.stack_bands(bands, ref_path, run.raster(self.OUTPUT), resampling, "float32",
                                    engine.progress, engine.is_canceled)
        feedback.pushInfo("Bands: " + ", ".join(n for _, _, n in bands))
        style_outputs(context, feedback, {run.final(self.OUTPUT): "stack"})
        return {self.OUTPUT: run.final(self.OUTPUT)}
