"""The QGIS plugin class: registers the Waterline Processing provider."""

from qgis.core import Qgis, QgsApplication, QgsMessageLog

from .dependencies import missing_packages, report


class WaterlinePlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        # Called by qgis_process too (no GUI), so it must not touch iface.
        from ...processing_provider.provider import register

        self.provider = register()
        message = report(missing_packages())
        if message:
            QgsMessageLog.logMessage(message, "Waterline", Qgis.Warning)

    def initGui(self):  # noqa: N802
        self.initProcessing()
        message = report(missing_packages())
        if message and self.iface is not None:
            self.iface.messageBar().pushMessage("Waterline", message, Qgis.Warning, 0)

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
