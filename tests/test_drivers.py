"""Tests for ipm_analysis.drivers: relative importance (Shapley/LMG, relative weights), bootstrap.

Reference values come from three places:

* brute force: every subset model refitted with statsmodels (OLS / WLS / Logit) and the
  Shapley formula written out plainly; Johnson's relative weights written out plainly;
* published worked examples on the R data sets in tests/data/reference (sources cited at
  each test, numbers quoted with the precision they were published with);
* invariants that must hold whatever the data.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from ipm_analysis import drivers as drivers_module
from ipm_analysis.drivers import (
    relative_importance,
)
from ipm_analysis.errors import AnalysisError, IpmError

REF = Path(__file__).parent / "data" / "reference"


# --------------------------------------------------------------------------------------
# reference implementations, written plainly
# --------------------------------------------------------------------------------------


def _r2(df, target, cols, w=None):
    """R² of an OLS (or WLS) fit with intercept, via statsmodels."""
    exog = (
        sm.add_constant(df[cols].to_numpy(float), has_constant="add")
        if cols
        else np.ones((len(df), 1))
    )
    y = df[target].to_numpy(float)
    if not cols:
        return 0.0
    fit = sm.OLS(y, exog).fit() if w is None else sm.WLS(y, exog, weights=w).fit()
    return fit.rsquared


def _shapley_brute(value, units):
    """Textbook Shapley values: sum over subsets S of the others of
    |S|! (p - |S| - 1)! / p! * (v(S + i) - v(S))."""
    p = len(units)
    phi = {}
    for i in units:
        others = [u for u in units if u != i]
        total = 0.0
        for k in range(p):
            weight = math.factorial(k) * math.factorial(p - k - 1) / math.factorial(p)
            for subset in itertools.combinations(others, k):
                total += weight * (value(subset + (i,)) - value(subset))
        phi[i] = total
    return phi


def _brute_importance(df, target, units, always=(), w=None):
    """units: dict name -> list of columns. Returns (phi dict, r2 full, r2 always)."""
    cache = {}

    def r2_of(subset):
        key = frozenset(subset)
        if key not in cache:
            cols = list(always) + [c for u in subset for c in units[u]]
            cache[key] = _r2(df, target, cols, w)
        return cache[key]

    r2_always = r2_of(())
    phi = _shapley_brute(lambda s: r2_of(s) - r2_always, list(units))
    return phi, r2_of(tuple(units)), r2_always


def _johnson(rxx, rxy):
    """Johnson (2000) raw relative weights from a correlation matrix, plainly."""
    evals, evecs = np.linalg.eigh(rxx)
    lam = evecs @ np.diag(np.sqrt(evals)) @ evecs.T  # correlations of x with the z's
    beta = np.linalg.solve(lam, rxy)  # regression of y on the orthogonal z's
    return (lam**2) @ (beta**2)


def _weighted_corr(M, w=None):
    c = np.cov(M, rowvar=False, aweights=w)
    d = np.sqrt(np.diag(c))
    return c / np.outer(d, d)


def _survey(n=400, p=6, seed=0):
    """Correlated drivers, a target, two segment dummies and positive survey weights."""
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(p, p)) * 0.4 + np.eye(p)
    X = rng.normal(size=(n, p)) @ L
    seg = rng.integers(0, 3, size=n)
    beta = np.linspace(0.8, 0.0, p)
    y = X @ beta + 0.7 * (seg == 1) - 0.5 * (seg == 2) + rng.normal(size=n) * 1.5
    df = pd.DataFrame(X, columns=[f"k{j}" for j in range(p)])
    df["seg_b"] = (seg == 1).astype(float)
    df["seg_c"] = (seg == 2).astype(float)
    df["score"] = y
    df["w"] = rng.uniform(0.3, 3.0, size=n)
    return df


DRIVERS6 = [f"k{j}" for j in range(6)]


# --------------------------------------------------------------------------------------
# 1. brute force
# --------------------------------------------------------------------------------------


def test_shapley_equals_brute_force_ols():
    df = _survey()
    res = relative_importance(df, "score", DRIVERS6)
    phi, r2, _r2a = _brute_importance(df, "score", {d: [d] for d in DRIVERS6})
    np.testing.assert_allclose(res["importance"], [phi[d] for d in DRIVERS6], rtol=0, atol=1e-9)
    assert res.attrs["r2"] == pytest.approx(r2, abs=1e-9)
    assert res.attrs["r2_always"] == 0.0
    assert res.attrs["method"] == "shapley"
    assert res.attrs["n"] == len(df)


def test_shapley_with_always_equals_brute_force():
    df = _survey(seed=1)
    drivers = DRIVERS6[:5]
    res = relative_importance(df, "score", drivers, always=["seg_b", "seg_c"])
    phi, r2, r2a = _brute_importance(
        df, "score", {d: [d] for d in drivers}, always=["seg_b", "seg_c"]
    )
    np.testing.assert_allclose(res["importance"], [phi[d] for d in drivers], atol=1e-9)
    assert res.attrs["r2"] == pytest.approx(r2, abs=1e-9)
    assert res.attrs["r2_always"] == pytest.approx(r2a, abs=1e-9)
    assert r2a > 0.01  # the controls really explain something
    assert res["importance"].sum() == pytest.approx(r2 - r2a, abs=1e-12)


def test_shapley_with_groups_equals_brute_force():
    df = _survey(seed=2)
    groups = {"delivery": ["k1", "k2"], "contact": ["k4", "k5"]}
    res = relative_importance(df, "score", DRIVERS6, groups=groups)
    units = {"k0": ["k0"], "delivery": ["k1", "k2"], "k3": ["k3"], "contact": ["k4", "k5"]}
    phi, r2, _ = _brute_importance(df, "score", units)
    assert list(res.index) == list(units)  # order of first appearance in drivers
    np.testing.assert_allclose(res["importance"], [phi[u] for u in units], atol=1e-9)
    assert res.attrs["r2"] == pytest.approx(r2, abs=1e-9)


def test_shapley_with_weights_equals_brute_force_wls():
    df = _survey(seed=3)
    res = relative_importance(df, "score", DRIVERS6, weights="w")
    phi, r2, _ = _brute_importance(df, "score", {d: [d] for d in DRIVERS6}, w=df["w"].to_numpy())
    np.testing.assert_allclose(res["importance"], [phi[d] for d in DRIVERS6], atol=1e-9)
    assert res.attrs["r2"] == pytest.approx(r2, abs=1e-9)
    assert res.attrs["weighted"] is True
    # an array of weights gives the same as the column name
    res2 = relative_importance(df, "score", DRIVERS6, weights=df["w"].to_numpy())
    np.testing.assert_allclose(res2["importance"], res["importance"], atol=1e-14)


def test_shapley_weights_always_and_groups_together():
    df = _survey(n=300, seed=4)
    groups = {"g": ["k0", "k3"]}
    res = relative_importance(
        df, "score", DRIVERS6[:5], weights="w", always=["seg_b", "seg_c"], groups=groups
    )
    units = {"g": ["k0", "k3"], "k1": ["k1"], "k2": ["k2"], "k4": ["k4"]}
    phi, r2, r2a = _brute_importance(
        df, "score", units, always=["seg_b", "seg_c"], w=df["w"].to_numpy()
    )
    np.testing.assert_allclose(res["importance"], [phi[u] for u in units], atol=1e-9)
    assert res.attrs["r2"] == pytest.approx(r2, abs=1e-9)
    assert res.attrs["r2_always"] == pytest.approx(r2a, abs=1e-9)


def test_relative_weights_equal_plain_johnson():
    df = _survey(seed=5)
    res = relative_importance(df, "score", DRIVERS6, method="relative_weights")
    R = _weighted_corr(df[DRIVERS6 + ["score"]].to_numpy())
    eps = _johnson(R[:-1, :-1], R[:-1, -1])
    np.testing.assert_allclose(res["importance"], eps, atol=1e-9)
    assert res.attrs["r2"] == pytest.approx(_r2(df, "score", DRIVERS6), abs=1e-9)
    assert res.attrs["method"] == "relative_weights"


def test_relative_weights_weighted_equal_plain_johnson():
    df = _survey(seed=6)
    w = df["w"].to_numpy()
    res = relative_importance(df, "score", DRIVERS6, method="relative_weights", weights="w")
    R = _weighted_corr(df[DRIVERS6 + ["score"]].to_numpy(), w)
    np.testing.assert_allclose(res["importance"], _johnson(R[:-1, :-1], R[:-1, -1]), atol=1e-9)


def test_relative_weights_with_always_and_groups():
    """With controls, the weights are Johnson's weights on the residuals after the controls,
    on the R² scale (times 1 - R²_always); a group gets the sum of its columns' weights."""
    df = _survey(seed=7)
    A = sm.add_constant(df[["seg_b", "seg_c"]].to_numpy())
    resid = {
        c: df[c].to_numpy() - A @ np.linalg.lstsq(A, df[c].to_numpy(), rcond=None)[0]
        for c in DRIVERS6 + ["score"]
    }
    R = _weighted_corr(np.column_stack([resid[c] for c in DRIVERS6 + ["score"]]))
    eps = _johnson(R[:-1, :-1], R[:-1, -1]) * (1 - _r2(df, "score", ["seg_b", "seg_c"]))
    res = relative_importance(
        df,
        "score",
        DRIVERS6,
        method="relative_weights",
        always=["seg_b", "seg_c"],
        groups={"pair": ["k2", "k3"]},
    )
    expected = [eps[0], eps[1], eps[2] + eps[3], eps[4], eps[5]]
    np.testing.assert_allclose(res["importance"], expected, atol=1e-9)
    r2 = _r2(df, "score", ["seg_b", "seg_c"] + DRIVERS6)
    assert res.attrs["r2"] == pytest.approx(r2, abs=1e-9)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.SingularMatrixWarning")
