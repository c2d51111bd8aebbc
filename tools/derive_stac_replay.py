"""Derive tests/data/stac_replay.json: what the local STAC replay server answers.

Where the parts come from
-------------------------
* Landsat Collection 2 Level-1 items: **recorded** answers of the real USGS
  STAC API (https://landsatlook.usgs.gov/stac-server, collection
  ``landsat-c2l1``), as saved by a pystac-client search in ASF's
  its-live-monitoring test data:
  https://github.com/ASFHyP3/its-live-monitoring, file
  ``tests/data/landsat/landsat_scene1_return_itemcollection.json`` (commit
  a47b09232fb54d9570510b483b8d6e2475793f94, BSD-3-Clause). pystac-client's own
  recorded cassettes are not in its source distribution (checked: 0.7.7,
  0.8.6 and 0.9.1 ship no ``tests/cassettes``) and record other STAC APIs
  (Planetary Computer, Earth Search), not USGS.
  Five items (WRS-2 path 138 row 041, Landsat 8 and 9, 2022-2024) are kept.
  Trimmed, nothing changed: only the assets ``thumbnail``, ``MTL.json``,
  ``red``, ``nir08``, ``swir16``, ``swir22``, ``pan`` and ``qa_pixel`` are
  kept (the QA band's ``classification:bitfields`` table is dropped), and the
  ``bbox`` is computed from the recorded geometry (the saved collection lists
  it after the assets; it is the geometry's bounds).
* DSWE items (``landsat-c2l3-dswe``) and the API landing page are
  **constructed**, not recorded (no recorded DSWE answer was found): the item
  layout copies the recorded Level-1 items, the identifiers and file names
  follow USGS's published DSWE naming (``LC08_CU_hhhvvv_<acquired>_<processed>_02_DSWE``,
  layers ``..._02_INWAM.TIF`` / ``_MASK.TIF`` / ``_INTR.TIF`` under
  ``https://landsatlook.usgs.gov/level-3/collection02/DSWE/<year>/CU/<hhh>/<vvv>/``),
  and their footprints are those of the test's DSWE stand-in tiles
  (``tests/fetch_server.py``: cut from the OPERA DSWx raster in
  ``../shared/data/misc``), so the test tiles and the search agree.

The committed file was made with this script's ``build()`` on a transcription of
those five items (read through a code-search index: the machines this project
is developed on have no internet). Every kept value was read from the recorded
file, except the ``qa_pixel`` asset of items 2-5 and the ``stac_extensions`` of
the 2022 item, which follow item 1's recorded layout. Running the script on the
downloaded file regenerates it from the recording itself.

Run (with the recorded file downloaded from the repository above):

    python tools/derive_stac_replay.py landsat_scene1_return_itemcollection.json
"""

import json
import sys
from pathlib import Path

KEEP_ITEMS = [
    "LC09_L1TP_138041_20240120_20240120_02_T1",
    "LC08_L1TP_138041_20240112_20240123_02_T1",
    "LC09_L1TP_138041_20240104_20240104_02_T1",
    "LC08_L1TP_138041_20231227_20240104_02_T1",
    "LC08_L1TP_138041_20220802_20220806_02_T1",
]
KEEP_ASSETS = ["thumbnail", "MTL.json", "red", "nir08", "swir16", "swir22", "pan", "qa_pixel"]
TARGET = Path(__file__).resolve().parents[1] / "tests" / "data" / "stac_replay.json"
SOURCE = ("ASFHyP3/its-live-monitoring@a47b09232fb54d9570510b483b8d6e2475793f94:"
          "tests/data/landsat/landsat_scene1_return_itemcollection.json")

LANDING = {
    "type": "Catalog", "stac_version": "1.0.0", "id": "stac-server", "title": "STAC API",
    "description": "A STAC API using stac-server (constructed stand-in for "
                   "https://landsatlook.usgs.gov/stac-server)",
    "conformsTo": [
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/ogcapi-features",
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/item-search#query",
        "https://api.stacspec.org/v1.0.0/item-search#sort",
        "https://api.stacspec.org/v1.0.0/item-search#fields",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    ],
    "links": [
        {"rel": "self", "type": "application/json", "href": "https://landsatlook.usgs.gov/stac-server"},
        {"rel": "root", "type": "application/json", "href": "https://landsatlook.usgs.gov/stac-server"},
        {"rel": "conformance", "type": "application/json",
         "href": "https://landsatlook.usgs.gov/stac-server/conformance"},
        {"rel": "data", "type": "application/json",
         "href": "https://landsatlook.usgs.gov/stac-server/collections"},
        {"rel": "search", "type": "application/geo+json", "method": "GET",
         "href": "https://landsatlook.usgs.gov/stac-server/search"},
        {"rel": "search", "type": "application/geo+json", "method": "POST",
         "href": "https://landsatlook.usgs.gov/stac-server/search"},
    ],
}


