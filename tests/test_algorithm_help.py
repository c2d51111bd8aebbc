"""Every algorithm tells a new user what goes in and what comes out, from one help system.

Each parameter, destinations included, carries its own help (``with_help``) and the
algorithm's shortHelpString is built from those texts by ``common.help_string``, so the
dialog, ``qgis_process help`` and the parameter help never disagree.
"""

import pytest


def _algorithms(provider):
    from qgis.core import QgsProcessingModelAlgorithm

    # a model's help is the model's own help content, not built from parameters
    return [alg for alg in provider.algorithms() if not isinstance(alg, QgsProcessingModelAlgorithm)]


def test_every_parameter_has_help(waterline_provider):
    missing = [f"{alg.id()}: {param.name()}"
               for alg in _algorithms(waterline_provider)
               for param in alg.parameterDefinitions() if not param.help().strip()]
    assert not missing, "parameters without help: " + ", ".join(missing)


def test_short_help_is_built_from_the_parameter_help(waterline_provider):
    from waterline.processing_provider.common import help_string

    algorithms = _algorithms(waterline_provider)
    assert algorithms
    for alg in algorithms:
        text = alg.shortHelpString()
        assert text.strip(), f"{alg.id()} has no help text"
        for param in alg.parameterDefinitions():
            line = f"<b>{param.description()}</b>: {param.help()}"
            assert line in text, f"{alg.id()}: the help of {param.name()} is not in shortHelpString"
        # everything help_string builds from the parameters stands in the text, in its order
        assert help_string(alg, "") in text, f"{alg.id()}: shortHelpString is not from help_string"


@pytest.mark.parametrize("name", ["detect_water", "build_water_stack", "compute_hand",
                                  "compare_water_maps", "make_training_chips"])
def test_water_algorithms_keep_their_help(waterline_provider, name):
    alg = waterline_provider.algorithm(name)
    assert not hasattr(alg, "HELP"), "help lives on the parameters, not in a HELP dict"
    text = alg.shortHelpString()
    assert "<b>Parameters</b>" in text and "<b>Outputs</b>" in text
