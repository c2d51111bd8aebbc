"""The plugin's dependency check names what is missing and the one command that installs it."""

from plugin.shell import dependencies


def test_nothing_is_missing_in_the_test_environment():
    assert dependencies.missing_packages() == []
    assert dependencies.report([]) is None


def test_a_missing_package_is_found():
    packages = dict(dependencies.PACKAGES, no_such_package_xyz=("testing", None, "no-such-package-xyz"))
    assert dependencies.missing_packages(packages) == ["no_such_package_xyz"]


def test_install_commands_per_platform():
    missing = ["onnxruntime", "scipy"]
    linux = dependencies.install_command(missing, "linux")
    assert linux == ("sudo apt install python3-scipy && python3 -m pip install --user "
                     "--break-system-packages 'onnxruntime>=1.16'")
    assert dependencies.install_command(missing, "win32") == \
        'In the OSGeo4W Shell: python -m pip install "onnxruntime>=1.16" "scipy"'
    assert "/Applications/QGIS.app" in dependencies.install_command(missing, "darwin")
    message = dependencies.report(["onnxruntime"], "linux")
    assert message.startswith("Waterline needs Python packages that QGIS's Python lacks: onnxruntime (running the models)")


def test_without_onnxruntime_detect_water_names_the_missing_package(qgis_process_enabled, tmp_path):
    """QGIS's own Python without the venv: the provider still loads and the error names onnxruntime."""
    import os
    import subprocess

    import numpy as np
    from rasterio.transform import from_origin

    import qgis_cli
    from rasters import UTM, write_tif

    stack = write_tif(tmp_path / "stack.tif", np.full((2, 64, 64), -12, np.float32), crs=UTM,
                      transform=from_origin(500000, 4000000, 10, 10), descriptions=["VV", "VH"])
    if subprocess.run(["/usr/bin/python3", "-c", "import onnxruntime"], capture_output=True).returncode == 0:
        import pytest

        pytest.skip("the system Python has onnxruntime, so it cannot be missing for qgis_process")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(qgis_cli.PROFILE), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([qgis_cli.QGIS_PROCESS, *qgis_cli.run_args(
        "detect_water", {"INPUT": stack, "METHOD": "model", "OUTPUT_MASK": str(tmp_path / "mask.tif")})],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "onnxruntime is not installed" in proc.stdout + proc.stderr
    assert "no water model" not in proc.stdout + proc.stderr
    assert not (tmp_path / "mask.tif").exists()
