"""Runs inside the real QGIS desktop (``qgis --code``), started by ``qgis_desktop.run_session``.

Reads the job (JSON, path in $WATERLINE_DESKTOP_JOB):

- ``scenes``: calving-front scenes of one glacier (GeoTIFFs); ``basemap``: the scene shown below the
  fronts (default the last); ``sar``: a SAR raster in dB (VV, VH);
- ``searches``: words to type into the Processing toolbox search;
- ``screenshots``: {"fronts", "water", "toolbox", "window"} -> PNG paths (any of them);
- ``window``: the main window size (w, h); ``hide_docks``: dock widgets to hide ("Browser");
  ``report``: where to write the report.

Then, in the running desktop: loads the scene, runs waterline:detect_calving_fronts
and waterline:detect_water with ``processing.runAndLoadResults`` (as the toolbox
dialog would load their outputs), reads the loaded layers' renderers, temporal
properties and order, opens the fronts GeoPackage again from the file (its default
style), filters the Processing toolbox by each search word (the toolbox model and
proxy, and the toolbox dock itself), takes the screenshots, writes the report
(atomically, last) and ends QGIS. Any error is in the report's ``errors``.
"""

import faulthandler
import json
import os
import traceback

from qgis.PyQt.QtCore import QEventLoop, QModelIndex, QTimer, Qt
from qgis.PyQt.QtWidgets import QApplication, QDockWidget
from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRuleBasedRenderer,
    QgsSingleBandPseudoColorRenderer,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)
from qgis.utils import iface

JOB = json.load(open(os.environ["WATERLINE_DESKTOP_JOB"]))
REPORT = {"done": False, "errors": [], "reported_errors": [], "messages": [], "steps": []}
# A session that hangs (a modal dialog, a deadlock) leaves its Python stack here before it is killed.
_STACKS = open(os.path.join(JOB["out"], "stacks.txt"), "w")
faulthandler.dump_traceback_later(float(JOB.get("stack_dump_s", 80)), file=_STACKS)


def _watch():
    """Every few seconds: the visible windows (a modal dialog shows here when a session hangs)."""
    windows = [f"{type(w).__name__} '{w.windowTitle()}'" for w in QApplication.topLevelWidgets() if w.isVisible()]
    with open(os.path.join(JOB["out"], "windows.txt"), "w") as f:
        f.write("\n".join(windows) + "\n")


_WATCH = QTimer()
_WATCH.timeout.connect(_watch)
_WATCH.start(3000)


def step(name):
    """Note a step in the report and in progress.txt (what a hung session last did)."""
    REPORT["steps"].append(name)
    with open(os.path.join(JOB["out"], "progress.txt"), "a") as f:
        f.write(name + "\n")


def colour(c):
    return {"name": c.name(), "alpha": c.alpha()}


def wait(ms):
    loop = QEventLoop()
    QTimer.singleShot(int(ms), loop.quit)
    loop.exec_()


def refresh_canvas(timeout_ms=20000):
    """Redraw the map canvas and wait until it has finished (or ``timeout_ms``)."""
    canvas = iface.mapCanvas()
    loop = QEventLoop()
    canvas.mapCanvasRefreshed.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    canvas.refreshAllLayers()
    loop.exec_()
    canvas.mapCanvasRefreshed.disconnect(loop.quit)
    canvas.waitWhileRendering()
    QApplication.processEvents()


# ---------------------------------------------------------------- what the layers look like


def symbol_info(symbol):
    if symbol is None:
        return None
    return {"type": type(symbol).__name__, "colour": colour(symbol.color()), "opacity": symbol.opacity(),
            "layers": [{"type": type(layer).__name__, "colour": colour(layer.color()), "locked": layer.isLocked(),
                        "width": layer.width() if hasattr(layer, "width") else None,
                        "width_unit": int(layer.widthUnit()) if hasattr(layer, "widthUnit") else None}
                       for layer in symbol.symbolLayers()]}


def renderer_info(layer):
    renderer = layer.renderer()
    info = {"type": type(renderer).__name__ if renderer is not None else None}
    if isinstance(renderer, QgsRuleBasedRenderer):
        info["rules"] = [{"label": r.label(), "filter": r.filterExpression(), "else": r.isElse(),
                          "symbol": symbol_info(r.symbol())} for r in renderer.rootRule().children()]
    elif isinstance(renderer, QgsCategorizedSymbolRenderer):
        info["field"] = renderer.classAttribute()
        info["categories"] = [{"value": c.value(), "label": c.label(), "symbol": symbol_info(c.symbol())}
                              for c in renderer.categories()]
    elif isinstance(renderer, QgsSingleSymbolRenderer):
        info["symbol"] = symbol_info(renderer.symbol())
    elif isinstance(renderer, QgsPalettedRasterRenderer):
        info["band"] = renderer.band()
        info["classes"] = [{"value": c.value, "label": c.label, "colour": colour(c.color)} for c in renderer.classes()]
    elif isinstance(renderer, QgsSingleBandPseudoColorRenderer):
        ramp = renderer.shader().rasterShaderFunction()
        info["band"] = renderer.band()
        info["min"], info["max"] = renderer.classificationMin(), renderer.classificationMax()
        info["items"] = [{"value": i.value, "label": i.label, "colour": colour(i.color)}
                         for i in ramp.colorRampItemList()]
    if renderer is not None and hasattr(renderer, "opacity"):
        info["opacity"] = renderer.opacity()
    return info


