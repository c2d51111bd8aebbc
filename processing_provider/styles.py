"""How Waterline's outputs look: one renderer builder per kind of output.

Each builder takes the layer (its data choose the classes: the dates of the
fronts, the bands of a raster) and returns a new renderer; ``apply(layer, kind)``
sets it. ``postprocess`` attaches them to loaded outputs and saves them as the
default style inside GeoPackage outputs; this module only builds renderers.

=================== ======================================================================
kind                what it looks like
=================== ======================================================================
fronts              lines 0.8 mm on a dark casing, coloured by date (Plasma: old purple,
                    new yellow; up to 5 equal intervals of time), grey dashed: no date
terminus_points     the same date colours as circles
ice_ocean           categorised on ``class``: ice_land pale cyan, ocean deep blue; the layer
                    at 50 % opacity
water_polygons      blue fill (60 %), darker blue outline
water_mask          paletted: 1 water blue, 0 fully transparent (255 is the file's nodata)
water_probability   pseudocolour 0..1, Blues, transparent at 0
front_probability   pseudocolour 0..1 on band 1 (front), Magma, transparent at 0
probability         Run model's probability raster: Blues for a water output, Magma otherwise
class_mask          Run model's class raster: 1 orange, 0 transparent
hand                pseudocolour 0..30 m (YlGnBu reversed: low ground near drainage blue)
fjord_mask          paletted: 1 fjord light blue (35 %), 0 wall / outside dark grey (55 %)
stack               grey on band 1, 2-98 % cumulative-cut stretch
=================== ======================================================================
"""

import datetime

from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtGui import QColor
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsColorRampShader,
    QgsContrastEnhancement,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsLineSymbol,
    QgsMarkerSymbol,
    QgsPalettedRasterRenderer,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererCategory,
    QgsRuleBasedRenderer,
    QgsSimpleLineSymbolLayer,
    QgsSingleBandGrayRenderer,
    QgsSingleBandPseudoColorRenderer,
    QgsSingleSymbolRenderer,
    QgsStyle,
    QgsUnitTypes,
    QgsVectorLayer,
)

FRONT_WIDTH_MM = 0.8
FRONT_CASING_MM = 1.3
DATE_CLASSES = 5
DATE_RAMP = ("Plasma", 0.25, 1.0)  # ramp name and the part of it used (its darkest end is left out)
ICE_COLOURS = {"ice_land": ("Ice and land", "#bfe9ff"), "ocean": ("Ocean and mélange", "#0b3d91")}
ICE_OPACITY = 0.5
WATER_BLUE = "#1565c0"
HAND_MAX_M = 30.0
NO_DATE_COLOUR = "#9e9e9e"


# ---------------------------------------------------------------- colour ramps


def color_ramp(name, start=0.0, end=1.0, invert=False):
    """A named QGIS colour ramp (or a grey one when the style database lacks it), cut to start..end."""
    ramp = QgsStyle.defaultStyle().colorRamp(name)
    if ramp is None:
        ramp = QgsGradientColorRamp(QColor("#202020"), QColor("#f0f0f0"))

    def colour(t):
        t = min(max(float(t), 0.0), 1.0)
        if invert:
            t = 1.0 - t
        return QColor(ramp.color(start + (end - start) * t))

    return colour


# ---------------------------------------------------------------- dates


def _qdate(value):
    if isinstance(value, QDate):
        return value if value.isValid() else None
    if hasattr(value, "date") and callable(value.date):  # QDateTime
        date = value.date()
        return date if date.isValid() else None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return QDate(value.year, value.month, value.day)
    if isinstance(value, str) and value:
        date = QDate.fromString(value[:10], Qt.ISODate)
        return date if date.isValid() else None
    return None


def layer_dates(layer, field="date"):
    """The distinct valid dates of ``field`` in ``layer``, sorted (as QDate)."""
    index = layer.fields().indexFromName(field) if isinstance(layer, QgsVectorLayer) else -1
    if index < 0:
        return []
    dates = {d.toJulianDay(): d for d in (_qdate(v) for v in layer.uniqueValues(index)) if d is not None}
    return [dates[k] for k in sorted(dates)]


