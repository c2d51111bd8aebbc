"""Download ASF granules listed in a footprint layer, with an Earthdata login
taken from the QGIS authentication manager."""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant

from ...plugin.engine.fetch import asf as asf_client
from ..common import (
    GROUPS, add_rows, advanced, group_icon, help_string, help_url, make_fields, require_fields,
    require_source, with_help,
)
from ..outputs import RunOutputs
from ._fetch_common import PreparedLogin, basic_login, check_urls, download_all


def earthdata_login(authcfg):
    """(user, password) of the Basic authentication configuration that holds the Earthdata login."""
    if not authcfg:
        raise QgsProcessingException(
            "Choose the authentication configuration that holds your Earthdata login "
            "(Settings > Options > Authentication, method Basic).")
    return basic_login(authcfg, "Earthdata")


class DownloadAsf(PreparedLogin, QgsProcessingAlgorithm):
    INPUT = "INPUT"
    URL_FIELD = "URL_FIELD"
    SIZE_FIELD = "SIZE_FIELD"
    MD5_FIELD = "MD5_FIELD"
    AUTH = "AUTH"
    FOLDER = "FOLDER"
    UNZIP = "UNZIP"
    EDL_HOST = "EDL_HOST"
    ASF_AUTH_HOST = "ASF_AUTH_HOST"
    OUTPUT = "OUTPUT"
    GEOTIFFS = "GEOTIFFS"
    DOWNLOADED = "DOWNLOADED"

    def name(self):
        return "download_asf"

    def displayName(self):  # noqa: N802
        return "Download ASF granules"

    def group(self):
        return GROUPS["fetch"]

    def groupId(self):  # noqa: N802
        return GROUPS["fetch"]

    def tags(self):
        return "asf,download,sar,sentinel-1,alos,palsar,earthdata".split(",")

    def shortDescription(self):  # noqa: N802
        return "Download ASF granules (resumable, verified) with an Earthdata login."

    def helpUrl(self):  # noqa: N802
        return help_url("fetch")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Downloads the products of a footprint layer from 'Search ASF' (all features, "
            "or only the selected ones when 'Selected features only' is ticked) into a "
            "folder, logged in to NASA Earthdata. A file already complete in the download "
            "folder (size and md5 match) is skipped; an interrupted download is kept as "
            "the file name plus .part and resumed (HTTP Range) after a dropped connection or on the next "
            "run. A file whose size or md5 does not match the search record is refused and "
            "removed. Wrong credentials stop the run with an HTTP 401 message.",
            "Also returned: the GeoTIFF paths (for 'Build water stack') and the number of files "
            "fetched.")

    def createInstance(self):  # noqa: N802
        return DownloadAsf()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterFeatureSource(
            self.INPUT, "Footprints (from Search ASF)", [QgsProcessing.TypeVector]),
            "The layer from 'Search ASF' (any layer with a download URL field)."))
        self.addParameter(with_help(QgsProcessingParameterField(
            self.URL_FIELD, "Download URL field", "url", self.INPUT,
            QgsProcessingParameterField.String, optional=True),
            "Field with the download link (default url, as written by 'Search ASF'); "
            "features without a link are skipped."))
        self.addParameter(with_help(QgsProcessingParameterField(
            self.SIZE_FIELD, "Size (bytes) field", "size_bytes", self.INPUT,
            QgsProcessingParameterField.Numeric, optional=True),
            "Optional field with the expected file size in bytes (default size_bytes, when "
            "the layer has it)."))
        self.addParameter(with_help(QgsProcessingParameterField(
            self.MD5_FIELD, "MD5 checksum field", "md5", self.INPUT,
            QgsProcessingParameterField.String, optional=True),
            "Optional field with the expected md5 checksum (default md5, when the layer "
            "has it)."))
        self.addParameter(with_help(QgsProcessingParameterAuthConfig(
            self.AUTH, "Earthdata login (authentication configuration, Basic)"),
            "A QGIS authentication configuration of type Basic holding your Earthdata user "
            "name and password (Settings > Options > Authentication > +). The password is "
            "never shown, logged or written anywhere."))
        self.addParameter(with_help(QgsProcessingParameterFolderDestination(
            self.FOLDER, "Download folder"),
            "Where the granules are written (and unpacked); files already complete here are "
            "skipped and .part files resumed."))
        self.addParameter(with_help(QgsProcessingParameterBoolean(
            self.UNZIP, "Unpack zips and list their GeoTIFFs", defaultValue=True),
            "Extract each zip (e.g. RTC products) into a folder beside it and list the "
            "GeoTIFFs found."))
        for name, label, default, text in (
            (self.EDL_HOST, "Earthdata Login host", asf_client.EDL_HOST,
             "The Earthdata Login service (advanced); keep the default unless you use "
             "NASA's test system."),
            (self.ASF_AUTH_HOST, "ASF authentication host", asf_client.ASF_AUTH_HOST,
             "ASF's download authentication service (advanced); keep the default unless "
             "you use NASA's test system."),
        ):
            self.addParameter(advanced(with_help(
                QgsProcessingParameterString(name, label, defaultValue=default), text)))
        self.addParameter(with_help(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Downloaded files", QgsProcessing.TypeVector),
            "A table with one row per granule: granule, file, status (downloaded / resumed / "
            "skipped), size_bytes and geotiffs; written only when every granule succeeded."))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.GEOTIFFS, "GeoTIFFs"))
        self.addOutput(QgsProcessingOutputNumber(self.DOWNLOADED, "Files fetched"))

    @staticmethod
    def _report_fields():
        return make_fields([("granule", QVariant.String), ("file", QVariant.String),
                            ("status", QVariant.String), ("size_bytes", QVariant.LongLong),
                            ("geotiffs", QVariant.String)])

    def read_login(self, parameters, context):
        return earthdata_login(self.parameterAsString(parameters, self.AUTH, context))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = require_source(self, parameters, self.INPUT, context,
                                "The footprint layer could not be loaded.")
        hosts = self._hosts(parameters, context)
        jobs = self._jobs(source, parameters, context, hosts)
        folder = self.parameterAsString(parameters, self.FOLDER, context)
        unzip = self.parameterAsBool(parameters, self.UNZIP, context)
        session, secrets = self._session(parameters, context, hosts, feedback)
        geotiffs, fetched, rows = self._download(session, jobs, folder, unzip, secrets, feedback)
        # the table is written only for a run that succeeded
        fields = self._report_fields()
        with RunOutputs(self, parameters, context) as run:
            sink, dest = run.sink(self.OUTPUT, fields)
            add_rows(sink, fields, rows)
        feedback.setProgress(100)
        return {self.OUTPUT: dest, self.FOLDER: folder, self.GEOTIFFS: geotiffs,
                self.DOWNLOADED: fetched}

    def _hosts(self, parameters, context):
        """(Earthdata Login host, ASF authentication host), the defaults when left empty."""
        edl_host = self.parameterAsString(parameters, self.EDL_HOST, context).strip()
        auth_host = self.parameterAsString(parameters, self.ASF_AUTH_HOST, context).strip()
        return edl_host or asf_client.EDL_HOST, auth_host or asf_client.ASF_AUTH_HOST

    def _jobs(self, source, parameters, context, hosts):
        """(granule, url, size or None, md5 or None) for every feature with a download URL, URLs checked."""
        # QGIS 3.22 does not apply a field parameter's default when it is left out
        url_field = self.parameterAsString(parameters, self.URL_FIELD, context) or "url"
        names = source.fields().names()
        size_field = self.parameterAsString(parameters, self.SIZE_FIELD, context) or (
            "size_bytes" if "size_bytes" in names else "")
        md5_field = self.parameterAsString(parameters, self.MD5_FIELD, context) or (
            "md5" if "md5" in names else "")
        require_fields(source, (url_field, size_field, md5_field), "footprint layer")
        jobs = []
        for feature in source.getFeatures():
            url = feature[url_field]
            if not url:
                continue
            granule = feature["granule"] if "granule" in names else os.path.basename(url)
            size = feature[size_field] if size_field else None
            md5 = feature[md5_field] if md5_field else None
            jobs.append((str(granule), str(url), int(size) if size else None,
                         str(md5) if md5 else None))
        if not jobs:
            raise QgsProcessingException("The footprint layer has no feature with a download URL.")
        check_urls(asf_client.check_url, [url for _, url, _, _ in jobs], hosts)
        return jobs

    def _session(self, parameters, context, hosts, feedback):
        """A logged-in Earthdata session and the secrets to scrub from messages."""
        username, password = self.take_login(parameters, context)
        secrets = [password]
        try:
            session = asf_client.login(username, password, *hosts)
        except (ValueError, OSError) as exc:
            raise QgsProcessingException(asf_client.scrub(exc, secrets)) from None
        del password
        feedback.pushInfo(f"Logged in to Earthdata ({hosts[0]}).")
        return session, secrets

    @staticmethod
    def _download(session, jobs, folder, unzip, secrets, feedback):
        """Fetch every job; (GeoTIFF paths, files fetched, report rows). Raises when any failed."""
        def fetch(job, engine):
            granule, url, size, md5 = job
            result = asf_client.download_file(
                session, url, folder, size=size, md5=md5, progress=engine.progress,
                is_canceled=engine.is_canceled, info=engine.info)
            tifs = []
            if unzip and result.path.lower().endswith(".zip"):
                tifs = asf_client.unpack_zip(result.path, engine.is_canceled)
            feedback.pushInfo(f"{granule}: {result.status} ({result.size} bytes)"
                              + (f", {len(tifs)} GeoTIFF(s)" if unzip else ""))
            return result, tifs

        done = download_all(jobs, lambda job: job[:2], fetch, asf_client.AuthError, secrets,
                            feedback, "granule")
        geotiffs = [tif for _, (_, tifs) in done for tif in tifs]
        fetched = sum(result.status != "skipped" for _, (result, _) in done)
        rows = [[granule, result.path, result.status, result.size, ";".join(tifs)]
                for (granule, *_), (result, tifs) in done]
        return geotiffs, fetched, rows
