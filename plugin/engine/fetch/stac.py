"""Landsat and DSWE from the USGS STAC API (pystac-client + requests), no QGIS.

- ``search``: Landsat Collection 2 Level-1 (``landsat-c2l1``) or Level-2
  (``landsat-c2l2-sr``) scenes over an area, a date range, a cloud cover limit
  and a set of sensors (Landsat 4, 5, 7, 8, 9), as plain footprint records
  (GeoJSON geometry in EPSG:4326 plus the attributes the footprint layer
  carries, among them every asset URL as JSON).
- ``search_dswe``: the Landsat C2 Level-3 DSWE tiles (``landsat-c2l3-dswe``)
  acquired within +/- N days of each SAR footprint's date and touching it.
- ``ers_login``: a USGS ERS (EarthExplorer) login: the login form's CSRF
  token, then the user name and password posted once; the session keeps only
  the cookies. The password is never kept, logged or put into a message.
- ``UsgsSession``: a requests session for USGS downloads that turns a refused
  login (HTTP 401/403, or a redirect to the ERS login page) into ``AuthError``
  instead of saving a login page as a GeoTIFF. Files are downloaded with the
  ASF downloader (``asf.download_file``: ``.part`` file, HTTP Range resume,
  size check, skip when complete).
- ``band_assets`` / ``layer_assets``: which asset URLs of a record to fetch.

The STAC API URL and the ERS host are parameters (defaults: the real USGS
services) so that tests point everything at a local replay server.
"""

import datetime as dt
import json
import os
import re
from urllib.parse import urlparse

from shapely.geometry import shape

from . import asf

STAC_URL = "https://landsatlook.usgs.gov/stac-server"
ERS_HOST = "ers.cr.usgs.gov"
# A USGS login (cookies) is only ever sent to these domains or the configured hosts.
TRUSTED_DOMAINS = ("usgs.gov",)

LEVELS = {"Level-1": "landsat-c2l1", "Level-2": "landsat-c2l2-sr"}
DSWE_COLLECTION = "landsat-c2l3-dswe"
SENSORS = {"Landsat 4": "LANDSAT_4", "Landsat 5": "LANDSAT_5", "Landsat 7": "LANDSAT_7",
           "Landsat 8": "LANDSAT_8", "Landsat 9": "LANDSAT_9"}
MAX_PAGE = 100  # items per request (the server's page size limit is larger)

# (name, kind) of the footprint attributes; kind is str, int or double.
FOOTPRINT_FIELDS = [
    ("scene_id", "str"), ("datetime", "str"), ("date", "str"), ("platform", "str"),
    ("sensor", "str"), ("path", "int"), ("row", "int"), ("cloud_cover", "double"),
    ("cloud_cover_land", "double"), ("collection", "str"), ("category", "str"),
    ("correction", "str"), ("epsg", "int"), ("thumbnail", "str"), ("stac_item", "str"),
    ("assets", "str"),
]
DSWE_FIELDS = [
    ("dswe_id", "str"), ("datetime", "str"), ("date", "str"), ("platform", "str"),
    ("tile", "str"), ("cloud_cover", "double"), ("collection", "str"), ("sar_granules", "str"),
    ("days_apart", "int"), ("stac_item", "str"), ("assets", "str"),
]

# Band presets for downloads: what CALFIN (subset_scenes) and the water stack read.
PRESETS = {
    "calfin_pan": ["pan", "qa_pixel"],
    "calfin_red": ["red", "qa_pixel"],
    "water_optical": ["red", "nir08", "swir16", "swir22", "qa_pixel"],
}
# Landsat 4-5 TM and 1-5 MSS have no panchromatic band: the CALFIN preset takes red there.
PAN_FALLBACK = "red"


class LandsatError(ValueError):
    """A search or download problem with a sentence the user can act on."""


class AuthError(asf.AuthError, LandsatError):
    """The USGS login was refused, or a file needs a login that was not given."""


