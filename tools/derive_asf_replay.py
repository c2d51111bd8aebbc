"""Derive tests/data/asf_replay.json from asf_search's recorded CMR responses.

The recorded responses ship in asf_search's source distribution
(``pip download --no-binary :all: --no-deps asf-search==14.1.0``, folder
``tests/yml_tests/Resources/``). Each recorded granule keeps its raw CMR
``meta``/``umm`` (what the server answered) and asf_search's parsed
``properties`` (what the tests expect). Run:

    python tools/derive_asf_replay.py /path/to/asf_search-14.1.0/tests/yml_tests/Resources
"""

import json
import sys
from pathlib import Path

import yaml

# CMR collection (short name) each recorded granule belongs to, from its
# PROCESSING_TYPE: the replay server answers a query for a collection with
# the granules of that collection, as CMR does.
COLLECTION = {
    ("ALOS", "L1.0"): "ALOS_PSR_L1.0",
    ("ALOS", "L1.5"): "ALOS_PSR_L1.5",
    ("SENTINEL-1", "GRD_HD"): "SENTINEL-1B_DP_GRD_HIGH",
}

SOURCES = {
    "ALOS": ["Alos_response_maxResults3.yml"],
    "SENTINEL-1": ["S1_baseline_stack.yml"],
}


def main(resources):
    out = {"source": "asf_search 14.1.0 sdist, tests/yml_tests/Resources", "granules": {}}
    for key, files in SOURCES.items():
        items = []
        for name in files:
            data = yaml.safe_load((Path(resources) / name).read_text())
            for item in data if isinstance(data, list) else [data]:
                level = item["properties"]["processingLevel"]
                items.append({"meta": item["meta"], "umm": item["umm"],
                              "collection": COLLECTION[key, level],
                              "expected": item["properties"], "file": name})
        out["granules"][key] = items
    target = Path(__file__).resolve().parents[1] / "tests" / "data" / "asf_replay.json"
    target.write_text(json.dumps(out, sort_keys=True, separators=(",", ":")) + "\n")
    print(target, target.stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1])
