"""Glue shared by the fetch algorithms (ASF, Landsat, DSWE, tiles); not an algorithm itself:
the provider skips modules whose name starts with an underscore.

- logins: ``basic_login`` (a Basic QGIS authentication configuration, checked;
  nothing else is returned or logged, errors name the configuration id only) and
  ``PreparedLogin`` (read in the main thread, handed over once).
- areas: ``area_of_interest`` (a polygon layer or an extent, in EPSG:4326), the tile
  algorithms' GRID/AOI/EXTENT, RESAMPLING and TILE_FOLDER parameters and
  ``tile_area_and_grid``.
- searches: START/END, MAX_RESULTS, ``footprint_fields`` / ``feature_for`` (layer
  fields and features from engine records) and ``write_footprints``.
- SAR footprints (INPUT, DATE_FIELD, NAME_FIELD) as engine scenes: ``sar_scenes``.
- downloads: ``check_urls`` and ``download_all``, the download loop (log, cancel,
  refused login, failures).
"""

import datetime as dt
import json

from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QVariant

from ...plugin.engine.core.cancel import Cancelled
from ...plugin.engine.fetch.asf import scrub
from ..common import (
    EngineFeedback, make_fields, require_fields, require_source, source_geometries, with_help,
)
from ..outputs import RunOutputs

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
QTYPES = {"str": QVariant.String, "int": QVariant.Int, "bigint": QVariant.LongLong,
          "double": QVariant.Double}


# ---------------------------------------------------------------- logins

def basic_login(authcfg, service="USGS ERS (EarthExplorer)"):
    """(user, password) of a Basic authentication configuration, checked."""
    manager = QgsApplication.authManager()
    if manager.isDisabled():
        raise QgsProcessingException(
            "The QGIS authentication system is disabled (the Qt SQLite driver or the "
            f"qca-ossl plugin is missing), so the {service} login cannot be read.")
    if authcfg not in manager.configIds():
        raise QgsProcessingException(
            f"There is no authentication configuration with id '{authcfg}' in "
            f"{manager.authenticationDatabasePath()}.")
    if not manager.masterPasswordIsSet() and QgsApplication.platform() != "desktop":
        # Outside the desktop nobody can answer the master password prompt.
        raise QgsProcessingException(
            "The QGIS authentication database is locked. For a headless run put the master "
            "password on the first line of a file readable only by you and set "
            "QGIS_AUTH_PASSWORD_FILE to that file (and QGIS_AUTH_DB_DIR_PATH to the folder "
            "of qgis-auth.db if it is not the profile's).")
    config = QgsAuthMethodConfig()
    ok = manager.loadAuthenticationConfig(authcfg, config, True)
    if not ok or not config.isValid(True):
        raise QgsProcessingException(
            f"The authentication configuration '{authcfg}' could not be decrypted (wrong "
            "master password?).")
    if config.method() != "Basic":
        raise QgsProcessingException(
            f"The authentication configuration '{authcfg}' uses the method "
            f"'{config.method()}'; the {service} login needs 'Basic' (user name and password).")
    return config.config("username"), config.config("password")


class PreparedLogin:
    """Mixin (before QgsProcessingAlgorithm) for an algorithm with an AUTH parameter.

    prepareAlgorithm reads the login because it runs in the main thread: a master
    password prompt (desktop) must not come from the background thread that runs
    processAlgorithm. ``take_login`` hands it over once and drops it.
    """

    _login = None  # (user, password) read in prepareAlgorithm, dropped once used

    def read_login(self, parameters, context):
        """(user, password) of the optional USGS ERS login, or None when none is chosen."""
        authcfg = self.parameterAsString(parameters, self.AUTH, context)
        return basic_login(authcfg) if authcfg else None

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802
        self._login = self.read_login(parameters, context)
        return True

    def take_login(self, parameters, context):
        login, self._login = self._login, None
        if login is None:  # not prepared in the main thread (direct call)
            login = self.read_login(parameters, context)
        return login


# ---------------------------------------------------------------- areas

