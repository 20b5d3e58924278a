"""The ipm-analysis theme and figures.

Like seaborn: every function takes a tidy frame plus column names and returns the Axes (or the
Figure for multi-panel figures); styling is one :func:`set_theme` call.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

STATUS_COLOURS = {"on target": "#2e7d32", "below target": "#c62828", "no target": "#757575"}
PALETTE = ["#1f4e79", "#e07b39", "#3a923a", "#c03d3e", "#9372b2", "#845b53", "#d684bd", "#7f7f7f"]


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
        },
    )


def interval_line(data: pd.DataFrame, x: str, y: str, low: str, high: str, *, ax=None,
                  ylabel: str = "", xlabel: str = "", title: str = "", flag: str | None = None,
                  reference: float | None = None, reference_label: str = "target"):
    """A line of estimates with a shaded interval band; flagged (small-base) points hollow."""
    ax = ax or plt.subplots()[1]
    d = data.sort_values(x)
    ax.plot(d[x], d[y], marker="o", color=PALETTE[0], label=ylabel or y)
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
    ax.legend(loc="best", fontsize=8)
    return ax


def estimate_bars(data: pd.DataFrame, y: str, x: str, low: str, high: str, *, ax=None, hue: str | None = None,
                  xlabel: str = "", title: str = "", reference: float | None = None):
    """Horizontal point estimates with error bars, one row per category."""
    d = data.reset_index(drop=True)
    ax = ax or plt.subplots(figsize=(8, 0.45 * len(d) + 1.2))[1]
    ypos = np.arange(len(d))
    colours = [STATUS_COLOURS.get(v, PALETTE[0]) for v in d[hue]] if hue else PALETTE[0]
    err = np.vstack([d[x] - d[low], d[high] - d[x]])
    ax.errorbar(d[x], ypos, xerr=err, fmt="none", ecolor="#555555", capsize=3, lw=1)
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
