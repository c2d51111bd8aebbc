"""ASF search and download (asf_search + requests), no QGIS.

- ``search``: asf_search query -> plain footprint records (GeoJSON geometry in
  EPSG:4326 plus the attributes the footprint layer carries).
- ``login``: Earthdata Login with a user name and password through
  ``ASFSession.auth_with_creds``; the password is used for that one exchange
  and never kept, logged or put into an error message.
- ``download_file``: one granule into a folder with a ``.part`` file that is
  resumed with an HTTP Range request after a dropped connection (or on the
  next run), verified against the record's size and md5, and skipped when the
  complete file is already there.
- ``unpack_zip``: extract a product zip (RTC) next to it and list its GeoTIFFs.

Hosts are parameters (defaults: the real NASA/ASF services) so that tests can
point everything at a local replay server without patching asf_search.
"""

import hashlib
import os
import re
import shutil
import time
import uuid
import zipfile
from dataclasses import dataclass
from urllib.parse import urlparse, unquote

from shapely.geometry import shape

from ..core.cancel import Cancelled, check_cancel

CMR_HOST = "cmr.earthdata.nasa.gov"
EDL_HOST = "urs.earthdata.nasa.gov"
ASF_AUTH_HOST = "cumulus.asf.alaska.edu"
# Credentials (the Earthdata bearer token) are only ever sent to these domains
# or to the configured login hosts.
TRUSTED_DOMAINS = ("asf.alaska.edu", "earthdata.nasa.gov", "earthdatacloud.nasa.gov")

DATASETS = {"ALOS PALSAR": "ALOS PALSAR", "Sentinel-1": "SENTINEL-1"}
# asf_search spells the high-resolution RTC level RTC_HI_RES; accept both.
LEVEL_ALIASES = {"RTC_HIGH_RES": "RTC_HI_RES", "RTC_LOW_RES": "RTC_LOW_RES"}

# (name, kind) of the footprint attributes; kind is str, int or bigint.
FOOTPRINT_FIELDS = [
    ("granule", "str"), ("file_id", "str"), ("platform", "str"), ("beam_mode", "str"),
    ("polarization", "str"), ("start_time", "str"), ("end_time", "str"),
    ("path", "int"), ("frame", "int"), ("orbit", "int"), ("flight_dir", "str"),
    ("processing_level", "str"), ("url", "str"), ("file_name", "str"),
    ("size_bytes", "bigint"), ("md5", "str"),
]
_PROPERTY_OF = {
    "granule": "sceneName", "file_id": "fileID", "platform": "platform",
    "beam_mode": "beamModeType", "polarization": "polarization", "start_time": "startTime",
    "end_time": "stopTime", "path": "pathNumber", "frame": "frameNumber", "orbit": "orbit",
    "flight_dir": "flightDirection", "processing_level": "processingLevel", "url": "url",
    "file_name": "fileName", "size_bytes": "bytes", "md5": "md5sum",
}


class AsfError(ValueError):
    """A search or download problem with a sentence the user can act on."""


class AuthError(AsfError):
    """Earthdata Login refused the credentials (or the data needs them)."""


class CorruptDownload(AsfError):
    """The downloaded bytes do not match the record's size or md5."""


def _asf():
    try:
        import asf_search
    except ImportError as exc:
        raise AsfError(
            "The Python package asf_search is not installed in QGIS's Python "
            f"({exc}). Install it with: pip install 'asf_search==11.0.1' "
            "(later versions need shapely 2)."
        ) from None
    # Never post failed queries to ASF's error-report endpoint from a plugin.
    asf_search.REPORT_ERRORS = False
    return asf_search


def scrub(text, secrets):
    """``text`` with every secret replaced by ***, for any message we emit."""
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------- search

def _value(props, field, kind):
    value = props.get(_PROPERTY_OF[field])
    if value is None or value == "":
        return None
    if kind in ("int", "bigint"):
        try:
            return int(round(float(value)))
        except (TypeError, ValueError):
            return None
    return str(value)


def product_record(product):
    """One asf_search product as a footprint record (attributes + geometry)."""
    props = product.properties
    record = {name: _value(props, name, kind) for name, kind in FOOTPRINT_FIELDS}
    if record["granule"] is None:
        record["granule"] = record["file_id"]
    if record["file_name"] is None and record["url"]:
        record["file_name"] = os.path.basename(urlparse(record["url"]).path)
    record["geometry"] = product.geometry
    try:
        record["wkt"] = shape(product.geometry).wkt
    except (KeyError, ValueError, TypeError, AttributeError):
        record["wkt"] = None
    return record


