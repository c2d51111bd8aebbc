"""Date and sensor from satellite product file names.

Recognises Landsat Collection 1/2 product ids, Sentinel-1/2 product names (also
after a prefix such as a glacier name), CaFFe-style
``<glacier>_<YYYY-MM-DD>_<sensor>_...`` names, names with a Landsat sensor code
as a token of their own (CALFIN-style ``Helheim_LE07_L1TP_2000-05-29_...``) and
names that simply contain a date (``20170314`` or ``2017-03-14``). Unknown names give
``None`` for what cannot be read, never a guess.
"""

import os
import re
from datetime import date

LANDSAT_SENSORS = {
    "LC09": "Landsat 9 OLI", "LC08": "Landsat 8 OLI", "LO08": "Landsat 8 OLI",
    "LE07": "Landsat 7 ETM+", "LT05": "Landsat 5 TM", "LT04": "Landsat 4 TM",
    "LM05": "Landsat 5 MSS", "LM04": "Landsat 4 MSS",
}
# Product ids may follow a prefix such as a glacier name ("Helheim_LE07_L1TP_..."): "_" is a word
# character, so the ids start after any non-alphanumeric character rather than at a word boundary.
_START = r"(?<![A-Za-z0-9])"
_LANDSAT = re.compile(_START + r"(L[COTEM]0[4-9])_L\w{3}_(\d{6})_(\d{8})_\d{8}_\d{2}_(T1|T2|RT)", re.I)
_SENTINEL1 = re.compile(_START + r"(S1[ABCD])_\w{2}_\w{4}_\w{4}_(\d{8})T\d{6}", re.I)
_SENTINEL2 = re.compile(_START + r"(S2[ABC])_MSI\w{3}_(\d{8})T\d{6}", re.I)
# A Landsat sensor code as a token of its own, as in CALFIN-style names
# ("Helheim_LE07_L1TP_2000-05-29_230-012_T1_B8"); the date is then read like any date.
_LANDSAT_CODE = re.compile(_START + r"(L[COTEM]0[4-9])(?![A-Za-z0-9])", re.I)
_CAFFE = re.compile(r"^([A-Za-z]+)_(\d{4}-\d{2}-\d{2})_([A-Za-z0-9\-]+?)_")
_ANY_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


def _iso(text):
    digits = text.replace("-", "")
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])).isoformat()
    except ValueError:
        return None


def parse_scene_name(path_or_name):
    """{'scene': stem, 'date': 'YYYY-MM-DD' or None, 'sensor': str or None}."""
    stem = os.path.splitext(os.path.basename(str(path_or_name)))[0]
    info = {"scene": stem, "date": None, "sensor": None}
    m = _LANDSAT.search(stem)
    if m:
        info["sensor"] = LANDSAT_SENSORS.get(m.group(1).upper(), m.group(1).upper())
        info["date"] = _iso(m.group(3))
        return info
    m = _SENTINEL1.search(stem)
    if m:
        info["sensor"] = f"Sentinel-1{m.group(1)[-1].upper()} SAR"
        info["date"] = _iso(m.group(2))
        return info
    m = _SENTINEL2.search(stem)
    if m:
        info["sensor"] = f"Sentinel-2{m.group(1)[-1].upper()} MSI"
        info["date"] = _iso(m.group(2))
        return info
    m = _CAFFE.match(stem)
    if m and _iso(m.group(2)):
        info["date"] = _iso(m.group(2))
        info["sensor"] = m.group(3)
        return info
    m = _LANDSAT_CODE.search(stem)
    if m:
        info["sensor"] = LANDSAT_SENSORS.get(m.group(1).upper(), m.group(1).upper())
    for m in _ANY_DATE.finditer(stem):
        iso = _iso("".join(m.groups()))
        if iso and 1970 <= int(iso[:4]) <= 2100:
            info["date"] = iso
            break
    return info


# Sensor names as parse_scene_name gives them (Landsat, Sentinel-1/2 ids) or as CaFFe-style names
# spell them (TSX, ERS, ENVISAT, PALSAR, RSAT, S1, ...); matched from the start, case-insensitive.
_OPTICAL = re.compile(r"^(landsat|sentinel-2|s2[abc]?\b|l[coetm]0\d|aster|spot|planet|hls)", re.I)
_SAR = re.compile(r"^(sentinel-1|s1[abcd]?\b|tsx|tdx|terrasar|tandem|ers|envisat|asar|palsar|alos|rsat|radarsat|"
                  r"csk|cosmo|iceye|capella|saocom|nisar|rcm|sar\b)", re.I)


def sensor_kind(sensor):
    """"optical", "sar" or None (unknown) for a sensor name from ``parse_scene_name``."""
    if not sensor:
        return None
    if _OPTICAL.match(sensor):
        return "optical"
    if _SAR.match(sensor):
        return "sar"
    return None


_SUFFIX = re.compile(r"(_(subset|front|fronts|mask|label|labels|zones|layered|qa|prob|probability))+$", re.I)


def match_key(name):
    """Key that pairs a prediction with its reference scene: the base name without extension,
    without trailing ``_Subset``/``_Front``/``_mask``/``_layered``-style suffixes, lower case
    (``X_Subset.tif`` and ``X_Front.png`` both give ``x``)."""
    stem = os.path.basename(str(name).replace("\\", "/"))
    stem = re.sub(r"\.(tif|tiff|png|jpg|jp2|vrt|img|nc|gpkg|shp)$", "", stem, flags=re.I)
    return _SUFFIX.sub("", stem).lower()
