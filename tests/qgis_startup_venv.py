"""PYQGIS_STARTUP script for the qgis_process tests: make the test venv's
pip packages (asf_search, onnxruntime, ...) importable in qgis_process's
embedded Python, ahead of Debian's copies as in the venv itself.

qgis_process runs the system interpreter, which does not see the venv; a
user installs these packages into QGIS's own Python instead (README).
"""

import os
import site
import sys

_folder = os.environ.get("WATERLINE_TEST_SITE_PACKAGES")
if _folder and os.path.isdir(_folder) and _folder not in sys.path:
    _before = list(sys.path)
    site.addsitedir(_folder)
    _added = [p for p in sys.path if p not in _before]
    sys.path[:] = _added + _before
