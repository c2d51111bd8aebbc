"""Compute HAND (height above nearest drainage) from a DEM, as ASF's water-mapping tools do."""

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..common import EngineFeedback, engine_errors, raster_path
from ...plugin.engine import hand


class ComputeHand(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    BAND = "BAND"
    ACC_THRESHOLD = "ACC_THRESHOLD"
    CELL_SIZE = "CELL_SIZE"
    OUTPUT = "OUTPUT"
    DRAINAGE_CELLS = "DRAINAGE_CELLS"
    USED_THRESHOLD = "USED_THRESHOLD"

    def name(self):
        return "compute_hand"

    def displayName(self):  # noqa: N802
        return "Compute HAND (height above nearest drainage)"

    def group(self):
        return "Surface water"

    def groupId(self):  # noqa: N802
        return "water"

    def createInstance(self):  # noqa: N802
        return ComputeHand()

    def shortHelpString(self):  # noqa: N802
        return (
            "Computes HAND, the height of every cell above the drainage cell its downhill (D8) "
            "path reaches, the way ASF's water-mapping tools (asf_tools.hand) do it with pysheds: "
            "fill pits, fill depressions, resolve flats, D8 flow directions, flow accumulation; "
            "cells with an accumulation above the threshold are drainage (HAND 0). Cells whose "
            "path leaves the DEM before reaching drainage get their height above the nearest "
            "drainage cell.\n\n"
            "<b>Parameters</b>\n<ul>"
            "<li><b>DEM</b>: elevation raster in metres. Projected CRS, or geographic (degrees): "
            "then the cell size in metres is derived from the latitude at the DEM's centre; DEMs "
            "where that is not meaningful (no CRS, cells larger than 0.1 degree, beyond 80 degrees "
            "latitude) are refused unless a cell size is given.</li>"
            "<li><b>Band</b>: the elevation band.</li>"
            "<li><b>Accumulation threshold</b>: minimum number of upstream cells for a drainage "
            "cell; 0 = the mean accumulation (asf_tools' default). Smaller values give a denser "
            "drainage network and lower HAND.</li>"
            "<li><b>Cell size in metres</b>: overrides the cell size (0 = from the CRS).</li>"
            "<li><b>HAND</b>: float32 metres (>= 0, 0 on drainage), band named 'HAND', nodata "
            "where the DEM has none.</li></ul>"
            "The DEM is processed in memory (a whole-catchment computation); clip very large "
            "DEMs first. A failed or cancelled run leaves no output."
        )

    HELP = {
        'INPUT': 'Elevation raster in metres; projected CRS, or geographic with cells of at most 0.1 degree below 80 degrees latitude (else give the cell size).',
        'BAND': 'The band holding elevation (default 1).',
        'ACC_THRESHOLD': 'Minimum number of upstream cells for a drainage cell; 0 uses the mean accumulation as asf_tools does.',
        'CELL_SIZE': 'Cell size in metres; 0 derives it from the CRS (degrees are converted at the DEM centre latitude).',
    }

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "DEM"))
        self.addParameter(QgsProcessingParameterBand(
            self.BAND, "Elevation band", 1, self.INPUT, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.ACC_THRESHOLD, "Accumulation threshold in cells (0 = mean accumulation)",
            QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.CELL_SIZE, "Cell size in metres (0 = from the CRS)",
            QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "HAND"))
        self.addOutput(QgsProcessingOutputNumber(self.DRAINAGE_CELLS, "Drainage cells"))
        self.addOutput(QgsProcessingOutputNumber(self.USED_THRESHOLD, "Accumulation threshold used"))

        for parameter in self.parameterDefinitions():
            if parameter.name() in self.HELP:
                parameter.setHelp(self.HELP[parameter.name()])

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        path = raster_path(layer, "DEM")
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        threshold = self.parameterAsDouble(parameters, self.ACC_THRESHOLD, context) or None
        cell = self.parameterAsDouble(parameters, self.CELL_SIZE, context) or None
        engine = EngineFeedback(feedback)
        with engine_errors(feedback):
            _, info = hand.compute_hand(
                path, out, acc_threshold=threshold, cell_size_m=cell,
                band=self.parameterAsInt(parameters, self.BAND, context) or 1,
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo)
        feedback.pushInfo(
            f"Cell size {info['cell_size_m'][0]:.2f} x {info['cell_size_m'][1]:.2f} m; "
            f"{info['drainage_cells']} drainage cells; {info['filled_gaps']} cells filled by "
            "nearest drainage")
        return {self.OUTPUT: out, self.DRAINAGE_CELLS: info["drainage_cells"],
                self.USED_THRESHOLD: info["acc_threshold"]}
