"""Download the bands of Landsat scenes listed in a footprint layer ('Search Landsat'),
resumable and size-checked, with an optional USGS ERS login from the QGIS
authentication manager."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant

from ...plugin.engine.fetch import stac
from ..common import (
    GROUPS, add_rows, advanced, group_icon, help_string, help_url, make_fields,
    require_fields, require_source, with_help,
)
from ..outputs import RunOutputs
from ._fetch_common import PreparedLogin, check_urls, download_all

PRESETS = [
    ("calfin_pan", "CALFIN: panchromatic band (pan, B8; red on Landsat 4-5) + QA_PIXEL"),
    ("calfin_red", "CALFIN: red band + QA_PIXEL"),
    ("water_optical", "Water stack: red, nir08, swir16, swir22 + QA_PIXEL"),
    ("custom", "The bands listed below"),
]
REPORT_FIELDS = [("scene_id", QVariant.String), ("band", QVariant.String),
                 ("file", QVariant.String), ("status", QVariant.String),
                 ("size_bytes", QVariant.LongLong)]
QA_BANDS = ("qa_pixel", "qa_radsat", "qa")


def usgs_session(login, host, feedback):
    """(session, secrets to scrub from messages): logged in to USGS ERS when a login was
    read, else anonymous."""
    username, password = login or (None, None)
    if password is None:
        return stac.usgs_session(host), []
    secrets = [password]
    try:
        session = stac.ers_login(username, password, host)
    except (ValueError, OSError) as exc:
        raise QgsProcessingException(stac.scrub(exc, secrets)) from None
    feedback.pushInfo(f"Logged in to USGS ERS ({host}).")
    return session, secrets


def fetch_all(session, jobs, folder, secrets, feedback):
    """Download (name, band, url) jobs; [(name, band, result)]. A refused login stops everything."""
    def fetch(job, engine):
        name, band, url = job
        result = stac.download(session, url, folder, progress=engine.progress,
                               is_canceled=engine.is_canceled, info=engine.info)
        feedback.pushInfo(f"{name} {band}: {result.status} ({result.size} bytes)")
        return result

    done = download_all(jobs, lambda job: (f"{job[0]} {job[1]}", job[2]), fetch, stac.AuthError,
                        secrets, feedback, "file")
    return [(name, band, result) for (name, band, _), result in done]


class DownloadLandsat(PreparedLogin, QgsProcessingAlgorithm):
    INPUT = "INPUT"
    PRESET = "PRESET"
    BANDS = "BANDS"
    AUTH = "AUTH"
    FOLDER = "FOLDER"
    ERS_HOST = "ERS_HOST"
    OUTPUT = "OUTPUT"
    FILES = "FILES"
    DOWNLOADED = "DOWNLOADED"

    def name(self):
        return "download_landsat"

    def displayName(self):  # noqa: N802
        return "Download Landsat scenes"

    def group(self):
        return GROUPS["fetch"]

    def groupId(self):  # noqa: N802
        return GROUPS["fetch"]

    def tags(self):
        return "landsat,download,usgs,ers,earthexplorer,calfin,b8,panchromatic,stac".split(",")

    def shortDescription(self):  # noqa: N802
        return "Download chosen bands of Landsat scenes (resumable, size-checked)."

    def helpUrl(self):  # noqa: N802
        return help_url("fetch")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Downloads the chosen bands of the scenes in a 'Search Landsat' footprint layer "
            "(all features, or only the selected ones) into one folder, under USGS's own file "
            "names (e.g. LC08_L1TP_..._B8.TIF beside ..._QA_PIXEL.TIF), so 'Subset scenes to a "
            "domain' runs straight on the folder and finds each scene's QA band. A file already "
            "complete in the folder is skipped; an interrupted download is kept as the file "
            "name plus .part and resumed (HTTP Range) after a dropped connection or on the next "
            "run; a file shorter or longer than the server announced is refused. When the USGS "
            "server asks for a login (HTTP 401/403 or a redirect to the ERS login page) the run "
            "stops with a message saying so; wrong credentials stop it before any download.",
            "Also returned: the downloaded band files other than QA bands (as layers) and the "
            "number of files fetched.")

    def createInstance(self):  # noqa: N802
        return DownloadLandsat()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.INPUT, "Landsat footprints (from Search Landsat)", [QgsProcessing.TypeVector]),
            "The layer from 'Search Landsat' (any layer with scene_id and assets fields)."))
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.PRESET, "Bands", [label for _, label in PRESETS], defaultValue=0),
            "Which bands to fetch: 0 CALFIN panchromatic (pan, band 8 at 15 m on Landsat 7-9; "
            "Landsat 4-5 TM has no pan band, so red is fetched there) with QA_PIXEL; 1 CALFIN "
            "red with QA_PIXEL; 2 the water stack bands red, nir08, swir16, swir22 with "
            "QA_PIXEL; 3 the bands listed below."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.BANDS, "Band list (for 'The bands listed below')", defaultValue="pan,qa_pixel",
            optional=True),
            "Comma-separated STAC asset names (coastal, blue, green, red, nir08, swir16, swir22, "
            "pan, cirrus, lwir11, qa_pixel, qa_radsat, MTL.json) or file suffixes (B8, B4, "
            "QA_PIXEL)."))
        self.addParameter(with_help(QgsProcessingParameterAuthConfig(
            self.AUTH, "USGS ERS login (authentication configuration, Basic)", optional=True),
            "A QGIS authentication configuration of type Basic holding your USGS ERS "
            "(EarthExplorer, https://ers.cr.usgs.gov) user name and password (Settings > "
            "Options > Authentication > +), for servers that need a login. The password is "
            "sent once to ERS and never shown, logged or written anywhere."))
        self.addParameter(with_help(QgsProcessingParameterFolderDestination(
            self.FOLDER, "Download folder"),
            "Where the band files are written; files already complete here are skipped and "
            ".part files resumed."))
        self.addParameter(advanced(with_help(QgsProcessingParameterString(
            self.ERS_HOST, "USGS ERS login host", defaultValue=stac.ERS_HOST),
            "The USGS login service (advanced); keep the default.")))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Downloaded files", QgsProcessing.TypeVector),
            "A table with one row per file: scene_id, band, file, status (downloaded / resumed "
            "/ skipped) and size_bytes; written only when every file succeeded."))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.FILES, "Band files (no QA bands)"))
        self.addOutput(QgsProcessingOutputNumber(self.DOWNLOADED, "Files fetched"))

    def _bands(self, parameters, context):
        preset = PRESETS[self.parameterAsEnum(parameters, self.PRESET, context)][0]
        if preset != "custom":
            return stac.PRESETS[preset]
        text = self.parameterAsString(parameters, self.BANDS, context)
        bands = [b.strip() for b in (text or "").split(",") if b.strip()]
        if not bands:
            raise QgsProcessingException("List at least one band (e.g. pan,qa_pixel).")
        return bands

    def _jobs(self, source, bands, host, feedback):
        require_fields(source, ("scene_id", "assets"), "footprint layer",
                       "Use the layer written by 'Search Landsat'.")
        jobs = []
        for feature in source.getFeatures():
            name = str(feature["scene_id"])
            try:
                found, missing = stac.band_assets(feature["assets"] or "{}", bands)
            except ValueError:
                feedback.reportError(f"{name}: the assets field is not valid JSON; skipped.")
                continue
            if missing:
                feedback.reportError(f"{name}: no {', '.join(missing)} band in this scene; "
                                     "fetching the others.")
            jobs += [(name, band, url) for band, url in found]
        if not jobs:
            raise QgsProcessingException(
                f"None of the scenes has the bands {', '.join(bands)}.")
        check_urls(stac.check_url, [url for _, _, url in jobs], (host,))
        return jobs

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = require_source(self, parameters, self.INPUT, context,
                                "The footprint layer could not be loaded.")
        host = self.parameterAsString(parameters, self.ERS_HOST, context).strip() or stac.ERS_HOST
        jobs = self._jobs(source, self._bands(parameters, context), host, feedback)
        folder = self.parameterAsString(parameters, self.FOLDER, context)
        session, secrets = usgs_session(self.take_login(parameters, context), host, feedback)
        with RunOutputs(self, parameters, context) as run:
            results = fetch_all(session, jobs, folder, secrets, feedback)
            fields = make_fields(REPORT_FIELDS)
            sink, dest = run.sink(self.OUTPUT, fields)
            add_rows(sink, fields, ([name, band, r.path, r.status, r.size]
                                    for name, band, r in results))
        files = [r.path for _, band, r in results if band.lower() not in QA_BANDS
                 and r.path.lower().endswith((".tif", ".tiff"))]
        feedback.setProgress(100)
        return {self.OUTPUT: dest, self.FOLDER: folder, self.FILES: files,
                self.DOWNLOADED: sum(r.status != "skipped" for _, _, r in results)}
