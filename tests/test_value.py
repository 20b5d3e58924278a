"""Money next to score: contacts per case against a chain KPI (a hand computation and the demo's
truth), money arithmetic, and the price settings of client.yaml validated."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ipm_analysis import journeys, summary, value
from ipm_analysis.config import ClientConfig
from ipm_analysis.data import load_client
from ipm_analysis.demo import generate_client

FIXTURE = Path(__file__).parent / "fixtures" / "clients" / "fixture"


def test_contact_difference_is_the_difference_of_means_with_the_welch_error():
    client = load_client(FIXTURE)
    d = value.contact_difference(client, "installation", "on_time")
    feats = journeys.chain_journey_features(client, "installation")[["case_id", "n_avoidable"]]
    cases = client.case_kpis[client.case_kpis["chain"] == "installation"][["case_id", "on_time"]].dropna()
    m = cases.merge(feats, on="case_id")
    on, late = m.loc[m["on_time"] == 1, "n_avoidable"], m.loc[m["on_time"] == 0, "n_avoidable"]
    assert d.per_unit == pytest.approx(on.mean() - late.mean(), abs=1e-12)
    welch = np.sqrt(on.var(ddof=1) / len(on) + late.var(ddof=1) / len(late))
    assert d.se == pytest.approx(welch, rel=1e-9)
    assert d.n_cases == len(m)
    months = pd.to_datetime(client.case_kpis.loc[client.case_kpis["chain"] == "installation", "period"])
    assert d.cases_per_month == pytest.approx(months.value_counts().mean())


def test_money_multiplies_out_with_its_intervals():
    diff = value.ContactDifference("c", "k", "share", per_unit=-0.5, se=0.05, ci_low=-0.6, ci_high=-0.4,
                                   p_value=0.0, n_cases=100, mean_contacts=1.0, cases_per_month=200.0)
    m = value.money(diff, 0.1, cost_per_contact=6.5, result_gain=2.0, result_gain_ci=(1.0, 3.0),
                    value_per_point=1000.0, currency="EUR")
    assert m.contacts_saved_per_month == pytest.approx(0.5 * 0.1 * 200)  # 10 contacts a month
    assert (m.contacts_ci_low, m.contacts_ci_high) == pytest.approx((8.0, 12.0))
    assert (m.cost_saved_per_month, m.cost_ci_low, m.cost_ci_high) == pytest.approx((65.0, 52.0, 78.0))
    assert (m.result_value, m.result_value_ci_low, m.result_value_ci_high) == pytest.approx((2000, 1000, 3000))
    bare = value.money(diff, 0.1)
    assert bare.cost_saved_per_month is None and bare.result_value is None


def test_the_demo_contact_difference_recovers_its_truth(tmp_path):
    c = generate_client("koffie", tmp_path / "k", n_responses=4000, seed=5)
    truth = c.truth["contacts_per_case"]["installation.on_time"]["difference_per_unit"]
    d = value.contact_difference(load_client(c.path), "installation", "on_time")
    assert d.ci_low <= truth <= d.ci_high, (truth, d)
    cfg = yaml.safe_load((c.path / "client.yaml").read_text(encoding="utf-8"))
    assert cfg["contacts"]["cost_per_contact"] == c.truth["prices"]["cost_per_contact"]


def _cfg():
    return yaml.safe_load((FIXTURE / "client.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("where,key,bad,fragment", [
    ("contacts", "cost_per_contact", -1, "greater than or equal to 0"),
    ("result_kpi", "value_per_point", -5, "greater than or equal to 0"),
    ("contacts", "cost_per_contact", "a lot", "valid number"),
    ("reporting", "currency", "euro", "pattern"),
    ("contacts", "cost_of_contact", 3, "Extra inputs are not permitted"),
])
def test_prices_are_validated(where, key, bad, fragment):
    cfg = _cfg()
    cfg[where][key] = bad
    with pytest.raises(Exception) as e:
        ClientConfig.model_validate(cfg)
    assert fragment in str(e.value)


def test_a_price_for_contacts_that_are_not_counted_is_refused():
    cfg = _cfg()
    cfg["contacts"] = {"cost_per_contact": 5}
    with pytest.raises(Exception) as e:
        ClientConfig.model_validate(cfg)
    assert "list them under contacts.avoidable" in str(e.value)
    cfg = copy.deepcopy(_cfg())
    cfg["contacts"]["cost_per_contact"] = 5
    cfg["tables"].pop("events")
    cfg["chains"] = [dict(ch, journey=None) for ch in cfg["chains"]]
    for ch in cfg["chains"]:
        ch.pop("journey")
    with pytest.raises(Exception) as e:
        ClientConfig.model_validate(cfg)
    assert "there is none (tables.events)" in str(e.value)


def test_value_note_names_the_prices():
    client = load_client(FIXTURE)
    assert value.value_note(client) == ""


def test_agenda_money_puts_contacts_and_value_next_to_each_agenda_action():
    client = load_client(FIXTURE)
    agenda = type("A", (), {})()
    agenda.actions = pd.DataFrame([{"rank": 1, "chain": "installation", "kpi": "on_time", "name": "On time",
                                    "current": 0.78, "target": 0.9, "gain_overall": 2.0,
                                    "gain_overall_ci_low": 1.5, "gain_overall_ci_high": 2.5}])
    out = value.agenda_money(client, agenda)
    d = value.contact_difference(client, "installation", "on_time")
    row = out.iloc[0]
    assert row["contacts_saved_per_month"] == pytest.approx(-d.per_unit * (0.9 - 0.78) * d.cases_per_month)
    assert row["cost_saved_per_month"] is None and row["value"] is None  # the fixture sets no prices
    rows = summary.agenda_money_from_summary(
        [{"chain": "installation", "kpi": "on_time", "gain_overall": 2.0, "gain_overall_ci_low": 1.5,
          "gain_overall_ci_high": 2.5}],
        {"target_money": [{"chain": "installation", "kpi": "on_time", "contacts saved per month": 3.0}],
         "value_per_point": 100.0})
    assert rows[0]["contacts saved per month"] == 3.0
    assert (rows[0]["value"], rows[0]["value 95% low"], rows[0]["value 95% high"]) == (200.0, 150.0, 250.0)
