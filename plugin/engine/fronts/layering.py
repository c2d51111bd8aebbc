"""The CALFIN layering of a whole raster, window by window.

``layer_calfin_raster``: one grey band -> the 3-band CALFIN model input
(``enhance.layer_calfin`` per window, with a halo so windows meet seamlessly).
"""

import os

import rasterio

from . import enhance
from ..core import raster_io
from ..core.cancel import check_cancel

WINDOW = 1024


def layer_calfin_raster(src_path, dst_path, band=1, sigma=enhance.DEFAULT_SIGMA,
                        progress=None, is_canceled=None):
    """Write the 3-band CALFIN input (uint8, 0 = nodata) for one band of ``src_path``."""
    with rasterio.open(src_path) as src:
        if not 1 <= band <= src.count:
            raise ValueError(
                f"{os.path.basename(src_path)} has {src.count} band(s); band {band} does not exist"
            )
        sample = raster_io.decimated_samples(src, [band])[0]
        if sample.size == 0:
            raise ValueError(f"{os.path.basename(src_path)} holds no valid pixels (all nodata)")
        limits = enhance.stretch_limits(sample)
        profile = raster_io.output_profile(src, 3, "uint8", nodata=0)
        halo = enhance.halo(sigma)
        total = raster_io.count_windows(src.width, src.height, WINDOW)
        with raster_io.open_output(dst_path, profile, [n.upper() for n in enhance.LAYER_NAMES]) as dst:
            for i, (core, padded) in enumerate(raster_io.windows(src.width, src.height, WINDOW, halo)):
                check_cancel(is_canceled)
                values, valid = raster_io.read_window(src, [band], padded)
                layers = enhance.layer_calfin(values[0], valid, limits, sigma)
                dst.write(raster_io.crop_to_core(layers, core, padded), window=core)
                if progress:
                    progress((i + 1) / total)
    return {"limits": limits}
