"""The ipm-analysis theme and figures.

Like seaborn: every function takes a tidy frame plus column names and returns the Axes (or the
Figure for multi-panel figures); styling is one :func:`set_theme` call.
"""

from __future__ import annotations

import functools
import re
import textwrap
from contextlib import contextmanager

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib import ticker
import numpy as np
import pandas as pd
import seaborn as sns

from . import units

STATUS_COLOURS = {"on target": "#2e7d32", "below target": "#c62828", "no target": "#757575"}
#: The smallest text in a figure, in points: 9 pt reads at laptop width when the image is shown
#: at its own size (the report never scales figures down on a 1366 px screen).
MIN_FONT = 9
PALETTE = ["#1f4e79", "#e07b39", "#3a923a", "#c03d3e", "#9372b2", "#845b53", "#d684bd", "#7f7f7f"]


#: The English words and phrases the figures write (titles, axis labels, legends), longest
#: first; in another language each is replaced by its entry in the text catalogue. Names from
#: client.yaml are left as they are.
PHRASES = (
    "KPI structure: which chain KPIs, owned by which link, feed the result KPI",
    "Chain KPIs by month (band: 95% interval; dashed: target; hollow: small base)",
    "Month-by-month association of the result KPI with each chain KPI (95% intervals)",
    "performance: distance to target (% of target; right = better than target)",
    "importance: share of explained variance in its chain (%)",
    "deviating (the designed journey is not among these)",
    "distance to target (% of target; right = better)",
    "Deviation from the designed journey, per step",
    "small base (interpret with care)", "deviation per designed step", "Chain KPIs against their targets",
    "importance against performance", "too few months to estimate", "most frequent journeys",
    "Most frequent journeys", "Importance against performance", "Result KPI by segment", "month (of response)",
    "points, -100 to 100", "centre (baseline)", "control limits", "result KPI change", "lag (months)",
    "designed step", "threshold: beyond", "% of cases", "95% interval", "as designed", "deviating", "baseline",
    "per period", "signal", "by month", "on target", "below target", "no target", "result KPI", "owner", "month",
    "value", "bin", "mean", "days", "hours", "minutes", "seconds", "share", "count",
    "fix first", "keep up", "possible overkill", "low priority", "no reliable association",
    "NPS points", "percentage points", "points on the scale", "points",
)


def in_language(fig, language: str | None = None):
    """The texts of a figure (titles, axis labels, legends, notes) in ``language`` (default: the
    report's, :func:`ipm_analysis.messages.current_language`): every phrase of :data:`PHRASES`
    replaced by its entry in the text catalogue, wrapped lines kept to their width."""
    from matplotlib.text import Text

    from . import messages

    language = language or messages.current_language()
    if language == "en" or fig is None:
        return fig
    figure = getattr(fig, "figure", fig)
    figure = getattr(figure, "get_figure", lambda: figure)() or figure
    known = messages.texts(language)
    pattern = _phrase_pattern()
    for ax in figure.get_axes():  # numbers on the axes in the language's symbols (1.234,5)
        for axis in (ax.xaxis, ax.yaxis):
            inner = axis.get_major_formatter()
            if isinstance(inner, ticker.ScalarFormatter | ticker.PercentFormatter):
                axis.set_major_formatter(_Symbols(inner, language))
    for t in figure.findobj(Text):
        text = t.get_text()
        if not text or not re.search("[A-Za-z]", text):
            continue
        flat = " ".join(text.split("\n"))
        new = pattern.sub(lambda m: known.get(m.group(0), m.group(0)), flat)
        if new != flat:
            width = max(len(line) for line in text.split("\n"))
            t.set_text("\n".join(textwrap.wrap(new, max(width, 12))) if "\n" in text else new)
    return fig


class _Symbols(ticker.Formatter):
    """Tick labels of another formatter, their decimal and group symbols those of a language."""

    def __init__(self, inner, language: str):
        self.inner, self.language = inner, language

    def set_axis(self, axis):
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def _swap(self, text: str) -> str:
        from . import present

        return present.localize(text, self.language) if text else text

    def format_ticks(self, values):
        return [self._swap(t) for t in self.inner.format_ticks(values)]

    def __call__(self, x, pos=None):
        return self._swap(self.inner(x, pos))

    def get_offset(self):
        return self._swap(self.inner.get_offset())


