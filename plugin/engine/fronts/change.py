"""Glacier change over time from calving-front lines (Qt-free: shapely and numpy).

Three steps, each a plain function on shapely lines and ``datetime.date``:

1. ``consolidate``: many front records (several runs, several GeoPackages) ->
   one clean series. The same scene given twice is one scene; each scene keeps
   its best front; each date (and sensor, by default) keeps its best scene.
   "Best" is: quality (good, partial, short, low_confidence, anything else),
   then confidence, then length.
2. Terminus position of each front, by two methods:

   * **centreline**: a line drawn along the glacier, its first vertex at the
     seaward end (``Centreline(..., seaward_first=False)`` flips it). The
     position is the distance along the centreline from its *up-glacier* end,
     so a larger value is further seaward: where the front crosses the
     centreline (``cross_m``), and the mean of the front's points projected
     onto the centreline (``mean_m``, the front densified evenly along its
     length, so every metre of front counts the same);
   * **box** (rectilinear box method, Moon & Joughin 2008, JGR 113 F02022): a
     box spanning the fjord; the area of the box on the glacier side of the
     front, divided by the box width, is the mean distance from the box's
     up-glacier edge to the front (``box_pos_m``, larger = further seaward).
     A front that does not reach the box sides is continued straight across
     the flow to them.

3. ``terminus_series``: change since the first date, change and rate (per
   year) against the previous date, and outliers (``flag_outliers``): a front
   that implies advance or retreat faster than ``max_rate`` (m/day, beyond the
   position ``uncertainty``) against a neighbour in time on each side, in the
   same direction, while those neighbours agree with each other: the series
   goes out and comes back, so one bad front (or two in a row) is flagged and a
   real step (a calving event after which the front stays back) is not. At the
   ends of the series only one side is there: a real step at the very first or
   last date cannot be told from a bad front and is flagged too.

Coordinates are map units of one projected CRS in metres (the caller checks).
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from shapely.geometry import LineString, MultiLineString, Point, Polygon
from shapely.ops import linemerge
from shapely.validation import make_valid

from ..core.cancel import check_cancel
from .scene_names import match_key, parse_scene_name

QUALITY_ORDER = ("good", "partial", "short", "low_confidence")
PER_DATE_AND_SENSOR = "date_sensor"
PER_DATE = "date"
DAYS_PER_YEAR = 365.25

SERIES_CROSSING = "centreline crossing"
SERIES_MEAN = "centreline mean position"
SERIES_BOX = "box"
SERIES_AUTO = "auto"
SERIES_CHOICES = (SERIES_AUTO, SERIES_CROSSING, SERIES_MEAN, SERIES_BOX)

COMPASS = {"north": (0.0, 1.0), "east": (1.0, 0.0), "south": (0.0, -1.0), "west": (-1.0, 0.0)}


# ---------------------------------------------------------------- records and dates


@dataclass
class FrontRecord:
    """One front: a (multi)line ``geometry`` in the analysis CRS and what ranks it.

    ``ref`` is anything the caller needs to write the front back (its feature).
    """

    scene_id: str
    date: date
    geometry: object
    sensor: str = None
    quality: str = None
    confidence: float = None
    length_m: float = None
    ref: object = None

    @property
    def scene_key(self):
        return match_key(self.scene_id or "")


def as_date(value, scene_id=None):
    """A ``datetime.date`` from a date, datetime, ISO text (``2000-03-21``, ``20000321``) or, when
    ``value`` is empty, from the scene id (Landsat/Sentinel/CaFFe names); None when neither has one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip() if value is not None else ""
    if text:
        for candidate, fmt in ((text[:10], "%Y-%m-%d"), (text[:10], "%Y/%m/%d"), (text[:8], "%Y%m%d")):
            try:
                return datetime.strptime(candidate, fmt).date()
            except ValueError:
                continue
    if scene_id:
        iso = parse_scene_name(scene_id)["date"]
        if iso:
            return date.fromisoformat(iso)
    return None


