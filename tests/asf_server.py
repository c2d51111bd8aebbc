"""A local HTTPS stand-in for CMR, Earthdata Login and the ASF data pool.

Started by the tests on 127.0.0.1 (``replay_server.HttpsReplayServer``: a
throw-away self-signed certificate the tests trust through REQUESTS_CA_BUNDLE).
It answers:

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
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

from replay_server import HttpsReplayServer, ReplayHandler

REPLAY = Path(__file__).with_name("data") / "asf_replay.json"
TOKEN = "replay-bearer-token-0123456789"


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


class AsfHandler(ReplayHandler):
    def _basic_ok(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        return user == self.owner.username and pw == self.owner.password

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qsl(self.rfile.read(length).decode())
        self._record(form)
        path = urlparse(self.path).path
        if path == "/search/granules.umm_json":
            return self._json(200, self.owner.search(form))
        if path == "/api/users/find_or_create_token":
            if not self._basic_ok():
                return self._json(401, {"error": "invalid_credentials"})
            return self._json(200, {"access_token": TOKEN, "token_type": "Bearer"})
        return self._json(404, {"errors": [f"no such path {path}"]})

    def do_GET(self):  # noqa: N802
        self._record()
        url = urlparse(self.path)
        if url.path == "/oauth/authorize":
            if not self._basic_ok():
                return self._json(401, {"error": "invalid_credentials"})
            target = dict(parse_qsl(url.query))["redirect_uri"]
            return self._send(302, headers={"Location": f"{target}?code=replay"})
        if url.path == "/login":
            return self._send(200, b"ok", {"Set-Cookie": "asf-urs=replay-cookie; Path=/"})
        if url.path in self.owner.files:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._json(401, {"error": "login required"})
            return self._file(self.owner.files[url.path])
        return self._json(404, {"errors": [f"no such path {url.path}"]})


class ReplayServer(HttpsReplayServer):
    Handler = AsfHandler

    def __init__(self, folder, username, password):
        self.granules = json.loads(REPLAY.read_text())["granules"]
        super().__init__(folder, username, password)

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
