"""Terminus position against date, as PNG and SVG for a report (Qt-free: matplotlib's Agg canvas).

No pyplot: a ``Figure`` with its own Agg canvas keeps no global state, so
plots can be drawn from Processing's background threads and never open a
window. One marker per date, coloured by sensor (one group per sensor, SVG id
``terminus-<n>``), outliers circled in red (SVG id ``outliers``), the series
joined by a thin line that skips the outliers, major ticks at years (or
months for short series) and minor ticks at the meteorological seasons
(1 March, June, September, December). Text stays text in the SVG, so it can be edited.
"""

import math

SIZE_IN = (8.0, 4.5)
DPI = 150
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
            "#7f7f7f")


def pixel_size(size_in=SIZE_IN, dpi=DPI):
    """(width, height) in pixels of the PNG for a figure ``size_in`` inches at ``dpi``."""
    return int(round(size_in[0] * dpi)), int(round(size_in[1] * dpi))


def plot_terminus(dates, values, sensors, outliers=None, png_path=None, svg_path=None, title=None,
                  ylabel="Terminus change (m)", note=None, size_in=SIZE_IN, dpi=DPI):
    """Draw the series and write ``png_path`` and/or ``svg_path``; returns the PNG size in pixels.

    ``dates``: ``datetime.date``; ``values``: metres (None values are left out);
    ``sensors``: one label per value (None -> 'unknown sensor'); ``outliers``: bools.
    """
    from matplotlib import dates as mdates
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import AutoMinorLocator

    outliers = list(outliers) if outliers is not None else [False] * len(values)
    points = [(d, float(v), s or "unknown sensor", bool(o))
              for d, v, s, o in zip(dates, values, sensors, outliers)
              if v is not None and math.isfinite(float(v))]
    if not points:
        raise ValueError("there is no terminus position to plot")
    points.sort(key=lambda p: p[0])
    with rc_context({"svg.hashsalt": "waterline", "svg.fonttype": "none", "font.size": 9}):
        fig = Figure(figsize=size_in, dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        kept = [p for p in points if not p[3]]
        if len(kept) > 1:
            ax.plot([p[0] for p in kept], [p[1] for p in kept], color="0.6", linewidth=0.8, zorder=1)
        sensor_names = sorted({p[2] for p in points})
        for n, sensor in enumerate(sensor_names):
            mine = [p for p in points if p[2] == sensor]
            line, = ax.plot([p[0] for p in mine], [p[1] for p in mine], linestyle="none", marker="o",
                            markersize=5, color=_COLOURS[n % len(_COLOURS)], label=f"{sensor} ({len(mine)})",
                            zorder=3)
            line.set_gid(f"terminus-{n}")
        bad = [p for p in points if p[3]]
        if bad:
            line, = ax.plot([p[0] for p in bad], [p[1] for p in bad], linestyle="none", marker="o",
                            markersize=11, markerfacecolor="none", markeredgecolor="red", markeredgewidth=1.3,
                            label=f"outlier ({len(bad)})", zorder=4)
            line.set_gid("outliers")
        ax.axhline(0.0, color="0.3", linewidth=0.6, linestyle=":", zorder=0)
        _date_axis(ax, points[0][0], points[-1][0], mdates, AutoMinorLocator)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("Date")
        ax.grid(True, which="major", color="0.85", linewidth=0.6)
        ax.grid(True, which="minor", axis="x", color="0.93", linewidth=0.4)
        if title:
            ax.set_title(title)
        ax.legend(loc="best", fontsize=8, frameon=False)
        if note:
            fig.text(0.01, 0.01, note, fontsize=7, color="0.35", ha="left", va="bottom")
        fig.tight_layout()
        if png_path:
            fig.savefig(png_path, format="png", dpi=dpi, metadata={"Software": "Waterline"})
        if svg_path:
            fig.savefig(svg_path, format="svg", metadata={"Date": None, "Creator": "Waterline"})
    return pixel_size(size_in, dpi)


def _date_axis(ax, first, last, mdates, minor_locator):
    """Dates on x: major ticks at years (months for a series under two years, automatic under four
    months), minor ticks at the meteorological seasons (1 March, June, September, December)."""
    span_days = max((last - first).days, 1)
    pad = max(span_days * 0.04, 5)
    ax.set_xlim(mdates.date2num(first) - pad, mdates.date2num(last) + pad)
    seasons = mdates.MonthLocator(bymonth=(3, 6, 9, 12))
    if span_days <= 120:
        major = mdates.AutoDateLocator(minticks=4, maxticks=8)
        ax.xaxis.set_major_locator(major)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(major))
    elif span_days <= 2 * 365:
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
    else:
        base = max(1, int(math.ceil(span_days / 365.25 / 12)))
        ax.xaxis.set_major_locator(mdates.YearLocator(base))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        if span_days > 25 * 365:
            seasons = mdates.YearLocator()
    ax.xaxis.set_minor_locator(seasons)
    ax.yaxis.set_minor_locator(minor_locator())
