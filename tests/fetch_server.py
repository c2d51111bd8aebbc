"""A local HTTPS stand-in for the USGS STAC API, USGS ERS login, USGS data and the
public tile buckets (Hansen GFC, Copernicus GLO-30 DEM, ASF GLO-30 HAND).

A ``replay_server.HttpsReplayServer``, like ``asf_server.ReplayServer`` (tests
trust its throw-away certificate through REQUESTS_CA_BUNDLE). It answers:

- ``GET /stac-server``, ``/stac-server/conformance``: the API landing page.
- ``POST /stac-server/search`` (and GET with the same parameters): the
  items of ``tests/data/stac_replay.json`` (recorded Landsat C2 L1 answers of
  landsatlook.usgs.gov, constructed DSWE items; see
  ``tools/derive_stac_replay.py``) filtered the way stac-server does
  (collections, intersects/bbox, datetime, ``query`` with eq/neq/lt/lte/gt/
  gte/in, limit), newest first, paged with a ``next`` token in a POST link.
  Every ``https://landsatlook.usgs.gov`` URL is rewritten to this server.
- ``GET /login`` (a form with a csrf token) and ``POST /login``: the USGS ERS
  login. Right credentials: 302 to ``/`` and a session cookie; wrong ones:
  the login page again (200), as ERS does.
- Any other path a test registered with ``add_file``: ``auth=True`` files need
  the session cookie (without it: 302 to the ERS login page, as
  landsatlook.usgs.gov does); ``Range`` is honoured; ``drop_once`` closes the
  connection half-way through the first full answer. Unknown paths: 404.

The tile stand-ins (``dswe_standin``, ``gfc_standin``, ``dem_standin``) are
cut from the small real rasters in ``../shared/data/misc`` and given the
georeference of the tiles they stand for; nothing of them is stored in the
repository.
"""

import datetime as dt
import json
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import numpy as np
import pytest

from replay_server import (  # noqa: F401 (RecordingFeedback: for the test modules)
    HttpsReplayServer, RecordingFeedback, ReplayHandler, login_fixtures,
)

REPLAY = Path(__file__).with_name("data") / "stac_replay.json"
USGS = "https://landsatlook.usgs.gov"
COOKIE = "EROS_SSO_production_secure"

# ------------------------------------------------------------------ stand-in tiles

MISC = Path(__file__).resolve().parents[2] / "shared" / "data" / "misc"
DSWX = MISC / "OPERA_L3_DSWx-HLS_T15QYU_20211011_B01_WTR.tif"
LANDSAT7 = MISC / "landsat7_RGB.byte.tif"
DALLAS = MISC / "hydrosheds_dem_dallas.tif"

# DSWE stand-ins: windows of the OPERA DSWx raster (UTM 15N, 30 m), every 4th pixel.
DSWX_ORIGIN = (699960.0, 1900020.0)
DSWE_STEP = 4
DSWE_TILES = [
    dict(id="LC08_CU_024003_20211011_20211020_02_DSWE", platform="LANDSAT_8",
         datetime="2021-10-11T16:29:40.000000Z", cloud=4.4, cols=(1220, 2440), rows=(0, 1832)),
    dict(id="LC08_CU_025003_20211011_20211020_02_DSWE", platform="LANDSAT_8",
         datetime="2021-10-11T16:29:40.000000Z", cloud=2.1, cols=(2440, 3660), rows=(0, 1832)),
    dict(id="LE07_CU_024003_20211019_20211028_02_DSWE", platform="LANDSAT_7",
         datetime="2021-10-19T16:05:12.000000Z", cloud=9.7, cols=(1220, 2440), rows=(0, 1832)),
]


def shared_path_or_skip():
    """Skip the test when the real rasters the stand-ins are cut from are absent."""
    for path in (DSWX, LANDSAT7, DALLAS):
        if not path.exists():
            pytest.skip(f"real data not available: {path} is absent (../shared/data is not "
                        "beside the checkout)")


