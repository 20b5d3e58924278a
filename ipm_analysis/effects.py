"""Driver regressions: how the result KPI moves with each chain KPI, with intervals.

Everything here works on a :class:`~ipm_analysis.modelframe.ModelFrame` (one row per
response, drivers and controls without missing values) and returns tidy frames or frozen
dataclasses holding the numbers *and* their intervals. Nothing is printed.

Models
------
* **OLS** of the score on the drivers and controls, with HC3 heteroskedasticity-robust
  standard errors (statsmodels ``cov_type="HC3"``; normal-based intervals and p-values, as
  statsmodels gives them for a robust covariance).
* **Ordinal logit** (statsmodels ``OrderedModel``, ``distr="logit"``) on the score's observed
  levels: respects the scale, and gives the predicted score *distribution* that NPS needs.
* **Logits on the top box and on the bottom box** (promoters 9-10 and detractors 0-6 for
  NPS). Their covariance is the joint sandwich (HC0) of the two fits, so that a difference of
  their effects (the NPS) has a proper interval.

Effects in the result KPI's unit
--------------------------------
Each driver is moved by a *change* a manager thinks in: +10 pp for a share, +1 day, +1 hour,
+1 for a count, and a round number near one standard deviation for other numbers (override
with ``changes=``). The effect of that change is

* on the score: ``beta * change`` (OLS, HC3 interval);
* on the top / bottom box in percentage points: the average marginal effect of the logits.
  For a 0/1 driver (a share KPI per case) it is ``change`` times the average discrete effect of
  0 → 1, i.e. what moving ``change`` of the respondents from failure to success is expected
  to do; for other drivers it is the average effect of adding ``change`` to every
  respondent's value. Intervals by the delta method;
* on the result KPI: for NPS ``100 * (dp_top - dp_bottom)`` in NPS points, from the two
  logits and their joint covariance; for a rating scale the effect on the mean score;
* on the result KPI through the ordinal model (``effect_kpi_ordinal``): the same change pushed
  through the predicted score distribution, delta-method interval with a numerical gradient.

These are associations in observational data: "a response with +10 pp on time is associated
with +3 NPS points", never "on time causes".

Collinearity
------------
Variance inflation factors (statsmodels ``variance_inflation_factor`` on the design with the
intercept) and the condition number of the correlation matrix of the regressors
(``sqrt(largest / smallest eigenvalue)``: Belsley's index on centred and scaled columns, so
neither the intercept nor the units inflate it). Above VIF 5 or condition number 30 a plain
warning says which drivers overlap.

Non-linear effects and thresholds
---------------------------------
:func:`response_curve_table` bins a numeric driver (its own values when it has few, quantile bins
otherwise; bins merged until each has ``min_n`` responses) and gives, per bin, the raw result
KPI with its interval and the contrast with the *best* bin (the best level of the driver by
its direction) adjusted for the other drivers and controls. :func:`find_threshold` fits the
broken-stick (hinge) regression ``kpi = a + b1 * x + b2 * max(0, x - k) + other drivers``
for every candidate knot ``k`` and picks the knot of the smallest residual sum of squares (the
profile likelihood of a normal model). The knot's interval is the set of candidate knots not
rejected by the profile likelihood-ratio criterion ``n * log(RSS_k / RSS_min) <=
chi2_1(ci)``. A threshold is reported when the slope change ``b2`` is significant after a
Bonferroni correction for the number of knots tried (conservative: the knot was chosen by
looking at the data). The per-response KPI is ``100 * (promoter - detractor)`` for NPS (its
mean is the NPS, so slopes are in NPS points) and the score for a rating scale.

Segments
--------
:func:`segment_drivers` repeats the OLS / logit effects within each segment whose base is at
least ``min_base_suppress`` (and five responses per model parameter); bases under
``min_base_flag`` are flagged. :func:`segment_difference` tests whether a driver's
association differs between segments: the model with segment dummies and driver × segment
interactions, and an HC3 Wald (chi-square) test that every interaction is zero.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import special, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.outliers_influence import variance_inflation_factor

from .drivers import distinct_rows
from .checks import check_ci, is_binary, z_value
from .errors import AnalysisError
from . import messages, present
from .kpis import mean_ci, nps, share_ci
from .messages import Message, Num, Seq
from .modelframe import ModelFrame, check_driver, check_model_frame
from .units import TIME_UNITS

__all__ = [
    "COND_LIMIT",
    "THRESHOLD_UNITS",
    "VIF_LIMIT",
    "BoxLogits",
    "Collinearity",
    "DriverModels",
    "Threshold",
    "change_label",
    "collinearity",
    "default_change",
    "design_matrix",
    "driver_effects",
    "find_threshold",
    "fit_box_logits",
    "fit_ols",
    "fit_ordinal",
    "kpi_base",
    "kpi_name",
    "kpi_unit",
    "kpi_value",
    "level_weights",
    "nice_step",
    "ordinal_contrast",
    "ordinal_levels",
    "response_curve_table",
    "segment_difference",
    "segment_drivers",
    "threshold_reading",
]

#: A driver whose variance inflation factor exceeds this overlaps with the others.
VIF_LIMIT = 5.0
#: A condition number of the regressors' correlation matrix above this signals overlap.
COND_LIMIT = 30.0
#: Least number of responses in the top box and in the bottom box (and outside them) for a logit.
MIN_BOX_EVENTS = 10

_DEFAULT_CHANGE = {"share": 0.10, "days": 1.0, "hours": 1.0, "count": 1.0}


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def nice_step(x: float) -> float:
    """A round number (1, 2 or 5 times a power of ten) at or below ``x``."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    e = math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * 10**e <= x:
            return float(m * 10**e)
    return float(10**e)


def default_change(unit: str, values: Any = None) -> float:
    """The change a driver is moved by in the effects table.

    +0.10 (10 pp) for a share, +1 for days, hours and counts, and for any other number a
    round value (1, 2 or 5 × 10^k) at or below one standard deviation of ``values``.
    """
    if unit in _DEFAULT_CHANGE:
        return _DEFAULT_CHANGE[unit]
    if values is None:
        return 1.0
    return nice_step(float(np.nanstd(np.asarray(values, dtype=float), ddof=1)))


def change_label(unit: str, change: float) -> Message:
    """``+10 pp``, ``+1 day``, ``+2 hours``, ``+1``."""
    sign = "+" if change >= 0 else "-"
    a = abs(change)
    if unit == "share":
        return Message("change.pp", sign=sign, amount=Num(100 * a))
    if unit in TIME_UNITS:
        return Message(f"change.{unit[:-1] if a == 1 else unit}", sign=sign, amount=Num(a))
    return Message("change.number", sign=sign, amount=Num(a))


def kpi_unit(mf: ModelFrame) -> str:
    """The unit of the result KPI: ``"NPS points"``, ``"percentage points"`` (a two-level KPI, or
    a scale steered on its top box) or ``"points on the 1-5 scale"`` (the mean score)."""
    if mf.is_nps:
        return Message("unit.nps_points")
    if mf.measure in ("share", "top_box"):
        return Message("unit.percentage_points")
    return Message("unit.scale_points", min=mf.scale.min, max=mf.scale.max)


def kpi_base(mf: ModelFrame) -> int:
    """Base decimals of the result KPI's numbers (:mod:`ipm_analysis.present`): 2 for a mean score."""
    return 2 if mf.measure == "mean" else 1


def kpi_value(mf: ModelFrame, scores: Any) -> float:
    """The result KPI of some scores as the report reads it: NPS, % in the top box, or the mean."""
    s = np.asarray(scores, dtype=float)
    if mf.is_nps:
        return nps(s).value
    if mf.measure in ("share", "top_box"):
        return float(100 * np.isin(s, mf.scale.top_box).mean())
    return float(s.mean())


def kpi_name(mf: ModelFrame) -> str:
    """What the result KPI's number is: ``"NPS"``, ``"% satisfied"``, ``"% top box"``, ``"mean score"``."""
    if mf.is_nps:
        return mf.result_name
    if mf.measure in ("share", "top_box"):
        return Message("kpi.share_of", label=mf.top_label) if mf.top_label else Message("kpi.top_box")
    return Message("kpi.mean_of", result=mf.result_name)


def _boxes(mf: ModelFrame) -> tuple[np.ndarray, np.ndarray]:
    s = mf.frame["score"].to_numpy(dtype=float)
    return np.isin(s, mf.scale.top_box).astype(float), np.isin(s, mf.scale.bottom_box).astype(float)


def _kpi_var(mf: ModelFrame) -> np.ndarray:
    """Per-response result KPI whose mean is the KPI: ``100 * (top - bottom)`` for NPS,
    ``100 * top`` for a share (two levels, or ``steer_on: top_box``), else the score."""
    if mf.is_nps:
        top, bottom = _boxes(mf)
        return 100.0 * (top - bottom)
    if mf.measure in ("share", "top_box"):
        return 100.0 * _boxes(mf)[0]
    return mf.frame["score"].to_numpy(dtype=float)


def level_weights(mf: ModelFrame, levels: Sequence[float], measure: str = "kpi") -> np.ndarray:
    """Weight of each score level in a result-KPI measure, so that ``KPI = P @ weights``.

    ``measure="kpi"``: NPS (``+100`` promoters, ``-100`` detractors) or the mean score;
    ``"top"`` / ``"bottom"``: the top / bottom box share in percent.
    """
    lv = np.asarray(levels, dtype=float)
    top = np.isin(lv, mf.scale.top_box).astype(float)
    bottom = np.isin(lv, mf.scale.bottom_box).astype(float)
    if measure == "top":
        return 100 * top
    if measure == "bottom":
        return 100 * bottom
    if measure != "kpi":
        raise AnalysisError(f"measure must be 'kpi', 'top' or 'bottom', got {measure!r}")
    if mf.is_nps:
        return 100 * (top - bottom)
    return 100 * top if mf.measure in ("share", "top_box") else lv


def design_matrix(mf: ModelFrame, drivers: Sequence[str] | None = None, const: bool = True) -> pd.DataFrame:
    cols = list(mf.drivers if drivers is None else drivers) + list(mf.controls)
    X = mf.frame.loc[:, cols].astype(float)
    if const:
        X.insert(0, "const", 1.0)
    return X