def _bbox(geometry):
    xs = [p[0] for ring in geometry["coordinates"] for p in ring]
    ys = [p[1] for ring in geometry["coordinates"] for p in ring]
    return [min(xs), min(ys), max(xs), max(ys)]


def trim(item):
    """A recorded item with only the assets the tests use (values unchanged)."""
    out = {k: item[k] for k in ("type", "stac_version", "stac_extensions", "id", "properties",
                                "geometry", "links", "collection") if k in item}
    out["bbox"] = _bbox(item["geometry"])
    assets = {}
    for key in KEEP_ASSETS:
        if key in item["assets"]:
            asset = dict(item["assets"][key])
            asset.pop("classification:bitfields", None)
            assets[key] = asset
    out["assets"] = assets
    return out


def dswe_item(item_id, platform, datetime, cloud, ring):
    """A constructed DSWE item in the layout of the recorded Level-1 items."""
    prefix = item_id[: -len("_DSWE")]
    hh, vv = item_id.split("_")[2][:3], item_id.split("_")[2][3:]
    year = datetime[:4]
    folder = (f"https://landsatlook.usgs.gov/level-3/collection02/DSWE/{year}/CU/{hh}/{vv}/"
              f"{item_id}/")
    geometry = {"type": "Polygon", "coordinates": [ring]}

    def layer(name, title):
        return {"href": f"{folder}{prefix}_{name}.TIF",
                "type": "image/vnd.stac.geotiff; cloud-optimized=true", "title": title,
                "roles": ["data"]}

    return {
        "type": "Feature", "stac_version": "1.0.0",
        "stac_extensions": ["https://landsat.usgs.gov/stac/landsat-ard-extension/v1.0.0/schema.json",
                            "https://stac-extensions.github.io/eo/v1.0.0/schema.json"],
        "id": item_id,
        "properties": {"datetime": datetime, "eo:cloud_cover": cloud, "platform": platform,
                       "instruments": ["OLI", "TIRS"] if platform != "LANDSAT_7" else ["ETM"],
                       "landsat:grid_horizontal": hh, "landsat:grid_vertical": vv,
                       "landsat:grid_region": "CU", "landsat:collection_number": "02"},
        "geometry": geometry, "bbox": _bbox(geometry),
        "links": [
            {"rel": "self", "href": "https://landsatlook.usgs.gov/stac-server/collections/"
                                    f"landsat-c2l3-dswe/items/{item_id}"},
            {"rel": "collection", "href": "https://landsatlook.usgs.gov/stac-server/collections/"
                                          "landsat-c2l3-dswe"},
            {"rel": "root", "href": "https://landsatlook.usgs.gov/stac-server",
             "type": "application/json", "title": "STAC API"},
        ],
        "assets": {
            "inwam": layer("INWAM", "Interpreted Layer with All Masks Applied (INWAM)"),
            "intr": layer("INTR", "Interpreted Layer (INTR)"),
            "mask": layer("MASK", "Mask Layer (cloud, cloud shadow, snow)"),
        },
        "collection": "landsat-c2l3-dswe",
    }


def dswe_items():
    """The constructed DSWE items over the stand-in tiles (footprints from tests/fetch_server.py)."""
    sys.path.insert(0, str(TARGET.parents[1]))
    import fetch_server

    items = []
    for tile in fetch_server.DSWE_TILES:
        items.append(dswe_item(tile["id"], tile["platform"], tile["datetime"], tile["cloud"],
                               fetch_server.dswe_ring(tile)))
    return items


def build(recorded):
    by_id = {f["id"]: f for f in recorded["features"]}
    items = [trim(by_id[i]) for i in KEEP_ITEMS]
    return {
        "source": {"landsat-c2l1": f"recorded: {SOURCE} (trimmed, see tools/derive_stac_replay.py)",
                   "landsat-c2l3-dswe": "constructed (see tools/derive_stac_replay.py)",
                   "landing": "constructed after stac-server's landing page"},
        "landing": LANDING,
        "items": items + dswe_items(),
    }


def main(path):
    recorded = json.loads(Path(path).read_text())
    TARGET.write_text(json.dumps(build(recorded), sort_keys=True, separators=(",", ":")) + "\n")
    print(TARGET, TARGET.stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1])