def rank(front):
    """Sort key: the best front first (quality, then confidence, then length; sorts are stable, so
    of equal fronts the one given first wins)."""
    quality = QUALITY_ORDER.index(front.quality) if front.quality in QUALITY_ORDER else len(QUALITY_ORDER)
    confidence = front.confidence if _finite(front.confidence) else -math.inf
    length = front.length_m if _finite(front.length_m) else -math.inf
    return (quality, -confidence, -length)


def _finite(value):
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


# ---------------------------------------------------------------- 1. consolidate


@dataclass
class Consolidation:
    fronts: list = field(default_factory=list)  # kept, sorted by date then sensor
    undated: int = 0
    outside_dates: int = 0
    wrong_quality: int = 0
    same_scene: int = 0  # other fronts (duplicates, second fronts) of a kept scene
    same_date: int = 0  # scenes of a date (and sensor) that already has a better one
    messages: list = field(default_factory=list)

    @property
    def dropped(self):
        return self.undated + self.outside_dates + self.wrong_quality + self.same_scene + self.same_date


def consolidate(fronts, start=None, end=None, qualities=None, per=PER_DATE_AND_SENSOR, is_canceled=None):
    """One clean series from ``fronts`` (``FrontRecord``s); returns a ``Consolidation``.

    ``start``/``end``: dates (inclusive) to keep; ``qualities``: quality flags to
    keep (None = all); ``per``: ``PER_DATE_AND_SENSOR`` keeps one front per date
    and sensor (fronts of the same day from different sensors both stay, each
    with its sensor), ``PER_DATE`` one per date.
    """
    if per not in (PER_DATE_AND_SENSOR, PER_DATE):
        raise ValueError(f"per must be {PER_DATE_AND_SENSOR!r} or {PER_DATE!r}, not {per!r}")
    if start and end and start > end:
        raise ValueError(f"the start date {start} is after the end date {end}")
    result = Consolidation()
    candidates = []
    for front in fronts:
        check_cancel(is_canceled)
        if front.date is None:
            result.undated += 1
        elif (start and front.date < start) or (end and front.date > end):
            result.outside_dates += 1
        elif qualities is not None and front.quality not in qualities:
            result.wrong_quality += 1
        else:
            candidates.append(front)
    # the same scene (same name, any suffix) from several layers or runs: one scene, its best front
    scenes = {}
    for front in candidates:
        scenes.setdefault((front.scene_key, front.date), []).append(front)
    best = []
    for group in scenes.values():
        group.sort(key=rank)
        best.append(group[0])
        result.same_scene += len(group) - 1
    # one scene per date (and sensor)
    dates = {}
    for front in best:
        key = (front.date, (front.sensor or "") if per == PER_DATE_AND_SENSOR else "")
        dates.setdefault(key, []).append(front)
    for key, group in dates.items():
        group.sort(key=rank)
        result.fronts.append(group[0])
        if len(group) > 1:
            result.same_date += len(group) - 1
            result.messages.append(
                f"{key[0]}{' ' + key[1] if key[1] else ''}: kept {group[0].scene_id} "
                f"({group[0].quality}), dropped {', '.join(f.scene_id for f in group[1:])}")
    if result.undated:
        result.messages.append(f"{result.undated} front(s) without a date (no date field value and none in "
                               "the scene id) were left out")
    result.fronts.sort(key=lambda f: (f.date, f.sensor or "", f.scene_id or ""))
    return result


# ---------------------------------------------------------------- geometry helpers


def lines_of(geometry):
    """The LineStrings of a (multi)line geometry (empty parts dropped)."""
    if geometry is None or geometry.is_empty:
        return []
    if isinstance(geometry, LineString):
        return [geometry]
    if isinstance(geometry, MultiLineString):
        return [g for g in geometry.geoms if not g.is_empty and g.length > 0]
    if hasattr(geometry, "geoms"):
        return [g for part in geometry.geoms for g in lines_of(part)]
    raise ValueError(f"expected a line geometry, got {geometry.geom_type}")


