"""Search Landsat: footprints of Landsat 4-9 Collection 2 scenes over an area (USGS STAC API)."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ...plugin.engine.fetch import stac
from ..common import (
    GROUPS, EngineFeedback, advanced, engine_errors, group_icon, help_string, help_url, with_help,
)
from ._fetch_common import (
    add_date_parameters, add_max_results_parameter, area_of_interest, date_range, geojson,
    write_footprints,
)


class SearchLandsat(QgsProcessingAlgorithm):
    AOI = "AOI"
    EXTENT = "EXTENT"
    START = "START"
    END = "END"
    LEVEL = "LEVEL"
    SENSORS = "SENSORS"
    MAX_CLOUD = "MAX_CLOUD"
    MAX_RESULTS = "MAX_RESULTS"
    STAC_URL = "STAC_URL"
    OUTPUT = "OUTPUT"

    LEVELS = list(stac.LEVELS)
    SENSOR_NAMES = list(stac.SENSORS)

    def name(self):
        return "search_landsat"

    def displayName(self):  # noqa: N802
        return "Search Landsat (USGS STAC, Collection 2)"

    def group(self):
        return GROUPS["fetch"]

    def groupId(self):  # noqa: N802
        return GROUPS["fetch"]

    def tags(self):
        return "landsat,search,stac,usgs,landsatlook,optical,calfin,footprint,collection 2".split(",")

    def shortDescription(self):  # noqa: N802
        return "Search the USGS STAC API for Landsat 4-9 Collection 2 scenes over an area."

    def helpUrl(self):  # noqa: N802
        return help_url("fetch")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Searches the USGS Landsat STAC API (landsatlook.usgs.gov/stac-server, through the "
            "pystac-client package) for Landsat 4, 5, 7, 8 and 9 Collection 2 scenes (Level-1 "
            "or Level-2 surface reflectance) touching an area, within a date range and under "
            "a cloud cover limit, and returns their footprints as a polygon layer in "
            "EPSG:4326, newest first. No login is needed to search. Feed the layer to "
            "'Download Landsat scenes'.")

    def createInstance(self):  # noqa: N802
        return SearchLandsat()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.AOI, "Area of interest (polygon layer, e.g. glacier domains)",
            [QgsProcessing.TypeVectorPolygon], optional=True),
            "Polygon layer (any CRS) whose features are merged into one search area, e.g. "
            "the CALFIN domain polygons or SAR footprints; used instead of the extent."))
        self.addParameter(with_help(QgsProcessingParameterExtent(
            self.EXTENT, "Area of interest (extent)", optional=True),
            "Area to search over when no polygon layer is given."))
        add_date_parameters(self, " (UTC)")
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.LEVEL, "Processing level", self.LEVELS, defaultValue=0),
            "Level-1 (collection landsat-c2l1: top-of-atmosphere radiance, with the 15 m "
            "panchromatic band on Landsat 7-9) or Level-2 (landsat-c2l2-sr: surface "
            "reflectance, no panchromatic band)."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.SENSORS, "Sensors", self.SENSOR_NAMES, allowMultiple=True, defaultValue=[3, 4]),
            "One or more of Landsat 4, 5 (TM), 7 (ETM+), 8, 9 (OLI/TIRS), by number: 0 = "
            "Landsat 4 ... 4 = Landsat 9 (default 3,4: Landsat 8 and 9)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MAX_CLOUD, "Maximum scene cloud cover (%)", QgsProcessingParameterNumber.Double,
            defaultValue=30.0, minValue=0.0, maxValue=100.0),
            "Scenes with a larger eo:cloud_cover (whole scene, from USGS's metadata) are left "
            "out; 100 keeps every scene."))
        add_max_results_parameter(self, "scenes")
        self.addParameter(advanced(with_help(QgsProcessingParameterString(
            self.STAC_URL, "STAC API URL", defaultValue=stac.STAC_URL),
            "The STAC API searched (advanced); keep the default USGS service.")))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Landsat footprints", QgsProcessing.TypeVectorPolygon),
            "Footprints (EPSG:4326) with scene_id, datetime (UTC, ISO 8601), date, platform "
            "(LANDSAT_8 ...), sensor, path, row (WRS-2), cloud_cover, cloud_cover_land (%), "
            "collection, category (T1/T2/RT), correction (L1TP ...), epsg, thumbnail (URL), "
            "stac_item (URL) and assets (JSON: band name -> download URL, e.g. pan, red, "
            "nir08, swir16, swir22, qa_pixel)."))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        aoi = area_of_interest(self, parameters, context, feedback, self.AOI, self.EXTENT)
        indices = self.parameterAsEnums(parameters, self.SENSORS, context)
        sensors = [self.SENSOR_NAMES[i] for i in indices]
        if not sensors:
            raise QgsProcessingException("Choose at least one sensor.")
        level = self.LEVELS[self.parameterAsEnum(parameters, self.LEVEL, context)]
        url = self.parameterAsString(parameters, self.STAC_URL, context).strip() or stac.STAC_URL
        feedback.pushInfo(f"Searching {url} for {level} {', '.join(sensors)} scenes over "
                          f"{aoi.asWkt(4)[:120]}")
        start, end = date_range(self, parameters, context)
        engine = EngineFeedback(feedback)
        with engine_errors(feedback):
            records = stac.search(
                geojson(aoi), start=start, end=end, level=level, sensors=sensors,
                max_cloud=self.parameterAsDouble(parameters, self.MAX_CLOUD, context),
                max_results=self.parameterAsInt(parameters, self.MAX_RESULTS, context),
                url=url, is_canceled=engine.is_canceled)
        feedback.pushInfo(f"{len(records)} scene(s) found.")
        dest = write_footprints(self, parameters, context, feedback, records,
                                stac.FOOTPRINT_FIELDS, "scene_id")
        return {self.OUTPUT: dest}
