"""Qt-free numerics: numpy, rasterio and onnxruntime only. Never import qgis here.

Four rooms, one per job:

- ``core``: the model contract, model loading, normalisation, tiling, tiled
  inference and ``raster_io`` (the one place for masked reads, pixel size,
  overlap tests, the linear-power rule and dB floor, atomic outputs, ``Cancelled``);
- ``fronts``: calving fronts (subsets, CALFIN layering, fjord masks, front
  extraction, one scene end to end, front metrics, scene names);
- ``water``: surface water (stacks, HAND, model choice, polygons, metrics, chips);
- ``fetch``: finding and downloading data (ASF search/download, SAR/DSWE pairing).
"""
