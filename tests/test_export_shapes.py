"""Real exports as they come: no answer date, no id, one file for responses and cases, a file's
own column names where client.yaml names a column, KPIs in minutes and seconds."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

import ipm_analysis as ipm
from ipm_analysis import report
from ipm_analysis.units import UNITS, format_value

from .conftest import BASE_CONFIG, write_client

# one row per order: the survey answer and the operational fields on the same row, no answer id
ORDERS = """order_id,purchased,promised,delivered,review_answer_timestamp,review_score,wait_minutes
o1,2024-01-02 10:00:00,2024-01-10,2024-01-08 12:00:00,2024-01-12 09:00:00,5,3
o2,2024-01-03 11:00:00,2024-01-10,2024-01-15 12:00:00,2024-01-18 09:00:00,1,44
o3,2024-02-04 12:00:00,2024-02-12,2024-02-11 12:00:00,2024-02-20 09:00:00,4,12
o4,2024-02-05 13:00:00,2024-02-12,2024-02-19 12:00:00,2024-03-01 09:00:00,2,30
"""


def _orders_config(**cases_columns) -> dict:
    return {
        "id": "orders",
        "title": "Orders",
        "result_kpi": {"name": "Review score", "scale": "rating", "min": 1, "max": 5, "top_box": [5],
                       "bottom_box": [1, 2]},
        "tables": {
            "responses": {"file": "orders.csv",
                          "columns": {"score": "review_score", "responded_at": "review_answer_timestamp"}},
            "cases": {"from": "responses", "chain": "delivery", "columns": dict(cases_columns)},
        },
        "chains": [{"id": "delivery", "name": "Deliver an order", "owner": "Head of Logistics", "links": ["Logistics"],
                    "kpis": [
                        {"id": "on_time", "name": "Delivered by the promised date",
                         "expression": "delivered::DATE <= promised::DATE", "unit": "share", "direction": "higher",
                         "link": "Logistics"},
                        {"id": "wait", "name": "Wait on the phone", "expression": "wait_minutes", "unit": "minutes",
                         "direction": "lower", "link": "Logistics"},
                    ],
                    "journey": {"steps": ["Purchase", "Deliver", "Review"],
                                # the file's own name and the contract name alike
                                "milestones": {"Purchase": "purchased", "Deliver": "delivered",
                                               "Review": "review_answer_timestamp"}}}],
        "reporting": {"min_base_flag": 1, "min_base_suppress": 1},
    }


def test_cases_from_responses_take_their_opened_and_closed_columns(tmp_path):
    folder = write_client(tmp_path / "orders", _orders_config(opened_at="purchased", closed_at="delivered"),
                          responses_csv=None, cases_csv=None, events_csv=None, **{"orders.csv": ORDERS})
    c = ipm.load_client(folder)
    raw = pd.read_csv(folder / "orders.csv")
    cases = c.cases.set_index("case_id")
    # no id column: the 1-based row number serves for responses and their cases
    assert c.responses["response_id"].tolist() == ["1", "2", "3", "4"]
    assert list(cases.index) == ["1", "2", "3", "4"]
    assert cases["opened_at"].tolist() == pd.to_datetime(raw["purchased"]).tolist()
    assert cases["closed_at"].tolist() == pd.to_datetime(raw["delivered"]).tolist()
    # a case's month is the month it closed: o4 was delivered in February, answered in March
    assert cases.loc["4", "period"] == pd.Timestamp("2024-02-01")
    assert c.responses.set_index("response_id").loc["4", "period"] == pd.Timestamp("2024-03-01")
    # the milestone named by the file's own column (review_answer_timestamp, mapped to responded_at)
    review = c.events[c.events["activity"] == "Review"].set_index("case_id")["timestamp"]
    assert review.tolist() == pd.to_datetime(raw["review_answer_timestamp"]).tolist()
    # the linked rows carry the KPI values of their own row
    on_time = (pd.to_datetime(raw["delivered"]).dt.normalize() <= pd.to_datetime(raw["promised"])).astype(float)
    assert c.linked["on_time"].tolist() == on_time.tolist()


def test_without_case_columns_a_case_opens_at_the_answer_and_never_closes(tmp_path):
    folder = write_client(tmp_path / "orders", _orders_config(), responses_csv=None, cases_csv=None,
                          events_csv=None, **{"orders.csv": ORDERS})
    c = ipm.load_client(folder)
    assert c.cases["opened_at"].tolist() == c.responses["responded_at"].tolist()
    assert "closed_at" not in c.cases


def test_a_missing_case_column_is_named(tmp_path):
    folder = write_client(tmp_path / "orders", _orders_config(closed_at="delivered_on"), responses_csv=None,
                          cases_csv=None, events_csv=None, **{"orders.csv": ORDERS})
    errors = [str(p) for p in ipm.validate_client(folder) if p.severity == "error"]
    assert any("tables.cases.columns maps 'delivered_on'" in e and "orders.csv" in e for e in errors), errors


def test_survey_without_answer_date_and_id(tmp_path):
    cfg = _orders_config(opened_at="purchased", closed_at="delivered")
    del cfg["tables"]["responses"]["columns"]["responded_at"]
    data = ORDERS.replace("review_answer_timestamp", "answered_on")
    folder = write_client(tmp_path / "orders", cfg, responses_csv=None, cases_csv=None, events_csv=None,
                          **{"orders.csv": data})
    cfg["chains"][0]["journey"]["milestones"]["Review"] = "answered_on"
    write_client(folder, cfg, responses_csv=None, cases_csv=None, events_csv=None, **{"orders.csv": data})
    c = ipm.load_client(folder)
    assert c.responses["responded_at"].isna().all() and c.responses["period"].isna().all()
    warnings = " ".join(p.message for p in c.warnings)
    assert "analyses by month are left out" in warnings and "row number" in warnings
    # the analyses by period are left out, with one sentence; the rest runs
    assert not report.has_answer_dates(c) and report.has_case_dates(c)
    assert "no answer date" in report.dates_missing(c)
    assert report.monthly_association(c).empty
    assert report.recent_change(c) is None
    assert "no answer date" in report.change_sentence(c, None)
    overall = report.result_kpi_overall(c)
    assert overall.mean == pytest.approx(pd.read_csv(folder / "orders.csv")["review_score"].mean())
    assert len(report.chain_kpis(c)) == 2


def test_customer_file_without_any_date(tmp_path):
    data = "churned,calls,plan\nno,1,basic\nyes,5,basic\nno,0,plus\nyes,4,plus\nno,2,basic\n"
    cfg = {"id": "churn", "title": "Churn",
           "result_kpi": {"name": "Stayed", "scale": "labels", "labels": ["yes", "no"], "top_box": ["no"],
                          "bottom_box": ["yes"]},
           "tables": {"responses": {"file": "customers.csv", "columns": {"score": "churned"}},
                      "cases": {"from": "responses"}},
           "chains": [{"id": "service", "name": "Service", "owner": "Head of Care", "links": ["Care"],
                       "kpis": [{"id": "calls", "name": "Service calls", "expression": "calls", "unit": "count",
                                 "direction": "lower", "link": "Care"}]}],
           "reporting": {"min_base_flag": 1, "min_base_suppress": 1}}
    folder = write_client(tmp_path / "churn", cfg, responses_csv=None, cases_csv=None, events_csv=None,
                          **{"customers.csv": data})
    c = ipm.load_client(folder)
    assert c.cases["opened_at"].isna().all()
    assert "no dates" in report.dates_missing(c)
    assert report.chain_kpis_monthly(c).empty
    t = report.chain_kpis(c)
    assert t.loc[0, "value"] == pytest.approx(12 / 5)


def test_own_names_and_contract_names_alike(tmp_path, base_config):
    # the contract name (score) and the file's own name (nps) give the same segment and KPI values
    own = copy.deepcopy(base_config)
    own["segments"].append({"id": "recommender", "name": "Recommender", "table": "responses",
                            "expression": "CASE WHEN nps >= 9 THEN 'yes' ELSE 'no' END"})
    contract = copy.deepcopy(base_config)
    contract["segments"].append({"id": "recommender", "name": "Recommender", "table": "responses",
                                 "expression": "CASE WHEN score >= 9 THEN 'yes' ELSE 'no' END"})
    a = ipm.load_client(write_client(tmp_path / "own", own))
    b = ipm.load_client(write_client(tmp_path / "contract", contract))
    assert a.responses["recommender"].tolist() == ["yes", "no", "yes", "no"]
    pd.testing.assert_frame_equal(a.responses, b.responses)
    assert "nps" not in a.responses  # the alias serves expressions; the loaded table keeps contract names


def test_a_name_that_is_both_says_which_was_used(tmp_path, base_config):
    # a mapping that swaps names: the file's 'age' becomes 'years' and the file's 'years' becomes
    # 'age_band', so 'years' in an expression is both a loaded column and a file's own name
    cfg = copy.deepcopy(base_config)
    cfg["tables"]["responses"]["columns"] = {"score": "nps", "years": "age", "age_band": "years"}
    responses = ("response_id,responded_at,nps,case_id,years,age\n001,2024-01-05,9,c1,0.5,30\n"
                 "002,2024-01-06,3,c2,2,0.2\n")
    c = ipm.load_client(write_client(tmp_path / "c", cfg, responses_csv=responses))
    # 'years < 1' read the loaded column years (the file's age: 30 and 0.2)
    assert c.responses["tenure"].tolist() == ["existing", "new"]
    assert any("is both a column" in p.message and "'years'" in p.message for p in c.warnings)


def test_minutes_and_seconds_are_shown_in_their_unit():
    assert "minutes" in UNITS and "seconds" in UNITS
    assert format_value(44, "minutes") == "44.0 minutes"
    assert format_value(13.25, "seconds") == "13.2 seconds"


def test_a_kpi_in_minutes_is_reported_in_minutes(tmp_path):
    folder = write_client(tmp_path / "orders", _orders_config(opened_at="purchased", closed_at="delivered"),
                          responses_csv=None, cases_csv=None, events_csv=None, **{"orders.csv": ORDERS})
    c = ipm.load_client(folder)
    shown = report.chain_kpi_display(report.chain_kpis(c)).set_index("chain KPI")
    assert shown.loc["Wait on the phone", "value"] == f"{(3 + 44 + 12 + 30) / 4:.1f} minutes"


def test_base_config_untouched():
    assert BASE_CONFIG["tables"]["responses"]["columns"] == {"score": "nps"}


@pytest.mark.parametrize("name, shown", [("Review score", "the Review score ("), ("NPS", "the NPS score (")])
def test_the_result_kpi_name_is_not_doubled(name, shown):
    from types import SimpleNamespace

    from ipm_analysis import effects

    text = effects._model_reading(0.2, 0.001, True, None, SimpleNamespace(result_name=name), 0.02)
    assert shown in text and "score score" not in text
