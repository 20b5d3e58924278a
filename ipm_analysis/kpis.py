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

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import present
from .checks import check_ci, name_list, z_value
from .messages import Message, Seq
from .errors import AnalysisError
from .units import UNITS

__all__ = [
    "NPSResult",
    "RatingResult",
    "MeanCI",
    "ChangeResult",
    "nps",
    "rating",
    "share_ci",
    "mean_ci",
    "holm",
    "nps_change",
    "share_change",
    "mean_change",
    "apply_base_rules",
    "result_kpi_by",
    "chain_kpi_table",
    "kpi_trend",
    "link_overview",
    "lagged_association",
    "hac_maxlags",
]

_UNITS = UNITS
_DIRECTIONS = ("higher", "lower")
_CHAIN_TABLE_COLUMNS = (
    "chain", "kpi", "kpi_name", "link", "unit", "direction", "period", "n", "value",
    "ci_low", "ci_high", "target", "gap", "on_target", "status", "small_base",
)


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NPSResult:
    """Net Promoter Score of a set of 0-10 answers, with its interval.

    Attributes
    ----------
    value : float
        NPS in points, ``100 * (promoters - detractors)``, between -100 and 100.
    ci_low, ci_high : float
        Normal-approximation interval in points, clipped to [-100, 100].
    n : int
        Number of answers used (missing scores and zero weights excluded).
    promoters, passives, detractors : float
        Shares (fractions, summing to 1) of scores 9-10, 7-8 and 0-6 (weighted if weights given).
    se : float
        Standard error in points: ``100 * sqrt((p_pro + p_det - (p_pro - p_det)**2) / n_eff)``.
    n_missing : int
        Missing scores that were dropped.
    n_eff : float
        Effective sample size used for the variance: ``n`` without weights, Kish's
        ``(sum w)**2 / sum w**2`` with weights.
    ci : float
        Confidence level of the interval.
    """

    value: float
    ci_low: float
    ci_high: float
    n: int
    promoters: float
    passives: float
    detractors: float
    se: float
    n_missing: int
    n_eff: float
    ci: float

    def __str__(self) -> str:
        v, lo, hi = present.interval(self.value, self.ci_low, self.ci_high, 1, signed=True)
        return f"NPS {v} ({self.ci:.0%} CI {lo} to {hi}), n={self.n}"


@dataclass(frozen=True)
class RatingResult:
    """Summary of answers on a rating scale (e.g. 1-5 stars), with intervals.

    Attributes
    ----------
    mean, mean_ci_low, mean_ci_high, mean_se : float
        Mean score with its Student-t interval (NaN interval when ``n < 2``).
    sd : float
        Sample standard deviation (``ddof=1``; NaN when ``n < 2``).
    top_box, top_box_ci_low, top_box_ci_high : float
        Share (fraction) of answers in the top box, with its Wilson interval.
    bottom_box, bottom_box_ci_low, bottom_box_ci_high : float
        Share (fraction) of answers in the bottom box, with its Wilson interval.
    n, n_missing : int
        Answers used; missing answers dropped.
    ci : float
        Confidence level of the intervals.
    """

    mean: float
    mean_ci_low: float
    mean_ci_high: float
    mean_se: float
    sd: float
    top_box: float
    top_box_ci_low: float
    top_box_ci_high: float
    bottom_box: float
    bottom_box_ci_low: float
    bottom_box_ci_high: float
    n: int
    n_missing: int
    ci: float

    def __str__(self) -> str:
        m, lo, hi = present.interval(self.mean, self.mean_ci_low, self.mean_ci_high, 2)
        return (f"mean {m} ({self.ci:.0%} CI {lo} to {hi}), top box {present.pct(self.top_box, 0)}, "
                f"bottom box {present.pct(self.bottom_box, 0)}, n={self.n}")


@dataclass(frozen=True)
class MeanCI:
    """A mean with its Student-t interval.

    Attributes
    ----------
    mean, ci_low, ci_high, se, sd : float
        The interval, standard error and standard deviation are NaN when ``n < 2``.
    n, n_missing : int
    ci : float
    """

    mean: float
    ci_low: float
    ci_high: float
    se: float
    sd: float
    n: int
    n_missing: int
    ci: float


@dataclass(frozen=True)
class ChangeResult:
    """A change between two independent samples: ``after - before``.

    Attributes
    ----------
    measure : str
        ``"nps"`` (points), ``"share"`` (fraction) or ``"mean"`` (the values' unit).
    before, after : float
        The two estimates.
    diff : float
        ``after - before``.
    ci_low, ci_high : float
        Interval of the difference.
    se : float
        Standard error of the difference (the two variances add).
    statistic : float
        z (``nps``, ``share``) or Welch t (``mean``) for the null of no change.
    df : float
        Welch-Satterthwaite degrees of freedom (``mean`` only; NaN for z tests).
    p_value : float
        Two-sided p-value.
    n_before, n_after : int
    test : str
        Short name of the test used.
    ci : float
    """

    measure: str
    before: float
    after: float
    diff: float
    ci_low: float
    ci_high: float
    se: float
    statistic: float
    df: float
    p_value: float
    n_before: int
    n_after: int
    test: str
    ci: float


# --------------------------------------------------------------------------------------------
# boundary checks
# --------------------------------------------------------------------------------------------


def _fmt(values: Iterable[Any], limit: int = 5) -> str:
    vals = list(values)
    shown = ", ".join(repr(v) if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)
                      for v in vals[:limit])
    return shown + (", ..." if len(vals) > limit else "")


def _as_series(values: Any, what: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame):
        raise AnalysisError(f"{what} must be one column of values, got a DataFrame with columns "
                            f"{list(values.columns)}")
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        raise AnalysisError(f"{what} must be a sequence of values, got {type(values).__name__}")
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        raise AnalysisError(f"{what} must be one-dimensional, got shape {arr.shape}")
    return pd.Series(arr)


def _numeric(values: Any, what: str) -> np.ndarray:
    """Values as a float array, NaN for missing; anything not a number is an error."""
    s = _as_series(values, what)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    missing = s.isna().to_numpy()
    out = np.full(len(s), np.nan)
    bad: list[Any] = []
    bad_at: list[Any] = []
    for i, (label, v) in enumerate(zip(s.index, s.to_numpy(dtype=object), strict=True)):
        if missing[i]:
            continue
        if isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            bad.append(v)
            bad_at.append(label)
    if bad:
        raise AnalysisError(f"{what} must be numbers; got {len(bad)} value(s) that are not: "
                            f"{_fmt(bad)} (at index {_fmt(bad_at)})")
    return out


def _scale_scores(values: Any, lo: int, hi: int, what: str) -> np.ndarray:
    """Scores as floats (NaN = missing), checked to be whole numbers within ``lo..hi``."""
    s = _as_series(values, what)
    if pd.api.types.is_bool_dtype(s.dtype) or (
            s.dtype == object and any(isinstance(v, (bool, np.bool_)) for v in s.to_numpy())):
        raise AnalysisError(f"{what} must be whole numbers from {lo} to {hi}, got true/false values")
    arr = _numeric(s, what)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(arr) & (~np.isfinite(arr) | (arr != np.round(arr)) | (arr < lo) | (arr > hi))
    if bad.any():
        vals = pd.unique(arr[bad]).tolist()
        where = s.index[bad].tolist()
        raise AnalysisError(
            f"{what} must be whole numbers from {lo} to {hi}; got {int(bad.sum())} invalid "
            f"value(s): {_fmt(vals)} (at index {_fmt(where)})")
    return arr


