"""Small helpers for tests: write GeoTIFFs and vector layers to temporary folders."""

import fiona
import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import mapping

# A polar stereographic grid like the CALFIN subsets (Greenland, ~49 m pixels).
POLAR = CRS.from_epsg(3413)


def write_tif(path, array, crs=POLAR, transform=None, nodata=None, descriptions=None):
    """Write ``array`` (H, W) or (B, H, W) as a GeoTIFF; returns the path as str."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    transform = transform or from_origin(-200000.0, -2200000.0, 49.0, 49.0)
    with rasterio.open(
        path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
        count=array.shape[0], dtype=array.dtype, crs=crs, transform=transform, nodata=nodata,
    ) as dst:
        dst.write(array)
        for i, name in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, name)
    return str(path)


def moved_copy(src_path, dst_path, transform):
    """A copy of a real raster placed elsewhere (same pixels and CRS, another transform)."""
    with rasterio.open(src_path) as src:
        profile = dict(src.profile, transform=transform)
        data = src.read()
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(data)
    return str(dst_path)


def png_to_tif(png_path, tif_path, band=1, **kwargs):
    """A real PNG from ../shared (no georeferencing) as a georeferenced GeoTIFF."""
    with rasterio.open(png_path) as src:
        data = src.read(band)
    return write_tif(tif_path, data, **kwargs)


def write_vector(path, geometries, crs, properties=None, layer=None):
    """Write shapely geometries to a GeoPackage layer; returns the path as str."""
    geom_type = geometries[0].geom_type
    props = properties or [{} for _ in geometries]
    schema = {"geometry": geom_type,
              "properties": {k: "str" for k in (props[0] if props else {})}}
    with fiona.open(path, "w", driver="GPKG", crs=crs.to_string(), schema=schema,
                    layer=layer) as dst:
        for geometry, prop in zip(geometries, props):
            dst.write({"geometry": mapping(geometry), "properties": prop})
    return str(path)


def read(path, band=None, masked=False):
    with rasterio.open(path) as src:
        return src.read(band, masked=masked) if band else src.read(masked=masked)


def profile(path):
    with rasterio.open(path) as src:
        return src.profile, list(src.descriptions)