def even_points(geometry, step=None, max_points=4000):
    """Points spread evenly along every part of a (multi)line, (N, 2); ``step`` in map units."""
    parts = lines_of(geometry)
    total = sum(p.length for p in parts)
    if total <= 0:
        return np.zeros((0, 2))
    step = step or total / 1000.0
    step = max(step, total / max_points)
    out = []
    for part in parts:
        n = max(2, int(math.ceil(part.length / step)) + 1)
        # midpoints of n equal pieces: every piece of line weighs the same
        out += [part.interpolate(d).coords[0] for d in (np.arange(n) + 0.5) * part.length / n]
    return np.array(out, np.float64)


def project_points(line_xy, points):
    """Distance along the polyline ``line_xy`` (M, 2) of the nearest point to each of ``points`` (N, 2),
    and those nearest points (N, 2)."""
    a, b = line_xy[:-1], line_xy[1:]
    seg = b - a
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    start = np.concatenate([[0.0], np.cumsum(seg_len)])[:-1]
    seg_len2 = np.where(seg_len > 0, seg_len ** 2, 1.0)
    distances = np.empty(len(points))
    nearest = np.empty((len(points), 2))
    for lo in range(0, len(points), 2048):  # chunks keep (N, M) small
        p = points[lo:lo + 2048]
        t = np.clip(((p[:, None, :] - a[None]) * seg[None]).sum(-1) / seg_len2[None], 0.0, 1.0)
        q = a[None] + t[..., None] * seg[None]
        d2 = ((p[:, None, :] - q) ** 2).sum(-1)
        k = np.argmin(d2, axis=1)
        rows = np.arange(len(p))
        distances[lo:lo + len(p)] = start[k] + t[rows, k] * seg_len[k]
        nearest[lo:lo + len(p)] = q[rows, k]
    return distances, nearest


def _points_of(geometry):
    """Points of an intersection result (points; overlapping stretches give their end points)."""
    if geometry is None or geometry.is_empty:
        return []
    if isinstance(geometry, Point):
        return [geometry]
    if isinstance(geometry, LineString):
        return [Point(geometry.coords[0]), Point(geometry.coords[-1])]
    if hasattr(geometry, "geoms"):
        return [p for g in geometry.geoms for p in _points_of(g)]
    return []


# ---------------------------------------------------------------- 2a. centreline


class Centreline:
    """A glacier centreline, stored seaward -> up-glacier; positions from its up-glacier end."""

    def __init__(self, geometry, seaward_first=True):
        parts = lines_of(geometry)
        if not parts:
            raise ValueError("the centreline is empty")
        line = linemerge(parts) if len(parts) > 1 else parts[0]
        if not isinstance(line, LineString):
            raise ValueError(f"the centreline has {len(parts)} separate parts; draw it as one line "
                             "from the sea up the glacier")
        if line.length <= 0:
            raise ValueError("the centreline has no length")
        coords = list(line.coords) if seaward_first else list(line.coords)[::-1]
        self.line = LineString(coords)
        self.xy = np.array([c[:2] for c in coords], np.float64)
        self.length = self.line.length

    def position(self, s_from_sea):
        """Distance from the up-glacier end of a point ``s_from_sea`` along the line from its seaward end."""
        return self.length - s_from_sea

    def point_at(self, position):
        """(x, y) on the centreline at ``position`` (distance from the up-glacier end)."""
        return self.line.interpolate(self.length - position).coords[0][:2]

    def direction_up_glacier(self, near, half=None):
        """Unit vector pointing up-glacier at the centreline point nearest ``near`` (x, y)."""
        s = self.line.project(Point(near))
        half = half or max(self.length / 20.0, 1.0)
        a = np.array(self.line.interpolate(max(s - half, 0.0)).coords[0][:2])
        b = np.array(self.line.interpolate(min(s + half, self.length)).coords[0][:2])
        v = b - a
        return v / np.hypot(*v)

    def measure(self, front, step=None):
        """``{'cross_m', 'cross_xy', 'crossings', 'mean_m', 'mean_xy'}`` of a front (None where it has none).

        With several crossings (a wiggly front) the one nearest the mean position is used.
        """
        pts = even_points(front, step)
        if not len(pts):
            raise ValueError("a front line has no length")
        s, _ = project_points(self.xy, pts)
        mean_s = float(np.mean(s))
        crossings = _points_of(front.intersection(self.line))
        out = {"crossings": len(crossings), "mean_m": self.position(mean_s),
               "mean_xy": tuple(self.line.interpolate(mean_s).coords[0][:2]), "cross_m": None, "cross_xy": None}
        if crossings:
            cs = [self.line.project(p) for p in crossings]
            k = int(np.argmin([abs(c - mean_s) for c in cs]))
            out["cross_m"] = self.position(cs[k])
            out["cross_xy"] = tuple(crossings[k].coords[0][:2])
            out["crossings"] = len({round(c, 6) for c in cs})
        return out


