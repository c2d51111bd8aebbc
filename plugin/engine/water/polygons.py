"""Water polygons from a water mask raster, with area and a minimum-area filter.

The mask is vectorised window by window (rasterio.features.shapes, 8-bit
connectivity off: 4-connected pixels form a polygon). Polygons that touch an
inner window edge may continue in the next window; only those are kept aside
and dissolved at the end, so memory holds the edge pieces, not the whole
map. Areas are in square metres: planar for projected CRSs, geodesic (WGS84)
for geographic ones.
"""

import numpy as np
import rasterio
from rasterio import features
from shapely.geometry import shape
from shapely.ops import unary_union

from ..core import raster_io
from ..core.cancel import check_cancel


def _area_fn(crs):
    if crs is not None and crs.is_geographic:
        from pyproj import Geod

        geod = Geod(ellps="WGS84")
        return lambda g: abs(geod.geometry_area_perimeter(g)[0])
    factor = 1.0 if crs is None else crs.linear_units_factor[1] ** 2
    return lambda g: g.area * factor


def water_polygons(mask_path, water_value=1, min_area_m2=0.0, band=1, block=2048,
                   progress=None, is_canceled=None):
    """Yield (shapely Polygon, area_m2) for connected water regions >= ``min_area_m2``."""
    with rasterio.open(mask_path) as src:
        area = _area_fn(src.crs)
        width, height = src.width, src.height
        total = raster_io.count_windows(width, height, block)
        pending = []
        for i, (core, _) in enumerate(raster_io.windows(width, height, block)):
            check_cancel(is_canceled)
            data = src.read(band, window=core)
            water = (data == water_value).astype(np.uint8)
            if water.any():
                transform = rasterio.windows.transform(core, src.transform)
                touches = _inner_edges(core, width, height)
                for geom, _ in features.shapes(water, mask=water.astype(bool), transform=transform,
                                               connectivity=4):
                    poly = shape(geom)
                    if _touches_edge(geom, core, touches, src.transform):
                        pending.append(poly)
                    else:
                        a = area(poly)
                        if a >= min_area_m2:
                            yield poly, a
            if progress:
                progress((i + 1) / total * (0.9 if pending else 1.0))
        if pending:
            check_cancel(is_canceled)
            merged = unary_union(pending)
            for poly in getattr(merged, "geoms", [merged]):
                a = area(poly)
                if a >= min_area_m2:
                    yield poly, a
        if progress:
            progress(1.0)


def _inner_edges(core, width, height):
    """Which sides of the window border another window: (left, top, right, bottom)."""
    return (core.col_off > 0, core.row_off > 0,
            core.col_off + core.width < width, core.row_off + core.height < height)


def _touches_edge(geom, core, sides, transform):
    # Ring coordinates lie on pixel corners; compare in pixel space to avoid float noise.
    inv = ~transform
    left, top, right, bottom = sides
    c0, r0 = core.col_off, core.row_off
    c1, r1 = c0 + core.width, r0 + core.height
    for ring in geom["coordinates"]:
        cols, rows = zip(*(inv * xy for xy in ring))
        cols, rows = np.round(cols), np.round(rows)
        if (left and (cols == c0).any()) or (right and (cols == c1).any()) \
                or (top and (rows == r0).any()) or (bottom and (rows == r1).any()):
            return True
    return False
