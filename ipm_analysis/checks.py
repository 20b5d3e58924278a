"""Checks at the public boundary of the analysis functions, shared by every analysis module.

One place for the arguments many functions take: a confidence level, a list of names, a 0/1
column. Each check either returns the value in its normal form or raises
:class:`~ipm_analysis.errors.AnalysisError` with a message that names the argument, says what
was expected and what was got.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import stats

from .errors import AnalysisError

__all__ = ["check_ci", "is_binary", "name_list", "z_value"]


def check_ci(ci: Any) -> float:
    """The confidence level ``ci`` as a float strictly between 0 and 1 (0.95 = a 95 % interval)."""
    if isinstance(ci, bool) or not isinstance(ci, (int, float, np.floating)) or not 0 < ci < 1:
        raise AnalysisError(f"ci must be a confidence level between 0 and 1 (e.g. 0.95), got {ci!r}")
    return float(ci)


def z_value(ci: float) -> float:
    """The two-sided normal quantile of a confidence level: 1.96 for 0.95."""
    return float(stats.norm.ppf(0.5 + ci / 2))


def is_binary(values: np.ndarray) -> bool:
    """True when every value is 0 or 1 (a yes/no column coded as numbers)."""
    return bool(np.isin(values, (0.0, 1.0)).all())


def name_list(value: Any, what: str, *, single: bool = True) -> list[str]:
    """A list of distinct names (columns, activities, channels) from what a caller passed.

    ``None`` is no names. A single string is one name when ``single`` is true; where a list is
    required (``single=False``) it is refused, so that ``"on_time"`` is never read as the
    letters ``o, n, _, ...``. Every name must be text, and none may appear twice.
    """
    if value is None:
        return []
    if isinstance(value, str):
        if single:
            return [value]
        raise AnalysisError(f"{what} must be a list of names, got the single text {value!r}")
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        expected = "a name or a list of names" if single else "a list of names"
        raise AnalysisError(f"{what} must be {expected}, got {type(value).__name__} {value!r}")
    names = list(value)
    if not all(isinstance(v, str) for v in names):
        raise AnalysisError(f"{what} must be names (text), got {names!r}")
    dupes = sorted({v for v in names if names.count(v) > 1})
    if dupes:
        raise AnalysisError(f"{what} lists the same name more than once: {dupes}")
    return names
