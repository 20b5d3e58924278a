"""How a chain-KPI value is written for a reader, by its unit (one rule for every output)."""

from __future__ import annotations

import math

#: every unit a chain KPI may have; the one list the config, KPIs, model frame and reports use
UNITS = ("share", "days", "hours", "minutes", "seconds", "count", "number")
#: units of time: a value is shown in its own unit (44 minutes, not 0.733333 hours)
TIME_UNITS = ("days", "hours", "minutes", "seconds")
#: units whose values cannot be below zero
NON_NEGATIVE_UNITS = TIME_UNITS + ("count",)


def format_value(value: float | None, unit: str) -> str:
    """``0.767`` share → ``"76.7%"``, ``0.9`` → ``"90%"``, ``15.04`` days → ``"15.0 days"``,
    ``44`` minutes → ``"44.0 minutes"``.

    Missing values are written ``"–"``.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    value = float(value)
    if unit == "share":
        text = f"{100 * value:.1f}"
        return (text[:-2] if text.endswith(".0") else text) + "%"
    if unit in TIME_UNITS:
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
