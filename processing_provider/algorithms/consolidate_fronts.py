"""Consolidate fronts: many front layers of one glacier -> one clean series, one front per date."""

from qgis.PyQt.QtCore import QDate, QDateTime
from qgis.core import (
    NULL,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterMultipleLayers,
    QgsVectorLayer,
    QgsWkbTypes,
)

from ..common import (
    GROUPS, engine_errors, enum_numbers_as_options, group_icon, help_string, help_url, static_enum,
    with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs
from .detect_calving_fronts import front_fields
from ...plugin.engine.fronts import change

QUALITIES = list(change.QUALITY_ORDER)
PER_CHOICES = ["one front per date and sensor", "one front per date"]


def py_value(value):
    """A QGIS attribute value as plain Python (NULL -> None, QDate -> date, QDateTime -> datetime)."""
    if value is None or value == NULL or (hasattr(value, "isNull") and value.isNull()):
        return None
    if isinstance(value, QDate):
        return value.toPyDate() if value.isValid() else None
    if isinstance(value, QDateTime):
        return value.toPyDateTime() if value.isValid() else None
    return value


def shapely_of(geometry):
    """A shapely geometry of a QgsGeometry (through WKB: exact)."""
    from shapely import wkb

    return wkb.loads(bytes(geometry.asWkb()))


def _number(value):
    value = py_value(value)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def read_fronts(layers, crs, context, feedback, what="fronts layer"):
    """``FrontRecord``s of every line feature of ``layers``, geometries in ``crs``.

    Each record's ``ref`` is ``(attributes in front_fields order, QgsGeometry in crs)``.
    The date comes from the ``date`` field, or from the scene id when the field is empty.
    """
    fields = front_fields()
    records = []
    for layer in layers:
        if not isinstance(layer, QgsVectorLayer) or layer.geometryType() != QgsWkbTypes.LineGeometry:
            raise QgsProcessingException(
                f"The {what} {layer.name()} is not a line layer; give the calving-front lines "
                "(the output of Detect calving fronts).")
        names = layer.fields().names()
        if "scene_id" not in names:
            raise QgsProcessingException(
                f"The {what} {layer.name()} has no scene_id field (fields: {', '.join(names)}), so it is "
                "not a fronts layer from Detect calving fronts.")
        if not layer.crs().isValid():
            raise QgsProcessingException(f"The {what} {layer.name()} has no valid coordinate reference system.")
        transform = None
        if layer.crs() != crs:
            transform = QgsCoordinateTransform(layer.crs(), crs, context.transformContext())
        for feature in layer.getFeatures():
            if feedback.isCanceled():
                raise QgsProcessingException("Cancelled by the user; no output was written.")
            geometry = QgsGeometry(feature.geometry())
            if geometry.isNull() or geometry.isEmpty():
                continue
            if transform is not None:
                geometry.transform(transform)
            values = {name: py_value(feature[name]) if name in names else None for name in fields.names()}
            scene = str(values["scene_id"]) if values["scene_id"] is not None else ""
            values["date"] = change.as_date(values["date"], scene)
            records.append(change.FrontRecord(
                scene_id=scene, date=values["date"], geometry=shapely_of(geometry),
                sensor=values["sensor"], quality=values["quality"], confidence=_number(values["confidence"]),
                length_m=_number(values["length_m"]),
                ref=([values[name] for name in fields.names()], geometry)))
    return records


def numbers_as_options(algorithm, parameters):
    """``enum_numbers_as_options`` for single and multiple enums: qgis_process help lists options by
    number, so QUALITY=0 QUALITY=1 and PER=1 work as well as the option texts."""
    out = enum_numbers_as_options(algorithm, parameters)
    for definition in algorithm.parameterDefinitions():
        value = out.get(definition.name())
        if (isinstance(definition, QgsProcessingParameterEnum) and definition.usesStaticStrings()
                and isinstance(value, (list, tuple))):
            options = definition.options()
            out[definition.name()] = [
                options[int(v)] if str(v).strip().isdigit() and str(v) not in options
                and 0 <= int(v) < len(options) else v for v in value]
    return out


def qdate(value):
    return QDate(value.year, value.month, value.day) if value is not None else QDate()


class ConsolidateFronts(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    START_DATE = "START_DATE"
    END_DATE = "END_DATE"
    QUALITY = "QUALITY"
    PER = "PER"
    OUTPUT = "OUTPUT"
    FRONTS = "FRONTS"
    DROPPED = "DROPPED"

    def name(self):
        return "consolidate_fronts"

    def displayName(self):
        return "Consolidate fronts"

    def group(self):
        return GROUPS["calving_fronts"]

    def groupId(self):
        return GROUPS["calving_fronts"]

    def tags(self):
        return "glacier,calving,front,terminus,time series,consolidate,merge,duplicates".split(",")

    def shortDescription(self):  # noqa: N802
        return "Merge front layers of one glacier into one series: one best front per date."

    def helpUrl(self):  # noqa: N802
        return help_url("change")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):
        return help_string(
            self,
            "Turns the calving fronts of one glacier, collected over several runs, layers or GeoPackages "
            "(the output of Detect calving fronts), into one clean time series: the same scene given "
            "twice counts once, each scene keeps its best front, and each date keeps its best scene "
            "(best = quality good, partial, short, low_confidence in that order, then higher confidence, "
            "then longer). Fronts outside a date range or with other quality flags can be left out. Fronts "
            "of different sensors keep their sensor. The output has the fields of Detect calving fronts "
            "and, when loaded into QGIS, is set up for the Temporal Controller (each front at its date).",
            "Also returned: FRONTS (fronts in the series) and DROPPED (fronts left out).")

    def createInstance(self):
        return ConsolidateFronts()

    def initAlgorithm(self, config=None):
        self.addParameter(with_help(QgsProcessingParameterMultipleLayers(
            self.INPUT, "Front layers or GeoPackages", QgsProcessing.TypeVectorLine),
            "One or more line layers with the fields of Detect calving fronts (at least scene_id; date, "
            "sensor, quality, confidence, length_m are used when present; an empty date is read from the "
            "scene id). A GeoPackage with several layers is given as file.gpkg|layername=calving_fronts. "
            "Layers in other CRSs are reprojected to the first layer's CRS."))
        self.addParameter(with_help(QgsProcessingParameterDateTime(
            self.START_DATE, "Start date (empty = from the first front)", QgsProcessingParameterDateTime.Date,
            optional=True),
            "Fronts before this date are left out (YYYY-MM-DD in qgis_process)."))
        self.addParameter(with_help(QgsProcessingParameterDateTime(
            self.END_DATE, "End date (empty = to the last front)", QgsProcessingParameterDateTime.Date,
            optional=True),
            "Fronts after this date are left out."))
        quality = QgsProcessingParameterEnum(
            self.QUALITY, "Quality flags to keep", options=QUALITIES, allowMultiple=True,
            defaultValue=["good", "partial"], optional=True)
        quality.setUsesStaticStrings(True)
        self.addParameter(with_help(
            quality,
            "Fronts whose quality is one of these are kept (default good and partial; empty = all). "
            "In qgis_process repeat the parameter: QUALITY=good QUALITY=partial."))
        self.addParameter(with_help(static_enum(
            self.PER, "Fronts per date", PER_CHOICES, PER_CHOICES[0]),
            "'one front per date and sensor' (default) keeps a front of each sensor on a day two sensors "
            "saw the glacier, each with its sensor; 'one front per date' keeps only the best of that day."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Consolidated fronts", QgsProcessing.TypeVectorLine),
            "The series: one line per date (and sensor), sorted by date, with the fields of Detect "
            "calving fronts (scene_id, date, sensor, front_no, length_m, confidence, quality, "
            "spans_fjord, model, source), in the first input layer's CRS."))
        self.addOutput(QgsProcessingOutputNumber(self.FRONTS, "Fronts in the series"))
        self.addOutput(QgsProcessingOutputNumber(self.DROPPED, "Fronts left out"))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        return super().checkParameterValues(numbers_as_options(self, parameters), context)

    def _options(self, parameters, context):
        # parameterAsDate came after QGIS 3.22: the date part of parameterAsDateTime
        start = self.parameterAsDateTime(parameters, self.START_DATE, context).date()
        end = self.parameterAsDateTime(parameters, self.END_DATE, context).date()
        qualities = self.parameterAsEnumStrings(parameters, self.QUALITY, context)
        per = self.parameterAsEnumString(parameters, self.PER, context) or PER_CHOICES[0]
        return dict(
            start=start.toPyDate() if start.isValid() else None,
            end=end.toPyDate() if end.isValid() else None,
            qualities=set(qualities) if qualities else None,
            per=change.PER_DATE if per == PER_CHOICES[1] else change.PER_DATE_AND_SENSOR)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        parameters = numbers_as_options(self, parameters)
        layers = self.parameterAsLayerList(parameters, self.INPUT, context)
        if not layers:
            raise QgsProcessingException("Give at least one fronts layer.")
        options = self._options(parameters, context)
        crs = layers[0].crs()
        records = read_fronts(layers, crs, context, feedback)
        if not records:
            raise QgsProcessingException("The fronts layers hold no fronts.")
        feedback.pushInfo(f"{len(records)} front(s) in {len(layers)} layer(s)")
        with engine_errors(feedback):
            result = change.consolidate(records, is_canceled=feedback.isCanceled, **options)
        for message in result.messages:
            feedback.pushInfo(message)
        feedback.pushInfo(
            f"Left out: {result.undated} without a date, {result.outside_dates} outside the dates, "
            f"{result.wrong_quality} with another quality, {result.same_scene} other fronts of the same "
            f"scene, {result.same_date} other scenes of the same date")
        if not result.fronts:
            raise QgsProcessingException(
                f"No front is left after filtering ({result.dropped} of {len(records)} left out: see the log); "
                "widen the dates or the quality flags.")
        fields = front_fields()
        multi = any(QgsWkbTypes.isMultiType(f.ref[1].wkbType()) for f in result.fronts)
        with RunOutputs(self, parameters, context, inputs=[layer.source() for layer in layers]) as out:
            sink, dest = out.sink(self.OUTPUT, fields,
                                  QgsWkbTypes.MultiLineString if multi else QgsWkbTypes.LineString, crs)
            if sink is None:
                raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
            date_index = fields.indexFromName("date")
            for n, front in enumerate(result.fronts):
                if feedback.isCanceled():
                    raise QgsProcessingException("Cancelled by the user; no output was written.")
                attributes, geometry = front.ref
                attributes = list(attributes)
                attributes[date_index] = qdate(front.date)
                feature = QgsFeature(fields)
                if multi:
                    geometry = QgsGeometry(geometry)
                    geometry.convertToMultiType()
                feature.setGeometry(geometry)
                feature.setAttributes(attributes)
                if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
                    raise QgsProcessingException(f"Writing the consolidated fronts failed: {sink.lastError()}")
                feedback.setProgress(100.0 * (n + 1) / len(result.fronts))
        del sink  # closes the GeoPackage: its default style is saved in it next
        style_outputs(context, feedback, {dest: "fronts"})
        first, last = result.fronts[0].date, result.fronts[-1].date
        feedback.pushInfo(f"Series: {len(result.fronts)} front(s) from {first} to {last}")
        return {self.OUTPUT: dest, self.FRONTS: len(result.fronts), self.DROPPED: result.dropped}