def test_perfectly_collinear_drivers_match_pinv_fits():
    """x3 = x1 + x2 exactly: no crash, and every subset R² is the least-squares
    (pseudo-inverse) R² that statsmodels reports."""
    df = _survey(n=200, seed=8)
    df["k_sum"] = df["k1"] + df["k2"]
    drivers = ["k0", "k1", "k2", "k_sum"]
    res = relative_importance(df, "score", drivers)
    phi, r2, _ = _brute_importance(df, "score", {d: [d] for d in drivers})
    np.testing.assert_allclose(res["importance"], [phi[d] for d in drivers], atol=1e-8)
    assert res["importance"].sum() == pytest.approx(r2, abs=1e-9)
    rw = relative_importance(df, "score", drivers, method="relative_weights")
    assert rw["importance"].sum() == pytest.approx(r2, abs=1e-8)
    assert np.isfinite(rw["importance"]).all()


def test_duplicated_driver_splits_its_contribution_equally():
    df = _survey(n=200, seed=9)
    df["k1_copy"] = df["k1"]
    res = relative_importance(df, "score", ["k0", "k1", "k1_copy"])
    assert res.loc["k1", "importance"] == pytest.approx(res.loc["k1_copy", "importance"], abs=1e-12)
    assert res["importance"].sum() == pytest.approx(_r2(df, "score", ["k0", "k1"]), abs=1e-12)