def layer_info(layer):
    info = {"name": layer.name(), "id": layer.id(), "source": layer.source(), "provider": layer.providerType(),
            "kind": layer.customProperty("waterline/kind"), "valid": layer.isValid(),
            "renderer": renderer_info(layer), "opacity": layer.opacity()}
    if isinstance(layer, QgsVectorLayer):
        props = layer.temporalProperties()
        info.update(features=layer.featureCount(), geometry=int(layer.geometryType()),
                    fields=layer.fields().names(),
                    temporal={"active": props.isActive(), "mode": int(props.mode()), "start_field": props.startField()})
    return info


def layers_top_to_bottom():
    root = QgsProject.instance().layerTreeRoot()
    order = root.customLayerOrder() if root.hasCustomLayerOrder() else root.layerOrder()
    return [layer for layer in order if layer is not None]


# ---------------------------------------------------------------- the Processing toolbox


def waterline_algorithms(model, source_of):
    """Waterline algorithm ids under every row of a toolbox (proxy) model."""
    found = []

    def walk(parent):
        for row in range(model.rowCount(parent)):
            index = model.index(row, 0, parent)
            algorithm = source_of(index)
            if algorithm is not None and algorithm.provider() is not None \
                    and algorithm.provider().id() == "waterline" and algorithm.id() not in found:
                found.append(algorithm.id())
            walk(index)

    walk(QModelIndex())
    return sorted(found)


def toolbox_searches(words):
    from qgis.gui import QgsGui, QgsProcessingToolboxProxyModel

    registry, recent = QgsApplication.processingRegistry(), QgsGui.processingRecentAlgorithmLog()
    proxy = QgsProcessingToolboxProxyModel(None, registry, recent)
    proxy.setFilters(QgsProcessingToolboxProxyModel.FilterToolbox)
    results = {"proxy": {}, "dock": {}}
    for word in words:
        proxy.setFilterString(word)
        results["proxy"][word] = waterline_algorithms(
            proxy, lambda i: proxy.toolboxModel().algorithmForIndex(proxy.mapToSource(i)))
    proxy.setFilterString("")
    results["all"] = waterline_algorithms(proxy, lambda i: proxy.toolboxModel().algorithmForIndex(proxy.mapToSource(i)))
    dock = toolbox_dock()
    if dock is not None:  # the dock's own search box and tree, as a user types into it
        view = dock.algorithmTree
        for word in words:
            dock.searchBox.setText(word)
            QApplication.processEvents()
            results["dock"][word] = waterline_algorithms(view.model(), view.algorithmForIndex)
        dock.searchBox.setText("")
    return results


def toolbox_dock():
    import qgis.utils

    plugin = qgis.utils.plugins.get("processing")
    dock = getattr(plugin, "toolbox", None)
    if dock is None:
        dock = iface.mainWindow().findChild(QDockWidget, "ProcessingToolbox")
    return dock


def expand_waterline(dock):
    """Collapse the toolbox tree, then expand the Waterline provider and its groups."""
    view = dock.algorithmTree
    model = view.model()
    view.collapseAll()
    view.clearSelection()
    view.setCurrentIndex(QModelIndex())
    for row in range(model.rowCount(QModelIndex())):
        index = model.index(row, 0, QModelIndex())
        if "waterline" in (model.data(index, Qt.DisplayRole) or "").lower():
            view.setExpanded(index, True)
            for child in range(model.rowCount(index)):
                view.setExpanded(model.index(child, 0, index), True)
            view.scrollTo(index, view.PositionAtTop)


# ---------------------------------------------------------------- the session


