"""Waterline QGIS plugin entry point.

QGIS calls ``classFactory``; nothing heavy is imported at module import so that
``qgis_process`` can load the plugin quickly.
"""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    from .plugin.shell.waterline_plugin import WaterlinePlugin

    return WaterlinePlugin(iface)