@functools.cache
def _phrase_pattern():
    return re.compile("|".join(rf"(?<![\w-]){re.escape(p)}(?![\w-])" for p in PHRASES))


def _localized(function):
    """A figure function whose texts come out in the report's language (:func:`in_language`)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return in_language(function(*args, **kwargs))

    return wrapper


def set_theme() -> None:
    """One consistent look for every report figure."""
    sns.set_theme(
        context="notebook",
        style="whitegrid",
        palette=PALETTE,
        rc={
            "figure.figsize": (8, 4),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.labelsize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            # names from client.yaml are shown as typed: "$...$" in a KPI name is no TeX (a
            # name such as "$\\foo$" would otherwise fail the figure)
            "text.parse_math": False,
        },
    )


def _month_ticks(ax, periods: pd.Series, max_labels: int = 7) -> None:
    """Label a monthly time axis at its months (``YYYY-MM``), at most ``max_labels`` of them.

    Fixed positions instead of matplotlib's automatic date ticks, which search calendar rules
    on every draw (a third of the time a page of monthly small multiples takes to render).
    """
    months = pd.DatetimeIndex(pd.to_datetime(periods.dropna().unique())).sort_values()
    if len(months) == 0 or months.tz is not None:
        return
    step = int(np.ceil(len(months) / max_labels))
    ax.set_xticks(mdates.date2num(months[::step].to_pydatetime()))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.xaxis.set_minor_locator(plt.NullLocator())


def _intervals(ax, pos, low, high, *, horizontal: bool = False, colour: str = "#555555", lw: float = 1,
               zorder: int = 1) -> None:
    """Interval lines from ``low`` to ``high`` at ``pos`` with end caps.

    This does not assume that the estimate lies inside its interval (a bootstrap percentile
    interval need not contain the point estimate); rows with a missing bound are skipped.
    """
    pos = np.asarray(pos, dtype=float)
    lo = np.asarray(low, dtype=float)
    hi = np.asarray(high, dtype=float)
    ok = np.isfinite(pos) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return
    pos, lo, hi = pos[ok], np.minimum(lo[ok], hi[ok]), np.maximum(lo[ok], hi[ok])
    if horizontal:
        ax.hlines(pos, lo, hi, colors=colour, lw=lw, zorder=zorder)
        ax.scatter(np.r_[lo, hi], np.r_[pos, pos], marker="|", color=colour, s=40, lw=lw, zorder=zorder)
    else:
        ax.vlines(pos, lo, hi, colors=colour, lw=lw, zorder=zorder)
        ax.scatter(np.r_[pos, pos], np.r_[lo, hi], marker="_", color=colour, s=40, lw=lw, zorder=zorder)


#: Errors that mean the code is wrong, whatever the data: :func:`guarded` lets them through.
CODE_FAULTS = (NameError, AttributeError, ImportError)


@contextmanager
def guarded(what: str = "figure"):
    """Draw a figure without letting a drawing failure stop the report.

    Use as ``with plots.guarded("response curve"): ...``; on an error the figure is closed
    and one line says it was not drawn and why, so the rest of the report still runs. A fault in
    the code itself (a name, attribute or import that does not exist) is not a figure the data
    could not give: it is raised, so that the notebook and the test that runs it fail.
    """
    try:
        yield
    except CODE_FAULTS:
        plt.close("all")
        raise
    except Exception as e:  # noqa: BLE001 - a figure must never stop a report
        plt.close("all")
        print(f"({what} not drawn: {type(e).__name__}: {e})")


@_localized
def interval_line(data: pd.DataFrame, x: str, y: str, low: str, high: str, *, ax=None,
                  ylabel: str = "", xlabel: str = "", title: str = "", flag: str | None = None,
                  reference: float | None = None, reference_label: str = "target"):
    """A line of estimates with a shaded interval band; flagged (small-base) points hollow."""
    ax = ax or plt.subplots()[1]
    d = data.sort_values(x)
    ax.plot(d[x], d[y], marker="o", color=PALETTE[0], label=ylabel or y)
    if pd.api.types.is_datetime64_dtype(d[x]) and len(d):
        _month_ticks(ax, d[x])
    ax.fill_between(d[x], d[low], d[high], color=PALETTE[0], alpha=0.2, label="95% interval")
    if flag and flag in d and d[flag].any():
        f = d[d[flag]]
        ax.scatter(f[x], f[y], s=80, facecolors="white", edgecolors=PALETTE[1], zorder=3,
                   label="small base (interpret with care)")
    if reference is not None:
        ax.axhline(reference, color=STATUS_COLOURS["below target"], ls="--", lw=1, label=reference_label)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    legend_outside(ax)
    return ax


@_localized
def estimate_bars(data: pd.DataFrame, y: str, x: str, low: str, high: str, *, ax=None, hue: str | None = None,
                  xlabel: str = "", title: str = "", reference: float | None = None):
    """Horizontal point estimates with error bars, one row per category."""
    d = data.reset_index(drop=True)
    ax = ax or plt.subplots(figsize=(8, 0.45 * len(d) + 1.2))[1]
    ypos = np.arange(len(d))
    colours = [STATUS_COLOURS.get(v, PALETTE[0]) for v in d[hue]] if hue else PALETTE[0]
    _intervals(ax, ypos, d[low], d[high], horizontal=True)
    ax.scatter(d[x], ypos, c=colours, s=50, zorder=3)
    ax.set_yticks(ypos, d[y])
    ax.invert_yaxis()
    if reference is not None:
        ax.axvline(reference, color="#555555", lw=0.8)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel("")
    if title:
        ax.set_title(title)
    return ax


@_localized
def kpi_structure(config, status: pd.DataFrame | None = None):
    """The KPI structure as a tree per chain: result KPI ← chain ← chain KPIs ← owning links.

    Drawn from client.yaml alone; ``status`` (a chain-KPI table with ``chain``, ``kpi`` and
    ``status`` columns, e.g. from :func:`ipm_analysis.kpis.chain_kpi_table`) colours each KPI node
    by its status against target. Returns the Figure.
    """
    status_of = {}
    if status is not None and len(status):
        status_of = {(r.chain, r.kpi): r.status for r in status.itertuples()}
    chains = config.chains
    n_rows = sum(max(len(c.kpis), 1) for c in chains) + len(chains) - 1
    fig, ax = plt.subplots(figsize=(10, 0.55 * n_rows + 1.0))
    ax.set_axis_off()
    ax.set_xlim(-0.2, 4.2)
    ax.set_ylim(-0.8, n_rows)
    result_name = config.result_kpi.name if config.result_kpi is not None else "Result KPI (no survey)"
    x_result, x_chain, x_kpi, x_link = 0.3, 1.45, 2.65, 3.75
    y = n_rows - 0.5
    chain_ys = []
    box = dict(boxstyle="round,pad=0.35", lw=1)
    for chain in chains:
        ys = []
        for k in chain.kpis:
            st = status_of.get((chain.id, k.id), "no data")
            colour = STATUS_COLOURS.get(st, "#9e9e9e")
            ax.annotate(_wrap(k.name, 24), (x_kpi, y), ha="center", va="center", fontsize=MIN_FONT, color="white",
                        bbox={**box, "fc": colour, "ec": colour})
            ax.annotate(_wrap(k.link, 16), (x_link, y), ha="center", va="center", fontsize=MIN_FONT,
                        bbox={**box, "fc": "#eceff1", "ec": "#90a4ae"})
            ax.plot([x_kpi, x_link], [y, y], color="#90a4ae", lw=1, zorder=0)
            ys.append(y)
            y -= 1
        yc = sum(ys) / len(ys)
        for yk in ys:
            ax.plot([x_chain, x_kpi], [yc, yk], color="#90a4ae", lw=1, zorder=0)
        ax.annotate(_wrap(f"{chain.name}\nowner: {chain.owner}", 26), (x_chain, yc), ha="center", va="center",
                    fontsize=MIN_FONT, bbox={**box, "fc": "#e3f2fd", "ec": PALETTE[0]})
        chain_ys.append(yc)
        y -= 1
    yr = sum(chain_ys) / len(chain_ys)
    for yc in chain_ys:
        ax.plot([x_result, x_chain], [yr, yc], color="#90a4ae", lw=1, zorder=0)
    ax.annotate(_wrap(result_name, 14), (x_result, yr), ha="center", va="center", fontsize=9, color="white",
                fontweight="bold", bbox={**box, "fc": PALETTE[0], "ec": PALETTE[0]})
    for x, label in ((x_result, "result KPI"), (x_chain, "chain (owner)"), (x_kpi, "chain KPI"),
                     (x_link, "owning link")):
        ax.text(x, n_rows - 0.05, label, ha="center", va="bottom", fontsize=MIN_FONT, color="#555555")
    shown = {**STATUS_COLOURS, "no data": "#9e9e9e"}
    handles = [plt.Line2D([], [], marker="s", ls="", color=c, label=s) for s, c in shown.items()]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.02), ncol=4, fontsize=MIN_FONT)
    ax.set_title("KPI structure: which chain KPIs, owned by which link, feed the result KPI", pad=18)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.fill(part, width) for part in str(text).split("\n"))


@_localized
def kpi_months(table: pd.DataFrame, col_wrap: int = 3):
    """Small multiples: each chain KPI per month with its interval band and target line."""
    keys = list(dict.fromkeys(zip(table["chain"], table["kpi"])))
    n = len(keys)
    ncols = min(col_wrap, max(n, 1))
    nrows = int(np.ceil(n / ncols)) if n else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.8 * nrows), squeeze=False)
    for ax, (chain, kpi) in zip(axes.flat, keys):
        d = table[(table["chain"] == chain) & (table["kpi"] == kpi)].sort_values("period")
        unit = d["unit"].iloc[0]
        mult = 100.0 if unit == "share" else 1.0
        ylabel = units.axis_label(unit)
        ax.plot(d["period"], d["value"] * mult, marker="o", ms=3, color=PALETTE[0])
        _month_ticks(ax, d["period"], max_labels=5)
        ax.fill_between(d["period"], d["ci_low"] * mult, d["ci_high"] * mult, color=PALETTE[0], alpha=0.2)
        if "small_base" in d and d["small_base"].any():
            f = d[d["small_base"]]
            ax.scatter(f["period"], f["value"] * mult, s=40, facecolors="white", edgecolors=PALETTE[1], zorder=3)
        target = d["target"].iloc[0]
        if pd.notna(target):
            ax.axhline(target * mult, color=STATUS_COLOURS["below target"], ls="--", lw=1)
        ax.set_title(_wrap(f"{d['kpi_name'].iloc[0]} ({d['link'].iloc[0]})", 34), fontsize=9)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("month")
        ax.tick_params(axis="x", labelrotation=45, labelsize=MIN_FONT)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("Chain KPIs by month (band: 95% interval; dashed: target; hollow: small base)", fontsize=10)
    fig.tight_layout()
    return fig


@_localized
def lag_effects(table: pd.DataFrame, col_wrap: int = 3):
    """Estimated association of the monthly result KPI with each chain KPI by lag, with intervals."""
    d = table.dropna(subset=["coef"]) if "coef" in table else table.iloc[0:0]
    keys = list(dict.fromkeys(zip(d["chain"], d["kpi"])))
    n = max(len(keys), 1)
    ncols = min(col_wrap, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.6 * nrows), squeeze=False)
    for ax, (chain, kpi) in zip(axes.flat, keys):
        g = d[(d["chain"] == chain) & (d["kpi"] == kpi)]
        mult = 0.1 if g["unit"].iloc[0] == "share" else 1.0  # per 10 pp for shares
        _intervals(ax, g["lag"], g["ci_low"] * mult, g["ci_high"] * mult, colour=PALETTE[0])
        ax.plot(g["lag"], g["coef"] * mult, "o", color=PALETTE[0])
        ax.axhline(0, color="#555555", lw=0.8)
        per = "+10 pp" if g["unit"].iloc[0] == "share" else f"+1 {g['unit'].iloc[0]}"
        ax.set_title(_wrap(f"{g['kpi_name'].iloc[0]} ({per})", 34), fontsize=9)
        ax.set_xlabel("lag (months)")
        ax.set_xticks(range(int(g["lag"].max()) + 1))
        ax.set_ylabel("result KPI change")
    if not keys:
        axes.flat[0].text(0.5, 0.5, "too few months to estimate", ha="center", va="center")
        axes.flat[0].set_axis_off()
    for ax in list(axes.flat)[len(keys):]:
        if keys:
            ax.set_visible(False)
    fig.suptitle("Month-by-month association of the result KPI with each chain KPI (95% intervals)", fontsize=10)
    fig.tight_layout()
    return fig


QUADRANT_COLOURS = {"fix first": "#c62828", "keep up": "#2e7d32", "possible overkill": "#f9a825",
                    "low priority": "#757575", "no reliable association": "#bdbdbd"}


@_localized
def importance_performance(matrix: pd.DataFrame, *, ax=None, title: str = ""):
    """Importance (share of explained variance, with interval) against distance to target.

    One point per chain KPI; the quadrant colours follow the matrix's ``quadrant`` column. Labels
    are placed around their point so that no two overlap (:func:`place_labels`); the legend sits
    beside the axes, off the data.
    """
    ax = ax or plt.subplots(figsize=(8, 5))[1]
    d = matrix.dropna(subset=["share"]).reset_index(drop=True)
    x = d["gap_relative"] * 100
    y = d["share"] * 100
    _intervals(ax, x, d["share_ci_low"] * 100, d["share_ci_high"] * 100, colour="#999999")
    for q, g in d.groupby("quadrant"):
        ax.scatter(g["gap_relative"] * 100, g["share"] * 100, s=60, color=QUADRANT_COLOURS.get(q, PALETTE[0]),
                   label=q, zorder=2)
    ax.axvline(0, color="#555555", lw=0.8)
    ax.set_xlabel(_wrap("performance: distance to target (% of target; right = better than target)", 60))
    ax.set_ylabel(_wrap("importance: share of explained variance in its chain (%)", 40))
    ax.set_title(title or "Importance against performance")
    if len(d):
        xs, ys = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
        ok = np.isfinite(xs) & np.isfinite(ys)
        pad_x = max(np.ptp(xs[ok]) if ok.any() else 1.0, 10.0) * 0.35
        pad_y = max(np.ptp(ys[ok]) if ok.any() else 1.0, 10.0) * 0.25
        if ok.any():
            ax.set_xlim(min(xs[ok].min(), 0) - pad_x, max(xs[ok].max(), 0) + pad_x)
            top = np.nanmax(np.r_[ys[ok], d["share_ci_high"].to_numpy(dtype=float)[ok] * 100])
            ax.set_ylim(max(min(ys[ok].min(), 0) - pad_y, -5), top + pad_y)
        place_labels(ax, xs, ys, [_wrap(f"{n} ({k})", 22) for n, k in zip(d["name"], d["link"], strict=True)])
    legend_outside(ax)
    return ax


def legend_outside(ax, **kwargs):
    """The legend beside the axes (right, top-aligned), off the data; none when nothing is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if not kwargs.get("handles") and not handles:
        return None
    return ax.legend(fontsize=MIN_FONT, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0, **kwargs)


