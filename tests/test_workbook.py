"""actions.xlsx holds the agenda and the chain KPIs exactly as summary.json states them."""

from __future__ import annotations

import json

import openpyxl
import pytest

from ipm_analysis.workbook import write_workbook

SUMMARY = {
    "overview": {
        "client": "koffie", "title": "Koffie",
        "chains": {"installation": {"name": "Install a coffee machine", "owner": "Head of Operations"}},
        "chain_kpis": [
            {"chain": "installation", "kpi": "on_time", "kpi_name": "Installed on the promised day", "link": "Planning",
             "unit": "share", "n": 3387, "value": 0.7788, "ci_low": 0.7743, "ci_high": 0.7832, "target": 0.9,
             "status": "below target"},
            {"chain": "installation", "kpi": "lead", "kpi_name": "Lead time", "link": "Service", "unit": "days",
             "n": 3000, "value": 14.9, "ci_low": 14.5, "ci_high": 15.3, "target": 10, "status": "below target"}]},
    "drivers": {"agenda": {
        "result_kpi": "NPS", "kpi_unit": "NPS points", "sentence": "First action: lift on time.",
        "actions": [{"rank": 1, "chain": "installation", "chain_name": "Install a coffee machine",
                     "owner": "Head of Operations", "kpi": "on_time", "name": "Installed on the promised day",
                     "link": "Planning", "unit": "share", "current": 0.7788, "target": 0.9, "gain": 6.1315,
                     "gain_ci_low": 5.6918, "gain_ci_high": 6.5711, "gain_overall": 2.0553,
                     "gain_overall_ci_low": 1.9, "gain_overall_ci_high": 2.2}]}},
}


def test_the_workbook_holds_the_agenda_and_the_chain_kpis(tmp_path):
    path = write_workbook(SUMMARY, tmp_path / "actions.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Agenda", "Chain KPIs", "KPI structure"]
    agenda = wb["Agenda"]
    header = [c.value for c in agenda[1]]
    row = dict(zip(header, [c.value for c in agenda[2]]))
    a = SUMMARY["drivers"]["agenda"]["actions"][0]
    assert row["chain KPI"] == a["name"] and row["owning link"] == "Planning"
    assert row["chain owner"] == "Head of Operations"
    assert row["expected gain among the chain's respondents (NPS points)"] == pytest.approx(a["gain"])
    assert (row["95% interval from"], row["95% interval to"]) == pytest.approx((a["gain_ci_low"], a["gain_ci_high"]))
    assert row["today"] == pytest.approx(0.7788) and agenda.cell(row=2, column=6).number_format == "0.0%"
    kpis = wb["Chain KPIs"]
    values = [[c.value for c in r] for r in kpis.iter_rows(min_row=2)]
    assert [v[2] for v in values] == ["Installed on the promised day", "Lead time"]
    assert kpis.cell(row=2, column=6).number_format == "0.0%" and kpis.cell(row=3, column=6).number_format == "0.0"
    assert [c.value for c in wb["KPI structure"][2]] == ["NPS", "Install a coffee machine", "Head of Operations",
                                                         "Installed on the promised day", "Planning"]


def test_without_a_reliable_driver_the_agenda_says_so(tmp_path):
    summary = json.loads(json.dumps(SUMMARY))
    summary["drivers"]["agenda"].update(actions=[], sentence="No reliable driver was found.")
    wb = openpyxl.load_workbook(write_workbook(summary, tmp_path / "a.xlsx"))
    assert [c.value for c in wb["Agenda"][2]][:2] == [None, "No reliable driver was found."]


def test_money_and_predicted_against_realised_sheets_follow_the_actions_section(tmp_path):
    summary = json.loads(json.dumps(SUMMARY))
    summary["actions"] = {
        "reviews": [{"action": "Kit", "measured on": "On time", "design": "difference in differences", "verdict": "worked"}],
        "gains": [{"action": "kit", "kpi": "on_time", "predicted gain": 5.4, "realised gain": 4.0,
                   "agreement": "as predicted"}],
        "target_money": [{"chain": "installation", "kpi": "on_time", "contacts saved per month": 16.2,
                          "contacts saved 95% low": 13.9, "contacts saved 95% high": 18.5,
                          "cost saved per month": 105.4, "cost saved 95% low": 90.6, "cost saved 95% high": 120.1}],
        "money": [{"action": "kit", "value": 1000.0}],
        "currency": "EUR", "cost_per_contact": 6.5, "value_per_point": 15000,
    }
    wb = openpyxl.load_workbook(write_workbook(summary, tmp_path / "m.xlsx"))
    assert wb.sheetnames == ["Agenda", "Chain KPIs", "KPI structure", "Actions taken", "Predicted vs realised",
                             "Agenda money", "Contacts at target", "Actions money"]
    header = [c.value for c in wb["Agenda money"][1]]
    row = dict(zip(header, [c.value for c in wb["Agenda money"][2]]))
    a = summary["drivers"]["agenda"]["actions"][0]
    assert row["contacts saved per month"] == pytest.approx(16.2)
    assert row["cost saved per month (EUR)"] == pytest.approx(105.4)
    assert row["value (EUR)"] == pytest.approx(a["gain_overall"] * 15000)
    assert (row["value 95% low (EUR)"], row["value 95% high (EUR)"]) == pytest.approx((1.9 * 15000, 2.2 * 15000))
    g = dict(zip([c.value for c in wb["Predicted vs realised"][1]], [c.value for c in wb["Predicted vs realised"][2]]))
    assert g["predicted gain"] == 5.4 and g["agreement"] == "as predicted"