def _pystac_client():
    try:
        import pystac_client
    except ImportError as exc:
        raise LandsatError(
            "The Python package pystac-client is not installed in QGIS's Python "
            f"({exc}). Install it with: pip install 'pystac-client==0.9.1' 'pystac==1.13.0'."
        ) from None
    return pystac_client


def scrub(text, secrets):
    return asf.scrub(text, secrets)


# ---------------------------------------------------------------- records

def _number(value, kind):
    if value is None or value == "":
        return None
    try:
        return int(round(float(value))) if kind == "int" else float(value)
    except (TypeError, ValueError):
        return None


def _self_link(item):
    for link in item.get("links", []):
        if link.get("rel") == "self":
            return link.get("href")
    return None


def _asset_hrefs(item):
    return {key: asset.get("href") for key, asset in (item.get("assets") or {}).items()
            if asset.get("href")}


def _when(props):
    text = props.get("datetime") or props.get("start_datetime") or ""
    return str(text), str(text)[:10]


def item_record(item):
    """One STAC Landsat item (a dict) as a footprint record (attributes + geometry)."""
    props = item.get("properties", {})
    when, day = _when(props)
    hrefs = _asset_hrefs(item)
    instruments = props.get("instruments") or []
    record = dict(
        scene_id=item.get("id"), datetime=when, date=day, platform=props.get("platform"),
        sensor="/".join(map(str, instruments)) if isinstance(instruments, list) else str(instruments),
        path=_number(props.get("landsat:wrs_path"), "int"),
        row=_number(props.get("landsat:wrs_row"), "int"),
        cloud_cover=_number(props.get("eo:cloud_cover"), "double"),
        cloud_cover_land=_number(props.get("landsat:cloud_cover_land"), "double"),
        collection=item.get("collection"), category=props.get("landsat:collection_category"),
        correction=props.get("landsat:correction"), epsg=_number(props.get("proj:epsg"), "int"),
        thumbnail=hrefs.get("thumbnail"), stac_item=_self_link(item),
        assets=json.dumps(hrefs, sort_keys=True),
    )
    record["geometry"] = item.get("geometry")
    try:
        record["wkt"] = shape(item["geometry"]).wkt
    except (KeyError, ValueError, TypeError, AttributeError):
        record["wkt"] = None
    return record


_TILE = re.compile(r"_CU_(\d{6})_|_(AK|HI)_(\d{6})_")


def dswe_record(item, granules=(), days_apart=None):
    props = item.get("properties", {})
    when, day = _when(props)
    match = _TILE.search(item.get("id") or "")
    tile = (match.group(1) or match.group(3)) if match else None
    hrefs = _asset_hrefs(item)
    record = dict(
        dswe_id=item.get("id"), datetime=when, date=day, platform=props.get("platform"),
        tile=tile, cloud_cover=_number(props.get("eo:cloud_cover"), "double"),
        collection=item.get("collection"), sar_granules=";".join(granules),
        days_apart=days_apart, stac_item=_self_link(item), assets=json.dumps(hrefs, sort_keys=True),
    )
    record["geometry"] = item.get("geometry")
    try:
        record["wkt"] = shape(item["geometry"]).wkt
    except (KeyError, ValueError, TypeError, AttributeError):
        record["wkt"] = None
    return record


# ---------------------------------------------------------------- search

def _iso(value, end=False):
    """An RFC 3339 UTC timestamp for a date, datetime or ISO text (a date's end is 23:59:59)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            value = dt.date.fromisoformat(text)
        else:
            return text if text.endswith("Z") or "+" in text[10:] else text + "Z"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat() + ("T23:59:59Z" if end else "T00:00:00Z")
    raise LandsatError(f"{value!r} is not a date.")


def _unreachable(exc):
    """Whether pystac-client's APIError wraps a connection failure (not an answer)."""
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, OSError) or "Max retries exceeded" in str(exc)