def run():
    import processing
    from qgis.core import QgsProcessingFeedback

    window = iface.mainWindow()
    width, height = JOB.get("window", (1280, 800))
    window.setWindowState(Qt.WindowNoState)
    window.setGeometry(0, 0, width, height)
    for name in JOB.get("hide_docks", []):  # e.g. "Browser": more room for the Layers panel
        dock = window.findChild(QDockWidget, name)
        if dock is not None:
            dock.hide()
    wait(300)
    REPORT["provider_loaded"] = QgsApplication.processingRegistry().providerById("waterline") is not None
    import qgis.utils
    REPORT["active_plugins"] = sorted(qgis.utils.active_plugins)
    if not REPORT["provider_loaded"]:
        raise RuntimeError("the Waterline provider is not in the Processing registry: the plugin did not load")
    step("start")
    shots = JOB.get("screenshots", {})
    dock = toolbox_dock()
    if dock is not None:
        dock.hide()

    project = QgsProject.instance()
    scene = QgsRasterLayer(JOB.get("basemap", JOB["scenes"][-1]), "Landsat scene")
    project.addMapLayer(scene)
    feedback = QgsProcessingFeedback()
    feedback.pushInfo = feedback.pushWarning = lambda text: REPORT["messages"].append(text)  # keeps the log
    feedback.reportError = lambda text, fatalError=False: REPORT["reported_errors"].append(text)
    out = JOB["out"]
    REPORT["fronts_run"] = processing.runAndLoadResults("waterline:detect_calving_fronts", {
        "INPUT": JOB["scenes"], "OUTPUT": os.path.join(out, "fronts.gpkg"),
        "OUTPUT_ICE": os.path.join(out, "ice_ocean.gpkg")}, feedback=feedback)
    fronts_layers = layers_top_to_bottom()
    step("fronts run")
    current = iface.layerTreeView().currentLayer()
    REPORT["after_fronts_run"] = {"order": [layer.name() for layer in fronts_layers],
                                  "current": current.name() if current is not None else None}
    if "fronts" in shots:
        show_map(scene, [layer for layer in fronts_layers if layer.customProperty("waterline/kind") != "ice_ocean"]
                 if JOB.get("fronts_without_ice") else fronts_layers)
        save_widget(window, shots["fronts"])

    sar = QgsRasterLayer(JOB["sar"], "Sentinel-1 VV (dB)")
    from waterline.processing_provider import styles
    sar.setRenderer(styles.stack_renderer(sar))  # band 1 (VV) in grey
    project.addMapLayer(sar)
    REPORT["water_run"] = processing.runAndLoadResults("waterline:detect_water", {
        "INPUT": JOB["sar"], "OUTPUT_MASK": os.path.join(out, "water_mask.tif"),
        "OUTPUT_PROB": os.path.join(out, "water_probability.tif"), "OUTPUT_POLYGONS": "TEMPORARY_OUTPUT"},
        feedback=feedback)
    step("water run")
    QApplication.processEvents()
    REPORT["layers"] = [layer_info(layer) for layer in layers_top_to_bottom()]

    # The style travels with the GeoPackage: the fronts file opened anew, as a user would.
    # (Not iface.addVectorLayer: QGIS 3.22 asks which items to add from a GeoPackage with a styles table.)
    again = QgsVectorLayer(os.path.join(out, "fronts.gpkg"), "fronts from the file", "ogr")
    REPORT["fronts_from_file"] = layer_info(again)
    step("fronts from the file")
    REPORT["toolbox"] = toolbox_searches(JOB.get("searches", []))
    step("toolbox searches")

    if "window" in shots:  # everything loaded, the fronts in view
        show_map(scene, layers_top_to_bottom())
        pixmap = window.grab()
        pixmap.save(shots["window"], "PNG")
        REPORT["window_size"] = [window.width(), window.height()]
        REPORT["window_grab"] = [pixmap.width(), pixmap.height()]
    if "water" in shots:  # the SAR image and the water outputs only; the probability would hide the image
        project.removeMapLayers([layer.id() for layer in fronts_layers])
        water = [layer for layer in layers_top_to_bottom()
                 if layer.customProperty("waterline/kind") not in ("water_probability", "water_polygons")]
        show_map(sar, water)
        save_widget(window, shots["water"])
    if "toolbox" in shots and dock is not None:
        dock.setFloating(True)
        dock.resize(*JOB.get("toolbox_size", (430, 760)))
        dock.show()
        expand_waterline(dock)
        wait(300)
        save_widget(dock, shots["toolbox"])
    step("screenshots")


def show_map(extent_layer, visible):
    """Only ``visible`` layers ticked (the others folded away), the map on ``extent_layer``, drawn."""
    root = QgsProject.instance().layerTreeRoot()
    ids = {layer.id() for layer in visible}
    for node in root.findLayers():
        node.setItemVisibilityChecked(node.layerId() in ids)
        node.setExpanded(node.layerId() in ids)
    canvas = iface.mapCanvas()
    crs = extent_layer.crs()
    QgsProject.instance().setCrs(crs)
    canvas.setDestinationCrs(crs)
    extent = canvas.mapSettings().layerExtentToOutputExtent(extent_layer, extent_layer.extent())
    canvas.setExtent(extent.buffered(extent.width() * 0.02))
    if visible:
        iface.setActiveLayer(visible[0])
    refresh_canvas()
    wait(300)


def save_widget(widget, path):
    widget.grab().save(path, "PNG")
    REPORT.setdefault("screenshots", {})[os.path.basename(path)] = [widget.width(), widget.height()]


def main():
    try:
        run()
    except Exception:  # noqa: BLE001 (everything goes into the report)
        REPORT["errors"].append(traceback.format_exc())
    REPORT["done"] = True
    tmp = JOB["report"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(REPORT, f, indent=1, default=str)
    os.replace(tmp, JOB["report"])
    # Leave at once: no "save the project?" question, no teardown of a desktop nobody sees.
    os._exit(0)


QTimer.singleShot(int(JOB.get("start_delay_ms", 1500)), main)
