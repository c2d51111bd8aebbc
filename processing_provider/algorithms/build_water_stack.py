"""Build a water stack: SAR (+ optical, DEM, HAND) resampled onto the SAR grid, bands named."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..common import (
    GROUPS, engine_errors, EngineFeedback, enum_numbers_as_options, group_icon, help_string, help_url,
    optional_raster_path, raster_path, static_enum, with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs
from ...plugin.engine.water import stack as water_stack

SAR_OUTPUTS = ["db", "linear", "as_is"]
SAR_INPUTS = ["auto", "linear", "db"]
RESAMPLING = ["bilinear", "nearest", "cubic", "average"]


class BuildWaterStack(QgsProcessingAlgorithm):
    SAR = "SAR"
    POLARISATIONS = "POLARISATIONS"
    SAR_INPUT = "SAR_INPUT"
    SAR_OUTPUT = "SAR_OUTPUT"
    OPTICAL = "OPTICAL"
    OPTICAL_BANDS = "OPTICAL_BANDS"
    DEM = "DEM"
    HAND = "HAND"
    RESAMPLING = "RESAMPLING"
    OUTPUT = "OUTPUT"
    CHANNELS = "CHANNELS"
    SAR_UNITS = "SAR_UNITS"

    def name(self):
        return "build_water_stack"

    def displayName(self):  # noqa: N802
        return "Build water stack (SAR + optical + DEM + HAND)"

    def group(self):
        return GROUPS["water"]

    def groupId(self):  # noqa: N802
        return GROUPS["water"]

    def tags(self):
        return "water,flood,sar,sentinel-1,alos,palsar,stack,hand,dem,landsat".split(",")

    def shortDescription(self):  # noqa: N802
        return "Stack SAR, optical, DEM and HAND bands on the SAR grid for water mapping."

    def helpUrl(self):  # noqa: N802
        return help_url("water")

    def icon(self):
        return group_icon(self.groupId())

    def createInstance(self):  # noqa: N802
        return BuildWaterStack()

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Puts SAR backscatter and, optionally, optical reflectance, elevation and HAND into "
            "one raster on the SAR grid, ready for 'Detect surface water' or 'Make training "
            "chips'. Every input is reprojected and resampled onto the grid of the first SAR "
            "raster, window by window. Band descriptions are the channel names (VV, VH or HH, HV, "
            "then RED, NIR, SWIR1, SWIR2, DEM, HAND), which is how models find their inputs. A "
            "pixel is nodata (-9999) wherever any input has no data.",
            "Also returned: the channels (band names) and the SAR units written. Inputs that do "
            "not overlap the SAR grid are refused. A failed or cancelled run leaves no output.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterMultipleLayers(
            self.SAR, "SAR rasters (one multi-band or one per polarisation)", QgsProcessing.TypeRaster),
            "One raster with a band per polarisation, or one single-band raster per polarisation "
            "(e.g. ASF RTC _VV.tif and _VH.tif), in the order of the polarisations; the first defines "
            "the output grid. Given more rasters than polarisations (every GeoTIFF of a downloaded "
            "product, as Download ASF products returns them), the one whose file name has the "
            "polarisation as a word (..._HH.tif) is taken for each, and the log says which."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.POLARISATIONS, "Polarisations, in order (VV,VH or HH,HV)", defaultValue="VV,VH"),
            "Names of the SAR bands in order: 'VV,VH' or 'HH,HV'."))
        self.addParameter(with_help(static_enum(self.SAR_INPUT, "SAR input scale", SAR_INPUTS, SAR_INPUTS[0]),
            "auto: floating point, all >= 0 with a 99th percentile <= 10 is linear power, else dB; "
            "or force linear / db."))
        self.addParameter(with_help(static_enum(self.SAR_OUTPUT, "SAR output scale", SAR_OUTPUTS, SAR_OUTPUTS[0]),
            "db (the default) writes 10 log10 of power, linear writes power, as_is leaves values "
            "alone (no conversion, e.g. for 8-bit renderings). The log says which was written."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(
            self.OPTICAL, "Optical raster", optional=True),
            "Optional optical raster (e.g. a Landsat surface-reflectance composite)."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.OPTICAL_BANDS, "Optical band numbers for RED,NIR,SWIR1,SWIR2", defaultValue="1,2,3,4"),
            "Band numbers in the optical raster for RED, NIR, SWIR1, SWIR2, comma separated "
            "(default 1,2,3,4)."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.DEM, "DEM", optional=True),
            "Optional elevation raster, resampled onto the SAR grid."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.HAND, "HAND", optional=True),
            "Optional HAND raster (see 'Compute HAND'), resampled onto the SAR grid."))
        self.addParameter(with_help(static_enum(self.RESAMPLING, "Resampling", RESAMPLING, "bilinear"),
            "Resampling for the continuous inputs warped onto the SAR grid (bilinear by default)."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(self.OUTPUT, "Water stack"),
            "Float32 GeoTIFF on the SAR grid, one band per channel, named after it."))
        self.addOutput(QgsProcessingOutputString(self.CHANNELS, "Channels (band names)"))
        self.addOutput(QgsProcessingOutputString(self.SAR_UNITS, "SAR units written"))

    def _optional(self, parameters, key, context, what):
        return optional_raster_path(self.parameterAsRasterLayer(parameters, key, context), what)

    def checkParameterValues(self, parameters, context):  # noqa: N802
        # qgis_process help lists enum options by number: accept those numbers too.
        return super().checkParameterValues(enum_numbers_as_options(self, parameters), context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        parameters = enum_numbers_as_options(self, parameters)
        layers = self.parameterAsLayerList(parameters, self.SAR, context)
        if not layers:
            raise QgsProcessingException("Give at least one SAR raster.")
        sar = [raster_path(layer, "SAR raster") for layer in layers]
        bands_text = self.parameterAsString(parameters, self.OPTICAL_BANDS, context)
        try:
            optical_bands = [int(b) for b in bands_text.split(",") if b.strip()]
        except ValueError:
            raise QgsProcessingException(
                f"Optical bands {bands_text!r} must be four band numbers such as 1,2,3,4.") from None
        optional = {key: self._optional(parameters, name, context, what) for key, name, what in (
            ("optical_path", self.OPTICAL, "optical raster"), ("dem_path", self.DEM, "DEM"),
            ("hand_path", self.HAND, "HAND raster"))}
        engine = EngineFeedback(feedback)
        with RunOutputs(self, parameters, context, inputs=sar + list(optional.values())) as run, \
                engine_errors(feedback):
            info = water_stack.build_stack(
                sar, run.raster(self.OUTPUT),
                sar_names=self.parameterAsString(parameters, self.POLARISATIONS, context),
                sar_input=self.parameterAsEnumString(parameters, self.SAR_INPUT, context),
                sar_output=self.parameterAsEnumString(parameters, self.SAR_OUTPUT, context),
                optical_bands=optical_bands, **optional,
                resampling=self.parameterAsEnumString(parameters, self.RESAMPLING, context),
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo)
        style_outputs(context, feedback, {run.final(self.OUTPUT): "stack"})
        return {self.OUTPUT: run.final(self.OUTPUT), self.CHANNELS: ",".join(info["channels"]),
                self.SAR_UNITS: info["sar_units"]}
