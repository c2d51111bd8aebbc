"""Detect calving fronts: scenes -> front lines, ice/ocean polygons, probabilities, QA images."""

import os
import shutil
import tempfile

from qgis.PyQt.QtCore import QDate, Qt, QVariant
from qgis.core import (
    QgsCoordinateTransform,
    QgsDistanceArea,
    QgsFeature,
    QgsGeometry,
    QgsLineString,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsRasterLayer,
    QgsUnitTypes,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)

from ..common import (
    GROUPS, RASTER_PATTERNS, add_feature, check_crs, engine_errors, EngineFeedback, group_icon, help_string,
    help_url, make_fields, raster_path, raster_paths, with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs
from ...plugin.engine.fronts import scene as front_scene
from ...plugin.engine.core.model import load_model, resolve_model, sensor_chooser
from ...plugin.engine.fronts.scene_names import parse_scene_name, sensor_kind

# SENSOR choices: (kind, label); None = from the file name.
SENSOR_CHOICES = [(None, "From the file name"), ("optical", "Optical (Landsat, Sentinel-2)"), ("sar", "SAR")]


def front_fields():
    return make_fields([
        ("scene_id", QVariant.String), ("date", QVariant.Date), ("sensor", QVariant.String),
        ("front_no", QVariant.Int), ("length_m", QVariant.Double), ("confidence", QVariant.Double),
        ("quality", QVariant.String), ("spans_fjord", QVariant.String), ("model", QVariant.String),
        ("source", QVariant.String)])


def ice_fields():
    return make_fields([("scene_id", QVariant.String), ("date", QVariant.Date), ("class", QVariant.String)])


class DetectCalvingFronts(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    FOLDER = "FOLDER"
    FJORD_MASK = "FJORD_MASK"
    MODEL = "MODEL"
    SENSOR = "SENSOR"
    EDGE_THRESHOLD = "EDGE_THRESHOLD"
    MIN_CONFIDENCE = "MIN_CONFIDENCE"
    MAX_FRONTS = "MAX_FRONTS"
    MIN_LENGTH = "MIN_LENGTH"
    INCLUDE_REJECTED = "INCLUDE_REJECTED"
    STATIC_EDGES = "STATIC_EDGES"
    SYMMETRIC = "SYMMETRIC"
    OUTPUT = "OUTPUT"
    OUTPUT_ICE = "OUTPUT_ICE"
    PROB_FOLDER = "PROB_FOLDER"
    QA_FOLDER = "QA_FOLDER"
    APPEND_GPKG = "APPEND_GPKG"
    APPEND_LAYER = "APPEND_LAYER"
    FRONTS_FOUND = "FRONTS_FOUND"
    APPENDED = "APPENDED"

    def name(self):
        return "detect_calving_fronts"

    def displayName(self):
        return "Detect calving fronts"

    def group(self):
        return GROUPS["calving_fronts"]

    def groupId(self):
        return GROUPS["calving_fronts"]

    def tags(self):
        return "glacier,ice,calving,front,terminus,calfin,deeplab,onnx,deep learning,ocean,melange".split(",")

    def shortDescription(self):  # noqa: N802
        return "Map glacier calving fronts as dated lines with a CALFIN-style network."

    def helpUrl(self):  # noqa: N802
        return help_url("fronts")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):
        return help_string(
            self,
            "Finds the calving front of a glacier in one or many scenes with a CALFIN-style network "
            "(DeepLabV3+ with a front-edge output and an ice/land-versus-ocean output), then traces the "
            "front where the two outputs agree: a line counts only where it lies on the ice/ocean boundary "
            "(or where the ice output is unsure), so lines with water on both sides or round an iceberg "
            "are rejected; lines are trimmed to their best-supported stretch and ranked; parts on or "
            "outside the fjord walls are dropped (when a fjord mask is given), and implausible fronts "
            "(too short, low confidence) are rejected. Optical scenes (Landsat, Sentinel-2: from the "
            "file name, or the Sensor parameter) get the shipped optical model, SAR scenes and scenes "
            "of unknown sensor the general one.",
            "Also returned: the number of fronts written and the number appended to the GeoPackage.")

    def createInstance(self):
        return DetectCalvingFronts()

    def initAlgorithm(self, config=None):
        self.addParameter(with_help(QgsProcessingParameterMultipleLayers(
            self.INPUT, "Scenes (3-band layered or 1-band grey)", QgsProcessing.TypeRaster, optional=True),
            "One or more subsets around the glacier terminus in a projected CRS in metres with about "
            "50 m pixels: either the 3-band CALFIN layering (Layer CALFIN input) or one grey band "
            "(Landsat panchromatic/red, SAR backscatter), which is layered here."))
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.FOLDER, "Folder of scenes (e.g. the subsets of Subset scenes to a domain)",
            behavior=QgsProcessingParameterFile.Folder, optional=True),
            "Every GeoTIFF, JP2, VRT or IMG file in this folder is a scene too (after the scene layers); "
            "this is how a model chain hands over the subsets folder."))
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(
            self.FJORD_MASK, "Fjord mask (1 inside the fjord, 0 on/outside the walls)", optional=True),
            "Optional (Fjord-boundary mask makes one). Front pieces on or outside the walls are "
            "dropped and fronts that do not reach both walls are flagged 'partial'."))
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.MODEL, "Model (ONNX; empty = the shipped model for each scene's sensor)", extension="onnx",
            optional=True),
            "A calving_front ONNX model with the Waterline contract, run on every scene. Empty: each scene gets "
            "the shipped model for its sensor (see Sensor): calving_front_optical.onnx for optical scenes, "
            "calving_front.onnx for SAR and for scenes whose sensor is not known."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.SENSOR, "Sensor of the scenes", [label for _, label in SENSOR_CHOICES], defaultValue=0),
            "Which shipped model a scene gets. From the file name: Landsat and Sentinel-2 product ids, and "
            "names with a Landsat sensor code such as LE07 as a part of their own, are optical; Sentinel-1 "
            "ids and CaFFe-style names (glacier_date_TSX_...) are SAR; any other name "
            "gets the general model. Choose Optical or SAR when your file names do not say. Ignored when a "
            "model file is given."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.EDGE_THRESHOLD, "Edge threshold (front probability)", QgsProcessingParameterNumber.Double,
            0.5, minValue=0.01, maxValue=0.99),
            "Front probability a pixel needs to be a front candidate; lower finds fainter fronts."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MIN_CONFIDENCE, "Minimum mean confidence of a front", QgsProcessingParameterNumber.Double,
            0.5, minValue=0.0, maxValue=1.0),
            "Fronts whose confidence (mean front evidence along the line) is lower are rejected "
            "(quality low_confidence)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MIN_LENGTH, "Minimum front length (m)", QgsProcessingParameterNumber.Double,
            1000.0, minValue=0.0),
            "Shorter fronts are rejected (quality short)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MAX_FRONTS, "Fronts per scene (at most)", QgsProcessingParameterNumber.Integer, 5, minValue=1,
            maxValue=50),
            "At most this many lines per scene, best supported first (default 5). A further line is kept "
            "only when it has at least half the best line's supported length (a second glacier's front); "
            "weaker ones are flagged 'weaker' and left out. 1 keeps only the best line."))
        self.addParameter(with_help(QgsProcessingParameterBoolean(
            self.STATIC_EDGES, "Find static edges (rock walls, coast) from the scenes", True),
            "When at least three scenes share one grid (subsets of one domain), edges the model finds in "
            "at least 80 % of them do not move like a calving front: they count only half as front "
            "evidence. Turn off for a single glacier whose front stays put."))
        self.addParameter(with_help(QgsProcessingParameterBoolean(
            self.SYMMETRIC, "Average the network over flips and turns of each tile", True),
            "Runs the network on the eight flips and quarter turns of every tile and averages the "
            "answers, so the fronts do not depend on how the scene is oriented (north up or turned), "
            "and they are more accurate (see the model card). A side shorter than a tile (256 px) is "
            "padded once after and once before the data. Inference takes eight times longer (sixteen on "
            "a scene narrower than a tile, 32 when both sides are); "
            "turn off only for a quick look at a very large scene."))
        self.addParameter(with_help(QgsProcessingParameterBoolean(
            self.INCLUDE_REJECTED, "Also write rejected fronts (with their quality flag)", False),
            "Keep rejected fronts in the line layer, flagged, instead of leaving them out."))
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.APPEND_GPKG, "Append fronts to this GeoPackage (created if missing)", extension="gpkg",
            optional=True, behavior=QgsProcessingParameterFile.File),
            "A GeoPackage collecting the fronts of one glacier over time: this run's fronts are "
            "appended to its layer (created when missing); scenes it already holds are skipped."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.APPEND_LAYER, "Layer name in that GeoPackage", "calving_fronts", optional=True),
            "Layer of the GeoPackage to append to (default calving_fronts)."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Calving fronts", QgsProcessing.TypeVectorLine),
            "Lines, one per scene and front, with scene_id, date, sensor (from Landsat/Sentinel "
            "product ids or CaFFe-style names), front_no, length_m, confidence (mean front evidence along "
            "the line: the front probability where the line lies on the ice/ocean boundary or the ice "
            "output is unsure, 0 elsewhere, halved on static edges; it ranks lines, it is not a "
            "probability), quality (good, partial, short, low_confidence, weaker), spans_fjord, model, "
            "source."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT_ICE, "Ice and ocean", QgsProcessing.TypeVectorPolygon, optional=True,
            createByDefault=True),
            "Polygons of the ice/land (class ice_land) and ocean/melange (class ocean) output."))
        self.addParameter(with_help(QgsProcessingParameterFolderDestination(
            self.PROB_FOLDER, "Probability rasters folder", optional=True, createByDefault=False),
            "Optional: one SCENE_prob.tif per scene (SCENE = its file name), band 1 front, band 2 ice "
            "probability (band 3 rock, for a model with a rock output), -1 nodata."))
        self.addParameter(with_help(QgsProcessingParameterFolderDestination(
            self.QA_FOLDER, "QA images folder", optional=True, createByDefault=False),
            "Optional: one SCENE_qa.png per scene, the scene with ice tinted blue, accepted fronts red, "
            "rejected fronts yellow."))
        self.addOutput(QgsProcessingOutputNumber(self.FRONTS_FOUND, "Fronts written"))
        self.addOutput(QgsProcessingOutputNumber(self.APPENDED, "Fronts appended to the GeoPackage"))

    # ------------------------------------------------------------------ helpers

    def _models(self, parameters, context, scenes, feedback):
        """The model of every scene: the user's file for all of them, else the shipped model for the
        scene's sensor (each model loaded once)."""
        user = self.parameterAsFile(parameters, self.MODEL, context)
        forced = SENSOR_CHOICES[self.parameterAsEnum(parameters, self.SENSOR, context)][0]
        by_kind, loaded, models = {}, {}, []
        with engine_errors(feedback):
            for path, _ in scenes:
                kind = None if user else (forced or sensor_kind(parse_scene_name(path)["sensor"]))
                if kind not in by_kind:
                    model_path, _ = resolve_model("calving_front", user, choose=sensor_chooser(kind))
                    if model_path not in loaded:
                        loaded[model_path] = load_model(model_path, device="auto")
                        feedback.pushInfo(f"Model: {os.path.basename(model_path)} version "
                                          f"{loaded[model_path].meta['version']}")
                    by_kind[kind] = loaded[model_path]
                models.append(by_kind[kind])
        return models

    def _scenes(self, parameters, context):
        """(path, CRS) of every scene layer, then of every raster in the scene folder."""
        layers = list(self.parameterAsLayerList(parameters, self.INPUT, context))
        folder = self.parameterAsFile(parameters, self.FOLDER, context)
        for path in raster_paths([], folder, RASTER_PATTERNS):
            layer = QgsRasterLayer(path, os.path.splitext(os.path.basename(path))[0], "gdal")
            if not layer.isValid():
                raise QgsProcessingException(f"{path} in the scene folder is not a readable raster.")
            layers.append(layer)
        if not layers:
            raise QgsProcessingException("Give at least one scene raster, or a folder of scenes.")
        return [(raster_path(layer, f"scene {layer.name()}"), check_crs(layer, f"scene {layer.name()}"))
                for layer in layers]

    def _fjord_path(self, parameters, context):
        layer = self.parameterAsRasterLayer(parameters, self.FJORD_MASK, context)
        if layer is None:
            return None
        path = raster_path(layer, "fjord mask")
        check_crs(layer, "fjord mask")
        return path

    def _settings(self, parameters, context):
        """The front-extraction settings passed to the engine for every scene."""
        return dict(
            edge_threshold=self.parameterAsDouble(parameters, self.EDGE_THRESHOLD, context),
            min_confidence=self.parameterAsDouble(parameters, self.MIN_CONFIDENCE, context),
            min_length_m=self.parameterAsDouble(parameters, self.MIN_LENGTH, context),
            max_fronts=self.parameterAsInt(parameters, self.MAX_FRONTS, context),
            include_rejected=self.parameterAsBool(parameters, self.INCLUDE_REJECTED, context),
            static_edges=self.parameterAsBool(parameters, self.STATIC_EDGES, context),
            symmetric=self.parameterAsBool(parameters, self.SYMMETRIC, context))

    # ------------------------------------------------------------------ run

    def processAlgorithm(self, parameters, context, feedback):
        scenes = self._scenes(parameters, context)
        fjord_path = self._fjord_path(parameters, context)
        settings = self._settings(parameters, context)
        gpkg = self.parameterAsFile(parameters, self.APPEND_GPKG, context)
        gpkg_layer = self.parameterAsString(parameters, self.APPEND_LAYER, context) or "calving_fronts"
        # The GeoPackage to append to counts as an input: no output may be written over it.
        inputs = [path for path, _ in scenes] + [fjord_path, gpkg if gpkg and os.path.exists(gpkg) else None]
        with RunOutputs(self, parameters, context, inputs=inputs) as out:
            models = self._models(parameters, context, scenes, feedback)
            out_crs = scenes[0][1]
            sink, _ = out.sink(self.OUTPUT, front_fields(), QgsWkbTypes.LineString, out_crs)
            ice_sink, _ = out.sink(self.OUTPUT_ICE, ice_fields(), QgsWkbTypes.Polygon, out_crs, required=False)
            folders = (out.folder(self.PROB_FOLDER), out.folder(self.QA_FOLDER))
            written = self._detect_all(scenes, fjord_path, models, settings, folders, sink, ice_sink, out_crs,
                                       context, feedback)
            appended = self._append(gpkg, gpkg_layer, written, out_crs, context, feedback) if gpkg else 0
        del sink, ice_sink  # closes the GeoPackages: their default styles are saved in them next
        style_outputs(context, feedback, {out.final(self.OUTPUT): "fronts", out.final(self.OUTPUT_ICE): "ice_ocean",
                                          f"{gpkg}|layername={gpkg_layer}" if gpkg else None: "fronts"})
        result = {self.FRONTS_FOUND: len(written), self.APPENDED: appended}
        for key in (self.OUTPUT, self.OUTPUT_ICE, self.PROB_FOLDER, self.QA_FOLDER):
            if out.final(key):
                result[key] = out.final(key)
        if gpkg:
            result[self.APPEND_GPKG] = gpkg
        return result

    def _detect_all(self, scenes, fjord_path, models, settings, folders, sink, ice_sink, out_crs, context, feedback):
        """Every scene through the engine, its fronts and ice/ocean polygons into the sinks; returns the fronts.

        Two passes: the model runs on every scene first, so that static edges (rock walls, coast)
        can be found from the scenes that share one grid before any front is extracted.
        """
        distance = QgsDistanceArea()
        distance.setEllipsoid(context.ellipsoid() or "WGS84")
        work = tempfile.mkdtemp(prefix="fronts_", dir=QgsProcessingUtils.tempFolder())
        use_static = settings.pop("static_edges")
        symmetric = settings.pop("symmetric")
        written, predictions = [], []
        try:
            for i, ((path, _), model) in enumerate(zip(scenes, models)):
                if feedback.isCanceled():
                    raise QgsProcessingException("Cancelled by the user; no output was written.")
                stem = os.path.splitext(os.path.basename(path))[0]
                feedback.pushInfo(f"Scene {i + 1}/{len(scenes)}: {stem} (model {os.path.basename(model.path)})")
                eng = EngineFeedback(feedback, 80.0 * i / len(scenes), 80.0 / len(scenes))
                with engine_errors(feedback):
                    predictions.append(front_scene.predict_scene(
                        model, path, os.path.join(work, str(i)), fjord_path=fjord_path,
                        prob_path=os.path.join(folders[0], stem + "_prob.tif") if folders[0] else None,
                        progress=eng.progress, is_canceled=eng.is_canceled, log=feedback.pushInfo,
                        symmetric=symmetric))
            with engine_errors(feedback):
                static = front_scene.static_edges_of(predictions) if use_static else {}
            if static:
                share = max(float(m.mean()) for m in static.values())
                if share > 0:
                    feedback.pushInfo(f"Static edges (rock walls, coast) found from the stack for {len(static)} "
                                      f"scene(s) on a shared grid (up to {share:.1%} of a grid): they count half as "
                                      "front evidence")
                else:
                    feedback.pushInfo(f"No edge stays put across the {len(static)} scene(s) on a shared grid, so "
                                      "no static edges were removed (scenes that are not co-registered, e.g. "
                                      "resized to one size, cannot show them)")
            for i, ((path, crs), prediction, model) in enumerate(zip(scenes, predictions, models)):
                if feedback.isCanceled():
                    raise QgsProcessingException("Cancelled by the user; no output was written.")
                stem = os.path.splitext(os.path.basename(path))[0]
                with engine_errors(feedback):
                    result = front_scene.extract_scene(
                        prediction, qa_path=os.path.join(folders[1], stem + "_qa.png") if folders[1] else None,
                        static=static.get(i), is_canceled=feedback.isCanceled, **settings)
                to_out = None
                if crs != out_crs:
                    to_out = QgsCoordinateTransform(crs, out_crs, context.transformContext())
                distance.setSourceCrs(crs, context.transformContext())
                date = QDate.fromString(result.info["date"], Qt.ISODate) if result.info["date"] else QDate()
                feedback.pushInfo(f"Fronts of {stem}:")
                written += self._add_fronts(sink, result, path, model, date, distance, to_out, feedback)
                if not result.fronts:
                    feedback.reportError(f"  no plausible front found in {stem}", fatalError=False)
                if ice_sink is not None:
                    self._add_ice(ice_sink, result, result.info, date, to_out)
                feedback.setProgress(80.0 + 20.0 * (i + 1) / len(scenes))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return written

    @staticmethod
    def _add_fronts(sink, result, path, model, date, distance, to_out, feedback):
        """Write a scene's front lines (length measured in the scene CRS); returns copies of the features."""
        info = result.info
        written = []
        for k, (front, line) in enumerate(zip(result.fronts, result.lines), start=1):
            geom = QgsGeometry(QgsLineString([QgsPointXY(float(x), float(y)) for x, y in line]))
            length = distance.convertLengthMeasurement(distance.measureLength(geom),
                                                       QgsUnitTypes.DistanceMeters)
            if to_out is not None:
                geom.transform(to_out)
            feat = add_feature(sink, front_fields(), [
                info["scene"], date, info["sensor"], k, round(length, 1), round(front.confidence, 4),
                front.quality,
                None if front.spans_fjord is None else ("yes" if front.spans_fjord else "no"),
                f"{os.path.basename(model.path)} {model.meta['version']}", path,
            ], geom)
            written.append(QgsFeature(feat))
            feedback.pushInfo(f"  front {k}: {length:.0f} m, confidence {front.confidence:.2f}, "
                              f"{front.quality}")
        return written

    @staticmethod
    def _add_ice(sink, result, info, date, to_out):
        import shapely.geometry

        for value, geom in result.ice_polygons:
            g = QgsGeometry.fromWkt(shapely.geometry.shape(geom).wkt)
            if to_out is not None:
                g.transform(to_out)
            add_feature(sink, ice_fields(), [info["scene"], date, "ice_land" if value == 1 else "ocean"], g)

    def _append(self, gpkg, layer_name, features, crs, context, feedback):
        """Append ``features`` to ``gpkg``|``layer_name``; skip scenes already there. Returns the count."""
        uri = f"{gpkg}|layername={layer_name}"
        existing = QgsVectorLayer(uri, layer_name, "ogr") if os.path.exists(gpkg) else None
        if existing is not None and existing.isValid():
            return self._append_to_layer(existing, gpkg, layer_name, uri, features, crs, context, feedback)
        return self._write_new_layer(gpkg, layer_name, uri, features, crs, context, feedback)

    @staticmethod
    def _append_to_layer(existing, gpkg, layer_name, uri, features, crs, context, feedback):
        """Add the fronts of scenes ``existing`` does not hold yet, in its CRS and fields."""
        if existing.geometryType() != QgsWkbTypes.LineGeometry:
            raise QgsProcessingException(
                f"The layer '{layer_name}' in {gpkg} is not a line layer; choose another layer name.")
        names = existing.fields().names()
        if "scene_id" not in names:
            raise QgsProcessingException(
                f"The layer '{layer_name}' in {gpkg} has no scene_id field, so it is not a fronts layer; "
                "choose another layer name.")
        have = {f["scene_id"] for f in existing.getFeatures()}
        to_layer = None
        if existing.crs() != crs:
            to_layer = QgsCoordinateTransform(crs, existing.crs(), context.transformContext())
        new = []
        for feat in features:
            if feat["scene_id"] in have:
                continue
            out = QgsFeature(existing.fields())
            geom = QgsGeometry(feat.geometry())
            if to_layer is not None:
                geom.transform(to_layer)
            out.setGeometry(geom)
            for name in feat.fields().names():
                if name in names:
                    out[name] = feat[name]
            new.append(out)
        skipped = len({f["scene_id"] for f in features} & have)
        if skipped:
            feedback.pushInfo(f"{skipped} scene(s) already in {os.path.basename(gpkg)}: not appended again")
        if new and not existing.dataProvider().addFeatures(new)[0]:
            raise QgsProcessingException(f"Could not append to {uri}: {existing.dataProvider().error().message()}")
        feedback.pushInfo(f"Appended {len(new)} front(s) to {uri}")
        return len(new)

    @staticmethod
    def _write_new_layer(gpkg, layer_name, uri, features, crs, context, feedback):
        """New file or new layer: write the features with the fronts schema."""
        memory = QgsVectorLayer(f"LineString?crs={crs.authid() or crs.toWkt()}", layer_name, "memory")
        memory.dataProvider().addAttributes(front_fields().toList())
        memory.updateFields()
        memory.dataProvider().addFeatures(features)
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        options.layerName = layer_name
        options.actionOnExistingFile = (QgsVectorFileWriter.CreateOrOverwriteLayer if os.path.exists(gpkg)
                                        else QgsVectorFileWriter.CreateOrOverwriteFile)
        error = QgsVectorFileWriter.writeAsVectorFormatV2(memory, gpkg, context.transformContext(), options)
        if error[0] != QgsVectorFileWriter.NoError:
            raise QgsProcessingException(f"Could not write {uri}: {error[1]}")
        feedback.pushInfo(f"Created {uri} with {len(features)} front(s)")
        return len(features)
