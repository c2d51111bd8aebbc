"""Date and sensor from satellite scene file names (Qt-free).

Recognised (anywhere in the name, so suffixes like ``_Subset`` or ``_layered``
do not matter):

- Landsat Collection product ids ``LE07_L1TP_022006_20000707_20170212_01_T1``
  (sensor from the 4-character prefix, date = acquisition, path/row kept);
- pre-collection Landsat scene ids ``LC80340322016205LGN00`` (year + day of year);
- Sentinel-1 ``S1A_IW_GRDH_1SDH_20200101T101010_...`` and Sentinel-2
  ``S2B_MSIL1C_20200101T101010_...``;
- CaFFe-style ``<glacier>_<YYYY-MM-DD>_<sensor>_...`` (``JAC_2011-01-25_TSX_6_1_005``).

Anything else yields no date and no sensor, never an exception.
"""

import datetime as _dt
import re
from dataclasses import dataclass

LANDSAT_SENSORS = {"LC09": "Landsat 9", "LC08": "Landsat 8", "LO08": "Landsat 8", "LE07": "Landsat 7",
                   "LT05": "Landsat 5", "LT04": "Landsat 4", "LM05": "Landsat 5 MSS", "LM04": "Landsat 4 MSS",
                   "LM03": "Landsat 3", "LM02": "Landsat 2", "LM01": "Landsat 1"}
CAFFE_SENSORS = {"TSX": "TerraSAR-X", "TDX": "TanDEM-X", "ERS": "ERS", "ENVISAT": "Envisat",
                 "RSAT": "RADARSAT-1", "PALSAR": "ALOS PALSAR", "S1": "Sentinel-1"}

_LANDSAT = re.compile(r"\b(L[COTEM]0\d)_L\w{3}_(\d{3})(\d{3})_(\d{8})_")
_LANDSAT_OLD = re.compile(r"(?<![A-Za-z0-9])L([COTEM])(\d)(\d{3})(\d{3})(\d{4})(\d{3})[A-Z]{3}\d{2}")
_SENTINEL = re.compile(r"(?<![A-Za-z0-9])(S[12][ABCD])_\w*?(\d{8})T\d{6}")
_CAFFE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)_(\d{4}-\d{2}-\d{2})_([A-Za-z0-9]+)")


@dataclass
class SceneInfo:
    scene_id: str
    date: str = None  # ISO YYYY-MM-DD
    sensor: str = None
    extra: str = None  # path/row for Landsat, glacier for CaFFe names


def _iso(yyyymmdd):
    try:
        return _dt.datetime.strptime(yyyymmdd, "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def parse_scene_name(name):
    """SceneInfo for a file name or path (extension and folders ignored)."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = re.sub(r"\.(tif|tiff|png|jpg|jp2|vrt|img|nc)$", "", base, flags=re.IGNORECASE)
    m = _LANDSAT.search(base)
    if m:
        prefix, path, row, date = m.groups()
        return SceneInfo(base, _iso(date), LANDSAT_SENSORS.get(prefix, "Landsat"), f"{path}/{row}")
    m = _LANDSAT_OLD.search(base)
    if m:
        kind, mission, path, row, year, doy = m.groups()
        try:
            date = (_dt.date(int(year), 1, 1) + _dt.timedelta(days=int(doy) - 1)).isoformat()
        except ValueError:
            date = None
        return SceneInfo(base, date, f"Landsat {mission}", f"{path}/{row}")
    m = _SENTINEL.search(base)
    if m:
        mission, date = m.groups()
        sensor = ("Sentinel-1" if mission.startswith("S1") else "Sentinel-2") + mission[-1]
        return SceneInfo(base, _iso(date), sensor)
    m = _CAFFE.match(base)
    if m:
        glacier, date, sensor = m.groups()
        try:
            date = _dt.date.fromisoformat(date).isoformat()
        except ValueError:
            date = None
        if date:
            return SceneInfo(base, date, CAFFE_SENSORS.get(sensor.upper(), sensor), glacier)
    return SceneInfo(base)


_SUFFIX = re.compile(r"(_(subset|front|fronts|mask|label|labels|zones|layered|qa|prob|probability))+$", re.IGNORECASE)


def match_key(name):
    """Key that pairs a prediction with its reference: base name without extension and without
    trailing ``_Subset``/``_Front``/``_mask``/``_layered``-style suffixes, case-insensitive
    (``X_Subset.tif`` and ``X_Front.png`` both give ``x``)."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = re.sub(r"\.(tif|tiff|png|jpg|jp2|vrt|img|nc|gpkg|shp)$", "", base, flags=re.IGNORECASE)
    return _SUFFIX.sub("", base).lower()