def test_driver_collinear_with_always_gets_zero():
    df = _survey(n=200, seed=10)
    df["seg_b_again"] = df["seg_b"] * 2.0 + 1.0
    res = relative_importance(df, "score", ["k0", "seg_b_again"], always=["seg_b", "seg_c"])
    assert res.loc["seg_b_again", "importance"] == pytest.approx(0.0, abs=1e-12)


def test_twelve_drivers_equal_brute_force():
    """A larger case (4,096 subsets) checked against a plain numpy least-squares brute force."""
    rng = np.random.default_rng(11)
    n, p = 150, 12
    X = rng.normal(size=(n, p)) + rng.normal(size=(n, 1))
    y = X @ rng.normal(size=p) + rng.normal(size=n) * 3
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)]).assign(y=y)
    res = relative_importance(df, "y", list(df.columns[:p]))
    yc = y - y.mean()
    Xc = X - X.mean(axis=0)
    r2 = np.zeros(1 << p)
    for mask in range(1, 1 << p):
        cols = [j for j in range(p) if mask >> j & 1]
        b = np.linalg.lstsq(Xc[:, cols], yc, rcond=None)[0]
        r2[mask] = 1 - np.sum((yc - Xc[:, cols] @ b) ** 2) / np.sum(yc**2)
    phi = np.zeros(p)
    for mask in range(1 << p):
        k = (mask).bit_count()
        for j in range(p):
            if not mask >> j & 1:
                wgt = math.factorial(k) * math.factorial(p - k - 1) / math.factorial(p)
                phi[j] += wgt * (r2[mask | 1 << j] - r2[mask])
    np.testing.assert_allclose(res["importance"], phi, atol=1e-10)


