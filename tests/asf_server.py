"""A local HTTPS stand-in for CMR, Earthdata Login and the ASF data pool.

Started by the tests on 127.0.0.1 with a throw-away self-signed certificate
(the tests trust it through REQUESTS_CA_BUNDLE). It answers:

- ``POST /search/granules.umm_json``: asf_search's CMR query, with the
  recorded real granules in ``tests/data/asf_replay.json`` (derived by
  ``tools/derive_asf_replay.py``) filtered the way CMR would (collection,
  temporal range, bounding box/polygon, beam mode, polarization, page size).
  Data URLs are rewritten to this server.
- ``POST /api/users/find_or_create_token``, ``GET /oauth/authorize``,
  ``GET /login``: the Earthdata Login exchange that
  ``ASFSession.auth_with_creds`` performs (Basic auth -> bearer token ->
  ``asf-urs`` cookie); wrong credentials get HTTP 401.
- ``GET /datapool/<path>``: small files registered by a test, only with the
  bearer token; honours ``Range``. ``drop_once`` closes the connection
  half-way through the first full response of a file (with the full
  Content-Length announced).
"""

import base64
import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

REPLAY = Path(__file__).with_name("data") / "asf_replay.json"
TOKEN = "replay-bearer-token-0123456789"


def self_signed_cert(folder):
    """Write cert.pem/key.pem for 127.0.0.1 into ``folder``; return the paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.utcnow()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(folder)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _attr(umm, name):
    for attr in umm.get("AdditionalAttributes", []):
        if attr.get("Name") == name:
            return attr.get("Values", [None])[0]
    return None


def _collection_names(concept_ids):
    from asf_search.CMR.datasets import dataset_collections

    wanted = set(concept_ids)
    return {short for groups in dataset_collections.values()
            for short, ids in groups.items() if wanted & set(ids)}


def _footprint(umm):
    from shapely.geometry import Polygon

    poly = umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]
    points = poly["Boundary"]["Points"]
    return Polygon([(p["Longitude"], p["Latitude"]) for p in points])


def _query_shape(form):
    from shapely.geometry import Polygon, box

    for key, value in form:
        if key == "bounding_box":
            return box(*map(float, value.split(",")))
        if key == "polygon":
            xy = list(map(float, value.split(",")))
            return Polygon(list(zip(xy[0::2], xy[1::2])))
    return None


class ReplayServer:
    def __init__(self, folder, username, password):
        self.cert, key = self_signed_cert(folder)
        self.username, self.password = username, password
        self.granules = json.loads(REPLAY.read_text())["granules"]
        self.files = {}  # "/datapool/..." -> dict(content=bytes, drop_once=bool)
        self.requests = []  # (method, path, headers dict, form list)
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def url(self, path):
        return f"https://{self.host}{path}"

    def add_file(self, path, content, drop_once=False):
        self.files[path] = dict(content=content, drop_once=drop_once)
        return self.url(path)

    def recorded(self, path_prefix):
        with self.lock:
            return [r for r in self.requests if r[1].startswith(path_prefix)]

    # ---------------------------------------------------------------- CMR
    def search(self, form):
        collections = _collection_names(v for k, v in form if k == "echo_collection_id[]")
        attrs = [v.split(",", 2) for k, v in form if k == "attribute[]"]
        temporal = [v for k, v in form if k == "temporal"]
        shape = _query_shape(form)
        page = int(dict(form).get("page_size", 250))
        items = []
        for group in self.granules.values():
            for granule in group:
                umm = granule["umm"]
                if collections and granule["collection"] not in collections:
                    continue
                if any(_attr(umm, name) not in value.split(",") for _t, name, value in attrs):
                    continue
                if temporal:
                    start, end = (temporal[0].split(",") + ["", ""])[:2]
                    begin = umm["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"]
                    if (start and begin < start) or (end and begin > end):
                        continue
                if shape is not None and not _footprint(umm).intersects(shape):
                    continue
                text = json.dumps(umm).replace(
                    "https://datapool.asf.alaska.edu/", f"https://{self.host}/datapool/")
                items.append({"meta": granule["meta"], "umm": json.loads(text)})
        return {"hits": len(items), "took": 3, "items": items[:page]}

    # ------------------------------------------------------------ handler
    def _handler(server):  # noqa: N805 - closure over the ReplayServer
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            timeout = 20

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=None):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, status, data, headers=None):
                self._send(status, json.dumps(data).encode(),
                           dict({"Content-Type": "application/json"}, **(headers or {})))

            def _basic_ok(self):
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Basic "):
                    return False
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                return user == server.username and pw == server.password

            def _record(self, form=None):
                with server.lock:
                    server.requests.append((self.command, self.path, dict(self.headers), form))

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qsl(self.rfile.read(length).decode())
                self._record(form)
                path = urlparse(self.path).path
                if path == "/search/granules.umm_json":
                    return self._json(200, server.search(form))
                if path == "/api/users/find_or_create_token":
                    if not self._basic_ok():
                        return self._json(401, {"error": "invalid_credentials"})
                    return self._json(200, {"access_token": TOKEN, "token_type": "Bearer"})
                return self._json(404, {"errors": [f"no such path {path}"]})

            def do_GET(self):
                self._record()
                url = urlparse(self.path)
                if url.path == "/oauth/authorize":
                    if not self._basic_ok():
                        return self._json(401, {"error": "invalid_credentials"})
                    target = dict(parse_qsl(url.query))["redirect_uri"]
                    return self._send(302, headers={"Location": f"{target}?code=replay"})
                if url.path == "/login":
                    return self._send(200, b"ok", {"Set-Cookie": "asf-urs=replay-cookie; Path=/"})
                if url.path in server.files:
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        return self._json(401, {"error": "login required"})
                    return self._file(server.files[url.path])
                return self._json(404, {"errors": [f"no such path {url.path}"]})

            def _file(self, spec):
                content = spec["content"]
                total = len(content)
                start = 0
                rng = self.headers.get("Range", "")
                if rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    if start >= len(content):
                        return self._send(416, headers={"Content-Range": f"bytes */{total}"})
                body = content[start:]
                if start:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(total - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if spec["drop_once"] and not start:
                    spec["drop_once"] = False
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.close()  # simulate a dropped connection
                    return
                self.wfile.write(body)

        return Handler
