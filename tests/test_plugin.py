"""The plugin loads: provider registered in processing and in qgis_process."""

import configparser
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_metadata_declares_processing_provider():
    meta = configparser.ConfigParser()
    meta.read(ROOT / "metadata.txt")
    general = meta["general"]
    assert general["hasProcessingProvider"] == "yes"
    assert general["qgisMinimumVersion"] == "3.22"
    for key in ("name", "description", "about", "version", "tags"):
        assert general[key].strip()


def test_provider_loads_algorithms(waterline_provider):
    from qgis.core import QgsProcessingModelAlgorithm

    assert waterline_provider.id() == "waterline"
    ids = {alg.id() for alg in waterline_provider.algorithms()}
    modules = [p.stem for p in (ROOT / "processing_provider" / "algorithms").glob("[!_]*.py")]
    models = []
    for path in (ROOT / "processing_provider" / "models").glob("*.model3"):
        model = QgsProcessingModelAlgorithm()
        assert model.fromFile(str(path)), path
        models.append(model.name())  # a model's id ends in its display name, not its file name
    # every module loaded (the provider skips a broken one rather than failing whole)
    assert ids == {f"waterline:{m}" for m in modules} | {f"waterline:{name}" for name in models}
    for alg in waterline_provider.algorithms():
        assert alg.shortHelpString(), f"{alg.id()} has no help text"
        assert alg.id() == f"waterline:{alg.name()}"
        if isinstance(alg, QgsProcessingModelAlgorithm):  # its help is the model's help content
            continue
        for param in alg.parameterDefinitions():
            if not param.isDestination():
                assert param.help(), f"{alg.id()}: parameter {param.name()} has no help"


def test_qgis_process_lists_provider(qgis_process_enabled):
    import qgis_cli

    out = qgis_cli.call("list").stdout
    assert "Waterline" in out


def test_make_package_builds_an_installable_zip():
    import subprocess
    import zipfile

    subprocess.run(["make", "package"], cwd=ROOT, check=True, capture_output=True)
    with zipfile.ZipFile(ROOT / "dist" / "waterline.zip") as zf:
        names = set(zf.namelist())
    assert "waterline/metadata.txt" in names and "waterline/__init__.py" in names
    assert "waterline/processing_provider/provider.py" in names
    assert "waterline/processing_provider/models/calfin_preprocessing.model3" in names
    assert not any(n.startswith(("waterline/tests/", "waterline/training/", "waterline/tools/")) for n in names)


def test_missing_package_is_reported_as_a_processing_error(waterline_provider):
    from qgis.core import QgsProcessingException
    from waterline.processing_provider.common import engine_errors

    with pytest.raises(QgsProcessingException, match="missing from QGIS's Python .*pysheds"):
        with engine_errors():
            raise ModuleNotFoundError("No module named 'pysheds'")


def test_algorithms_and_tests_share_one_engine(waterline_provider):
    """The engine the algorithms import (``waterline.plugin.engine``) is ``plugin.engine`` itself."""
    from qgis.core import QgsProcessingException
    from plugin.engine.core.cancel import Cancelled
    from waterline.processing_provider.common import engine_errors

    loaded = sorted(n for n in sys.modules if n.startswith("waterline.plugin.engine"))
    assert "waterline.plugin.engine.core.inference" in loaded  # imported by the algorithms
    assert [n for n in loaded if sys.modules[n] is not sys.modules.get(n[len("waterline."):])] == []
    # so the algorithms' glue catches the engine's Cancelled that a test (or training/) raises
    with pytest.raises(QgsProcessingException, match="Cancelled by the user"):
        with engine_errors():
            raise Cancelled()


def test_shipped_model3_is_what_tools_build_model3_writes(tmp_path):
    """processing_provider/models/*.model3 are built by tools/build_model3.py: rebuilt, they are
    the same XML (attribute order aside: Qt writes attributes in hash order)."""
    import subprocess
    from xml.etree.ElementTree import canonicalize

    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_model3.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = sorted(p.name for p in tmp_path.glob("*.model3"))
    assert built == sorted(p.name for p in (ROOT / "processing_provider" / "models").glob("*.model3"))
    for name in built:
        assert canonicalize(from_file=str(tmp_path / name), strip_text=True) == canonicalize(
            from_file=str(ROOT / "processing_provider" / "models" / name), strip_text=True), name