# --------------------------------------------------------------------------------------
# 2. published worked examples
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attitude():
    return pd.read_csv(REF / "attitude.csv")


@pytest.fixture(scope="module")
def mtcars():
    return pd.read_csv(REF / "mtcars.csv")


ATTITUDE = ["complaints", "privileges", "learning", "raises", "critical", "advance"]


def test_attitude_general_dominance_matches_dominanceanalysis_readme(attitude):
    """Source: R package dominanceanalysis (Bustos Navarrete & Coutinho Soares), README,
    https://github.com/clbustos/dominanceAnalysis, lm(rating ~ ., attitude):

        Average contribution:
        complaints   learning     raises privileges    advance   critical
             0.371      0.156      0.120      0.051      0.028      0.007
    """
    published = {
        "complaints": 0.371,
        "learning": 0.156,
        "raises": 0.120,
        "privileges": 0.051,
        "advance": 0.028,
        "critical": 0.007,
    }
    res = relative_importance(attitude, "rating", ATTITUDE)
    for name, value in published.items():
        assert round(res.loc[name, "importance"], 3) == pytest.approx(value, abs=1e-12), name
    # the ranking printed by the README, most important first
    assert list(res.sort_values("rank").index) == list(published)


def test_mtcars_dominance_matches_domir_vignette(mtcars):
    """Source: R package domir (Luchman), vignette 'Conceptual Introduction to Dominance
    Analysis' (domir_basics, 2023-04-24), domin(mpg ~ am + cyl + carb, lm,
    list(summary, "r.squared"), data = mtcars):

        Overall Fit Statistic:      0.8113023
             General Dominance Standardized Ranks
        am           0.2156848    0.2658501     2
        cyl          0.4173094    0.5143698     1
        carb         0.1783081    0.2197801     3
                IVs: 1    IVs: 2     IVs: 3
        am   0.3597989 0.2164938 0.07076149
        cyl  0.7261800 0.4181185 0.10762967
        carb 0.3035184 0.1791172 0.05228872
        Complete: cyl dominates am and carb; am dominates carb.
    """
    # general dominance is the Shapley (LMG) importance; the conditional and complete
    # dominance tables of the vignette are not part of the report
    res = relative_importance(mtcars, "mpg", ["am", "cyl", "carb"])
    assert res.attrs["r2"] == pytest.approx(0.8113023, abs=5e-8)
    np.testing.assert_allclose(res["importance"], [0.2156848, 0.4173094, 0.1783081], atol=5e-8)
    np.testing.assert_allclose(res["share"], [0.2658501, 0.5143698, 0.2197801], atol=5e-8)
    assert list(res["rank"]) == [2, 1, 3]


