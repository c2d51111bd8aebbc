"""Search ASF: footprints of ALOS PALSAR / Sentinel-1 products over an area."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterString,
)

from ...plugin.engine.fetch import asf as asf_client
from ..common import GROUPS, advanced, engine_errors, group_icon, help_string, help_url, with_help
from ._fetch_common import (
    add_date_parameters, add_max_results_parameter, area_of_interest, date_range,
    write_footprints,
)


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
        add_date_parameters(self)
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
        add_max_results_parameter(self, "products")
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

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        records = self._search(parameters, context, feedback)
        feedback.pushInfo(f"{len(records)} product(s) found.")
        dest = write_footprints(self, parameters, context, feedback, records,
                                asf_client.FOOTPRINT_FIELDS, "granule")
        return {self.OUTPUT: dest}

    def _search(self, parameters, context, feedback):
        """The ASF records matching the parameters (the engine's search)."""
        aoi = area_of_interest(
            self, parameters, context, feedback, self.AOI, self.EXTENT,
            no_polygon="The area-of-interest layer has no polygon to search with.",
            no_area="Give an area of interest: an extent or a polygon layer.").asWkt(6)
        start, end = date_range(self, parameters, context)
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
