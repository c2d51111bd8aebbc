"""Which Python packages Waterline needs in QGIS's Python, and the one command that installs them.

Qt-free, so it can be tested anywhere; ``waterline_plugin`` shows the result in
the message bar and the log when the plugin loads.
"""

import importlib.util
import sys

# import name -> (what it is for, Debian/Ubuntu package or None, pip requirement or None)
PACKAGES = {
    "numpy": ("everything", "python3-numpy", None),
    "rasterio": ("reading and writing rasters", "python3-rasterio", None),
    "fiona": ("vector files in training and tests", "python3-fiona", None),
    "shapely": ("geometries", "python3-shapely", None),
    "scipy": ("filters and front extraction", "python3-scipy", None),
    "skimage": ("skeletons and line tracing", "python3-skimage", None),
    "pyproj": ("geodesic areas", "python3-pyproj", None),
    "matplotlib": ("terminus-change plots", "python3-matplotlib", None),
    "onnxruntime": ("running the models", None, "onnxruntime>=1.16"),
    "pysheds": ("HAND (height above nearest drainage)", None, "pysheds==0.5"),
    "asf_search": ("ASF search and download", None, "asf_search==11.0.1"),
    "pystac_client": ("Landsat and DSWE search (USGS STAC API)", None, "pystac-client==0.9.1"),
}


def missing_packages(packages=PACKAGES):
    """Import names of the packages that cannot be imported here."""
    return [name for name in packages if importlib.util.find_spec(name) is None]


def install_command(missing, platform=None):
    """The one command that installs ``missing`` for this kind of QGIS installation."""
    platform = platform or sys.platform
    apt = [PACKAGES[m][1] for m in missing if PACKAGES[m][1]]
    pip = [PACKAGES[m][2] or m for m in missing if not PACKAGES[m][1]]
    if platform.startswith("linux"):
        # Debian's Python refuses pip into the system (externally managed): Debian packages
        # first, then pip into the user site that QGIS's Python also reads.
        parts = []
        if apt:
            parts.append("sudo apt install " + " ".join(apt))
        if pip:
            parts.append("python3 -m pip install --user --break-system-packages " + " ".join(f"'{p}'" for p in pip))
        return " && ".join(parts)
    everything = pip + [m for m in missing if PACKAGES[m][1]]
    quoted = " ".join(f'"{p}"' for p in everything)
    if platform.startswith("win"):
        return "In the OSGeo4W Shell: python -m pip install " + quoted
    return "In a terminal: /Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install " + quoted


def report(missing, platform=None):
    """A sentence for the message bar, or None when nothing is missing."""
    if not missing:
        return None
    uses = "; ".join(f"{m} ({PACKAGES[m][0]})" for m in missing)
    return (f"Waterline needs Python packages that QGIS's Python lacks: {uses}. "
            f"Install them with: {install_command(missing, platform)} and restart QGIS.")