def test_mtcars_relative_weights_match_rwa_readme(mtcars):
    """Source: R package rwa (Martin Chan), README 'Basic example',
    https://github.com/martinctc/rwa, rwa(mtcars, outcome = "mpg",
    predictors = c("cyl", "disp", "hp", "gear")):

        $rsquare 0.7791896
          Variables Raw.RelWeight Rescaled.RelWeight
        1       cyl     0.2284797           29.32274
        2      disp     0.2221469           28.50999
        3        hp     0.2321744           29.79691
        4      gear     0.0963886           12.37037
    """
    res = relative_importance(
        mtcars, "mpg", ["cyl", "disp", "hp", "gear"], method="relative_weights"
    )
    assert res.attrs["r2"] == pytest.approx(0.7791896, abs=5e-8)
    np.testing.assert_allclose(
        res["importance"], [0.2284797, 0.2221469, 0.2321744, 0.0963886], atol=5e-8
    )
    np.testing.assert_allclose(
        res["share"] * 100, [29.32274, 28.50999, 29.79691, 12.37037], atol=5e-6
    )


def test_swiss_lmg_equals_brute_force():
    """relaimpo's documented example (Grömping 2006, JSS 17(1)) uses swiss, but its printed
    lmg values could not be found in the sources searched, so swiss is checked against the
    brute-force reference only (see the report)."""
    swiss = pd.read_csv(REF / "swiss.csv")
    preds = ["Agriculture", "Examination", "Education", "Catholic", "Infant.Mortality"]
    res = relative_importance(swiss, "Fertility", preds)
    phi, r2, _ = _brute_importance(swiss, "Fertility", {p: [p] for p in preds})
    np.testing.assert_allclose(res["importance"], [phi[p] for p in preds], atol=1e-12)
    assert res.attrs["r2"] == pytest.approx(r2, abs=1e-12)


# --------------------------------------------------------------------------------------
# 3. invariants
# --------------------------------------------------------------------------------------


def test_shares_and_importances_add_up():
    df = _survey(seed=12)
    for method in ("shapley", "relative_weights"):
        res = relative_importance(df, "score", DRIVERS6, method=method, always=["seg_b"])
        assert res["share"].sum() == pytest.approx(1.0, abs=1e-12)
        assert res["importance"].sum() == pytest.approx(
            res.attrs["r2"] - res.attrs["r2_always"], abs=1e-12
        )
        assert sorted(res["rank"]) == list(range(1, 7))
        assert res["rank"].idxmin() == res["importance"].idxmax()


def test_invariant_to_row_order_and_driver_scale():
    df = _survey(seed=13)
    base = relative_importance(df, "score", DRIVERS6, weights="w", always=["seg_b"])
    shuffled = df.sample(frac=1.0, random_state=1)
    again = relative_importance(shuffled, "score", DRIVERS6, weights="w", always=["seg_b"])
    np.testing.assert_allclose(again["importance"], base["importance"], atol=1e-12)
    scaled = df.assign(k0=df["k0"] * 1000 + 5, k3=-df["k3"] / 7, score=df["score"] * 10 - 3)
    rescaled = relative_importance(scaled, "score", DRIVERS6, weights="w", always=["seg_b"])
    np.testing.assert_allclose(rescaled["importance"], base["importance"], atol=1e-12)
    for method in ("relative_weights",):
        a = relative_importance(df, "score", DRIVERS6, method=method)
        b = relative_importance(scaled, "score", DRIVERS6, method=method)
        np.testing.assert_allclose(a["importance"], b["importance"], atol=1e-12)


def test_groups_of_one_column_change_nothing():
    df = _survey(seed=15)
    plain = relative_importance(df, "score", DRIVERS6)
    grouped = relative_importance(df, "score", DRIVERS6, groups={"only_k2": ["k2"]})
    np.testing.assert_allclose(grouped["importance"], plain["importance"], atol=1e-14)
    assert "only_k2" in grouped.index