def search(aoi_wkt, start=None, end=None, dataset="ALOS PALSAR", processing_level=None,
           beam_mode=None, polarization=None, max_results=100, host=CMR_HOST):
    """Search ASF (CMR) and return footprint records, newest first.

    ``aoi_wkt`` is a polygon in EPSG:4326; ``start``/``end`` are datetimes or
    ISO strings; list-like filters accept comma-separated strings.
    """
    asf = _asf()
    if dataset not in DATASETS:
        raise AsfError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    opts = dict(host=host, dataset=DATASETS[dataset], intersectsWith=aoi_wkt,
                maxResults=int(max_results))
    if start:
        opts["start"] = start
    if end:
        opts["end"] = end
    for key, value in (("processingLevel", processing_level), ("beamMode", beam_mode),
                       ("polarization", polarization)):
        items = [v.strip() for v in (value or "").split(",") if v.strip()]
        if key == "processingLevel":
            items = [LEVEL_ALIASES.get(v.upper(), v) for v in items]
        if items:
            opts[key] = items
    try:
        results = asf.search(opts=asf.ASFSearchOptions(**opts))
    except asf.ASFSearchError as exc:
        raise AsfError(f"The ASF search at {host} failed: {exc}") from None
    except ValueError as exc:  # option validation (bad WKT, bad date, ...)
        raise AsfError(f"The ASF search failed (bad option or unreadable answer): {exc}") from None
    except OSError as exc:  # requests' ConnectionError/SSLError are OSErrors
        raise AsfError(f"Could not reach the ASF search service at {host}: {exc}") from None
    return [product_record(p) for p in results]


# -------------------------------------------------------------- download

def login(username, password, edl_host=EDL_HOST, asf_auth_host=ASF_AUTH_HOST):
    """An ASFSession logged in to Earthdata (bearer token + asf-urs cookie)."""
    asf = _asf()
    if not username or not password:
        raise AuthError("The authentication configuration has an empty user name or password.")
    session = asf.ASFSession(edl_host=edl_host, asf_auth_host=asf_auth_host)
    try:
        session.auth_with_creds(username, password)
    except asf.exceptions.ASFAuthenticationError as exc:
        detail = scrub(exc, [password])
        status = re.search(r"\b(401|403)\b", detail)
        if status:
            raise AuthError(
                f"Earthdata Login at {edl_host} refused the user name and password "
                f"(HTTP {status.group(1)}). Check the login stored in the QGIS authentication "
                "configuration (Settings > Options > Authentication) and that it works at "
                "https://urs.earthdata.nasa.gov."
            ) from None
        raise AuthError(f"Earthdata Login at {edl_host} failed: {detail}") from None
    except OSError as exc:
        raise AsfError(
            f"Could not reach Earthdata Login at {edl_host}: {scrub(exc, [password])}"
        ) from None
    finally:
        session.auth = None  # the password is not kept in the session
    return session


def check_url(url, extra_hosts=()):
    """Refuse URLs that would send the Earthdata token somewhere else."""
    parsed = urlparse(url or "")
    if parsed.scheme != "https" or not parsed.netloc:
        raise AsfError(f"The download URL {url!r} is not an https URL.")
    host = parsed.hostname or ""
    if parsed.netloc in extra_hosts or any(
        host == d or host.endswith("." + d) for d in TRUSTED_DOMAINS
    ):
        return parsed
    raise AsfError(
        f"The download URL host {parsed.netloc} is not an ASF/Earthdata host; the Earthdata "
        "login is not sent there. Use URLs from the Search ASF footprints."
    )


def file_name_for(url):
    name = os.path.basename(unquote(urlparse(url).path))
    if not name or name in (".", ".."):
        raise AsfError(f"The download URL {url!r} has no file name.")
    return name


def md5_of(path, is_canceled=None, chunk=1 << 20):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            check_cancel(is_canceled)
            digest.update(block)
    return digest.hexdigest()


def verify(path, size=None, md5=None, is_canceled=None):
    """None when ``path`` matches the expected size/md5, else the reason."""
    actual = os.path.getsize(path)
    if size and actual != size:
        return f"size is {actual} bytes but the record says {size}"
    if md5:
        got = md5_of(path, is_canceled)
        if got.lower() != md5.lower():
            return f"md5 is {got} but the record says {md5}"
    return None


@dataclass
class Downloaded:
    path: str
    status: str  # "downloaded", "resumed" or "skipped"
    size: int
    attempts: int


