"""Training samples for the water U-Net.

Two sources:

* ``EtciScene``: the ETCI 2021 Bangladesh mosaic (VV, VH). A block of x
  columns is held out for validation; training crops never touch it or the
  one-tile gap around it. Percentiles come from a random "scene" around each
  crop (the whole training area or a large sub-rectangle), so the model sees
  the variety of stretches that scenes with more or less water produce.
* ``ChipSet``: chips written by ``make_training_chips`` (CSV manifest), any
  channel set; labels already 0 / 1 / 255 (ignore). Percentiles are those of
  the chip's source stack (the whole scene, as the engine computes them) when
  it is readable, else of all chips cut from that source.

Both normalise with the engine's ``normalize.apply``; statistics are the
engine's dicts (``{"db", "low", "high"}`` per channel).
"""

import csv
from pathlib import Path

import numpy as np

from plugin.engine.core import normalize, raster_io

from .etci import TILE, load_mosaic
from .normalize import default_normalization

IGNORE = 255


def etci_valid(sar):
    # 0 is no data; both channels at 255 is the area outside the swath (the
    # rendering filled it with white, but labels exist there).
    return (sar > 0).all(axis=0) & ~(sar == 255).all(axis=0)


class EtciScene:
    def __init__(self, folder, val_cols=(8, 13), gap=1, cache_dir="build/etci_cache", small_scenes=0.0,
                 select_cols=None):
        self.small_scenes = small_scenes
        self.sar, water, self.valid = load_mosaic(folder, cache_dir)
        self.valid = etci_valid(self.sar)
        self.label = np.where(self.valid, water, IGNORE).astype(np.uint8)
        self.channels = ["VV", "VH"]
        self.norms = default_normalization(self.channels)
        h, w = self.valid.shape
        self.ny, self.nx = h // TILE, w // TILE
        self.val_cols = val_cols
        self.select_cols = select_cols
        self.train_cols = training_columns(self.nx, [c for c in (val_cols, select_cols) if c], gap)
        # Per-tile histograms of valid values, summed over any block of tiles
        # to get that block's percentiles cheaply.
        self.hist = np.zeros((2, self.ny, self.nx, 256), np.int64)
        for y in range(self.ny):
            for x in range(self.nx):
                win = np.s_[y * TILE:(y + 1) * TILE, x * TILE:(x + 1) * TILE]
                v = self.valid[win]
                for c in range(2):
                    self.hist[c, y, x] = np.bincount(self.sar[c][win][v], minlength=256)
        # Crop origins: contiguous runs of training columns.
        self.runs = _runs(self.train_cols)
        wpos = np.argwhere(self.label[::16, ::16] == 1) * 16
        col = wpos[:, 1] // TILE
        self.water_px = wpos[np.isin(col, self.train_cols)]

    def block_stats(self, block=None):
        """Engine statistics over a block (y0, y1, x0, x1) of tiles, from the tile histograms.

        Within one grey level of ``normalize.channel_stats`` on the block's pixels, and
        fast enough to draw a new "scene" for every training crop. 8-bit values are never dB.
        """
        y0, y1, x0, x1 = block or (0, self.ny, 0, self.nx)
        stats = []
        for c, norm in enumerate(self.norms):
            h = self.hist[c, y0:y1, x0:x1].sum(axis=(0, 1))
            low, high = _hist_percentiles(h, [norm["low"], norm["high"]])
            stats.append({"db": False, "low": low, "high": high if high > low else low + 1.0})
        return stats

    def sample(self, rng, size):
        """One training crop: (x (2, size, size) float32 normalised, y uint8)."""
        for _ in range(50):
            if rng.random() < 0.5 and len(self.water_px):
                r, c = self.water_px[rng.integers(len(self.water_px))]
                r0 = int(np.clip(r - rng.integers(size), 0, self.valid.shape[0] - size))
                c0 = int(np.clip(c - rng.integers(size), 0, self.valid.shape[1] - size))
            else:
                a, b = self.runs[rng.integers(len(self.runs))]
                r0 = int(rng.integers(0, self.valid.shape[0] - size + 1))
                c0 = int(rng.integers(a * TILE, max(a * TILE + 1, (b + 1) * TILE - size + 1)))
            cols = range(c0 // TILE, (c0 + size - 1) // TILE + 1)
            if not all(x in self.train_cols for x in cols):
                continue
            lab = self.label[r0:r0 + size, c0:c0 + size]
            if (lab != IGNORE).mean() < 0.3:
                continue
            break
        x = self.sar[:, r0:r0 + size, c0:c0 + size]
        stats = self.block_stats(self._random_scene(rng, r0 // TILE, c0 // TILE))
        return normalize.apply(x, lab != IGNORE, self.norms, stats), lab.copy()

    def _random_scene(self, rng, ty, tx):
        """A block of tiles around (ty, tx) whose percentiles normalise the crop.

        Without ``small_scenes`` (run 1): 30 % of the time the whole training
        area, else a block of 6-30 x 6-23 tiles. With ``small_scenes`` = s
        (the shipped run used 0.25): a share s of 1-3 x 1-3 tile blocks (small
        water-rich clips), 25 % the whole area, the rest 3-30 x 3-23 tiles.
        """
        u = rng.random()
        whole, smallest = (0.25, 3) if self.small_scenes else (0.3, 6)
        if u < self.small_scenes:
            h, w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        elif u < self.small_scenes + whole:
            cols = self.train_cols
            return (0, self.ny, min(cols), max(cols) + 1)
        else:
            h, w = int(rng.integers(smallest, self.ny + 1)), int(rng.integers(smallest, 24))
        y0 = int(np.clip(ty - rng.integers(h), 0, self.ny - h))
        x0 = int(np.clip(tx - rng.integers(w), 0, self.nx - w))
        return (y0, y0 + h, x0, x0 + w)

    def validation_block(self, cols=None):
        """(sar (2, H, W) uint8, label (H, W)) of the held-out columns (default: ``val_cols``)."""
        a, b = cols or self.val_cols
        cols = np.s_[a * TILE:(b + 1) * TILE]
        return self.sar[:, :, cols], self.label[:, cols]


def training_columns(nx, held_out, gap=1):
    """Tile columns training may use: none of the held-out (first, last) blocks nor ``gap`` columns around each."""
    return [x for x in range(nx) if not any(a - gap <= x <= b + gap for a, b in held_out)]


def _runs(cols):
    runs, start = [], cols[0]
    for prev, cur in zip(cols, cols[1:] + [None]):
        if cur != prev + 1:
            runs.append((start, prev))
            start = cur
    return runs


def _hist_percentiles(hist, qs):
    cum = np.cumsum(hist)
    total = cum[-1]
    return [float(np.searchsorted(cum, total * q / 100.0)) for q in qs]


class ChipSet:
    """Chips from a ``make_training_chips`` manifest: raw values, valid masks, labels, engine statistics."""

    def __init__(self, manifest, channels):
        import rasterio

        self.manifest = Path(manifest)
        with open(self.manifest, newline="") as fh:
            self.rows = list(csv.DictReader(fh))
        if not self.rows:
            raise ValueError(f"{manifest} lists no chips")
        self.channels = list(channels)
        self.norms = default_normalization(self.channels)
        self.images, self.valids, self.labels, sources = [], [], [], []
        for row in self.rows:
            img_path = self._resolve(row["image"])
            with rasterio.open(img_path) as src:
                names = [d or "" for d in src.descriptions]
                missing = [c for c in self.channels if c not in names]
                if missing:
                    raise ValueError(
                        f"chip {img_path} has bands {names} but the channel set needs {missing}"
                    )
                img, valid = raster_io.read_window(src, [names.index(c) + 1 for c in self.channels], None)
                self.dtype = src.dtypes[0]
            with rasterio.open(self._resolve(row["label"])) as src:
                lab = src.read(1)
            self.images.append(img)
            self.valids.append(valid)
            self.labels.append(np.where(valid, lab, IGNORE).astype(np.uint8))
            sources.append(row.get("source", ""))
        stats = {s: self._source_stats(s, [i for i, t in enumerate(sources) if t == s]) for s in set(sources)}
        self.chip_stats = [stats[s] for s in sources]

    def _resolve(self, path):
        p = Path(path)
        return p if p.is_absolute() else self.manifest.parent / p

    def _source_stats(self, source, members):
        """The source stack's statistics as the engine computes them for the scene, else the chips' own."""
        import rasterio

        stack = Path(source) if source else None
        if stack is not None and stack.exists():
            with rasterio.open(stack) as src:
                names = list(src.descriptions)
                if all(c in names for c in self.channels):
                    bands = [names.index(c) + 1 for c in self.channels]
                    return normalize.scene_stats(src, bands, self.norms)
        is_float = np.issubdtype(np.dtype(self.dtype), np.floating)
        stats = []
        for c, norm in enumerate(self.norms):
            values = np.concatenate([self.images[i][c][self.valids[i]] for i in members])
            stats.append(normalize.channel_stats(values, norm, is_float) if values.size
                         else {"db": False, "low": 0.0, "high": 1.0})
        return stats

    def __len__(self):
        return len(self.rows)

    def validation_scenes(self):
        """Every chip as (raw (C, H, W), valid (H, W), engine stats, label (H, W)), for the engine's inference."""
        return list(zip(self.images, self.valids, self.chip_stats, self.labels))

    def sample(self, rng, size):
        i = int(rng.integers(len(self.rows)))
        img, lab = self.images[i], self.labels[i]
        h, w = lab.shape
        r0 = int(rng.integers(0, h - size + 1)) if h > size else 0
        c0 = int(rng.integers(0, w - size + 1)) if w > size else 0
        img = img[:, r0:r0 + size, c0:c0 + size]
        lab = lab[r0:r0 + size, c0:c0 + size]
        x = normalize.apply(img, lab != IGNORE, self.norms, self.chip_stats[i])
        if x.shape[1:] != (size, size):  # chips smaller than the crop: pad as ignore
            px = np.zeros((x.shape[0], size, size), np.float32)
            pl = np.full((size, size), IGNORE, np.uint8)
            px[:, :x.shape[1], :x.shape[2]] = x
            pl[:lab.shape[0], :lab.shape[1]] = lab
            x, lab = px, pl
        return x, lab.copy()
