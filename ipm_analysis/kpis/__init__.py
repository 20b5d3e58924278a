"""Result KPIs (NPS, ratings) and chain KPIs with their intervals, base sizes and targets.

Every function here is pure: pandas / numpy in, a frozen dataclass or a tidy frame out, nothing
printed and nothing read from disk. Inputs are checked at the public boundary; a problem a user
can cause raises :class:`~ipm_analysis.errors.AnalysisError` with a message that says what was
expected and what was got.

Conventions
-----------
* NPS values, their standard errors and intervals are in **points** (-100..100); the shares of
  promoters, passives and detractors are **fractions** (0..1).
* Chain KPIs with unit ``share`` are fractions (0..1) with Wilson intervals; every other unit is a
  mean per case with a Student-t interval.
* ``ci`` is always the confidence level (0.95 = a 95 % interval).
* Tables follow the base-size rules of :func:`apply_base_rules`: groups with fewer than
  ``suppress`` answers or cases are left out (and counted in ``attrs``), groups below ``flag``
  carry ``small_base = True``.
* Associations over time (:func:`lagged_association`, :func:`kpi_trend`) use OLS with
  Newey-West (HAC) standard errors. They describe association, never cause.
"""

from .intervals import *  # noqa: F401,F403
from .intervals import __all__ as _intervals_all
from .tables import *  # noqa: F401,F403
from .tables import __all__ as _tables_all
from .trends import *  # noqa: F401,F403
from .trends import __all__ as _trends_all

__all__ = [*_intervals_all, *_tables_all, *_trends_all]