def dswe_bounds(tile):
    """(left, bottom, right, top) of a DSWE stand-in in EPSG:32615."""
    x0, y0 = DSWX_ORIGIN
    (c0, c1), (r0, r1) = tile["cols"], tile["rows"]
    return x0 + 30.0 * c0, y0 - 30.0 * r1, x0 + 30.0 * c1, y0 - 30.0 * r0


def dswe_ring(tile):
    """The stand-in's footprint (lon, lat ring) as its STAC item gives it."""
    from rasterio.warp import transform

    left, bottom, right, top = dswe_bounds(tile)
    xs, ys = transform("EPSG:32615", "EPSG:4326", [left, right, right, left, left],
                       [top, top, bottom, bottom, top])
    return [[round(x, 7), round(y, 7)] for x, y in zip(xs, ys)]


def dswe_file_name(tile, layer):
    return f"{tile['id'][:-len('_DSWE')]}_{layer}.TIF"


def dswe_url_path(tile, layer):
    hh, vv = tile["id"].split("_")[2][:3], tile["id"].split("_")[2][3:]
    year = tile["datetime"][:4]
    return (f"/level-3/collection02/DSWE/{year}/CU/{hh}/{vv}/{tile['id']}/"
            f"{dswe_file_name(tile, layer)}")


def _geotiff(array, crs, transform, nodata=None, descriptions=None):
    import rasterio

    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=array.shape[2], height=array.shape[1],
                      count=array.shape[0], dtype=array.dtype, crs=crs, transform=transform,
                      nodata=nodata, compress="deflate", photometric="MINISBLACK") as dst:
            dst.write(array)
            for i, name in enumerate(descriptions or [], start=1):
                dst.set_band_description(i, name)
        return mem.read()


def dswe_arrays(tile):
    """(INWAM, MASK) arrays of a stand-in: DSWx codes recoded to DSWE's (253 cloud, 252 snow -> 9)."""
    import rasterio
    from rasterio.windows import Window

    (c0, c1), (r0, r1) = tile["cols"], tile["rows"]
    with rasterio.open(DSWX) as src:
        wtr = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))[::DSWE_STEP, ::DSWE_STEP]
    inwam = wtr.copy()
    inwam[np.isin(wtr, (252, 253))] = 9
    mask = np.where(wtr == 255, 255, np.isin(wtr, (252, 253)).astype("uint8")).astype("uint8")
    return inwam, mask


def dswe_standin(tile, layer):
    """GeoTIFF bytes of a DSWE stand-in layer (INWAM or MASK)."""
    from rasterio.transform import from_origin

    inwam, mask = dswe_arrays(tile)
    left, _, _, top = dswe_bounds(tile)
    transform = from_origin(left, top, 30.0 * DSWE_STEP, 30.0 * DSWE_STEP)
    array = {"INWAM": inwam, "MASK": mask}[layer]
    return _geotiff(array, "EPSG:32615", transform, nodata=255)


# GFC stand-ins: the two halves of the Landsat 7 RGB subset, each stretched over a
# 10 x 10 degree GFC tile; bands red, green, blue and red again stand for the four bands.
GFC_VERSION = "GFC-2023-v1.11"
GFC_TILES = {"40N_100W": ((0, 395), (-100.0, 40.0)), "40N_090W": ((395, 790), (-90.0, 40.0))}


def gfc_arrays(label):
    import rasterio

    (c0, c1), _ = GFC_TILES[label]
    with rasterio.open(LANDSAT7) as src:
        rgb = src.read()[:, :, c0:c1]
    return np.concatenate([rgb, rgb[:1]], axis=0)


def gfc_transform(label):
    """The stand-in's grid: its half of the Landsat 7 subset stretched over the 10 degree tile."""
    from rasterio.transform import from_origin

    (c0, c1), (west, north) = GFC_TILES[label]
    return from_origin(west, north, 10.0 / (c1 - c0), 10.0 / 718)


