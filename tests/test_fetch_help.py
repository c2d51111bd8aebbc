"""The fetch algorithms of issue 15 load in the provider and explain every parameter
(the same rules tests/test_algorithm_help.py applies to every algorithm)."""

import pytest

FETCH = ["search_landsat", "download_landsat", "fetch_dswe_tiles", "fetch_gfc_composite",
         "fetch_dem_hand"]


@pytest.mark.parametrize("name", FETCH)
def test_fetch_algorithm_is_registered_with_help(waterline_provider, name):
    from waterline.processing_provider.common import help_string

    alg = waterline_provider.algorithm(name)
    assert alg is not None, f"{name} is not loaded (see the QGIS message log)"
    assert alg.group() == "Find and fetch scenes" and alg.groupId() == "Find and fetch scenes"
    text = alg.shortHelpString()
    for param in alg.parameterDefinitions():
        assert param.help().strip(), f"{name}: {param.name()} has no help"
        assert f"<b>{param.description()}</b>: {param.help()}" in text
    assert help_string(alg, "") in text
    assert "<b>Parameters</b>" in text and "<b>Outputs</b>" in text


def test_fetch_algorithms_in_qgis_process_help(qgis_process_enabled):
    import qgis_cli

    for name in FETCH:
        proc = qgis_cli.call("help", f"waterline:{name}")
        assert "Parameters" in proc.stdout or "Arguments" in proc.stdout, proc.stdout[:500]