def _open(url, timeout=60):
    pystac_client = _pystac_client()
    try:
        return pystac_client.Client.open(url, timeout=timeout)
    except pystac_client.exceptions.APIError as exc:
        if _unreachable(exc):
            raise LandsatError(f"Could not reach the STAC API at {url}: {exc}") from None
        raise LandsatError(f"The STAC API at {url} answered with an error: {exc}") from None
    except OSError as exc:  # requests' ConnectionError/SSLError are OSErrors
        raise LandsatError(f"Could not reach the STAC API at {url}: {exc}") from None
    except ValueError as exc:  # not JSON, not a catalog
        raise LandsatError(f"{url} does not look like a STAC API ({exc}).") from None


def _items(client, url, max_items, is_canceled=None, **search):
    pystac_client = _pystac_client()
    from ..core.cancel import check_cancel

    try:
        found = client.search(max_items=max_items, limit=min(MAX_PAGE, max_items), **search)
        items = []
        for item in found.items_as_dicts():
            check_cancel(is_canceled)
            items.append(item)
        return items
    except pystac_client.exceptions.APIError as exc:
        if _unreachable(exc):
            raise LandsatError(f"Could not reach the STAC API at {url}: {exc}") from None
        raise LandsatError(f"The STAC search at {url} failed: {exc}") from None
    except OSError as exc:
        raise LandsatError(f"Could not reach the STAC API at {url}: {exc}") from None
    except NotImplementedError as exc:
        raise LandsatError(f"The STAC API at {url} does not offer item search ({exc}).") from None


def search(aoi, start=None, end=None, level="Level-1", sensors=("Landsat 8", "Landsat 9"),
           max_cloud=100.0, max_results=100, url=STAC_URL, is_canceled=None):
    """Landsat scenes touching ``aoi`` (a GeoJSON-like polygon in EPSG:4326), newest first.

    ``start``/``end`` are dates (``end`` includes that whole day), datetimes or
    ISO text; ``max_cloud`` is the scene cloud cover limit in percent. The
    server filters by collection, area, dates, cloud cover and platform (STAC
    query extension); the same rules are applied again here, so a server that
    ignores a filter cannot widen the result.
    """
    if level not in LEVELS:
        raise LandsatError(f"Unknown level {level!r}; choose one of {', '.join(LEVELS)}.")
    unknown = [s for s in sensors if s not in SENSORS]
    if unknown or not sensors:
        raise LandsatError(f"Choose sensors among {', '.join(SENSORS)} (got {list(sensors)}).")
    platforms = sorted(SENSORS[s] for s in sensors)
    query = {"platform": {"in": platforms}}
    if max_cloud is not None and max_cloud < 100:
        query["eo:cloud_cover"] = {"lte": float(max_cloud)}
    begin, finish = _iso(start), _iso(end, end=True)
    client = _open(url)
    items = _items(client, url, int(max_results), is_canceled, collections=[LEVELS[level]],
                   intersects=aoi, datetime=[begin, finish] if (begin or finish) else None,
                   query=query)
    area = shape(aoi)
    keep = []
    for item in items:
        props = item.get("properties", {})
        cloud = _number(props.get("eo:cloud_cover"), "double")
        if str(props.get("platform", "")).upper() not in platforms:
            continue
        if max_cloud is not None and max_cloud < 100 and (cloud is None or cloud > max_cloud):
            continue
        when = _when(props)[0]
        if (begin and when[:19] < begin[:19]) or (finish and when[:19] > finish[:19]):
            continue
        try:
            if not shape(item["geometry"]).intersects(area):
                continue
        except (KeyError, ValueError, TypeError, AttributeError):
            continue
        keep.append(item)
    keep.sort(key=lambda it: _when(it.get("properties", {}))[0], reverse=True)
    return [item_record(item) for item in keep]


