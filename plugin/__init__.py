"""The plugin shell (``plugin.shell``, QGIS glue) and the Qt-free engine (``plugin.engine``)."""
