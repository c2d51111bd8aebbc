"""The plugin loads: provider registered in processing and in qgis_process."""

import configparser
from pathlib import Path

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
    models = list((ROOT / "processing_provider" / "models").glob("*.model3"))
    # every module loaded (the provider skips a broken one rather than failing whole)
    assert ids == {f"waterline:{m}" for m in modules} | {f"waterline:{p.stem}" for p in models}
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
    assert not any(n.startswith(("waterline/tests/", "waterline/training/")) for n in names)


def test_missing_package_is_reported_as_a_processing_error(waterline_provider):
    import pytest
    from qgis.core import QgsProcessingException
    from waterline.processing_provider.common import engine_errors

    with pytest.raises(QgsProcessingException, match="missing from QGIS's Python .*pysheds"):
        with engine_errors():
            raise ModuleNotFoundError("No module named 'pysheds'")
