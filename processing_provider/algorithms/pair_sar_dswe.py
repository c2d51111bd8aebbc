"""Pair SAR footprints with local DSWE tiles acquired within a few days."""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant

from ...plugin.engine.fetch import dswe as dswe_pairing
from ..common import (
    GROUPS, add_rows, engine_errors, EngineFeedback, group_icon, help_string, help_url, make_fields,
    with_help,
)
from ..outputs import RunOutputs
from ._fetch_common import add_sar_footprint_parameters, sar_footprints, sar_scenes

OUTPUT_FIELDS = [
    ("granule", QVariant.String), ("sar_date", QVariant.String),
    ("dswe_date", QVariant.String), ("days_apart", QVariant.Int),
    ("dswe_files", QVariant.String), ("footprint_pixels", QVariant.LongLong),
    ("water_fraction", QVariant.Double), ("cloud_fraction", QVariant.Double),
    ("nodata_fraction", QVariant.Double), ("passed", QVariant.Bool),
    ("reason", QVariant.String),
]


class PairSarDswe(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    DATE_FIELD = "DATE_FIELD"
    NAME_FIELD = "NAME_FIELD"
    DSWE_FOLDER = "DSWE_FOLDER"
    PATTERN = "PATTERN"
    MAX_DAYS = "MAX_DAYS"
    MAX_CLOUD = "MAX_CLOUD"
    MIN_WATER = "MIN_WATER"
    MAX_NODATA = "MAX_NODATA"
    KEEP_REJECTED = "KEEP_REJECTED"
    OUTPUT = "OUTPUT"

    def name(self):
        return "pair_sar_dswe"

    def displayName(self):  # noqa: N802
        return "Pair SAR scenes with DSWE tiles"

    def group(self):
        return GROUPS["fetch"]

    def groupId(self):  # noqa: N802
        return GROUPS["fetch"]

    def tags(self):
        return "dswe,landsat,water,sar,pair,labels,training".split(",")

    def shortDescription(self):  # noqa: N802
        return "Pair SAR scenes with DSWE water tiles acquired within a few days."

    def helpUrl(self):  # noqa: N802
        return help_url("fetch")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Pairs each SAR footprint with the local DSWE (USGS Dynamic Surface Water Extent, "
            "INWAM layer) tiles acquired within +/- N days, and keeps the pairs usable as "
            "training or validation data: at most 30 % cloud, at least 5 % water and at "
            "most 50 % no data inside the SAR footprint (defaults).\n\n"
            "DSWE codes: 0 not water, 1 water (high confidence), 2 water (moderate), 3 "
            "potential wetland, 4 low-confidence water, 9 cloud/shadow/snow, 255 fill. Water "
            "is codes 1 and 2. Fractions are of all footprint pixels on the DSWE grid; "
            "footprint parts no tile of that date covers count as no data. Tiles of one date "
            "are measured together (they do not overlap); rasters are read window by window.")

    def createInstance(self):  # noqa: N802
        return PairSarDswe()

    def initAlgorithm(self, config=None):  # noqa: N802
        add_sar_footprint_parameters(
            self,
            "Acquisition date of each scene: a date, datetime or ISO text such as "
            "2011-04-21T20:23:11Z (default start_time, as written by 'Search ASF'). "
            "Scenes without a date are skipped.",
            "Scene name copied to the output (default granule, as written by 'Search ASF').")
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.DSWE_FOLDER, "Folder of DSWE GeoTIFFs",
            behavior=QgsProcessingParameterFile.Folder),
            "Folder of DSWE GeoTIFFs whose names carry the date (YYYYMMDD or YYYY-MM-DD, "
            "the first one counts, e.g. LC08_CU_003008_20200612_20200625_C01_V01_INWAM.tif). "
            "Files without a date in the name are ignored."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.PATTERN, "DSWE file name pattern", defaultValue="*.tif"),
            "File name pattern (case-insensitive) selecting the DSWE files in the folder "
            "(default *.tif)."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MAX_DAYS, "Maximum days apart", QgsProcessingParameterNumber.Integer,
            defaultValue=1, minValue=0, maxValue=365),
            "DSWE tiles acquired at most this many days before or after the SAR scene are "
            "paired with it (default 1)."))
        for name, label, default, text in (
            (self.MAX_CLOUD, "Maximum cloud (%)", 30.0,
             "A pair is rejected when more of the footprint than this is cloud, shadow or "
             "snow (DSWE code 9; default 30)."),
            (self.MIN_WATER, "Minimum water (%)", 5.0,
             "A pair is rejected when less of the footprint than this is water (DSWE codes "
             "1 and 2; default 5)."),
            (self.MAX_NODATA, "Maximum no data (%)", 50.0,
             "A pair is rejected when more of the footprint than this is fill (255 or the "
             "raster's nodata value) or not covered by a tile (default 50)."),
        ):
            self.addParameter(with_help(QgsProcessingParameterNumber(
                name, label, QgsProcessingParameterNumber.Double, defaultValue=default,
                minValue=0.0, maxValue=100.0), text))
        self.addParameter(with_help(QgsProcessingParameterBoolean(
            self.KEEP_REJECTED, "Keep rejected pairs (with the reason)", defaultValue=False),
            "Also list the pairs that fail the rules, with the reason; otherwise only "
            "passing pairs are written."))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "SAR/DSWE pairs", QgsProcessing.TypeVector),
            "A table (no geometry) with granule, sar_date, dswe_date, days_apart, dswe_files, "
            "footprint_pixels, water_fraction, cloud_fraction, nodata_fraction (0-1), passed and "
            "reason."))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source, date_field, name_field = sar_footprints(self, parameters, context)
        tiles = self._tiles(parameters, context, feedback)
        scenes = sar_scenes(source, date_field, name_field, context, feedback)
        engine = EngineFeedback(feedback)
        with engine_errors(feedback):
            rows = dswe_pairing.pair(
                scenes, tiles,
                max_days=self.parameterAsInt(parameters, self.MAX_DAYS, context),
                max_cloud=self.parameterAsDouble(parameters, self.MAX_CLOUD, context) / 100,
                min_water=self.parameterAsDouble(parameters, self.MIN_WATER, context) / 100,
                max_nodata=self.parameterAsDouble(parameters, self.MAX_NODATA, context) / 100,
                keep_rejected=self.parameterAsBool(parameters, self.KEEP_REJECTED, context),
                progress=engine.progress, is_canceled=engine.is_canceled,
            )
        fields = make_fields(OUTPUT_FIELDS)
        inputs = [path for paths in tiles.values() for path in paths]
        with RunOutputs(self, parameters, context, inputs=inputs) as run:
            sink, dest = run.sink(self.OUTPUT, fields)
            add_rows(sink, fields, ([row[name] for name, _ in OUTPUT_FIELDS] for row in rows))
        feedback.pushInfo(f"{sum(r['passed'] for r in rows)} pair(s) pass the rules.")
        return {self.OUTPUT: dest}

    def _tiles(self, parameters, context, feedback):
        """The dated DSWE tiles of the folder, by date (the engine's find_tiles)."""
        folder = self.parameterAsFile(parameters, self.DSWE_FOLDER, context)
        if not folder or not os.path.isdir(folder):
            raise QgsProcessingException(f"The DSWE folder {folder!r} does not exist.")
        tiles, undated = dswe_pairing.find_tiles(
            folder, self.parameterAsString(parameters, self.PATTERN, context) or "*.tif")
        for path in undated:
            feedback.reportError(f"{os.path.basename(path)}: no date in the name; ignored.")
        if not tiles:
            raise QgsProcessingException(
                f"No DSWE GeoTIFF with a date in its name was found in {folder}.")
        feedback.pushInfo(f"{sum(map(len, tiles.values()))} DSWE tile(s) on {len(tiles)} date(s).")
        return tiles
