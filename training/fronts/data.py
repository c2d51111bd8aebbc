"""Calving-front training data: Landsat (Mohajerani et al. 2019) and SAR (CaFFe subset).

Every sample becomes the plugin's 3-band CALFIN layering
(``plugin.engine.fronts.enhance.layer_calfin``, the same code the plugin runs) plus
targets of the same size:

- ``edge``: 1 on the front line (3 px wide), 0 elsewhere;
- ``ice``: 1 on glacier ice and land, 0 on ocean/melange;
- ``ice_weight``: 1 where the ice target is known, 0 where it is not;
- ``rock``: 1 on rock (land that is not glacier), 0 on glacier ice and ocean, and
  ``rock_weight``: 1 where that is known (SAR zones only; unknown on every
  Landsat pixel). A model with a third output learns it, so the extraction can
  tell a glacier front from a rocky coast;
- ``coast``: 1 on the land/ocean margin that is not front (SAR zones only): the
  lateral margins and coasts an edge head takes for front on unseen glaciers.
  With ``Augment(coast_weight=k)`` the edge loss weighs them k times (hard negatives).

Landsat subsets only carry a front line. Their images are rotated so the
glacier lies *below* the front and ocean/melange above it (checked visually
on the data: flow stripes below, icebergs above). In a column the front
crosses, rows below its lowest front pixel are ice and rows above its highest
are ocean; rows between (a folded front) and every column the front does not
cross (rock walls beside the fjord, where a column may also hold open water
further out) are left unknown rather than guessed.

SAR (CaFFe) zones: 1 no information (unknown), 2 rock and 3 glacier (ice and
land), 4 ocean and melange.

Validation is held out by glacier: Landsat WRS-2 path/rows ``229-231/012``
(one glacier seen from three neighbouring paths) and the SAR glacier Jorum.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import io

from plugin.engine.fronts.enhance import layer_calfin, stretch_limits

from . import model_input

LANDSAT_VAL_PATHROWS = ("229012", "230012", "231012")
# The path/rows of each Landsat glacier in ../shared/data/fronts-landsat: the subsets of one glacier from
# neighbouring path/rows show the same fjord (told apart by eye and by image correlation), so a glacier is
# unseen only when all its path/rows are left out.
LANDSAT_GLACIERS = (("008011", "009011", "010011"),
                    ("020007", "021006", "021007", "022006", "023006", "024006"),
                    LANDSAT_VAL_PATHROWS)
SAR_GLACIERS = ("JAC", "DBE", "SI", "Jorum")  # the CaFFe glaciers in ../shared/data/fronts-sar
SAR_VAL_GLACIERS = ("Jorum",)


def sar_glaciers(text):
    """A comma-separated list of SAR glacier codes as a tuple; ValueError for a code not in ``SAR_GLACIERS``."""
    codes = tuple(g.strip() for g in text.split(",") if g.strip())
    unknown = [g for g in codes if g not in SAR_GLACIERS]
    if unknown:
        raise ValueError(f"unknown SAR glacier {', '.join(unknown)}: the SAR glaciers are {', '.join(SAR_GLACIERS)}")
    return codes


@dataclass
class Sample:
    name: str
    source: str  # "landsat" or "sar"
    glacier: str  # path/row for Landsat, glacier code for SAR
    image: np.ndarray  # (3, H, W) uint8 layered
    edge: np.ndarray  # (H, W) uint8 0/1, 3 px wide
    edge_1px: np.ndarray  # (H, W) uint8 0/1, the thin line (for distances)
    ice: np.ndarray  # (H, W) uint8 0/1
    ice_weight: np.ndarray  # (H, W) uint8 0/1
    rock: np.ndarray = None  # (H, W) uint8 0/1
    rock_weight: np.ndarray = None  # (H, W) uint8 0/1; all 0 when unknown (Landsat)
    coast: np.ndarray = None  # (H, W) uint8 0/1: land/ocean margin that is not front; all 0 when unknown

    @property
    def glacier_ice(self):
        """Glacier ice, known (SAR zones; on Landsat, where rock is unknown, all ice and land)."""
        return (self.ice > 0) & (self.rock == 0) & (self.ice_weight > 0)

    def __post_init__(self):
        if self.rock is None:
            self.rock = np.zeros_like(self.ice)
            self.rock_weight = np.zeros_like(self.ice)
        if self.coast is None:
            self.coast = np.zeros_like(self.ice)


def layer_grey(band):
    """The plugin's layering of a whole grey image (every pixel valid)."""
    valid = np.ones(band.shape, bool)
    return layer_calfin(band, valid, stretch_limits(band[valid]))