_OFFSETS = [(6, 5, "left", "bottom"), (6, -5, "left", "top"), (-6, 5, "right", "bottom"), (-6, -5, "right", "top"),
            (0, 9, "center", "bottom"), (0, -9, "center", "top"), (10, 0, "left", "center"), (-10, 0, "right", "center"),
            (14, 16, "left", "bottom"), (-14, 16, "right", "bottom"), (14, -16, "left", "top"),
            (-14, -16, "right", "top"), (0, 24, "center", "bottom"), (0, -24, "center", "top"),
            (24, 30, "left", "bottom"), (-24, 30, "right", "bottom"), (24, -30, "left", "top"),
            (-24, -30, "right", "top")]


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(ax, x, y, labels, fontsize: float = MIN_FONT) -> list:
    """Label each point so that no two labels overlap each other or a point, inside the axes.

    Greedy: points from top to bottom, each label tries offsets around its point in turn
    (closest first) and takes the first that touches no earlier label, no marker and stays in
    the axes; when none is free, the one with the least overlap (then with a leader line).
    Returns the text objects.
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    get = getattr(fig.canvas, "get_renderer", None)
    renderer = get() if get else fig._get_renderer()  # the inline backend's canvas has no renderer of its own
    axes_box = ax.get_window_extent(renderer)
    marker = 6 * fig.dpi / 72  # half a marker's width, in pixels
    points = [ax.transData.transform((xi, yi)) for xi, yi in zip(x, y, strict=True)]
    taken = [Bbox.from_extents(px - marker, py - marker, px + marker, py + marker) for px, py in points]
    texts = []
    order = sorted(range(len(points)), key=lambda i: -points[i][1])
    for i in order:
        best = None
        for dx, dy, ha, va in _OFFSETS:
            t = ax.annotate(labels[i], (x[i], y[i]), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                            fontsize=fontsize)
            box = t.get_window_extent(renderer).expanded(1.05, 1.1)
            cost = sum(_overlap(box, b) for b in taken)
            outside = (max(axes_box.x0 - box.x0, 0) + max(box.x1 - axes_box.x1, 0)
                       + max(axes_box.y0 - box.y0, 0) + max(box.y1 - axes_box.y1, 0))
            cost += outside * box.height
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, t, box, abs(dx) + abs(dy) > 20)
            else:
                t.remove()
            if cost == 0:
                break
        _, t, box, far = best
        if far:
            px, py = points[i]
            ax.annotate("", (x[i], y[i]), xytext=(min(max(px, box.x0), box.x1), min(max(py, box.y0), box.y1)),
                        textcoords="figure pixels", arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.6})
        taken.append(box)
        texts.append(t)
    return texts


def nothing_to_show(values) -> bool:
    """True when a chart of ``values`` would be empty: no value, or every value zero or missing."""
    a = np.asarray(values, dtype=float)
    return a.size == 0 or not np.any(np.nan_to_num(a) != 0)


@_localized
def response_curve(curve: pd.DataFrame, *, ax=None, xlabel: str = "", ylabel: str = "", title: str = "",
                   knot: float | None = None):
    """The result KPI per bin of a driver, with 95% intervals; small bases hollow.

    ``knot``: a threshold found (its ``knot``), drawn as a dashed line after the band that
    holds it, so the figure shows what the sentence says.
    """
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    d = curve.reset_index(drop=True)
    pos = np.arange(len(d))
    if knot is not None and np.isfinite(knot) and "x_high" in d:
        at = int(np.searchsorted(d["x_high"].to_numpy(dtype=float), knot, side="left"))
        if at < len(d) - 1:
            ax.axvline(at + 0.5, color=STATUS_COLOURS["below target"], ls="--", lw=1,
                       label=f"threshold: beyond {knot:g}")
            legend_outside(ax)
    _intervals(ax, pos, d["kpi_ci_low"], d["kpi_ci_high"], colour=PALETTE[0])
    ax.plot(pos, d["kpi"], "o-", color=PALETTE[0])
    if "small_base" in d and d["small_base"].any():
        f = d[d["small_base"]]
        ax.scatter(pos[d["small_base"].to_numpy()], f["kpi"], s=80, facecolors="white", edgecolors=PALETTE[1],
                   zorder=3)
    ax.set_xticks(pos, [_wrap(b, 12) for b in d["bin"]], fontsize=MIN_FONT)
    ax.set_xlabel(xlabel or "bin")
    ax.set_ylabel(ylabel or "result KPI")
    if title:
        ax.set_title(title)
    return ax


@_localized
def top_variants(variants: pd.DataFrame, n: int = 8, *, designed: tuple | None = None, ax=None, title: str = ""):
    """The most frequent journeys (variants) as horizontal bars of their share of cases."""
    d = variants.head(n).reset_index(drop=True)
    ax = ax or plt.subplots(figsize=(9, 0.5 * len(d) + 1.2))[1]
    labels = [_wrap(" → ".join(a), 70) for a in d["activities"]]
    colours = [STATUS_COLOURS["on target"] if designed is not None and tuple(a) == tuple(designed) else PALETTE[0]
               for a in d["activities"]]
    ax.barh(np.arange(len(d)), d["share"] * 100, color=colours)
    ax.set_yticks(np.arange(len(d)), labels, fontsize=MIN_FONT)
    ax.invert_yaxis()
    ax.set_xlabel("% of cases")
    ax.set_title(title or "Most frequent journeys")
    if designed is not None:
        from matplotlib.patches import Patch

        shown = any(tuple(a) == tuple(designed) for a in d["activities"])
        handles = [Patch(color=STATUS_COLOURS["on target"], label="as designed"),
                   Patch(color=PALETTE[0], label="deviating")] if shown else [
            Patch(color=PALETTE[0], label="deviating (the designed journey is not among these)")]
        legend_outside(ax, handles=handles)
    return ax


@_localized
def step_deviations(table: pd.DataFrame, *, ax=None, title: str = ""):
    """Per designed step: share of cases that skipped it, repeated it or did it out of order."""
    cols = {"skipped_share": "skipped", "repeated_share": "repeated", "out_of_order_share": "out of order"}
    d = table.set_index("step")[list(cols)].rename(columns=cols) * 100
    ax = ax or plt.subplots(figsize=(8, 3.5))[1]
    d.plot.bar(ax=ax, color=[PALETTE[1], PALETTE[3], PALETTE[4]], rot=30)
    ax.set_xlabel("designed step")
    ax.set_ylabel("% of cases")
    ax.set_title(title or "Deviation from the designed journey, per step")
    legend_outside(ax)
    return ax


@_localized
def control_chart(table: pd.DataFrame, *, kind: str = "p", ax=None, title: str = "", ylabel: str = ""):
    """A control chart: the KPI per period, its centre line and limits, the baseline shaded,
    periods that signal marked in red.

    ``table`` is :attr:`ipm_analysis.monitoring.ControlChart.table`; for a p-chart (``kind="p"``)
    values and limits are shares and are drawn in %.
    """
    d = table.copy()
    d["period"] = pd.to_datetime(d["period"])
    scale = 100.0 if kind == "p" else 1.0
    ax = ax or plt.subplots(figsize=(8, 3.2))[1]
    base = d[d["baseline"]]
    if len(base):
        ax.axvspan(base["period"].min(), base["period"].max(), color="#eeeeee", zorder=0, label="baseline")
    ax.step(d["period"], d["ucl"] * scale, where="mid", color="#999999", lw=1, ls="--", label="control limits")
    ax.step(d["period"], d["lcl"] * scale, where="mid", color="#999999", lw=1, ls="--")
    ax.plot(d["period"], d["center"] * scale, color="#555555", lw=1, label="centre (baseline)")
    ax.plot(d["period"], d["value"] * scale, color=PALETTE[0], marker="o", ms=4, lw=1.5, label="per period")
    hit = d[d["signals"].map(len) > 0]
    if len(hit):
        ax.scatter(hit["period"], hit["value"] * scale, s=60, facecolors="none", edgecolors=STATUS_COLOURS[
            "below target"], linewidths=1.5, zorder=3, label="signal")
    _month_ticks(ax, d["period"])
    ax.set_xlabel("month")
    ax.set_ylabel(ylabel or ("% of cases" if kind == "p" else "value"))
    ax.set_title(title)
    legend_outside(ax)
    return ax
