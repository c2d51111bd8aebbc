"""Layer post-processors and saved styles: how an output looks when QGIS loads it after a run.

Every algorithm names the kind of each of its outputs once, after its outputs are
written and its sinks closed (``styles`` has one renderer builder per kind)::

    with RunOutputs(self, parameters, context, inputs=[path]) as out:
        sink, dest = out.sink(self.OUTPUT, fields, QgsWkbTypes.LineString, crs)
        ...
    del sink  # closes the GeoPackage, so its style can be saved in it
    style_outputs(context, feedback, {dest: "fronts", out.final(self.OUTPUT_ICE): "ice_ocean"})

``style_outputs`` does two things:

* In the desktop (dialog, batch, ``processing.runAndLoadResults``) it attaches a
  ``StyleOutput`` post-processor to every output that will be loaded: the layer
  gets its renderer, dated kinds (fronts, terminus points) get temporal
  properties from their ``date`` field (``set_temporal_from_field``), and the
  outputs of one run are ordered in the layer tree by ``styles.DRAW_RANK`` (fronts
  above the ice/ocean polygons, the water mask above the probability), whichever
  order QGIS loads them in: QGIS 3.22's ``LayerDetails`` has no sort key.
* For every output that is a GeoPackage file it saves the same style as the
  layer's default style in the file (``layer_styles`` table), also headless
  (``qgis_process``, ``processing.run``), so the look travels with the file: QGIS
  applies it whenever the file is opened. A default style the user saved there is
  never replaced; Waterline's own (named ``waterline``) is refreshed, e.g. with the
  new date classes of a GeoPackage that fronts are appended to. Failing to save a
  style is a warning, never a failed run (the data are complete by then); a failed
  run never gets here, and its outputs are already removed.

It does nothing for outputs that are not requested (None) and attaches nothing
when the layer is not going to be loaded (qgis_process, child algorithms of a
model, processing.run without a destination project).

PyQGIS pitfall: the post-processor given to ``setPostProcessor`` must stay
referenced from Python until QGIS has called it, or Python garbage-collects
it and QGIS silently skips the step. ``_LIVE`` holds every instance handed
out; the processing context deletes them when it is destroyed (ownership is
transferred), and deleted ones are dropped from the list on the next call.

"""

import contextlib
import os
import sqlite3

from qgis.PyQt import sip
from qgis.core import (
    QgsLayerTree,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsVectorLayer,
    QgsVectorLayerTemporalProperties,
)

from . import styles

_LIVE = []  # instances handed to QGIS (kept referenced: see the module docstring)
STYLE_NAME = "waterline"
KIND_PROPERTY = "waterline/kind"  # layer custom properties set on loaded outputs
OUTPUT_PROPERTY = "waterline/output"


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


def _keep(processor):
    """Keep ``processor`` referenced until QGIS has deleted it (see the module docstring)."""
    _LIVE[:] = [p for p in _LIVE if not sip.isdeleted(p)]
    _LIVE.append(processor)
    return processor


class StyleOutput(QgsProcessingLayerPostProcessorInterface):
    """Gives a loaded output its Waterline style (``styles``), temporal properties for dated kinds,
    and its place among the other outputs of the same run (``styles.DRAW_RANK``)."""

    def __init__(self, kind, dest):
        super().__init__()
        self.kind, self.dest = kind, dest

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        if layer is None:
            return
        try:
            styled = styles.apply(layer, self.kind)
            if self.kind in styles.DATED_KINDS and set_temporal_from_field(layer) and feedback is not None:
                feedback.pushInfo(f"{layer.name()}: temporal properties set from the 'date' field "
                                  "(use the Temporal Controller to animate it)")
            layer.setCustomProperty(KIND_PROPERTY, self.kind)
            layer.setCustomProperty(OUTPUT_PROPERTY, self.dest)
            if styled:
                layer.emitStyleChanged()
            order_run_layers(layer, set(context.layersToLoadOnCompletion().keys()) | {self.dest})
        except Exception as exc:  # noqa: BLE001 (a look must never make QGIS call the layer broken)
            if feedback is not None:
                feedback.pushWarning(f"Warning: {layer.name()} keeps QGIS's default style ({exc})")


def style_output(context, dest, kind):
    """Attach a ``StyleOutput`` of ``kind`` to output ``dest`` when it will be loaded; returns whether."""
    if not dest or not isinstance(dest, str) or not context.willLoadLayerOnCompletion(dest):
        return False
    context.layerToLoadOnCompletionDetails(dest).setPostProcessor(_keep(StyleOutput(kind, dest)))
    return True