def ice_from_front(front):
    """Ice (below) / ocean (above) per column from a front line; unknown elsewhere."""
    h, w = front.shape
    ice = np.zeros((h, w), np.uint8)
    weight = np.zeros((h, w), np.uint8)
    rows = np.arange(h)[:, None]
    has = front.any(axis=0)
    top = np.where(has, np.argmax(front, axis=0), 0)
    bottom = np.where(has, h - 1 - np.argmax(front[::-1], axis=0), -1)
    below = (rows > bottom[None, :]) & has[None, :]
    above = (rows < top[None, :]) & has[None, :]
    ice[below] = 1
    weight[below | above] = 1
    return ice, weight


def coast_not_front(zones, front, width=2, clear=4):
    """Pixels within ``width`` px of a land (zones 2, 3) / ocean (4) boundary and more than ``clear`` px from
    the front line: the margins that are not front."""
    land, ocean = np.isin(zones, (2, 3)), zones == 4
    boundary = (land & ndimage.binary_dilation(ocean)) | (ocean & ndimage.binary_dilation(land))
    band = ndimage.binary_dilation(boundary, iterations=width)
    near_front = ndimage.binary_dilation(front, iterations=clear) if front.any() else front
    return (band & ~near_front).astype(np.uint8)


def landsat_glacier(name):
    m = re.match(r"L[CETM]0\d_L1\w{2}_(\d{6})_", name)
    return m.group(1) if m else "unknown"


def load_landsat(root, names=None):
    root = Path(root)
    samples = []
    for path in sorted((root / "images").glob("*_Subset.png")):
        stem = path.name[: -len("_Subset.png")]
        if names is not None and stem not in names:
            continue
        band = io.imread(path)[..., 0]
        thick = io.imread(root / "labels" / f"{stem}_Front.png")[..., 0] == 0
        thin = io.imread(root / "labels_1px" / f"{stem}_Front.png")[..., 0] == 0
        ice, weight = ice_from_front(thin)
        samples.append(Sample(stem, "landsat", landsat_glacier(stem), layer_grey(band),
                              thick.astype(np.uint8), thin.astype(np.uint8), ice, weight))
    return samples


def load_sar(root, names=None):
    root = Path(root)
    samples = []
    for path in sorted((root / "images").glob("*.png")):
        stem = path.stem
        if names is not None and stem not in names:
            continue
        band = io.imread(path)
        if band.ndim == 3:
            band = band[..., 0]
        front = io.imread(root / "fronts" / f"{stem}_front.png") > 0
        if front.ndim == 3:
            front = front[..., 0]
        zones = io.imread(root / "zones" / f"{stem}_zones.png")
        if zones.ndim == 3:
            zones = zones[..., 0]
        thin = front
        if thin.sum() > 0:
            # CaFFe fronts are about 1-2 px wide; thin to 1 px for distances, widen to 3 px
            # for the edge target like the Landsat labels.
            from skimage.morphology import skeletonize
            thin = skeletonize(front)
        thick = ndimage.binary_dilation(thin, np.ones((3, 3), bool))
        ice = np.isin(zones, (2, 3)).astype(np.uint8)
        weight = (zones != 1).astype(np.uint8)
        rock = (zones == 2).astype(np.uint8)
        samples.append(Sample(stem, "sar", stem.split("_")[0], layer_grey(band),
                              thick.astype(np.uint8), thin.astype(np.uint8), ice, weight, rock, weight.copy(),
                              coast_not_front(zones, thin)))
    return samples