def search_dswe(scenes, max_days=1, url=STAC_URL, max_per_scene=100, is_canceled=None,
                progress=None):
    """DSWE tiles within +/- ``max_days`` of each SAR scene that touch its footprint.

    ``scenes``: dicts with ``granule``, ``date`` (datetime.date) and ``geometry``
    (GeoJSON polygon, EPSG:4326). Returns DSWE records (one per tile and
    date), each naming the SAR granules it was found for and the smallest
    number of days between them, sorted by date and id.
    """
    client = _open(url)
    found = {}
    for i, scene in enumerate(scenes):
        day = scene["date"]
        begin = _iso(day - dt.timedelta(days=int(max_days)))
        finish = _iso(day + dt.timedelta(days=int(max_days)), end=True)
        items = _items(client, url, int(max_per_scene), is_canceled, collections=[DSWE_COLLECTION],
                       intersects=scene["geometry"], datetime=[begin, finish])
        area = shape(scene["geometry"])
        for item in items:
            when = _when(item.get("properties", {}))[1]
            try:
                apart = abs((dt.date.fromisoformat(when) - day).days)
                if apart > max_days or not shape(item["geometry"]).intersects(area):
                    continue
            except (KeyError, ValueError, TypeError, AttributeError):
                continue
            entry = found.setdefault(item["id"], dict(item=item, granules=[], apart=apart))
            if scene["granule"] not in entry["granules"]:
                entry["granules"].append(scene["granule"])
            entry["apart"] = min(entry["apart"], apart)
        if progress:
            progress((i + 1) / len(scenes))
    records = [dswe_record(e["item"], e["granules"], e["apart"]) for e in found.values()]
    records.sort(key=lambda r: (r["datetime"], r["dswe_id"]))
    return records


# ---------------------------------------------------------------- assets

def _suffix(href):
    """'B8' for ..._B8.TIF, 'QA_PIXEL' for ..._QA_PIXEL.TIF, 'INWAM' for ..._02_INWAM.TIF."""
    stem = os.path.splitext(os.path.basename(urlparse(href).path))[0]
    match = re.search(r"_(?:\d{2}_)?((?:SR_|ST_)?(?:B\d{1,2}|[A-Z][A-Z_]*))$", stem)
    return match.group(1).upper() if match else stem.upper()


def _find(assets, wanted):
    """The href of asset ``wanted``: an asset key (pan, red, qa_pixel, inwam) or a file suffix (B8)."""
    for key, href in assets.items():
        if key.lower() == wanted.lower():
            return href
    for href in assets.values():
        suffix = _suffix(href)
        if suffix == wanted.upper() or suffix.endswith("_" + wanted.upper()):
            return href
    return None


def band_assets(record_assets, bands):
    """[(band, href)] for the wanted bands of one scene, and the bands it lacks.

    ``bands`` are asset keys (pan, red, nir08, swir16, swir22, qa_pixel) or
    file suffixes (B8, B4); ``pan`` falls back to red on sensors without a
    panchromatic band (Landsat 4-5 TM).
    """
    assets = json.loads(record_assets) if isinstance(record_assets, str) else dict(record_assets)
    found, missing = [], []
    for band in bands:
        href = _find(assets, band)
        if href is None and band.lower() == "pan":
            href = _find(assets, PAN_FALLBACK)
            band = PAN_FALLBACK if href else band
        if href is None:
            missing.append(band)
        elif href not in [h for _, h in found]:
            found.append((band, href))
    return found, missing


def layer_assets(record_assets, layers):
    """[(layer, href)] of the DSWE layers (INWAM, MASK, INTR, ...) and the layers missing."""
    return band_assets(record_assets, layers)


# ---------------------------------------------------------------- download

