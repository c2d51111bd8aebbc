"""Terminus change: a series of calving fronts -> terminus position per date (centreline and box
methods), change and rate, outliers, a point per date and a plot (PNG, SVG)."""

from qgis.PyQt.QtCore import QVariant
from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsUnitTypes,
    QgsWkbTypes,
)

from ..common import (
    GROUPS, engine_errors, EngineFeedback, group_icon, help_string, help_url, make_fields, source_geometries,
    static_enum, with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs
from .consolidate_fronts import numbers_as_options, qdate, read_fronts, shapely_of
from ...plugin.engine.fronts import change

UPGLACIER_CHOICES = ["from the centreline", "north", "east", "south", "west"]
SERIES_CHOICES = list(change.SERIES_CHOICES)

TABLE_FIELDS = [
    ("date", QVariant.Date), ("scene_id", QVariant.String), ("sensor", QVariant.String),
    ("quality", QVariant.String), ("days", QVariant.Int),
    ("cl_pos_m", QVariant.Double), ("cl_mean_m", QVariant.Double), ("cl_crossings", QVariant.Int),
    ("cl_change_m", QVariant.Double), ("cl_mean_change_m", QVariant.Double), ("cl_rate_m_yr", QVariant.Double),
    ("box_area_m2", QVariant.Double), ("box_pos_m", QVariant.Double), ("box_darea_m2", QVariant.Double),
    ("box_dpos_m", QVariant.Double), ("box_change_m", QVariant.Double), ("box_rate_m_yr", QVariant.Double),
    ("series", QVariant.String), ("position_m", QVariant.Double), ("change_m", QVariant.Double),
    ("rate_m_yr", QVariant.Double), ("outlier", QVariant.Int), ("outlier_note", QVariant.String),
]
POINT_FIELDS = [("date", QVariant.Date), ("scene_id", QVariant.String), ("sensor", QVariant.String),
                ("series", QVariant.String), ("position_m", QVariant.Double), ("change_m", QVariant.Double),
                ("rate_m_yr", QVariant.Double), ("outlier", QVariant.Int), ("outlier_note", QVariant.String)]


def requested(parameters, name):
    """Whether an optional output was asked for (processing.run and models may leave it out)."""
    value = parameters.get(name)
    return value is not None and (not isinstance(value, str) or value.strip() != "")


def _value(row, name):
    value = row.get(name)
    if name == "date":
        return qdate(value)
    if isinstance(value, float):
        return round(value, 3)
    return value


class TerminusChange(QgsProcessingAlgorithm):
    FRONTS = "FRONTS"
    CENTRELINE = "CENTRELINE"
    FLIP_CENTRELINE = "FLIP_CENTRELINE"
    BOX = "BOX"
    BOX_UPGLACIER = "BOX_UPGLACIER"
    SERIES = "SERIES"
    MAX_RATE = "MAX_RATE"
    UNCERTAINTY = "UNCERTAINTY"
    TITLE = "TITLE"
    OUTPUT = "OUTPUT"
    OUTPUT_POINTS = "OUTPUT_POINTS"
    OUTPUT_PNG = "OUTPUT_PNG"
    OUTPUT_SVG = "OUTPUT_SVG"
    DATES = "DATES"
    OUTLIERS = "OUTLIERS"
    TOTAL_CHANGE_M = "TOTAL_CHANGE_M"
    TREND_M_YR = "TREND_M_YR"

    def name(self):
        return "terminus_change"

    def displayName(self):
        return "Terminus change"

    def group(self):
        return GROUPS["calving_fronts"]

    def groupId(self):
        return GROUPS["calving_fronts"]

    def tags(self):
        return "glacier,calving,front,terminus,retreat,advance,centreline,box method,plot,time series".split(",")

    def shortDescription(self):  # noqa: N802
        return "Terminus position and change over time along a centreline or with the box method."

    def helpUrl(self):  # noqa: N802
        return help_url("change")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):
        return help_string(
            self,
            "Measures where the calving front of a glacier is on each date and how it moves. Two methods, "
            "either or both: along a <b>centreline</b> (where the front crosses it, and the front's mean "
            "position projected onto it), and the <b>rectilinear box</b> method of Moon &amp; Joughin "
            "(2008): the area of a box across the fjord on the glacier side of the front, divided by the box "
            "width, is the width-averaged terminus position. Positions are distances from the up-glacier end "
            "of the centreline (or box), so they grow as the front advances: changes are positive for "
            "advance and negative for retreat. For each date: change since the first date, change and rate "
            "(m/yr) against the previous date, and an outlier flag for fronts that would mean advance or "
            "retreat faster than a threshold compared with their neighbours in time. The fronts layer "
            "should be one series (Consolidate fronts); when it holds several fronts of one date and sensor "
            "the best is used. All measuring is done in the fronts layer's CRS, which must be in metres.",
            "Also returned: DATES, OUTLIERS, TOTAL_CHANGE_M (last minus first position of the plotted "
            "series) and TREND_M_YR (least-squares trend of the series without outliers).")

    def createInstance(self):
        return TerminusChange()

    def initAlgorithm(self, config=None):
        self.addParameter(with_help(QgsProcessingParameterVectorLayer(
            self.FRONTS, "Calving fronts (one series)", [QgsProcessing.TypeVectorLine]),
            "Front lines with scene_id and date (and sensor, quality, confidence, length_m), e.g. the output "
            "of Consolidate fronts, in a projected CRS in metres."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.CENTRELINE, "Glacier centreline", [QgsProcessing.TypeVectorLine], optional=True),
            "One line along the glacier's flow (the first feature is used), drawn from the fjord, seaward "
            "of the most advanced front, up the glacier beyond the most retreated front: its first vertex "
            "is at the seaward end (tick the next option if you drew it the other way)."))
        self.addParameter(with_help(QgsProcessingParameterBoolean(
            self.FLIP_CENTRELINE, "The centreline starts up-glacier (flip it)", False),
            "Tick when the centreline's first vertex is at the up-glacier end and it runs down to the sea."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.BOX, "Reference box", [QgsProcessing.TypeVectorPolygon], optional=True),
            "A rectangle across the fjord (the first feature is used), its long sides along the fjord walls, "
            "its up-glacier end on the glacier behind every front and its seaward end beyond every front "
            "(Moon & Joughin 2008). Fronts that stop short of the box sides are continued straight across."))
        self.addParameter(with_help(static_enum(
            self.BOX_UPGLACIER, "Up-glacier end of the box", UPGLACIER_CHOICES, UPGLACIER_CHOICES[0]),
            "Which end of the box is on the glacier: taken from the centreline's direction near the box "
            "(default; needs a centreline), or the side of the box that faces north, east, south or west."))
        self.addParameter(with_help(static_enum(
            self.SERIES, "Series for the plot, points and outliers", SERIES_CHOICES, SERIES_CHOICES[0]),
            "auto: the centreline crossing when a centreline is given, otherwise the box; or choose "
            "'centreline crossing', 'centreline mean position' or 'box'. The table holds every method."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MAX_RATE, "Outlier threshold (m/day)", QgsProcessingParameterNumber.Double, 50.0, minValue=0.0),
            "A front is flagged as an outlier when, against more than half of its (up to two on each "
            "side) neighbours in time, it implies advance or retreat faster than this; 0 flags nothing. "
            "Set it above the glacier's real fastest change (Jakobshavn Isbrae: tens of m/day)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.UNCERTAINTY, "Position uncertainty (m)", QgsProcessingParameterNumber.Double, 100.0,
            minValue=0.0),
            "Changes up to this much are never counted as fast (about two pixels of the scenes), so fronts "
            "a day apart do not become outliers through digitising noise."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.TITLE, "Plot title", "", optional=True),
            "Title of the plot; empty uses 'Terminus change: <fronts layer name>'."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Terminus change table", QgsProcessing.TypeVector),
            "One row per front, by date: date, scene_id, sensor, quality, days (since the first date); "
            "centreline: cl_pos_m (crossing), cl_mean_m (mean projected position), cl_crossings, "
            "cl_change_m and cl_mean_change_m (since the first date), cl_rate_m_yr (against the previous "
            "date); box: box_area_m2 (glacier side of the box), box_pos_m (area / width), box_darea_m2 and "
            "box_dpos_m (against the previous date), box_change_m, box_rate_m_yr; for the chosen series: "
            "series, position_m, change_m, rate_m_yr, outlier (1/0), outlier_note. Positions in metres from "
            "the up-glacier end (larger = further seaward); empty where a method does not apply."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT_POINTS, "Terminus points", QgsProcessing.TypeVectorPoint, optional=True,
            createByDefault=True),
            "One point per date where the chosen series puts the terminus (the crossing on the centreline, "
            "the mean position on the centreline, or the box midline) with date, scene_id, sensor, series, "
            "position_m, change_m, rate_m_yr, outlier, outlier_note; set up for the Temporal Controller."))
        self.addParameter(with_help(QgsProcessingParameterFileDestination(
            self.OUTPUT_PNG, "Plot (PNG)", "PNG files (*.png)", optional=True, createByDefault=True),
            "Terminus change since the first date against date (1200 x 675 px, 150 dpi), coloured by "
            "sensor, outliers circled red, seasons as minor ticks."))
        self.addParameter(with_help(QgsProcessingParameterFileDestination(
            self.OUTPUT_SVG, "Plot (SVG)", "SVG files (*.svg)", optional=True, createByDefault=True),
            "The same plot as SVG (text kept as text) for reports."))
        for key, label in ((self.DATES, "Fronts measured"), (self.OUTLIERS, "Outliers"),
                           (self.TOTAL_CHANGE_M, "Total change (m)"), (self.TREND_M_YR, "Trend (m/yr)")):
            self.addOutput(QgsProcessingOutputNumber(key, label))

    # ------------------------------------------------------------------ inputs

    def _fronts(self, parameters, context, feedback):
        layer = self.parameterAsVectorLayer(parameters, self.FRONTS, context)
        if layer is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.FRONTS))
        crs = layer.crs()
        if not crs.isValid() or crs.isGeographic() or crs.mapUnits() != QgsUnitTypes.DistanceMeters:
            raise QgsProcessingException(
                f"The fronts layer {layer.name()} is in {crs.authid() or 'a CRS'} whose units are not metres; "
                "reproject it (e.g. to EPSG:3413 or the UTM zone) so positions and areas are in metres.")
        records = read_fronts([layer], crs, context, feedback)
        if not records:
            raise QgsProcessingException(f"The fronts layer {layer.name()} holds no fronts.")
        with engine_errors(feedback):
            series = change.consolidate(records, is_canceled=feedback.isCanceled)
        if series.undated:
            feedback.reportError(f"{series.undated} front(s) without a date are left out.", fatalError=False)
        if series.same_scene or series.same_date:
            feedback.reportError(
                f"{series.same_scene + series.same_date} front(s) share a scene or a date and sensor with a "
                "better one and are left out; run Consolidate fronts to choose them yourself.", fatalError=False)
        if not series.fronts:
            raise QgsProcessingException(f"The fronts layer {layer.name()} holds no dated fronts.")
        return layer, crs, series.fronts

    def _first_geometry(self, parameters, name, crs, context, feedback, what):
        source = self.parameterAsSource(parameters, name, context)
        if source is None:
            return None
        geometries = [g for _, g in source_geometries(source, crs, context, feedback)]
        if not geometries:
            raise QgsProcessingException(f"The {what} layer holds no geometry.")
        if len(geometries) > 1:
            feedback.reportError(f"The {what} layer has {len(geometries)} features; the first is used.",
                                 fatalError=False)
        return shapely_of(geometries[0])

    def _references(self, parameters, context, crs, feedback):
        centreline_geom = self._first_geometry(parameters, self.CENTRELINE, crs, context, feedback, "centreline")
        box_geom = self._first_geometry(parameters, self.BOX, crs, context, feedback, "reference box")
        if centreline_geom is None and box_geom is None:
            raise QgsProcessingException("Give a glacier centreline, a reference box, or both.")
        flip = self.parameterAsBool(parameters, self.FLIP_CENTRELINE, context)
        side = self.parameterAsEnumString(parameters, self.BOX_UPGLACIER, context) or UPGLACIER_CHOICES[0]
        with engine_errors(feedback):
            centreline = change.Centreline(centreline_geom, seaward_first=not flip) if centreline_geom else None
            box = None
            if box_geom is not None:
                up = change.up_glacier_vector("centreline" if side == UPGLACIER_CHOICES[0] else side,
                                              centreline, box_geom)
                box = change.Box(box_geom, up)
        if centreline is not None:
            feedback.pushInfo(f"Centreline: {centreline.length:.0f} m, first vertex "
                              f"{'up-glacier (flipped)' if flip else 'at the seaward end'}")
        if box is not None:
            feedback.pushInfo(f"Box: {box.width:.0f} m wide across the flow, {box.length:.0f} m along it")
        return centreline, box

    # ------------------------------------------------------------------ run

    def checkParameterValues(self, parameters, context):  # noqa: N802
        return super().checkParameterValues(numbers_as_options(self, parameters), context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        parameters = numbers_as_options(self, parameters)
        layer, crs, fronts = self._fronts(parameters, context, feedback)
        centreline, box = self._references(parameters, context, crs, feedback)
        series = self.parameterAsEnumString(parameters, self.SERIES, context) or change.SERIES_AUTO
        max_rate = self.parameterAsDouble(parameters, self.MAX_RATE, context)
        uncertainty = self.parameterAsDouble(parameters, self.UNCERTAINTY, context)
        title = self.parameterAsString(parameters, self.TITLE, context) or f"Terminus change: {layer.name()}"
        eng = EngineFeedback(feedback, 0, 80)
        with engine_errors(feedback):
            rows, info = change.terminus_series(fronts, centreline, box, series, max_rate, uncertainty,
                                                progress=eng.progress, is_canceled=eng.is_canceled)
        for message in info["messages"]:
            feedback.reportError(message, fatalError=False)
        self._log(rows, info, feedback)
        # the reference layers too: no output may overwrite them (file_of skips non-file values)
        inputs = [layer.source(), parameters.get(self.CENTRELINE), parameters.get(self.BOX)]
        with RunOutputs(self, parameters, context, inputs=inputs) as out:
            table_fields, point_fields = make_fields(TABLE_FIELDS), make_fields(POINT_FIELDS)
            sink, dest = out.sink(self.OUTPUT, table_fields, QgsWkbTypes.NoGeometry)
            if sink is None:
                raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
            points, points_dest = (out.sink(self.OUTPUT_POINTS, point_fields, QgsWkbTypes.Point, crs)
                                   if requested(parameters, self.OUTPUT_POINTS) else (None, None))
            png, svg = (out.raster(name) if requested(parameters, name) else None
                        for name in (self.OUTPUT_PNG, self.OUTPUT_SVG))
            for row in rows:
                if feedback.isCanceled():
                    raise QgsProcessingException("Cancelled by the user; no output was written.")
                self._add(sink, table_fields, [_value(row, name) for name, _ in TABLE_FIELDS])
                if points is not None and row["xy"] is not None:
                    self._add(points, point_fields, [_value(row, name) for name, _ in POINT_FIELDS],
                              QgsGeometry.fromPointXY(QgsPointXY(*row["xy"])))
            feedback.setProgress(90)
            if png or svg:
                self._plot(rows, info, title, max_rate, png, svg, feedback)
        feedback.setProgress(100)
        del sink, points  # closes the GeoPackages: the points' default style is saved in them next
        style_outputs(context, feedback, {points_dest: "terminus_points"})
        results = {self.OUTPUT: dest, self.DATES: info["dates"], self.OUTLIERS: info["outliers"],
                   self.TOTAL_CHANGE_M: info["total_change_m"], self.TREND_M_YR: info["trend_m_yr"]}
        for name, value in ((self.OUTPUT_POINTS, points_dest), (self.OUTPUT_PNG, out.final(self.OUTPUT_PNG)),
                            (self.OUTPUT_SVG, out.final(self.OUTPUT_SVG))):
            if value:
                results[name] = value
        return results

    @staticmethod
    def _add(sink, fields, attributes, geometry=None):
        feature = QgsFeature(fields)
        if geometry is not None:
            feature.setGeometry(geometry)
        feature.setAttributes(attributes)
        if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(f"Writing an output failed: {sink.lastError()}")

    @staticmethod
    def _plot(rows, info, title, max_rate, png, svg, feedback):
        from ...plugin.engine.fronts.plot import plot_terminus

        valued = [r for r in rows if r["change_m"] is not None]
        if not valued:
            feedback.reportError("No front has a position in the chosen series: no plot.", fatalError=False)
            return
        note = (f"Series: {info['series']}; outliers (red rings): out and back faster than {max_rate:g} m/d"
                if max_rate > 0 else f"Series: {info['series']}")
        with engine_errors(feedback):
            plot_terminus([r["date"] for r in valued], [r["change_m"] for r in valued],
                          [r["sensor"] for r in valued], [bool(r["outlier"]) for r in valued],
                          png_path=png, svg_path=svg, title=title,
                          ylabel=f"Change since {valued[0]['date']} (m)\n+ advance, \u2212 retreat", note=note)

    @staticmethod
    def _log(rows, info, feedback):
        feedback.pushInfo(f"Series: {info['series']}; {info['dates']} front(s), {info['outliers']} outlier(s)")
        for row in rows:
            position = "n/a" if row["position_m"] is None else f"{row['position_m']:.0f} m"
            change_m = "" if row["change_m"] is None else f", change {row['change_m']:+.0f} m"
            flag = f"  OUTLIER: {row['outlier_note']}" if row["outlier"] else ""
            feedback.pushInfo(f"  {row['date']} {row['sensor'] or ''}: {position}{change_m}{flag}")
        if info["total_change_m"] is not None:
            trend = "n/a" if info["trend_m_yr"] is None else f"{info['trend_m_yr']:+.0f} m/yr"
            feedback.pushInfo(f"Total change {info['total_change_m']:+.0f} m; trend without outliers {trend}")