def landsat_pathrows(text):
    """A comma-separated list of Landsat WRS-2 path/rows (``"008011"``) as a tuple; ValueError for one that is
    not in ``LANDSAT_GLACIERS`` or for part of a glacier (the glacier would still be seen from its other
    path/rows)."""
    codes = tuple(g.strip() for g in text.split(",") if g.strip())
    known = [g for group in LANDSAT_GLACIERS for g in group]
    bad = [g for g in codes if g not in known]
    if bad:
        raise ValueError(f"{', '.join(bad)}: not a Landsat path/row of ../shared (they are {', '.join(known)})")
    for group in LANDSAT_GLACIERS:
        if set(codes) & set(group) and not set(group) <= set(codes):
            raise ValueError(f"{', '.join(group)} show one glacier: name all of them, not only "
                             f"{', '.join(g for g in group if g in codes)}")
    return codes


def split(samples, sar_validation=SAR_VAL_GLACIERS, sar_unused=(), landsat_unused=(),
          landsat_validation=LANDSAT_VAL_PATHROWS):
    """(train, validation) held out by glacier: the Landsat path/rows ``landsat_validation`` and the SAR
    glaciers ``sar_validation`` (both empty for a final model trained on every glacier); SAR glaciers in
    ``sar_unused`` and Landsat path/rows in ``landsat_unused`` are in neither (for experiments on what a
    glacier adds, or a network to which they are unseen)."""
    def held_out(s):
        return s.glacier in (landsat_validation if s.source == "landsat" else sar_validation)

    samples = [s for s in samples if s.glacier not in (sar_unused if s.source == "sar" else landsat_unused)]
    return [s for s in samples if not held_out(s)], [s for s in samples if held_out(s)]


def targets(edge, ice, ice_weight, edge_weight, rock, rock_weight):
    """The loss's target channels (``train.loss_fn``), in its order."""
    return np.stack([edge, ice, ice_weight, edge_weight, rock, rock_weight]).astype(np.float32)


def sample_targets(s):
    """Target channels of a whole sample (validation)."""
    return targets(s.edge, s.ice, s.ice_weight, np.ones_like(s.edge), s.rock, s.rock_weight)


def wet_snow(image, glacier, darken):
    """A SAR sample's layered image with its glacier darkened, as melt darkens it: wet snow absorbs the
    radar, so in summer a glacier can be as dark as calm water beside it (the unseen glacier Jorum's
    TerraSAR-X summer scenes, which the three training glaciers do not show the network that dark).

    The grey band (the stretched ``raw`` layer) loses ``darken`` (0..1 of its range) on the glacier mask,
    softened over a pixel so the mask leaves no step of its own, and the three layers are made again
    from it by the plugin's own layering. Nodata (0) stays nodata.
    """
    valid = image[0] > 0
    grey = (image[0].astype(np.float32) - 1.0) / 254.0
    soft = ndimage.gaussian_filter(np.asarray(glacier, np.float32), 1.0)
    grey = np.clip(grey - darken * soft, 0.0, 1.0)
    return layer_calfin(grey, valid, (0.0, 1.0))


AUGMENTATIONS = ("basic", "scale", "scale-sar", "strong")


