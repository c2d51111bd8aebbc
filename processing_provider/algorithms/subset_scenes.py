"""Subset scenes to a domain polygon on one shared grid (CALFIN step 1)."""

import os

from qgis.core import (
    QgsFeatureRequest,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant
from shapely import wkt

from ...plugin.engine.fronts import subset
from ...plugin.engine.fronts.scene_names import parse_scene_name
from ..common import (
    RASTER_PATTERNS,
    GROUPS, add_rows, engine_errors, EngineFeedback, group_icon, help_string, help_url, make_fields,
    optional_raster_path, raster_paths, rasterio_crs, require_source, with_help,
)
from ..outputs import RunOutputs

CLOUD_KIND_LABELS = (
    "Cloud mask raster (non-zero = cloud)",
    "Landsat Collection 2 QA_PIXEL (cloud, dilated cloud bits)",
    "Landsat Collection 1 BQA (cloud bit or high cloud confidence)",
)

def report_fields():
    return make_fields([
        ("scene", QVariant.String), ("status", QVariant.String), ("reason", QVariant.String),
        ("nodata_pct", QVariant.Double), ("cloud_pct", QVariant.Double), ("date", QVariant.String),
        ("sensor", QVariant.String), ("path", QVariant.String)])


def report_row(scene, result, staged, out_dir):
    """The report attributes of one scene and its subset result (the path where the subset will be)."""
    info = parse_scene_name(scene)
    path = os.path.join(out_dir, os.path.relpath(result["path"], staged)) if result["path"] else None
    return [info["scene"], result["status"], result["reason"], result["nodata_pct"],
            result["cloud_pct"], info["date"], info["sensor"], path]


class SubsetScenes(QgsProcessingAlgorithm):
    INPUTS = "INPUTS"
    FOLDER = "FOLDER"
    DOMAIN = "DOMAIN"
    DOMAIN_FIELD = "DOMAIN_FIELD"
    DOMAIN_VALUE = "DOMAIN_VALUE"
    PIXEL_SIZE = "PIXEL_SIZE"
    RESAMPLING = "RESAMPLING"
    MAX_NODATA = "MAX_NODATA"
    CLOUD_MASK = "CLOUD_MASK"
    CLOUD_KIND = "CLOUD_KIND"
    FIND_QA = "FIND_QA"
    MAX_CLOUD = "MAX_CLOUD"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    FIRST_SUBSET = "FIRST_SUBSET"
    ACCEPTED = "ACCEPTED"

    def name(self):
        return "subset_scenes"

    def displayName(self):  # noqa: N802
        return "Subset scenes to a domain"

    def group(self):
        return GROUPS["calving_fronts"]

    def groupId(self):  # noqa: N802
        return GROUPS["calving_fronts"]

    def tags(self):
        return "glacier,calving,front,subset,clip,domain,landsat,sar,preprocessing".split(",")

    def shortDescription(self):  # noqa: N802
        return "Cut scenes of a glacier to its domain polygon on one shared grid."

    def helpUrl(self):  # noqa: N802
        return help_url("fronts-prep")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Clips many scenes to one domain polygon (for example one glacier) and writes every "
            "accepted subset on one identical grid (same CRS, extent, pixel size and shape), so "
            "a time series stacks pixel for pixel. Scenes in another CRS are reprojected to the "
            "domain layer's CRS. A scene is rejected when too much of the domain is nodata or, "
            "when cloud information is available, too cloudy.",
            "Also returned: the first accepted subset (handy as the reference grid for the fjord "
            "mask in a model) and the number accepted.")

    def createInstance(self):  # noqa: N802
        return SubsetScenes()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterMultipleLayers(
            self.INPUTS, "Scenes (raster layers)", QgsProcessing.TypeRaster, optional=True),
            "Raster layers to subset; combine with a folder or use either alone."))
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.FOLDER, "Folder of scenes", behavior=QgsProcessingParameterFile.Folder, optional=True),
            "Every GeoTIFF, JP2, VRT or IMG file in this folder is a scene (Landsat QA band files "
            "are used as cloud information, not as scenes)."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.DOMAIN, "Domain polygons (one per glacier)", [QgsProcessing.TypeVectorPolygon]),
            "Polygon layer; its CRS becomes the output CRS. One feature is used: the one whose "
            "field matches the value below, else the first feature."))
        self.addParameter(with_help(QgsProcessingParameterField(
            self.DOMAIN_FIELD, "Field that names the domain", parentLayerParameterName=self.DOMAIN,
            optional=True), "Field holding the glacier or domain name."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.DOMAIN_VALUE, "Domain to use (value of that field; empty = first feature)", optional=True),
            "Value of the field that selects the domain feature, e.g. Jakobshavn."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, "Pixel size in domain CRS units (0 = first scene's)",
            QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0),
            "Output pixel size in the domain CRS units; 0 uses the first scene's pixel size."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.RESAMPLING, "Resampling", options=list(subset.RESAMPLING), defaultValue=1),
            "Used when a scene is reprojected or resampled onto the domain grid."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MAX_NODATA, "Maximum nodata inside the domain (%)",
            QgsProcessingParameterNumber.Double, defaultValue=25.0, minValue=0.0, maxValue=100.0),
            "A scene is rejected when a larger share of the domain has no data (default 25)."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(
            self.CLOUD_MASK, "Cloud mask or QA raster for all scenes", optional=True),
            "Optional raster applied to every scene; its type is chosen below."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.CLOUD_KIND, "Cloud raster type", options=list(CLOUD_KIND_LABELS), defaultValue=0),
            "How the cloud raster marks clouds: non-zero mask, or Landsat QA bit flags."))
        self.addParameter(with_help(QgsProcessingParameterBoolean(
            self.FIND_QA, "Use the Landsat QA band found beside each scene", defaultValue=True),
            "For a band file ..._B8.TIF, use ..._QA_PIXEL.TIF or ..._BQA.TIF in the same folder "
            "when no cloud raster is given."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MAX_CLOUD, "Maximum cloud inside the domain (%)",
            QgsProcessingParameterNumber.Double, defaultValue=15.0, minValue=0.0, maxValue=100.0),
            "A scene is rejected when a larger share of its valid domain pixels is cloudy (default 15)."))
        self.addParameter(with_help(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, "Subsets folder"),
            "The folder of GeoTIFF subsets, one per accepted scene, all on the same grid."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, "Subset report", QgsProcessing.TypeVector),
            "A table with one row per scene: scene, status (accepted or rejected), reason, "
            "nodata %, cloud %, date and sensor read from Landsat/Sentinel product names, and "
            "the subset's path."))
        self.addOutput(QgsProcessingOutputRasterLayer(self.FIRST_SUBSET, "First accepted subset"))
        self.addOutput(QgsProcessingOutputNumber(self.ACCEPTED, "Number of accepted scenes"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        scenes = self._scenes(parameters, context)
        options = self._options(parameters, context)
        out_dir = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        inputs = scenes + [options["cloud_path"]]
        # Subsets keep their scene's name: the output folder must not be a folder holding the scenes.
        with RunOutputs(self, parameters, context, inputs=inputs, folder_outputs=[out_dir]) as out:
            domain, crs = self._domain(parameters, context, scenes[0], feedback)
            grid = self._grid(scenes[0], domain, crs, parameters, context, feedback)
            staged = out.folder(self.OUTPUT_FOLDER)
            written, rows, problems = self._subset_all(scenes, grid, domain, staged, options, feedback)
            if not written and problems and len(problems) == len(scenes):
                raise QgsProcessingException("No scene could be subset: " + "; ".join(problems))
            fields = report_fields()
            sink, table_id = out.sink(self.OUTPUT_TABLE, fields)
            add_rows(sink, fields, (report_row(scene, result, staged, out_dir) for scene, result in rows))
        feedback.pushInfo(f"{len(written)} of {len(scenes)} scenes accepted")
        first = os.path.join(out_dir, os.path.basename(written[0])) if written else None
        return {self.OUTPUT_FOLDER: out_dir, self.OUTPUT_TABLE: table_id,
                self.FIRST_SUBSET: first, self.ACCEPTED: len(written)}

    def _grid(self, first_scene, domain, crs, parameters, context, feedback):
        """The shared output grid over the domain (pixel size given, or the first scene's)."""
        pixel = self.parameterAsDouble(parameters, self.PIXEL_SIZE, context)
        with engine_errors(feedback):
            if pixel <= 0:
                pixel = subset.native_pixel_size(first_scene, crs)
                feedback.pushInfo(f"Pixel size from {os.path.basename(first_scene)}: {pixel:g}")
            grid = subset.domain_grid(domain.bounds, crs, pixel)
        feedback.pushInfo(f"Domain grid: {grid.width} x {grid.height} pixels of {pixel:g} units")
        return grid

    def _options(self, parameters, context):
        """The subsetting and acceptance settings shared by every scene."""
        return dict(
            resampling=subset.RESAMPLING[self.parameterAsEnum(parameters, self.RESAMPLING, context)],
            max_nodata=self.parameterAsDouble(parameters, self.MAX_NODATA, context),
            max_cloud=self.parameterAsDouble(parameters, self.MAX_CLOUD, context),
            cloud_path=optional_raster_path(
                self.parameterAsRasterLayer(parameters, self.CLOUD_MASK, context), "cloud mask"),
            cloud_kind=subset.CLOUD_KINDS[self.parameterAsEnum(parameters, self.CLOUD_KIND, context)],
            find_qa=self.parameterAsBool(parameters, self.FIND_QA, context))

    def _subset_all(self, scenes, grid, domain, out_dir, options, feedback):
        """Subset every scene: (paths written, (scene, result) rows, problems).

        A scene that fails is a rejected row; cancelling or an unexpected error ends the run
        (``RunOutputs`` then removes this run's subsets).
        """
        written, rows, problems = [], [], []
        for i, scene in enumerate(scenes):
            if feedback.isCanceled():
                raise QgsProcessingException("Cancelled by the user; the subsets of this run were removed.")
            progress = EngineFeedback.item(feedback, i, len(scenes))
            dst = self._unique_path(out_dir, scene, written)
            qa_path, qa_kind = options["cloud_path"], options["cloud_kind"]
            if qa_path is None and options["find_qa"]:
                qa_path, qa_kind = subset.find_landsat_qa(scene)
            try:
                with engine_errors(feedback):
                    result = subset.subset_scene(
                        scene, dst, grid, domain.__geo_interface__, options["resampling"],
                        options["max_nodata"], options["max_cloud"], qa_path, qa_kind,
                        progress.progress, progress.is_canceled)
            except QgsProcessingException as exc:
                if feedback.isCanceled():
                    raise
                result = {"status": "rejected", "reason": str(exc), "nodata_pct": None,
                          "cloud_pct": None, "path": None}
                problems.append(f"{os.path.basename(scene)}: {exc}")
            if result["reason"] == "does not overlap the domain":
                problems.append(f"{os.path.basename(scene)} does not overlap the domain")
            if result["path"]:
                written.append(result["path"])
            rows.append((scene, result))
            feedback.pushInfo(f"{os.path.basename(scene)}: {result['status']} {result['reason']}".rstrip())
        return written, rows, problems

    def _scenes(self, parameters, context):
        paths = raster_paths(self.parameterAsLayerList(parameters, self.INPUTS, context), None, what="scene")
        in_folder = raster_paths([], self.parameterAsFile(parameters, self.FOLDER, context), RASTER_PATTERNS)
        # QA bands in the folder are cloud information, not scenes
        paths += [p for p in in_folder if not subset.find_qa_suffix(p)]
        if not paths:
            raise QgsProcessingException("Give at least one scene: raster layers or a folder of rasters.")
        return paths

    def _domain(self, parameters, context, first_scene, feedback):
        """(domain geometry, CRS of the subsets): a domain drawn in degrees gets the scenes' metric CRS."""
        geometry, crs = self._domain_feature(parameters, context)
        with engine_errors(feedback):
            geometry, crs, why = subset.working_domain(geometry, crs, first_scene)
        if why:
            feedback.pushInfo(why[:1].upper() + why[1:] + ".")
        return geometry, crs

    def _domain_feature(self, parameters, context):
        source = require_source(self, parameters, self.DOMAIN, context, "The domain layer could not be loaded.")
        crs_q = source.sourceCrs()
        if not crs_q.isValid():
            raise QgsProcessingException("The domain layer has no valid CRS; assign one first.")
        field = self.parameterAsString(parameters, self.DOMAIN_FIELD, context)
        value = self.parameterAsString(parameters, self.DOMAIN_VALUE, context)
        request = QgsFeatureRequest()
        if field and value:
            request.setFilterExpression(f'"{field}" = \'{value.replace(chr(39), chr(39) * 2)}\'')
        for feature in source.getFeatures(request):
            geometry = feature.geometry()
            if geometry is None or geometry.isEmpty():
                continue
            return wkt.loads(geometry.asWkt()), rasterio_crs(crs_q)
        if field and value:
            raise QgsProcessingException(f"No domain feature has {field} = {value}.")
        raise QgsProcessingException("The domain layer has no features with a geometry.")

    @staticmethod
    def _unique_path(folder, scene, taken):
        stem = os.path.splitext(os.path.basename(scene))[0]
        path, n = os.path.join(folder, stem + ".tif"), 1
        while path in taken:
            n += 1
            path = os.path.join(folder, f"{stem}_{n}.tif")
        return path