# ---------------------------------------------------------------- 2b. box method


class Box:
    """A rectilinear box (Moon & Joughin 2008) in a frame along the flow.

    ``up_glacier``: a vector pointing up-glacier (from the centreline or a compass
    side); of the two axes of the box's minimum rotated rectangle the one closer
    to it is the flow axis. Local coordinates: ``x`` from the up-glacier edge
    towards the sea, ``y`` across the flow, ``0 <= y <= width``.
    """

    def __init__(self, polygon, up_glacier):
        if polygon is None or polygon.is_empty or polygon.area <= 0:
            raise ValueError("the reference box is empty or has no area")
        if polygon.geom_type == "MultiPolygon":
            if len(polygon.geoms) > 1:
                raise ValueError("the reference box has several parts; draw one rectangle across the fjord")
            polygon = polygon.geoms[0]
        rect = np.array(polygon.minimum_rotated_rectangle.exterior.coords)[:4]
        up = np.asarray(up_glacier, np.float64)
        up = up / np.hypot(*up)
        axes = [rect[1] - rect[0], rect[2] - rect[1]]
        k = int(np.argmax([abs(np.dot(a / np.hypot(*a), up)) for a in axes]))
        u = axes[k] / np.hypot(*axes[k])
        if np.dot(u, up) > 0:
            u = -u  # u points down-glacier (towards the sea)
        v = np.array([-u[1], u[0]])
        x = rect @ u
        y = rect @ v
        self.origin = np.array([x.min(), y.min()])  # in the (u, v) frame
        self.u, self.v = u, v
        self.length = float(x.max() - x.min())
        self.width = float(y.max() - y.min())
        self.polygon = polygon
        self.local = Polygon(self.to_local(np.array(polygon.exterior.coords)[:, :2]))
        self.rectangularity = polygon.area / (self.length * self.width)

    def to_local(self, xy):
        xy = np.asarray(xy, np.float64)
        return np.column_stack([xy @ self.u, xy @ self.v]) - self.origin

    def to_map(self, local_xy):
        local_xy = np.asarray(local_xy, np.float64) + self.origin
        return local_xy[..., :1] * self.u + local_xy[..., 1:2] * self.v

    def midline_point(self, position):
        """(x, y) on the box's midline ``position`` metres down-glacier from its up-glacier edge."""
        return tuple(self.to_map(np.array([[position, self.width / 2.0]]))[0])

    def glacier_side(self, front):
        """The part of the box (local frame) up-glacier of the front; None when the front misses the box."""
        parts = [LineString(self.to_local(np.array(p.coords)[:, :2])) for p in lines_of(front)]
        if not parts or not any(p.intersects(self.local) for p in parts):
            return None
        xy = _chain_across(parts)
        big = 10.0 * (self.length + self.width)
        ring = ([(xy[0][0], -big)] + [tuple(p) for p in xy]
                + [(xy[-1][0], self.width + big), (-big, self.width + big), (-big, -big)])
        upstream = Polygon(ring)
        if not upstream.is_valid:
            upstream = make_valid(upstream)
        return upstream.intersection(self.local)

    def measure(self, front):
        """``{'area_m2', 'pos_m'}``: glacier-side area of the box and area / width; None off the box."""
        side = self.glacier_side(front)
        if side is None:
            return None
        area = float(side.area)
        return {"area_m2": area, "pos_m": area / self.width}


