"""Search ASF: footprints of ALOS PALSAR / Sentinel-1 products over an area."""

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ...plugin.engine.fetch import asf as asf_client
from ..common import (
    GROUPS, advanced, engine_errors, group_icon, help_string, help_url, make_fields, source_geometries,
    with_help,
)
from ..outputs import RunOutputs

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
_QTYPES = {"str": QVariant.String, "int": QVariant.Int, "bigint": QVariant.LongLong}


def footprint_fields():
    return make_fields([(name, _QTYPES[kind]) for name, kind in asf_client.FOOTPRINT_FIELDS])


class SearchAsf(QgsProcessingAlgorithm):
    EXTENT = "EXTENT"
    AOI = "AOI"
    START = "START"
    END = "END"
    DATASET = "DATASET"
    LEVEL = "PROCESSING_LEVEL"
    BEAM_MODE = "BEAM_MODE"
    POLARIZATION = "POLARIZATION"
    MAX_RESULTS = "MAX_RESULTS"
    CMR_HOST = "CMR_HOST"
    OUTPUT = "OUTPUT"

    DATASETS = list(asf_client.DATASETS)

    def name(self):
        return "search_asf"

    def displayName(self):  # noqa: N802
        return "Search ASF (ALOS PALSAR, Sentinel-1)"

    def group(self):
        return GROUPS["fetch"]

    def groupId(self):  # noqa: N802
        return GROUPS["fetch"]

    def tags(self):
        return "asf,search,sar,sentinel-1,alos,palsar,download,earthdata,footprint".split(",")

    def shortDescription(self):  # noqa: N802
        return "Search ASF for ALOS PALSAR and Sentinel-1 scenes over an area."

    def helpUrl(self):  # noqa: N802
        return help_url("fetch")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Searches the Alaska Satellite Facility archive (NASA CMR, through the asf_search "
            "package) and returns the footprints of the products found as a polygon layer "
            "in EPSG:4326. No login is needed to search.")

    def createInstance(self):  # noqa: N802
        return SearchAsf()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterExtent(
            self.EXTENT, "Area of interest (extent)", optional=True),
            "Area to search over. Give this extent or a polygon layer below (the layer wins "
            "when both are given)."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.AOI, "Area of interest (polygon layer, instead of the extent)",
            [QgsProcessing.TypeVectorPolygon], optional=True),
            "Polygon layer whose features are merged into one search area (selected features "
            "only if so chosen); used instead of the extent."))
        self.addParameter(with_help(QgsProcessingParameterDateTime(
            self.START, "Start date", QgsProcessingParameterDateTime.Date, optional=True),
            "First acquisition date searched; empty: no lower bound."))
        self.addParameter(with_help(QgsProcessingParameterDateTime(
            self.END, "End date", QgsProcessingParameterDateTime.Date, optional=True),
            "Last acquisition date searched, that whole day included; empty: no upper bound."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.DATASET, "Dataset", self.DATASETS, defaultValue=0),
            "ALOS PALSAR or Sentinel-1."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.LEVEL, "Processing level (comma-separated, empty = all)",
            defaultValue="RTC_HIGH_RES", optional=True),
            "Comma-separated, e.g. RTC_HIGH_RES (ALOS high-resolution RTC, alias of "
            "RTC_HI_RES), RTC_LOW_RES, L1.0, L1.5 for ALOS; GRD_HD, GRD_MD, SLC for "
            "Sentinel-1. Empty: every level."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.BEAM_MODE, "Beam mode (comma-separated, optional)", optional=True),
            "Optional, comma-separated (ALOS: FBS, FBD, PLR, WB1; Sentinel-1: IW, EW, SM). "
            "Empty: every beam mode."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.POLARIZATION, "Polarization (comma-separated, optional)", optional=True),
            "Optional, comma-separated as ASF writes it (HH, HH+HV, VV+VH). Empty: every "
            "polarization."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MAX_RESULTS, "Maximum results", QgsProcessingParameterNumber.Integer,
            defaultValue=100, minValue=1, maxValue=10000),
            "The search stops after this many products (default 100)."))
        self.addParameter(advanced(with_help(QgsProcessingParameterString(
            self.CMR_HOST, "CMR search host", defaultValue=asf_client.CMR_HOST),
            "The search service (advanced); keep the default unless you use NASA's test "
            "system (cmr.uat.earthdata.nasa.gov).")))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "ASF footprints", QgsProcessing.TypeVectorPolygon),
            "Footprints (EPSG:4326) with granule, file_id, platform, beam_mode, polarization, "
            "start_time, end_time (UTC, ISO 8601), path, frame, orbit, flight_dir, "
            "processing_level, url (download link), file_name, size_bytes and md5 (when ASF "
            "gives one). Feed it to 'Download ASF granules'."))

    def _aoi_wkt(self, parameters, context, feedback):
        source = self.parameterAsSource(parameters, self.AOI, context)
        if source is not None:
            geoms = [geom for _, geom in source_geometries(source, WGS84, context, feedback)]
            if not geoms:
                raise QgsProcessingException(
                    "The area-of-interest layer has no polygon to search with.")
            geom = QgsGeometry.unaryUnion(geoms)
        elif parameters.get(self.EXTENT):
            geom = self.parameterAsExtentGeometry(parameters, self.EXTENT, context, WGS84)
        else:
            raise QgsProcessingException(
                "Give an area of interest: an extent or a polygon layer.")
        if geom.isEmpty() or geom.area() <= 0:
            raise QgsProcessingException("The area of interest is empty.")
        return geom.asWkt(6)

    @staticmethod
    def _date(value):
        if value is None or not value.isValid():
            return None
        return value.toString("yyyy-MM-ddTHH:mm:ss") + "Z"

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        records = self._search(parameters, context, feedback)
        feedback.pushInfo(f"{len(records)} product(s) found.")
        fields = footprint_fields()
        features = self._footprints(records, fields, feedback)
        # the layer is created only once the search succeeded
        with RunOutputs(self, parameters, context) as run:
            sink, dest = run.sink(self.OUTPUT, fields, QgsWkbTypes.MultiPolygon, WGS84)
            for i, feature in enumerate(features):
                if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
                    raise QgsProcessingException(f"Writing the footprint layer failed: {sink.lastError()}")
                feedback.setProgress(100.0 * (i + 1) / len(features))
        return {self.OUTPUT: dest}

    def _search(self, parameters, context, feedback):
        """The ASF records matching the parameters (the engine's search)."""
        aoi = self._aoi_wkt(parameters, context, feedback)
        start = self._date(self.parameterAsDateTime(parameters, self.START, context))
        end_dt = self.parameterAsDateTime(parameters, self.END, context)
        end = None
        if end_dt is not None and end_dt.isValid():  # a date means "through that day"
            end = end_dt.addSecs(86399).toString("yyyy-MM-ddTHH:mm:ss") + "Z"
        dataset = self.DATASETS[self.parameterAsEnum(parameters, self.DATASET, context)]
        feedback.pushInfo(f"Searching ASF for {dataset} over {aoi[:120]}")
        with engine_errors(feedback):
            return asf_client.search(
                aoi, start=start, end=end, dataset=dataset,
                processing_level=self.parameterAsString(parameters, self.LEVEL, context),
                beam_mode=self.parameterAsString(parameters, self.BEAM_MODE, context),
                polarization=self.parameterAsString(parameters, self.POLARIZATION, context),
                max_results=self.parameterAsInt(parameters, self.MAX_RESULTS, context),
                host=self.parameterAsString(parameters, self.CMR_HOST, context).strip()
                or asf_client.CMR_HOST,
            )

    @staticmethod
    def _footprints(records, fields, feedback):
        """One multipolygon feature per record with a usable footprint."""
        features = []
        for record in records:
            if feedback.isCanceled():
                raise QgsProcessingException("Cancelled by the user; no layer was written.")
            geom = QgsGeometry.fromWkt(record["wkt"]) if record["wkt"] else QgsGeometry()
            if geom.isNull():
                feedback.reportError(f"{record['granule']}: no usable footprint; skipped.")
                continue
            geom.convertToMultiType()
            feature = QgsFeature(fields)
            feature.setGeometry(geom)
            feature.setAttributes([record[name] for name, _ in asf_client.FOOTPRINT_FIELDS])
            features.append(feature)
        return features