class Augment:
    """Random crop, all 8 square symmetries, small rotation, contrast and noise.

    All eight flips/90-degree rotations make the model orientation-agnostic:
    real scenes are not rotated so the glacier lies below the front.
    ``strong`` adds what differs between glaciers and SAR sensors rather than
    between scenes of one glacier: scale (a glacier 0.6-1.5 times as large in
    its subset; ``zoom`` sets the range), brightness curves (gamma; a dark
    winter glacier surface is not ocean), multiplicative speckle of 3-30 looks
    and blur. ``scale`` adds the scale alone (``strong`` without the appearance
    changes). ``scale_sources``: the sample sources that are zoomed (e.g.
    ``("sar",)``: SAR glaciers differ in size within their subsets, Landsat
    subsets less so); None zooms every source. ``wet_snow``: the share of SAR
    samples whose glacier is darkened by 0.15-0.4 of the grey range
    (``wet_snow``).
    """

    def __init__(self, crop=192, max_angle=15.0, noise=0.04, rng=None, strong=False, coast_weight=1.0,
                 scale=None, scale_sources=None, zoom=(0.6, 1.5), wet_snow=0.0):
        self.crop = crop
        self.wet_snow = wet_snow
        self.zoom = zoom
        self.scale = strong if scale is None else scale
        self.scale_sources = scale_sources
        self.coast_weight = coast_weight
        self.max_angle = max_angle
        self.noise = noise
        self.strong = strong
        self.rng = rng or np.random.default_rng()

    def _zoom(self, stack):
        factor = float(np.exp(self.rng.uniform(*np.log(self.zoom))))
        return ndimage.zoom(stack, (1, factor, factor), order=1, mode="nearest", grid_mode=True)

    def _appearance(self, x):
        """Gamma, speckle and blur on the 0..1 input channels (strong only)."""
        rng = self.rng
        x = np.clip(x, 0, 1) ** float(np.exp(rng.uniform(-0.6, 0.6)))
        if rng.random() < 0.5:
            looks = rng.uniform(3, 30)
            x = x * rng.gamma(looks, 1 / looks, x.shape[1:]).astype(np.float32)[None]
        if rng.random() < 0.3:
            x = ndimage.gaussian_filter(x, (0, *(2 * [rng.uniform(0.5, 1.5)])))
        return x.astype(np.float32)

    def __call__(self, s):
        rng = self.rng
        image = s.image
        if self.wet_snow and s.source == "sar" and rng.random() < self.wet_snow:
            image = wet_snow(image, s.glacier_ice, rng.uniform(0.15, 0.4))
        x = model_input(image)
        t = np.stack([s.edge, s.ice, s.ice_weight, s.rock, s.rock_weight, s.coast]).astype(np.float32)
        # 1 where the image exists (rotations and padding bring in nothing)
        inside = np.ones((1,) + x.shape[1:], np.float32)
        stack = np.concatenate([x, t, inside])
        if self.scale and rng.random() < 0.5 and (self.scale_sources is None or s.source in self.scale_sources):
            stack = self._zoom(stack)
        k = int(rng.integers(4))
        stack = np.rot90(stack, k, axes=(1, 2))
        if rng.random() < 0.5:
            stack = stack[:, :, ::-1]
        if self.max_angle and rng.random() < 0.5:
            angle = rng.uniform(-self.max_angle, self.max_angle)
            stack = ndimage.rotate(stack, angle, axes=(2, 1), reshape=False, order=1, mode="constant", cval=0.0)
        stack = np.ascontiguousarray(stack)
        # Crop (pad first if the image is smaller than the crop).
        c = self.crop
        _, h, w = stack.shape
        if h < c or w < c:
            ph, pw = max(0, c - h), max(0, c - w)
            stack = np.pad(stack, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
            _, h, w = stack.shape
        y0 = int(rng.integers(h - c + 1))
        x0 = int(rng.integers(w - c + 1))
        stack = stack[:, y0:y0 + c, x0:x0 + c]
        x, edge, ice, weight, rock, rock_weight, coast, inside = (stack[:3], *stack[3:])
        inside = inside > 0.99
        if self.strong:
            x = self._appearance(x)
        # Contrast/brightness jitter per sample and Gaussian noise, then back to 0..1.
        gain = rng.uniform(0.8, 1.25)
        bias = rng.uniform(-0.08, 0.08)
        x = (x - 0.5) * gain + 0.5 + bias
        x = x + rng.normal(0, self.noise * rng.random(), x.shape).astype(np.float32)
        x = np.clip(x, 0, 1) * inside  # outside the image is nodata (0), like the plugin's layering
        edge = (edge > 0.5).astype(np.float32)
        ice = (ice > 0.5).astype(np.float32)
        weight = ((weight > 0.99) & inside).astype(np.float32)
        rock = (rock > 0.5).astype(np.float32)
        rock_weight = ((rock_weight > 0.99) & inside).astype(np.float32)
        edge_weight = inside * (1.0 + (self.coast_weight - 1.0) * (coast > 0.5))
        return x.astype(np.float32), targets(edge, ice, weight, edge_weight.astype(np.float32), rock, rock_weight)