def area_of_interest(algorithm, parameters, context, feedback, layer_name, extent_name,
                     no_polygon="The area-of-interest layer has no polygon.",
                     no_area="Give an area of interest: a polygon layer, an extent or a "
                             "reference raster."):
    """The area (QgsGeometry, EPSG:4326) from a polygon layer, else an extent."""
    source = algorithm.parameterAsSource(parameters, layer_name, context)
    if source is not None:
        geoms = [geom for _, geom in source_geometries(source, WGS84, context, feedback)]
        if not geoms:
            raise QgsProcessingException(no_polygon)
        geom = QgsGeometry.unaryUnion(geoms)
    elif parameters.get(extent_name):
        geom = algorithm.parameterAsExtentGeometry(parameters, extent_name, context, WGS84)
    else:
        raise QgsProcessingException(no_area)
    if geom.isEmpty() or geom.area() <= 0:
        raise QgsProcessingException("The area of interest is empty.")
    return geom


def geojson(geom):
    """A QgsGeometry as a GeoJSON-like dict."""
    return json.loads(geom.asJson(8))


RESAMPLING = ["bilinear", "nearest", "cubic", "average"]


def add_tile_area_parameters(algorithm, plural=False):
    """The tile algorithms' GRID, AOI and EXTENT (read by ``tile_area_and_grid``);
    ``plural``: the help speaks of the outputs, not the output."""
    the, take, be = ("The outputs", "take", "are") if plural else ("The output", "takes", "is")
    algorithm.addParameter(with_help(QgsProcessingParameterRasterLayer(
        algorithm.GRID, "Reference raster (the SAR grid)", optional=True),
        f"{the} {take} this raster's CRS, extent and pixel grid (e.g. the SAR scene given to "
        "'Build water stack'); the tiles are chosen over its extent."))
    algorithm.addParameter(with_help(QgsProcessingParameterFeatureSource(
        algorithm.AOI, "Footprint (polygon layer, when no reference raster)",
        [QgsProcessing.TypeVectorPolygon], optional=True),
        f"Without a reference raster: the area to fetch (its features merged); {the.lower()} "
        f"{be} on the tiles' own grid (EPSG:4326) over the area's bounds."))
    algorithm.addParameter(with_help(QgsProcessingParameterExtent(
        algorithm.EXTENT, "Extent (when no reference raster or footprint)", optional=True),
        "Without a reference raster or a footprint layer: the extent to fetch."))


def add_tile_options(algorithm, resampled, folder_note=""):
    """RESAMPLING and TILE_FOLDER; the help says what is resampled ('the tiles are')."""
    algorithm.addParameter(with_help(QgsProcessingParameterEnum(
        algorithm.RESAMPLING, "Resampling", RESAMPLING, defaultValue=0),
        f"How {resampled} resampled onto the grid: bilinear (default), nearest, cubic or "
        "average."))
    algorithm.addParameter(with_help(QgsProcessingParameterFile(
        algorithm.TILE_FOLDER, "Tile folder (kept, reused)",
        behavior=QgsProcessingParameterFile.Folder, optional=True),
        f"Where the downloaded tiles are kept and reused{folder_note}; empty: "
        "cache/waterline-tiles in the QGIS profile folder."))


def tile_area_and_grid(algorithm, parameters, context, feedback):
    """(area as a shapely geometry in EPSG:4326, grid or None, grid raster path or None).

    With a reference raster the output takes its grid and the tiles are chosen over
    its extent; otherwise over the polygon layer or extent, on the tiles' own grid.
    """
    from shapely.geometry import shape

    from ...plugin.engine.fetch import tiles
    from ..common import raster_path

    raster = algorithm.parameterAsRasterLayer(parameters, algorithm.GRID, context)
    grid_path = raster_path(raster, "reference (SAR) raster") if raster is not None else None
    if grid_path:
        try:
            grid = tiles.grid_of(grid_path)
            area = tiles.grid_area(grid)
        except ValueError as exc:
            raise QgsProcessingException(str(exc)) from None
        feedback.pushInfo(f"Output grid: {raster.name()} ({grid[2]} x {grid[3]} pixels, "
                          f"{raster.crs().authid()}).")
        return area, grid, grid_path
    geom = area_of_interest(algorithm, parameters, context, feedback, algorithm.AOI,
                            algorithm.EXTENT)
    return shape(geojson(geom)), None, None


