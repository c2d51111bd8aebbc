"""WaterlineProvider: Processing provider id 'waterline'.

Algorithms are discovered: every module in ``algorithms/`` that defines a
``QgsProcessingAlgorithm`` subclass contributes one algorithm, and every
``.model3`` file in ``models/`` is registered as a model algorithm.
"""

import importlib
import inspect
import pkgutil
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsMessageLog,
    QgsProcessingAlgorithm,
    QgsProcessingModelAlgorithm,
    QgsProcessingProvider,
)

from . import algorithms
from .common import group_icon

MODELS_DIR = Path(__file__).parent / "models"


def algorithm_classes():
    """The algorithm classes defined in ``algorithms/``, one per module."""
    found = []
    for info in sorted(pkgutil.iter_modules(algorithms.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{algorithms.__name__}.{info.name}")
        except Exception as exc:  # one broken algorithm must not hide the others
            QgsMessageLog.logMessage(f"Waterline: algorithm {info.name} not loaded: {exc}", "Waterline")
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, QgsProcessingAlgorithm)
                and cls.__module__ == module.__name__
            ):
                found.append(cls)
    return found


class WaterlineProvider(QgsProcessingProvider):
    def id(self):
        return "waterline"

    def name(self):
        return "Waterline"

    def longName(self):  # noqa: N802
        return "Waterline: surface water and glacier calving fronts"

    def icon(self):
        return group_icon(None)

    def loadAlgorithms(self):  # noqa: N802
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
        # Models refer to this provider's algorithms by id, which resolve only once
        # the provider is registered: register() refreshes to load them.
        if QgsApplication.processingRegistry().providerById(self.id()) is not self:
            return
        for path in sorted(MODELS_DIR.glob("*.model3")):
            model = QgsProcessingModelAlgorithm()
            if model.fromFile(str(path)):
                self.addAlgorithm(model)
            else:
                QgsMessageLog.logMessage(f"Could not load model {path}", "Waterline")


def register():
    """Add a Waterline provider to the registry, with its models; returns it."""
    provider = WaterlineProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    provider.refreshAlgorithms()
    return provider