def test_missing_values_dropped_listwise():
    df = _survey(seed=16)
    dirty = df.copy()
    dirty.loc[[3, 10, 11], "k1"] = np.nan
    dirty.loc[[20], "score"] = np.nan
    dirty.loc[[30], "w"] = np.nan
    dirty.loc[[40], "seg_b"] = np.nan
    res = relative_importance(dirty, "score", DRIVERS6, weights="w", always=["seg_b"])
    assert res.attrs["n_dropped"] == 6
    assert res.attrs["n"] == len(df) - 6
    clean = relative_importance(dirty.dropna(), "score", DRIVERS6, weights="w", always=["seg_b"])
    np.testing.assert_allclose(res["importance"], clean["importance"], atol=1e-14)
    # nullable integer and boolean columns are accepted
    df2 = df.assign(flag=(df["k0"] > 0), k_int=pd.array(np.round(df["k1"] * 10), dtype="Int64"))
    df2.loc[5, "k_int"] = pd.NA
    res2 = relative_importance(df2, "score", ["flag", "k_int", "k2"])
    assert res2.attrs["n_dropped"] == 1


def test_zero_increment_gives_nan_shares_with_note():
    df = _survey(seed=17)
    df["score_exact"] = 2.0 * df["seg_b"] - df["seg_c"]
    res = relative_importance(df, "score_exact", ["k0", "k1"], always=["seg_b", "seg_c"])
    assert res.attrs["r2"] == pytest.approx(1.0)
    np.testing.assert_allclose(res["importance"], 0.0, atol=1e-12)
    assert res["share"].isna().all()
    assert "undefined" in res.attrs["note"]


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"drivers": ["k0", "nope"]}, "'nope' is not in the data"),
        ({"drivers": []}, "drivers is empty"),
        ({"drivers": "k0"}, "must be a list"),
        ({"drivers": ["k0", "k0"]}, "more than once"),
        ({"drivers": ["k0", "score"]}, "also listed in drivers"),
        ({"drivers": ["k0", "label"]}, "'label' must be numeric"),
        ({"drivers": ["k0", "constant"]}, "['constant'] have zero variance"),
        ({"drivers": ["k0"], "always": ["k0"]}, "both drivers and always"),
        ({"drivers": ["k0"], "method": "lmg"}, "method must be one of"),
        ({"drivers": ["k0"], "weights": "neg"}, "non-negative"),
        ({"drivers": ["k0"], "weights": [1.0, 2.0]}, "2 values but data has"),
        ({"drivers": ["k0"], "n_boot": -1}, "n_boot"),
        ({"drivers": ["k0"], "ci": 1.5}, "ci must be"),
        ({"drivers": ["k0", "k1"], "groups": {"g": ["k1", "k9"]}}, "not in drivers"),
        ({"drivers": ["k0", "k1"], "groups": {"g": ["k1"], "h": ["k1"]}}, "two groups"),
        ({"drivers": ["k0", "k1"], "groups": {"k0": ["k1"]}}, "rename the group"),
        ({"drivers": ["k0", "k1"], "groups": {"g": []}}, "is empty"),
        ({"drivers": ["k0"], "target": "k_inf"}, "infinite"),
    ],
)
def test_errors_are_clear(kwargs, message):
    df = _survey(n=50, seed=18)
    df["label"] = "x"
    df["constant"] = 3.0
    df["neg"] = -1.0
    df["k_inf"] = np.inf
    args = {"data": df, "target": "score"}
    args.update(kwargs)
    with pytest.raises(AnalysisError) as info:
        relative_importance(**args)
    assert message in str(info.value)
    assert isinstance(info.value, IpmError)


def test_constant_target_and_too_few_rows():
    df = _survey(n=50, seed=19)
    with pytest.raises(AnalysisError, match="target 'c' has zero variance"):
        relative_importance(df.assign(c=1.0), "c", ["k0"])
    small = df.head(7)
    with pytest.raises(AnalysisError, match="too few rows: 7 .* need at least 8"):
        relative_importance(small, "score", DRIVERS6)
    assert relative_importance(df.head(8), "score", DRIVERS6)["importance"].notna().all()
    with pytest.raises(AnalysisError, match="not a pandas DataFrame|must be a pandas DataFrame"):
        relative_importance(df.to_numpy(), "score", ["k0"])


