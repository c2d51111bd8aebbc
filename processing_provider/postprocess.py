"""Layer post-processors: what happens to an output layer when QGIS loads it after a run.

``animate_by_date(context, dest)`` gives a fronts (or terminus points) layer
QGIS temporal properties from its ``date`` field (one instant per feature), so
the temporal controller animates the series as soon as the layer is in the
project. Use it after creating a sink::

    sink, dest = out.sink(self.OUTPUT, fields, QgsWkbTypes.LineString, crs)
    animate_by_date(context, dest)

It does nothing when the layer is not going to be loaded (qgis_process,
child algorithms of a model, processing.run without a destination project).

PyQGIS pitfall: the post-processor given to ``setPostProcessor`` must stay
referenced from Python until QGIS has called it, or Python garbage-collects
it and QGIS silently skips the step. ``_LIVE`` holds every instance handed
out; the processing context deletes them when it is destroyed (ownership is
transferred), and deleted ones are dropped from the list on the next call.
"""

from qgis.PyQt import sip
from qgis.core import QgsProcessingLayerPostProcessorInterface, QgsVectorLayer, QgsVectorLayerTemporalProperties

_LIVE = []  # instances handed to QGIS (kept referenced: see the module docstring)


def set_temporal_from_field(layer, field="date"):
    """Make ``layer`` temporal: each feature an instant at its ``field`` value. Returns whether it was set."""
    if not isinstance(layer, QgsVectorLayer) or layer.fields().indexFromName(field) < 0:
        return False
    props = layer.temporalProperties()
    props.setMode(QgsVectorLayerTemporalProperties.ModeFeatureDateTimeInstantFromField)
    props.setStartField(field)
    props.setAccumulateFeatures(False)
    props.setIsActive(True)
    return True


class TemporalFromDate(QgsProcessingLayerPostProcessorInterface):
    """Sets a loaded output layer's temporal properties from its date field."""

    def __init__(self, field="date"):
        super().__init__()
        self.field = field

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        if set_temporal_from_field(layer, self.field) and feedback is not None:
            feedback.pushInfo(f"{layer.name()}: temporal properties set from the '{self.field}' field "
                              "(use the Temporal Controller to animate it)")


def temporal_from_date(field="date"):
    """A new ``TemporalFromDate`` post-processor, kept referenced until QGIS deletes it."""
    _LIVE[:] = [p for p in _LIVE if not sip.isdeleted(p)]
    processor = TemporalFromDate(field)
    _LIVE.append(processor)
    return processor


def animate_by_date(context, dest, field="date"):
    """Attach ``TemporalFromDate`` to output ``dest`` when it will be loaded on completion; returns whether."""
    if not dest or not context.willLoadLayerOnCompletion(dest):
        return False
    context.layerToLoadOnCompletionDetails(dest).setPostProcessor(temporal_from_date(field))
    return True