def order_run_layers(layer, run_outputs):
    """Order the outputs of one run (``run_outputs``: their destinations) beside ``layer`` by draw rank.

    Only the layers of this run that share ``layer``'s group move, as one block where the topmost
    of them is: higher ``styles.DRAW_RANK`` above, ties in their present order. A custom layer
    order (the Layer Order panel) is reordered the same way.
    """
    project = layer.project() or QgsProject.instance()
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None or node.parent() is None:
        return
    parent = node.parent()

    def ours(child):
        return (QgsLayerTree.isLayer(child) and child.layer() is not None
                and child.layer().customProperty(OUTPUT_PROPERTY) in run_outputs)

    def rank(layer_):
        return styles.DRAW_RANK.get(layer_.customProperty(KIND_PROPERTY), 0)

    children = parent.children()
    nodes = [c for c in children if ours(c)]
    wanted = sorted(nodes, key=lambda c: -rank(c.layer()))
    if len(nodes) > 1 and [n.layerId() for n in wanted] != [n.layerId() for n in nodes]:
        start = children.index(nodes[0])
        top, run_ids = wanted[0].layer(), {n.layerId() for n in nodes}
        clones = [n.clone() for n in wanted]
        parent.insertChildNodes(start, clones)  # the clones first: a layer without a node leaves the project
        for n in nodes:
            parent.removeChildNode(n)  # deletes n: use nothing of it after this
        _keep_insertion_above(top, run_ids)
    if root.hasCustomLayerOrder():
        order = root.customLayerOrder()
        places = [i for i, lyr in enumerate(order) if lyr.customProperty(OUTPUT_PROPERTY) in run_outputs]
        ranked = sorted((order[i] for i in places), key=lambda lyr: -rank(lyr))
        for i, lyr in zip(places, ranked):
            order[i] = lyr
        root.setCustomLayerOrder(order)


def _keep_insertion_above(top, run_ids):
    """In the desktop, make ``top`` the current layer when one of the run's was: QGIS adds the next
    layer above the current one, so the run's outputs stay together."""
    from qgis.utils import iface

    view = iface.layerTreeView() if iface is not None else None
    current = view.currentLayer() if view is not None else None
    if view is not None and (current is None or current.id() in run_ids):
        view.setCurrentLayer(top)


# ---------------------------------------------------------------- styles inside GeoPackages


def style_outputs(context, feedback, outputs):
    """Style every output in ``outputs`` ({destination: kind}; None destinations are skipped):
    a post-processor where it will be loaded, the default style inside it where it is a GeoPackage.

    Call after the outputs are written and their sinks deleted (closed). Returns the GeoPackage
    layers whose default style was saved.
    """
    saved = []
    for dest, kind in outputs.items():
        if not dest or not isinstance(dest, str):
            continue
        style_output(context, dest, kind)
        if kind in styles.VECTOR_KINDS and save_default_style(dest, kind, feedback):
            saved.append(dest)
    return saved


def _gpkg_path(dest):
    path = dest.split("|")[0]
    return path if path.lower().endswith(".gpkg") and os.path.isfile(path) else None


def _sqlite_rows(path, sql, args=()):
    """Rows of a read-only query on a GeoPackage; [] when the table is missing."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []


def _table_name(path, dest):
    """The GeoPackage table behind ``dest`` ('path|layername=x', or the only feature table of path)."""
    for part in dest.split("|")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "layername":
            return value
    tables = [r[0] for r in _sqlite_rows(path, "SELECT table_name FROM gpkg_contents WHERE data_type='features'")]
    return tables[0] if len(tables) == 1 else None


def default_style_name(path, table):
    """The name of the default style of ``table`` in the GeoPackage ``path`` (None when it has none)."""
    rows = _sqlite_rows(path, "SELECT styleName FROM layer_styles WHERE f_table_name=? AND useAsDefault=1 "
                              "ORDER BY update_time DESC", (table,))
    return rows[0][0] if rows else None


def save_default_style(dest, kind, feedback=None):
    """Save the ``kind`` style as the default style of GeoPackage output ``dest``; returns whether.

    Not a GeoPackage (memory layer, shapefile, ...): nothing to do. A default style that is not
    Waterline's is left alone.
    """
    path = _gpkg_path(dest)
    if path is None:
        return False
    table = _table_name(path, dest)
    if table is None:
        return False
    current = default_style_name(path, table)
    if current not in (None, STYLE_NAME):
        if feedback is not None:
            feedback.pushInfo(f"{os.path.basename(path)}|{table} keeps its own default style '{current}'")
        return False
    layer = QgsVectorLayer(f"{path}|layername={table}", table, "ogr")
    try:
        if not layer.isValid() or not styles.apply(layer, kind):
            return False
        if kind in styles.DATED_KINDS:
            set_temporal_from_field(layer)
        # QGIS 3.22 hangs saving a style under a name the table already has: drop Waterline's first
        if _sqlite_rows(path, "SELECT 1 FROM layer_styles WHERE f_table_name=? AND styleName=?", (table, STYLE_NAME)):
            count, ids, names, _, _ = layer.listStylesInDatabase()
            for style_id, name in zip(ids[:count], names[:count]):
                if name == STYLE_NAME:
                    layer.deleteStyleFromDatabase(style_id)
        error = layer.saveStyleToDatabase(STYLE_NAME, f"Waterline style for {kind.replace('_', ' ')}", True, "")
    finally:
        del layer  # closes the file
    if error:
        if feedback is not None:
            feedback.pushWarning(f"Warning: could not save the style in {path}: {error}")
        return False
    return True