def _collinear_sets(X: pd.DataFrame) -> list[str]:
    """Columns of ``X`` that take part in an exact linear dependency (empty when X has full rank).

    The singular values and right singular vectors of ``X`` are those of the ``R`` of its QR
    decomposition: an SVD of a k x k matrix instead of an n x k one.
    """
    A = X.to_numpy(dtype=float)
    scale = np.linalg.norm(A, axis=0)
    scale[scale == 0] = 1.0
    R = np.linalg.qr(A / scale, mode="r") if A.shape[0] > A.shape[1] else A / scale
    _, sv, vt = np.linalg.svd(R, full_matrices=False)
    tol = sv.max() * max(A.shape) * np.finfo(float).eps * 1e3 if sv.size else 0.0
    null = vt[sv <= tol]
    if not null.size:
        return []
    involved = (np.abs(null) > 1e-6).any(axis=0)
    return [c for c, hit in zip(X.columns, involved) if hit]


class _Test:
    """What :meth:`_HC3.t_test` and :meth:`_HC3.wald_test` return (the statsmodels attributes used)."""

    def __init__(self, effect, se, statistic, pvalue):
        self.effect, self.sd, self.statistic, self.pvalue = effect, se, statistic, pvalue

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        z = stats.norm.ppf(1 - alpha / 2)
        return np.column_stack([self.effect - z * self.sd, self.effect + z * self.sd])


class _HC3:
    """OLS with HC3 errors for the many auxiliary fits (curves, thresholds, segment tests).

    The same numbers as ``sm.OLS(y, X).fit(cov_type="HC3")`` (normal-based intervals and
    p-values, as statsmodels gives them for a robust covariance), from the cross-products
    ``X'X``, ``X'y`` and ``X' diag(w) X`` (matrix products, one Cholesky factor of the k x k
    ``X'X``) instead of statsmodels' pseudo-inverse through an SVD of the n x k design, which
    cost a fifth of a second per fit at a quarter of a million rows. A design that is not of
    full rank, or nearly so, falls back to statsmodels (``rank_deficient`` is then set on the
    class's answer: a statsmodels result). Offers the attributes the package reads: ``params``, ``bse``, ``pvalues``,
    ``conf_int``, ``t_test``, ``wald_test``, ``cov_params``.
    """

    def __new__(cls, y: np.ndarray, X: pd.DataFrame):
        A = X.to_numpy(dtype=float)
        AT = np.ascontiguousarray(A.T)  # k x n: products with the long axis last are far faster
        y = np.asarray(y, dtype=float)
        G = AT @ AT.T
        d = np.sqrt(np.diag(G))
        ok = A.shape[0] > A.shape[1] and d.size and (d > 0).all()
        if ok:
            Gs = G / np.outer(d, d)
            try:
                L = np.linalg.cholesky(Gs)
            except np.linalg.LinAlgError:
                ok = False
            else:
                ok = np.diag(L).min() ** 2 > 1e-10  # reciprocal condition of the scaled X'X
        if not ok:
            return sm.OLS(y, X).fit(cov_type="HC3")
        self = super().__new__(cls)
        Linv = np.linalg.solve(L, np.eye(len(d)))
        Ginv = (Linv.T @ Linv) / np.outer(d, d)
        beta = Ginv @ (AT @ y)
        u = y - beta @ AT
        h = np.einsum("ij,ij->j", Ginv @ AT, AT)
        w = (u / np.maximum(1.0 - h, 1e-12)) ** 2
        cov = Ginv @ ((AT * w) @ AT.T) @ Ginv
        self._cov = cov
        cols = list(X.columns)
        self.params = pd.Series(beta, index=cols)
        self.bse = pd.Series(np.sqrt(np.maximum(np.diag(cov), 0.0)), index=cols)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.pvalues = pd.Series(2 * stats.norm.sf(np.abs(beta / self.bse.to_numpy())), index=cols)
        return self

    def cov_params(self) -> np.ndarray:
        return self._cov

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        z = stats.norm.ppf(1 - alpha / 2)
        b, se = self.params.to_numpy(), self.bse.to_numpy()
        return np.column_stack([b - z * se, b + z * se])

    def t_test(self, L: np.ndarray) -> _Test:
        L = np.atleast_2d(np.asarray(L, dtype=float))
        eff = L @ self.params.to_numpy()
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", L, self._cov, L), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.norm.sf(np.abs(eff / se))
        return _Test(eff, se, eff / se, p)

    def wald_test(self, R: np.ndarray, use_f: bool = False, scalar: bool = True) -> _Test:
        R = np.atleast_2d(np.asarray(R, dtype=float))
        r = R @ self.params.to_numpy()
        V = R @ self._cov @ R.T
        stat = float(r @ np.linalg.pinv(V) @ r)
        return _Test(r, None, stat, float(stats.chi2.sf(stat, np.linalg.matrix_rank(V))))


def _check_identifiable(mf: ModelFrame, X: pd.DataFrame) -> None:
    """Refuse a model whose score does not vary or whose drivers are exact linear functions of each other."""
    y = mf.frame["score"].to_numpy(dtype=float)
    if y.size and np.all(y == y[0]):
        raise messages.analysis_error("effects.error.constant_score", score=f"{y[0]:g}")
    dependent = _collinear_sets(X)
    if dependent:
        names = [c for c in dependent if c != "const"]
        raise messages.analysis_error("effects.error.collinear", drivers=Seq(tuple(names), "list.and"))


def _need_rows(mf: ModelFrame, k: int) -> None:
    if mf.n < k + 2:
        raise messages.analysis_error("effects.error.too_few_responses", n=Num(mf.n, 0), k=Num(k, 0))


# --------------------------------------------------------------------------------------------
# the fits
# --------------------------------------------------------------------------------------------


def fit_ols(mf: ModelFrame, drivers: Sequence[str] | None = None) -> Any:
    """OLS of the score on the drivers and controls with HC3 standard errors.

    Returns the statsmodels results (``sm.OLS(score, const + drivers + controls)
    .fit(cov_type="HC3")``), exactly as a direct statsmodels call gives them.
    """
    mf = check_model_frame(mf)
    X = design_matrix(mf, drivers)
    _need_rows(mf, X.shape[1])
    _check_leverage(X)
    return sm.OLS(mf.frame["score"].to_numpy(dtype=float), X).fit(cov_type="HC3")


def _check_leverage(X: pd.DataFrame) -> None:
    """Refuse a design in which single responses fix a coefficient on their own (leverage 1).

    HC3 divides each residual by 1 - leverage, so its errors do not exist then (statsmodels
    returns NaN and its tests fail); it happens when a driver has one response away from all
    the others' value, e.g. the only failed case of a small segment.
    """
    A = X.to_numpy(dtype=float)
    q, _ = np.linalg.qr(A)
    lev = np.einsum("ij,ij->i", q, q)
    rows = np.flatnonzero(lev > 1 - 1e-8)
    if rows.size == 0:
        return
    lone = [c for c in X.columns if c != "const"
            and any(np.count_nonzero(A[:, X.columns.get_loc(c)] == A[i, X.columns.get_loc(c)]) == 1 for i in rows[:10])]
    which = Message("effects.error.lone_values", drivers=Seq(tuple(lone), "list.and")) if lone else ""
    raise messages.analysis_error("effects.error.leverage", n=Num(rows.size, 0), which=which)


ORDINAL_MAX_N = 50_000  # responses above which the ordinal model works on a fixed random sample


def ordinal_rows(n: int) -> np.ndarray | None:
    """The rows the ordinal model uses when a frame has more than ``ORDINAL_MAX_N`` responses:
    a fixed random sample (seed 0) of that size, in row order; ``None`` (all rows) otherwise.

    The ordinal logit is the scale-respecting check on the OLS and logit effects; its BFGS fit
    and its delta-method contrasts evaluate the model on every row hundreds of times, which at a
    million responses takes minutes. On 50,000 responses its intervals are a little wider than
    on all of them (so conservative), and it stays deterministic.
    """
    if n <= ORDINAL_MAX_N:
        return None
    return np.sort(np.random.default_rng(0).choice(n, ORDINAL_MAX_N, replace=False))


def ordinal_levels(res: Any) -> np.ndarray:
    """The score levels (ordered) of a fitted ordinal model: the columns of its predictions."""
    return np.asarray(res.model.labels, dtype=float)


class _OrderedLogit(OrderedModel):
    """statsmodels' ordered logit, faster: the logistic cdf and pdf from ``scipy.special.expit``
    (the same function as ``scipy.stats.logistic`` without a generic distribution's argument
    checks) and the analytic score of the log-likelihood, so that BFGS does not difference it
    numerically (statsmodels' default: one log-likelihood per parameter per step).
    tests/test_effects.py checks the score against numerical differences and the fit against
    ``OrderedModel`` itself.

    ``freq_weights`` (set after construction) makes each row stand for that many identical
    responses: the log-likelihood and its score are weighted sums, so a frame with few distinct
    (drivers, score) rows is fitted on those rows only (the same estimate and covariance).
    """

    freq_weights: np.ndarray | None = None

    def loglike(self, params):
        ll = self.loglikeobs(params)
        return float(ll.sum() if self.freq_weights is None else ll @ self.freq_weights)

    def cdf(self, x):
        return special.expit(x)

    def pdf(self, x):
        p = special.expit(x)
        return p * (1.0 - p)

    def score_obs(self, params):
        """Derivative of each observation's log-likelihood (``log(prob + 1e-20)``, as
        ``loglikeobs``) with respect to ``(exog coefficients, transformed thresholds)``."""
        params = np.asarray(params, dtype=float)
        k_cut = self.k_levels - 1
        low, upp = self._bounds(params)
        f_low, f_upp = self.pdf(low), self.pdf(upp)
        prob = self.prob(low, upp) + 1e-20
        y = np.asarray(self.endog)
        rows = np.arange(len(y))
        d_cut = np.zeros((len(y), k_cut))  # d prob / d cut point m
        top = y < k_cut
        d_cut[rows[top], y[top]] += f_upp[top]
        bottom = y >= 1
        d_cut[rows[bottom], y[bottom] - 1] -= f_low[bottom]
        d_beta = -((f_upp - f_low) / prob)[:, None] * np.asarray(self.exog, dtype=float)
        return np.column_stack((d_beta, (d_cut / prob[:, None]) @ _cut_jacobian(params, k_cut)))

    def score(self, params):
        s = self.score_obs(params)
        return s.sum(axis=0) if self.freq_weights is None else self.freq_weights @ s


