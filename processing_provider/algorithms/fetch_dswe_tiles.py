"""Fetch the DSWE tiles (INWAM and cloud mask) acquired within +/- N days of SAR footprints."""

import os

from qgis.core import (
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ...plugin.engine.fetch import stac
from ..common import (
    GROUPS, EngineFeedback, advanced, engine_errors, group_icon, help_string, help_url, with_help,
)
from ..outputs import RunOutputs
from ._fetch_common import (
    WGS84, PreparedLogin, add_sar_footprint_parameters, check_urls, feature_for,
    footprint_fields, sar_footprints, sar_scenes,
)
from .download_landsat import fetch_all, usgs_session

DSWE_OUT_FIELDS = stac.DSWE_FIELDS + [("files", "str")]


class FetchDsweTiles(PreparedLogin, QgsProcessingAlgorithm):
    INPUT = "INPUT"
    DATE_FIELD = "DATE_FIELD"
    NAME_FIELD = "NAME_FIELD"
    MAX_DAYS = "MAX_DAYS"
    LAYERS = "LAYERS"
    AUTH = "AUTH"
    FOLDER = "FOLDER"
    STAC_URL = "STAC_URL"
    ERS_HOST = "ERS_HOST"
    OUTPUT = "OUTPUT"
    INWAM = "INWAM"
    DOWNLOADED = "DOWNLOADED"

    def name(self):
        return "fetch_dswe_tiles"

    def displayName(self):  # noqa: N802
        return "Fetch DSWE tiles for SAR footprints"

    def group(self):
        return GROUPS["fetch"]

    def groupId(self):  # noqa: N802
        return GROUPS["fetch"]

    def tags(self):
        return "dswe,landsat,water,sar,pair,labels,inwam,usgs,stac,download".split(",")

    def shortDescription(self):  # noqa: N802
        return "Search and download the DSWE tiles acquired within a few days of SAR scenes."

    def helpUrl(self):  # noqa: N802
        return help_url("fetch")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "For each SAR footprint (e.g. from 'Search ASF'), searches the USGS STAC API for "
            "Landsat Collection 2 Level-3 DSWE tiles (collection landsat-c2l3-dswe: the US "
            "Landsat ARD grid, CONUS, Alaska and Hawaii) acquired within +/- N days of the SAR "
            "date that touch the footprint, and downloads their layers: the INWAM layer "
            "(interpreted water with all masks applied) into the download folder, so 'Pair SAR "
            "scenes with DSWE tiles' runs straight on it, and the other layers (by default the "
            "MASK layer: cloud, cloud shadow and snow) into a subfolder named after the layer. "
            "Downloads resume and are size-checked like 'Download Landsat scenes'.",
            "Also returned: the INWAM files (as layers) and the number of files fetched.")

    def createInstance(self):  # noqa: N802
        return FetchDsweTiles()

    def initAlgorithm(self, config=None):  # noqa: N802
        add_sar_footprint_parameters(
            self,
            "Acquisition date of each SAR scene: a date, datetime or ISO text (default "
            "start_time, as written by 'Search ASF'). Scenes without a date are skipped.",
            "Scene name listed with each DSWE tile found for it (default granule).")
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.MAX_DAYS, "Maximum days apart", QgsProcessingParameterNumber.Integer,
            defaultValue=1, minValue=0, maxValue=365),
            "DSWE tiles acquired at most this many days before or after a SAR scene are "
            "fetched (default 1; use the same value in 'Pair SAR scenes with DSWE tiles')."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.LAYERS, "DSWE layers", defaultValue="INWAM,MASK"),
            "Comma-separated DSWE layers to download: INWAM (always needed for pairing), MASK "
            "(cloud / cloud shadow / snow bits), INTR, DIAG, SHADE, SLOPE (as the tiles offer)."))
        self.addParameter(with_help(QgsProcessingParameterAuthConfig(
            self.AUTH, "USGS ERS login (authentication configuration, Basic)", optional=True),
            "A Basic authentication configuration with your USGS ERS (EarthExplorer) user name "
            "and password, for servers that need a login; never shown, logged or written."))
        self.addParameter(with_help(QgsProcessingParameterFolderDestination(
            self.FOLDER, "Download folder"),
            "INWAM tiles go here (the folder to give 'Pair SAR scenes with DSWE tiles'); the "
            "other layers go into subfolders named after them (e.g. MASK/). Complete files are "
            "skipped and .part files resumed."))
        for name, label, default, text in (
            (self.STAC_URL, "STAC API URL", stac.STAC_URL,
             "The STAC API searched (advanced); keep the default USGS service."),
            (self.ERS_HOST, "USGS ERS login host", stac.ERS_HOST,
             "The USGS login service (advanced); keep the default."),
        ):
            self.addParameter(advanced(with_help(
                QgsProcessingParameterString(name, label, defaultValue=default), text)))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "DSWE tiles", QgsProcessing.TypeVectorPolygon),
            "DSWE tile footprints (EPSG:4326) with dswe_id, datetime, date, platform, tile "
            "(ARD hhhvvv), cloud_cover, collection, sar_granules (the SAR scenes it was found "
            "for, ;-separated), days_apart (smallest), stac_item, assets (JSON) and files (the "
            "downloaded files, ;-separated)."))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.INWAM, "INWAM tiles"))
        self.addOutput(QgsProcessingOutputNumber(self.DOWNLOADED, "Files fetched"))

    def _layers(self, parameters, context):
        layers = [v.strip().upper() for v in
                  self.parameterAsString(parameters, self.LAYERS, context).split(",") if v.strip()]
        if "INWAM" not in layers:
            layers.insert(0, "INWAM")
        return layers

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source, date_field, name_field = sar_footprints(self, parameters, context)
        scenes = sar_scenes(source, date_field, name_field, context, feedback)
        layers = self._layers(parameters, context)
        days = self.parameterAsInt(parameters, self.MAX_DAYS, context)
        url = self.parameterAsString(parameters, self.STAC_URL, context).strip() or stac.STAC_URL
        host = self.parameterAsString(parameters, self.ERS_HOST, context).strip() or stac.ERS_HOST
        folder = self.parameterAsString(parameters, self.FOLDER, context)
        feedback.pushInfo(f"Searching {url} for DSWE tiles within {days} day(s) of "
                          f"{len(scenes)} SAR scene(s).")
        engine = EngineFeedback(feedback, 0, 10)
        with engine_errors(feedback):
            records = stac.search_dswe(scenes, days, url=url, progress=engine.progress,
                                       is_canceled=engine.is_canceled)
        if not records:
            raise QgsProcessingException(
                f"No DSWE tile was found within {days} day(s) of any SAR footprint. DSWE covers "
                "the US Landsat ARD grid (CONUS, Alaska, Hawaii) only; widen 'Maximum days "
                "apart' or check the footprints' dates.")
        feedback.pushInfo(f"{len(records)} DSWE tile(s) found.")
        jobs, targets = [], {}
        for record in records:
            found, missing = stac.layer_assets(record["assets"], layers)
            if missing:
                feedback.reportError(f"{record['dswe_id']}: no {', '.join(missing)} layer; "
                                     "fetching the others.")
            check_urls(stac.check_url, [href for _, href in found], (host, _netloc(url)))
            for layer, href in found:
                jobs.append((record["dswe_id"], layer, href))
                targets[(record["dswe_id"], layer)] = (
                    folder if layer == "INWAM" else os.path.join(folder, layer))

        session, secrets = usgs_session(self.take_login(parameters, context), host, feedback)
        fields = footprint_fields(DSWE_OUT_FIELDS)
        with RunOutputs(self, parameters, context) as run:
            results = []
            for target in sorted(set(targets.values())):
                group = [job for job in jobs if targets[(job[0], job[1])] == target]
                results += fetch_all(session, group, target, secrets, feedback)
            files = {}
            for dswe_id, layer, result in results:
                files.setdefault(dswe_id, []).append(result.path)
            sink, dest = run.sink(self.OUTPUT, fields, QgsWkbTypes.MultiPolygon, WGS84)
            for record in records:
                record["files"] = ";".join(files.get(record["dswe_id"], []))
                feature = feature_for(record, fields, DSWE_OUT_FIELDS)
                if feature is not None and not sink.addFeature(feature, QgsFeatureSink.FastInsert):
                    raise QgsProcessingException(f"Writing the tile layer failed: {sink.lastError()}")
        inwam = [r.path for _, layer, r in results if layer == "INWAM"]
        feedback.setProgress(100)
        return {self.OUTPUT: dest, self.FOLDER: folder, self.INWAM: inwam,
                self.DOWNLOADED: sum(r.status != "skipped" for _, _, r in results)}


def _netloc(url):
    from urllib.parse import urlparse

    return urlparse(url).netloc

