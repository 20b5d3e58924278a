"""Result KPIs and their intervals: NPS, ratings, shares and means, and changes between two samples.

Part of :mod:`ipm_analysis.kpis`; the conventions are in its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .. import present
from ..checks import check_ci, z_value
from ..errors import AnalysisError

__all__ = [
    "MIN_CHANGE_N",
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
]


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