def _cut_jacobian(params: np.ndarray, k_cut: int) -> np.ndarray:
    """d cut points / d transformed thresholds: cut m = t_0 + exp(t_1) + ... + exp(t_m)."""
    th = np.asarray(params, dtype=float)[-k_cut:]
    jac = np.zeros((k_cut, k_cut))
    jac[:, 0] = 1.0
    for i in range(1, k_cut):
        jac[i:, i] = np.exp(th[i])
    return jac


def _logit_contrast_gradient(model: Any, theta: np.ndarray, scenarios, w: np.ndarray) -> np.ndarray:
    """Analytic gradient of ``sum(sign * mean(rw * P(X) @ w))`` for an ordered logit.

    With cumulative probabilities ``F_m = expit(cut_m - x b)``, ``P(X) @ w`` equals
    ``w_last + sum_m F_m (w_m - w_(m+1))``, so its derivative is ``f_m (w_m - w_(m+1))`` with
    respect to cut ``m`` and minus their sum times ``x`` with respect to ``b``.
    """
    k_cut = model.k_levels - 1
    beta, cuts = theta[:-k_cut], model.transform_threshold_params(theta)[1:-1]
    dw = w[:-1] - w[1:]
    g_beta = np.zeros(len(beta))
    g_cut = np.zeros(k_cut)
    for sign, X, rw in scenarios:
        X = np.asarray(X, dtype=float)
        F = special.expit(cuts[None, :] - (X @ beta)[:, None])
        g = (F * (1.0 - F)) * dw[None, :] * np.broadcast_to(np.asarray(rw, dtype=float), (len(X),))[:, None]
        g_cut += sign * g.mean(axis=0)
        g_beta -= sign * (g.sum(axis=1) @ X) / len(X)
    return np.concatenate((g_beta, g_cut @ _cut_jacobian(theta, k_cut)))


def fit_ordinal(mf: ModelFrame, drivers: Sequence[str] | None = None) -> Any:
    """Ordinal logit (proportional odds) of the score on the drivers and controls.

    The categories are the score levels observed (ordered); there is no intercept (the
    thresholds play its role). Fitted with BFGS by statsmodels' ``OrderedModel``; a fit that
    does not converge raises :class:`AnalysisError`. Above ``ORDINAL_MAX_N`` responses it is
    fitted on the fixed random sample of :func:`ordinal_rows`.
    """
    mf = check_model_frame(mf)
    rows = ordinal_rows(mf.n)
    if rows is not None:
        keep = np.zeros(mf.n, dtype=bool)
        keep[rows] = True
        mf = mf.subset(keep)
    X = design_matrix(mf, drivers, const=False)
    levels = np.sort(mf.frame["score"].unique())
    if len(levels) < 2:
        raise AnalysisError("the ordinal model needs at least two different scores; every response has "
                            f"score {levels[0]:g}")
    _need_rows(mf, X.shape[1] + len(levels) - 1)
    y = pd.Series(pd.Categorical(mf.frame["score"].to_numpy(), categories=levels, ordered=True))
    _check_identifiable(mf, X.assign(const=1.0))
    # identical (drivers, score) rows once each, with their count as a frequency weight
    A = np.column_stack([X.to_numpy(dtype=float), mf.frame["score"].to_numpy(dtype=float)])
    uniq, counts = distinct_rows(A)
    weights = None
    if counts is not None:
        X = pd.DataFrame(uniq[:, :-1], columns=X.columns)
        y = pd.Series(pd.Categorical(uniq[:, -1], categories=levels, ordered=True))
        weights = counts
    try:
        model = _OrderedLogit(y, X, distr="logit")
        model.freq_weights = weights
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(method="bfgs", disp=False, maxiter=3000)
    except (ValueError, np.linalg.LinAlgError) as e:
        raise AnalysisError(f"the ordinal model could not be fitted ({str(e).splitlines()[0]})") from None
    if not res.mle_retvals.get("converged", False):
        raise AnalysisError("the ordinal model did not converge (drivers may separate the scores perfectly)")
    return res


@dataclass(frozen=True)
class BoxLogits:
    """Logits on the top box and on the bottom box, with their joint robust covariance.

    Attributes
    ----------
    top, bottom : statsmodels results
        The two fits (``sm.Logit(box, const + drivers + controls)``).
    cov : ndarray
        ``(2k, 2k)`` joint sandwich covariance of ``(beta_top, beta_bottom)`` (HC0).
    columns : tuple of str
        The design's columns, ``const`` first.
    """

    top: Any
    bottom: Any
    cov: np.ndarray
    columns: tuple[str, ...]


class _LogitFit:
    """A logit fitted by Newton's method on (possibly frequency-weighted) rows: ``params``
    (named like statsmodels' ``Logit`` result) and ``predict``."""

    def __init__(self, params: pd.Series):
        self.params = params

    def predict(self, X: np.ndarray) -> np.ndarray:
        return special.expit(np.asarray(X, dtype=float) @ self.params.to_numpy())


def _newton_logit(y: np.ndarray, XT: np.ndarray, w: np.ndarray, columns) -> _LogitFit:
    """Maximum likelihood logit of ``y`` on the rows of ``XT.T`` with frequency weights ``w``
    (``XT`` is k x n: products with the long axis last are the fast ones). The estimate
    statsmodels' ``Logit(...).fit(method="newton")`` gives, iterated to a change below 1e-10."""
    beta = np.zeros(XT.shape[0])
    converged = False
    for _ in range(100):
        p = special.expit(beta @ XT)
        g = XT @ (w * (y - p))
        H = (XT * (w * p * (1 - p))) @ XT.T
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if not np.isfinite(beta).all() or np.abs(beta).max() > 50:
            break
        if np.abs(step).max() <= 1e-10 * max(1.0, np.abs(beta).max()):
            converged = True
            break
    if not converged:
        raise AnalysisError("a box logit did not converge (a driver may separate the box perfectly)")
    return _LogitFit(pd.Series(beta, index=list(columns)))


def _fit_logit(y: np.ndarray, X: pd.DataFrame) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.Logit(y, X).fit(disp=False, method="newton", maxiter=100)
    if not res.mle_retvals.get("converged", False) or not np.isfinite(res.params).all():
        raise AnalysisError("a box logit did not converge (a driver may separate the box perfectly)")
    return res


def fit_box_logits(mf: ModelFrame, drivers: Sequence[str] | None = None) -> BoxLogits:
    """Logits on the top box (promoters) and the bottom box (detractors).

    Raises
    ------
    AnalysisError
        When a box (or its complement) has fewer than ``MIN_BOX_EVENTS`` responses, or a fit
        does not converge.
    """
    mf = check_model_frame(mf)
    X = design_matrix(mf, drivers)
    _need_rows(mf, X.shape[1])
    top, bottom = _boxes(mf)
    for name, y in (("top box", top), ("bottom box", bottom)):
        k = int(y.sum())
        if min(k, len(y) - k) < MIN_BOX_EVENTS:
            raise AnalysisError(f"the {name} logit needs at least {MIN_BOX_EVENTS} responses in and out of the "
                                f"{name}; got {k} of {len(y)}")
    # both fits and their joint sandwich on the distinct (drivers, top, bottom) rows, weighted
    U, counts = distinct_rows(np.column_stack([X.to_numpy(dtype=float), top, bottom]))
    w = np.ones(len(U)) if counts is None else counts
    XT = np.ascontiguousarray(U[:, :-2].T)
    rt = _newton_logit(U[:, -2], XT, w, X.columns)
    rb = _newton_logit(U[:, -1], XT, w, X.columns)
    blocks, scores = [], []
    for res, y in ((rt, U[:, -2]), (rb, U[:, -1])):
        p = special.expit(res.params.to_numpy() @ XT)
        blocks.append(np.linalg.pinv((XT * (w * p * (1 - p))) @ XT.T))
        scores.append(XT * (y - p))
    k = XT.shape[0]
    ainv = np.zeros((2 * k, 2 * k))
    ainv[:k, :k], ainv[k:, k:] = blocks
    ST = np.vstack(scores)  # 2k x rows
    cov = ainv @ ((ST * w) @ ST.T) @ ainv
    return BoxLogits(rt, rb, cov, tuple(X.columns))


# --------------------------------------------------------------------------------------------
# contrasts through the fitted models
# --------------------------------------------------------------------------------------------