def test_more_than_twenty_drivers_is_an_error_but_groups_help():
    rng = np.random.default_rng(20)
    df = pd.DataFrame(rng.normal(size=(100, 22)), columns=[f"x{j}" for j in range(22)])
    df["y"] = df.sum(axis=1) + rng.normal(size=100)
    cols = [f"x{j}" for j in range(22)]
    with pytest.raises(AnalysisError, match="22 drivers given, at most 20"):
        relative_importance(df, "y", cols)
    res = relative_importance(df, "y", cols, groups={"g": ["x0", "x1", "x2"]})
    assert len(res) == 20
    assert res["importance"].sum() == pytest.approx(res.attrs["r2"], abs=1e-10)


# --------------------------------------------------------------------------------------
# 4. bootstrap
# --------------------------------------------------------------------------------------


def _strong_and_null(n=600, seed=21):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = 1.0 * X[:, 0] + 0.3 * X[:, 1] + rng.normal(size=n)  # x2 is a null driver
    return pd.DataFrame(X, columns=["strong", "weak", "null"]).assign(y=y)


def test_bootstrap_is_deterministic_and_covers_point_estimate():
    df = _strong_and_null()
    a = relative_importance(df, "y", ["strong", "weak", "null"], n_boot=300, seed=7)
    b = relative_importance(df, "y", ["strong", "weak", "null"], n_boot=300, seed=7)
    c = relative_importance(df, "y", ["strong", "weak", "null"], n_boot=300, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"], c["ci_low"])
    assert ((a["ci_low"] <= a["share"]) & (a["share"] <= a["ci_high"])).all()
    assert (
        (a["importance_ci_low"] <= a["importance"]) & (a["importance"] <= a["importance_ci_high"])
    ).all()
    assert a.attrs["n_boot"] == 300 and a.attrs["seed"] == 7
    for col in (
        "ci_low",
        "ci_high",
        "importance_ci_low",
        "rank_ci_low",
        "rank_ci_high",
        "p_rank_1",
    ):
        assert col in a.columns


def test_bootstrap_separates_strong_from_null_driver():
    df = _strong_and_null()
    res = relative_importance(df, "y", ["strong", "weak", "null"], n_boot=400, seed=1)
    # the null driver's interval reaches down to ~0 (its importance cannot be negative)
    assert res.loc["null", "importance_ci_low"] < 0.002
    assert res.loc["null", "ci_high"] < 0.03
    # the strong driver's interval excludes 0 by far, and it ranks first in every replicate
    assert res.loc["strong", "importance_ci_low"] > 0.2
    assert res.loc["strong", "p_rank_1"] == 1.0
    assert res.loc["strong", "rank_ci_high"] == 1


def test_bootstrap_replicates_equal_direct_resampling():
    """The fast path (count matrix x cross products) equals refitting on resampled rows."""
    df = _survey(n=120, seed=22)
    drivers = ["k0", "k1", "k2"]
    design = drivers_module._design(df, "score", drivers, "w", ["seg_b"], None)
    boot = drivers_module._boot_fit(design, "shapley", 5, seed=3)
    rng = np.random.default_rng(3)
    for b in range(5):
        idx = rng.integers(0, len(df), size=len(df))
        direct = relative_importance(
            df.iloc[idx].reset_index(drop=True), "score", drivers, weights="w", always=["seg_b"]
        )
        np.testing.assert_allclose(boot[b], direct["importance"], atol=1e-10)


def test_bootstrap_works_for_relative_weights_and_groups():
    df = _survey(n=300, seed=23)
    res = relative_importance(
        df,
        "score",
        DRIVERS6,
        method="relative_weights",
        groups={"g": ["k4", "k5"]},
        weights="w",
        n_boot=100,
        seed=0,
    )
    assert res[["ci_low", "ci_high"]].notna().all().all()
    assert (res["ci_low"] <= res["ci_high"]).all()
