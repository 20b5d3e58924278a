"""Tests for ipm_analysis.effects: driver models, effects in the KPI's unit, diagnostics.

Simulated data come from a proportional-odds (ordinal logit) model on the 0-10 scale, so the
truth of every quantity is known exactly for the sample's drivers:

* the OLS target: the least-squares projection of ``E[score | X]`` on X;
* the NPS effect of a change: the mean over respondents of the true NPS difference.

Intervals are checked at 99 % on one fixed seed each (deterministic, not flaky).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit
from statsmodels.stats.outliers_influence import variance_inflation_factor

from ipm_analysis import messages
from ipm_analysis.config import RatingScale
from ipm_analysis.errors import AnalysisError
from ipm_analysis.modelframe import frame_from_data
from ipm_analysis.effects import (
    change_label,
    collinearity,
    default_change,
    driver_effects,
    find_threshold,
    fit_box_logits,
    fit_ols,
    fit_ordinal,
    response_curve_table,
    segment_difference,
    segment_drivers,
)

CUTS = np.array([-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.8, 1.6, 2.6])  # 11 levels, 0..10
BETA = {"on_time": 1.2, "lead_time": -0.08, "noise": 0.0}


def level_probs(eta: np.ndarray) -> np.ndarray:
    """P(score = k | eta), k = 0..10, of the proportional-odds model."""
    cdf = expit(CUTS[None, :] - eta[:, None])
    cdf = np.column_stack([np.zeros(len(eta)), cdf, np.ones(len(eta))])
    return np.diff(cdf, axis=1)


def true_nps(eta: np.ndarray) -> np.ndarray:
    p = level_probs(eta)
    return 100 * (p[:, 9:].sum(axis=1) - p[:, :7].sum(axis=1))


def simulate(n: int, seed: int, beta=BETA) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "on_time": rng.binomial(1, 0.8, n).astype(float),
        "lead_time": rng.gamma(4, 2.5, n),
        "noise": rng.normal(size=n),
    })
    eta = sum(beta[k] * df[k].to_numpy() for k in beta)
    df["score"] = np.searchsorted(CUTS, eta + rng.logistic(size=n)).astype(float)
    df["eta"] = eta
    return df


def frame(df, **kw):
    return frame_from_data(df, ["on_time", "lead_time", "noise"],
                           units={"on_time": "share", "lead_time": "days", "noise": "number"},
                           directions={"on_time": "higher", "lead_time": "lower"}, **kw)


@pytest.fixture(scope="module")
def sim():
    return simulate(3000, seed=11)


@pytest.fixture(scope="module")
def models(sim):
    return driver_effects(frame(sim), ci=0.99)


# --------------------------------------------------------------------------------------
# the fits equal direct statsmodels calls
# --------------------------------------------------------------------------------------


def test_ols_hc3_equals_a_direct_statsmodels_call(sim, models):
    X = sm.add_constant(sim[["on_time", "lead_time", "noise"]])
    direct = sm.OLS(sim["score"], X).fit(cov_type="HC3")
    ours = fit_ols(frame(sim))
    np.testing.assert_allclose(ours.params.to_numpy(), direct.params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.bse.to_numpy(), direct.bse.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.pvalues.to_numpy(), direct.pvalues.to_numpy(), rtol=1e-10)
    eff = models.effects.set_index("driver")
    ci99 = direct.conf_int(0.01)
    for d in ("on_time", "lead_time"):
        c = eff.loc[d, "change"]
        assert eff.loc[d, "effect_score"] == pytest.approx(direct.params[d] * c, rel=1e-12)
        lo, hi = sorted((ci99.loc[d, 0] * c, ci99.loc[d, 1] * c))
        assert eff.loc[d, "effect_score_ci_low"] == pytest.approx(lo, rel=1e-12)
        assert eff.loc[d, "effect_score_ci_high"] == pytest.approx(hi, rel=1e-12)
        assert eff.loc[d, "p_value"] == pytest.approx(direct.pvalues[d], rel=1e-10)


def test_box_logits_equal_statsmodels_and_their_covariance_is_the_sandwich(sim):
    logits = fit_box_logits(frame(sim))
    X = sm.add_constant(sim[["on_time", "lead_time", "noise"]])
    top = (sim["score"] >= 9).astype(float)
    direct = sm.Logit(top, X).fit(disp=False, cov_type="HC0")
    np.testing.assert_allclose(logits.top.params.to_numpy(), direct.params.to_numpy(), rtol=1e-8)
    k = X.shape[1]
    np.testing.assert_allclose(logits.cov[:k, :k], direct.cov_params().to_numpy(), rtol=1e-6)
    bottom = (sim["score"] <= 6).astype(float)
    direct_b = sm.Logit(bottom, X).fit(disp=False, cov_type="HC0")
    np.testing.assert_allclose(logits.cov[k:, k:], direct_b.cov_params().to_numpy(), rtol=1e-6)


def test_ordinal_fit_equals_statsmodels_ordered_model(sim):
    """fit_ordinal swaps in a faster logistic cdf; the fit must be statsmodels' own."""
    import warnings

    from statsmodels.miscmodels.ordinal_model import OrderedModel

    mf = frame(sim)
    ours = fit_ordinal(mf)
    X = mf.frame.loc[:, list(mf.drivers) + list(mf.controls)].astype(float)
    levels = np.sort(mf.frame["score"].unique())
    y = pd.Series(pd.Categorical(mf.frame["score"].to_numpy(), categories=levels, ordered=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=False, maxiter=3000)
    np.testing.assert_allclose(ours.params.to_numpy(), direct.params.to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.bse.to_numpy(), direct.bse.to_numpy(), rtol=1e-4)
    assert ours.llf == pytest.approx(direct.llf, rel=1e-10)


def test_ordinal_score_and_contrast_gradient_equal_numerical_differences(sim):
    """The analytic score (used by BFGS) and the delta method's analytic gradient, checked
    against statsmodels' numerical differentiation and against the central-difference route."""
    import warnings

    from statsmodels.miscmodels.ordinal_model import OrderedModel
    from statsmodels.tools.numdiff import approx_fprime

    from ipm_analysis import effects

    mf = frame(sim)
    res = fit_ordinal(mf)
    model = res.model
    theta = np.asarray(res.params) + np.linspace(-0.1, 0.1, len(res.params))  # away from the optimum
    num = approx_fprime(theta, model.loglike, centered=True)
    np.testing.assert_allclose(model.score(theta), num, rtol=1e-6, atol=1e-6 * np.abs(num).max())
    np.testing.assert_allclose(model.score_obs(theta).sum(axis=0), model.score(theta))
    # the same contrast through a plain OrderedModel result: central differences
    X = mf.frame.loc[:, list(mf.drivers)].astype(float)
    y = pd.Series(pd.Categorical(mf.frame["score"].to_numpy(), categories=np.sort(mf.frame["score"].unique()),
                                 ordered=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=False, maxiter=3000)
    Xa = X.to_numpy()
    X1 = Xa.copy()
    X1[:, 0] = 1.0
    w = effects.level_weights(mf, effects.ordinal_levels(res))
    ours = effects.ordinal_contrast(res, [(X1, 1.0)], [(Xa, 1.0)], w)
    ref = effects.ordinal_contrast(plain, [(X1, 1.0)], [(Xa, 1.0)], w)
    assert ours[0] == pytest.approx(ref[0], rel=1e-4) and ours[1] == pytest.approx(ref[1], rel=1e-3)


def test_ordinal_model_on_a_large_frame_uses_a_fixed_sample(sim, monkeypatch):
    from ipm_analysis import effects

    mf = frame(sim)
    full = driver_effects(mf).effects.set_index("driver")
    monkeypatch.setattr(effects, "ORDINAL_MAX_N", mf.n // 3)
    rows = effects.ordinal_rows(mf.n)
    assert len(rows) == mf.n // 3 and np.array_equal(rows, effects.ordinal_rows(mf.n))  # fixed
    assert fit_ordinal(mf).nobs == mf.n // 3
    dm = driver_effects(mf)
    assert any("fixed random sample" in n for n in dm.notes)
    part = dm.effects.set_index("driver")
    for d in part.index:  # the full fit's estimate lies within the sample's (wider) interval
        lo, hi = part.loc[d, "effect_kpi_ordinal_ci_low"], part.loc[d, "effect_kpi_ordinal_ci_high"]
        assert lo <= full.loc[d, "effect_kpi_ordinal"] <= hi, d
        assert hi - lo > full.loc[d, "effect_kpi_ordinal_ci_high"] - full.loc[d, "effect_kpi_ordinal_ci_low"]


def test_ordinal_model_recovers_the_latent_coefficients(sim):
    res = fit_ordinal(frame(sim))
    ci = res.conf_int(0.01)
    for d, b in BETA.items():
        assert ci.loc[d, 0] <= b <= ci.loc[d, 1], d


# --------------------------------------------------------------------------------------
# effects recovered on simulated data with known truth
# --------------------------------------------------------------------------------------


def test_effects_recover_the_true_ols_target_and_nps_effects(sim, models):
    eff = models.effects.set_index("driver")
    X = sm.add_constant(sim[["on_time", "lead_time", "noise"]])
    expected_score = level_probs(sim["eta"].to_numpy()) @ np.arange(11)
    ols_target = sm.OLS(expected_score, X).fit().params
    eta = sim["eta"].to_numpy()
    x_on = sim["on_time"].to_numpy()
    truth_nps = {
        # +10 pp on time: a tenth of the respondents moving from late to on time
        "on_time": 0.1 * np.mean(true_nps(eta + BETA["on_time"] * (1 - x_on)) - true_nps(eta - BETA["on_time"] * x_on)),
        "lead_time": np.mean(true_nps(eta + BETA["lead_time"]) - true_nps(eta)),
        "noise": 0.0,
    }
    for d in ("on_time", "lead_time", "noise"):
        r = eff.loc[d]
        target = ols_target[d] * r["change"]
        assert r["effect_score_ci_low"] <= target <= r["effect_score_ci_high"], d
        assert r["effect_kpi_ci_low"] <= truth_nps[d] <= r["effect_kpi_ci_high"], d
        assert r["effect_kpi_ordinal_ci_low"] <= truth_nps[d] <= r["effect_kpi_ordinal_ci_high"], d
    # the real drivers are found, the null one is not
    assert eff.loc["on_time", "reliable"] and eff.loc["lead_time", "reliable"]
    assert not eff.loc["noise", "reliable"]
    assert "no reliable association" in eff.loc["noise", "reading"]
    assert "is associated with" in eff.loc["on_time", "reading"]
    assert eff.loc["on_time", "change_label"] == "+10 pp" and eff.loc["lead_time", "change_label"] == "+1 day"
    # NPS effect = top-box effect minus bottom-box effect (pp)
    np.testing.assert_allclose(eff["effect_kpi"], eff["effect_top"] - eff["effect_bottom"], rtol=1e-10)
    assert models.reliable and "explain" in models.reading
    assert models.effects.attrs["kpi_unit"] == "NPS points"


def test_pure_noise_gives_no_reliable_driver():
    df = simulate(1500, seed=5, beta={"on_time": 0.0, "lead_time": 0.0, "noise": 0.0})
    res = driver_effects(frame(df), ordinal=False)
    assert not res.reliable
    assert res.reading.startswith("No reliable driver was found")
    assert res.r2 < 0.02


def test_rating_scale_effects_are_on_the_mean_score_and_boxes():
    df = simulate(1500, seed=2)
    df["score"] = np.clip(np.round(df["score"] / 2.5), 0, 4) + 1  # a 1-5 rating
    scale = RatingScale(min=1, max=5, top_box=[5], bottom_box=[1, 2])
    res = driver_effects(frame(df, scale=scale), ordinal=True)
    eff = res.effects.set_index("driver")
    assert res.kpi_unit == "points on the 1-5 scale"
    np.testing.assert_allclose(eff["effect_kpi"], eff["effect_score"])
    assert eff.loc["on_time", "effect_top"] > 0 and eff.loc["on_time", "effect_bottom"] < 0
    # the ordinal model's mean-score effect agrees in sign and size with OLS
    assert eff.loc["on_time", "effect_kpi_ordinal"] == pytest.approx(eff.loc["on_time", "effect_score"], rel=0.3)


def test_changes_and_labels():
    assert default_change("share") == 0.1 and default_change("days") == 1
    assert default_change("number", np.random.default_rng(0).normal(scale=30, size=500)) == 20
    assert change_label("share", 0.1) == "+10 pp" and change_label("days", 2) == "+2 days"
    assert change_label("hours", 1) == "+1 hour" and change_label("count", -1) == "-1"
    df = simulate(400, seed=3)
    res = driver_effects(frame(df), changes={"lead_time": -2}, ordinal=False)
    r = res.effects.set_index("driver").loc["lead_time"]
    assert r["change_label"] == "-2 days" and r["effect_score_ci_low"] <= r["effect_score_ci_high"]
    with pytest.raises(AnalysisError, match="'lead_time'"):
        driver_effects(frame(df), changes={"lead_time": 0})
    with pytest.raises(AnalysisError, match="not drivers"):
        driver_effects(frame(df), changes={"other": 1})


# --------------------------------------------------------------------------------------
# collinearity
# --------------------------------------------------------------------------------------


def test_vif_equals_statsmodels_and_condition_number_is_documented():
    rng = np.random.default_rng(4)
    n = 500
    a = rng.normal(size=n)
    df = pd.DataFrame({"a": a, "b": a + 0.3 * rng.normal(size=n), "c": rng.normal(size=n)})
    df["score"] = np.clip(np.round(5 + a + rng.normal(size=n)), 0, 10)
    mf = frame_from_data(df, ["a", "b", "c"])
    col = collinearity(mf)
    X = sm.add_constant(df[["a", "b", "c"]]).to_numpy()
    for i, d in enumerate(["a", "b", "c"], start=1):
        assert col.vif.set_index("driver").loc[d, "vif"] == pytest.approx(variance_inflation_factor(X, i), rel=1e-10)
    Z = df[["a", "b", "c"]].to_numpy()
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    assert col.condition_number == pytest.approx(np.linalg.cond(Z), rel=1e-8)
    assert col.warning is not None and "a and b move together" in col.warning
    assert "c" not in col.warning.split("(")[0].replace("move", "").replace("overlap", "")
    r = np.corrcoef(df["a"], df["b"])[0, 1]
    vifs = col.vif.set_index("driver")["vif"]

    def nl(x: float, fmt: str) -> str:
        return format(x, fmt).replace(".", ",")

    # the warning reads in the report's language, with the numbers it states
    assert messages.render(col.warning, "nl") == (
        f"Waarschuwing: Sommige drivers overlappen: a en b bewegen samen (correlatie {nl(r, '+.2f')}) "
        f"(variantie-inflatie a {nl(vifs['a'], '.1f')}, b {nl(vifs['b'], '.1f')}; boven 5 betekent overlap). Hun "
        "afzonderlijke effecten zijn onzeker en kunnen van plaats wisselen; lees overlappende drivers samen, niet "
        "een voor een.")
    indep = collinearity(frame_from_data(df, ["a", "c"]))
    assert indep.warning is None and indep.vif["vif"].max() < 1.1


# --------------------------------------------------------------------------------------
# non-linear effects
# --------------------------------------------------------------------------------------


def knot_data(n: int, seed: int, knot: float = 3.0, cost: float = 0.9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    late = np.minimum(rng.poisson(2.2, n), 9).astype(float)
    flag = rng.binomial(1, 0.7, n).astype(float)
    eta = 0.8 * flag - cost * np.maximum(0.0, late - knot)
    score = np.searchsorted(CUTS, eta + rng.logistic(size=n)).astype(float)
    return pd.DataFrame({"score": score, "days_late": late, "flag": flag})


def test_threshold_detection_finds_a_planted_knot():
    df = knot_data(2500, seed=8)
    mf = frame_from_data(df, ["days_late", "flag"], units={"days_late": "days", "flag": "share"},
                         directions={"days_late": "lower", "flag": "higher"})
    th = find_threshold(mf, "days_late")
    assert th.found and th.p_adjusted < 0.001
    assert th.knot_ci_low <= 3 <= th.knot_ci_high
    assert th.knot_ci_high - th.knot_ci_low <= 2
    assert th.slope_before_ci_low <= 0 <= th.slope_before_ci_high or abs(th.slope_before) < 3
    assert th.slope_after < -10  # NPS points per day beyond the knot
    assert th.cost_ci_high < 0 and th.kpi_unit == "NPS points"
    assert "beyond 3 days, each extra day is associated with" in th.sentence
    assert len(th.profile) == th.n_candidates and th.profile["lr"].min() == 0


def test_no_threshold_on_a_straight_line():
    rng = np.random.default_rng(12)
    n = 2000
    x = rng.integers(0, 10, n).astype(float)
    score = np.clip(np.round(4 + 0.3 * x + rng.normal(scale=1.5, size=n)), 0, 10)
    scale = RatingScale(min=0, max=10, top_box=[9, 10], bottom_box=[0, 1, 2, 3, 4, 5, 6])
    mf = frame_from_data(pd.DataFrame({"score": score, "x": x}), ["x"], scale=scale, units={"x": "days"})
    th = find_threshold(mf, "x")
    assert not th.found
    assert th.sentence.startswith("No threshold found")


def test_response_curve_bins_and_contrasts_with_the_best_bin():
    df = knot_data(2500, seed=9)
    mf = frame_from_data(df, ["days_late", "flag"], units={"days_late": "days", "flag": "share"},
                         directions={"days_late": "lower", "flag": "higher"})
    curve = response_curve_table(mf, "days_late")
    assert curve["n"].sum() == mf.n and (curve["n"] >= mf.min_base_flag).all()
    assert curve["reference"].iloc[0] and curve["reference"].sum() == 1  # lower is better: lowest bin
    early = curve[curve["x_high"] <= 3]
    late = curve[curve["x_low"] >= 5]
    assert (early["kpi_vs_ref_ci_low"] <= 0).all() and (early["kpi_vs_ref_ci_high"] >= -15).all()
    assert (late["kpi_vs_ref_ci_high"] < 0).all()
    assert (curve["kpi_ci_low"] <= curve["kpi"]).all() and (curve["kpi"] <= curve["kpi_ci_high"]).all()
    with pytest.raises(AnalysisError, match="'flag'"):
        response_curve_table(mf, "flag")
    with pytest.raises(AnalysisError, match="'nope'"):
        find_threshold(mf, "nope")


# --------------------------------------------------------------------------------------
# segments
# --------------------------------------------------------------------------------------


def segment_data(n: int, seed: int, slopes=(1.0, 1.0), levels=("a", "b")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seg = rng.choice(list(levels), n)
    x = rng.normal(size=n)
    z = rng.binomial(1, 0.7, n).astype(float)
    slope = np.where(seg == levels[0], slopes[0], slopes[1])
    score = np.clip(np.round(6 + slope * x + z + rng.normal(scale=2, size=n)), 0, 10)
    return pd.DataFrame({"score": score, "x": x, "z": z, "seg": seg})


def test_interaction_test_rejects_a_planted_difference():
    df = segment_data(1200, seed=1, slopes=(0.5, 1.5))
    mf = frame_from_data(df, ["x", "z"], segments=["seg"])
    res = segment_difference(mf, "seg").set_index("driver")
    assert res.loc["x", "differs"] and res.loc["x", "p_value"] < 0.001
    assert res.loc["x", "slopes"]["b"] > res.loc["x", "slopes"]["a"]
    assert res.loc["x", "df"] == 1 and "differs between seg segments" in res.loc["x", "reading"]


def test_interaction_test_holds_its_nominal_rate_under_no_difference():
    rejections = []
    for seed in range(150):
        df = segment_data(300, seed=1000 + seed, levels=("a", "b", "c"))
        mf = frame_from_data(df, ["x", "z"], segments=["seg"])
        rejections.append(segment_difference(mf, "seg", drivers=["x"])["p_value"].iloc[0] < 0.05)
    rate = float(np.mean(rejections))
    assert 0.01 <= rate <= 0.10, rate


def test_segment_drivers_respect_the_base_rules():
    df = segment_data(700, seed=3, slopes=(0.5, 1.5), levels=("a", "b", "c"))
    df.loc[df.index[:15], "seg"] = "tiny"
    df.loc[df.index[15:40], "seg"] = "small"
    mf = frame_from_data(df, ["x", "z"], segments=["seg"], min_base_flag=30, min_base_suppress=20)
    out = segment_drivers(mf, "seg")
    assert set(out["level"]) == {"a", "b", "c", "small"}
    assert "tiny" in out.attrs["not_analysed"] and "below 20" in out.attrs["not_analysed"]["tiny"]
    x = out[out["driver"] == "x"].set_index("level")
    assert x.loc["b", "effect_score"] > x.loc["a", "effect_score"]
    assert x.loc["small", "small_base"] and not x.loc["a", "small_base"]
    lower = frame_from_data(df, ["x", "z"], segments=["seg"], min_base_flag=30, min_base_suppress=10)
    assert "tiny" in segment_drivers(lower, "seg")["level"].tolist()
    with pytest.raises(AnalysisError, match="'region'"):
        segment_drivers(mf, "region")


# --------------------------------------------------------------------------------------
# boundary
# --------------------------------------------------------------------------------------


def test_boundary_errors():
    with pytest.raises(AnalysisError, match="ModelFrame"):
        driver_effects(pd.DataFrame({"score": [1]}))
    mf = frame(simulate(200, seed=1))
    with pytest.raises(AnalysisError, match="ci must be"):
        driver_effects(mf, ci=95)


def test_ordinal_sample_without_a_rare_score_still_predicts(sim, monkeypatch):
    """A score level absent from the ordinal model's sample: predictions use the model's levels."""
    from ipm_analysis import agenda, effects

    mf = frame(sim)
    monkeypatch.setattr(effects, "ORDINAL_MAX_N", mf.n // 4)
    rows = set(effects.ordinal_rows(mf.n).tolist())
    outside = next(i for i in range(mf.n) if i not in rows)
    data = mf.frame.copy()
    data["score"] = data["score"].clip(lower=1)
    data.loc[outside, "score"] = 0  # the only 0, left out of the sample
    rare = effects.ModelFrame(**{**mf.__dict__, "frame": data})
    dm = driver_effects(rare)
    assert 0.0 not in effects.ordinal_levels(dm.ordinal)
    assert dm.effects["effect_kpi_ordinal"].notna().all()
    wi = agenda.what_if(rare, "on_time", to=1.0, model=dm)
    assert np.isfinite(wi.gain) and wi.gain_ci_low < wi.gain < wi.gain_ci_high
