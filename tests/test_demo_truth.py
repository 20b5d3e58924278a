"""Issue acceptance: on each demo client (default size) the driver engine recovers the ground truth
written by the generator, and a client with no driver gets a report that says so."""

from __future__ import annotations

import json

import pytest

from ipm_analysis import load_client
from ipm_analysis.agenda import importance_performance_table
from ipm_analysis.batch import REPORT_HTML, report_notebooks, run_client
from ipm_analysis.demo import generate_client
from ipm_analysis.modelframe import model_frame
from ipm_analysis.effects import driver_effects


@pytest.fixture(scope="module", params=["koffie", "woonstad", "webwinkel"])
def demo(request, tmp_path_factory):
    made = generate_client(request.param, tmp_path_factory.mktemp(request.param) / request.param)
    truth = json.loads((made.path / "truth.json").read_text())
    return load_client(made.path), truth


def test_driver_order_within_each_chain_matches_the_truth(demo):
    client, truth = demo
    for chain in {r["chain"] for r in truth["drivers"]}:
        ip = importance_performance_table(model_frame(client, chain), n_boot=100, seed=0).set_index("driver")
        in_chain = sorted((r for r in truth["drivers"] if r["chain"] == chain), key=lambda r: r["rank_in_chain"])
        nulls = [r["kpi"] for r in truth["null_drivers"] if r["chain"] == chain]
        ranked = list(ip["share"].sort_values(ascending=False).index)
        assert ranked[: len(in_chain)] == [r["kpi"] for r in in_chain], (client.id, chain, ranked)
        for kpi in nulls:  # a null driver ranks below every true driver of its chain
            assert ranked.index(kpi) >= len(in_chain)


def test_linear_effects_lie_within_their_intervals(demo):
    client, truth = demo
    for chain in {r["chain"] for r in truth["drivers"]}:
        eff = driver_effects(model_frame(client, chain), ci=0.99).effects.set_index("driver")
        for r in truth["drivers"] + truth["null_drivers"]:
            if r["chain"] != chain or not r.get("linear_in_kpi", True):
                continue
            e = eff.loc[r["kpi"]]
            target = r["ols_target_per_unit"] * e["change"]
            assert e["effect_score_ci_low"] <= target <= e["effect_score_ci_high"], (client.id, r["kpi"])


def test_no_driver_client_report_says_so(tmp_path):
    made = generate_client("koffie", tmp_path / "nodriver", n_responses=2000, no_driver=True)
    nbs = [p for p in report_notebooks() if p.name.startswith(("01_", "03_"))]
    run = run_client(made.path, tmp_path / "reports", nbs)
    assert run.status == "ok", run.message
    html = (run.report_dir / REPORT_HTML).read_text()
    assert "No reliable driver was found" in html
    assert "biggest improvement actions" not in html
    summary = json.loads((run.report_dir / "summary.json").read_text())
    assert summary["drivers"]["top"] == [] and summary["drivers"]["agenda"]["actions"] == []
