"""How a chain-KPI value is written for a reader, by its unit (one rule for every output)."""

from __future__ import annotations

import math

from . import present
from .messages import Message, Num

#: every unit a chain KPI may have; the one list the config, KPIs, model frame and reports use
UNITS = ("share", "days", "hours", "minutes", "seconds", "count", "number")
#: units of time: a value is shown in its own unit (44 minutes, not 0.733333 hours)
TIME_UNITS = ("days", "hours", "minutes", "seconds")
#: units whose values cannot be below zero
NON_NEGATIVE_UNITS = TIME_UNITS + ("count",)


def axis_label(unit: str) -> str:
    """The label of a chart axis that shows values of ``unit``: shares are drawn in percent of cases."""
    return "% of cases" if unit == "share" else unit


def format_value(value: float | None, unit: str) -> str:
    """``0.767`` share → ``"76.7%"``, ``0.9`` → ``"90%"``, ``15.04`` days → ``"15.0 days"``,
    ``44`` minutes → ``"44.0 minutes"``, ``0.0004`` share → ``"0.04%"``.

    The decimals follow the package's one rounding rule (:mod:`ipm_analysis.present`): a share
    gets one decimal in percent (a whole percent drops its ``.0``), a time one decimal, another
    number two below 10, one below 100 and none above; a non-zero value always shows a
    significant digit. Missing values are written ``"–"``.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    value = float(value)
    if unit == "share":
        d = present.decimals(100 * value, 1)
        whole = present.num(100 * value, 1).endswith(".0")  # a whole percent drops its ".0"
        return Message("value.share", value=Num(100 * value, 0 if whole else d))
    if unit in TIME_UNITS:
        return Message(f"value.{unit}", value=Num(value, present.decimals(value, 1)))
    base = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return Message("value.number", value=Num(value, present.decimals(value, base)))


def format_interval(value: float | None, low: float | None, high: float | None, unit: str) -> str:
    """An interval of a chain-KPI value in its unit, both ends with the decimals the value has
    (:func:`ipm_analysis.present.interval`): ``"75.0% – 78.7%"``, ``"14.2 – 18.0 minutes"``."""
    if not all(v is not None and math.isfinite(float(v)) for v in (low, high)):
        return "–"
    v = value if value is not None and math.isfinite(float(value)) else low
    if unit == "share":
        _, lo, hi = present.interval(100 * float(v), 100 * float(low), 100 * float(high), 1)
        return f"{lo}% – {hi}%"
    base = 1 if unit in TIME_UNITS else 0 if abs(float(v)) >= 100 else 1 if abs(float(v)) >= 10 else 2
    _, lo, hi = present.interval(float(v), float(low), float(high), base)
    return f"{lo} – {hi} {unit}" if unit in TIME_UNITS else f"{lo} – {hi}"
