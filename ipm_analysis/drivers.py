"""Relative importance of chain KPIs for a result KPI (NPS, CSAT, review score).

The headline method is the exact Shapley decomposition of R² (also called LMG after
Lindeman, Merenda and Gold 1980, or *general dominance* in dominance analysis; Budescu 1993,
Azen and Budescu 2003). Every driver receives its average increase in R² over all orders in
which the drivers can enter the model, so the importances add up to the model's R².

How it is computed
------------------
A single O(n p²) pass over the rows (centred at the weighted means, in chunks) gives the
(weighted) covariance matrix of the drivers, the controls (``always``) and the target.
Everything else is linear algebra on that small matrix:

1. the ``always`` controls are partialled out by the sweep operator;
2. the residual variance of the target is computed for *every* subset of drivers by a
   level-by-level sweep: at level ``u`` the array holds, for all ``2**u`` subsets of the
   first ``u`` drivers, the partial covariance of the remaining drivers and the target given
   that subset. Going to level ``u + 1`` keeps each subset as it is (driver ``u`` left out)
   and sweeps driver ``u`` into a copy (driver ``u`` put in). Each level is one vectorised
   numpy operation, and the total work is about ``6 * 2**p`` small updates, so 20 drivers
   (about a million subsets) take a fraction of a second;
3. the Shapley values are read off the vector of subset R² values (through the conditional
   dominance table: the mean increment of each driver per model size).

A pivot that is (numerically) zero, i.e. a driver that is a linear combination of the
drivers already in the subset, adds nothing; this is exactly the R² that a least-squares fit
with a pseudo-inverse (``numpy.linalg.lstsq``, statsmodels' ``pinv``) gives, so perfectly
collinear drivers never crash the analysis: they split their common contribution.

Bootstrap intervals resample respondents (a multinomial bootstrap, survey weights travel
with their respondent). The replicate covariance matrices come from one matrix product of
the replicate count matrix with the per-row cross products, then the same subset algebra
runs on all replicates at once. Its cost is about ``n_boot * 2**p`` subset updates plus one
``n_boot x n`` matrix product: 1,000 replicates take about a second at p = 10, n = 100k,
but about 0.25 s *per replicate* at p = 20.

Choices worth knowing
---------------------
* Rows with a missing value in the target, a driver, a control or the weight are dropped
  (listwise); the count is ``attrs["n_dropped"]``.
* A driver with zero variance (after dropping missing rows) is an error that names it: a
  KPI that does not vary in the data carries no information about its importance, and a
  reported importance of 0 would read as "does not matter".
* More than 20 drivers (counting a group as one) is an error: the exact decomposition needs
  ``2**p`` subsets. Group related KPIs with ``groups=`` to stay within the limit.
* If the drivers explain nothing beyond the controls (R² increment 0), the shares are NaN and
  ``attrs["note"]`` says why.

Johnson's (2000) relative weights are offered as ``method="relative_weights"`` because many
market-research reports use them; Thomas, Zumbo, Kwan and Schweitzer (2014) showed that they
can differ markedly from the Shapley values they are meant to approximate, so Shapley is the
headline and relative weights a comparison.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from .checks import name_list
from .errors import AnalysisError

__all__ = [
    "MAX_EXACT_DRIVERS",
    "relative_importance",
]

#: Most drivers (a group counts as one) the exact Shapley decomposition accepts.
MAX_EXACT_DRIVERS = 20

_METHODS = ("shapley", "relative_weights")
# A pivot below this fraction of the variable's own variance means "linearly dependent on
# what is already in the model": the variable then adds nothing (pseudo-inverse convention).
_PIVOT_TOL = 1e-12
# Bound on the number of (replicate x subset) states held in memory at once.
_MAX_BATCH_STATES = 1 << 22


# --------------------------------------------------------------------------------------
# input validation and the model frame
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Design:
    """Validated inputs as arrays.

    Column order of ``X``: the columns of every unit (in unit order), then the ``always``
    columns, then the target as the last column.
    """

    X: np.ndarray
    w: np.ndarray | None
    unit_names: list[str]
    unit_sizes: list[int]
    n_always: int
    n: int
    n_dropped: int
    columns: list[Any]

    @property
    def n_units(self) -> int:
        return len(self.unit_names)

    @property
    def n_driver_cols(self) -> int:
        return int(sum(self.unit_sizes))


def _numeric_column(data: pd.DataFrame, col: Any, role: str) -> np.ndarray:
    if col not in data.columns:
        shown = [str(c) for c in data.columns[:20]]
        more = f" and {len(data.columns) - 20} more" if len(data.columns) > 20 else ""
        raise AnalysisError(
            f"{role} column {col!r} is not in the data; available columns: {shown}{more}"
        )
    s = data[col]
    if isinstance(s, pd.DataFrame):
        raise AnalysisError(f"{role} column {col!r} appears more than once in the data")
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise AnalysisError(
            f"{role} column {col!r} must be numeric (or boolean), got dtype {s.dtype}"
        )
    values = s.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        raise AnalysisError(f"{role} column {col!r} contains infinite values")
    return values


def _build_units(
    drivers: list[Any], groups: Mapping[str, Sequence[Any]] | None
) -> tuple[list[str], list[list[Any]]]:
    """Units (single drivers or groups) in order of first appearance in ``drivers``."""
    if groups is None:
        return [str(d) for d in drivers], [[d] for d in drivers]
    if not isinstance(groups, Mapping):
        raise AnalysisError(
            f"groups must be a dict {{group name: [columns]}}, got {type(groups).__name__}"
        )
    owner: dict[Any, str] = {}
    for name, cols in groups.items():
        cols = name_list(cols, single=False, what=f"group {name!r}")
        if not cols:
            raise AnalysisError(f"group {name!r} is empty; give it at least one driver column")
        for c in cols:
            if c not in drivers:
                raise AnalysisError(
                    f"group {name!r} lists column {c!r}, which is not in drivers; "
                    "every grouped column must also be listed in drivers"
                )
            if c in owner:
                raise AnalysisError(f"column {c!r} is in two groups ({owner[c]!r} and {name!r})")
            owner[c] = str(name)
    singles = {str(d) for d in drivers if d not in owner}
    clash = singles & {str(g) for g in groups}
    if clash:
        raise AnalysisError(
            f"group name(s) {sorted(clash)} equal the name of an ungrouped driver; rename the group"
        )
    names: list[str] = []
    members: list[list[Any]] = []
    seen: dict[str, int] = {}
    for d in drivers:
        if d in owner:
            g = owner[d]
            if g not in seen:
                seen[g] = len(names)
                names.append(g)
                members.append([c for c in groups[g]])
        else:
            names.append(str(d))
            members.append([d])
    return names, members


def _design(
    data: Any,
    target: Any,
    drivers: Any,
    weights: Any = None,
    always: Any = None,
    groups: Mapping[str, Sequence[Any]] | None = None,
    *,
    max_units: int = MAX_EXACT_DRIVERS,
    binary_target: bool = False,
) -> _Design:
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if isinstance(target, (list, tuple, set, dict, np.ndarray, pd.Index, pd.Series)):
        raise AnalysisError(f"target must be one column name, got {type(target).__name__}")
    drivers = name_list(drivers, single=False, what="drivers")
    if not drivers:
        raise AnalysisError("drivers is empty; give at least one driver column")
    always = name_list(always, single=False, what="always")
    if target in drivers:
        raise AnalysisError(f"target {target!r} is also listed in drivers")
    if target in always:
        raise AnalysisError(f"target {target!r} is also listed in always")
    both = [c for c in always if c in drivers]
    if both:
        raise AnalysisError(f"column(s) {both} are in both drivers and always")

    unit_names, unit_members = _build_units(drivers, groups)
    if len(unit_names) > max_units:
        raise AnalysisError(
            f"{len(unit_names)} drivers given, at most {max_units} are supported "
            f"(the exact decomposition needs 2**p subset models); "
            "combine related KPIs with groups= or pre-select drivers"
        )

    driver_cols = [c for members in unit_members for c in members]
    cols = driver_cols + always + [target]
    roles = ["driver"] * len(driver_cols) + ["always"] * len(always) + ["target"]
    X = np.empty((len(data), len(cols)), dtype=float, order="F")  # filled column by column
    missing = np.zeros(len(data), dtype=bool)
    for j, (c, role) in enumerate(zip(cols, roles)):
        X[:, j] = _numeric_column(data, c, role)
        missing |= np.isnan(X[:, j])

    w = None
    if weights is not None:
        if isinstance(weights, str) or (not np.ndim(weights) and weights in data.columns):
            if weights in cols:
                raise AnalysisError(f"weights column {weights!r} is also used as a variable")
            w = _numeric_column(data, weights, "weights")
        else:
            w = np.asarray(weights, dtype=float).ravel()
            if w.shape[0] != len(data):
                raise AnalysisError(
                    f"weights has {w.shape[0]} values but data has {len(data)} rows"
                )
            if np.isinf(w).any():
                raise AnalysisError("weights contain infinite values")
        if (w < 0).any():
            raise AnalysisError(
                f"weights must be non-negative; found {int((w < 0).sum())} negative"
            )

    keep = ~missing
    if w is not None:
        keep &= ~np.isnan(w)
    n_dropped = int((~keep).sum())
    if n_dropped:
        X = X[keep]
        w = None if w is None else w[keep]
    n = X.shape[0]
    n_eff_rows = n if w is None else int((w > 0).sum())
    n_cols = len(driver_cols) + len(always)
    if n_eff_rows < n_cols + 2:
        raise AnalysisError(
            f"too few rows: {n_eff_rows} complete rows with positive weight for "
            f"{n_cols} regressors; need at least {n_cols + 2}"
            + (f" ({n_dropped} rows dropped for missing values)" if n_dropped else "")
        )
    if binary_target:
        y = X[:, -1]
        if not np.isin(y, (0.0, 1.0)).all():
            bad = np.unique(y[~np.isin(y, (0.0, 1.0))])[:5]
            raise AnalysisError(
                f"target {target!r} must be a 0/1 indicator, found values such as {bad.tolist()}"
            )
    return _Design(
        X=X,
        w=w,
        unit_names=unit_names,
        unit_sizes=[len(m) for m in unit_members],
        n_always=len(always),
        n=n,
        n_dropped=n_dropped,
        columns=cols,
    )


def _checked_cov(design: _Design) -> np.ndarray:
    """The (weighted) covariance matrix; errors for a constant target or driver.

    Constant ``always`` columns are harmless (they add nothing beyond the intercept).
    """
    cov, mean = _weighted_cov(design.X, design.w, return_mean=True)
    var = np.diag(cov)
    const = var <= (1e-12 * np.maximum(np.abs(mean), 1.0)) ** 2
    cols = design.columns
    if const[-1]:
        raise AnalysisError(f"target {cols[-1]!r} has zero variance; nothing to explain")
    bad = [cols[j] for j in range(design.n_driver_cols) if const[j]]
    if bad:
        raise AnalysisError(
            f"driver column(s) {bad} have zero variance"
            + (" after dropping rows with missing values" if design.n_dropped else "")
            + "; a constant KPI carries no information about its importance: remove it"
        )
    return cov


def _check_boot_args(n_boot: Any, ci: Any, seed: Any) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, Integral) or n_boot < 0:
        raise AnalysisError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if isinstance(ci, bool) or not isinstance(ci, Real) or not 0 < ci < 1:
        raise AnalysisError(f"ci must be a number strictly between 0 and 1, got {ci!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
        raise AnalysisError(f"seed must be an integer or None, got {seed!r}")


def _check_method(method: Any) -> None:
    if method not in _METHODS:
        raise AnalysisError(f"method must be one of {list(_METHODS)}, got {method!r}")


# --------------------------------------------------------------------------------------
# covariance matrices: the one pass over the rows
# --------------------------------------------------------------------------------------


def _weighted_cov(
    X: np.ndarray, w: np.ndarray | None, chunk: int = 200_000, return_mean: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(Weighted) covariance matrix with the population denominator, in row chunks."""
    n, k = X.shape
    wsum = float(n) if w is None else float(w.sum())
    mean = (X.sum(axis=0) if w is None else w @ X) / wsum
    acc = np.zeros((k, k))
    for start in range(0, n, chunk):
        xc = X[start : start + chunk] - mean
        acc += (xc.T @ xc) if w is None else (xc * w[start : start + chunk, None]).T @ xc
    cov = acc / wsum
    return (cov, mean) if return_mean else cov