def gfc_standin(label):
    return _geotiff(gfc_arrays(label), "EPSG:4326", gfc_transform(label), nodata=0)


def gfc_url_path(label, layer="last", version=GFC_VERSION):
    return f"/earthenginepartners-hansen/{version}/Hansen_{version}_{layer}_{label}.tif"


# DEM/HAND stand-ins: the two halves of the HydroSHEDS Dallas DEM, each stretched over
# a 1 x 1 degree GLO-30 tile; HAND stands in as the DEM minus its minimum.
DEM_TILES = {"N32_00_W098_00": ((0, 183), (-98.0, 33.0)), "N32_00_W097_00": ((183, 366), (-97.0, 33.0))}


def dem_arrays(label, kind="DEM"):
    import rasterio

    (c0, c1), _ = DEM_TILES[label]
    with rasterio.open(DALLAS) as src:
        dem = src.read(1).astype("float32")
    part = dem[:, c0:c1]
    return part - dem.min() if kind == "HAND" else part


def dem_transform(label):
    from rasterio.transform import from_origin

    (c0, c1), (west, north) = DEM_TILES[label]
    return from_origin(west, north, 1.0 / (c1 - c0), 1.0 / 359)


def dem_standin(label, kind="DEM"):
    return _geotiff(dem_arrays(label, kind), "EPSG:4326", dem_transform(label))


def dem_url_path(label, kind="DEM"):
    name = f"Copernicus_DSM_COG_10_{label}_{kind}"
    if kind == "DEM":
        return f"/copernicus-dem-30m/{name}/{name}.tif"
    return f"/glo-30-hand/v1/2021/{name}.tif"


# ------------------------------------------------------------------ STAC filtering

def _time(text):
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _in_range(value, interval):
    if not interval:
        return True
    start, _, end = str(interval).partition("/") if "/" in str(interval) else (interval, "", interval)
    when = _time(value)
    if start not in ("", "..") and when < _time(start):
        return False
    if end not in ("", "..") and when > _time(end):
        return False
    return True


def _query_ok(props, query):
    for name, ops in (query or {}).items():
        value = props.get(name)
        for op, ref in ops.items():
            if op == "eq" and value != ref or op == "neq" and value == ref:
                return False
            if op == "in" and value not in ref:
                return False
            if op in ("lt", "lte", "gt", "gte"):
                if value is None:
                    return False
                if (op == "lt" and not value < ref or op == "lte" and not value <= ref
                        or op == "gt" and not value > ref or op == "gte" and not value >= ref):
                    return False
    return True


class FetchHandler(ReplayHandler):
    def _session(self):
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        return COOKIE in cookie and cookie[COOKIE].value in self.owner.sessions

    def _login_page(self, error=""):
        token = secrets.token_hex(8)
        self.owner.csrf.add(token)
        page = ("<html><body><form method='post' action='/login'>"
                f"<input type='hidden' name='csrf' value='{token}'/>"
                "<input name='username'/><input type='password' name='password'/>"
                f"</form><p class='error'>{error}</p></body></html>")
        self._send(200, page.encode(), {"Content-Type": "text/html"})

    def do_POST(self):  # noqa: N802
        server = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        path = urlparse(self.path).path
        if path == "/stac-server/search":
            body = json.loads(raw or "{}")
            self._record(body)
            return self._json(200, server.search(body), "application/geo+json")
        if path == "/login":
            form = dict(parse_qsl(raw))
            self._record({k: ("***" if k == "password" else v) for k, v in form.items()})
            if (form.get("csrf") in server.csrf and form.get("username") == server.username
                    and form.get("password") == server.password):
                token = secrets.token_hex(16)
                server.sessions.add(token)
                return self._send(302, headers={
                    "Location": f"https://{server.host}/",
                    "Set-Cookie": f"{COOKIE}={token}; Path=/; Secure; HttpOnly"})
            return self._login_page("Invalid username/password")
        self._record(raw)
        return self._json(404, {"code": "NotFound", "description": f"no such path {path}"})

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def do_GET(self):  # noqa: N802
        server = self.owner
        self._record()
        url = urlparse(self.path)
        path = url.path.rstrip("/") or "/"
        if path == "/stac-server":
            return self._json(200, server._rewrite(server.replay["landing"]))
        if path == "/stac-server/conformance":
            return self._json(200, {"conformsTo": server.replay["landing"]["conformsTo"]})
        if path == "/stac-server/search":
            query = dict(parse_qsl(url.query))
            body = {k: v for k, v in query.items()}
            for key in ("collections", "ids"):
                if key in body:
                    body[key] = body[key].split(",")
            for key in ("intersects", "query"):
                if key in body:
                    body[key] = json.loads(body[key])
            if "bbox" in body:
                body["bbox"] = body["bbox"].split(",")
            return self._json(200, server.search(body), "application/geo+json")
        if path == "/login":
            return self._login_page()
        if path == "/":
            return self._send(200, b"<html>USGS ERS home</html>", {"Content-Type": "text/html"})
        spec = server.files.get(url.path)
        if spec is None:
            return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>",
                              {"Content-Type": "application/xml"})
        if spec["auth"] and not self._session():
            return self._send(302, headers={
                "Location": f"https://{server.host}/login?RET_ADDR={url.path}"})
        return self._file(spec, "image/tiff")


