"""Subset scenes to a domain polygon on one shared grid (CALFIN step 1)."""

import os

from qgis.core import (
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
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
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant
from shapely import wkt

from ...plugin.engine import subset
from ...plugin.engine.raster_io import Cancelled
from ...plugin.engine.scene_names import parse_scene_name
from ..common import EngineFeedback, engine_errors, help_string, raster_path, raster_paths, rasterio_crs, with_help, make_fields

RASTER_PATTERNS = ("*.tif", "*.tiff", "*.TIF", "*.TIFF", "*.jp2", "*.vrt", "*.img")
CLOUD_KIND_LABELS = (
    "Cloud mask raster (non-zero = cloud)",
    "Landsat Collection 2 QA_PIXEL (cloud, dilated cloud bits)",
    "Landsat Collection 1 BQA (cloud bit or high cloud confidence)",
)


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
        return "Calving fronts"

    def groupId(self):  # noqa: N802
        return "calving_fronts"

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Clips many scenes to one domain polygon (for example one glacier) and writes every "
            "accepted subset on one identical grid (same CRS, extent, pixel size and shape), so "
            "a time series stacks pixel for pixel. Scenes in another CRS are reprojected to the "
            "domain layer's CRS. A scene is rejected when too much of the domain is nodata or, "
            "when cloud information is available, too cloudy.",
            "Outputs: the folder of GeoTIFF subsets, a table with one row per scene (scene, "
            "accepted or rejected, reason, nodata %, cloud %, date and sensor read from "
            "Landsat/Sentinel product names), the first accepted subset (handy as the reference "
            "grid for the fjord mask in a model) and the number accepted.")

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
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, "Subsets folder"))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, "Subset report", QgsProcessing.TypeVector))
        self.addOutput(QgsProcessingOutputRasterLayer(self.FIRST_SUBSET, "First accepted subset"))
        self.addOutput(QgsProcessingOutputNumber(self.ACCEPTED, "Number of accepted scenes"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        scenes = self._scenes(parameters, context)
        domain, crs = self._domain(parameters, context)
        pixel = self.parameterAsDouble(parameters, self.PIXEL_SIZE, context)
        resampling = subset.RESAMPLING[self.parameterAsEnum(parameters, self.RESAMPLING, context)]
        max_nodata = self.parameterAsDouble(parameters, self.MAX_NODATA, context)
        max_cloud = self.parameterAsDouble(parameters, self.MAX_CLOUD, context)
        cloud_layer = self.parameterAsRasterLayer(parameters, self.CLOUD_MASK, context)
        cloud_path = raster_path(cloud_layer, "cloud mask") if cloud_layer else None
        cloud_kind = subset.CLOUD_KINDS[self.parameterAsEnum(parameters, self.CLOUD_KIND, context)]
        find_qa = self.parameterAsBool(parameters, self.FIND_QA, context)
        out_dir = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        os.makedirs(out_dir, exist_ok=True)

        with engine_errors(feedback):
            if pixel <= 0:
                pixel = subset.native_pixel_size(scenes[0], crs)
                feedback.pushInfo(f"Pixel size from {os.path.basename(scenes[0])}: {pixel:g}")
            grid = subset.domain_grid(domain.bounds, crs, pixel)
        feedback.pushInfo(f"Domain grid: {grid.width} x {grid.height} pixels of {pixel:g} units")

        fields = make_fields([
            ("scene", QVariant.String), ("status", QVariant.String), ("reason", QVariant.String),
            ("nodata_pct", QVariant.Double), ("cloud_pct", QVariant.Double), ("date", QVariant.String),
            ("sensor", QVariant.String), ("path", QVariant.String)])
        sink, table_id = self.parameterAsSink(
            parameters, self.OUTPUT_TABLE, context, fields, QgsWkbTypes.NoGeometry)

        written, rows, problems = [], [], []
        try:
            for i, scene in enumerate(scenes):
                if feedback.isCanceled():
                    raise Cancelled()
                progress = EngineFeedback(feedback, 100.0 * i / len(scenes), 100.0 / len(scenes))
                dst = self._unique_path(out_dir, scene, written)
                qa_path, qa_kind = cloud_path, cloud_kind
                if qa_path is None and find_qa:
                    qa_path, qa_kind = subset.find_landsat_qa(scene)
                try:
                    with engine_errors(feedback):
                        result = subset.subset_scene(
                            scene, dst, grid, domain.__geo_interface__, resampling, max_nodata,
                            max_cloud, qa_path, qa_kind, progress.progress, progress.is_canceled)
                except QgsProcessingException as exc:
                    if feedback.isCanceled():
                        raise Cancelled()
                    result = {"status": "rejected", "reason": str(exc), "nodata_pct": None,
                              "cloud_pct": None, "path": None}
                    problems.append(f"{os.path.basename(scene)}: {exc}")
                if result["reason"] == "does not overlap the domain":
                    problems.append(f"{os.path.basename(scene)} does not overlap the domain")
                if result["path"]:
                    written.append(result["path"])
                rows.append((scene, result))
                feedback.pushInfo(f"{os.path.basename(scene)}: {result['status']} {result['reason']}".rstrip())
        except Cancelled:
            self._remove(written)
            raise QgsProcessingException("Cancelled by the user; the subsets of this run were removed.")
        except Exception:
            self._remove(written)
            raise

        if not written and problems and len(problems) == len(scenes):
            raise QgsProcessingException("No scene could be subset: " + "; ".join(problems))
        for scene, result in rows:
            info = parse_scene_name(scene)
            feature = QgsFeature(fields)
            feature.setAttributes([
                info["scene"], result["status"], result["reason"], result["nodata_pct"],
                result["cloud_pct"], info["date"], info["sensor"], result["path"]])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        feedback.pushInfo(f"{len(written)} of {len(scenes)} scenes accepted")
        return {self.OUTPUT_FOLDER: out_dir, self.OUTPUT_TABLE: table_id,
                self.FIRST_SUBSET: written[0] if written else None, self.ACCEPTED: len(written)}

    def _scenes(self, parameters, context):
        paths = raster_paths(self.parameterAsLayerList(parameters, self.INPUTS, context), None, what="scene")
        in_folder = raster_paths([], self.parameterAsFile(parameters, self.FOLDER, context), RASTER_PATTERNS)
        # QA bands in the folder are cloud information, not scenes
        paths += [p for p in in_folder if not subset.find_qa_suffix(p)]
        if not paths:
            raise QgsProcessingException("Give at least one scene: raster layers or a folder of rasters.")
        return paths

    def _domain(self, parameters, context):
        source = self.parameterAsSource(parameters, self.DOMAIN, context)
        if source is None:
            raise QgsProcessingException("The domain layer could not be loaded.")
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

    @staticmethod
    def _remove(paths):
        for path in paths:
            if os.path.exists(path):
                os.remove(path)
