"""The shipped model chains load in the provider, in the workflow's toolbox group, and validate."""

import pytest

MODELS = {
    "Prepare calving-front inputs": ["waterline:subset_scenes", "waterline:layer_calfin_input", "waterline:fjord_mask"],
    "Glacier change from scenes": ["waterline:detect_calving_fronts", "waterline:consolidate_fronts",
                       "waterline:terminus_change"],
    "Calving fronts from Landsat": ["waterline:search_landsat", "waterline:download_landsat", "waterline:subset_scenes",
                            "waterline:detect_calving_fronts"],
    "Surface water from ASF scenes": ["waterline:search_asf", "waterline:download_asf", "waterline:build_water_stack",
                                      "waterline:fetch_dem_hand", "waterline:detect_water"],
}
# the algorithm whose toolbox group each model shares
GROUP_OF = {"Surface water from ASF scenes": "detect_water"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_loads_validates_and_sits_with_its_algorithms(waterline_provider, name):
    model = waterline_provider.algorithm(name)
    assert model is not None, f"{name} is not registered"
    children = sorted(c.algorithmId() for c in model.childAlgorithms().values())
    assert children == sorted(MODELS[name])
    assert all(c.algorithm() is not None for c in model.childAlgorithms().values())
    ok, issues = model.validate()
    assert ok, issues
    detect = waterline_provider.algorithm(GROUP_OF.get(name, "detect_calving_fronts"))
    assert model.groupId() == detect.groupId() == detect.group()
    # every model input and output is labelled in the dialog
    assert all(p.description() for p in model.parameterDefinitions())