def tile_resampling(algorithm, parameters, context):
    return RESAMPLING[algorithm.parameterAsEnum(parameters, algorithm.RESAMPLING, context)]


def tile_folder(algorithm, parameters, context):
    """The tile cache folder: TILE_FOLDER, else one under the QGIS profile (kept)."""
    import os

    folder = algorithm.parameterAsFile(parameters, algorithm.TILE_FOLDER, context)
    if not folder:
        folder = os.path.join(QgsApplication.qgisSettingsDirPath(), "cache", "waterline-tiles")
    os.makedirs(folder, exist_ok=True)
    return folder


# ---------------------------------------------------------------- searches

def qdate(value, end=False):
    """A QDateTime parameter value as ISO text (a date's end is that whole day), or None."""
    if value is None or not value.isValid():
        return None
    if end:
        value = value.addSecs(86399)
    return value.toString("yyyy-MM-ddTHH:mm:ss") + "Z"


def add_date_parameters(algorithm, start_note=""):
    """START and END (dates, optional), read by ``date_range``."""
    algorithm.addParameter(with_help(QgsProcessingParameterDateTime(
        algorithm.START, "Start date", QgsProcessingParameterDateTime.Date, optional=True),
        f"First acquisition date searched{start_note}; empty: no lower bound."))
    algorithm.addParameter(with_help(QgsProcessingParameterDateTime(
        algorithm.END, "End date", QgsProcessingParameterDateTime.Date, optional=True),
        "Last acquisition date searched, that whole day included; empty: no upper bound."))


def add_max_results_parameter(algorithm, items):
    algorithm.addParameter(with_help(QgsProcessingParameterNumber(
        algorithm.MAX_RESULTS, "Maximum results", QgsProcessingParameterNumber.Integer,
        defaultValue=100, minValue=1, maxValue=10000),
        f"The search stops after this many {items} (default 100)."))


def date_range(algorithm, parameters, context):
    """(start, end) as ISO texts or None; the end date is included."""
    return (qdate(algorithm.parameterAsDateTime(parameters, algorithm.START, context)),
            qdate(algorithm.parameterAsDateTime(parameters, algorithm.END, context), end=True))


def footprint_fields(spec):
    return make_fields([(name, QTYPES[kind]) for name, kind in spec])


def feature_for(record, fields, spec):
    """A multipolygon feature for an engine record, or None when it has no usable footprint."""
    geom = QgsGeometry.fromWkt(record["wkt"]) if record.get("wkt") else QgsGeometry()
    if geom.isNull() or geom.isEmpty():
        return None
    geom.convertToMultiType()
    feature = QgsFeature(fields)
    feature.setGeometry(geom)
    feature.setAttributes([record.get(name) for name, _ in spec])
    return feature


def write_footprints(algorithm, parameters, context, feedback, records, spec, id_key):
    """The records' footprints into the OUTPUT layer (EPSG:4326); its destination.

    A record without a usable footprint is reported by its ``id_key`` and skipped.
    """
    fields = footprint_fields(spec)
    features = []
    for record in records:
        if feedback.isCanceled():
            raise QgsProcessingException("Cancelled by the user; no layer was written.")
        feature = feature_for(record, fields, spec)
        if feature is None:
            feedback.reportError(f"{record[id_key]}: no usable footprint; skipped.")
            continue
        features.append(feature)
    # the layer is created only once the search succeeded
    with RunOutputs(algorithm, parameters, context) as run:
        sink, dest = run.sink(algorithm.OUTPUT, fields, QgsWkbTypes.MultiPolygon, WGS84)
        for i, feature in enumerate(features):
            if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
                raise QgsProcessingException(
                    f"Writing the footprint layer failed: {sink.lastError()}")
            feedback.setProgress(100.0 * (i + 1) / len(features))
    return dest


# ---------------------------------------------------------------- SAR footprints

