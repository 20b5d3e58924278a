"""Public exports nobody here wrote, read as published (tests/data/real/README.md says where from).

Each folder holds the data exactly as published (checked by its hash: no converted or edited
file) and a client.yaml. Each validates, loads and gives the overview and driver results; the
slow test runs the report notebooks on them through the batch runner.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

import ipm_analysis as ipm
from ipm_analysis import overview, report
from ipm_analysis.agenda import improvement_agenda
from ipm_analysis.modelframe import model_frame

REAL = Path(__file__).resolve().parent / "data" / "real"
AS_PUBLISHED = {
    "airline_survey/AirlinePassengerSatisfaction.csv":
        "34d2a39d466d8126fbe94dab9a639adf1138de4ab74448e44a0ba71c183753d7",
    "call_centre/01 Call-Center-Dataset.xlsx": "708c7754c2cc28fa44f79d86c0e3b70f37335db45d7ad624d9cb8839cadf7551",
    "telecom_churn/churn-bigml-80.csv": "a983501ae5b7b2bb7fdd73dd216af800cc0861fa648fa4b12f7d1ad6e962d44a",
    "olist/olist_orders_dataset.csv": "1081e4712ccbbe7315dc6a95aa57488ac73ea108c3b26c9268f9f1eeee9d219a",
    "olist/olist_order_reviews_dataset.csv": "3ef3a20cce2203393caae7fed5457018f87b0ef639f043493a8ee8d705ade9fa",
}
SLICES = sorted({k.split("/")[0] for k in AS_PUBLISHED})


@pytest.mark.parametrize("name", sorted(AS_PUBLISHED))
def test_data_are_as_published(name):
    path = REAL / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == AS_PUBLISHED[name]
    assert path.stat().st_size < 1_000_000


@pytest.mark.parametrize("slice_", SLICES)
def test_validates_without_errors(slice_):
    errors = [str(p) for p in ipm.validate_client(REAL / slice_) if p.severity == "error"]
    assert errors == []


def test_call_centre_workbook_as_pandas_reads_it():
    c = ipm.load_client(REAL / "call_centre")
    raw = pd.read_excel(REAL / "call_centre" / "01 Call-Center-Dataset.xlsx", sheet_name=0, engine="calamine")
    rated = raw[raw["Satisfaction rating"].notna()]
    assert len(c.responses) == len(rated)  # unrated (unanswered) calls are left out of the result KPI
    assert report.result_kpi_overall(c).mean == pytest.approx(rated["Satisfaction rating"].mean())
    kp = c.case_kpis.set_index("case_id")
    assert kp["resolved"].mean() == pytest.approx((raw["Resolved"] == "Y").mean())
    assert kp["speed_of_answer"].mean() == pytest.approx(raw["Speed of answer in seconds"].mean())
    talk = pd.to_timedelta(raw["AvgTalkDuration"].dropna().astype(str)).dt.total_seconds() / 60
    assert kp["talk_time"].mean() == pytest.approx(talk.mean())
    shown = report.chain_kpi_display(report.chain_kpis(c)).set_index("chain KPI")
    assert shown.loc["Speed of answer", "value"].endswith(" seconds")
    assert shown.loc["Talk time", "value"].endswith(" minutes")
    assert overview.coverage(c).loc[0, "months"] == 3  # January to March 2021


def test_airline_survey_with_labels_and_no_date():
    c = ipm.load_client(REAL / "airline_survey")
    raw = pd.read_csv(REAL / "airline_survey" / "AirlinePassengerSatisfaction.csv")
    assert len(c.responses) == len(raw) == 2000
    assert report.result_kpi_overall(c).top_box == pytest.approx((raw["satisfaction"] == "satisfied").mean())
    kp = c.case_kpis
    assert kp["departed_on_time"].mean() == pytest.approx((raw["Departure Delay in Minutes"] <= 15).mean())
    assert kp["arrival_delay"].mean() == pytest.approx(raw["Arrival Delay in Minutes"].mean())  # NaN left out
    boarding = raw["Online boarding"].replace(0, float("nan"))
    assert kp["online_boarding"].mean() == pytest.approx(boarding.mean())
    assert "unnamed_1" in c.responses  # the empty first header cell (a saved row index)
    assert "no dates" in report.dates_missing(c)  # nor the cases taken from the answers


def test_churn_file_without_id_or_date():
    c = ipm.load_client(REAL / "telecom_churn")
    raw = pd.read_csv(REAL / "telecom_churn" / "churn-bigml-80.csv")
    assert c.responses["response_id"].tolist() == [str(i) for i in range(1, len(raw) + 1)]
    overall = report.result_kpi_overall(c)
    assert overall.top_box == pytest.approx((~raw["Churn"]).mean())  # stayed = FALSE
    assert "no dates" in report.dates_missing(c)
    assert report.chain_kpis_monthly(c).empty and report.monthly_association(c).empty
    # service calls: the published finding that churn rises with calls to customer service
    mf = model_frame(c, "service")
    assert len(mf.frame) == len(raw)
    agenda = improvement_agenda(c)
    assert "Calls to customer service" in set(agenda.matrix["name"])


def _olist_raw():
    """The two Olist files read by pandas alone: each review with its order, delivered orders only."""
    dates = ["order_purchase_timestamp", "order_approved_at", "order_delivered_customer_date",
             "order_estimated_delivery_date"]
    orders = pd.read_csv(REAL / "olist" / "olist_orders_dataset.csv", parse_dates=dates)
    reviews = pd.read_csv(REAL / "olist" / "olist_order_reviews_dataset.csv")
    delivered = orders[orders["order_delivered_customer_date"].notna()].copy()
    delivered["days_late"] = (delivered["order_delivered_customer_date"].dt.normalize()
                              - delivered["order_estimated_delivery_date"].dt.normalize()).dt.days
    return orders, reviews, delivered


def test_olist_orders_and_reviews_as_pandas_reads_them():
    c = ipm.load_client(REAL / "olist")
    orders, reviews, delivered = _olist_raw()
    assert len(c.cases) == len(orders) == 4000 and len(c.responses) == len(reviews)
    assert c.responses["case_id"].isin(c.cases["case_id"]).all()  # every review of the slice has its order
    overall = report.result_kpi_overall(c)
    assert overall.mean == pytest.approx(reviews["review_score"].mean())
    assert overall.top_box == pytest.approx((reviews["review_score"] == 5).mean())
    # the on-time share the report states: delivered on or before the promised day, undelivered left out
    shown = report.chain_kpis(c).set_index("kpi")
    on_time = delivered["days_late"] <= 0
    assert shown.loc["on_time", "n"] == len(delivered)
    assert shown.loc["on_time", "value"] == pytest.approx(on_time.mean())
    lead = (delivered["order_delivered_customer_date"].dt.normalize()
            - delivered["order_purchase_timestamp"].dt.normalize()).dt.days
    assert shown.loc["lead_time", "value"] == pytest.approx(lead.mean())
    approval = (orders["order_approved_at"].dt.floor("min") - orders["order_purchase_timestamp"].dt.floor("min"))
    assert shown.loc["approval_time", "value"] == pytest.approx((approval.dt.total_seconds() / 3600).mean())
    # late deliveries cost the review: the mean score on time and late, as pandas has it
    kp = c.case_kpis.set_index("case_id")
    rated = reviews.merge(delivered, on="order_id")
    by_late = rated.groupby(rated["days_late"] > 0)["review_score"].mean()
    late_ids = set(kp.index[kp["on_time"] == 0])
    ours = c.responses.assign(late=c.responses["case_id"].isin(late_ids))
    ours = ours[ours["case_id"].isin(kp.index[kp["on_time"].notna()])]
    assert ours.groupby("late")["score"].mean().tolist() == pytest.approx([by_late[False], by_late[True]])
    assert by_late[False] - by_late[True] > 1.5


def test_olist_days_late_threshold_is_a_step_beyond_the_promised_day():
    c = ipm.load_client(REAL / "olist")
    agenda = improvement_agenda(c)
    (t,) = [t for t in report.threshold_analyses(c, agenda) if t["driver"] == "days_late"]
    th = t["threshold"]
    assert th.found and th.knot >= 0 and th.step < 0 and th.step_ci_high < 0
    # the step the report states, against pandas: reviews beyond the knot score far lower
    _, reviews, delivered = _olist_raw()
    rated = reviews.merge(delivered, on="order_id")
    up_to = rated.loc[rated["days_late"].between(0, th.knot), "review_score"].mean()
    beyond = rated.loc[rated["days_late"] > th.knot, "review_score"].mean()
    assert beyond - up_to < -1.5


@pytest.mark.slow
def test_report_notebooks_run_on_every_slice(tmp_path):
    from ipm_analysis.batch import run_batch

    runs = run_batch([REAL / s for s in SLICES], tmp_path / "reports", serial=True)
    assert {r.client_id: r.status for r in runs} == {s: "ok" for s in SLICES}, [r.message for r in runs]
    summary = json.loads((tmp_path / "reports" / "telecom_churn" / "summary.json").read_text())
    assert summary["overview"]["result_kpi"]["n"] == 2661  # one row per customer
    olist = json.loads((tmp_path / "reports" / "olist" / "summary.json").read_text())
    (late,) = [t for t in olist["drivers"]["thresholds"] if t["driver"] == "days_late"]
    assert late["found"] and late["knot"] >= 0 and late["step_ci_high"] < 0  # the step beyond the promise