def date_classes(dates, classes=DATE_CLASSES):
    """Group sorted distinct dates into up to ``classes`` equal intervals of time (empty ones left out).

    Returns ``[(first, last, t)]``: each class's first and last date and its place
    in time (0 = oldest, 1 = newest: the middle of its dates between the first and
    the last date of all), which picks its colour on the ramp, so colours follow
    time: fronts years apart never share a colour, a gap in the series shows.
    """
    if not dates:
        return []
    first, last = dates[0].toJulianDay(), dates[-1].toJulianDay()
    span = last - first
    if span == 0:
        return [(dates[0], dates[0], 0.5)]
    groups = {}
    for date in dates:
        groups.setdefault(min(int((date.toJulianDay() - first) * classes / span), classes - 1), []).append(date)
    return [(g[0], g[-1], ((g[0].toJulianDay() + g[-1].toJulianDay()) / 2.0 - first) / span)
            for _, g in sorted(groups.items())]


def _iso(date):
    return date.toString(Qt.ISODate)


def date_rules(dates, field="date", classes=DATE_CLASSES):
    """``[(label, filter expression, t)]`` for the date classes; the first and last are open-ended,
    so fronts appended later with earlier or later dates are still drawn (in the end colours)."""
    groups = date_classes(dates, classes)
    rules = []
    for k, (first, last, t) in enumerate(groups):
        label = _iso(first) if first == last else f"{_iso(first)} – {_iso(last)}"
        parts = [f'"{field}" IS NOT NULL']
        if k > 0:
            parts.append(f"\"{field}\" >= to_date('{_iso(first)}')")
        if k < len(groups) - 1:
            parts.append(f"\"{field}\" < to_date('{_iso(groups[k + 1][0])}')")
        rules.append((label, " AND ".join(parts), t))
    return rules


def _dated_renderer(layer, make_symbol, field="date"):
    """A rule-based renderer: one rule per date class (ramp colours), ELSE grey for fronts without a date."""
    colour = color_ramp(*DATE_RAMP)
    root = QgsRuleBasedRenderer.Rule(None)
    for label, expression, t in date_rules(layer_dates(layer, field), field):
        root.appendChild(QgsRuleBasedRenderer.Rule(make_symbol(colour(t)), 0, 0, expression, label))
    other = make_symbol(QColor(NO_DATE_COLOUR), dashed=True)
    root.appendChild(QgsRuleBasedRenderer.Rule(other, 0, 0, "ELSE", "other or no date", "", True))
    return QgsRuleBasedRenderer(root)


# ---------------------------------------------------------------- vector kinds


def front_symbol(colour, dashed=False):
    """A calving-front line: ``FRONT_WIDTH_MM`` in ``colour`` over a locked dark casing."""
    casing = QgsSimpleLineSymbolLayer(QColor(0, 0, 0, 150), FRONT_CASING_MM)
    casing.setLocked(True)  # the symbol's colour is the front's, never the casing's
    line = QgsSimpleLineSymbolLayer(QColor(colour), FRONT_WIDTH_MM)
    for layer in (casing, line):
        layer.setWidthUnit(QgsUnitTypes.RenderMillimeters)
        layer.setPenCapStyle(Qt.RoundCap)
        layer.setPenJoinStyle(Qt.RoundJoin)
    if dashed:
        line.setPenStyle(Qt.DashLine)
    symbol = QgsLineSymbol()
    symbol.deleteSymbolLayer(0)
    for layer in (casing, line):  # appendSymbolLayer takes ownership (a list given to QgsLineSymbol does not)
        symbol.appendSymbolLayer(layer)
    return symbol


def fronts_renderer(layer, field="date"):
    """Calving fronts: thick lines coloured by date (older purple, newer yellow)."""
    return _dated_renderer(layer, front_symbol, field)


