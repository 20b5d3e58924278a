"""How a chain-KPI value is written for a reader, by its unit (one rule for every output)."""

from __future__ import annotations

import math

UNITS = ("share", "days", "hours", "count", "number")


def format_value(value: float | None, unit: str) -> str:
    """``0.767`` share → ``"76.7%"``, ``0.9`` → ``"90%"``, ``15.04`` days → ``"15.0 days"``.

    Missing values are written ``"–"``.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    value = float(value)
    if unit == "share":
        text = f"{100 * value:.1f}"
        return (text[:-2] if text.endswith(".0") else text) + "%"
    if unit in ("days", "hours"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
