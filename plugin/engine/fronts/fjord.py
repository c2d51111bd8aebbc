"""Fjord-boundary masks: 1 inside the fjord, 0 on and outside its walls.

CALFIN uses such a mask to drop predicted front pixels that lie on static
rock boundaries. ``rasterize_fjord`` burns user geometries onto a subset's grid;
``starter_mask_from_stack`` derives a first mask from several subsets of one
domain for the user to edit: edges that are strong in every scene (rock walls,
coast) are static, while the calving front moves and averages out.
"""

import contextlib
import os
import tempfile

import numpy as np
import rasterio
from rasterio import features
from rasterio.windows import transform as window_transform
from scipy import ndimage
from shapely.geometry import mapping, shape
from shapely.ops import polygonize, unary_union

from ..core import raster_io
from ..core.cancel import check_cancel

WINDOW = 1024
INSIDE, WALL = 1, 0


def fjord_shapes(geometries, pixel_size, wall_width_px=2.0):
    """(interior polygons, wall polygons) from fjord-boundary lines or polygons.

    Polygons are fjord interiors and their outlines are walls. Lines are walls;
    where lines close into rings, the rings are interiors too. Walls are
    buffered to ``wall_width_px`` pixels so they rasterise as solid bands.
    """
    geoms = [shape(g) for g in geometries if g]
    geoms = [g for g in geoms if not g.is_empty]
    if not geoms:
        raise ValueError("the fjord-boundary layer has no geometries")
    polygons = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    lines = [g for g in geoms if g.geom_type in ("LineString", "MultiLineString", "LinearRing")]
    if len(polygons) + len(lines) != len(geoms):
        raise ValueError("fjord boundaries must be lines or polygons (points were given)")
    interiors = list(polygons)
    walls = [p.boundary for p in polygons] + lines
    if lines:
        interiors += list(polygonize(unary_union(lines)))
    half = max(wall_width_px, 1.0) * pixel_size / 2.0
    wall_zone = unary_union([w.buffer(half, cap_style=2) for w in walls])
    return interiors, wall_zone


def rasterize_fjord(reference_path, dst_path, geometries, overrides=(), wall_width_px=2.0,
                    progress=None, is_canceled=None):
    """Write a uint8 mask on the grid of ``reference_path``.

    ``geometries`` are GeoJSON-like fjord boundaries in the reference CRS.
    ``overrides`` are ``(geometry, value)`` pairs burned last (value 0 or 1).
    Without any closed interior the mask is 1 everywhere except on the walls.
    """
    with rasterio.open(reference_path) as ref:
        if ref.crs is None:
            raise ValueError(f"the reference raster {os.path.basename(reference_path)} has no CRS")
        grid = dict(crs=ref.crs, transform=ref.transform, width=ref.width, height=ref.height)
        pixel = raster_io.pixel_size(ref.transform)
        bounds = tuple(ref.bounds)
    interiors, walls = fjord_shapes(geometries, pixel, wall_width_px)
    everything = unary_union(interiors + [walls] + [shape(g) for g, _ in overrides])
    if not raster_io.bounds_overlap(everything.bounds, bounds):
        raise ValueError("the fjord boundaries do not overlap the reference raster")
    background = WALL if interiors else INSIDE
    shapes = [(mapping(p), INSIDE) for p in interiors]
    if not walls.is_empty:
        shapes.append((mapping(walls), WALL))
    shapes += [(g, int(v)) for g, v in overrides]
    profile = raster_io.output_profile(grid, 1, "uint8", nodata=255)
    total = raster_io.count_windows(grid["width"], grid["height"], WINDOW)
    with raster_io.open_output(dst_path, profile, ["fjord_mask"]) as dst:
        for i, (win, _) in enumerate(raster_io.windows(grid["width"], grid["height"], WINDOW)):
            check_cancel(is_canceled)
            mask = features.rasterize(
                shapes, out_shape=(win.height, win.width), fill=background,
                transform=window_transform(win, grid["transform"]), dtype="uint8",
            )
            dst.write(mask, 1, window=win)
            if progress:
                progress((i + 1) / total)


def starter_mask_from_stack(paths, dst_path, band=1, static_fraction=0.5, sigma=1.5,
                            progress=None, is_canceled=None):
    """A starter fjord mask from subsets of one domain (all on one grid).

    Per scene: robust stretch, Gaussian gradient magnitude. Mean over scenes:
    static edges stay strong, the moving front averages out. Pixels above the
    ``static_percentile`` of the mean edge strength, or without data in any
    scene, become walls (0); the rest is 1.
    """
    if len(paths) < 2:
        raise ValueError("give at least two subsets of the same domain to derive a fjord mask")
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(rasterio.open(p)) for p in paths]
        first = sources[0]
        for src, path in zip(sources[1:], paths[1:]):
            if (src.crs, src.transform, src.width, src.height) != (first.crs, first.transform, first.width, first.height):
                raise ValueError(
                    f"{os.path.basename(path)} is not on the same grid as {os.path.basename(paths[0])}; "
                    "run 'Subset scenes to a domain' on all scenes first"
                )
        limits = []
        for src, path in zip(sources, paths):
            sample = raster_io.decimated_samples(src, [band])[0]
            if sample.size == 0:
                raise ValueError(f"{os.path.basename(path)} holds no valid pixels (all nodata)")
            lo, hi = np.percentile(sample, [1, 99])
            limits.append((float(lo), float(max(hi, lo + 1e-6))))
        grid = dict(crs=first.crs, transform=first.transform, width=first.width, height=first.height)
        halo = int(4 * sigma) + 2
        total = 2 * raster_io.count_windows(first.width, first.height, WINDOW)
        step = 0
        tmpdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="waterline-fjord-"))
        edge_path = os.path.join(tmpdir, "mean_edge.tif")
        with rasterio.open(edge_path, "w", **raster_io.output_profile(grid, 1, "float32", nodata=-1.0)) as edge_dst:
            for core, padded in raster_io.windows(first.width, first.height, WINDOW, halo):
                check_cancel(is_canceled)
                total_edge = np.zeros((padded.height, padded.width), np.float32)
                all_valid = np.ones_like(total_edge, dtype=bool)
                for src, (lo, hi) in zip(sources, limits):
                    values, valid = raster_io.read_window(src, [band], padded)
                    x = np.clip((np.where(valid, values[0], lo) - lo) / (hi - lo), 0, 1)
                    total_edge += ndimage.gaussian_gradient_magnitude(x, sigma)
                    all_valid &= valid
                mean_edge = np.where(all_valid, total_edge / len(sources), -1.0)
                edge_dst.write(raster_io.crop_to_core(mean_edge, core, padded).astype(np.float32), 1, window=core)
                step += 1
                if progress:
                    progress(step / total)
        with rasterio.open(edge_path) as edges:
            sample = raster_io.decimated_samples(edges, [1])[0]
            if sample.size == 0:
                raise ValueError("the subsets share no pixel where all of them hold data")
            cut = static_fraction * float(np.percentile(sample, 99))
            profile = raster_io.output_profile(grid, 1, "uint8", nodata=255)
            with raster_io.open_output(dst_path, profile, ["fjord_mask"]) as dst:
                for win, _ in raster_io.windows(first.width, first.height, WINDOW):
                    check_cancel(is_canceled)
                    e = edges.read(1, window=win)
                    mask = np.where((e >= 0) & (e <= cut), INSIDE, WALL).astype(np.uint8)
                    dst.write(mask, 1, window=win)
                    step += 1
                    if progress:
                        progress(step / total)
    return {"edge_threshold": cut}