def distinct_rows(A: np.ndarray, max_share: float = 0.5) -> tuple[np.ndarray, np.ndarray | None]:
    """``(distinct rows, counts)`` when ``A`` has few distinct rows (at most ``max_share`` of
    them), else ``(A, None)``. Drivers measured in shares, days and counts repeat the same rows
    many times; a model whose likelihood or average is a sum over rows then runs on the distinct
    rows with their counts as frequency weights (the same numbers). A sample of rows decides
    first, so continuous data do not pay for it; the rows are grouped by hashing one integer key
    made of the columns' codes (linear in n)."""
    A = np.asarray(A)
    n = len(A)
    if n == 0:
        return A, None
    probe = A[:: max(1, n // 5000)]
    if len(np.unique(probe, axis=0)) > 0.3 * len(probe):
        return A, None
    key = np.zeros(n, dtype=np.int64)
    room = 1
    for col in A.T:
        codes, uniq = pd.factorize(col)
        room *= max(len(uniq), 1)
        if room > 2 ** 62:
            return A, None
        key = key * max(len(uniq), 1) + codes
    group, _ = pd.factorize(key)
    m = int(group.max()) + 1
    if m > max_share * n:
        return A, None
    first = np.empty(m, dtype=np.int64)
    first[group[::-1]] = np.arange(n - 1, -1, -1)
    return A[first], np.bincount(group, minlength=m).astype(float)


def _bootstrap_covs(
    X: np.ndarray, w: np.ndarray | None, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Covariance matrices of ``n_boot`` multinomial bootstrap replicates, shape (B, k, k).

    Replicate ``b`` has counts ``f_b`` (how often each respondent is drawn). With the rows
    centred at the full-sample mean, its weighted moments are ``f_b @ (w)``, ``f_b @ (w x)``
    and ``f_b @ (w x x')``: one matrix product of the count matrix with the per-row cross
    products gives all replicates at once.
    """
    n, k = X.shape
    ww = np.ones(n) if w is None else w
    # distinct (row, weight) pairs: drawing n rows uniformly and counting them per distinct row
    # is a multinomial draw over the distinct rows with probabilities count / n, so the same
    # bootstrap distribution costs O(distinct rows) instead of O(n) per replicate
    U, cnt = distinct_rows(np.column_stack([X, ww]))
    if cnt is not None:
        X, ww = U[:, :k], U[:, k]
    mean = (ww if cnt is None else ww * cnt) @ X / (ww if cnt is None else ww * cnt).sum()
    n_rows = len(X)
    iu, ju = np.triu_indices(k)
    n_feat = 1 + k + iu.size

    def features(r0: int, r1: int) -> np.ndarray:
        xc = X[r0:r1] - mean
        wc = ww[r0:r1]
        feats = np.empty((r1 - r0, n_feat))
        feats[:, 0] = wc
        feats[:, 1 : 1 + k] = xc * wc[:, None]
        feats[:, 1 + k :] = feats[:, 1 : 1 + k][:, iu] * xc[:, ju]
        return feats

    row_chunk = max(1, 4_000_000 // n_feat)
    cached = features(0, n_rows) if n_rows * n_feat <= 16_000_000 else None
    boot_chunk = max(1, min(n_boot, 20_000_000 // max(n_rows, 1)))
    out = np.empty((n_boot, k, k))
    for b0 in range(0, n_boot, boot_chunk):
        nb = min(boot_chunk, n_boot - b0)
        if cnt is not None:
            counts = rng.multinomial(n, cnt / cnt.sum(), size=nb).astype(float)
        else:
            counts = np.empty((nb, n))
            for b in range(nb):  # one replicate at a time keeps the draws in cache
                counts[b] = np.bincount(rng.integers(0, n, size=n), minlength=n)
        if cached is not None:
            moments = counts @ cached
        else:
            moments = np.zeros((nb, n_feat))
            for r0 in range(0, n_rows, row_chunk):
                r1 = min(n_rows, r0 + row_chunk)
                moments += counts[:, r0:r1] @ features(r0, r1)
        wsum = moments[:, 0]
        wsum = np.where(wsum > 0, wsum, np.nan)
        m1 = moments[:, 1 : 1 + k] / wsum[:, None]
        m2 = np.empty((nb, k, k))
        m2[:, iu, ju] = moments[:, 1 + k :] / wsum[:, None]
        m2[:, ju, iu] = m2[:, iu, ju]
        out[b0 : b0 + nb] = m2 - m1[:, :, None] * m1[:, None, :]
    return out


# --------------------------------------------------------------------------------------
# subset algebra on covariance matrices
# --------------------------------------------------------------------------------------


def _sweep(state: np.ndarray, k: int) -> np.ndarray:
    """Partial variable ``k`` out of a batch of covariance matrices ``(..., m, m)``.

    A pivot below ``_PIVOT_TOL`` (the matrices are scaled so that every original variance
    is 1) means the variable is linearly dependent on what was swept before: it is skipped,
    which is what a pseudo-inverse least-squares fit does.
    """
    piv = state[..., k, k]
    ok = piv > _PIVOT_TOL
    inv = np.where(ok, 1.0 / np.where(ok, piv, 1.0), 0.0)
    col = state[..., :, k]
    return state - inv[..., None, None] * col[..., :, None] * col[..., None, :]


def _standardise(covs: np.ndarray) -> np.ndarray:
    """Scale each covariance matrix so that non-zero variances are 1."""
    d = np.sqrt(np.clip(np.diagonal(covs, axis1=-2, axis2=-1), 0.0, None))
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
    return covs * inv[..., :, None] * inv[..., None, :]


def _partial_out_always(corr: np.ndarray, n_driver_cols: int, n_always: int) -> np.ndarray:
    """Partial the ``always`` columns out; return the matrix of driver columns + target."""
    state = corr
    for a in range(n_always):
        state = _sweep(state, n_driver_cols + a)
    keep = list(range(n_driver_cols)) + [n_driver_cols + n_always]
    return state[..., keep, :][..., :, keep]


def _subset_resid(part: np.ndarray, unit_sizes: Sequence[int]) -> np.ndarray:
    """Residual variance of the target (last column) for every subset of units.

    ``part`` has shape ``(B, m + 1, m + 1)``. Returns ``(B, 2**U)``; subset ``S`` is stored
    at the index whose bit ``u`` is set when unit ``u`` is in ``S``.
    """
    state = part[:, None, :, :]
    for g in unit_sizes:
        swept = state
        for c in range(g):
            swept = _sweep(swept, c)
        state = np.concatenate([state[..., g:, g:], swept[..., g:, g:]], axis=1)
    return state[..., 0, 0]


def _shapley_from_v(v: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values and the conditional dominance table from subset values.

    ``v`` has shape ``(B, 2**U)`` with ``v[:, 0] == 0``. Returns ``phi`` ``(B, U)`` and
    ``cond`` ``(B, U, U)`` where ``cond[:, i, s]`` is the mean increment of unit ``i`` over
    the subsets of ``s`` other units.
    """
    B = v.shape[0]
    U = n_units
    sizes = np.bitwise_count(np.arange(1 << U, dtype=np.uint32)).astype(np.intp)
    n_subsets = np.array([math.comb(U - 1, s) for s in range(U)], dtype=float)
    cond = np.empty((B, U, U))
    for i in range(U):
        shape = (B, 1 << (U - 1 - i), 2, 1 << i)
        vr = v.reshape(shape)
        diff = (vr[:, :, 1, :] - vr[:, :, 0, :]).reshape(B, -1)
        s_idx = sizes.reshape(shape[1:])[:, 0, :].ravel()
        order = np.argsort(s_idx, kind="stable")
        starts = np.searchsorted(s_idx[order], np.arange(U))
        cond[:, i, :] = np.add.reduceat(diff[:, order], starts, axis=1) / n_subsets
    phi = cond.mean(axis=2)
    return phi, cond


@dataclass(frozen=True)
class _Fit:
    importance: np.ndarray  # (B, U)
    r2: np.ndarray  # (B,)
    r2_always: np.ndarray  # (B,)


def _relative_weights(part: np.ndarray, unit_sizes: Sequence[int]) -> np.ndarray:
    """Johnson's relative weights on partial covariance matrices ``(B, m+1, m+1)``.

    Returns ``(B, U)`` raw weights on the R² scale (summed within groups). They add up to
    the R² increment over the ``always`` controls.
    """
    cxx = part[:, :-1, :-1]
    cxy = part[:, :-1, -1]
    cyy = part[:, -1, -1]
    dx = np.diagonal(cxx, axis1=1, axis2=2)
    okx = dx > _PIVOT_TOL
    inv_dx = np.where(okx, 1.0 / np.sqrt(np.where(okx, dx, 1.0)), 0.0)
    oky = cyy > _PIVOT_TOL
    inv_dy = np.where(oky, 1.0 / np.sqrt(np.where(oky, cyy, 1.0)), 0.0)
    rxx = cxx * inv_dx[:, :, None] * inv_dx[:, None, :]
    rxy = cxy * inv_dx * inv_dy[:, None]
    evals, evecs = np.linalg.eigh(rxx)
    top = np.maximum(evals.max(axis=1, keepdims=True), 1e-300)
    keep = evals > 1e-10 * top
    root = np.where(keep, np.sqrt(np.where(keep, evals, 1.0)), 0.0)
    inv_root = np.where(keep, 1.0 / np.where(keep, root, 1.0), 0.0)
    lam = (evecs * root[:, None, :]) @ np.swapaxes(evecs, 1, 2)
    lam_pinv = (evecs * inv_root[:, None, :]) @ np.swapaxes(evecs, 1, 2)
    beta = np.einsum("bjk,bk->bj", lam_pinv, rxy)
    eps = np.einsum("bjk,bk->bj", lam**2, beta**2) * cyy[:, None]
    bounds = np.cumsum([0, *unit_sizes])
    return np.add.reduceat(eps, bounds[:-1], axis=1)


def _fit_covs(covs: np.ndarray, design: _Design, method: str) -> _Fit:
    """Importances for a batch of covariance matrices ``(B, k, k)``."""
    corr = _standardise(covs)
    part = _partial_out_always(corr, design.n_driver_cols, design.n_always)
    cyy_total = np.diagonal(corr, axis1=1, axis2=2)[:, -1]  # 1, or 0 if y is constant
    r2_always = np.where(cyy_total > 0, cyy_total - part[:, -1, -1], 0.0)
    U = design.n_units
    if method == "relative_weights":
        imp = _relative_weights(part, design.unit_sizes)
        return _Fit(imp, r2_always + imp.sum(axis=1), r2_always)

    B = covs.shape[0]
    per = max(1, _MAX_BATCH_STATES >> U)
    imps = []
    for b0 in range(0, B, per):
        chunk = part[b0 : b0 + per]
        resid = _subset_resid(chunk, design.unit_sizes)
        v = chunk[:, -1, -1][:, None] - resid
        v[:, 0] = 0.0
        phi, _ = _shapley_from_v(v, U)
        imps.append(phi)
    imp = np.concatenate(imps)
    return _Fit(imp, r2_always + imp.sum(axis=1), r2_always)


def _boot_fit(design: _Design, method: str, n_boot: int, seed: int | None) -> np.ndarray:
    """Bootstrap importances ``(n_boot, U)`` (rows: replicates)."""
    rng = np.random.default_rng(seed)
    covs = _bootstrap_covs(design.X, design.w, n_boot, rng)
    valid = np.isfinite(covs).all(axis=(1, 2))
    imp = np.full((n_boot, design.n_units), np.nan)
    if valid.any():
        imp[valid] = _fit_covs(covs[valid], design, method).importance
    return imp


# --------------------------------------------------------------------------------------
# result frames
# --------------------------------------------------------------------------------------


def _shares(imp: np.ndarray) -> np.ndarray:
    total = imp.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.abs(total) > 1e-14, imp / np.where(total == 0, 1.0, total), np.nan)


def _rank(values: np.ndarray) -> np.ndarray:
    """1 = largest; values equal to 12 decimals (e.g. duplicated drivers) share a rank."""
    rounded = pd.Series(np.round(values, 12))
    return rounded.rank(ascending=False, method="min").to_numpy().astype(int)


def _ranks_rows(imp: np.ndarray) -> np.ndarray:
    """Rank (1 = largest) within every row of ``imp`` ``(B, U)``; ties broken by position."""
    order = np.argsort(-imp, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, imp.shape[1] + 1)[None, :], axis=1)
    return ranks


def _frame(
    design: _Design, imp: np.ndarray, r2: float, r2_always: float, method: str, target: Any
) -> pd.DataFrame:
    share = _shares(imp)
    df = pd.DataFrame(
        {"importance": imp, "share": share, "rank": _rank(imp)},
        index=pd.Index(design.unit_names, name="driver"),
    )
    df.attrs.update(
        {
            "target": str(target),
            "method": method,
            "r2": float(r2),
            "r2_always": float(r2_always),
            "n": int(design.n),
            "n_dropped": int(design.n_dropped),
            "weighted": design.w is not None,
        }
    )
    if np.isnan(share).all():
        df.attrs["note"] = (
            "the drivers explain no variance beyond the always covariates "
            "(R² increment is 0), so shares are undefined (NaN)"
        )
    return df


def _quantiles(x: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1.0 - ci) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        lo, hi = np.nanquantile(x, [alpha, 1.0 - alpha], axis=0)
    return lo, hi


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def _rank_interval(ranks: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    if ranks.shape[0] == 0:
        nan = np.full(ranks.shape[1], np.nan)
        return nan, nan
    alpha = (1.0 - ci) / 2.0
    lo = np.quantile(ranks, alpha, axis=0, method="inverted_cdf")
    hi = np.quantile(ranks, 1.0 - alpha, axis=0, method="inverted_cdf")
    return lo.astype(int), hi.astype(int)


def relative_importance(
    data: pd.DataFrame,
    target: str,
    drivers: Sequence[str],
    method: str = "shapley",
    weights: str | Sequence[float] | np.ndarray | None = None,
    always: Sequence[str] | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    n_boot: int = 0,
    ci: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Split the R² of a linear driver model into one contribution per driver.

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    target : str
        Result-KPI column (e.g. the 0-10 recommendation score).
    drivers : list of str
        Chain-KPI columns whose importance is wanted.
    method : {"shapley", "relative_weights"}
        ``"shapley"`` (default): the exact Shapley value / LMG / general dominance
        decomposition of R² over all ``2**p`` subsets of drivers. ``"relative_weights"``:
        Johnson's (2000) relative weights, a fast approximation criticised by Thomas et al.
        (2014) because it can differ markedly from the Shapley values; use it for
        comparison only.
    weights : str or array-like, optional
        Survey weights: a column name or one value per row. Weighted least squares R².
    always : list of str, optional
        Controls kept in every subset model (e.g. segment dummies). Their own R² is
        reported in ``attrs["r2_always"]`` and is *not* distributed over the drivers.
    groups : dict, optional
        ``{group name: [driver columns]}``: the columns of a group enter and leave the
        model together and receive one importance. Grouped columns must also be listed in
        ``drivers``; drivers in no group stay single.
    n_boot : int, default 0
        Number of bootstrap replicates (respondents resampled with replacement). With
        ``n_boot > 0`` percentile intervals are added.
    ci : float, default 0.95
        Coverage of the bootstrap intervals.
    seed : int or None, default 0
        Seed of the bootstrap; the same seed gives the same intervals.

    Returns
    -------
    DataFrame
        Indexed by driver (or group name), in the order of ``drivers``, with columns

        * ``importance``: contribution to R²; sums to ``attrs["r2"] - attrs["r2_always"]``;
        * ``share``: ``importance`` divided by its sum (sums to 1; NaN if the sum is 0);
        * ``rank``: 1 for the most important driver;
        * with ``n_boot > 0``: ``ci_low``, ``ci_high`` (interval of ``share``),
          ``importance_ci_low``, ``importance_ci_high``, ``rank_ci_low``, ``rank_ci_high``
          and ``p_rank_1`` (share of replicates in which the driver ranks first).

        ``attrs`` holds ``r2`` (full model), ``r2_always``, ``n`` (rows used),
        ``n_dropped`` (rows dropped for missing values), ``method``, ``target``,
        ``weighted`` and, with a bootstrap, ``n_boot``, ``ci`` and ``seed``.

    Raises
    ------
    AnalysisError
        For unknown or non-numeric columns, a constant driver or target, fewer rows than
        regressors + 2, more than 20 drivers, or invalid arguments.

    Notes
    -----
    The data are read once to form the (weighted) covariance matrix; every subset R² is
    then computed from that matrix by sweeps, never by refitting on the rows. Collinear
    drivers are handled like a pseudo-inverse least-squares fit would handle them.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> kpis = ["on_time", "first_time_right", "lead_days"]
    >>> df = pd.DataFrame(rng.normal(size=(500, 3)), columns=kpis)
    >>> df["score"] = 2 * df["on_time"] + df["first_time_right"] + rng.normal(size=500)
    >>> res = relative_importance(df, "score", kpis)
    >>> res["rank"].tolist()
    [1, 2, 3]
    >>> float(round(res["share"].sum(), 9))
    1.0
    """
    _check_method(method)
    _check_boot_args(n_boot, ci, seed)
    design = _design(data, target, drivers, weights, always, groups)
    cov = _checked_cov(design)
    fit = _fit_covs(cov[None], design, method)
    imp = fit.importance[0]
    df = _frame(design, imp, fit.r2[0], fit.r2_always[0], method, target)
    if n_boot:
        boot = _boot_fit(design, method, int(n_boot), seed)
        shares = _shares(boot)
        df["ci_low"], df["ci_high"] = _quantiles(shares, ci)
        df["importance_ci_low"], df["importance_ci_high"] = _quantiles(boot, ci)
        ok = np.isfinite(boot).all(axis=1)
        ranks = _ranks_rows(boot[ok])
        lo, hi = _rank_interval(ranks, ci)
        df["rank_ci_low"], df["rank_ci_high"] = lo, hi
        df["p_rank_1"] = (ranks == 1).mean(axis=0) if ok.any() else np.nan
        df.attrs.update({"n_boot": int(n_boot), "ci": float(ci), "seed": seed})
    return df