def _chain_across(parts):
    """One polyline (N, 2) across the flow from line parts in the box frame: each part runs towards
    increasing y, parts in order of their mean y, gaps joined straight."""
    oriented = []
    for part in parts:
        xy = np.array(part.coords)[:, :2]
        if xy[-1, 1] < xy[0, 1]:
            xy = xy[::-1]
        oriented.append(xy)
    oriented.sort(key=lambda xy: xy[:, 1].mean())
    return np.concatenate(oriented)


def up_glacier_vector(side, centreline=None, box_polygon=None):
    """The up-glacier direction for a box: ``side`` 'centreline' (the centreline's direction near the
    box centre) or a compass side ('north', 'east', 'south', 'west') that faces up-glacier."""
    if side in COMPASS:
        return np.array(COMPASS[side])
    if side == "centreline":
        if centreline is None:
            raise ValueError("the up-glacier end of the box is to come from the centreline, but no "
                             "centreline is given: give one, or say which side of the box faces "
                             "up-glacier (north, east, south or west)")
        return centreline.direction_up_glacier(box_polygon.centroid.coords[0])
    raise ValueError(f"unknown up-glacier side {side!r}; use centreline, north, east, south or west")


# ---------------------------------------------------------------- 3. series, rates, outliers


def flag_outliers(days, positions, max_rate, uncertainty=0.0, neighbours=2, min_days=1.0):
    """Outlier flags and notes for a series of positions (m) at ``days`` (sorted, days since any origin).

    The rate between two fronts is (|change| - ``uncertainty``) / max(days apart,
    ``min_days``); "fast" is above ``max_rate`` (m/day). A front is an outlier
    when it sticks out: among its ``neighbours`` nearest fronts before and after
    it there is one on each side that it is fast against, in the same direction
    (further seaward than both, or further up-glacier than both), while those two
    are not fast against each other (the series goes out and comes back). At an
    end of the series, with no neighbours on one side, it must be fast against
    both of its nearest neighbours on the other side, which agree with each other.
    A real step (the front retreats fast and stays back) is not flagged, except
    at the very first or last front, where it cannot be told from a bad one.
    Returns ``(flags, notes)``: lists of bool and str ('' when not flagged).
    """
    days = np.asarray(days, np.float64)
    pos = np.asarray(positions, np.float64)
    n = len(pos)
    flags, notes = [False] * n, [""] * n
    if max_rate is None or max_rate <= 0 or n < 3:
        return flags, notes

    def rate(i, j):
        return max(abs(pos[i] - pos[j]) - uncertainty, 0.0) / max(abs(days[i] - days[j]), min_days)

    def fast(i, j):
        return rate(i, j) > max_rate

    def describe(i, j):
        dt = abs(days[i] - days[j])
        return (f"{pos[i] - pos[j]:+.0f} m against the front {dt:.0f} d "
                f"{'earlier' if days[j] < days[i] else 'later'} ({rate(i, j):.0f} m/d)")

    for i in range(n):
        before = list(range(i - 1, max(-1, i - 1 - neighbours), -1))  # nearest first
        after = list(range(i + 1, min(n, i + 1 + neighbours)))
        pairs = [(j, k) for j in before for k in after] if before and after else \
            [tuple((before or after)[:2])] if len(before or after) >= 2 else []
        for j, k in pairs:
            if (fast(i, j) and fast(i, k) and np.sign(pos[i] - pos[j]) == np.sign(pos[i] - pos[k])
                    and not fast(j, k)):
                flags[i] = True
                notes[i] = f"{describe(i, j)}; {describe(i, k)}; limit {max_rate:g} m/d"
                break
    return flags, notes


