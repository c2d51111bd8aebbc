"""Glue shared by the Landsat / DSWE / tile fetch algorithms (not an algorithm itself:
the provider skips modules whose name starts with an underscore).

- ``basic_login``: (user, password) of a QGIS authentication configuration of
  type Basic, read the way 'Download ASF granules' reads the Earthdata login;
  nothing else is returned or logged, errors name the configuration id only.
- ``area_of_interest``: the search/fetch area in EPSG:4326 from a polygon
  layer, an extent or a reference raster's extent.
- ``footprint_fields`` / ``feature_for``: layer fields and features from engine records.
"""

import json

from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsProcessingException,
)
from qgis.PyQt.QtCore import QVariant

from ..common import make_fields, source_geometries

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
QTYPES = {"str": QVariant.String, "int": QVariant.Int, "bigint": QVariant.LongLong,
          "double": QVariant.Double}


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


def area_of_interest(algorithm, parameters, context, feedback, layer_name, extent_name,
                     raster=None):
    """The area (QgsGeometry, EPSG:4326) from a polygon layer, else an extent, else a raster's extent."""
    source = algorithm.parameterAsSource(parameters, layer_name, context) if layer_name else None
    if source is not None:
        geoms = [geom for _, geom in source_geometries(source, WGS84, context, feedback)]
        if not geoms:
            raise QgsProcessingException("The area-of-interest layer has no polygon.")
        geom = QgsGeometry.unaryUnion(geoms)
    elif extent_name and parameters.get(extent_name):
        geom = algorithm.parameterAsExtentGeometry(parameters, extent_name, context, WGS84)
    elif raster is not None:
        geom = QgsGeometry.fromRect(raster.extent())
        geom.transform(QgsCoordinateTransform(raster.crs(), WGS84, context.transformContext()))
    else:
        raise QgsProcessingException(
            "Give an area of interest: a polygon layer, an extent"
            + (" or a reference raster." if raster is not None or extent_name else "."))
    if geom.isEmpty() or geom.area() <= 0:
        raise QgsProcessingException("The area of interest is empty.")
    return geom


def geojson(geom):
    """A QgsGeometry as a GeoJSON-like dict."""
    return json.loads(geom.asJson(8))


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


def scrub(text, secrets):
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------- tile algorithms

RESAMPLING = ["bilinear", "nearest", "cubic", "average"]


def tile_area_and_grid(algorithm, parameters, context, feedback, layer_name, extent_name,
                       grid_name):
    """(area as a shapely geometry in EPSG:4326, grid or None, grid raster path or None).

    With a reference raster the output takes its grid and the tiles are chosen over
    its extent; otherwise over the polygon layer or extent, on the tiles' own grid.
    """
    from shapely.geometry import shape

    from ...plugin.engine.fetch import tiles
    from ..common import raster_path

    raster = algorithm.parameterAsRasterLayer(parameters, grid_name, context)
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
    geom = area_of_interest(algorithm, parameters, context, feedback, layer_name, extent_name)
    return shape(geojson(geom)), None, None


def tile_folder(algorithm, parameters, context, name):
    """The tile cache folder: the parameter's folder, else one under the QGIS profile (kept)."""
    import os

    folder = algorithm.parameterAsFile(parameters, name, context)
    if not folder:
        folder = os.path.join(QgsApplication.qgisSettingsDirPath(), "cache", "waterline-tiles")
    os.makedirs(folder, exist_ok=True)
    return folder
