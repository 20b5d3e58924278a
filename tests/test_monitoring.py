"""Control charts of chain KPIs: limits against a hand computation, signal rules on known series."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ipm_analysis.errors import AnalysisError
from ipm_analysis.monitoring import chain_kpi_charts, default_baseline, individuals_chart, p_chart, signal_rules

MONTHS = pd.date_range("2024-01-01", periods=12, freq="MS")


def test_p_chart_limits_by_hand():
    n = [100, 120, 80, 100, 90, 110, 100, 100, 95, 105, 100, 100]
    x = [90, 110, 70, 88, 81, 99, 91, 89, 86, 95, 60, 92]
    chart = p_chart(pd.DataFrame({"period": MONTHS, "successes": x, "n": n}), baseline=10)
    pbar = sum(x[:10]) / sum(n[:10])  # the baseline's pooled share
    assert chart.center == pytest.approx(pbar, abs=1e-15)
    t = chart.table
    for i in range(12):
        s = math.sqrt(pbar * (1 - pbar) / n[i])
        assert t["lcl"][i] == pytest.approx(max(0.0, pbar - 3 * s), abs=1e-15)
        assert t["ucl"][i] == pytest.approx(min(1.0, pbar + 3 * s), abs=1e-15)
        assert t["value"][i] == pytest.approx(x[i] / n[i])
    # month 11: 60 % against a centre near 89 %: far below its limit, and the only point out
    assert [p.month for p in chart.signals.query("rule == 'beyond_3_sigma'")["period"]] == [11]
    assert t["baseline"].tolist() == [True] * 10 + [False] * 2


def test_individuals_chart_limits_by_hand():
    values = [5.0, 6.0, 5.5, 7.0, 6.5, 6.0, 5.0, 6.0, 9.5, 6.0, 5.5, 12.0]
    chart = individuals_chart(pd.DataFrame({"period": MONTHS, "value": values}), baseline=8)
    base = values[:8]
    mr = [abs(b - a) for a, b in zip(base, base[1:])]
    sigma = (sum(mr) / len(mr)) / 1.128
    center = sum(base) / 8
    assert chart.center == pytest.approx(center)
    assert chart.table["ucl"][0] == pytest.approx(center + 3 * sigma)
    assert chart.table["lcl"][0] == pytest.approx(center - 3 * sigma)
    out = chart.signals.query("rule == 'beyond_3_sigma'")
    assert [p.month for p in out["period"]] == [c for c, v in zip(range(1, 13), values) if v > center + 3 * sigma]


def test_each_rule_fires_where_its_run_completes():
    assert signal_rules([0, 0, 3.2, 0]) == [(), (), ("beyond_3_sigma",), ()]
    assert "two_of_three_beyond_2_sigma" in signal_rules([0, 2.5, 0.1, 2.2])[3]
    assert "two_of_three_beyond_2_sigma" not in signal_rules([0, 2.5, 0.1, -2.2])[3]  # not on one side
    assert "four_of_five_beyond_1_sigma" in signal_rules([1.5, 1.2, 0.3, 1.1, 1.4])[4]
    z = [0.5] * 7 + [0.2]
    assert "eight_on_one_side" in signal_rules(z)[7] and "eight_on_one_side" not in signal_rules(z)[6]
    rising = [-1.0, -0.5, -0.2, 0.1, 0.3, 0.9]
    assert "six_trending" in signal_rules(rising)[5]
    assert signal_rules([0.3, -0.2, 0.5, -0.4, 0.1, -0.1, 0.2, -0.3]) == [()] * 8


def test_a_level_shift_is_caught_after_it_and_not_before():
    rng = np.random.default_rng(11)
    hits_before = hits_after = 0
    for _ in range(50):
        n = np.full(30, 400)
        p = np.r_[np.full(18, 0.90), np.full(12, 0.86)]  # -4 pp from period 19 (about 2.7 sigma of a month)
        x = rng.binomial(n, p)
        periods = pd.date_range("2023-01-01", periods=30, freq="MS")
        chart = p_chart(pd.DataFrame({"period": periods, "successes": x, "n": n}), baseline=18)
        sig = chart.signals
        hits_after += bool(len(sig[sig["period"] >= periods[18]]))
        hits_before += bool(len(sig[sig["period"] < periods[18]]))
    assert hits_after >= 48  # the shift is seen in almost every run
    assert hits_before <= 20  # false alarms over 18 in-control months, five rules: a minority of runs


def test_signals_since_the_last_report():
    x = [90] * 10 + [60, 91]
    chart = p_chart(pd.DataFrame({"period": MONTHS, "successes": x, "n": [100] * 12}))
    assert chart.signals_since("2024-10-01")["period"].dt.month.tolist() == [11]
    assert chart.signals_since("2024-11-01").empty


def test_refusals():
    few = pd.DataFrame({"period": MONTHS[:5], "successes": [1] * 5, "n": [2] * 5})
    with pytest.raises(AnalysisError, match="at least 8 baseline periods"):
        p_chart(few)
    with pytest.raises(AnalysisError, match="successes <= n"):
        p_chart(pd.DataFrame({"period": MONTHS, "successes": [3] * 12, "n": [2] * 12}))
    with pytest.raises(AnalysisError, match="missing"):
        individuals_chart(pd.DataFrame({"period": MONTHS}))


def test_chain_kpi_charts_of_the_fixture_client_match_a_hand_computation():
    from ipm_analysis.data import load_client

    from .conftest import FIXTURE_CLIENT

    client = load_client(FIXTURE_CLIENT)
    charts = chain_kpi_charts(client)
    assert set(charts) == {k.id for k in client.config.kpis}
    on_time = charts["on_time"]
    assert on_time.kind == "p"
    cases = client.case_kpis[(client.case_kpis["chain"] == "installation")].dropna(subset=["on_time"])
    by = cases.groupby("period")["on_time"].agg(["sum", "size"])
    by = by[by["size"] >= client.config.reporting.min_base_suppress]
    k = default_baseline(len(by))
    assert on_time.center == pytest.approx(by["sum"].iloc[:k].sum() / by["size"].iloc[:k].sum())
    assert on_time.table["n"].tolist() == by["size"].tolist()
    lead = charts["lead_time_days"]
    assert lead.kind == "i"
    assert lead.table["value"].to_numpy() == pytest.approx(
        cases.dropna(subset=["lead_time_days"]).groupby("period")["lead_time_days"].mean()
        .loc[lead.table["period"]].to_numpy())


def test_periods_left_out_are_not_charted():
    from ipm_analysis.data import load_client

    from .conftest import FIXTURE_CLIENT

    client = load_client(FIXTURE_CLIENT)
    last = client.case_kpis["period"].max()
    kept = chain_kpi_charts(client)["on_time"].table["period"]
    assert last in set(kept)
    assert last not in set(chain_kpi_charts(client, leave_out=[last])["on_time"].table["period"])
