"""Tests for ipm_analysis.kpis: result KPIs, chain KPIs, base rules and associations over time.

Statistics are checked against independent computations: counting by hand, a bootstrap, a
coverage simulation, statsmodels and scipy. Every random draw uses a fixed seed.
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
)
from statsmodels.stats.proportion import test_proportions_2indep as sm_test_proportions_2indep
from statsmodels.stats.weightstats import DescrStatsW

from ipm_analysis import messages
from ipm_analysis.errors import AnalysisError, IpmError
from ipm_analysis.kpis import (
    ChangeResult,
    NPSResult,
    apply_base_rules,
    chain_kpi_table,
    hac_maxlags,
    kpi_trend,
    lagged_association,
    link_overview,
    mean_change,
    mean_ci,
    nps,
    nps_change,
    rating,
    result_kpi_by,
    share_ci,
    share_change,
)

# a known 0-10 score distribution: P(promoter) = 0.45, P(detractor) = 0.25, true NPS = +20
PROBS = np.array([0.03, 0.02, 0.02, 0.03, 0.03, 0.05, 0.07, 0.12, 0.18, 0.20, 0.25])
TRUE_NPS = 100 * (PROBS[9:].sum() - PROBS[:7].sum())


def draw_scores(rng: np.random.Generator, size) -> np.ndarray:
    return rng.choice(11, size=size, p=PROBS)


# ----------------------------------------------------------------------------------------------
# nps
# ----------------------------------------------------------------------------------------------


def test_nps_matches_counting_by_hand():
    scores = draw_scores(np.random.default_rng(1), 357).tolist()
    pro = det = pas = 0
    for s in scores:
        if s >= 9:
            pro += 1
        elif s <= 6:
            det += 1
        else:
            pas += 1
    n = len(scores)
    p_pro, p_det = pro / n, det / n
    se = 100 * math.sqrt((p_pro + p_det - (p_pro - p_det) ** 2) / n)
    z = stats.norm.ppf(0.975)

    res = nps(scores)
    assert isinstance(res, NPSResult)
    assert res.n == n and res.n_missing == 0 and res.n_eff == n
    assert res.value == pytest.approx(100 * (pro - det) / n)
    assert (res.promoters, res.passives, res.detractors) == pytest.approx((p_pro, pas / n, p_det))
    assert res.se == pytest.approx(se)
    assert res.ci_low == pytest.approx(res.value - z * se)
    assert res.ci_high == pytest.approx(res.value + z * se)
    assert res.ci == 0.95


def test_nps_interval_agrees_with_bootstrap():
    rng = np.random.default_rng(2)
    scores = draw_scores(rng, 500)
    res = nps(scores)
    boot = rng.choice(scores, size=(4000, scores.size), replace=True)
    values = 100 * ((boot >= 9).mean(axis=1) - (boot <= 6).mean(axis=1))
    low, high = np.percentile(values, [2.5, 97.5])
    assert res.se == pytest.approx(values.std(ddof=1), rel=0.06)
    assert res.ci_low == pytest.approx(low, abs=1.0)
    assert res.ci_high == pytest.approx(high, abs=1.0)


def test_nps_interval_covers_true_value_at_nominal_rate():
    rng = np.random.default_rng(3)
    samples = draw_scores(rng, (2000, 400))
    covered = 0
    for row in samples:
        r = nps(row)
        covered += r.ci_low <= TRUE_NPS <= r.ci_high
    assert 0.93 <= covered / len(samples) <= 0.97


def test_nps_drops_missing_and_reports_count():
    res = nps(pd.Series([10, None, 9, np.nan, 3, 8], dtype="Float64"))
    assert res.n == 4 and res.n_missing == 2
    assert res.value == pytest.approx(25.0)
    assert nps([10, None, 0]).n_missing == 1


def test_nps_interval_is_clipped():
    res = nps([10] * 12 + [0])
    assert -100 <= res.ci_low <= res.ci_high <= 100
    assert nps([10] * 5).ci_high == 100


@pytest.mark.parametrize(
    "scores, expected",
    [
        ([5, 11, 7, -1], "11, -1"),
        ([5, 7.5], "7.5"),
        ([5, "ten"], "'ten'"),
        ([5, np.inf], "inf"),
    ],
)
def test_nps_refuses_bad_scores_and_names_them(scores, expected):
    with pytest.raises(AnalysisError, match="whole numbers|must be numbers") as err:
        nps(scores)
    assert expected in str(err.value)


def test_nps_refuses_booleans_empty_and_bad_ci():
    with pytest.raises(AnalysisError, match="true/false"):
        nps([True, False])
    with pytest.raises(AnalysisError, match="no NPS scores"):
        nps([])
    with pytest.raises(AnalysisError, match="no NPS scores"):
        nps([np.nan, np.nan])
    with pytest.raises(AnalysisError, match="confidence level"):
        nps([1, 2], ci=95)
    with pytest.raises(IpmError):
        nps(pd.DataFrame({"a": [1]}))


def test_nps_weights():
    rng = np.random.default_rng(4)
    scores = draw_scores(rng, 300)
    # equal weights change nothing
    assert nps(scores, weights=np.full(300, 2.5)) == nps(scores)
    # integer weights give the shares of the replicated sample, variance from Kish's n_eff
    w = rng.integers(1, 4, 300)
    rep = nps(np.repeat(scores, w))
    res = nps(scores, weights=w)
    assert res.value == pytest.approx(rep.value)
    assert res.promoters == pytest.approx(rep.promoters)
    n_eff = w.sum() ** 2 / (w ** 2).sum()
    assert res.n_eff == pytest.approx(n_eff)
    p, d = res.promoters, res.detractors
    assert res.se == pytest.approx(100 * math.sqrt((p + d - (p - d) ** 2) / n_eff))
    # zero weights drop answers; missing scores need no weight
    w0 = np.where(np.arange(300) < 100, 0.0, 1.0)
    assert nps(scores, weights=w0) == dataclasses.replace(nps(scores[100:]), n_missing=0)
    with pytest.raises(AnalysisError, match="one value per score"):
        nps(scores, weights=w[:10])
    with pytest.raises(AnalysisError, match="non-negative"):
        nps([1, 2], weights=[1, -1])


# ----------------------------------------------------------------------------------------------
# rating, share_ci, mean_ci
# ----------------------------------------------------------------------------------------------


def test_rating_against_statsmodels():
    rng = np.random.default_rng(5)
    scores = rng.choice([1, 2, 3, 4, 5], size=250, p=[0.1, 0.1, 0.2, 0.3, 0.3])
    res = rating(list(scores) + [None], min=1, max=5, top_box=[5], bottom_box=[1, 2], ci=0.9)
    assert res.n == 250 and res.n_missing == 1
    d = DescrStatsW(scores.astype(float))
    lo, hi = d.tconfint_mean(alpha=0.1)
    assert (res.mean, res.mean_ci_low, res.mean_ci_high) == pytest.approx((d.mean, lo, hi))
    k_top, k_bot = int((scores == 5).sum()), int((scores <= 2).sum())
    assert res.top_box == pytest.approx(k_top / 250)
    assert (res.top_box_ci_low, res.top_box_ci_high) == pytest.approx(
        proportion_confint(k_top, 250, alpha=0.1, method="wilson"))
    assert (res.bottom_box_ci_low, res.bottom_box_ci_high) == pytest.approx(
        proportion_confint(k_bot, 250, alpha=0.1, method="wilson"))


def test_rating_validation():
    with pytest.raises(AnalysisError, match=r"scale 1-5.*got 1 invalid value\(s\): 6"):
        rating([1, 6], 1, 5, [5], [1])
    with pytest.raises(AnalysisError, match="must not share"):
        rating([1, 2], 1, 5, [4, 5], [1, 5])
    with pytest.raises(AnalysisError, match="within the scale"):
        rating([1, 2], 1, 5, [6], [1])
    with pytest.raises(AnalysisError, match="below max"):
        rating([1, 2], 5, 1, [5], [1])
    one = rating([4], 1, 5, [5], [1])
    assert one.mean == 4 and math.isnan(one.mean_ci_low)


@pytest.mark.parametrize("ci", [0.8, 0.95, 0.99])
def test_share_ci_is_wilson(ci):
    k = np.array([0, 1, 7, 50, 99, 100])
    n = np.array([100, 100, 100, 100, 100, 100])
    low, high = share_ci(k, n, ci)
    ref_low, ref_high = proportion_confint(k, n, alpha=1 - ci, method="wilson")
    np.testing.assert_allclose(low, ref_low, atol=1e-12)
    np.testing.assert_allclose(high, ref_high, atol=1e-12)
    assert share_ci(7, 30, ci) == pytest.approx(proportion_confint(7, 30, 1 - ci, "wilson"))
    assert isinstance(share_ci(7, 30)[0], float)


def test_share_ci_validation():
    with pytest.raises(AnalysisError, match="between 0 and n"):
        share_ci(11, 10)
    with pytest.raises(AnalysisError, match="positive"):
        share_ci(0, 0)


def test_mean_ci_against_scipy():
    values = np.random.default_rng(6).gamma(3, 2, 40)
    res = mean_ci(np.append(values, np.nan), 0.9)
    lo, hi = stats.t.interval(0.9, 39, loc=values.mean(), scale=stats.sem(values))
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi))
    assert res.n == 40 and res.n_missing == 1
    with pytest.raises(AnalysisError, match="no values"):
        mean_ci([np.nan])


# ----------------------------------------------------------------------------------------------
# changes
# ----------------------------------------------------------------------------------------------


def test_nps_change_against_statsmodels_and_permutation():
    rng = np.random.default_rng(7)
    before = draw_scores(rng, 400)
    after = np.clip(draw_scores(rng, 350) + rng.integers(0, 2, 350), 0, 10)
    res = nps_change(before, after)
    assert isinstance(res, ChangeResult) and res.measure == "nps"
    assert res.diff == pytest.approx(nps(after).value - nps(before).value)

    # NPS is the mean of +100 / 0 / -100 per answer; a regression on a group dummy with HC0
    # errors gives the same difference, the same (added) variance and the same z-test
    code = lambda s: 100.0 * ((s >= 9).astype(float) - (s <= 6).astype(float))  # noqa: E731
    y = np.concatenate([code(before), code(after)])
    X = sm.add_constant(np.r_[np.zeros(400), np.ones(350)])
    ols = sm.OLS(y, X).fit(cov_type="HC0")
    assert res.diff == pytest.approx(ols.params[1])
    assert res.se == pytest.approx(ols.bse[1])
    assert res.p_value == pytest.approx(ols.pvalues[1])
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(ols.conf_int()[1]))

    # a permutation test of the same difference agrees roughly
    perm = rng.permuted(np.tile(y, (3000, 1)), axis=1)
    diffs = perm[:, 400:].mean(axis=1) - perm[:, :400].mean(axis=1)
    p_perm = (np.abs(diffs) >= abs(res.diff) - 1e-9).mean()
    assert res.p_value == pytest.approx(p_perm, abs=0.03)

    # results already computed can be passed instead of scores
    assert nps_change(nps(before), nps(after)) == res


def test_share_change_against_statsmodels():
    rng = np.random.default_rng(8)
    before = rng.random(300) < 0.30
    after = rng.random(280) < 0.40
    res = share_change(before, after)
    k1, n1, k2, n2 = after.sum(), 280, before.sum(), 300
    stat, p = sm_test_proportions_2indep(k1, n1, k2, n2, method="wald", return_results=False)
    lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="wald")
    assert res.diff == pytest.approx(k1 / n1 - k2 / n2)
    assert res.statistic == pytest.approx(stat)
    assert res.p_value == pytest.approx(p)
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi))
    with pytest.raises(AnalysisError, match="0/1"):
        share_change([0, 1, 2], [0, 1])


def test_mean_change_is_welch():
    rng = np.random.default_rng(9)
    before = rng.normal(3.6, 1.1, 80)
    after = rng.normal(3.9, 0.7, 50)
    res = mean_change(before, after, ci=0.9)
    ref = stats.ttest_ind(after, before, equal_var=False)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.df == pytest.approx(ref.df)
    ci = ref.confidence_interval(0.9)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high))
    with pytest.raises(AnalysisError, match="at least 2"):
        mean_change([1.0], [1.0, 2.0])


# ----------------------------------------------------------------------------------------------
# base rules
# ----------------------------------------------------------------------------------------------


def test_apply_base_rules():
    table = pd.DataFrame({"segment": list("abcde"), "n": [5, 9, 10, 29, 30]})
    table.attrs["source"] = "test"
    out = apply_base_rules(table)
    assert out["segment"].tolist() == ["c", "d", "e"]
    assert out["small_base"].tolist() == [True, True, False]
    assert out.attrs["n_suppressed"] == 2 and out.attrs["source"] == "test"
    assert "2 groups with a base below 10" in out.attrs["base_note"]
    assert "small_base" not in table.columns  # input untouched
    with pytest.raises(AnalysisError, match="flag"):
        apply_base_rules(table, flag=5, suppress=10)
    with pytest.raises(AnalysisError, match="lacks column"):
        apply_base_rules(table, n_col="base")


def _responses() -> pd.DataFrame:
    rng = np.random.default_rng(10)
    seg = np.array(["big"] * 300 + ["mid"] * 20 + ["tiny"] * 5 + [None] * 40, dtype=object)
    return pd.DataFrame({
        "score": draw_scores(rng, seg.size),
        "segment": seg,
        "responded_at": pd.to_datetime("2025-01-01", utc=True)
        + pd.to_timedelta(rng.integers(0, 90, seg.size), unit="D"),
    })


def test_result_kpi_by_applies_base_rules():
    resp = _responses()
    table = result_kpi_by(resp, "score", {"type": "nps"}, by="segment")
    assert "tiny" not in set(table["segment"])
    assert table.attrs["n_suppressed"] == 1
    assert table["segment"].isna().sum() == 1  # missing segment kept as its own group
    row = table.dropna(subset=["segment"]).set_index("segment")
    assert bool(row.loc["mid", "small_base"]) and not bool(row.loc["big", "small_base"])
    ref = nps(resp.loc[resp.segment == "mid", "score"])
    assert row.loc["mid", "value"] == pytest.approx(ref.value)
    assert (row.loc["mid", "ci_low"], row.loc["mid", "ci_high"]) == pytest.approx((ref.ci_low, ref.ci_high))
    assert row.loc["mid", "n"] == 20


def test_result_kpi_by_period_and_rating():
    resp = _responses()
    resp["stars"] = resp["score"] // 2  # 0..5
    scale = SimpleNamespace(type="rating", min=0, max=5, top_box=[5], bottom_box=[0, 1])
    table = result_kpi_by(resp, "stars", scale, by=["segment"], period="responded_at")
    assert set(table["period"]) <= set(pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]))
    assert (table["n"] >= 10).all()
    big_jan = resp[(resp.segment == "big") & (resp.responded_at.dt.month == 1)]["stars"]
    ref = rating(big_jan, 0, 5, [5], [0, 1])
    row = table[(table.segment == "big") & (table.period == pd.Timestamp("2025-01-01"))].iloc[0]
    assert row["value"] == pytest.approx(ref.mean)
    assert row["top_box_ci_high"] == pytest.approx(ref.top_box_ci_high)
    assert row["bottom_box"] == pytest.approx(ref.bottom_box)
    overall = result_kpi_by(resp, "score", {"type": "nps"})
    assert len(overall) == 1 and overall["n"].iloc[0] == len(resp)


def test_result_kpi_by_validation():
    resp = _responses()
    with pytest.raises(AnalysisError, match="labels"):
        result_kpi_by(resp, "score", {"type": "labels"})
    with pytest.raises(AnalysisError, match="lacks column"):
        result_kpi_by(resp, "score", {"type": "nps"}, by="region")
    resp.loc[3, "score"] = 12
    with pytest.raises(AnalysisError, match=r"column 'score'.*12 \(at index 3\)"):
        result_kpi_by(resp, "score", {"type": "nps"})


# ----------------------------------------------------------------------------------------------
# chain KPIs
# ----------------------------------------------------------------------------------------------

KPIS = [
    SimpleNamespace(id="on_time", name="Installed on the promised day", chain="install",
                    unit="share", direction="higher", target=0.9, link="Planning"),
    SimpleNamespace(id="lead_time", name="Order to installation", chain="install", unit="days",
                    direction="lower", target=10.0, link="Planning"),
    {"id": "ftf", "name": "Fixed first time", "chain": "repair", "unit": "share",
     "direction": "higher", "target": None, "link": "Service"},
]


def _cases() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    region = ["north"] * 400 + ["east"] * 20 + ["west"] * 5
    n = len(region)
    months = pd.to_datetime("2025-01-01") + pd.DateOffset(0)
    period = pd.DatetimeIndex([months + pd.DateOffset(months=int(m)) for m in rng.integers(0, 4, n)])
    on_time = pd.array(rng.random(n) < 0.8, dtype="boolean")
    on_time[rng.random(n) < 0.1] = pd.NA  # not yet installed: not applicable
    return pd.DataFrame({
        "case_id": [f"C{i:04d}" for i in range(n)],
        "chain": ["install"] * 340 + ["repair"] * 60 + ["install"] * 25,
        "period": period,
        "region": region,
        "on_time": on_time,
        "lead_time": rng.gamma(4, 3, n),
        "ftf": (rng.random(n) < 0.7).astype(float),
    })


def test_chain_kpi_table_values_and_targets():
    cases = _cases()
    table = chain_kpi_table(cases, KPIS)
    assert list(table.columns) == ["chain", "kpi", "kpi_name", "link", "unit", "direction", "period",
                                   "n", "value", "ci_low", "ci_high", "target", "gap", "on_target",
                                   "status", "small_base"]
    overall = table[table.period == "all"].set_index("kpi")
    inst = cases[cases.chain == "install"]
    k = int(inst.on_time.sum())
    m = int(inst.on_time.notna().sum())
    assert overall.loc["on_time", "n"] == m
    assert overall.loc["on_time", "value"] == pytest.approx(k / m)
    assert (overall.loc["on_time", "ci_low"], overall.loc["on_time", "ci_high"]) == pytest.approx(
        proportion_confint(k, m, method="wilson"))
    assert overall.loc["on_time", "gap"] == pytest.approx(k / m - 0.9)
    ref = mean_ci(inst.lead_time)
    assert overall.loc["lead_time", "value"] == pytest.approx(ref.mean)
    assert overall.loc["lead_time", "ci_high"] == pytest.approx(ref.ci_high)
    # lower is better: gap = target - value, so a lead time of ~12 days is 2 days worse
    assert overall.loc["lead_time", "gap"] == pytest.approx(10.0 - ref.mean)
    assert overall.loc["lead_time", "status"] == "below target"
    assert not overall.loc["lead_time", "on_target"]
    # a KPI is computed over its own chain only; no target -> "no target", NA on_target
    assert overall.loc["ftf", "n"] == 60
    assert overall.loc["ftf", "status"] == "no target" and pd.isna(overall.loc["ftf", "on_target"])
    monthly = table[(table.kpi == "on_time") & (table.period != "all")]
    assert monthly["n"].sum() == m and len(monthly) == 4


def test_chain_kpi_table_base_rules_by_segment():
    table = chain_kpi_table(_cases(), KPIS[:2], by="region", period_col=None)
    assert "west" not in set(table["region"])  # a segment of 5 cases never appears
    east = table[table.region == "east"]
    assert len(east) == 2 and east["small_base"].all()  # a segment of 20 is flagged
    assert not table[table.region == "north"]["small_base"].any()
    assert table.attrs["n_suppressed"] == 2


def test_chain_kpi_table_validation():
    cases = _cases()
    bad = cases.assign(on_time=cases["on_time"].astype(float).fillna(0.5))
    with pytest.raises(AnalysisError, match=r"KPI 'on_time'.*0/1.*0\.5"):
        chain_kpi_table(bad, KPIS)
    with pytest.raises(AnalysisError, match="lacks column"):
        chain_kpi_table(cases.drop(columns="ftf"), KPIS)
    with pytest.raises(AnalysisError, match="case_id values repeat"):
        chain_kpi_table(pd.concat([cases, cases.head(1)]), KPIS)
    with pytest.raises(AnalysisError, match="unit"):
        chain_kpi_table(cases, [dict(KPIS[2], unit="percent")])


def test_link_overview():
    table = chain_kpi_table(_cases(), KPIS)
    links = link_overview(table).set_index("link")
    assert links.loc["Planning", "n_kpis"] == 2 and links.loc["Planning", "n_below_target"] == 2
    assert links.loc["Planning", "summary"] == "Planning owns 2 KPIs, both below target"
    assert links.loc["Service", "summary"] == "Service owns 1 KPI: without a target"
    # a KPI whose every base was suppressed is counted when the KPI list is given
    extra = dict(KPIS[2], id="ftf2", name="Other", link="Planning")
    cases = _cases().assign(ftf2=np.nan)
    table = chain_kpi_table(cases, KPIS + [extra])
    row = link_overview(table, kpis=KPIS + [extra]).set_index("link").loc["Planning"]
    assert row["n_kpis"] == 3 and row["n_no_data"] == 1
    assert row["summary"] == "Planning owns 3 KPIs: 2 below target, 1 without enough data"
    with pytest.raises(AnalysisError, match="without by"):
        link_overview(chain_kpi_table(_cases(), KPIS, by="region"))


def test_kpi_trend_recovers_a_linear_trend():
    rng = np.random.default_rng(12)
    months = pd.date_range("2023-01-01", periods=24, freq="MS")
    table = pd.DataFrame({
        "chain": "install", "kpi": "on_time", "kpi_name": "On time", "link": "Planning",
        "unit": "share", "direction": "higher", "period": list(months), "n": 200,
        "value": 0.70 + 0.005 * np.arange(24) + rng.normal(0, 0.01, 24),
    })
    short = table.head(5).assign(kpi="lead_time", direction="lower")
    trend = kpi_trend(pd.concat([table, short], ignore_index=True)).set_index("kpi")
    row = trend.loc["on_time"]
    assert row["ci_low"] < 0.005 < row["ci_high"]
    assert row["reading"] == "improving" and row["n_months"] == 24 and row["maxlags"] == 2
    assert trend.loc["lead_time", "reading"].startswith("too few months")
    assert math.isnan(trend.loc["lead_time", "slope"])


def test_a_kpi_with_the_same_value_every_month_has_no_trend_and_no_noise_for_a_slope():
    """A real chain KPI is often 100 % every month (everything ordered was delivered): the report
    says so, instead of a slope of rounding noise ("+<0.000001 pp") with an interval around it;
    its association with the result KPI says the chain KPI does not vary, not a column name."""
    months = pd.date_range("2025-01-01", periods=12, freq="MS")
    table = pd.DataFrame({"chain": "supplies", "kpi": "complete", "kpi_name": "Complete", "unit": "share",
                          "direction": "higher", "period": list(months), "n": 120, "value": 1.0})
    row = kpi_trend(table).iloc[0]
    assert row["reading"] == "the same value every month: no trend"
    assert all(math.isnan(row[c]) for c in ("slope", "ci_low", "ci_high", "p_value"))
    messages.use_language("nl")
    try:
        assert kpi_trend(table).iloc[0]["reading"] == "elke maand dezelfde waarde: geen trend"
    finally:
        messages.use_language("en")
    monthly = pd.DataFrame({"period": months, "nps": np.linspace(20, 30, 12), "complete": 1.0})
    lags = lagged_association(monthly, "nps", "complete")
    assert set(lags["reading"]) == {"no reliable association: the chain KPI does not vary over these months"}


# ----------------------------------------------------------------------------------------------
# lagged association
# ----------------------------------------------------------------------------------------------


def _lagged_series(months: int = 48, seed: int = 13) -> pd.DataFrame:
    """NPS follows on-time one month later: +0.6 NPS points per pp of on-time (60 per unit)."""
    rng = np.random.default_rng(seed)
    on_time = np.empty(months)
    on_time[0] = 0.85
    for t in range(1, months):  # a persistent (AR(1)) on-time series, as in real operations
        on_time[t] = 0.85 + 0.5 * (on_time[t - 1] - 0.85) + rng.normal(0, 0.03)
    nps_ = np.full(months, np.nan)
    nps_[1:] = 25 + 60 * (on_time[:-1] - 0.85) + rng.normal(0, 1.0, months - 1)
    return pd.DataFrame({"period": pd.date_range("2022-01-01", periods=months, freq="MS"),
                         "nps": nps_, "on_time": on_time})


def test_lagged_association_hac_matches_statsmodels():
    monthly = _lagged_series()
    out = lagged_association(monthly, "nps", "on_time", conservative_se=False).set_index("lag")
    for lag in range(4):
        y = monthly["nps"].to_numpy()[lag:]
        x = monthly["on_time"].to_numpy()[: len(monthly) - lag]
        keep = ~np.isnan(y)
        y, x = y[keep], x[keep]
        maxlags = int(np.floor(0.75 * len(y) ** (1 / 3)))
        ref = sm.OLS(y, sm.add_constant(x)).fit(
            cov_type="HAC", cov_kwds={"maxlags": maxlags, "use_correction": True}, use_t=True)
        row = out.loc[lag]
        assert row["n_months"] == len(y) and row["maxlags"] == maxlags
        assert row["coef"] == pytest.approx(ref.params[1])
        assert row["se_hac"] == pytest.approx(ref.bse[1]) and row["se"] == row["se_hac"]
        assert row["p_value"] == pytest.approx(ref.pvalues[1])
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(ref.conf_int()[1]))
    guarded = lagged_association(monthly, "nps", "on_time")
    np.testing.assert_allclose(guarded["se"], np.maximum(guarded["se_hac"], guarded["se_ols"]))


def test_lagged_association_finds_the_one_month_lag():
    out = lagged_association(_lagged_series(), "nps", "on_time").set_index("lag")
    lag1 = out.loc[1]
    assert lag1["p_holm"] < 0.01
    assert lag1["ci_low"] < 60 < lag1["ci_high"]
    assert lag1["reading"].startswith("associated") and "not proof of cause" in lag1["reading"]
    assert "1 month later" in lag1["reading"]
    assert out.loc[3, "reading"].startswith("no reliable association")


def test_lagged_association_aligns_by_calendar_and_handles_few_months():
    monthly = _lagged_series()
    # shuffled rows and a missing month: lags still follow the calendar
    gappy = monthly.drop(index=[10]).sample(frac=1, random_state=0)
    out = lagged_association(gappy, "nps", "on_time").set_index("lag")
    assert out.loc[0, "n_months"] == 46  # 48 months, month 10 missing, month 0 has no NPS
    assert out.loc[1, "n_months"] == 45
    assert out.loc[1, "coef"] == pytest.approx(
        lagged_association(monthly, "nps", "on_time").loc[1, "coef"], rel=0.1)
    few = lagged_association(monthly.head(7), "nps", "on_time")
    assert few["reading"].str.startswith("too few months").all() and few["coef"].isna().all()
    with pytest.raises(AnalysisError, match="one row per month"):
        lagged_association(pd.concat([monthly, monthly.head(1)]), "nps", "on_time")


def test_hac_maxlags_rule():
    assert [hac_maxlags(n) for n in (8, 18, 19, 36, 41, 63, 64)] == [1, 1, 2, 2, 2, 2, 3]


# ----------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------

score_lists = st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(scores=score_lists, seed=st.integers(0, 2**32 - 1))
def test_nps_properties(scores, seed):
    res = nps(scores)
    assert -100 <= res.value <= 100
    assert -100 <= res.ci_low <= res.value <= res.ci_high <= 100
    assert res.promoters + res.passives + res.detractors == pytest.approx(1.0)
    assert min(res.promoters, res.passives, res.detractors) >= 0
    shuffled = np.random.default_rng(seed).permutation(scores)
    again = nps(shuffled)
    assert again.value == pytest.approx(res.value) and again.se == pytest.approx(res.se)
    assert (again.n, again.promoters, again.detractors) == pytest.approx(
        (res.n, res.promoters, res.detractors))


@settings(max_examples=60, deadline=None)
@given(scores=score_lists, seed=st.integers(0, 2**32 - 1))
def test_result_kpi_by_properties(scores, seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"score": scores, "seg": rng.choice(["a", "b"], len(scores))})
    table = result_kpi_by(frame, "score", {"type": "nps"}, by="seg", suppress=1, flag=30)
    again = result_kpi_by(frame.sample(frac=1, random_state=seed % 1000), "score",
                          {"type": "nps"}, by="seg", suppress=1, flag=30)
    pd.testing.assert_frame_equal(table, again)
    shares = table[["promoters", "passives", "detractors"]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)
    assert table["value"].between(-100, 100).all()
    assert table["n"].sum() == len(scores)


def test_holm_matches_statsmodels(monkeypatch):
    import gc

    from statsmodels.stats.multitest import multipletests

    # multipletests runs a full garbage collection on every call (the reason holm exists); in a long
    # test session that costs seconds per call and says nothing about the numbers compared here
    monkeypatch.setattr(gc, "collect", lambda *args: 0)

    from ipm_analysis.kpis import holm

    rng = np.random.default_rng(7)
    for m in (1, 2, 4, 13, 50):
        for _ in range(20):
            p = rng.uniform(0, 1, m) ** 3  # many small ones, and ties below
            p[rng.integers(0, m)] = p[0]
            np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    with pytest.raises(AnalysisError, match="without missing values"):
        holm([0.1, np.nan])