def _total_from(response, offset):
    """Total file size announced by a 200/206 response, or None."""
    if response.status_code == 206:
        match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != offset:
            return "bad-range"
        return int(match.group(3)) if match.group(3) != "*" else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def download_file(session, url, folder, size=None, md5=None, progress=None, is_canceled=None,
                  info=None, max_attempts=5, timeout=60, chunk=1 << 16, retry_wait=0.5):
    """Download ``url`` into ``folder``; resume, verify, skip when complete.

    Bytes go to ``<name>.part`` first, renamed only after the size (record's
    ``size`` or the server's own length) and ``md5`` check out. A dropped
    connection is resumed with ``Range`` up to ``max_attempts`` requests; on
    cancel the ``.part`` file stays so the next run resumes it.
    """
    import requests

    say = info or (lambda message: None)
    name = file_name_for(url)
    final = os.path.join(folder, name)
    part = final + ".part"
    size = int(size) if size else None
    os.makedirs(folder, exist_ok=True)

    if os.path.exists(final):
        reason = verify(final, size, md5, is_canceled)
        if reason is None:
            return Downloaded(final, "skipped", os.path.getsize(final), 0)
        say(f"{name}: the existing file is incomplete or corrupt ({reason}); downloading again.")
        os.remove(final)

    resumed = os.path.exists(part) and os.path.getsize(part) > 0
    total = size
    attempts = 0
    while True:
        offset = os.path.getsize(part) if os.path.exists(part) else 0
        if total is not None and offset >= total:
            break
        if attempts >= max_attempts:
            raise AsfError(
                f"{name}: the connection kept dropping ({attempts} attempts, {offset} bytes "
                "received); the partial file is kept and the next run resumes it."
            )
        attempts += 1
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with session.get(url, stream=True, headers=headers, timeout=timeout) as response:
                if response.status_code in (401, 403):
                    raise AuthError(
                        f"{name}: the server answered HTTP {response.status_code}: the Earthdata "
                        "login was not accepted for this file (check the login, and accept the "
                        "dataset's licence at https://urs.earthdata.nasa.gov if asked)."
                    )
                if response.status_code == 416 and offset:
                    say(f"{name}: the partial file is not resumable; starting again.")
                    os.remove(part)
                    continue
                if response.status_code not in (200, 206):
                    raise AsfError(f"{name}: the server answered HTTP {response.status_code}.")
                if response.status_code == 200:  # full body (server ignored Range)
                    offset, mode = 0, "wb"
                    announced = _total_from(response, 0)
                else:
                    announced = _total_from(response, offset)
                    if announced == "bad-range":  # resumed elsewhere: start over
                        say(f"{name}: the server resumed at the wrong byte; starting again.")
                        os.remove(part)
                        continue
                    mode = "ab"
                if announced is not None and size is not None and announced != size:
                    raise CorruptDownload(
                        f"{name}: the server offers {announced} bytes but the record says "
                        f"{size}; refusing the file (nothing was kept)."
                    )
                total = size or announced
                received = offset
                with open(part, mode) as out:
                    for block in response.iter_content(chunk_size=chunk):
                        check_cancel(is_canceled)
                        out.write(block)
                        received += len(block)
                        if progress and total:
                            progress(received / total)
                if announced is not None and received < announced:
                    # urllib3 1.x ends a short body silently: treat it as a drop.
                    raise requests.exceptions.ChunkedEncodingError(
                        f"connection closed after {received} of {announced} bytes"
                    )
                if total is None:
                    total = received
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.Timeout) as exc:
            got = os.path.getsize(part) if os.path.exists(part) else 0
            say(f"{name}: connection dropped at {got} bytes ({type(exc).__name__}); resuming.")
            resumed = True
            time.sleep(min(retry_wait * attempts, 5.0))
            continue
        except CorruptDownload:
            if os.path.exists(part):
                os.remove(part)
            raise
        if total is not None:
            break

    reason = verify(part, size or total, md5, is_canceled)
    if reason is not None:
        os.remove(part)
        raise CorruptDownload(
            f"{name}: refusing the downloaded file: its {reason}. The file was removed; "
            "run again to download it afresh."
        )
    os.replace(part, final)
    return Downloaded(final, "resumed" if resumed else "downloaded", os.path.getsize(final),
                      attempts)


# ---------------------------------------------------------------- unpack

def geotiffs_in(folder):
    found = []
    for root, _dirs, files in os.walk(folder):
        found += [os.path.join(root, f) for f in files if f.lower().endswith((".tif", ".tiff"))]
    return sorted(found)


def unpack_zip(path, is_canceled=None):
    """Extract ``<name>.zip`` into ``<name>/`` beside it; return its GeoTIFFs.

    Already-unpacked folders are reused. Extraction goes to a temporary folder
    that is renamed at the end, so a failure leaves no half-unpacked product.
    """
    target = os.path.splitext(path)[0]
    if os.path.isdir(target):
        return geotiffs_in(target)
    tmp = f"{target}.{uuid.uuid4().hex[:8]}.unpacking"
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                check_cancel(is_canceled)
                name = member.filename
                if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name):
                    raise AsfError(f"{os.path.basename(path)} holds an unsafe path {name!r}.")
                archive.extract(member, tmp)
        # Products zip a single top folder; keep its contents directly in target.
        entries = os.listdir(tmp)
        inner = os.path.join(tmp, entries[0]) if len(entries) == 1 else tmp
        if inner != tmp and os.path.isdir(inner):
            os.replace(inner, target)
        else:
            os.replace(tmp, target)
    except zipfile.BadZipFile as exc:
        raise AsfError(f"{os.path.basename(path)} is not a valid zip file ({exc}).") from None
    except Cancelled:
        raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return geotiffs_in(target)
