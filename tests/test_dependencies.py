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