def terminus_point_symbol(colour, dashed=False):
    symbol = QgsMarkerSymbol.createSimple({
        "name": "circle", "color": QColor(colour).name(), "size": "2.6", "size_unit": "MM",
        "outline_color": "35,35,35,255", "outline_width": "0.3", "outline_width_unit": "MM",
        "outline_style": "dash" if dashed else "solid"})
    return symbol


def terminus_points_renderer(layer, field="date"):
    """Terminus points: circles in the fronts' date colours."""
    return _dated_renderer(layer, terminus_point_symbol, field)


def ice_ocean_renderer(layer=None, field="class"):
    """Ice and ocean polygons: categorised on ``class`` (ice_land, ocean), no outline.

    The symbols are opaque and the layer is drawn at 50 % (``LAYER_OPACITY``): the polygons of
    many scenes lie on top of each other, and semi-transparent symbols would add up to an opaque
    blanket; this way the layer shows the last scene's classes at 50 %, and the legend keeps
    clear swatches.
    """
    categories = []
    for value, (label, colour) in ICE_COLOURS.items():
        symbol = QgsFillSymbol.createSimple({"color": colour, "outline_style": "no"})
        categories.append(QgsRendererCategory(value, symbol, label))
    return QgsCategorizedSymbolRenderer(field, categories)


def water_polygons_renderer(layer=None):
    """Water polygons: blue fill, darker outline."""
    blue = QColor(WATER_BLUE)
    fill = QColor(blue)
    fill.setAlpha(153)
    symbol = QgsFillSymbol.createSimple({
        "color": f"{fill.red()},{fill.green()},{fill.blue()},{fill.alpha()}",
        "outline_color": blue.darker(140).name(), "outline_width": "0.3", "outline_width_unit": "MM"})
    return QgsSingleSymbolRenderer(symbol)


# ---------------------------------------------------------------- raster kinds


def _paletted(layer, classes, band=1):
    return QgsPalettedRasterRenderer(
        layer.dataProvider(), band,
        [QgsPalettedRasterRenderer.Class(value, QColor(colour), label) for value, colour, label in classes])


def water_mask_renderer(layer, band=1):
    """Water mask (uint8 1 water, 0 not water, 255 nodata): water blue, the rest fully transparent."""
    return _paletted(layer, [(1, WATER_BLUE, "water"), (0, QColor(0, 0, 0, 0), "not water")], band)


def class_mask_renderer(layer, band=1):
    """Run model's class raster (1 class, 0 not): the class orange, the rest transparent."""
    return _paletted(layer, [(1, "#ff7f00", "class 1"), (0, QColor(0, 0, 0, 0), "class 0")], band)


def fjord_mask_renderer(layer, band=1):
    """Fjord mask (1 fjord, 0 wall or outside): fjord faint light blue, walls dark grey."""
    return _paletted(layer, [(1, QColor(120, 200, 255, 90), "fjord"),
                             (0, QColor(40, 40, 40, 140), "wall / outside")], band)


def pseudocolour(layer, minimum, maximum, colour, band=1, stops=6, labels=None, transparent_minimum=False):
    """A single-band pseudocolour renderer from ``minimum`` to ``maximum`` (interpolated, ``stops`` stops).

    Values above the maximum take the last colour; ``transparent_minimum`` makes the first stop
    fully transparent (so the low end shows what lies below).
    """
    items = []
    for i in range(stops):
        t = i / (stops - 1)
        value = minimum + (maximum - minimum) * t
        c = colour(t)
        if transparent_minimum and i == 0:
            c.setAlpha(0)
        label = labels(value) if labels else f"{value:g}"
        items.append(QgsColorRampShader.ColorRampItem(value, c, label))
    ramp = QgsColorRampShader(minimum, maximum)
    ramp.setColorRampType(QgsColorRampShader.Interpolated)
    ramp.setColorRampItemList(items)
    ramp.setClip(False)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(minimum)
    renderer.setClassificationMax(maximum)
    return renderer