def _frame(df: Any, what: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise AnalysisError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    return df


def _require(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AnalysisError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def _check_bases(flag: Any, suppress: Any) -> tuple[int, int]:
    for name, v in (("flag", flag), ("suppress", suppress)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise AnalysisError(f"{name} must be a whole number of answers/cases, got {v!r}")
    if suppress < 1:
        raise AnalysisError(f"suppress must be at least 1 (a base of 0 has no value), got {suppress}")
    if flag < suppress:
        raise AnalysisError(f"flag ({flag}) must not be below suppress ({suppress})")
    return int(flag), int(suppress)


def _get(obj: Any, key: str, default: Any = ...) -> Any:
    if isinstance(obj, Mapping):
        if key in obj:
            return obj[key]
    elif hasattr(obj, key):
        return getattr(obj, key)
    if default is ...:
        raise AnalysisError(f"{type(obj).__name__} {obj!r} has no '{key}'")
    return default


def _month(s: pd.Series) -> pd.Series:
    """Datetime-like values → the Timestamp of their month start; other values unchanged."""
    if isinstance(s.dtype, pd.PeriodDtype):
        return s.dt.to_timestamp()
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s.dt.to_period("M").dt.to_timestamp()
    return s


# --------------------------------------------------------------------------------------------
# vectorised interval helpers (internal)
# --------------------------------------------------------------------------------------------


def _wilson(k: Any, n: Any, z: float) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2 = z * z
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _t_interval(mean: Any, sd: Any, n: Any, ci: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(n >= 2, sd / np.sqrt(n), np.nan)
        q = np.where(n >= 2, stats.t.ppf(0.5 + ci / 2, np.maximum(n - 1, 1)), np.nan)
    return mean - q * se, mean + q * se, se


def _nps_stats(p_pro: Any, p_det: Any, n_eff: Any, z: float):
    p_pro = np.asarray(p_pro, dtype=float)
    p_det = np.asarray(p_det, dtype=float)
    n_eff = np.asarray(n_eff, dtype=float)
    d = p_pro - p_det
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.maximum(p_pro + p_det - d * d, 0.0) / n_eff
    value = 100 * d
    se = 100 * np.sqrt(var)
    return value, se, np.clip(value - z * se, -100, 100), np.clip(value + z * se, -100, 100)


# --------------------------------------------------------------------------------------------
# result KPIs
# --------------------------------------------------------------------------------------------


def nps(scores: Any, ci: float = 0.95, *, weights: Any = None) -> NPSResult:
    """Net Promoter Score with an analytic interval.

    Parameters
    ----------
    scores : array-like
        Answers to "how likely to recommend", whole numbers 0-10. Missing values (NaN/None) are
        dropped and counted in ``n_missing``.
    ci : float, default 0.95
        Confidence level.
    weights : array-like, optional
        Survey weights, one per score, finite and non-negative. Shares are weighted; the variance
        uses Kish's effective sample size ``(sum w)**2 / sum w**2``. Answers with weight 0 are
        not counted in ``n``.

    Returns
    -------
    NPSResult

    Raises
    ------
    AnalysisError
        A score that is not a whole number 0-10 (the message lists them), bad weights, or no
        answers left.

    Notes
    -----
    The NPS is the mean of a variable that is +1 for a promoter, 0 for a passive and -1 for a
    detractor; its sampling variance is ``(p_pro + p_det - (p_pro - p_det)**2) / n``. The
    interval is ``value ± z * se`` (normal approximation), clipped to [-100, 100]. When every
    answer falls in one group the estimated variance is 0 and the interval has no width, which
    is one more reason to suppress small bases (:func:`apply_base_rules`).
    """
    ci = check_ci(ci)
    arr = _scale_scores(scores, 0, 10, "NPS scores")
    has = ~np.isnan(arr)
    n_missing = int((~has).sum())
    if weights is None:
        v = arr[has]
        n = int(v.size)
        if n == 0:
            raise AnalysisError(f"no NPS scores to compute an NPS from (got {len(arr)} values, "
                                f"{n_missing} missing)")
        p_pro = float(np.count_nonzero(v >= 9)) / n
        p_det = float(np.count_nonzero(v <= 6)) / n
        n_eff = float(n)
    else:
        w = _numeric(weights, "weights")
        if w.size != arr.size:
            raise AnalysisError(f"weights must have one value per score: {arr.size} scores, "
                                f"{w.size} weights")
        bad = has & (np.isnan(w) | ~np.isfinite(w) | (w < 0))
        if bad.any():
            raise AnalysisError(f"weights must be finite and non-negative for every score; got "
                                f"{_fmt(pd.unique(w[bad]).tolist())}")
        keep = has & (w > 0)
        v, w = arr[keep], w[keep]
        n = int(v.size)
        if n == 0:
            raise AnalysisError("no NPS scores with a positive weight to compute an NPS from")
        total = w.sum()
        p_pro = float(w[v >= 9].sum() / total)
        p_det = float(w[v <= 6].sum() / total)
        n_eff = float(total ** 2 / np.sum(w * w))
    value, se, lo, hi = _nps_stats(p_pro, p_det, n_eff, z_value(ci))
    return NPSResult(
        value=float(value), ci_low=float(lo), ci_high=float(hi), n=n, promoters=p_pro,
        passives=max(0.0, 1.0 - p_pro - p_det), detractors=p_det, se=float(se),
        n_missing=n_missing, n_eff=n_eff, ci=ci,
    )


def _check_box(box: Any, lo: int, hi: int, name: str) -> list[int]:
    if isinstance(box, (str, bytes)) or not isinstance(box, Iterable):
        raise AnalysisError(f"{name} must be a list of scale values, got {box!r}")
    vals = list(box)
    if not vals:
        raise AnalysisError(f"{name} must name at least one scale value, got an empty list")
    bad = [v for v in vals if isinstance(v, bool) or not isinstance(v, (int, np.integer))
           or not lo <= v <= hi]
    if bad:
        raise AnalysisError(f"{name} values must be whole numbers within the scale {lo}-{hi}; "
                            f"got {_fmt(bad)}")
    return [int(v) for v in vals]


def _check_rating_scale(lo: Any, hi: Any, top_box: Any,
                        bottom_box: Any) -> tuple[int, int, list[int], list[int]]:
    for name, v in (("min", lo), ("max", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise AnalysisError(f"scale {name} must be a whole number, got {v!r}")
    if lo >= hi:
        raise AnalysisError(f"scale min ({lo}) must be below max ({hi})")
    top = _check_box(top_box, lo, hi, "top_box")
    bottom = _check_box(bottom_box, lo, hi, "bottom_box")
    both = sorted(set(top) & set(bottom))
    if both:
        raise AnalysisError(f"top_box and bottom_box must not share values; both hold {both}")
    return int(lo), int(hi), top, bottom


def rating(scores: Any, min: int, max: int, top_box: Sequence[int], bottom_box: Sequence[int],
           ci: float = 0.95) -> RatingResult:
    """Mean, top-box and bottom-box share of answers on a rating scale.

    Parameters
    ----------
    scores : array-like
        Whole numbers from ``min`` to ``max``; missing values are dropped and counted. A labels
        scale must be mapped to integers 1..k first.
    min, max : int
        The ends of the scale (e.g. 1 and 5).
    top_box, bottom_box : list of int
        Scale values counted as top box and bottom box (e.g. ``[5]`` and ``[1, 2]``).
    ci : float, default 0.95
        Confidence level.

    Returns
    -------
    RatingResult
        Mean with a Student-t interval; box shares with Wilson intervals.

    Raises
    ------
    AnalysisError
        A score off the scale or not whole, a bad scale definition, or no answers.
    """
    ci = check_ci(ci)
    lo, hi, top, bottom = _check_rating_scale(min, max, top_box, bottom_box)
    arr = _scale_scores(scores, lo, hi, f"rating scores (scale {lo}-{hi})")
    has = ~np.isnan(arr)
    v = arr[has]
    n = int(v.size)
    if n == 0:
        raise AnalysisError(f"no rating scores to summarise (got {len(arr)} values, all missing)")
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n >= 2 else math.nan
    m_lo, m_hi, se = _t_interval(mean, sd, n, ci)
    z = z_value(ci)
    k_top = int(np.isin(v, top).sum())
    k_bot = int(np.isin(v, bottom).sum())
    t_lo, t_hi = _wilson(k_top, n, z)
    b_lo, b_hi = _wilson(k_bot, n, z)
    return RatingResult(
        mean=mean, mean_ci_low=float(m_lo), mean_ci_high=float(m_hi), mean_se=float(se), sd=sd,
        top_box=k_top / n, top_box_ci_low=float(t_lo), top_box_ci_high=float(t_hi),
        bottom_box=k_bot / n, bottom_box_ci_low=float(b_lo), bottom_box_ci_high=float(b_hi),
        n=n, n_missing=int((~has).sum()), ci=ci,
    )


def share_ci(successes: Any, n: Any, ci: float = 0.95):
    """Wilson score interval of a proportion.

    Parameters
    ----------
    successes : int, float or array-like
        Number of successes (may be fractional, e.g. weighted counts), ``0 <= successes <= n``.
    n : int, float or array-like
        Number of trials, positive. Broadcast against ``successes``.
    ci : float, default 0.95
        Confidence level.

    Returns
    -------
    (low, high) : tuple of float, or of ndarray for array input
        Bounds as fractions in [0, 1]. Same as statsmodels'
        ``proportion_confint(successes, n, alpha=1 - ci, method="wilson")``.
    """
    ci = check_ci(ci)
    scalar = np.ndim(successes) == 0 and np.ndim(n) == 0
    try:
        k = np.asarray(successes, dtype=float)
        m = np.asarray(n, dtype=float)
        k, m = np.broadcast_arrays(k, m)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"successes and n must be numbers or arrays of numbers of the same "
                            f"shape; got {successes!r} and {n!r}") from exc
    if not (np.isfinite(k).all() and np.isfinite(m).all()):
        raise AnalysisError("successes and n must be finite numbers (no NaN or infinity)")
    if (m <= 0).any():
        raise AnalysisError(f"n must be positive, got {_fmt(pd.unique(m[m <= 0]).tolist())}")
    if ((k < 0) | (k > m)).any():
        raise AnalysisError("successes must lie between 0 and n; got "
                            f"{_fmt(k[(k < 0) | (k > m)].tolist())}")
    low, high = _wilson(k, m, z_value(ci))
    if scalar:
        return float(low), float(high)
    return low, high


def mean_ci(values: Any, ci: float = 0.95) -> MeanCI:
    """Mean with a Student-t interval (``n - 1`` degrees of freedom).

    Parameters
    ----------
    values : array-like of numbers
        Missing values are dropped and counted.
    ci : float, default 0.95

    Returns
    -------
    MeanCI
        Interval, ``se`` and ``sd`` are NaN when fewer than 2 values remain.
    """
    ci = check_ci(ci)
    arr = _numeric(values, "values")
    has = ~np.isnan(arr)
    v = arr[has]
    if not np.isfinite(v).all():
        raise AnalysisError("values must be finite numbers; got infinity")
    n = int(v.size)
    if n == 0:
        raise AnalysisError(f"no values to average (got {arr.size} values, all missing)")
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n >= 2 else math.nan
    lo, hi, se = _t_interval(mean, sd, n, ci)
    return MeanCI(mean=mean, ci_low=float(lo), ci_high=float(hi), se=float(se), sd=sd, n=n,
                  n_missing=int((~has).sum()), ci=ci)


# --------------------------------------------------------------------------------------------
# changes between two independent samples
# --------------------------------------------------------------------------------------------


def _z_change(measure: str, before: float, after: float, se_b: float, se_a: float, n_b: int,
              n_a: int, ci: float, test: str) -> ChangeResult:
    diff = after - before
    se = math.sqrt(se_b ** 2 + se_a ** 2)
    z = z_value(ci)
    if se > 0:
        stat = diff / se
        p = float(2 * stats.norm.sf(abs(stat)))
    else:  # both samples without spread: a change is certain, no change is certain
        stat = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0 else 0.0
    bound = 200.0 if measure == "nps" else 1.0  # the largest possible change
    return ChangeResult(measure=measure, before=before, after=after, diff=diff,
                        ci_low=max(diff - z * se, -bound), ci_high=min(diff + z * se, bound), se=se,
                        statistic=stat, df=math.nan, p_value=p, n_before=n_b, n_after=n_a, test=test, ci=ci)


def nps_change(before: Any, after: Any, ci: float = 0.95) -> ChangeResult:
    """Change in NPS between two independent samples, ``after - before``, in points.

    Parameters
    ----------
    before, after : array-like of 0-10 scores, or NPSResult
        Raw scores (validated as in :func:`nps`) or results already computed (e.g. weighted).
    ci : float, default 0.95

    Returns
    -------
    ChangeResult
        ``measure="nps"``; the standard error is ``sqrt(se_before**2 + se_after**2)`` and the
        p-value is from a two-sided z-test of no change; the interval is clipped to [-200, 200].
        A sample whose answers all fall in one group has an estimated variance of 0; it gets
        the standard error of its shares with one promoter, passive and detractor added, so a
        change between, e.g., ten promoters and ten detractors is not reported as certain.
        Each sample needs at least ``MIN_CHANGE_N`` (10) answers; fewer raise
        :class:`AnalysisError`.
    """
    ci = check_ci(ci)
    b = before if isinstance(before, NPSResult) else nps(before, ci)
    a = after if isinstance(after, NPSResult) else nps(after, ci)
    _check_change_base(b.n, a.n, "nps_change")
    se_b, se_a = _nps_se_with_spread(b), _nps_se_with_spread(a)
    test = "two-sample z (NPS)"
    if (se_b, se_a) != (b.se, a.se):
        test += "; a sample without spread gets the standard error of its shares plus one answer per group"
    return _z_change("nps", b.value, a.value, se_b, se_a, b.n, a.n, ci, test)


def holm(p_values: Any) -> np.ndarray:
    """Holm-adjusted p-values (step-down, family-wise error), in the input order.

    The same numbers as ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]``
    (tested), without the full garbage collection that call runs each time, which costs
    about 0.1 s per call in a notebook that holds a client's data.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or np.isnan(p).any():
        raise AnalysisError("holm needs a 1-d array of p-values without missing values")
    order = np.argsort(p, kind="mergesort")
    m = p.size
    adjusted = np.minimum(np.maximum.accumulate(p[order] * np.arange(m, 0, -1)), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


MIN_CHANGE_N = 10  # answers per sample below which nps_change and share_change test nothing


def _check_change_base(n_before: int, n_after: int, what: str) -> None:
    if min(n_before, n_after) < MIN_CHANGE_N:
        raise AnalysisError(f"{what} needs at least {MIN_CHANGE_N} answers in each sample for its normal "
                            f"approximation; got {n_before} before and {n_after} after")


def _nps_se_with_spread(res: NPSResult) -> float:
    """The NPS standard error, or, for a sample whose answers all fall in one group (estimated
    variance 0, which would make any change look certain), that of the shares with one
    promoter, one passive and one detractor added (a Laplace-type adjustment)."""
    if res.se > 0 or res.n_eff <= 0:
        return res.se
    m = res.n_eff + 3
    pro = (res.promoters * res.n_eff + 1) / m
    det = (res.detractors * res.n_eff + 1) / m
    return 100 * math.sqrt((pro + det - (pro - det) ** 2) / m)


def _binary(values: Any, what: str) -> np.ndarray:
    arr = _numeric(values, what)
    v = arr[~np.isnan(arr)]
    bad = (v != 0) & (v != 1)
    if bad.any():
        raise AnalysisError(f"{what} must be true/false or 0/1 per answer; got "
                            f"{_fmt(pd.unique(v[bad]).tolist())}")
    if v.size == 0:
        raise AnalysisError(f"{what} holds no values (all missing)")
    return v


def share_change(before: Any, after: Any, ci: float = 0.95) -> ChangeResult:
    """Change in a share (e.g. top-box share) between two independent samples.

    Parameters
    ----------
    before, after : array-like of bool or 0/1
        One value per answer or case; missing values are dropped. For a rating's top box pass
        e.g. ``np.isin(scores, [5])``.
    ci : float, default 0.95

    Returns
    -------
    ChangeResult
        ``measure="share"``, difference as a fraction. Wald (unpooled) standard error
        ``sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)`` for both the interval and the z-test, so the
        interval excludes 0 exactly when ``p < 1 - ci``; clipped to [-1, 1]. A sample of all
        0 or all 1 gets the standard error of its share with one success and one failure added
        (as in the Agresti-Caffo interval) instead of 0. Each sample needs at least
        ``MIN_CHANGE_N`` (10) values.
    """
    ci = check_ci(ci)
    b = _binary(before, "before")
    a = _binary(after, "after")
    _check_change_base(b.size, a.size, "share_change")
    pb, pa = float(b.mean()), float(a.mean())
    se_b = math.sqrt(pb * (1 - pb) / b.size)
    se_a = math.sqrt(pa * (1 - pa) / a.size)
    test = "two-sample z (Wald, unpooled)"
    if se_b == 0 or se_a == 0:  # all 0 or all 1: Agresti-Caffo (one success and one failure added)
        test += "; a sample without spread gets the standard error of its share plus one success and one failure"
        se_b = se_b or _share_se_adjusted(b)
        se_a = se_a or _share_se_adjusted(a)
    return _z_change("share", pb, pa, se_b, se_a, int(b.size), int(a.size), ci, test)


def _share_se_adjusted(v: np.ndarray) -> float:
    p = (v.sum() + 1) / (v.size + 2)
    return math.sqrt(p * (1 - p) / (v.size + 2))


def mean_change(before: Any, after: Any, ci: float = 0.95) -> ChangeResult:
    """Change in a mean (e.g. mean rating) between two independent samples, Welch's t.

    Parameters
    ----------
    before, after : array-like of numbers
        Missing values are dropped; each sample needs at least 2 values.
    ci : float, default 0.95

    Returns
    -------
    ChangeResult
        ``measure="mean"``; Welch-Satterthwaite degrees of freedom in ``df``. Agrees with
        ``scipy.stats.ttest_ind(after, before, equal_var=False)``. When neither sample varies
        the test is undefined: statistic, p-value and interval are NaN.
    """
    ci = check_ci(ci)
    b = mean_ci(before, ci)
    a = mean_ci(after, ci)
    if b.n < 2 or a.n < 2:
        raise AnalysisError(f"mean_change needs at least 2 values in each sample; got "
                            f"{b.n} before and {a.n} after")
    vb, va = b.sd ** 2 / b.n, a.sd ** 2 / a.n
    diff = a.mean - b.mean
    se = math.sqrt(vb + va)
    if se > 0:
        df = (vb + va) ** 2 / (vb ** 2 / (b.n - 1) + va ** 2 / (a.n - 1))
        stat = diff / se
        p = float(2 * stats.t.sf(abs(stat), df))
        q = float(stats.t.ppf(0.5 + ci / 2, df))
    else:  # no spread in either sample: Welch's t is undefined, so no test and no interval
        df = stat = p = q = math.nan
    return ChangeResult(measure="mean", before=b.mean, after=a.mean, diff=diff,
                        ci_low=diff - q * se, ci_high=diff + q * se, se=se, statistic=stat,
                        df=df, p_value=p, n_before=b.n, n_after=a.n, test="Welch t", ci=ci)


# --------------------------------------------------------------------------------------------
# base-size rules
# --------------------------------------------------------------------------------------------


def apply_base_rules(table: pd.DataFrame, n_col: str = "n", flag: int = 30,
                     suppress: int = 10) -> pd.DataFrame:
    """Apply the minimum-base rules to a table with one row per group.

    Parameters
    ----------
    table : DataFrame
        Any table with a base-size column. It is not modified.
    n_col : str, default "n"
        The column holding each row's base (answers or cases).
    flag : int, default 30
        Rows with ``suppress <= n < flag`` get ``small_base = True``.
    suppress : int, default 10
        Rows with ``n < suppress`` are removed (their values are too noisy to show).

    Returns
    -------
    DataFrame
        The rows kept (original index and column order, plus a bool ``small_base`` column).
        ``attrs`` records what was done: ``n_suppressed`` (rows removed), ``base_flag``,
        ``base_suppress`` and ``base_note``, a sentence for the report, e.g.
        ``"2 groups with a base below 10 are not shown; bases below 30 are flagged."``
    """
    table = _frame(table, "table")
    flag, suppress = _check_bases(flag, suppress)
    _require(table, [n_col], "table")
    n = pd.to_numeric(table[n_col], errors="coerce")
    if n.isna().any():
        raise AnalysisError(f"column '{n_col}' must hold a base size in every row; got missing "
                            f"or non-numeric values at index {_fmt(table.index[n.isna()].tolist())}")
    keep = (n >= suppress).to_numpy()
    out = table.loc[keep].copy()
    out["small_base"] = (n[keep] < flag).astype(bool).to_numpy()
    n_supp = int((~keep).sum())
    out.attrs = dict(table.attrs)
    out.attrs.update(
        n_suppressed=n_supp, base_flag=flag, base_suppress=suppress,
        base_note=(f"{n_supp} group{'s' if n_supp != 1 else ''} with a base below {suppress} "
                   f"{'are' if n_supp != 1 else 'is'} not shown; bases below {flag} are flagged."),
    )
    return out


# --------------------------------------------------------------------------------------------
# result KPI by segment / period
# --------------------------------------------------------------------------------------------


def _scale_spec(scale: Any) -> dict[str, Any]:
    kind = _get(scale, "type", None)
    if kind == "nps":
        return {"type": "nps", "min": 0, "max": 10}
    if kind == "rating":
        lo, hi, top, bottom = _check_rating_scale(_get(scale, "min"), _get(scale, "max"),
                                                  _get(scale, "top_box"), _get(scale, "bottom_box"))
        return {"type": "rating", "min": lo, "max": hi, "top_box": top, "bottom_box": bottom}
    if kind == "labels":
        raise AnalysisError("a labels scale must be mapped to integers 1..k and passed as "
                            "{'type': 'rating', 'min': 1, 'max': k, ...}")
    raise AnalysisError(f"scale type must be 'nps' or 'rating', got {kind!r}")


def _grouped(frame: pd.DataFrame, keys: list[str], agg: dict[str, tuple[str, str]]) -> pd.DataFrame:
    if keys:
        return frame.groupby(keys, dropna=False, sort=True, observed=True).agg(**agg).reset_index()
    return pd.DataFrame({name: [frame[src].agg(fn)] for name, (src, fn) in agg.items()})


def result_kpi_by(responses: pd.DataFrame, score_col: str, scale: Any, by: Any = None,
                  period: str | None = None, flag: int = 30, suppress: int = 10,
                  ci: float = 0.95) -> pd.DataFrame:
    """The result KPI (NPS or rating) per segment and/or period, with intervals and base rules.

    Parameters
    ----------
    responses : DataFrame
        One row per survey answer.
    score_col : str
        Column of scores (0-10 for NPS; ``min..max`` integers for a rating).
    scale : dict or object
        ``{"type": "nps"}`` or ``{"type": "rating", "min": 1, "max": 5, "top_box": [5],
        "bottom_box": [1, 2]}``; an object with these attributes works too. Labels scales must
        already be mapped to integers 1..k and passed as a rating.
    by : str or list of str, optional
        Segment column(s). Missing segment values form their own group (nothing is dropped
        silently).
    period : str, optional
        Column giving the period. Datetime values are mapped to their month start; other values
        are used as they are. The output column is always named ``period``.
    flag, suppress : int
        Base-size rules, see :func:`apply_base_rules`.
    ci : float, default 0.95

    Returns
    -------
    DataFrame
        One row per group: the ``by`` columns, ``period`` (if asked), ``n``, ``value``,
        ``ci_low``, ``ci_high``, ``se``, then for NPS ``promoters``, ``passives``,
        ``detractors`` (fractions) and for a rating ``top_box``, ``top_box_ci_low``,
        ``top_box_ci_high``, ``bottom_box``, ``bottom_box_ci_low``, ``bottom_box_ci_high``
        (``value`` is then the mean score), and ``small_base``. Groups with ``n < suppress``
        are absent; ``attrs["n_suppressed"]`` counts them. Without ``by`` and ``period`` the
        table has one row.
    """
    responses = _frame(responses, "responses")
    ci = check_ci(ci)
    flag, suppress = _check_bases(flag, suppress)
    by_cols = name_list(by, "by")
    spec = _scale_spec(scale)
    if not isinstance(score_col, str):
        raise AnalysisError(f"score_col must be a column name, got {score_col!r}")
    if period is not None and not isinstance(period, str):
        raise AnalysisError(f"period must be a column name or None, got {period!r}")
    _require(responses, [score_col, *by_cols] + ([period] if period else []), "responses")
    reserved = {"period", "n", "value", "ci_low", "ci_high", "se", "small_base", "_score"}
    clash = [c for c in by_cols if c in reserved]
    if clash:
        raise AnalysisError(f"by columns {clash} clash with output column names; rename them")

    label = "NPS scores" if spec["type"] == "nps" else f"rating scores (scale {spec['min']}-{spec['max']})"
    scores = _scale_scores(responses[score_col], spec["min"], spec["max"],
                           f"{label} in column '{score_col}'")
    frame = pd.DataFrame({c: responses[c].reset_index(drop=True) for c in by_cols},
                         index=range(len(scores)))  # keeps dtypes, e.g. ordered categories
    keys = list(by_cols)
    if period:
        frame["period"] = _month(responses[period]).to_numpy()
        keys.append("period")
    has = ~np.isnan(scores)
    frame["_has"] = has.astype(float)
    z = z_value(ci)

    if spec["type"] == "nps":
        frame["_pro"] = (has & (scores >= 9)).astype(float)
        frame["_det"] = (has & (scores <= 6)).astype(float)
        g = _grouped(frame, keys, {"n": ("_has", "sum"), "_pro": ("_pro", "sum"),
                                   "_det": ("_det", "sum")})
        n = g["n"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_pro = g["_pro"].to_numpy() / n
            p_det = g["_det"].to_numpy() / n
        value, se, lo, hi = _nps_stats(p_pro, p_det, n, z)
        extra = {"promoters": p_pro, "passives": 1 - p_pro - p_det, "detractors": p_det}
    else:
        frame["_score"] = scores
        frame["_top"] = (has & np.isin(scores, spec["top_box"])).astype(float)
        frame["_bot"] = (has & np.isin(scores, spec["bottom_box"])).astype(float)
        g = _grouped(frame, keys, {"n": ("_has", "sum"), "_mean": ("_score", "mean"),
                                   "_sd": ("_score", "std"), "_top": ("_top", "sum"),
                                   "_bot": ("_bot", "sum")})
        n = g["n"].to_numpy(dtype=float)
        value = g["_mean"].to_numpy(dtype=float)
        lo, hi, se = _t_interval(value, g["_sd"].to_numpy(dtype=float), n, ci)
        t_lo, t_hi = _wilson(g["_top"], n, z)
        b_lo, b_hi = _wilson(g["_bot"], n, z)
        with np.errstate(invalid="ignore", divide="ignore"):
            extra = {"top_box": g["_top"].to_numpy() / n, "top_box_ci_low": t_lo,
                     "top_box_ci_high": t_hi, "bottom_box": g["_bot"].to_numpy() / n,
                     "bottom_box_ci_low": b_lo, "bottom_box_ci_high": b_hi}

    out = g[keys].copy() if keys else pd.DataFrame(index=range(len(g)))
    out["n"] = n.astype(int)
    out["value"] = value
    out["ci_low"] = lo
    out["ci_high"] = hi
    out["se"] = se
    for name, col in extra.items():
        out[name] = col
    out = apply_base_rules(out, "n", flag, suppress).reset_index(drop=True)
    out.attrs.update(measure=spec["type"], ci=ci)
    return out


# --------------------------------------------------------------------------------------------
# chain KPIs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KPI:
    id: str
    name: str
    chain: str
    unit: str
    direction: str
    target: float | None
    link: str


def _kpi_spec(k: Any) -> _KPI:
    try:
        spec = _KPI(id=_get(k, "id"), name=_get(k, "name"), chain=_get(k, "chain"),
                    unit=_get(k, "unit"), direction=_get(k, "direction"),
                    target=_get(k, "target", None), link=_get(k, "link"))
    except AnalysisError as exc:
        raise AnalysisError(f"a KPI needs id, name, chain, unit, direction, target and link: {exc}") from None
    if spec.unit not in _UNITS:
        raise AnalysisError(f"KPI '{spec.id}': unit must be one of {list(_UNITS)}, got {spec.unit!r}")
    if spec.direction not in _DIRECTIONS:
        raise AnalysisError(f"KPI '{spec.id}': direction must be 'higher' or 'lower', got "
                            f"{spec.direction!r}")
    if spec.target is not None and (isinstance(spec.target, bool)
                                    or not isinstance(spec.target, (int, float, np.number))
                                    or not math.isfinite(spec.target)):
        raise AnalysisError(f"KPI '{spec.id}': target must be a number or None, got {spec.target!r}")
    if not spec.chain:
        raise AnalysisError(f"KPI '{spec.id}' has no chain")
    return spec


def _kpi_values(values: pd.Series, k: _KPI) -> np.ndarray:
    what = f"KPI '{k.id}' (chain '{k.chain}', unit {k.unit})"
    arr = _numeric(values, what)
    has = ~np.isnan(arr)
    if k.unit == "share":
        bad = has & (arr != 0) & (arr != 1)
        if bad.any():
            raise AnalysisError(f"{what} must hold true/false or 0/1 per case (NaN = not "
                                f"applicable); got {_fmt(pd.unique(arr[bad]).tolist())} in "
                                f"{int(bad.sum())} case(s)")
    elif not np.isfinite(arr[has]).all():
        raise AnalysisError(f"{what} must hold finite numbers per case; got infinity")
    return arr


def chain_kpi_table(case_values: pd.DataFrame, kpis: Sequence[Any], period_col: str | None = "period",
                    by: Any = None, flag: int = 30, suppress: int = 10, ci: float = 0.95,
                    overall: bool = True) -> pd.DataFrame:
    """Chain KPIs per period (and overall) with intervals, targets and base rules.

    Parameters
    ----------
    case_values : DataFrame
        One row per case: ``case_id`` (unique), ``chain``, the period column (month-start
        Timestamps; other datetimes are mapped to their month start) and one column per KPI id
        with the case's value: true/false or 0/1 for unit ``share``, numbers otherwise, NaN when
        the KPI does not apply to the case. A KPI is computed over the cases of its own chain.
    kpis : sequence of KPI specs
        Objects (or dicts) with ``id, name, chain, unit, direction, target, link``.
    period_col : str or None, default "period"
        Column of periods; None gives overall rows only.
    by : str or list of str, optional
        Case segment column(s); missing values form their own group.
    flag, suppress : int
        Base-size rules, see :func:`apply_base_rules`; ``n`` counts cases where the KPI applies.
    ci : float, default 0.95
    overall : bool, default True
        Also give one row per KPI (and segment) over all periods, with ``period = "all"``.

    Returns
    -------
    DataFrame
        Columns ``chain, kpi, kpi_name, link, unit, direction, <by...>, period, n, value,
        ci_low, ci_high, target, gap, on_target, status, small_base``. ``value`` is a fraction
        for shares (Wilson interval) and a mean per case otherwise (Student-t interval).
        ``gap`` is signed so that positive is better than target: ``value - target`` when
        higher is better, ``target - value`` when lower is better. ``on_target`` is
        ``gap >= 0`` (NA without a target); ``status`` is ``"on target"``, ``"below target"``
        (worse than target in the KPI's direction) or ``"no target"``. Rows are ordered by
        KPI as given, then segment, then period, the ``"all"`` row last. Groups with
        ``n < suppress`` are absent (a KPI with no applicable case at all counts as one
        suppressed group); ``attrs["n_suppressed"]`` counts them.
    """
    case_values = _frame(case_values, "case_values")
    ci = check_ci(ci)
    flag, suppress = _check_bases(flag, suppress)
    by_cols = name_list(by, "by")
    if isinstance(kpis, (str, bytes, Mapping)) or not isinstance(kpis, Iterable):
        raise AnalysisError(f"kpis must be a list of KPI specs, got {type(kpis).__name__}")
    specs = [_kpi_spec(k) for k in kpis]
    if not specs:
        raise AnalysisError("kpis is empty: give at least one chain KPI")
    pairs = [(s.chain, s.id) for s in specs]
    dup = sorted({p for p in pairs if pairs.count(p) > 1})
    if dup:
        raise AnalysisError(f"KPIs occur more than once (chain, id): {dup}")
    if period_col is None and not overall:
        raise AnalysisError("with period_col=None, overall must be True (nothing to show otherwise)")
    clash = [c for c in by_cols if c in _CHAIN_TABLE_COLUMNS]
    if clash:
        raise AnalysisError(f"by columns {clash} clash with output column names; rename them")
    needed = ["case_id", "chain", *by_cols] + ([period_col] if period_col else [])
    _require(case_values, needed + [s.id for s in specs], "case_values")
    dup_ids = case_values["case_id"].duplicated()
    if dup_ids.any():
        raise AnalysisError("case_values must hold one row per case; case_id values repeat: "
                            f"{_fmt(case_values.loc[dup_ids, 'case_id'].unique().tolist())}")

    z = z_value(ci)
    agg = {"n": ("_v", "count"), "value": ("_v", "mean"), "_sd": ("_v", "std")}
    parts: list[pd.DataFrame] = []
    for k in specs:
        sub = case_values.loc[case_values["chain"] == k.chain]
        frame = pd.DataFrame({c: sub[c].reset_index(drop=True) for c in by_cols},
                             index=range(len(sub)))
        frame["_v"] = _kpi_values(sub[k.id], k)
        pieces = []
        if period_col is not None:
            frame["period"] = _month(sub[period_col]).to_numpy()
            pieces.append(_grouped(frame, by_cols + ["period"], agg))
        if overall:
            tot = _grouped(frame, by_cols, agg)
            if tot.empty:  # no case of this chain at all (only possible with by)
                tot = pd.DataFrame({**{c: [np.nan] for c in by_cols}, "n": [0],
                                    "value": [np.nan], "_sd": [np.nan]})
            tot.insert(len(by_cols), "period", "all")
            pieces.append(tot)
        g = pd.concat([p.astype({"period": object}) for p in pieces], ignore_index=True)
        n = g["n"].to_numpy(dtype=float)
        value = g["value"].to_numpy(dtype=float)
        if k.unit == "share":
            lo, hi = _wilson(value * n, n, z)
        else:
            lo, hi, _ = _t_interval(value, g["_sd"].to_numpy(dtype=float), n, ci)
        target = math.nan if k.target is None else float(k.target)
        gap = (value - target) if k.direction == "higher" else (target - value)
        on = pd.array([pd.NA if k.target is None or np.isnan(x) else bool(x >= 0) for x in gap],
                      dtype="boolean")
        status = ["no target" if k.target is None else "on target" if x >= 0 else "below target"
                  for x in gap]
        head = pd.DataFrame({"chain": k.chain, "kpi": k.id, "kpi_name": k.name, "link": k.link,
                             "unit": k.unit, "direction": k.direction}, index=range(len(g)))
        part = pd.concat([head, g[by_cols + ["period"]]], axis=1)
        part["n"] = n.astype(int)
        part["value"] = value
        part["ci_low"] = lo
        part["ci_high"] = hi
        part["target"] = target
        part["gap"] = gap
        part["on_target"] = on
        part["status"] = status
        parts.append(part)

    table = pd.concat(parts, ignore_index=True)
    table = apply_base_rules(table, "n", flag, suppress).reset_index(drop=True)
    table.attrs.update(ci=ci, by=by_cols)
    return table


def _table_by_cols(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in _CHAIN_TABLE_COLUMNS]


def hac_maxlags(n: int) -> int:
    """Number of lags for Newey-West (HAC) standard errors on ``n`` monthly points.

    The rule of thumb of Stock and Watson (*Introduction to Econometrics*):
    ``floor(0.75 * n ** (1/3))``, at least 1. It gives 1 lag up to 18 months, 2 for 19-63
    and 3 for 64-151.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AnalysisError(f"n must be a positive whole number of months, got {n!r}")
    return max(1, int(math.floor(0.75 * n ** (1 / 3) + 1e-9)))


def _hac_fit(y: np.ndarray, X: np.ndarray, ci: float, conservative: bool) -> dict[str, float]:
    """OLS of ``y`` on ``X``; inference on the coefficient of column 1.

    Newey-West covariance from statsmodels (Bartlett kernel, ``hac_maxlags(n)`` lags, small-sample
    factor ``n / (n - k)``), t distribution with ``n - k`` degrees of freedom. With
    ``conservative`` the standard error used is the larger of the HAC and the classical OLS one.
    """
    import statsmodels.api as sm

    lags = hac_maxlags(len(y))
    model = sm.OLS(y, X)
    hac = model.fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True)
    se_hac = float(hac.bse[1])
    se_ols = float(model.fit().bse[1])
    se = max(se_hac, se_ols) if conservative else se_hac
    coef = float(hac.params[1])
    df = float(hac.df_resid)
    q = float(stats.t.ppf(0.5 + ci / 2, df))
    if se > 0:
        p = float(2 * stats.t.sf(abs(coef / se), df))
    else:  # an exact fit
        p = 0.0 if coef != 0 else 1.0
    return {"coef": coef, "se": se, "se_hac": se_hac, "se_ols": se_ols, "ci_low": coef - q * se,
            "ci_high": coef + q * se, "p_value": p, "maxlags": lags}


def _month_number(periods: pd.Series) -> np.ndarray:
    ts = pd.to_datetime(periods)
    return (ts.dt.year * 12 + ts.dt.month).to_numpy(dtype=int)


def kpi_trend(table: pd.DataFrame, min_months: int = 8, ci: float = 0.95,
              conservative_se: bool = True) -> pd.DataFrame:
    """Linear trend per month of each chain KPI over its monthly values.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`chain_kpi_table` with a period column (its ``"all"`` rows are
        ignored; segment columns are kept as groups).
    min_months : int, default 8
        Fewer monthly values than this give a row saying so instead of numbers.
    ci : float, default 0.95
    conservative_se : bool, default True
        Use the larger of the HAC and the classical standard error (see
        :func:`lagged_association`).

    Returns
    -------
    DataFrame
        One row per KPI (and segment): ``chain, kpi, kpi_name, unit, direction, <by...>,
        n_months, first_period, last_period, slope, se, ci_low, ci_high, p_value, maxlags,
        reading``. ``slope`` is the change per month in the KPI's unit (shares: fraction per
        month). OLS of the monthly value on the month number (calendar months, so suppressed
        months leave a gap) with Newey-West standard errors as in :func:`lagged_association`.
        ``reading`` is ``"improving"``, ``"worsening"`` (in the KPI's direction), ``"no clear
        trend"`` or ``"too few months ..."``. Months are weighted equally, whatever their base.
    """
    table = _frame(table, "table")
    ci = check_ci(ci)
    if isinstance(min_months, bool) or not isinstance(min_months, (int, np.integer)) or min_months < 3:
        raise AnalysisError(f"min_months must be a whole number of at least 3, got {min_months!r}")
    _require(table, ["chain", "kpi", "kpi_name", "unit", "direction", "period", "value"], "table")
    by_cols = _table_by_cols(table)
    monthly = table.loc[table["period"].astype(str) != "all"]
    rows = []
    keys = ["chain", "kpi", *by_cols]
    for key, sub in monthly.groupby(keys, dropna=False, sort=False):
        sub = sub.dropna(subset=["value"])
        try:
            months = _month_number(sub["period"])
        except (TypeError, ValueError) as exc:
            raise AnalysisError("table periods must be dates (month starts) or 'all'") from exc
        order = np.argsort(months, kind="stable")
        months, y = months[order], sub["value"].to_numpy(dtype=float)[order]
        first = sub.iloc[0]
        row = dict(zip(keys, key, strict=True))
        row.update(kpi_name=first["kpi_name"], unit=first["unit"], direction=first["direction"],
                   n_months=len(y),
                   first_period=pd.Timestamp(sub["period"].iloc[order[0]]) if len(y) else pd.NaT,
                   last_period=pd.Timestamp(sub["period"].iloc[order[-1]]) if len(y) else pd.NaT)
        if len(y) < min_months:
            row.update(slope=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan,
                       p_value=math.nan, maxlags=pd.NA,
                       reading=f"too few months to judge a trend (n={len(y)}; need at least {min_months})")
        else:
            X = np.column_stack([np.ones(len(y)), months - months[0]])
            fit = _hac_fit(y, X, ci, conservative_se)
            p, slope = fit["p_value"], fit["coef"]
            if p < 1 - ci and slope != 0:
                better = (slope > 0) == (first["direction"] == "higher")
                reading = "improving" if better else "worsening"
            else:
                reading = "no clear trend"
            row.update(slope=slope, se=fit["se"], ci_low=fit["ci_low"], ci_high=fit["ci_high"],
                       p_value=p, maxlags=fit["maxlags"], reading=reading)
        rows.append(row)
    cols = ["chain", "kpi", "kpi_name", "unit", "direction", *by_cols, "n_months", "first_period",
            "last_period", "slope", "se", "ci_low", "ci_high", "p_value", "maxlags", "reading"]
    out = pd.DataFrame(rows, columns=cols)
    out["maxlags"] = out["maxlags"].astype("Int64")
    out.attrs.update(ci=ci)
    return out


#: The statuses of a KPI against its target, in the order a link's summary counts them.
_STATUSES = ("below target", "on target", "no target", "no data")


def _link_sentence(link: str, counts: dict[str, int]) -> Message:
    """``"Planning owns 2 KPIs, both below target"``: the statuses are counted per catalogue key."""
    total = sum(counts.values())
    owns = Message("link.owns_one" if total == 1 else "link.owns", link=link, n=total)
    shown = {s: c for s, c in counts.items() if c}
    label = {s: Message(f"status.{s.replace(' ', '_')}") for s in shown}
    if len(shown) == 1:
        s = next(iter(shown))
        if total == 1:
            return Message("link.one_status", owns=owns, status=label[s])
        return Message("link.all_status", owns=owns, status=Message("status.both" if total == 2 else "status.all",
                                                                    n=total, status=label[s]))
    counted = Seq(tuple(Message("link.count", n=c, status=label[s]) for s, c in shown.items()), "list.comma")
    return Message("link.counts", owns=owns, counts=counted)


def link_overview(table: pd.DataFrame, kpis: Sequence[Any] | None = None) -> pd.DataFrame:
    """Per owning link: how many KPIs it owns and how many are below target.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`chain_kpi_table` made without ``by``. The ``"all"`` rows are used when
        present, otherwise each KPI's latest period.
    kpis : sequence of KPI specs, optional
        When given, KPIs absent from the table (every base suppressed) are counted as
        ``n_no_data`` instead of being missed.

    Returns
    -------
    DataFrame
        One row per link: ``link, chains, n_kpis, n_below_target, n_on_target, n_no_target,
        n_no_data, below_target`` (names of the KPIs below target) and ``summary``, e.g.
        ``"Planning owns 2 KPIs, both below target"``. Links with most KPIs below target come
        first.
    """
    table = _frame(table, "table")
    _require(table, ["chain", "kpi", "kpi_name", "link", "period", "status"], "table")
    by_cols = _table_by_cols(table)
    if by_cols:
        raise AnalysisError(f"link_overview needs one row per KPI; the table has segment columns "
                            f"{by_cols}: pass a chain_kpi_table made without by=")
    is_all = table["period"].astype(str) == "all"
    if is_all.any():
        rows = table.loc[is_all]
    else:
        rows = table.sort_values("period").groupby(["chain", "kpi"], sort=False).tail(1)
    if rows.duplicated(["chain", "kpi"]).any():
        raise AnalysisError("link_overview needs one row per KPI and period; KPIs repeat in the table")
    recs = [{"chain": r.chain, "kpi": r.kpi, "name": r.kpi_name, "link": r.link, "status": r.status}
            for r in rows.itertuples(index=False)]
    if kpis is not None:
        seen = {(r["chain"], r["kpi"]) for r in recs}
        for k in (_kpi_spec(x) for x in kpis):
            if (k.chain, k.id) not in seen:
                recs.append({"chain": k.chain, "kpi": k.id, "name": k.name, "link": k.link,
                             "status": "no data"})
    out = []
    links = list(dict.fromkeys(r["link"] for r in recs))
    for link in links:
        mine = [r for r in recs if r["link"] == link]
        counts = {s: sum(r["status"] == s for r in mine) for s in _STATUSES}
        out.append({
            "link": link,
            "chains": ", ".join(dict.fromkeys(r["chain"] for r in mine)),
            "n_kpis": len(mine),
            "n_below_target": counts["below target"],
            "n_on_target": counts["on target"],
            "n_no_target": counts["no target"],
            "n_no_data": counts["no data"],
            "below_target": ", ".join(r["name"] for r in mine if r["status"] == "below target"),
            "summary": _link_sentence(link, counts),
        })
    frame = pd.DataFrame(out, columns=["link", "chains", "n_kpis", "n_below_target", "n_on_target",
                                       "n_no_target", "n_no_data", "below_target", "summary"])
    return frame.sort_values(["n_below_target", "n_kpis"], ascending=[False, False],
                             kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# association over time
# --------------------------------------------------------------------------------------------


def _monthly_series(monthly: pd.DataFrame, cols: list[str], period_col: str | None) -> pd.DataFrame:
    if period_col is None:
        return monthly[cols].reset_index(drop=True)
    if period_col in monthly.columns:
        periods = monthly[period_col]
    elif isinstance(monthly.index, (pd.DatetimeIndex, pd.PeriodIndex)):
        periods = monthly.index.to_series()
    else:
        raise AnalysisError(f"monthly needs a period column '{period_col}' (or a date index) to "
                            f"line months up; it has columns {list(monthly.columns)}. Pass "
                            f"period_col=None if its rows are consecutive months in order.")
    months = _month(pd.Series(periods.to_numpy()))
    if not pd.api.types.is_datetime64_any_dtype(months.dtype):
        raise AnalysisError(f"period column '{period_col}' must hold dates, got {months.dtype}")
    if months.isna().any():
        raise AnalysisError(f"period column '{period_col}' has missing dates")
    if months.duplicated().any():
        raise AnalysisError(f"monthly must hold one row per month; months repeat: "
                            f"{_fmt([str(m.date()) for m in months[months.duplicated()].unique()])}")
    data = pd.DataFrame({c: monthly[c].to_numpy() for c in cols}, index=pd.DatetimeIndex(months))
    full = pd.date_range(months.min(), months.max(), freq="MS")
    return data.sort_index().reindex(full)  # gaps become missing months, so lags stay calendar lags


def lagged_association(monthly: pd.DataFrame, result_col: str, kpi_col: str, max_lag: int = 3,
                       period_col: str | None = "period", min_months: int = 8, ci: float = 0.95,
                       trend: bool = False, conservative_se: bool = True) -> pd.DataFrame:
    """How the monthly result KPI moves with a chain KPI some months earlier.

    For each lag ``k = 0..max_lag`` a separate regression
    ``result[t] = a + b * kpi[t - k] (+ c * t) + e[t]`` is fitted by OLS with Newey-West (HAC)
    standard errors: statsmodels ``cov_type="HAC"``, Bartlett kernel, ``maxlags`` from
    :func:`hac_maxlags` on the months used (Stock-Watson rule ``floor(0.75 * n ** (1/3))``),
    small-sample factor ``n / (n - k)`` (``use_correction=True``) and a t distribution with
    ``n - k`` degrees of freedom.

    Parameters
    ----------
    monthly : DataFrame
        One row per month with the result KPI (e.g. NPS in points) and the chain KPI
        (e.g. on-time share).
    result_col, kpi_col : str
        The two columns.
    max_lag : int, default 3
        Largest lag in months.
    period_col : str or None, default "period"
        Column of month dates used to line months up by the calendar (missing months are gaps,
        not skipped over). If absent, a date index is used. None: the rows are consecutive
        months in order.
    min_months : int, default 8
        A lag with fewer usable months gives a row saying so instead of numbers.
    ci : float, default 0.95
    trend : bool, default False
        Add a linear month term, so that two series that merely both drift over time are not
        read as associated.
    conservative_se : bool, default True
        Use the larger of the HAC and the classical OLS standard error (Angrist and Pischke's
        guard against the downward bias of robust errors in small samples). With 12-36 months
        and no true association, plain HAC rejects at a nominal 5 % in about 10-17 % of samples
        (more when both series are autocorrelated); the guard brings that to about 4-10 %.
        False gives statsmodels' HAC inference unchanged.

    Returns
    -------
    DataFrame
        One row per lag: ``lag, n_months, coef, se, se_hac, se_ols, ci_low, ci_high, p_value,
        p_holm, maxlags, reading``. ``se`` is the standard error used for the interval and the
        p-value; ``se_hac`` and ``se_ols`` are the two candidates. ``coef`` is the change in
        the result KPI per unit of the chain KPI (for a share, per 1.0 = 100 pp). ``p_holm``
        is Holm-adjusted over the lags fitted, and the ``reading`` uses it: it starts with
        ``"associated"``, ``"no reliable association"`` or ``"too few months"``. Association
        over time is not proof of cause: other things may move both series, and a persistent
        chain KPI is associated at neighbouring lags too (compare the lags, strongest first).
    """
    monthly = _frame(monthly, "monthly")
    ci = check_ci(ci)
    for name, v, low in (("max_lag", max_lag, 0), ("min_months", min_months, 4)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise AnalysisError(f"{name} must be a whole number of at least {low}, got {v!r}")
    if not (isinstance(result_col, str) and isinstance(kpi_col, str)) or result_col == kpi_col:
        raise AnalysisError(f"result_col and kpi_col must be two different column names, got "
                            f"{result_col!r} and {kpi_col!r}")
    _require(monthly, [result_col, kpi_col], "monthly")
    data = _monthly_series(monthly, [result_col, kpi_col], period_col)
    y_all = _numeric(data[result_col], f"column '{result_col}'")
    x_all = _numeric(data[kpi_col], f"column '{kpi_col}'")
    if not (np.isfinite(y_all[~np.isnan(y_all)]).all() and np.isfinite(x_all[~np.isnan(x_all)]).all()):
        raise AnalysisError("monthly values must be finite numbers; got infinity")
    t_all = np.arange(len(y_all), dtype=float)

    rows = []
    for k in range(int(max_lag) + 1):
        x = np.full_like(x_all, np.nan)
        x[k:] = x_all[: len(x_all) - k] if k else x_all
        use = ~np.isnan(y_all) & ~np.isnan(x)
        n = int(use.sum())
        row = {"lag": k, "n_months": n}
        need = max(int(min_months), 4 if trend else 3)
        if n < need:
            row.update(coef=math.nan, se=math.nan, se_hac=math.nan, se_ols=math.nan,
                       ci_low=math.nan, ci_high=math.nan, p_value=math.nan, maxlags=pd.NA,
                       reading=f"too few months at this lag (n={n}; need at least {need})")
        elif np.ptp(x[use]) == 0:
            row.update(coef=math.nan, se=math.nan, se_hac=math.nan, se_ols=math.nan,
                       ci_low=math.nan, ci_high=math.nan, p_value=math.nan, maxlags=pd.NA,
                       reading=f"no reliable association: '{kpi_col}' does not vary over these months")
        else:
            cols = [np.ones(n), x[use]] + ([t_all[use]] if trend else [])
            row.update(_hac_fit(y_all[use], np.column_stack(cols), ci, conservative_se))
        rows.append(row)

    out = pd.DataFrame(rows, columns=["lag", "n_months", "coef", "se", "se_hac", "se_ols", "ci_low",
                                      "ci_high", "p_value", "maxlags", "reading"])
    out.insert(out.columns.get_loc("p_value") + 1, "p_holm", math.nan)
    fitted = out["p_value"].notna().to_numpy()
    if fitted.any():
        out.loc[fitted, "p_holm"] = holm(out.loc[fitted, "p_value"])
    alpha = 1 - ci
    readings = out["reading"].astype(object).tolist()
    for i in np.flatnonzero(fitted):
        k, coef, p = int(out.at[i, "lag"]), out.at[i, "coef"], out.at[i, "p_holm"]
        if p < alpha:
            when = "in the same month" if k == 0 else f"{k} month{'s' if k > 1 else ''} later"
            way = "higher" if coef > 0 else "lower"
            readings[i] = (
                f"associated: months with higher {kpi_col} went with {way} {result_col} {when} "
                f"({present.num(coef, 2, signed=True)} per unit of {kpi_col}); an association over time, not proof of cause")
        elif out.at[i, "p_value"] >= alpha:
            readings[i] = "no reliable association at this lag (the interval includes no effect)"
        else:
            readings[i] = (f"no reliable association at this lag once the {int(fitted.sum())} "
                           "lags tested are allowed for (Holm)")
    out["reading"] = pd.Series(readings, dtype=object)
    out["maxlags"] = out["maxlags"].astype("Int64")
    out.attrs.update(ci=ci, result_col=result_col, kpi_col=kpi_col, trend=trend,
                     maxlags_rule="floor(0.75 * n_months ** (1/3)), at least 1")
    return out
