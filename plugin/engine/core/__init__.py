"""Shared engine parts: model contract, models, normalisation, tiling, inference, raster I/O."""
