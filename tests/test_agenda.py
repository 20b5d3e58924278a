"""Tests for ipm_analysis.agenda: importance-performance, what-if and the improvement agenda.

The what-if is checked against the exact NPS shift of a simulated proportional-odds model
(same respondents, true parameters). The committed fixture client is checked against its
``truth.json`` (format: docs/demo-clients.md and ipm_analysis/demo/): driver order within
each chain and overall, and the true effects inside the estimated intervals.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from ipm_analysis.agenda import (
    QUADRANTS,
    Agenda,
    agenda_summary,
    importance_performance_table,
    improvement_agenda,
    what_if,
    what_if_scenario,
)
from ipm_analysis.config import RatingScale
from ipm_analysis.data import load_client
from ipm_analysis.errors import AnalysisError
from ipm_analysis.modelframe import frame_from_data, model_frame
from ipm_analysis.effects import driver_effects
from tests.conftest import FIXTURE_CLIENT

CUTS = np.array([-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.8, 1.6, 2.6])
BETA = {"on_time": 1.2, "lead_time": -0.08, "noise": 0.0}
CAUSAL = re.compile(r"\b(causes|caused|causing|drives|leads to)\b", re.IGNORECASE)


def probs(eta: np.ndarray) -> np.ndarray:
    cdf = expit(CUTS[None, :] - eta[:, None])
    return np.diff(np.column_stack([np.zeros(len(eta)), cdf, np.ones(len(eta))]), axis=1)


def nps_of(eta: np.ndarray) -> np.ndarray:
    p = probs(eta)
    return 100 * (p[:, 9:].sum(axis=1) - p[:, :7].sum(axis=1))


def simulate(n: int, seed: int, beta=BETA) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"on_time": rng.binomial(1, 0.8, n).astype(float), "lead_time": rng.gamma(4, 2.5, n),
                       "noise": rng.normal(size=n)})
    eta = sum(beta[k] * df[k].to_numpy() for k in beta)
    df["score"] = np.searchsorted(CUTS, eta + rng.logistic(size=n)).astype(float)
    df["eta"] = eta
    return df


def frame(df, targets=None, directions=None, scale="nps"):
    return frame_from_data(
        df, ["on_time", "lead_time", "noise"], scale=scale,
        units={"on_time": "share", "lead_time": "days", "noise": "number"},
        directions=directions or {"on_time": "higher", "lead_time": "lower", "noise": "higher"},
        targets=targets or {"on_time": 0.9, "lead_time": 8.0, "noise": -1.0},
        names={"on_time": "Installed on time", "lead_time": "Lead time"})


@pytest.fixture(scope="module")
def sim():
    return simulate(3000, seed=21)


# --------------------------------------------------------------------------------------
# what-if
# --------------------------------------------------------------------------------------


def test_what_if_recovers_the_true_nps_shift_of_a_share(sim):
    mf = frame(sim)
    wi = what_if(mf, "on_time", ci=0.99)
    x = sim["on_time"].to_numpy()
    eta = sim["eta"].to_numpy()
    p = x.mean()
    q = (0.9 - p) / (1 - p)
    fail = x == 0
    truth = np.mean(np.where(fail, q * (nps_of(eta + BETA["on_time"]) - nps_of(eta)), 0.0))
    assert wi.mode == "flip" and wi.to == 0.9
    assert wi.gain_ci_low <= truth <= wi.gain_ci_high
    assert wi.mean_after == pytest.approx(0.9)
    assert wi.kpi_expected == pytest.approx(wi.kpi_now + wi.gain)
    assert "if the association holds" in wi.sentence and not CAUSAL.search(wi.sentence)


def test_what_if_shift_and_clip_recover_the_true_shift(sim):
    mf = frame(sim)
    eta = sim["eta"].to_numpy()
    x = sim["lead_time"].to_numpy()
    wi = what_if(mf, "lead_time", ci=0.99)  # shift: every case by target - mean
    truth = np.mean(nps_of(eta + BETA["lead_time"] * (8.0 - x.mean())) - nps_of(eta))
    assert wi.mode == "shift" and wi.mean_after == pytest.approx(8.0)
    assert wi.gain_ci_low <= truth <= wi.gain_ci_high and wi.gain > 0
    clip = what_if(mf, "lead_time", mode="clip", ci=0.99)
    truth_clip = np.mean(nps_of(eta + BETA["lead_time"] * (np.minimum(x, 8.0) - x)) - nps_of(eta))
    assert clip.gain_ci_low <= truth_clip <= clip.gain_ci_high
    assert clip.gain > wi.gain  # clipping every slow case goes beyond the mean target
    assert "were brought to" in clip.sentence


def test_a_scenario_of_two_kpis_recovers_the_true_joint_shift(sim):
    mf = frame(sim)
    sc = what_if_scenario(mf, {"on_time": 0.9, "lead_time": 8.0}, ci=0.99)
    eta = sim["eta"].to_numpy()
    x, lt = sim["on_time"].to_numpy(), sim["lead_time"].to_numpy()
    q = (0.9 - x.mean()) / (1 - x.mean())
    shifted = eta + BETA["lead_time"] * (8.0 - lt.mean())
    flipped = np.where(x == 0, q * nps_of(shifted + BETA["on_time"]) + (1 - q) * nps_of(shifted), nps_of(shifted))
    truth = np.mean(flipped - nps_of(eta))
    assert sc.gain_ci_low <= truth <= sc.gain_ci_high
    assert sc.moves["driver"].tolist() == ["on_time", "lead_time"]
    assert sc.moves["mode"].tolist() == ["flip", "shift"]
    assert sc.moves["mean_after"].tolist() == pytest.approx([0.9, 8.0])
    one, two = what_if(mf, "on_time"), what_if(mf, "lead_time")
    assert sc.gain > max(one.gain, two.gain)  # both moves help; together more than either
    assert sc.kpi_expected == pytest.approx(sc.kpi_now + sc.gain)
    assert "Installed on time from" in sc.sentence and " and Lead time from" in sc.sentence
    assert "if the association holds" in sc.sentence and not CAUSAL.search(sc.sentence)


def test_a_scenario_of_one_kpi_equals_what_if_and_unmoved_kpis_change_nothing(sim):
    mf = frame(sim)
    wi = what_if(mf, "on_time", to=0.85)
    sc = what_if_scenario(mf, {"on_time": 0.85, "lead_time": float(sim["lead_time"].mean())})
    assert (sc.gain, sc.se) == pytest.approx((wi.gain, wi.se), rel=1e-9)
    assert (sc.gain_ci_low, sc.gain_ci_high) == pytest.approx((wi.gain_ci_low, wi.gain_ci_high), rel=1e-9)
    still = what_if_scenario(mf, {"lead_time": float(sim["lead_time"].mean())})
    assert still.gain == pytest.approx(0, abs=1e-9) and still.sentence.startswith("With every chain KPI")
    clip = what_if_scenario(mf, {"lead_time": 8.0}, modes={"lead_time": "clip"})
    assert clip.gain == pytest.approx(what_if(mf, "lead_time", mode="clip").gain, rel=1e-9)
    with pytest.raises(AnalysisError, match="at least one driver"):
        what_if_scenario(mf, {})
    with pytest.raises(AnalysisError, match="do not move"):
        what_if_scenario(mf, {"on_time": 0.9}, modes={"lead_time": "clip"})
    with pytest.raises(AnalysisError, match="between 0 and 1"):
        what_if_scenario(mf, {"on_time": 90})


def test_what_if_on_a_rating_scale_predicts_the_mean_score():
    df = simulate(2000, seed=4)
    df["score"] = np.minimum(df["score"], 9) + 1  # a 1-10 rating; same latent model with 10 levels
    levels = np.arange(1, 11)
    scale = RatingScale(min=1, max=10, top_box=[9, 10], bottom_box=[1, 2, 3, 4])
    wi = what_if(frame(df, scale=scale), "on_time", ci=0.99)
    eta = df["eta"].to_numpy()
    x = df["on_time"].to_numpy()
    p = probs(eta)
    p = np.column_stack([p[:, :9], p[:, 9:].sum(axis=1)])
    p1 = probs(eta + BETA["on_time"])
    p1 = np.column_stack([p1[:, :9], p1[:, 9:].sum(axis=1)])
    q = (0.9 - x.mean()) / (1 - x.mean())
    truth = np.mean(np.where(x == 0, q * ((p1 - p) @ levels), 0.0))
    assert wi.kpi_unit == "points on the 1-10 scale"
    assert wi.gain_ci_low <= truth <= wi.gain_ci_high


def test_what_if_checks_its_inputs(sim):
    mf = frame(sim)
    with pytest.raises(AnalysisError, match="'noise'"):
        what_if(frame_from_data(sim, ["noise"]), "noise")
    with pytest.raises(AnalysisError, match="between 0 and 1"):
        what_if(mf, "on_time", to=90)
    with pytest.raises(AnalysisError, match="'flip' needs a 0/1"):
        what_if(mf, "lead_time", mode="flip")
    with pytest.raises(AnalysisError, match="'nope'"):
        what_if(mf, "nope")


# --------------------------------------------------------------------------------------
# importance-performance
# --------------------------------------------------------------------------------------


def test_importance_performance_follows_the_documented_rule(sim):
    mf = frame(sim, targets={"on_time": 0.9, "lead_time": 12.0, "noise": -1.0})
    ip = importance_performance_table(mf, n_boot=100, seed=1).set_index("driver")
    assert set(ip["quadrant"]) <= set(QUADRANTS) | {"no target"}
    for d, r in ip.iterrows():
        high = r["share"] >= 1 / 3
        on = r["gap"] >= 0
        expected = {(True, False): "fix first", (True, True): "keep up", (False, True): "possible overkill",
                    (False, False): "low priority"}[(high, on)]
        assert r["quadrant"] == expected, d
        assert r["share_ci_low"] <= r["share"] <= r["share_ci_high"]
    assert ip.loc["on_time", "quadrant"] == "fix first"  # important, 80 % against 90 %
    assert ip.loc["lead_time", "quadrant"] == "keep up"  # important, 10 days against 12
    assert ip.loc["noise", "quadrant"] == "possible overkill"  # unimportant, above its target
    assert ip["share"].sum() == pytest.approx(1.0)
    assert "Fix first" in ip.attrs["rule"]


# --------------------------------------------------------------------------------------
# the agenda
# --------------------------------------------------------------------------------------


def _all_text(agenda: Agenda) -> list[str]:
    texts = [agenda.sentence, agenda.method, *agenda.chain_notes.values()]
    texts += agenda.actions["sentence"].tolist()
    texts += [e for m in agenda.models.values() for e in m.effects["reading"]]
    return texts


def test_agenda_ranks_actions_by_expected_gain(sim):
    agenda = improvement_agenda(frame(sim), n_boot=50)
    act = agenda.actions
    assert agenda.reliable and list(act["rank"]) == list(range(1, len(act) + 1))
    assert set(act["kpi"]) == {"on_time", "lead_time"}  # noise is not reliable, and on its target
    assert act["gain_overall"].is_monotonic_decreasing
    assert (act["gain_ci_low"] > 0).all()
    cons = agenda.considered.set_index("kpi")
    assert cons.loc["noise", "status"] in ("no reliable association", "on target")
    for text in _all_text(agenda):
        assert not CAUSAL.search(text), text
    assert all("if the association holds" in s for s in act["sentence"])
    assert agenda.sentence.startswith("First action: Lift")


def test_no_driver_data_gives_an_empty_agenda_and_says_so():
    df = simulate(2000, seed=8, beta={"on_time": 0.0, "lead_time": 0.0, "noise": 0.0})
    agenda = improvement_agenda(frame(df), n_boot=50)
    assert agenda.actions.empty and not agenda.reliable
    assert agenda.sentence.startswith("No reliable driver was found")
    assert "explain at most" in agenda.sentence  # the low R² in plain words
    summary = agenda_summary(agenda)
    text = json.dumps(summary)  # JSON-ready: no NaN, no numpy types
    assert "NaN" not in text
    assert summary["actions"] == [] and summary["reliable"] is False
    assert summary["sentence"] == agenda.sentence


def test_unexpected_direction_is_reported_not_proposed(sim):
    # declare lead time as higher-is-better with a target above the current mean
    mf = frame(sim, targets={"on_time": 0.9, "lead_time": 14.0, "noise": -1.0},
               directions={"on_time": "higher", "lead_time": "higher", "noise": "higher"})
    agenda = improvement_agenda(mf, n_boot=0)
    cons = agenda.considered.set_index("kpi")
    assert cons.loc["lead_time", "status"] == "associated in the unexpected direction"
    assert "lead_time" not in agenda.actions["kpi"].tolist()


def test_agenda_summary_is_json_ready(sim):
    agenda = improvement_agenda(frame(sim), n_boot=20)
    summary = agenda_summary(agenda)
    back = json.loads(json.dumps(summary))
    assert back["result_kpi"] == "NPS" and back["kpi_unit"] == "NPS points"
    first = back["actions"][0]
    assert {"kpi", "link", "owner", "current", "target", "gain", "gain_ci_low", "gain_ci_high"} <= set(first)
    assert isinstance(first["gain"], float)
    with pytest.raises(AnalysisError, match="Agenda"):
        agenda_summary({"actions": []})


def test_agenda_rejects_what_it_cannot_use():
    with pytest.raises(AnalysisError, match="Client, a ModelFrame"):
        improvement_agenda(pd.DataFrame())


# --------------------------------------------------------------------------------------
# the committed fixture client against its ground truth
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_client():
    if not (FIXTURE_CLIENT / "truth.json").is_file():
        pytest.skip("the committed fixture client is not there yet")
    truth = json.loads((FIXTURE_CLIENT / "truth.json").read_text(encoding="utf-8"))
    return load_client(FIXTURE_CLIENT), truth


def test_fixture_driver_order_matches_the_truth(fixture_client):
    client, truth = fixture_client
    true_drivers = truth["drivers"]
    head = "effect_on_nps_points_per_unit"
    overall = {}
    n_all = client.linked["score"].notna().sum()
    var_all = client.linked["score"].var(ddof=0)
    for chain in {r["chain"] for r in true_drivers}:
        mf = model_frame(client, chain)
        ip = importance_performance_table(mf, n_boot=200, seed=0).set_index("driver")
        in_chain = sorted((r for r in true_drivers if r["chain"] == chain), key=lambda r: r["rank_in_chain"])
        estimated = ip.loc[[r["kpi"] for r in in_chain], "share"]
        assert list(estimated.sort_values(ascending=False).index) == [r["kpi"] for r in in_chain], chain
        # the true share of explained variance lies in the bootstrap interval; a null driver's
        # share is near zero (a percentile interval of a quantity that cannot be negative may
        # sit just above a true value of almost exactly zero, so only its lower end is checked)
        for r in truth["drivers"]:
            if r["chain"] == chain:
                assert ip.loc[r["kpi"], "share_ci_low"] <= r["lmg_share_in_chain"] <= ip.loc[r["kpi"], "share_ci_high"]
        for r in truth["null_drivers"]:
            if r["chain"] == chain:
                assert ip.loc[r["kpi"], "share_ci_low"] < 0.05
        # the chain's contribution to the variance of all scores, as truth.json's "importance"
        v = mf.frame["score"].var(ddof=0)
        for d, r in ip.iterrows():
            overall[d] = mf.n / n_all * r["importance"] * v / var_all
        assert head in in_chain[0]
    ranked = sorted(overall, key=lambda d: -overall[d])
    truth_order = [r["kpi"] for r in sorted(true_drivers, key=lambda r: r["rank"])]
    assert ranked[0] == truth_order[0]
    nulls = {r["kpi"] for r in truth["null_drivers"]}
    assert set(ranked[-len(nulls):]) == nulls  # the null drivers rank last
    # rank agreement among the true drivers (Kendall's tau), allowing a swap of near-ties
    pos = {d: i for i, d in enumerate(d for d in ranked if d not in nulls)}
    pairs = [(a, b) for i, a in enumerate(truth_order) for b in truth_order[i + 1:]]
    concordant = sum(pos[a] < pos[b] for a, b in pairs)
    tau = (2 * concordant - len(pairs)) / len(pairs)
    assert tau >= 0.7, (ranked, truth_order)


def test_fixture_effects_lie_in_their_intervals(fixture_client):
    client, truth = fixture_client
    for chain in {r["chain"] for r in truth["drivers"]}:
        models = driver_effects(model_frame(client, chain), ci=0.99)
        eff = models.effects.set_index("driver")
        for r in truth["drivers"] + truth["null_drivers"]:
            if r["chain"] != chain:
                continue
            e = eff.loc[r["kpi"]]
            c = e["change"]
            target = r["ols_target_per_unit"] * c
            assert e["effect_score_ci_low"] <= target <= e["effect_score_ci_high"], r["kpi"]
            nps_truth = r["effect_on_nps_points_per_unit"] * c
            assert e["effect_kpi_ci_low"] <= nps_truth <= e["effect_kpi_ci_high"], r["kpi"]


def test_generated_no_driver_client_gets_no_agenda(tmp_path):
    demo = pytest.importorskip("ipm_analysis.demo")
    made = demo.generate_client("koffie", tmp_path / "nodriver", n_responses=2000, no_driver=True)
    agenda = improvement_agenda(load_client(made.path), n_boot=50)
    assert agenda.actions.empty and not agenda.reliable
    assert agenda.sentence.startswith("No reliable driver was found")
    assert all(note.startswith("No reliable driver was found") for note in agenda.chain_notes.values())
    assert json.loads(json.dumps(agenda_summary(agenda)))["actions"] == []


def test_fixture_agenda_proposes_true_drivers_only(fixture_client):
    client, truth = fixture_client
    agenda = improvement_agenda(client, n_boot=100)
    nulls = {(r["chain"], r["kpi"]) for r in truth["null_drivers"]}
    proposed = set(zip(agenda.actions["chain"], agenda.actions["kpi"], strict=True))
    assert proposed and not proposed & nulls
    assert agenda.actions["owner"].notna().all() and agenda.actions["link"].notna().all()
    summary = agenda_summary(agenda)
    json.dumps(summary)
    assert {c["chain"] for c in summary["chains"]} == {c.id for c in client.config.chains}
    for text in _all_text(agenda):
        assert not CAUSAL.search(text), text
