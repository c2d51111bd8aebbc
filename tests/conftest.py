"""Shared test fixtures.

- ``shared_data``: ``../shared/data`` (real rasters); tests skip when it is absent.
- The plugin is installed (symlinked) into a throw-away QGIS profile under
  ``build/qgis-profile``; ``qgis_process`` runs the real command line in it.
- ``run_alg`` runs an algorithm through ``processing.run`` in this interpreter
  (pytest-qgis starts QgsApplication).
- One engine: tests (and training/) import ``plugin.engine``; the algorithms,
  loaded as QGIS loads them (package ``waterline``), import it relatively as
  ``waterline.plugin.engine``. ``share_engine`` registers the ``plugin.engine``
  modules under the ``waterline.`` names as well, so both names are the same
  module objects: a ``Cancelled`` or ``ContractError`` an algorithm raises is the
  class a test catches, and a test's monkeypatch reaches the algorithms.
- Markers (pytest.ini): ``slow`` (> ~10 s, or HAND's numba compilation on a fresh
  venv) and ``weights`` (needs the shipped models in weights/); ``make test-quick``
  leaves both out, ``make test`` and CI run everything.
"""

import importlib
import os
import pkgutil
import sys

import pytest

import qgis_cli

ROOT = qgis_cli.ROOT
SHARED_DATA = ROOT.parent / "shared" / "data"
PROFILE = qgis_cli.PROFILE

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(PROFILE)
sys.path.insert(0, "/usr/share/qgis/python/plugins")  # QGIS's 'processing' package


# processing.run tests import the plugin as the package QGIS would: 'waterline'
sys.path.insert(0, str(qgis_cli.install_plugin()))


def share_engine():
    """Make ``waterline.plugin.engine[.*]`` the very modules of ``plugin.engine[.*]``.

    Must run before anything imports ``waterline.plugin.engine``; the engine is
    Qt-free, so importing all of it here is cheap and needs no QgsApplication. A
    module that fails to import is left out here: its error then shows in the
    tests that use it, not in every test.
    """
    import plugin.engine
    import waterline.plugin

    if sys.modules.get("waterline.plugin.engine", plugin.engine) is not plugin.engine:
        raise RuntimeError("waterline.plugin.engine was imported before conftest could share it")
    modules = {"plugin.engine": plugin.engine}
    for info in pkgutil.walk_packages(plugin.engine.__path__, "plugin.engine.", onerror=lambda name: None):
        try:
            modules[info.name] = importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 (reported by the tests that import it)
            continue
    for name, module in modules.items():
        sys.modules["waterline." + name] = module
    waterline.plugin.engine = plugin.engine


share_engine()


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
        from waterline.processing_provider.provider import register

        provider = register()
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


@pytest.fixture(scope="session")
def qgis_process_enabled():
    qgis_cli.enable_plugin()
    return True


@pytest.fixture
def qgis_process(qgis_process_enabled):
    """Run ``waterline:<name>`` (or a model path) with the real qgis_process.

    Returns the parsed ``--json`` output on success. With ``expect_failure=True``
    returns the CompletedProcess instead, for asserting on error messages.
    """

    def run(name, params, expect_failure=False):
        if not expect_failure:
            return qgis_cli.run(name, params)
        proc = qgis_cli.call(*qgis_cli.run_args(name, params), check=False)
        assert proc.returncode != 0, f"expected a failure, got:\n{proc.stdout}"
        return proc

    return run



# After the last test, QGIS and PyQt objects that Python still holds (e.g. from a failed run of
# download_landsat through processing.run) are destroyed during interpreter shutdown, after
# pytest-qgis has exited QGIS, and that crashes the process (a segmentation fault once every
# test has passed and been reported). So the session ends with its own exit status as soon as
# pytest and its plugins have finished, skipping that shutdown.
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.config.waterline_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    status = getattr(config, "waterline_exitstatus", None)
    if status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