class FetchServer(HttpsReplayServer):
    Handler = FetchHandler

    def __init__(self, folder, username, password):
        self.replay = json.loads(REPLAY.read_text())
        self.csrf = set()
        self.sessions = set()
        super().__init__(folder, username, password)

    @property
    def stac_url(self):
        return self.url("/stac-server")

    def _rewrite(self, data):
        return json.loads(json.dumps(data).replace(USGS, f"https://{self.host}"))

    def items(self):
        return self._rewrite(self.replay["items"])

    # ------------------------------------------------------------ STAC search
    def search(self, body):
        from shapely.geometry import box, shape

        collections = body.get("collections") or []
        area = None
        if body.get("intersects"):
            area = shape(body["intersects"])
        elif body.get("bbox"):
            area = box(*map(float, body["bbox"]))
        ids = body.get("ids") or []
        hits = []
        for item in self.replay["items"]:
            if collections and item["collection"] not in collections:
                continue
            if ids and item["id"] not in ids:
                continue
            if area is not None and not shape(item["geometry"]).intersects(area):
                continue
            if not _in_range(item["properties"]["datetime"], body.get("datetime")):
                continue
            if not _query_ok(item["properties"], body.get("query")):
                continue
            hits.append(item)
        hits.sort(key=lambda it: it["properties"]["datetime"], reverse=True)
        limit = int(body.get("limit") or 10)
        start = int(body.get("next") or 0)
        page = hits[start:start + limit]
        links = []
        if start + limit < len(hits):
            links.append({"rel": "next", "title": "Next page of Items", "method": "POST",
                          "type": "application/geo+json", "href": f"{USGS}/stac-server/search",
                          "merge": False, "body": dict(body, next=str(start + limit))})
        return self._rewrite({
            "type": "FeatureCollection", "stac_version": "1.0.0", "stac_extensions": [],
            "context": {"limit": limit, "matched": len(hits), "returned": len(page)},
            "numberMatched": len(hits), "numberReturned": len(page), "features": page,
            "links": links,
        })


# ------------------------------------------------------------------ test fixtures and helpers
# Shared by tests/test_fetch_*.py (import them into a test module to use them).

USER = "waterline-usgs-tester"
PASSWORD = "Usgs-pw-NEVER-leak-4d2a"  # appears nowhere but the auth databases
WRONG = "Wrong-usgs-NOLEAK-91bb"
GOOD_CFG, BAD_CFG = "wlusgs1", "wlusgs2"
server, trusted, authcfg, headless_auth, no_secret = login_fixtures(
    FetchServer, USER, PASSWORD, WRONG, (GOOD_CFG, BAD_CFG), "USGS", "usgs-auth")