def water_probability_renderer(layer, band=1):
    """Water probability 0..1 (-1 nodata) on Blues, transparent at 0."""
    return pseudocolour(layer, 0.0, 1.0, color_ramp("Blues", 0.1, 1.0), band, transparent_minimum=True)


def front_probability_renderer(layer, band=1):
    """Calving-front probability rasters (band 1 front, band 2 ice): front probability on Magma."""
    return pseudocolour(layer, 0.0, 1.0, color_ramp("Magma", 0.15, 1.0), band, transparent_minimum=True)


def probability_renderer(layer, band=1):
    """Run model's probability raster: Blues for a water output (band named water), Magma otherwise."""
    name = (layer.bandName(band) or "").lower()  # "Band 1: water": GDAL's band description included
    if "water" in name:
        return water_probability_renderer(layer, band)
    return front_probability_renderer(layer, band)


def hand_renderer(layer, band=1, maximum=HAND_MAX_M):
    """HAND in metres, 0..30 m: blue near the drainage, yellow high above it."""
    return pseudocolour(layer, 0.0, maximum, color_ramp("YlGnBu", 0.05, 1.0, invert=True), band, stops=7,
                        labels=lambda v: f"{v:g} m")


def stack_renderer(layer, band=1):
    """Stacks and layered scenes: band 1 in grey, stretched to its 2-98 % cumulative cut."""
    provider = layer.dataProvider()
    renderer = QgsSingleBandGrayRenderer(provider, band)
    enhancement = QgsContrastEnhancement(provider.dataType(band))
    enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
    low, high = provider.cumulativeCut(band, 0.02, 0.98, layer.extent(), 250000)
    if not high > low:
        stats = provider.bandStatistics(band)
        low, high = stats.minimumValue, stats.maximumValue
    enhancement.setMinimumValue(low)
    enhancement.setMaximumValue(high)
    renderer.setContrastEnhancement(enhancement)
    return renderer


BUILDERS = {
    "fronts": fronts_renderer,
    "terminus_points": terminus_points_renderer,
    "ice_ocean": ice_ocean_renderer,
    "water_polygons": water_polygons_renderer,
    "water_mask": water_mask_renderer,
    "class_mask": class_mask_renderer,
    "fjord_mask": fjord_mask_renderer,
    "water_probability": water_probability_renderer,
    "front_probability": front_probability_renderer,
    "probability": probability_renderer,
    "hand": hand_renderer,
    "stack": stack_renderer,
}
VECTOR_KINDS = {"fronts", "terminus_points", "ice_ocean", "water_polygons"}
DATED_KINDS = {"fronts", "terminus_points", "ice_ocean"}  # also get temporal properties from their date field
LAYER_OPACITY = {"ice_ocean": ICE_OPACITY}  # layer opacity (the rest: opaque layers)
# Drawing order of one run's outputs when loaded together: higher ranks are drawn above lower ones.
DRAW_RANK = {"terminus_points": 90, "fronts": 80, "water_polygons": 70, "class_mask": 60, "water_mask": 60,
             "ice_ocean": 40, "fjord_mask": 35, "water_probability": 30, "front_probability": 30,
             "probability": 30, "hand": 20, "stack": 10}


def renderer_for(layer, kind):
    """A new renderer of ``kind`` for ``layer``, or None when the layer is not of the right type."""
    if kind not in BUILDERS or layer is None or not layer.isValid():
        return None
    wants_vector = kind in VECTOR_KINDS
    if not isinstance(layer, QgsVectorLayer if wants_vector else QgsRasterLayer):
        return None
    return BUILDERS[kind](layer)


def apply(layer, kind):
    """Give ``layer`` the renderer of ``kind``; returns whether it was set."""
    renderer = renderer_for(layer, kind)
    if renderer is None:
        return False
    layer.setRenderer(renderer)
    layer.setOpacity(LAYER_OPACITY.get(kind, 1.0))
    layer.triggerRepaint()
    return True