def check_url(url, extra_hosts=()):
    """Refuse URLs that would send the USGS login somewhere else (or in clear text)."""
    parsed = urlparse(url or "")
    if parsed.scheme != "https" or not parsed.netloc:
        raise LandsatError(f"The download URL {url!r} is not an https URL.")
    host = parsed.hostname or ""
    if parsed.netloc in extra_hosts or any(host == d or host.endswith("." + d)
                                           for d in TRUSTED_DOMAINS):
        return parsed
    raise LandsatError(
        f"The download URL host {parsed.netloc} is not a USGS host; the USGS login is not sent "
        "there. Use URLs from the 'Search Landsat' footprints.")


def _session_class():
    import requests

    class UsgsSession(requests.Session):
        """A session whose refused logins raise ``AuthError`` (never saved as data)."""

        login_host = ERS_HOST
        logged_in = False

        def request(self, method, url, *args, **kwargs):
            response = super().request(method, url, *args, **kwargs)
            if getattr(self, "_in_login", False):
                return response
            final = urlparse(response.url)
            on_login_page = (final.netloc == self.login_host or final.hostname == self.login_host) \
                and "login" in final.path.lower()
            if response.status_code in (401, 403) or on_login_page:
                name = os.path.basename(urlparse(url).path) or url
                status = response.status_code
                response.close()
                if self.logged_in:
                    raise AuthError(
                        f"{name}: the USGS server refused the ERS login for this file (HTTP "
                        f"{status}{', redirected to the login page' if on_login_page else ''}). "
                        "Check that the account may download Landsat data "
                        "(https://ers.cr.usgs.gov/profile).")
                raise AuthError(
                    f"{name}: the USGS server needs a login for this file (HTTP {status}"
                    f"{', redirected to the login page' if on_login_page else ''}). Choose an "
                    "authentication configuration (Basic) holding your USGS ERS "
                    "(EarthExplorer) user name and password.")
            return response

    return UsgsSession


def usgs_session(login_host=ERS_HOST):
    """An anonymous USGS download session (see ``ers_login`` for a logged-in one)."""
    session = _session_class()()
    session.login_host = login_host
    session.headers["User-Agent"] = "waterline-qgis-plugin"
    return session


_CSRF = re.compile(r"""<input[^>]+name=["']csrf["'][^>]+value=["']([^"']*)["']""", re.I)


def ers_login(username, password, host=ERS_HOST, timeout=60):
    """A USGS download session logged in to ERS (cookies only; the password is not kept)."""
    if not username or not password:
        raise AuthError("The authentication configuration has an empty user name or password.")
    session = usgs_session(host)
    login_url = f"https://{host}/login"
    session._in_login = True
    try:
        page = session.get(login_url, timeout=timeout)
        if page.status_code != 200:
            raise LandsatError(f"The USGS ERS login page at {host} answered HTTP {page.status_code}.")
        match = _CSRF.search(page.text)
        if not match:
            raise LandsatError(f"The USGS ERS login page at {host} has no login form (no csrf token).")
        answer = session.post(login_url, data={"username": username, "password": password,
                                               "csrf": match.group(1)},
                              timeout=timeout, allow_redirects=True)
        landed = urlparse(answer.url)
        if answer.status_code in (401, 403) or landed.path.rstrip("/").lower().endswith("/login"):
            raise AuthError(
                f"USGS ERS at {host} refused the user name and password (HTTP "
                f"{answer.status_code}, back on the login page). Check the login stored in the "
                "QGIS authentication configuration (Settings > Options > Authentication) and "
                "that it works at https://ers.cr.usgs.gov.")
        if answer.status_code >= 400:
            raise LandsatError(f"USGS ERS at {host} answered HTTP {answer.status_code} to the login.")
    except OSError as exc:
        raise LandsatError(f"Could not reach USGS ERS at {host}: {scrub(exc, [password])}") from None
    finally:
        session._in_login = False
    session.logged_in = True
    return session


def download(session, url, folder, progress=None, is_canceled=None, info=None, **kwargs):
    """One file into ``folder`` with the ASF downloader (resume, size check, skip when complete)."""
    return asf.download_file(session, url, folder, progress=progress, is_canceled=is_canceled,
                             info=info, **kwargs)
