"""Evaluate fronts: predicted vs reference front lines, CALFIN's symmetric mean distance."""

import os

import numpy as np
from qgis.PyQt.QtCore import QVariant
from qgis.core import (
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsUnitTypes,
)

from ..common import (
    GROUPS, add_feature, check_crs, engine_errors, group_icon, help_string, help_url, make_fields,
    raster_path, require_fields, require_source, with_help,
)
from ..outputs import RunOutputs
from ...plugin.engine.fronts.metrics import mask_raster_points, points_from_lines, summarize, symmetric_distance
from ...plugin.engine.fronts.scene_names import match_key


def geometry_lines(geom):
    """Polylines (N, 2) of a (multi)line geometry."""
    if geom is None or geom.isEmpty():
        return []
    parts = geom.asMultiPolyline() if geom.isMultipart() else [geom.asPolyline()]
    return [np.array([[p.x(), p.y()] for p in part], np.float64) for part in parts if len(part)]


def table_fields():
    return make_fields([("scene_id", QVariant.String), ("found", QVariant.Int), ("pred_fronts", QVariant.Int)]
                       + [(name, QVariant.Double) for name in (
                           "mean_m", "median_m", "pred_to_ref_m", "ref_to_pred_m", "pixel_m", "mean_px",
                           "median_px")])


