"""Compute HAND (height above nearest drainage) from a DEM, as ASF's water-mapping tools do."""

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..common import (
    GROUPS, engine_errors, EngineFeedback, group_icon, help_string, help_url, raster_path, with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs
from ...plugin.engine.water import hand


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
        return GROUPS["water"]

    def groupId(self):  # noqa: N802
        return GROUPS["water"]

    def tags(self):
        return "water,flood,hand,dem,drainage,hydrology,terrain".split(",")

    def shortDescription(self):  # noqa: N802
        return "Height above nearest drainage (HAND) from a DEM."

    def helpUrl(self):  # noqa: N802
        return help_url("water")

    def icon(self):
        return group_icon(self.groupId())

    def createInstance(self):  # noqa: N802
        return ComputeHand()

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Computes HAND, the height of every cell above the drainage cell its downhill (D8) "
            "path reaches, the way ASF's water-mapping tools (asf_tools.hand) do it with pysheds: "
            "fill pits, fill depressions, resolve flats, D8 flow directions, flow accumulation; "
            "cells with an accumulation above the threshold are drainage (HAND 0). Cells whose "
            "path leaves the DEM before reaching drainage get their height above the nearest "
            "drainage cell.",
            "Also returned: the number of drainage cells and the accumulation threshold used. The "
            "DEM is processed in memory (a whole-catchment computation); clip very large DEMs "
            "first. A failed or cancelled run leaves no output.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.INPUT, "DEM"),
            "Elevation raster in metres. Projected CRS, or geographic (degrees): then the cell size "
            "in metres is derived from the latitude at the DEM's centre; DEMs where that is not "
            "meaningful (no CRS, cells larger than 0.1 degree, beyond 80 degrees latitude) are "
            "refused unless a cell size is given."))
        self.addParameter(with_help(QgsProcessingParameterBand(
            self.BAND, "Elevation band", 1, self.INPUT, optional=True),
            "The band holding elevation (default 1)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.ACC_THRESHOLD, "Accumulation threshold in cells (0 = mean accumulation)",
            QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0),
            "Minimum number of upstream cells for a drainage cell; 0 uses the mean accumulation, "
            "as asf_tools does. Smaller values give a denser drainage network and lower HAND."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.CELL_SIZE, "Cell size in metres (0 = from the CRS)",
            QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0),
            "Cell size in metres, overriding the CRS; 0 derives it from the CRS (degrees are "
            "converted at the DEM centre latitude)."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(self.OUTPUT, "HAND"),
            "Float32 metres (>= 0, 0 on drainage), band named 'HAND', nodata where the DEM has none."))
        self.addOutput(QgsProcessingOutputNumber(self.DRAINAGE_CELLS, "Drainage cells"))
        self.addOutput(QgsProcessingOutputNumber(self.USED_THRESHOLD, "Accumulation threshold used"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        path = raster_path(layer, "DEM")
        threshold = self.parameterAsDouble(parameters, self.ACC_THRESHOLD, context) or None
        cell = self.parameterAsDouble(parameters, self.CELL_SIZE, context) or None
        engine = EngineFeedback(feedback)
        with RunOutputs(self, parameters, context, inputs=[path]) as run, engine_errors(feedback):
            _, info = hand.compute_hand(
                path, run.raster(self.OUTPUT), acc_threshold=threshold, cell_size_m=cell,
                band=self.parameterAsInt(parameters, self.BAND, context) or 1,
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo)
        feedback.pushInfo(
            f"Cell size {info['cell_size_m'][0]:.2f} x {info['cell_size_m'][1]:.2f} m; "
            f"{info['drainage_cells']} drainage cells; {info['filled_gaps']} cells filled by "
            "nearest drainage")
        style_outputs(context, feedback, {run.final(self.OUTPUT): "hand"})
        return {self.OUTPUT: run.final(self.OUTPUT), self.DRAINAGE_CELLS: info["drainage_cells"],
                self.USED_THRESHOLD: info["acc_threshold"]}
