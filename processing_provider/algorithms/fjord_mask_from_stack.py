"""Derive a starter fjord mask from several subsets of one domain."""


from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from ...plugin.engine.fronts import fjord
from ..common import (
    GROUPS, engine_errors, EngineFeedback, group_icon, help_string, help_url, raster_paths, with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs


class FjordMaskFromStack(QgsProcessingAlgorithm):
    INPUTS = "INPUTS"
    FOLDER = "FOLDER"
    BAND = "BAND"
    STATIC_FRACTION = "STATIC_FRACTION"
    OUTPUT = "OUTPUT"

    def name(self):
        return "fjord_mask_from_stack"

    def displayName(self):  # noqa: N802
        return "Fjord-boundary mask from a stack of subsets (starter)"

    def group(self):
        return GROUPS["calving_fronts"]

    def groupId(self):  # noqa: N802
        return GROUPS["calving_fronts"]

    def tags(self):
        return "glacier,calving,front,fjord,mask,static edges,stack".split(",")

    def shortDescription(self):  # noqa: N802
        return "Derive a starter fjord mask from the static edges of several subsets."

    def helpUrl(self):  # noqa: N802
        return help_url("fronts-prep")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Derives a first fjord mask for you to edit, from several subsets of the same domain "
            "(as written by 'Subset scenes to a domain'). Edges that are strong in every scene "
            "(rock walls, coast) are static; the calving front moves between scenes and averages "
            "out. A pixel whose mean edge strength is above the chosen share of the strongest "
            "edges (an edge present in about that share of the scenes) becomes a wall (0), as "
            "does a pixel without data in any scene; the rest is fjord (1). CALFIN built such "
            "starters from the inverted mean of several scenes.")

    def createInstance(self):  # noqa: N802
        return FjordMaskFromStack()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterMultipleLayers(
            self.INPUTS, "Subsets (raster layers)", QgsProcessing.TypeRaster, optional=True),
            "Subsets of one domain, all on one grid; with the folder below, at least two in all."))
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.FOLDER, "Folder of subsets", behavior=QgsProcessingParameterFile.Folder, optional=True),
            "A folder of GeoTIFF subsets, e.g. the output folder of 'Subset scenes to a domain'."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.BAND, "Band", QgsProcessingParameterNumber.Integer, defaultValue=1, minValue=1),
            "Band of each subset to use (default 1)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.STATIC_FRACTION, "Static edge share (0-1)", QgsProcessingParameterNumber.Double,
            defaultValue=0.5, minValue=0.05, maxValue=1.0),
            "Share of the strongest edges' strength above which a pixel is a wall; higher keeps "
            "fewer walls (default 0.5)."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(self.OUTPUT, "Starter fjord mask"),
            "Byte GeoTIFF (0 wall, 1 fjord) on the subsets' grid. Check and edit it, or draw "
            "boundaries and use 'Fjord-boundary mask'."))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        paths = raster_paths(self.parameterAsLayerList(parameters, self.INPUTS, context),
                             self.parameterAsFile(parameters, self.FOLDER, context), what="subset")
        band = self.parameterAsInt(parameters, self.BAND, context)
        fraction = self.parameterAsDouble(parameters, self.STATIC_FRACTION, context)
        engine = EngineFeedback(feedback)
        with RunOutputs(self, parameters, context, inputs=paths) as run, engine_errors(feedback):
            result = fjord.starter_mask_from_stack(paths, run.raster(self.OUTPUT), band, fraction,
                                                   progress=engine.progress, is_canceled=engine.is_canceled)
        feedback.pushInfo(f"{len(paths)} subsets; mean edge strength threshold {result['edge_threshold']:.4f}")
        style_outputs(context, feedback, {run.final(self.OUTPUT): "fjord_mask"})
        return {self.OUTPUT: run.final(self.OUTPUT)}