class EvaluateFronts(QgsProcessingAlgorithm):
    PREDICTED = "PREDICTED"
    PRED_FIELD = "PRED_FIELD"
    REFERENCE = "REFERENCE"
    REF_FIELD = "REF_FIELD"
    REFERENCE_MASKS = "REFERENCE_MASKS"
    MASK_FRONT = "MASK_FRONT"
    PIXEL_SIZE = "PIXEL_SIZE"
    OUTPUT = "OUTPUT"
    SCENES = "SCENES"
    FOUND_FRACTION = "FOUND_FRACTION"
    MEAN_M = "MEAN_M"
    MEDIAN_M = "MEDIAN_M"
    MEAN_PX = "MEAN_PX"
    MEDIAN_PX = "MEDIAN_PX"

    MASK_CHOICES = ["non-zero pixels are the front", "zero pixels are the front"]

    def name(self):
        return "evaluate_fronts"

    def displayName(self):
        return "Evaluate fronts"

    def group(self):
        return GROUPS["calving_fronts"]

    def groupId(self):
        return GROUPS["calving_fronts"]

    def tags(self):
        return "glacier,calving,front,accuracy,evaluate,distance,validation".split(",")

    def shortDescription(self):  # noqa: N802
        return "Score predicted calving fronts against reference fronts (mean distance)."

    def helpUrl(self):  # noqa: N802
        return help_url("fronts")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):
        return help_string(
            self,
            "Scores predicted calving fronts against reference fronts with CALFIN's symmetric mean "
            "distance: every point of the predicted front to the nearest reference point and every "
            "reference point to the nearest predicted point (lines densified to half a pixel), pooled "
            "and averaged. Fronts are paired by scene id; names are compared without extension, case and "
            "suffixes such as _Subset, _Front, _mask, _layered (so X_Subset.tif matches X_Front.png).",
            "<b>Summary</b> (also in the log): SCENES (reference scenes), FOUND_FRACTION, MEAN_M / MEAN_PX "
            "(mean over scenes of the scene mean distance), MEDIAN_M / MEDIAN_PX (median over scenes of "
            "the scene mean distance).")

    def createInstance(self):
        return EvaluateFronts()

    def initAlgorithm(self, config=None):
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.PREDICTED, "Predicted fronts", [QgsProcessing.TypeVectorLine]),
            "Line layer of predicted fronts, e.g. the output of Detect calving fronts."))
        self.addParameter(with_help(QgsProcessingParameterField(
            self.PRED_FIELD, "Scene id field (predicted)", "scene_id", self.PREDICTED, optional=True),
            "Field with the scene id of each predicted front (default scene_id)."))
        # optional=True: QGIS 3.22 rejects an omitted field parameter even when it has a default
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.REFERENCE, "Reference fronts (lines)", [QgsProcessing.TypeVectorLine], optional=True),
            "Reference (e.g. manually digitised) fronts in a projected CRS in metres."))
        self.addParameter(with_help(QgsProcessingParameterField(
            self.REF_FIELD, "Scene id field (reference)", "scene_id", self.REFERENCE, optional=True),
            "Field with the scene id of each reference front (default scene_id)."))
        self.addParameter(with_help(QgsProcessingParameterMultipleLayers(
            self.REFERENCE_MASKS, "Reference front masks (rasters named by scene)", QgsProcessing.TypeRaster,
            optional=True),
            "Rasters whose front pixels mark the reference front, instead of or besides reference lines; "
            "the file name is the scene id; thick fronts are thinned to one pixel; their pixel size "
            "converts distances to pixels."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.MASK_FRONT, "Front pixels in the masks", self.MASK_CHOICES, defaultValue=0),
            "Non-zero pixels (default) or zero pixels (as in the CALFIN Landsat labels, black front on "
            "white) are the front."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, "Pixel size for reference lines (m, 0 = none)", QgsProcessingParameterNumber.Double,
            0.0, minValue=0.0),
            "Converts distances to pixels for reference lines; 0 leaves the pixel columns empty unless "
            "masks give the pixel size."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Per-scene front distances", QgsProcessing.TypeVector),
            "One row per reference scene: scene_id, found (1 when a predicted front exists for the "
            "scene), pred_fronts, mean_m, median_m (median of the pooled nearest distances), "
            "pred_to_ref_m, ref_to_pred_m, pixel_m, mean_px, median_px; reference scenes without a "
            "prediction have found = 0 and empty distances."))
        for key, label in ((self.SCENES, "Reference scenes"), (self.FOUND_FRACTION, "Fraction with a front"),
                           (self.MEAN_M, "Mean distance (m)"), (self.MEDIAN_M, "Median distance (m)"),
                           (self.MEAN_PX, "Mean distance (px)"), (self.MEDIAN_PX, "Median distance (px)")):
            self.addOutput(QgsProcessingOutputNumber(key, label))

    @staticmethod
    def _check_metres(crs, what):
        if crs.isGeographic() or crs.mapUnits() != QgsUnitTypes.DistanceMeters:
            raise QgsProcessingException(
                f"The {what} is in {crs.authid() or 'a CRS'} whose units are not metres; reproject it to a "
                "projected CRS in metres (e.g. EPSG:3413 or the UTM zone) so distances mean something.")

    def processAlgorithm(self, parameters, context, feedback):
        pred = require_source(self, parameters, self.PREDICTED, context)
        pred_field = self.parameterAsString(parameters, self.PRED_FIELD, context) or "scene_id"
        require_fields(pred, (pred_field,), "predicted layer")
        ref = self.parameterAsSource(parameters, self.REFERENCE, context)
        ref_field = self.parameterAsString(parameters, self.REF_FIELD, context) or "scene_id"
        masks = self.parameterAsLayerList(parameters, self.REFERENCE_MASKS, context)
        if ref is None and not masks:
            raise QgsProcessingException("Give reference fronts as a line layer, as front mask rasters, or both.")
        front_is_zero = self.parameterAsEnum(parameters, self.MASK_FRONT, context) == 1
        pixel_size = self.parameterAsDouble(parameters, self.PIXEL_SIZE, context) or None

        # Reference points per scene, in the reference CRS (metres); predictions are brought into it.
        references = {}  # key -> (label, points (N, 2), crs, pixel size or None)
        if ref is not None:
            references.update(self._line_references(ref, ref_field, pixel_size, feedback))
        references.update(self._mask_references(masks, front_is_zero, feedback))
        if feedback.isCanceled():
            raise QgsProcessingException("Cancelled by the user; no output was written.")
        if not references:
            raise QgsProcessingException("The reference layer holds no fronts.")
        predicted = self._predicted(pred, pred_field, references, feedback)
        fields = table_fields()
        mask_files = [raster_path(layer, f"reference mask {layer.name()}") for layer in masks]
        with RunOutputs(self, parameters, context, inputs=mask_files) as run:
            sink, dest = run.sink(self.OUTPUT, fields)
            rows = []
            for n, (key, reference) in enumerate(sorted(references.items())):
                if feedback.isCanceled():
                    raise QgsProcessingException("Cancelled by the user; no output was written.")
                geoms = predicted.get(key, [])
                row = scene_row(reference, self._lines_in(geoms, pred.sourceCrs(), reference[2], context),
                                len(geoms), pixel_size)
                rows.append(row)
                add_feature(sink, fields, row)
                feedback.setProgress(100.0 * (n + 1) / len(references))
        return self._summary(rows, dest, feedback)

    def _line_references(self, ref, ref_field, pixel_size, feedback):
        """Reference points per scene from a line layer (densified to half a pixel)."""
        require_fields(ref, (ref_field,), "reference layer")
        self._check_metres(ref.sourceCrs(), "reference layer")
        lines = {}
        for feat in ref.getFeatures():
            if feedback.isCanceled():
                return {}
            label = str(feat[ref_field])
            lines.setdefault(match_key(label), (label, []))[1].extend(geometry_lines(feat.geometry()))
        step = (pixel_size or 1.0) / 2.0
        return {key: (label, points_from_lines(parts, step), ref.sourceCrs(), pixel_size)
                for key, (label, parts) in lines.items()}

    def _mask_references(self, masks, front_is_zero, feedback):
        """Reference points per scene from front mask rasters (named by scene)."""
        references = {}
        for layer in masks:
            if feedback.isCanceled():
                return {}
            crs = check_crs(layer, f"reference mask {layer.name()}")
            self._check_metres(crs, f"reference mask {layer.name()}")
            path = raster_path(layer, f"reference mask {layer.name()}")
            with engine_errors(feedback):
                points, size = mask_raster_points(path, front_is_zero)
            label = os.path.splitext(os.path.basename(path))[0]
            references[match_key(label)] = (label, points, crs, size)
        return references

    @staticmethod
    def _predicted(pred, pred_field, references, feedback):
        """Predicted front geometries per scene key that has a reference."""
        predicted = {}
        for feat in pred.getFeatures():
            key = match_key(str(feat[pred_field]))
            if key in references:
                predicted.setdefault(key, []).append(feat.geometry())
        unmatched = {match_key(str(f[pred_field])) for f in pred.getFeatures()} - set(references)
        if unmatched:
            feedback.pushInfo(f"{len(unmatched)} predicted scene(s) have no reference and are not scored")
        return predicted

    @staticmethod
    def _lines_in(geoms, source_crs, crs, context):
        """Polylines of ``geoms`` brought from ``source_crs`` into ``crs``."""
        transform = None
        if geoms and source_crs != crs:
            transform = QgsCoordinateTransform(source_crs, crs, context.transformContext())
        lines = []
        for g in geoms:
            g = QgsGeometry(g)
            if transform is not None:
                g.transform(transform)
            lines.extend(geometry_lines(g))
        return lines

    def _summary(self, rows, dest, feedback):
        mean_m = summarize([r[3] for r in rows])
        mean_px = summarize([r[8] for r in rows])
        found = sum(r[1] for r in rows) / len(rows)
        feedback.pushInfo(
            f"{len(rows)} reference scenes, front found in {found:.0%}; mean distance "
            f"{_fmt(mean_m['mean'])} m ({_fmt(mean_px['mean'])} px), median {_fmt(mean_m['median'])} m "
            f"({_fmt(mean_px['median'])} px)")
        return {self.OUTPUT: dest, self.SCENES: len(rows), self.FOUND_FRACTION: found,
                self.MEAN_M: mean_m["mean"], self.MEDIAN_M: mean_m["median"],
                self.MEAN_PX: mean_px["mean"], self.MEDIAN_PX: mean_px["median"]}


def scene_row(reference, lines, n_fronts, pixel_size):
    """The table row of one reference scene against its predicted polylines (in the reference CRS)."""
    label, ref_pts, _, size = reference
    step = (size or pixel_size or 1.0) / 2.0
    d = symmetric_distance(points_from_lines(lines, step), ref_pts)
    found = d["mean"] is not None
    px = size or pixel_size
    return [label, int(found), n_fronts, d["mean"], d["median"], d["pred_to_ref"], d["ref_to_pred"], px,
            d["mean"] / px if found and px else None, d["median"] / px if found and px else None]


def _fmt(value):
    return "n/a" if value is None else f"{value:.2f}"
