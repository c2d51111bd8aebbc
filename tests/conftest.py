"""Shared test fixtures.

- ``shared_data``: ``../shared/data`` (real rasters); tests skip when it is absent.
- The plugin is installed (symlinked) into a throw-away QGIS profile under
  ``build/qgis-profile``; ``qgis_process`` runs the real command line in it.
- ``run_alg`` runs an algorithm through ``processing.run`` in this interpreter
  (pytest-qgis starts QgsApplication).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PROFILE = ROOT / "build" / "qgis-profile"
PLUGINS = PROFILE / "profiles" / "default" / "python" / "plugins"
QGIS_PROCESS = "qgis_process.bin"  # Debian's qgis_process wrapper passes a bad option

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(PROFILE)
sys.path.insert(0, "/usr/share/qgis/python/plugins")  # QGIS's 'processing' package


def _install_plugin():
    PLUGINS.mkdir(parents=True, exist_ok=True)
    link = PLUGINS / "waterline"
    if not link.is_symlink():
        link.symlink_to(ROOT, target_is_directory=True)
    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))


_install_plugin()


def shared_path(*parts):
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (../shared/data is not beside the checkout)")
    return path


@pytest.fixture(scope="session")
def shared_data():
    return shared_path()


@pytest.fixture(scope="session")
def waterline_provider(qgis_app, qgis_processing):
    """The Waterline provider registered in this interpreter's QGIS."""
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("waterline")
    if provider is None:
        from waterline.processing_provider.provider import WaterlineProvider

        provider = WaterlineProvider()
        registry.addProvider(provider)
    return provider


@pytest.fixture
def run_alg(waterline_provider):
    """Run ``waterline:<name>`` through processing.run and return its results."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    def run(name, params, feedback=None):
        context = QgsProcessingContext()
        return processing.run(
            f"waterline:{name}", params, context=context,
            feedback=feedback or QgsProcessingFeedback(),
        )

    return run


def _qgis_process(*args, check=True):
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(PROFILE))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [QGIS_PROCESS, *args], capture_output=True, text=True, env=env, timeout=1800,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"qgis_process {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="session")
def qgis_process_enabled():
    _install_plugin()
    proc = _qgis_process("plugins", "enable", "waterline", check=False)
    # the profile persists in build/: a second session finds it already enabled
    if proc.returncode != 0 and "already enabled" not in proc.stdout + proc.stderr:
        raise AssertionError(f"qgis_process plugins enable waterline failed:\n{proc.stdout}\n{proc.stderr}")
    return True


@pytest.fixture
def qgis_process(qgis_process_enabled):
    """Run ``waterline:<name>`` (or a model path) with the real qgis_process.

    Returns the parsed ``--json`` output on success. With ``expect_failure=True``
    returns the CompletedProcess instead, for asserting on error messages.
    """

    def run(name, params, expect_failure=False):
        alg = name if "/" in name or ":" in name else f"waterline:{name}"
        args = ["--json", "run", alg, "--"]
        for key, value in params.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                args.append(f"{key}={item}")
        proc = _qgis_process(*args, check=not expect_failure)
        if expect_failure:
            assert proc.returncode != 0, f"expected a failure, got:\n{proc.stdout}"
            return proc
        start = proc.stdout.find("{")
        return json.loads(proc.stdout[start:])

    return run