def choose_series(series, centreline, box):
    if series not in SERIES_CHOICES:
        raise ValueError(f"unknown series {series!r}; use one of {', '.join(SERIES_CHOICES)}")
    if series == SERIES_AUTO:
        series = SERIES_CROSSING if centreline is not None else SERIES_BOX
    if series in (SERIES_CROSSING, SERIES_MEAN) and centreline is None:
        raise ValueError(f"the series '{series}' needs a centreline")
    if series == SERIES_BOX and box is None:
        raise ValueError("the series 'box' needs a reference box")
    return series


SERIES_COLUMN = {SERIES_CROSSING: "cl_pos_m", SERIES_MEAN: "cl_mean_m", SERIES_BOX: "box_pos_m"}


def _changes(rows, column, prefix):
    """``<prefix>_change_m`` (since the first value) and ``<prefix>_rate_m_yr`` (against the previous
    value) for ``column``; also ``<prefix>_dprev_m`` (change against the previous value)."""
    first = prev = None
    for row in rows:
        value = row[column]
        row[f"{prefix}_change_m"] = row[f"{prefix}_dprev_m"] = row[f"{prefix}_rate_m_yr"] = None
        if value is None:
            continue
        if first is None:
            first = row
        row[f"{prefix}_change_m"] = value - first[column]
        if prev is not None:
            row[f"{prefix}_dprev_m"] = value - prev[column]
            dt = (row["date"] - prev["date"]).days
            if dt > 0:
                row[f"{prefix}_rate_m_yr"] = (value - prev[column]) / (dt / DAYS_PER_YEAR)
        prev = row


