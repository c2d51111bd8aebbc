"""Build a water stack: SAR (+ optical, DEM, HAND) resampled onto the SAR grid, bands named."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..common import EngineFeedback, engine_errors, raster_path
from ...plugin.engine import water_stack

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
        return "Surface water"

    def groupId(self):  # noqa: N802
        return "water"

    def createInstance(self):  # noqa: N802
        return BuildWaterStack()

    def shortHelpString(self):  # noqa: N802
        return (
            "Puts SAR backscatter and, optionally, optical reflectance, elevation and HAND into "
            "one raster on the SAR grid, ready for 'Detect surface water' or 'Make training "
            "chips'. Every input is reprojected and resampled onto the grid of the first SAR "
            "raster, window by window. Band descriptions are the channel names (VV, VH or HH, HV, "
            "then RED, NIR, SWIR1, SWIR2, DEM, HAND), which is how models find their inputs. A "
            "pixel is nodata (-9999) wherever any input has no data.\n\n"
            "<b>Parameters</b>\n<ul>"
            "<li><b>SAR rasters</b>: one raster with a band per polarisation, or one single-band "
            "raster per polarisation (e.g. ASF RTC _VV.tif and _VH.tif). The first defines the "
            "output grid.</li>"
            "<li><b>Polarisations</b>: their names in order, 'VV,VH' or 'HH,HV'.</li>"
            "<li><b>SAR input scale</b>: auto (floating point, all >= 0 and 99th percentile <= 10 "
            "is linear power, else dB), linear or db.</li>"
            "<li><b>SAR output scale</b>: db (10 log10 of power; the default), linear (power) or "
            "as_is (no conversion, e.g. for 8-bit renderings). The log says which was written.</li>"
            "<li><b>Optical raster</b> (optional): e.g. a Landsat composite; <b>Optical bands</b> "
            "gives its band numbers for RED,NIR,SWIR1,SWIR2 (default 1,2,3,4).</li>"
            "<li><b>DEM</b>, <b>HAND</b> (optional): elevation and HAND rasters (see 'Compute "
            "HAND').</li>"
            "<li><b>Resampling</b>: for the continuous inputs (bilinear by default).</li>"
            "<li><b>Water stack</b>: float32 GeoTIFF on the SAR grid.</li></ul>"
            "Inputs that do not overlap the SAR grid are refused. A failed or cancelled run "
            "leaves no output."
        )

    HELP = {
        'SAR': 'One raster with a band per polarisation, or one single-band raster per polarisation; the first defines the output grid.',
        'POLARISATIONS': "Names of the SAR bands in order: 'VV,VH' or 'HH,HV'.", 'SAR_INPUT': 'auto: floating point, >= 0 with a 99th percentile <= 10 is linear power, else dB; or force linear / db.',
        'SAR_OUTPUT': 'db (default) writes 10 log10 of power, linear writes power, as_is leaves values alone (e.g. 8-bit renderings).',
        'OPTICAL': 'Optional optical raster (e.g. a Landsat surface-reflectance composite).',
        'OPTICAL_BANDS': 'Band numbers in the optical raster for RED, NIR, SWIR1, SWIR2, comma separated.',
        'DEM': 'Optional elevation raster, resampled onto the SAR grid.',
        'HAND': "Optional HAND raster (see 'Compute HAND').", 'RESAMPLING': 'Resampling for the inputs warped onto the SAR grid.',
    }

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.SAR, "SAR rasters (one multi-band or one per polarisation)", QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterString(
            self.POLARISATIONS, "Polarisations, in order (VV,VH or HH,HV)", defaultValue="VV,VH"))
        for key, label, options in ((self.SAR_INPUT, "SAR input scale", SAR_INPUTS),
                                    (self.SAR_OUTPUT, "SAR output scale", SAR_OUTPUTS)):
            p = QgsProcessingParameterEnum(key, label, options=options, defaultValue=options[0])
            p.setUsesStaticStrings(True)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterRasterLayer(self.OPTICAL, "Optical raster", optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.OPTICAL_BANDS, "Optical band numbers for RED,NIR,SWIR1,SWIR2", defaultValue="1,2,3,4"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.DEM, "DEM", optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(self.HAND, "HAND", optional=True))
        p = QgsProcessingParameterEnum(self.RESAMPLING, "Resampling", options=RESAMPLING,
                                       defaultValue="bilinear")
        p.setUsesStaticStrings(True)
        self.addParameter(p)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Water stack"))
        self.addOutput(QgsProcessingOutputString(self.CHANNELS, "Channels (band names)"))
        self.addOutput(QgsProcessingOutputString(self.SAR_UNITS, "SAR units written"))

        for parameter in self.parameterDefinitions():
            if parameter.name() in self.HELP:
                parameter.setHelp(self.HELP[parameter.name()])

    def _optional(self, parameters, key, context, what):
        layer = self.parameterAsRasterLayer(parameters, key, context)
        return raster_path(layer, what) if layer is not None else None

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
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
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        engine = EngineFeedback(feedback)
        with engine_errors(feedback):
            info = water_stack.build_stack(
                sar, out,
                sar_names=self.parameterAsString(parameters, self.POLARISATIONS, context),
                sar_input=self.parameterAsEnumString(parameters, self.SAR_INPUT, context),
                sar_output=self.parameterAsEnumString(parameters, self.SAR_OUTPUT, context),
                optical_path=self._optional(parameters, self.OPTICAL, context, "optical raster"),
                optical_bands=optical_bands,
                dem_path=self._optional(parameters, self.DEM, context, "DEM"),
                hand_path=self._optional(parameters, self.HAND, context, "HAND raster"),
                resampling=self.parameterAsEnumString(parameters, self.RESAMPLING, context),
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo)
        return {self.OUTPUT: out, self.CHANNELS: ",".join(info["channels"]),
                self.SAR_UNITS: info["sar_units"]}