def _scenario_x(X: np.ndarray, j: int, binary: bool, change: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(X0, X1, factor): effect = factor * mean(f(X1) - f(X0))."""
    if binary:
        X0, X1 = X.copy(), X.copy()
        X0[:, j], X1[:, j] = 0.0, 1.0
        return X0, X1, change
    X1 = X.copy()
    X1[:, j] += change
    return X, X1, 1.0


def _logit_change(beta: np.ndarray, X0: np.ndarray, X1: np.ndarray, factor: float,
                  w: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Average change in the probability and its gradient with respect to beta (rows weighted
    by ``w``, frequency weights of distinct rows, when given)."""
    w = np.ones(len(X0)) if w is None else w
    p0, p1 = special.expit(X0 @ beta), special.expit(X1 @ beta)
    est = factor * float(w @ (p1 - p0)) / w.sum()
    grad = factor * ((w * p1 * (1 - p1)) @ X1 - (w * p0 * (1 - p0)) @ X0) / w.sum()
    return est, grad


def ordinal_contrast(
    res: Any,
    new: Sequence[tuple[np.ndarray, np.ndarray | float]],
    base: Sequence[tuple[np.ndarray, np.ndarray | float]],
    weights: np.ndarray,
) -> tuple[float, float]:
    """A difference of mean predicted KPIs between two scenarios of the ordinal model.

    A scenario is a list of ``(X, row_weights)``: the predicted KPI of respondent ``i`` is
    ``sum_v row_weights_v[i] * P(X_v[i]) @ weights`` (a mixture of designs, e.g. a failing
    case that succeeds with probability q), averaged over respondents.

    Returns
    -------
    (estimate, standard error)
        The standard error is the delta method over the model's parameters and its covariance
        (``res.cov_params()``): the analytic gradient for the package's ordered logit,
        central differences for another model.
    """
    w = np.asarray(weights, dtype=float)
    model = res.model
    theta = np.asarray(res.params, dtype=float)
    n = len(new[0][0]) if new else 0
    rows = ordinal_rows(n)
    if rows is not None:  # the average over a fixed random sample of the respondents
        def cut(scen):
            return [(X[rows], rw[rows] if np.ndim(rw) else rw) for X, rw in scen]

        new, base = cut(new), cut(base)

    def value(th: np.ndarray) -> float:
        tot = 0.0
        for sign, scen in ((1.0, new), (-1.0, base)):
            for X, rw in scen:
                P = model.predict(th, exog=X)
                tot += sign * float(np.mean(np.asarray(rw) * (P @ w)))
        return tot

    est = value(theta)
    if isinstance(model, _OrderedLogit) and getattr(model, "offset", None) is None:
        grad = _logit_contrast_gradient(model, theta, [(sign, X, rw) for sign, scen in ((1.0, new), (-1.0, base))
                                                       for X, rw in scen], w)
    else:  # another link: central differences
        grad = np.empty_like(theta)
        for i in range(len(theta)):
            h = 1e-5 * max(1.0, abs(theta[i]))
            up, dn = theta.copy(), theta.copy()
            up[i] += h
            dn[i] -= h
            grad[i] = (value(up) - value(dn)) / (2 * h)
    cov = np.asarray(res.cov_params(), dtype=float)
    se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    return est, se


# --------------------------------------------------------------------------------------------
# collinearity
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collinearity:
    """How much the drivers overlap.

    Attributes
    ----------
    vif : DataFrame
        One row per driver: ``driver, vif, r2_others`` (R² of the driver on the other
        regressors, ``1 - 1/vif``), ``most_correlated`` (the other driver it moves most with)
        and ``correlation``.
    condition_number : float
        ``sqrt(largest / smallest eigenvalue)`` of the regressors' correlation matrix.
    warning : str or None
        A plain-language warning when a VIF exceeds ``VIF_LIMIT`` or the condition number
        exceeds ``COND_LIMIT``; None otherwise.
    """

    vif: pd.DataFrame
    condition_number: float
    warning: str | None


def collinearity(mf: ModelFrame, drivers: Sequence[str] | None = None) -> Collinearity:
    """VIF per driver and the condition number, with a warning when drivers overlap."""
    mf = check_model_frame(mf)
    drivers = list(mf.drivers if drivers is None else drivers)
    X = design_matrix(mf, drivers)
    with np.errstate(divide="ignore", invalid="ignore"):
        regs = X.drop(columns="const")
        corr = np.corrcoef(np.ascontiguousarray(regs.to_numpy(dtype=float).T)) if regs.shape[1] > 1 \
            else np.ones((1, 1))
    corr = np.atleast_2d(corr)
    eig = np.linalg.eigvalsh(corr) if np.isfinite(corr).all() else np.array([np.nan])
    cond = float(np.sqrt(eig.max() / eig.min())) if eig.min() > 1e-12 else float("inf")
    names = list(regs.columns)
    if np.isfinite(cond) and eig.min() > 1e-8:
        # with the intercept in the model, VIF_j = 1 / (1 - R²_j) is the j-th diagonal element
        # of the inverse correlation matrix of the regressors: no regression per driver
        inv = np.linalg.inv(corr)
        vifs = [float(inv[names.index(d), names.index(d)]) for d in drivers]
    else:  # (nearly) singular: statsmodels' regression per driver says which ones are infinite
        Xa = X.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            vifs = [float(variance_inflation_factor(Xa, X.columns.get_loc(d))) for d in drivers]
    rows = []
    for d, v in zip(drivers, vifs, strict=True):
        i = names.index(d)
        others = [(abs(corr[i, k]), names[k], corr[i, k]) for k in range(len(names)) if k != i and names[k] in drivers]
        best = max(others) if others else (np.nan, None, np.nan)
        rows.append({"driver": d, "vif": v, "r2_others": 1 - 1 / v if np.isfinite(v) and v > 0 else 1.0,
                     "most_correlated": best[1], "correlation": float(best[2])})
    table = pd.DataFrame(rows, columns=["driver", "vif", "r2_others", "most_correlated", "correlation"])
    warning = None
    high = table[~(table["vif"] <= VIF_LIMIT)]
    if len(high) or not cond <= COND_LIMIT:
        parts = []
        if len(high):
            pairs = []
            for r in high.itertuples():
                pair = tuple(sorted((r.driver, r.most_correlated or Message("collinearity.others"))))
                if pair not in [p[0] for p in pairs]:
                    pairs.append((pair, r.correlation))
            said = Seq(tuple(Message("collinearity.pair", a=a, b=b, r=Num(c, 2, True)) if np.isfinite(c)
                             else Message("collinearity.explained", a=a, b=b) for (a, b), c in pairs), "list.semicolon")
            vifs = Seq(tuple(Message("collinearity.vif", driver=r.driver, vif=Num(r.vif, 1))
                             for r in high.itertuples()), "list.comma")
            parts.append(Message("collinearity.overlap", pairs=said, vifs=vifs, limit=Num(VIF_LIMIT)))
        if not cond <= COND_LIMIT:
            parts.append(Message("collinearity.condition", cond=Num(cond, 0), limit=Num(COND_LIMIT)))
        parts.append(Message("collinearity.together"))
        warning = Message("collinearity.warning", text=Seq(tuple(parts), "list.space"))
    return Collinearity(table, cond, warning)


# --------------------------------------------------------------------------------------------
# driver effects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverModels:
    """The driver models of one model frame and their effects in the result KPI's unit.

    Attributes
    ----------
    frame : ModelFrame
        The data the models were fitted on.
    effects : DataFrame
        One row per driver (see :func:`driver_effects`).
    ols, ordinal : statsmodels results or None
        The OLS (HC3) fit and the ordinal logit (None when skipped or not estimable).
    logits : BoxLogits or None
        Top- and bottom-box logits (None when a box is too small).
    collinearity : Collinearity
    r2, r2_adj : float
        R² and adjusted R² of the OLS model.
    p_drivers : float
        HC3 Wald test that every driver coefficient is zero (controls kept).
    n : int
    reliable : bool
        True when the drivers jointly explain the score (``p_drivers < 1 - ci``) and R² is
        at least ``min_r2``.
    reading : str
        A plain sentence about the model as a whole.
    notes : tuple of str
        What could not be estimated, and why.
    ci : float
    kpi_unit : str
    """

    frame: ModelFrame
    effects: pd.DataFrame
    ols: Any
    ordinal: Any
    logits: BoxLogits | None
    collinearity: Collinearity
    r2: float
    r2_adj: float
    p_drivers: float
    n: int
    reliable: bool
    reading: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    ci: float = 0.95
    kpi_unit: str = "NPS points"


_EFFECT_COLUMNS = [
    "driver", "name", "unit", "change", "change_label",
    "effect_score", "effect_score_ci_low", "effect_score_ci_high", "p_value",
    "effect_top", "effect_top_ci_low", "effect_top_ci_high",
    "effect_bottom", "effect_bottom_ci_low", "effect_bottom_ci_high",
    "effect_kpi", "effect_kpi_ci_low", "effect_kpi_ci_high", "p_value_kpi",
    "effect_kpi_ordinal", "effect_kpi_ordinal_ci_low", "effect_kpi_ordinal_ci_high",
    "vif", "reliable", "reading",
]


def _resolve_changes(mf: ModelFrame, changes: Mapping[str, float] | None) -> dict[str, float]:
    changes = dict(changes or {})
    unknown = [k for k in changes if k not in mf.drivers]
    if unknown:
        raise AnalysisError(f"changes name {unknown}, which are not drivers {list(mf.drivers)}")
    out = {}
    for d in mf.drivers:
        if d in changes:
            c = changes[d]
            if isinstance(c, bool) or not isinstance(c, (int, float, np.floating)) or not np.isfinite(c) or c == 0:
                raise AnalysisError(f"the change of driver '{d}' must be a non-zero number, got {c!r}")
            out[d] = float(c)
        else:
            out[d] = default_change(mf.specs[d].unit, mf.frame[d].to_numpy())
    return out


def driver_effects(
    mf: ModelFrame,
    changes: Mapping[str, float] | None = None,
    ci: float = 0.95,
    ordinal: bool = True,
    min_r2: float = 0.02,
) -> DriverModels:
    """Fit the driver models and express every driver's effect in the result KPI's unit.

    Parameters
    ----------
    mf : ModelFrame
    changes : dict, optional
        ``{driver: change}`` overriding the default change (10 pp, 1 day, ...).
    ci : float, default 0.95
    ordinal : bool, default True
        Fit the ordinal logit and add ``effect_kpi_ordinal`` (skip for speed).
    min_r2 : float, default 0.02
        R² below which the model is not called reliable, whatever its p-value.

    Returns
    -------
    DriverModels
        ``effects`` has one row per driver with columns ``driver, name, unit, change,
        change_label``; ``effect_score`` (+ ``_ci_low``, ``_ci_high``) and ``p_value`` from
        OLS with HC3; ``effect_top`` and ``effect_bottom`` (percentage points of top / bottom
        box, logit average marginal effects); ``effect_kpi`` (NPS points from the two logits,
        or the mean score for a rating scale) with interval and ``p_value_kpi``;
        ``effect_kpi_ordinal`` with interval; ``vif``; ``reliable`` (the OLS interval
        excludes 0) and a ``reading`` sentence. ``attrs`` holds ``kpi_unit`` and ``ci``.
    """
    mf = check_model_frame(mf)
    ci = check_ci(ci)
    if not mf.drivers:
        raise AnalysisError(f"the model frame has no driver left ({mf.policy})")
    alpha, z = 1 - ci, z_value(ci)
    chg = _resolve_changes(mf, changes)
    notes: list[str] = []
    _need_rows(mf, len(mf.drivers) + len(mf.controls) + 1)
    _check_identifiable(mf, design_matrix(mf))
    ols = fit_ols(mf)
    Xdf = design_matrix(mf)
    X = Xdf.to_numpy()
    cols = list(Xdf.columns)
    unit = kpi_unit(mf)

    try:
        logits = fit_box_logits(mf)
    except AnalysisError as e:
        logits = None
        notes.append(f"Top/bottom-box effects not estimated: {e}.")
    ordres = None
    if ordinal:
        try:
            ordres = fit_ordinal(mf)
        except AnalysisError as e:
            notes.append(f"Ordinal-model effects not estimated: {e}.")
        else:
            if ordinal_rows(mf.n) is not None:
                notes.append(f"The ordinal model is fitted on a fixed random sample of {ORDINAL_MAX_N:,} of the "
                             f"{mf.n:,} responses (its intervals are a little wider for it).")
    col = collinearity(mf)

    rows = []
    lpm = None
    ci_ols = np.asarray(ols.conf_int(alpha))
    Xd, wd = distinct_rows(X)  # the logit averages over distinct rows, weighted by their counts
    for d in mf.drivers:
        spec = mf.specs[d]
        j = cols.index(d)
        c = chg[d]
        binary = spec.unit == "share" and is_binary(X[:, j])
        beta, (lo, hi) = float(ols.params.iloc[j]), ci_ols[j]
        row = {
            "driver": d, "name": spec.name, "unit": spec.unit, "change": c,
            "change_label": change_label(spec.unit, c),
            "effect_score": beta * c,
            "effect_score_ci_low": min(lo * c, hi * c), "effect_score_ci_high": max(lo * c, hi * c),
            "p_value": float(ols.pvalues.iloc[j]),
        }
        for key in ("top", "bottom"):
            row.update({f"effect_{key}": np.nan, f"effect_{key}_ci_low": np.nan, f"effect_{key}_ci_high": np.nan})
        row.update({"effect_kpi": np.nan, "effect_kpi_ci_low": np.nan, "effect_kpi_ci_high": np.nan,
                    "p_value_kpi": np.nan})
        X0, X1, factor = _scenario_x(Xd, j, binary, c)
        if logits is not None:
            k = len(cols)
            et, gt = _logit_change(np.asarray(logits.top.params), X0, X1, factor, wd)
            eb, gb = _logit_change(np.asarray(logits.bottom.params), X0, X1, factor, wd)
            for key, est, g in (("top", et, np.r_[gt, np.zeros(k)]), ("bottom", eb, np.r_[np.zeros(k), gb])):
                se = float(np.sqrt(max(g @ logits.cov @ g, 0.0)))
                row.update({f"effect_{key}": 100 * est, f"effect_{key}_ci_low": 100 * (est - z * se),
                            f"effect_{key}_ci_high": 100 * (est + z * se)})
            if mf.is_nps:
                g = 100 * np.r_[gt, -gb]
                est = 100 * (et - eb)
                se = float(np.sqrt(max(g @ logits.cov @ g, 0.0)))
                row.update({"effect_kpi": est, "effect_kpi_ci_low": est - z * se, "effect_kpi_ci_high": est + z * se,
                            "p_value_kpi": float(2 * stats.norm.sf(abs(est / se))) if se > 0 else np.nan})
        if mf.measure in ("share", "top_box"):
            if logits is not None:
                est, lo_, hi_ = row["effect_top"], row["effect_top_ci_low"], row["effect_top_ci_high"]
                se = (hi_ - lo_) / (2 * z)
                row.update({"effect_kpi": est, "effect_kpi_ci_low": lo_, "effect_kpi_ci_high": hi_,
                            "p_value_kpi": float(2 * stats.norm.sf(abs(est / se))) if se > 0 else np.nan})
            else:  # a box too small for a logit: the linear probability model (HC3) on the share
                if lpm is None:
                    lpm = _HC3(_kpi_var(mf), Xdf)
                b_, (l_, h_) = float(lpm.params.iloc[j]) * c, np.asarray(lpm.conf_int(alpha))[j] * c
                row.update({"effect_kpi": b_, "effect_kpi_ci_low": min(l_, h_), "effect_kpi_ci_high": max(l_, h_),
                            "p_value_kpi": float(lpm.pvalues.iloc[j])})
        elif not mf.is_nps:
            row.update({"effect_kpi": row["effect_score"], "effect_kpi_ci_low": row["effect_score_ci_low"],
                        "effect_kpi_ci_high": row["effect_score_ci_high"], "p_value_kpi": row["p_value"]})
        row.update({"effect_kpi_ordinal": np.nan, "effect_kpi_ordinal_ci_low": np.nan,
                    "effect_kpi_ordinal_ci_high": np.nan})
        if ordres is not None:
            Xo = X[:, 1:]
            jo = j - 1
            O0, O1, f = _scenario_x(Xo, jo, binary, c)
            w = level_weights(mf, ordinal_levels(ordres))
            est, se = ordinal_contrast(ordres, [(O1, f)], [(O0, f)], w)
            row.update({"effect_kpi_ordinal": est, "effect_kpi_ordinal_ci_low": est - z * se,
                        "effect_kpi_ordinal_ci_high": est + z * se})
        vif = col.vif.set_index("driver").loc[d, "vif"]
        row["vif"] = float(vif)
        row["reliable"] = bool(row["p_value"] < alpha)
        row["reading"] = messages.render(_effect_reading(row, spec.name, unit, ci, mf), messages.current_language())
        rows.append(row)
    effects = pd.DataFrame(rows, columns=_EFFECT_COLUMNS)
    effects.attrs.update(kpi_unit=unit, ci=ci, result_name=mf.result_name)

    R = np.zeros((len(mf.drivers), len(cols)))
    for i, d in enumerate(mf.drivers):
        R[i, cols.index(d)] = 1.0
    wald = ols.wald_test(R, use_f=False, scalar=True)
    p_drivers = float(wald.pvalue)
    r2 = float(ols.rsquared)
    reliable = bool(p_drivers < alpha and r2 >= min_r2)
    reading = _model_reading(r2, p_drivers, reliable, effects, mf, min_r2)
    return DriverModels(mf, effects, ols, ordres, logits, col, r2, float(ols.rsquared_adj), p_drivers, mf.n,
                        reliable, reading, tuple(notes), ci, unit)


def _effect_reading(row: Mapping[str, Any], name: str, unit: str, ci: float, mf: ModelFrame) -> Message:
    lab = row["change_label"]
    if mf.measure != "mean" and np.isfinite(row["effect_kpi"]):
        e, lo, hi, p = row["effect_kpi"], row["effect_kpi_ci_low"], row["effect_kpi_ci_high"], row["p_value_kpi"]
        u, base = kpi_unit(mf), kpi_base(mf)
        what = "" if mf.is_nps else Message("effect.in_kpi", kpi=kpi_name(mf))
    else:
        e, lo, hi, p = row["effect_score"], row["effect_score_ci_low"], row["effect_score_ci_high"], row["p_value"]
        u, base, what = Message("unit.score_points"), 2, ""
    es, los, his = messages.interval(e, lo, hi, base=base, signed=True)
    interval = Message("interval.level", level=Num(100 * ci, 0), low=los, high=his)
    key = "effect.associated" if p < 1 - ci else "effect.not_reliable"
    return Message(key, change=lab, name=name, effect=es, unit=u, what=what, interval=interval, result=mf.result_name)


def _model_reading(r2, p, reliable, effects, mf, min_r2) -> Message:
    if reliable:
        scored = mf.result_name if mf.result_name.lower().endswith("score") else \
            Message("model.score_of", result=mf.result_name)
        return Message("model.reliable", share=Num(100 * r2, present.decimals(100 * r2, 0)),
                       r2=Num(r2, present.decimals(r2, 3)), scored=scored, p=messages.p_text(p))
    why = []
    if r2 < min_r2:
        why.append(Message("model.why_r2", share=Num(100 * r2, present.decimals(100 * r2, 1)),
                           r2=Num(r2, present.decimals(r2, 3))))
    if p >= 0.05 or not effects["reliable"].any():
        why.append(Message("model.why_no_interval") if not effects["reliable"].any()
                   else Message("model.why_joint", p=messages.p_text(p)))
    return Message("model.unreliable", why=Seq(tuple(why or [Message("model.why_default")]), "list.and"))


# --------------------------------------------------------------------------------------------
# non-linear effects
# --------------------------------------------------------------------------------------------


def _numeric_driver(mf: ModelFrame, driver: str, min_distinct: int) -> np.ndarray:
    x = mf.frame[driver].to_numpy(dtype=float)
    k = len(np.unique(x))
    if k < min_distinct:
        raise messages.analysis_error("effects.error.few_distinct", driver=driver, k=Num(k, 0),
                                      need=Num(min_distinct, 0))
    return x


def _bins(x: np.ndarray, n_bins: int, max_levels: int, min_n: int) -> np.ndarray:
    """Bin edges as a list of (low, high) pairs, every bin with at least min_n responses."""
    vals, counts = np.unique(x, return_counts=True)
    if len(vals) <= max_levels:
        groups: list[list[int]] = []
        cur: list[int] = []
        n = 0
        for i, c in enumerate(counts):
            cur.append(i)
            n += c
            if n >= min_n:
                groups.append(cur)
                cur, n = [], 0
        if cur:
            if groups:
                groups[-1].extend(cur)
            else:
                groups.append(cur)
        return np.array([(vals[g[0]], vals[g[-1]]) for g in groups])
    probs = set(np.linspace(0, 1, n_bins + 1).round(6))
    q10, q90 = np.quantile(x, [0.1, 0.9])
    middle = max(q90 - q10, np.finfo(float).eps)
    if x.max() - q90 > middle:  # a long upper tail (e.g. days late): bands that follow it
        probs |= {0.95, 0.975, 0.99}
    if q10 - x.min() > middle:
        probs |= {0.01, 0.025, 0.05}
    qs = np.quantile(x, sorted(probs), method="inverted_cdf")
    heavy = vals[counts >= len(x) / (2 * n_bins)]  # a value holding many responses is a band of its own
    below = [vals[i - 1] for i in np.searchsorted(vals, heavy) if i > 0]
    qs = np.unique(np.r_[qs, heavy, below])
    edges = []
    lo = x.min()
    for q in qs[1:]:
        inbin = (x >= lo) & (x <= q)
        if inbin.sum() >= min_n or q == qs[-1]:
            edges.append([lo, q])
            above = x[x > q]
            lo = above.min() if len(above) else q
    if len(edges) > 1 and ((x >= edges[-1][0]) & (x <= edges[-1][1])).sum() < min_n:
        edges[-2][1] = edges[-1][1]
        edges.pop()
    return np.array(edges)


def _bin_label(lo: float, hi: float, unit: str) -> str:
    f = (lambda v: f"{100 * v:g} %") if unit == "share" else (lambda v: f"{v:g}")
    u = f" {unit}" if unit in TIME_UNITS else ""
    return f"{f(lo)}{u}" if lo == hi else f"{f(lo)} to {f(hi)}{u}"


def response_curve_table(
    mf: ModelFrame,
    driver: str,
    n_bins: int = 5,
    max_levels: int = 12,
    min_n: int | None = None,
    ci: float = 0.95,
) -> pd.DataFrame:
    """The result KPI along the values of a numeric driver, bin by bin, with intervals.

    Parameters
    ----------
    mf : ModelFrame
    driver : str
        A numeric driver with at least three distinct values.
    n_bins : int, default 5
        Quantile bins when the driver has more than ``max_levels`` distinct values.
    max_levels : int, default 12
        Up to this many distinct values, each value is its own bin (merged with its
        neighbours until a bin has ``min_n`` responses).
    min_n : int, optional
        Least responses per bin; default the frame's ``min_base_flag``.
    ci : float, default 0.95

    Returns
    -------
    DataFrame
        One row per bin, in the order of the driver's values: ``bin`` (label), ``x_low``,
        ``x_high``, ``x_mean``, ``n``, ``score_mean`` with ``score_ci_low/high`` (t interval),
        ``kpi`` with ``kpi_ci_low/high`` (NPS with its analytic interval, or the mean score),
        ``reference`` (the best bin by the driver's direction; the lowest bin without a
        direction), ``kpi_vs_ref`` with ``kpi_vs_ref_ci_low/high`` and ``p_value``: the
        bin's difference from the reference in the result KPI's unit, adjusted for the other
        drivers and controls (OLS of the per-response KPI on bin dummies, HC3), and
        ``small_base`` (n below ``min_base_flag``). ``attrs``: ``driver``, ``kpi_unit``,
        ``ci``.
    """
    mf = check_model_frame(mf)
    ci = check_ci(ci)
    driver = check_driver(mf, driver)
    x = _numeric_driver(mf, driver, 3)
    min_n = mf.min_base_flag if min_n is None else int(min_n)
    spec = mf.specs[driver]
    edges = _bins(x, int(n_bins), int(max_levels), min_n)
    if len(edges) < 2:
        raise messages.analysis_error("effects.error.few_bins", driver=driver, n=Num(min_n, 0))
    idx = np.zeros(len(x), dtype=int)
    for b, (lo, hi) in enumerate(edges):
        idx[(x >= lo) & (x <= hi)] = b
    ref = len(edges) - 1 if spec.direction == "higher" else 0
    kv = _kpi_var(mf)
    scores = mf.frame["score"].to_numpy(dtype=float)
    # adjusted contrasts: per-response KPI on bin dummies + the other drivers + controls
    others = [d for d in mf.drivers if d != driver]
    X = design_matrix(mf, others)
    dummies = [b for b in range(len(edges)) if b != ref]
    for b in dummies:
        X[f"bin{b}"] = (idx == b).astype(float)
    # another driver that is a function of the bins (on time next to days late) would make the
    # contrasts unidentifiable: it is left out of this adjustment
    tied = [d for d in others if pd.Series(mf.frame[d].to_numpy()).groupby(idx).nunique().max() <= 1]
    if tied:
        X = X.drop(columns=tied)
    fit = _HC3(kv, X)
    conf = np.asarray(fit.conf_int(1 - ci))
    rows = []
    for b, (lo, hi) in enumerate(edges):
        m = idx == b
        mc = mean_ci(scores[m], ci)
        if mf.is_nps:
            r = nps(scores[m], ci)
            kpi, klo, khi = r.value, r.ci_low, r.ci_high
        elif mf.measure in ("share", "top_box"):
            k_top = float(np.isin(scores[m], mf.scale.top_box).sum())
            slo, shi = share_ci(k_top, float(m.sum()), ci)
            kpi, klo, khi = 100 * k_top / m.sum(), 100 * slo, 100 * shi
        else:
            kpi, klo, khi = mc.mean, mc.ci_low, mc.ci_high
        row = {"bin": _bin_label(lo, hi, spec.unit), "x_low": lo, "x_high": hi, "x_mean": float(x[m].mean()),
               "n": int(m.sum()), "score_mean": mc.mean, "score_ci_low": mc.ci_low, "score_ci_high": mc.ci_high,
               "kpi": kpi, "kpi_ci_low": klo, "kpi_ci_high": khi, "reference": b == ref}
        if b == ref:
            row.update(kpi_vs_ref=0.0, kpi_vs_ref_ci_low=0.0, kpi_vs_ref_ci_high=0.0, p_value=np.nan)
        else:
            j = list(X.columns).index(f"bin{b}")
            row.update(kpi_vs_ref=float(fit.params.iloc[j]), kpi_vs_ref_ci_low=float(conf[j, 0]),
                       kpi_vs_ref_ci_high=float(conf[j, 1]), p_value=float(fit.pvalues.iloc[j]))
        row["small_base"] = row["n"] < mf.min_base_flag
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(driver=driver, kpi_unit=kpi_unit(mf), ci=ci, not_adjusted_for=tied,
                     method="bins of the driver's values; contrasts vs the best bin adjusted for the other "
                            "drivers (OLS, HC3)")
    return out


@dataclass(frozen=True)
class Threshold:
    """A change of slope (a threshold) in a numeric driver's association with the result KPI.

    Attributes
    ----------
    driver, name, unit : str
    kpi_unit : str
        Unit of the slopes and the cost (NPS points, or points of a rating scale).
    knot, knot_ci_low, knot_ci_high : float
        The best knot and the range of candidate knots its profile-likelihood interval keeps.
    slope_before, slope_before_ci_low, slope_before_ci_high : float
        Change in the KPI per unit of the driver up to the knot.
    slope_after, slope_after_ci_low, slope_after_ci_high : float
        Per unit beyond the knot.
    slope_change, p_value, p_adjusted : float
        ``slope_after - slope_before``, its HC3 p-value at the chosen knot and that p-value
        times the number of knots tried (Bonferroni, at most 1).
    n_candidates : int
    found : bool
        ``p_adjusted < 1 - ci``.
    at, cost, cost_ci_low, cost_ci_high : float
        The KPI difference between the driver at ``at`` (its 90th percentile) and at the knot.
    n : int
    sentence : str
    profile : DataFrame
        ``knot, rss, lr`` for every candidate (``lr = n * log(rss / rss_min)``).
    ci : float
    adjusted_for_others : bool
        False: the driver on its own (with the controls); True: the other drivers held equal.
    adjusted : Threshold or None
        The same test with the other drivers held equal (on the result of the default call).
    step, step_ci_low, step_ci_high, first_beyond : float
        The KPI at the first observed value beyond the knot against the straight line before
        the knot (the jump plus one step of the new slope), with its interval.
    """

    driver: str
    name: str
    unit: str
    kpi_unit: str
    knot: float
    knot_ci_low: float
    knot_ci_high: float
    slope_before: float
    slope_before_ci_low: float
    slope_before_ci_high: float
    slope_after: float
    slope_after_ci_low: float
    slope_after_ci_high: float
    slope_change: float
    p_value: float
    p_adjusted: float
    n_candidates: int
    found: bool
    at: float
    cost: float
    cost_ci_low: float
    cost_ci_high: float
    n: int
    sentence: str
    profile: pd.DataFrame
    ci: float
    adjusted_for_others: bool = False
    adjusted: Any = None
    step: float = math.nan
    step_ci_low: float = math.nan
    step_ci_high: float = math.nan
    first_beyond: float = math.nan


#: Units a threshold is looked for in: time and counts.
THRESHOLD_UNITS = TIME_UNITS + ("count",)  # times and counts


def threshold_reading(th: Threshold, curve: pd.DataFrame | None = None) -> Message:
    """The threshold sentence, and what the response curve's bands say when the two differ.

    When no threshold is found but the bands of the curve differ reliably from the best one
    (Holm-adjusted over the bands), the text says so rather than leaving "no threshold" next
    to a falling curve.
    """
    text = th.sentence
    if curve is None or th.found or "p_value" not in curve:
        return text
    c = curve[curve["p_value"].notna()]
    if not len(c):
        return text
    from .kpis import holm

    ph = holm(c["p_value"].to_numpy(dtype=float))
    off = c[ph < 1 - th.ci]
    if len(off):
        base = 2 if th.kpi_unit.startswith("points on") else 1
        bands = Seq(tuple(Message("threshold.band", band=b, difference=Num(d, present.decimals(d, base), True))
                          for b, d in zip(off["bin"], off["kpi_vs_ref"], strict=True)), "list.semicolon")
        text = Message("threshold.steady", sentence=text, name=th.name, unit=th.kpi_unit, bands=bands)
    return text


#: At most this many candidate knots: the distinct values, or quantiles of the driver beyond that.
MAX_KNOTS = 200


def _candidate_knots(x: np.ndarray, min_side: int) -> np.ndarray:
    """Candidate knots over the whole observed range with ``min_side`` responses on each side.

    Every distinct value (or, with more than ``MAX_KNOTS`` of them, the values at the 0.5 %
    quantiles) with at least ``min_side`` responses at or below it and above it.
    """
    xs = np.sort(x)
    n = len(xs)
    if n < 2 * min_side:
        return np.array([], dtype=float)
    lo, hi = xs[min_side - 1], xs[n - min_side - 1]  # at least min_side at or below, and above
    vals = np.unique(xs)
    cand = vals[(vals >= lo) & (vals <= hi)]
    if len(cand) > MAX_KNOTS:
        cand = np.unique(np.quantile(xs[min_side - 1:n - min_side], np.linspace(0, 1, MAX_KNOTS)))
        cand = np.unique(xs[np.searchsorted(xs, cand, side="left").clip(0, n - 1)])
    below = np.searchsorted(xs, cand, side="right")
    keep = (below >= min_side) & (n - below >= min_side)
    return cand[keep].astype(float)


def hinge_rss(B: np.ndarray, x: np.ndarray, y: np.ndarray, knots: np.ndarray,
              step: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Residual sum of squares of ``y ~ B + max(0, x - k) [+ 1(x > k)]`` for every knot ``k``.

    One pass from sufficient statistics instead of one least-squares fit per knot: with the
    rows sorted by ``x``, the cross-products of ``B`` and ``y`` with the hinge ``h_k`` and the
    step ``s_k`` are suffix sums, and by Frisch-Waugh-Lovell ``RSS_k = RSS_B - r'R (R'R)^-1 R'r``
    with ``R`` the terms residualised on ``B``. Cost ``O(n p + K p^2)``.

    Returns
    -------
    rss : ndarray (K,)
    coef : ndarray (K, 2)
        The hinge slope and the step of each knot's fit (step 0 when ``step`` is false).
    """
    order = np.argsort(x, kind="stable")
    xs, Bs, ys = x[order], B[order], y[order]
    n = len(xs)

    def suffix(a: np.ndarray) -> np.ndarray:  # sums over the rows with x > k
        c = np.cumsum(a[::-1], axis=0)[::-1]
        return np.concatenate([c, np.zeros((1,) + a.shape[1:])], axis=0)

    k = np.asarray(knots, dtype=float)
    start = np.searchsorted(xs, k, side="right")
    S_B = suffix(Bs)[start]
    S_Bx = suffix(Bs * xs[:, None])[start]
    S_x, S_xx = suffix(xs)[start], suffix(xs * xs)[start]
    S_1 = (n - start).astype(float)
    S_y, S_yx = suffix(ys)[start], suffix(ys * xs)[start]
    BH = np.stack([S_Bx - k[:, None] * S_B, S_B], axis=2)                # (K, p, 2): B'h, B's
    hh = S_xx - 2 * k * S_x + k ** 2 * S_1
    hs = S_x - k * S_1
    HH = np.stack([np.stack([hh, hs], 1), np.stack([hs, S_1], 1)], 1)  # (K, 2, 2)
    yH = np.stack([S_yx - k * S_y, S_y], 1)                              # (K, 2)
    if not step:
        BH, HH, yH = BH[:, :, :1], HH[:, :1, :1], yH[:, :1]
    BtB, Bty = B.T @ B, B.T @ y
    BtB_inv = np.linalg.pinv(BtB)
    sol_y = BtB_inv @ Bty
    rss_b = float(y @ y - Bty @ sol_y)
    RR = HH - np.einsum("kpi,pq,kqj->kij", BH, BtB_inv, BH)              # R'R
    Rr = yH - np.einsum("kpi,p->ki", BH, sol_y)                          # R'r
    m = RR.shape[1]
    scale = np.sqrt(np.maximum(np.einsum("kii->ki", HH), 1e-300))
    ok = (np.einsum("kii->ki", RR) > 1e-9 * scale ** 2).all(axis=1)
    coef = np.zeros((len(k), 2))
    gain = np.zeros(len(k))
    if ok.any():
        c = np.linalg.solve(RR[ok] + 1e-12 * np.eye(m), Rr[ok][:, :, None])[:, :, 0]
        coef[ok, :m] = c
        gain[ok] = np.einsum("ki,ki->k", Rr[ok], c)
    return np.maximum(rss_b - gain, 0.0), coef


def find_threshold(mf: ModelFrame, driver: str, ci: float = 0.95, min_side: int | None = None,
                   adjust: bool | None = None) -> Threshold:
    """Look for a threshold in a numeric driver (broken-stick regression with a profiled knot).

    Parameters
    ----------
    mf : ModelFrame
    driver : str
        A numeric driver with at least four distinct values.
    ci : float, default 0.95
    min_side : int, optional
        Least responses on each side of a candidate knot; default the frame's
        ``min_base_flag`` (the minimum base).
    adjust : bool, optional
        ``False``: the driver on its own (with the controls only); ``True``: with the other
        drivers held equal. Default: both, the driver on its own reported first and the
        adjusted test in ``adjusted`` (a companion KPI in the same model, such as on-time next
        to days late, can absorb the step and hide a threshold the driver shows on its own).

    Returns
    -------
    Threshold

    Notes
    -----
    Model: ``kpi_i = a + b1 * x_i + b2 * max(0, x_i - k) + controls`` (and the other drivers
    when adjusted), where ``kpi_i`` is ``100 * (promoter - detractor)`` for NPS, ``100 *
    top box`` for a share and the score otherwise. Candidate knots: every distinct value of the
    driver over its whole observed range (its 0.5 % quantiles beyond ``MAX_KNOTS`` values) with
    ``min_side`` responses on each side. The knot minimising the residual sum of squares
    (:func:`hinge_rss`, one pass) is the profile-likelihood estimate; its interval keeps the
    candidates with ``n * log(RSS_k / RSS_min) <= chi2_1(ci)``. Slopes and the cost use HC3
    errors at the chosen knot, which ignores the uncertainty of the knot itself; the slope
    change's p-value is therefore Bonferroni-adjusted for the knots tried.
    """
    mf = check_model_frame(mf)
    ci = check_ci(ci)
    driver = check_driver(mf, driver)
    if adjust is None:
        alone = _threshold(mf, driver, ci, min_side, adjust=False)
        others = [d for d in mf.drivers if d != driver]
        if not others:
            return alone
        adjusted = _threshold(mf, driver, ci, min_side, adjust=True)
        return replace(alone, adjusted=adjusted, sentence=_both_sentence(alone, adjusted, mf, others))
    return _threshold(mf, driver, ci, min_side, adjust=bool(adjust))


def _both_sentence(alone: Threshold, adj: Threshold, mf: ModelFrame, others: Sequence[str]) -> Message:
    names = Seq(tuple(mf.specs[d].name for d in others), "list.comma")
    p = messages.p_text(adj.p_adjusted)
    if adj.found:
        held = Message("threshold.held_still", names=names, knot=Num(adj.knot), p=p)
    else:
        held = Message("threshold.held_gone" if alone.found else "threshold.held_neither", names=names, p=p)
    return Message("threshold.both", sentence=alone.sentence, held=held)


def _threshold(mf: ModelFrame, driver: str, ci: float, min_side: int | None, adjust: bool) -> Threshold:
    x = _numeric_driver(mf, driver, 4)
    spec = mf.specs[driver]
    n = len(x)
    min_side = mf.min_base_flag if min_side is None else int(min_side)
    cand = _candidate_knots(x, min_side)
    if len(cand) == 0:
        raise messages.analysis_error("effects.error.no_knot", driver=driver, n=Num(min_side, 0))
    y = _kpi_var(mf)
    base = design_matrix(mf) if adjust else design_matrix(mf, [driver])  # const, the driver, (other drivers,) controls
    B = base.to_numpy(dtype=float)
    rss, coef = hinge_rss(B, x, y, cand)
    # a threshold is where the driver starts to cost: just beyond the knot the KPI turns worse
    # than the straight line before it (down for a lower-is-better driver, up for a higher-is-
    # better one); a levelling-off is not one
    vals = np.unique(x)
    nxt = vals[np.minimum(np.searchsorted(vals, cand, side="right"), len(vals) - 1)]
    beyond = coef[:, 1] + coef[:, 0] * (nxt - cand)
    costly = {"lower": -1.0, "higher": 1.0}.get(spec.direction or "")
    if costly is not None and (np.sign(beyond) == costly).any():
        keep = np.sign(beyond) == costly
        cand, rss = cand[keep], rss[keep]
    best = int(np.argmin(rss))
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = n * np.log(rss / rss[best])
    lr = np.where(np.isfinite(lr), lr, 0.0)
    crit = float(stats.chi2.ppf(ci, 1))
    kept = cand[lr <= crit]
    knot = float(cand[best])
    X = base.copy()
    X["hinge"] = np.maximum(0.0, x - knot)
    X["step"] = (x > knot).astype(float)
    fit = _HC3(y, X)
    cols = list(X.columns)
    jx, jh, js = cols.index(driver), cols.index("hinge"), cols.index("step")
    alpha = 1 - ci

    def lin(weights: dict[int, float]) -> tuple[float, float, float, float]:
        L = np.zeros(len(cols))
        for j, w in weights.items():
            L[j] = w
        t = fit.t_test(L)
        lo, hi = np.asarray(t.conf_int(alpha)).ravel()
        return float(np.asarray(t.effect).ravel()[0]), float(lo), float(hi), float(np.asarray(t.pvalue).ravel()[0])

    sb = lin({jx: 1.0})
    sa = lin({jx: 1.0, jh: 1.0})
    sc = lin({jh: 1.0})
    first = float(vals[min(np.searchsorted(vals, knot, side="right"), len(vals) - 1)])
    jump = lin({js: 1.0, jh: first - knot})  # just beyond the knot against the line before it
    R = np.zeros((2, len(cols)))
    R[0, jh], R[1, js] = 1.0, 1.0
    p_bend = float(fit.wald_test(R, use_f=False, scalar=True).pvalue)
    p_adj = min(1.0, p_bend * len(cand))
    at = float(np.quantile(x, 0.9))
    if at <= knot:
        at = float(x.max())
    cost = lin({jx: at - knot, jh: at - knot, js: 1.0})
    found = bool(p_adj < alpha)
    profile = pd.DataFrame({"knot": cand, "rss": rss, "lr": lr})
    sentence = _threshold_sentence(spec, knot, sb, sa, cost, at, found, p_adj, len(cand), kpi_unit(mf), ci,
                                   mf.result_name, jump, first)
    return Threshold(driver, spec.name, spec.unit, kpi_unit(mf), knot, float(kept.min()), float(kept.max()),
                     sb[0], sb[1], sb[2], sa[0], sa[1], sa[2], sc[0], p_bend, p_adj, len(cand), found,
                     at, cost[0], cost[1], cost[2], n, sentence, profile, ci, adjusted_for_others=adjust,
                     step=jump[0], step_ci_low=jump[1], step_ci_high=jump[2], first_beyond=first)


def _threshold_sentence(spec, knot, sb, sa, cost, at, found, p_adj, m, unit, ci, result_name, jump=None,
                        first=None) -> Message:
    u = spec.unit if spec.unit in TIME_UNITS else ""
    one = Message(f"word.{u[:-1] if u else 'unit'}")

    def v(t: float) -> Message | Num:
        return Message(f"change.{u[:-1] if abs(t) == 1 else u}", sign="", amount=Num(t)) if u else Num(t)

    b = 2 if unit.startswith("points on") else 1

    def f(x: float) -> Num:
        return Num(x, present.decimals(x, b), True)

    def iv(e) -> Message:
        _, lo, hi = messages.interval(e[0], e[1], e[2], b, signed=True)
        return Message("interval.level", level=Num(100 * ci, 0), low=lo, high=hi)

    if not found:
        return Message("threshold.none", name=spec.name, p=messages.p_text(p_adj), m=m)
    common = {"one": one, "unit": unit, "result": result_name, "name": spec.name}
    if sb[1] <= 0 <= sb[2]:
        before = Message("threshold.before_unclear", knot=v(knot), slope=f(sb[0]), interval=iv(sb), **common)
    else:
        before = Message("threshold.before", knot=v(knot), slope=f(sb[0]), interval=iv(sb), **common)
    after = Message("threshold.after", knot=v(knot), slope=f(sa[0]), interval=iv(sa), **common)
    if jump is not None and first is not None and not (jump[1] <= 0 <= jump[2]):
        after = Message("threshold.jump", first=v(first), step=f(jump[0]), interval=iv(jump), after=after, **common)
    tail = Message("threshold.tail", at=v(at), cost=f(cost[0]), knot=v(knot), interval=iv(cost), unit=unit)
    return Message("threshold.found", name=spec.name, before=before, after=after, tail=tail)


# --------------------------------------------------------------------------------------------
# segments
# --------------------------------------------------------------------------------------------


def _check_segment(mf: ModelFrame, segment: Any) -> str:
    if not isinstance(segment, str) or segment not in mf.frame.columns:
        raise AnalysisError(f"segment {segment!r} is not a column of the model frame; segments are "
                            f"{list(mf.segments)}")
    return segment


def _segment_levels(mf: ModelFrame, segment: str) -> tuple[pd.Series, list[Any], list[Any]]:
    s = mf.frame[segment]
    counts = s.dropna().value_counts()
    keep = [lev for lev, k in counts.items() if k >= mf.min_base_suppress]
    small = [lev for lev, k in counts.items() if k < mf.min_base_suppress]
    return s, keep, small


def segment_drivers(mf: ModelFrame, segment: str, ci: float = 0.95,
                    changes: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Driver effects within each segment whose base allows a model.

    A segment level is analysed when it has at least ``min_base_suppress`` responses and five
    responses per OLS parameter; drivers that do not vary within a level are left out there.
    Levels under ``min_base_flag`` are flagged (``small_base``).

    Returns
    -------
    DataFrame
        One row per (level, driver): ``segment, level, n, small_base, r2`` and the effect
        columns of :func:`driver_effects` (without the ordinal model). ``attrs["not_analysed"]``
        maps each level left out to the reason.
    """
    mf = check_model_frame(mf)
    ci = check_ci(ci)
    segment = _check_segment(mf, segment)
    s, keep, small = _segment_levels(mf, segment)
    not_done = {lev: f"base {int((s == lev).sum())} below {mf.min_base_suppress}" for lev in small}
    frames = []
    for lev in keep:
        sub = mf.subset((s == lev).to_numpy())
        varying = [d for d in sub.drivers if sub.frame[d].nunique() > 1]
        if not varying:
            not_done[lev] = "no driver varies within this segment"
            continue
        sub = sub.with_drivers(varying)
        controls_var = [c for c in sub.controls if sub.frame[c].nunique() > 1]
        sub = ModelFrame(**{**sub.__dict__, "controls": tuple(controls_var)})
        k = 1 + len(varying) + len(controls_var)
        if sub.n < 5 * k:
            not_done[lev] = f"base {sub.n} is below five responses per parameter ({5 * k})"
            continue
        sub_changes = {d: c for d, c in (changes or {}).items() if d in varying}
        sub_changes = {**{d: default_change(mf.specs[d].unit, mf.frame[d].to_numpy()) for d in varying},
                       **sub_changes}
        res = driver_effects(sub, changes=sub_changes, ci=ci, ordinal=False)
        eff = res.effects.drop(columns=["effect_kpi_ordinal", "effect_kpi_ordinal_ci_low",
                                        "effect_kpi_ordinal_ci_high"])
        eff.insert(0, "segment", segment)
        eff.insert(1, "level", lev)
        eff.insert(2, "n", sub.n)
        eff.insert(3, "small_base", sub.n < mf.min_base_flag)
        eff.insert(4, "r2", res.r2)
        frames.append(eff)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["segment", "level", "n", "small_base", "r2"])
    out.attrs.update(not_analysed=not_done, ci=ci, kpi_unit=kpi_unit(mf))
    return out


