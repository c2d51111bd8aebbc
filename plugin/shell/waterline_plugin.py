"""The QGIS plugin class: registers the Waterline Processing provider."""

from qgis.core import QgsApplication


class WaterlinePlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        # Called by qgis_process too (no GUI), so it must not touch iface.
        from ...processing_provider.provider import register

        self.provider = register()

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