def terminus_series(fronts, centreline=None, box=None, series=SERIES_AUTO, max_rate=50.0, uncertainty=0.0,
                    progress=None, is_canceled=None):
    """Terminus position rows, one per front (sorted by date), and a summary.

    ``fronts``: ``FrontRecord``s with dates; ``centreline``: a ``Centreline``;
    ``box``: a ``Box``; at least one. Each row (a dict) holds the front's
    ``date, scene_id, sensor, quality, days`` (since the first date), the
    centreline values ``cl_pos_m`` (crossing), ``cl_mean_m``, ``cl_crossings``,
    ``cl_change_m``, ``cl_mean_change_m``, ``cl_rate_m_yr``; the box values
    ``box_area_m2``, ``box_pos_m``, ``box_darea_m2``, ``box_dpos_m`` (against the
    previous date), ``box_change_m``, ``box_rate_m_yr``; and for the chosen
    ``series``: ``position_m``, ``change_m``, ``rate_m_yr``, ``outlier``,
    ``outlier_note``, ``xy`` (the point on the centreline or box midline).
    Positions are larger further seaward, so changes are positive for advance.
    """
    if centreline is None and box is None:
        raise ValueError("give a centreline, a reference box or both")
    series = choose_series(series, centreline, box)
    fronts = sorted((f for f in fronts if f.date is not None), key=lambda f: (f.date, f.sensor or "", f.scene_id))
    if not fronts:
        raise ValueError("there are no dated fronts to measure")
    t0 = fronts[0].date
    rows, messages = [], []
    for i, front in enumerate(fronts):
        check_cancel(is_canceled)
        row = {"date": front.date, "scene_id": front.scene_id, "sensor": front.sensor, "quality": front.quality,
               "days": (front.date - t0).days}
        row.update(cl_pos_m=None, cl_mean_m=None, cl_crossings=None, cl_xy=None, cl_mean_xy=None,
                   box_area_m2=None, box_pos_m=None)
        if centreline is not None:
            m = centreline.measure(front.geometry)
            row.update(cl_pos_m=m["cross_m"], cl_mean_m=m["mean_m"], cl_crossings=m["crossings"],
                       cl_xy=m["cross_xy"], cl_mean_xy=m["mean_xy"])
        if box is not None:
            m = box.measure(front.geometry)
            if m is not None:
                row.update(box_area_m2=m["area_m2"], box_pos_m=m["pos_m"])
        rows.append(row)
        if progress is not None:
            progress((i + 1) / len(fronts))
    if centreline is not None:
        missed = [r for r in rows if r["cl_pos_m"] is None]
        if len(missed) == len(rows):
            raise ValueError(
                f"the centreline crosses none of the {len(rows)} fronts: draw it from the fjord (seaward "
                "of the most advanced front) up the glacier (behind the most retreated one)")
        if missed:
            messages.append(f"{len(missed)} front(s) do not cross the centreline (no crossing position): "
                            + ", ".join(f"{r['date']} {r['scene_id']}" for r in missed[:10])
                            + (" ..." if len(missed) > 10 else ""))
    if box is not None:
        missed = [r for r in rows if r["box_pos_m"] is None]
        if len(missed) == len(rows):
            raise ValueError(f"none of the {len(rows)} fronts passes through the reference box: draw the box "
                             "across the fjord over the whole range of front positions")
        if missed:
            messages.append(f"{len(missed)} front(s) miss the reference box: "
                            + ", ".join(f"{r['date']} {r['scene_id']}" for r in missed[:10]))
        if box.rectangularity < 0.98:
            messages.append(f"the reference box is not a rectangle (it fills {box.rectangularity:.0%} of its "
                            "bounding rectangle): the box method assumes a rectilinear box")
    _changes(rows, "cl_pos_m", "cl")
    _changes(rows, "cl_mean_m", "cl_mean")
    _changes(rows, "box_pos_m", "box")
    for row in rows:
        row["box_darea_m2"] = None if row["box_dprev_m"] is None else row["box_dprev_m"] * box.width
        row["box_dpos_m"] = row["box_dprev_m"]
    column = SERIES_COLUMN[series]
    for row in rows:
        row["position_m"] = row[column]
    _changes(rows, "position_m", "series")
    valued = [r for r in rows if r["position_m"] is not None]
    flags, notes = flag_outliers([r["days"] for r in valued], [r["position_m"] for r in valued],
                                 max_rate, uncertainty)
    for row in rows:
        row.update(change_m=row["series_change_m"], rate_m_yr=row["series_rate_m_yr"], outlier=None,
                   outlier_note=None, series=series, xy=_series_point(row, series, centreline, box))
    for row, flag, note in zip(valued, flags, notes):
        row["outlier"], row["outlier_note"] = int(flag), note or None
    return rows, {"series": series, "messages": messages, **summary(rows)}


def _series_point(row, series, centreline, box):
    if series == SERIES_CROSSING:
        return row["cl_xy"] or row["cl_mean_xy"]
    if series == SERIES_MEAN:
        return row["cl_mean_xy"]
    if row["box_pos_m"] is None:
        return None
    return box.midline_point(row["box_pos_m"])


def summary(rows):
    """Total change (last minus first value of the series) and the trend (m/yr, least squares over the
    values not flagged as outliers; None with fewer than two dates)."""
    good = [r for r in rows if r["position_m"] is not None and not r.get("outlier")]
    values = [r for r in rows if r["position_m"] is not None]
    total = values[-1]["position_m"] - values[0]["position_m"] if len(values) > 1 else None
    trend = None
    if len({r["days"] for r in good}) > 1:
        t = np.array([r["days"] for r in good], np.float64) / DAYS_PER_YEAR
        p = np.array([r["position_m"] for r in good], np.float64)
        trend = float(np.polyfit(t, p, 1)[0])
    return {"total_change_m": total, "trend_m_yr": trend, "dates": len(rows),
            "outliers": sum(1 for r in rows if r.get("outlier"))}