MIN_SLOPE_BASE = 5  # responses per group below which segment_difference estimates no slope


def segment_difference(mf: ModelFrame, segment: str, drivers: Sequence[str] | None = None,
                       ci: float = 0.95) -> pd.DataFrame:
    """Test whether each driver's association with the score differs between segments.

    For each driver: OLS of the score on all drivers, controls, segment dummies and the
    driver × segment-dummy interactions, on the responses of the levels with at least
    ``min_base_suppress`` responses; an HC3 Wald chi-square test that every interaction is
    zero (degrees of freedom = levels - 1). A level enters a driver's test only when it has at
    least ``MIN_SLOPE_BASE`` responses and the driver varies within it (else its slope would be
    fitted to a point); a driver with fewer than two such levels gets ``p_value`` NaN and a
    reading that says why.

    Returns
    -------
    DataFrame
        One row per driver: ``driver, name, segment, levels, n, df, statistic, p_value,
        differs`` (``p_value < 1 - ci``), per-level slopes as ``slopes`` (``{level: score
        points per change}``) and a ``reading``.
    """
    mf = check_model_frame(mf)
    ci = check_ci(ci)
    segment = _check_segment(mf, segment)
    drivers = list(mf.drivers if drivers is None else drivers)
    for d in drivers:
        check_driver(mf, d)
    s, keep, _ = _segment_levels(mf, segment)
    if len(keep) < 2:
        raise AnalysisError(f"segment '{segment}' has fewer than two levels with a base of at least "
                            f"{mf.min_base_suppress} responses; nothing to compare")
    share_kpi = mf.measure in ("share", "top_box")  # slopes in percentage points of the share
    seg_name = (getattr(mf, "segment_names", None) or {}).get(segment, segment)  # as the reader knows it
    what = Message("segment.what_kpi", kpi=kpi_name(mf)) if share_kpi else Message("segment.what_score")
    per_unit = Message("unit.percentage_points" if share_kpi else "unit.score_points")
    rows = []
    for d in drivers:
        name = mf.specs[d].name
        # a slope per group needs the driver to vary in that group and a few responses per slope
        x_all = mf.frame[d].to_numpy(dtype=float)
        levels, left_out = [], []
        for lev in sorted(keep, key=str):
            in_lev = (s == lev).to_numpy()
            if in_lev.sum() >= MIN_SLOPE_BASE and np.unique(x_all[in_lev]).size > 1:
                levels.append(lev)
            else:
                left_out.append(lev)
        row = {"driver": d, "name": name, "segment": segment, "levels": len(levels), "n": 0, "df": 0,
               "statistic": np.nan, "p_value": np.nan, "differs": False, "slopes": {}}
        if len(levels) < 2:
            row["reading"] = Message("segment.no_base", name=name, segment=seg_name, n=MIN_SLOPE_BASE)
            rows.append(row)
            continue
        sub = mf.subset(s.isin(levels).to_numpy())
        seg = sub.frame[segment].to_numpy(dtype=object)
        y = _kpi_var(sub) if share_kpi else sub.frame["score"].to_numpy(dtype=float)
        ref = levels[0]
        X = design_matrix(sub)
        have_dummies = any(c.startswith(f"{segment}[") for c in X.columns)
        for lev in levels[1:]:
            ind = (seg == lev).astype(float)
            if not have_dummies:
                X[f"__seg[{lev}]"] = ind
            X[f"__int[{lev}]"] = ind * sub.frame[d].to_numpy(dtype=float)
        fit = _HC3(y, X)
        if not isinstance(fit, _HC3) and _collinear_sets(X):  # only a rank-deficient design is checked
            row["reading"] = Message("segment.collinear", name=name, segment=seg_name)
            rows.append(row)
            continue
        cols = list(X.columns)
        R = np.zeros((len(levels) - 1, len(cols)))
        for i, lev in enumerate(levels[1:]):
            R[i, cols.index(f"__int[{lev}]")] = 1.0
        w = fit.wald_test(R, use_f=False, scalar=True)
        stat, p = float(np.asarray(w.statistic).ravel()[0]), float(w.pvalue)
        c = default_change(mf.specs[d].unit, mf.frame[d].to_numpy())
        jd = cols.index(d)
        slopes = {ref: float(fit.params.iloc[jd]) * c}
        for lev in levels[1:]:
            slopes[lev] = (float(fit.params.iloc[jd]) + float(fit.params.iloc[cols.index(f"__int[{lev}]")])) * c
        differs = bool(p < 1 - ci)
        lab = change_label(mf.specs[d].unit, c)
        vals = list(slopes.values())
        base = 1 if share_kpi else 2
        if len(vals) == 2:
            d2 = present.pair_decimals(*vals, base=base, signed=True)
            nums = [Num(v, d2, True) for v in vals]
        else:
            nums = [Num(v, present.decimals(v, base), True) for v in vals]
        shown = Seq(tuple(Message("segment.slope", level=lev, slope=t) for lev, t in zip(slopes, nums, strict=True)))
        common = {"name": name, "what": what, "segment": seg_name, "p": messages.p_text(p)}
        if differs:
            reading = Message("segment.differs", unit=per_unit, change=lab, slopes=shown, **common)
        else:
            reading = Message("segment.same", **common)
        if left_out:
            reading = Message("segment.left_out", reading=reading, levels=Seq(tuple(map(str, left_out))))
        row.update({"n": sub.n, "df": len(levels) - 1, "statistic": stat, "p_value": p, "differs": differs,
                    "slopes": slopes, "reading": reading})
        rows.append(row)
    for row in rows:  # a frame keeps text, not messages: the reading in the report's language
        if isinstance(row.get("reading"), Message):
            row["reading"] = messages.render(row["reading"], messages.current_language())
    out = pd.DataFrame(rows)
    out.attrs.update(ci=ci, test="HC3 Wald chi-square of the driver x segment interactions")
    return out
