"""Rasterise fjord-boundary lines or polygons into a fjord mask (CALFIN step 3)."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)
from shapely import wkt

from ...plugin.engine.fronts import fjord
from ..common import (
    GROUPS, check_crs, engine_errors, EngineFeedback, group_icon, help_string, help_url, raster_path,
    source_geometries, with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs


class FjordMask(QgsProcessingAlgorithm):
    REFERENCE = "REFERENCE"
    BOUNDARIES = "BOUNDARIES"
    OVERRIDES = "OVERRIDES"
    OVERRIDE_VALUE = "OVERRIDE_VALUE"
    WALL_WIDTH = "WALL_WIDTH"
    OUTPUT = "OUTPUT"

    def name(self):
        return "fjord_mask"

    def displayName(self):  # noqa: N802
        return "Fjord-boundary mask"

    def group(self):
        return GROUPS["calving_fronts"]

    def groupId(self):  # noqa: N802
        return GROUPS["calving_fronts"]

    def tags(self):
        return "glacier,calving,front,fjord,mask,boundary,rock,wall".split(",")

    def shortDescription(self):  # noqa: N802
        return "Burn fjord walls drawn as lines or polygons into a fjord mask."

    def helpUrl(self):  # noqa: N802
        return help_url("fronts-prep")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Rasterises fjord boundaries onto the grid of a subset: the mask is 1 inside the "
            "fjord and 0 on and outside the fjord walls. Front detection uses it to drop "
            "detections on static rock boundaries.")

    def createInstance(self):  # noqa: N802
        return FjordMask()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.REFERENCE, "Reference subset (grid)"),
            "A subset of the glacier; the mask gets its CRS, extent and pixel size."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.BOUNDARIES, "Fjord boundaries (lines or polygons)",
            [QgsProcessing.TypeVectorLine, QgsProcessing.TypeVectorPolygon]),
            "Polygons are fjord interiors and their outlines walls; lines are walls, and lines "
            "that close into rings also enclose interiors. With open lines only, the mask is 1 "
            "everywhere except on the walls. Reprojected to the subset's CRS when needed."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.OVERRIDES, "Override geometries", [QgsProcessing.TypeVectorAnyGeometry], optional=True),
            "Optional geometries burned last with the value below (CALFIN's overrides that "
            "enforce static boundaries)."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.OVERRIDE_VALUE, "Value burned by overrides",
            options=["0 (wall / static boundary)", "1 (fjord)"], defaultValue=0),
            "0 marks override geometries as walls, 1 as fjord."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.WALL_WIDTH, "Wall width (pixels)", QgsProcessingParameterNumber.Double,
            defaultValue=2.0, minValue=1.0, maxValue=100.0),
            "Thickness of the walls burned as 0, in pixels of the reference subset."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(self.OUTPUT, "Fjord mask"),
            "Byte GeoTIFF (0 wall/outside, 1 fjord) on the reference grid."))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        reference = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        ref_path = raster_path(reference, "reference subset")
        crs = check_crs(reference, "reference subset")
        boundaries = self._geometries(parameters, self.BOUNDARIES, crs, context, "fjord boundaries")
        if not boundaries:
            raise QgsProcessingException("The fjord-boundary layer has no features with a geometry.")
        value = self.parameterAsEnum(parameters, self.OVERRIDE_VALUE, context)
        overrides = [(g, value) for g in self._geometries(parameters, self.OVERRIDES, crs, context, "overrides")]
        width = self.parameterAsDouble(parameters, self.WALL_WIDTH, context)
        engine = EngineFeedback(feedback)
        with RunOutputs(self, parameters, context, inputs=[ref_path]) as run, engine_errors(feedback):
            fjord.rasterize_fjord(ref_path, run.raster(self.OUTPUT), boundaries, overrides, width,
                                  engine.progress, engine.is_canceled)
        style_outputs(context, feedback, {run.final(self.OUTPUT): "fjord_mask"})
        return {self.OUTPUT: run.final(self.OUTPUT)}

    def _geometries(self, parameters, name, crs, context, what):
        """The layer's geometries in ``crs`` as GeoJSON-like dicts ([] when not given)."""
        source = self.parameterAsSource(parameters, name, context)
        if source is None:
            return []
        if not source.sourceCrs().isValid():
            raise QgsProcessingException(f"The {what} layer has no valid CRS; assign one first.")
        return [wkt.loads(geometry.asWkt()).__geo_interface__
                for _, geometry in source_geometries(source, crs, context)]