def add_sar_footprint_parameters(algorithm, date_help, name_help):
    """INPUT (SAR footprints), DATE_FIELD and NAME_FIELD, read by ``sar_scenes``."""
    algorithm.addParameter(with_help(QgsProcessingParameterFeatureSource(
        algorithm.INPUT, "SAR footprints", [QgsProcessing.TypeVectorPolygon]),
        "E.g. the 'Search ASF' layer (any polygon layer, any CRS)."))
    algorithm.addParameter(with_help(QgsProcessingParameterField(
        algorithm.DATE_FIELD, "Acquisition date field", "start_time", algorithm.INPUT,
        optional=True), date_help))
    algorithm.addParameter(with_help(QgsProcessingParameterField(
        algorithm.NAME_FIELD, "Scene name field", "granule", algorithm.INPUT, optional=True),
        name_help))


def sar_footprints(algorithm, parameters, context):
    """(source, date field, name field) of INPUT, DATE_FIELD and NAME_FIELD, checked."""
    source = require_source(algorithm, parameters, algorithm.INPUT, context,
                            "The SAR footprint layer could not be loaded.")
    # QGIS 3.22 does not apply a field parameter's default when it is left out
    date_field = algorithm.parameterAsString(parameters, algorithm.DATE_FIELD, context) or "start_time"
    name_field = algorithm.parameterAsString(parameters, algorithm.NAME_FIELD, context) or "granule"
    require_fields(source, (date_field, name_field), "footprint layer",
                   "Choose the date and name fields.")
    return source, date_field, name_field


def as_date(value):
    """A datetime.date from a date/datetime attribute or an ISO string (None when unreadable)."""
    if isinstance(value, QDateTime):
        value = value.date()
    if isinstance(value, QDate):
        return dt.date(value.year(), value.month(), value.day()) if value.isValid() else None
    try:
        return dt.date.fromisoformat(str(value or "").strip()[:10])
    except ValueError:
        return None


def sar_scenes(source, date_field, name_field, context, feedback):
    """The footprints as engine scenes: granule, date and GeoJSON geometry in EPSG:4326."""
    transform = QgsCoordinateTransform(source.sourceCrs(), WGS84, context.transformContext())
    scenes = []
    for feature in source.getFeatures():
        if feedback.isCanceled():
            break
        day = as_date(feature[date_field])
        geom = feature.geometry()
        if day is None or geom.isEmpty():
            feedback.reportError(
                f"{feature[name_field]}: no acquisition date or no geometry; skipped.")
            continue
        geom.transform(transform)
        scenes.append(dict(granule=str(feature[name_field]), date=day, geometry=geojson(geom)))
    if not scenes:
        raise QgsProcessingException("The SAR footprint layer has no usable scene.")
    return scenes


# ---------------------------------------------------------------- downloads

def check_urls(check_url, urls, hosts):
    """Stop with the engine's message at the first URL ``check_url`` refuses (not https,
    or a host other than the service's and ``hosts``)."""
    for url in urls:
        try:
            check_url(url, extra_hosts=hosts)
        except ValueError as exc:
            raise QgsProcessingException(str(exc)) from None


def download_all(jobs, describe, fetch, auth_error, secrets, feedback, unit):
    """``fetch(job, engine feedback)`` for every job in turn; [(job, its value)].

    ``describe(job)`` is (label, url) for the log. A refused login (``auth_error``)
    stops at once, as the same login fails for every file; other errors are reported
    and the rest goes on, then the run fails naming what failed (``unit``: 'file').
    Messages are scrubbed of ``secrets``.
    """
    done, failures = [], []
    for i, job in enumerate(jobs):
        if feedback.isCanceled():
            break
        label, url = describe(job)
        engine = EngineFeedback.item(feedback, i, len(jobs))
        feedback.pushInfo(f"[{i + 1}/{len(jobs)}] {label}: {url}")
        try:
            done.append((job, fetch(job, engine)))
        except Cancelled:
            break
        except auth_error as exc:
            raise QgsProcessingException(scrub(exc, secrets)) from None
        except (ValueError, OSError) as exc:
            feedback.reportError(f"{label}: {scrub(exc, secrets)}")
            failures.append(label)
    if feedback.isCanceled():
        raise QgsProcessingException(
            "Cancelled; partial files are kept as .part and resumed on the next run.")
    if failures:
        raise QgsProcessingException(
            f"{len(failures)} of {len(jobs)} {unit}(s) failed: {', '.join(failures)}. See the log "
            "above; complete files are kept and skipped on the next run.")
    return done
