"""Plugin shell (QGIS glue) and the Qt-free engine (``plugin.engine``)."""
