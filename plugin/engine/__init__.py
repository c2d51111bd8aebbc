"""Qt-free numerics: numpy, rasterio and onnxruntime only. Never import qgis here."""
