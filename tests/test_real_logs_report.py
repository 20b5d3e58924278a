"""A real export with no survey, mapped by client.yaml alone, gets a full report: chain KPIs and
journeys, and a plain statement of why drivers are missing."""

from __future__ import annotations

import json
import shutil

import yaml

from ipm_analysis.batch import REPORT_HTML, run_client

from .conftest import REAL_LOGS

RECEIPT_CONFIG = {
    "id": "receipt",
    "title": "Receipt of applications (public municipal log)",
    "tables": {
        "events": {"file": "receipt.csv", "columns": {"case_id": "case:concept:name", "activity": "concept:name",
                                                       "timestamp": "time:timestamp", "channel": "case:channel"}},
        "cases": {"from": "events", "chain": "application"},
    },
    "chains": [{
        "id": "application", "name": "Handle a permit application", "owner": "Head of Permits",
        "links": ["Front office", "Back office"],
        "kpis": [
            {"id": "within_deadline", "name": "Closed before the deadline",
             "expression": 'closed_at <= CAST("case:deadline" AS TIMESTAMPTZ)', "unit": "share",
             "direction": "higher", "target": 0.95, "link": "Back office"},
            {"id": "lead_time", "name": "Days from receipt to last step",
             "expression": "date_diff('hour', opened_at, closed_at) / 24.0", "unit": "days",
             "direction": "lower", "target": 5, "link": "Front office"},
        ],
        "journey": {"steps": ["Confirmation of receipt", "T02 Check confirmation of receipt",
                              "T04 Determine confirmation of receipt", "T05 Print and send confirmation of receipt",
                              "T06 Determine necessity of stop advice"]},
    }],
    "segments": [{"id": "channel", "name": "Channel", "table": "cases", "column": "channel"}],
}


def test_receipt_log_report_without_survey(tmp_path):
    folder = tmp_path / "receipt"
    folder.mkdir()
    shutil.copy(REAL_LOGS / "receipt.csv", folder / "receipt.csv")
    (folder / "client.yaml").write_text(yaml.safe_dump(RECEIPT_CONFIG, sort_keys=False))
    run = run_client(folder, tmp_path / "reports")
    assert run.status == "ok", run.message
    html = (run.report_dir / REPORT_HTML).read_text()
    assert "No survey for this client" in html
    assert "Closed before the deadline" in html and "Handle a permit application" in html
    summary = json.loads((run.report_dir / "summary.json").read_text())
    assert summary["overview"]["result_kpi"] is None
    assert summary["drivers"]["top"] == []
    j = summary["journeys"]["application"]
    assert j["cases"] == 1434 and 0 < j["as_designed"] < 1
    kpis = {k["kpi"]: k for k in summary["overview"]["chain_kpis"]}
    assert kpis["lead_time"]["n"] == 1434


# ------------------------------------------------------------------------------------------
# the event contract on three public logs, each checked against pandas by hand
# ------------------------------------------------------------------------------------------

import re  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import ipm_analysis as ipm  # noqa: E402
from ipm_analysis import journeys  # noqa: E402

from .conftest import ROOT  # noqa: E402

RC, RT, RP = "T02 Check confirmation of receipt | complete", "T05 Print and send confirmation of receipt | complete", \
    "Confirmation of receipt | complete"
HD = ["Take in charge ticket / Value 1", "Take in charge ticket / Value 2", "Take in charge ticket / Value 3",
      "Take in charge ticket / Value 4"]
RV_INVITE, RV_DECIDE = "invite reviewers | complete", "decide | complete"

# per log: the file, client.yaml's events table and contacts, and the same rules written for pandas
LOGS = {
    "receipt": {
        "path": REAL_LOGS / "receipt.csv",
        "events": {"columns": {"case_id": "case:concept:name", "timestamp": "time:timestamp"},
                   "activity": ["concept:name", "lifecycle:transition"],
                   "filter": {"keep": "\"org:group\" <> 'EMPTY'", "leave_out": ["T1[0-9] .*"]},
                   "case_columns": {"checked": {"reached": RC},
                                    "hours_to_print": {"between": [RC, RT], "unit": "hours"}}},
        "contacts": {"activities": [RP], "activity_pattern": "T05 Print and send.*"},
        "kpis": [{"id": "checked_share", "name": "Receipt checked", "expression": "checked", "unit": "share",
                  "direction": "higher", "link": "Office"},
                 {"id": "to_print", "name": "Check to print", "expression": "hours_to_print", "unit": "hours",
                  "direction": "lower", "link": "Office"}],
        "steps": [RP, RC, "T04 Determine confirmation of receipt | complete", RT],
        "sep": " | ", "parts": ["concept:name", "lifecycle:transition"],
        "keep": lambda d: d["org:group"] != "EMPTY", "leave_out": [r"T1[0-9] .*"],
        "contact": lambda a: (a == RP) | a.str.fullmatch("T05 Print and send.*"),
    },
    "helpdesk": {
        "path": REAL_LOGS / "helpdesk.csv",
        "events": {"columns": {"case_id": "case:concept:name", "timestamp": "time:timestamp"},
                   "activity": ["concept:name", "seriousness_2"], "activity_separator": " / ",
                   "filter": {"keep": "workgroup <> 'Value 4'", "leave_out": ["Wait.*"]},
                   "case_columns": {"n_take": {"count": HD}}},
        "contacts": {"activity_pattern": "Take in charge ticket.*"},
        "kpis": [{"id": "takes", "name": "Times taken in charge", "expression": "n_take", "unit": "count",
                  "direction": "lower", "link": "Office"}],
        "steps": ["Assign seriousness / Value 1", "Take in charge ticket / Value 1", "Resolve ticket / Value 1",
                  "Closed / Value 1"],
        "sep": " / ", "parts": ["concept:name", "seriousness_2"],
        "keep": lambda d: d["workgroup"] != "Value 4", "leave_out": [r"Wait.*"],
        "contact": lambda a: a.str.fullmatch("Take in charge ticket.*"),
    },
    "reviewing": {
        "path": ROOT / "tests" / "data" / "real" / "reviewing.csv",
        "events": {"columns": {"case_id": "case:concept:name", "timestamp": "time:timestamp"},
                   "activity": ["concept:name", "lifecycle:transition"],
                   "filter": {"keep": "\"lifecycle:transition\" = 'complete'", "leave_out": ["time-out.*"]},
                   "case_columns": {"accepted": {"reached": "accept | complete"},
                                    "days_to_decide": {"between": [RV_INVITE, RV_DECIDE], "unit": "days"}}},
        "contacts": {"activities": ["invite additional reviewer | complete"]},
        "kpis": [{"id": "accepted_share", "name": "Accepted", "expression": "accepted", "unit": "share",
                  "direction": "higher", "link": "Office"},
                 {"id": "decide_days", "name": "Invitation to first decision", "expression": "days_to_decide",
                  "unit": "days", "direction": "lower", "link": "Office"}],
        "steps": [RV_INVITE, "get review 1 | complete", "collect reviews | complete", RV_DECIDE],
        "sep": " | ", "parts": ["concept:name", "lifecycle:transition"],
        "keep": lambda d: d["lifecycle:transition"] == "complete", "leave_out": [r"time-out.*"],
        "contact": lambda a: a == "invite additional reviewer | complete",
    },
}


def _client_for(name: str, tmp_path) -> ipm.Client:
    spec = LOGS[name]
    folder = tmp_path / name
    folder.mkdir(parents=True)
    shutil.copy(spec["path"], folder / spec["path"].name)
    cfg = {"id": name, "title": f"{name} (public log)",
           "tables": {"events": {"file": spec["path"].name, **spec["events"]}, "cases": {"from": "events"}},
           "chains": [{"id": "main", "name": "Main", "owner": "Owner", "links": ["Office"], "kpis": spec["kpis"],
                       "journey": {"steps": spec["steps"]}}],
           "contacts": spec["contacts"]}
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return ipm.load_client(folder)


def _by_hand(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole log and the kept events with their activity, by pandas alone."""
    spec = LOGS[name]
    raw = pd.read_csv(spec["path"], dtype=str, keep_default_na=False)
    raw["pos"] = np.arange(len(raw))
    parts = raw[spec["parts"]].apply(lambda s: s.str.strip())
    raw["act"] = parts.apply(lambda r: spec["sep"].join(v for v in r if v), axis=1)
    raw["ts"] = pd.to_datetime(raw["time:timestamp"], utc=True, format="ISO8601").dt.tz_localize(None)
    raw["case"] = raw["case:concept:name"]
    keep = spec["keep"](raw)
    pattern = np.zeros(len(raw), dtype=bool)
    for p in spec["leave_out"]:
        pattern |= raw["act"].map(lambda a: re.fullmatch(p, a) is not None).to_numpy()
    kept = raw[keep.to_numpy() & ~pattern].sort_values(["case", "ts", "pos"], kind="stable")
    return raw, kept


@pytest.mark.parametrize("name", list(LOGS))
def test_event_contract_on_public_logs_matches_pandas(name, tmp_path):
    spec = LOGS[name]
    client = _client_for(name, tmp_path)
    raw, kept = _by_hand(name)
    # the filter: what was left out, counted
    flt = client.event_filter
    assert flt["events"] == len(raw) and flt["kept"] == len(kept) and flt["left_out"] == len(raw) - len(kept)
    assert flt["left_out_by_keep"] == int((~spec["keep"](raw)).sum())
    assert len(client.events) == len(kept)
    # activity from several columns: the same events in the same order
    ours = client.events.sort_values(["case_id", "timestamp", "row"], kind="stable")
    assert ours["activity"].tolist() == kept["act"].tolist()
    # variants of the kept events
    hand_variants = kept.groupby("case", sort=False)["act"].agg(tuple).value_counts().to_dict()
    v = journeys.chain_variants(client, "main")
    assert dict(zip(v["activities"], v["cases"])) == hand_variants
    # event-derived case columns (every case of the whole log; cases from events)
    cases = client.cases.set_index("case_id")
    assert len(cases) == raw["case"].nunique()
    for col, c in spec["events"]["case_columns"].items():
        kind = next(iter(k for k in c if k != "unit"))
        acts = c[kind] if isinstance(c[kind], list) else [c[kind]]
        g = kept.assign(hit=kept["act"].isin(acts)).groupby("case")
        if kind == "reached":
            expect = g["hit"].any().reindex(cases.index, fill_value=False)
            assert cases[col].astype(bool).equals(expect.astype(bool)), col
        elif kind == "count":
            expect = g["hit"].sum().reindex(cases.index, fill_value=0)
            assert (cases[col].astype(int) == expect.astype(int)).all(), col
        elif kind == "between":
            a, b = c["between"]
            per = {}
            for case, d in kept.groupby("case"):
                ta = d.loc[d["act"] == a, "ts"]
                if ta.empty:
                    continue
                tb = d.loc[(d["act"] == b) & (d["ts"] >= ta.min()), "ts"]
                if not tb.empty:
                    per[case] = (tb.min() - ta.min()) / pd.Timedelta(1, {"hours": "h", "days": "D", "minutes": "min"}[c["unit"]])
            expect = pd.Series(per, dtype=float).reindex(cases.index)
            np.testing.assert_allclose(cases[col].astype(float).to_numpy(), expect.to_numpy(), rtol=1e-9,
                                       equal_nan=True, err_msg=col)
    # one event-derived KPI: its per-case value is the case column
    kpi = spec["kpis"][0]
    values = client.case_kpis.set_index("case_id")[kpi["id"]].reindex(cases.index)
    np.testing.assert_allclose(values.to_numpy(dtype=float), cases[kpi["expression"]].to_numpy(dtype=float),
                               equal_nan=True)
    # declared contacts only: per case, the events the rule names
    feats = journeys.chain_journey_features(client, "main").set_index("case_id")
    expect = kept.assign(contact=spec["contact"](kept["act"]).to_numpy()).groupby("case")["contact"].sum()
    assert feats["n_contacts"].to_dict() == expect.reindex(feats.index).astype(int).to_dict()


def test_contacts_section_says_when_nothing_is_declared(tmp_path):
    spec = LOGS["reviewing"]
    LOGS["bare"] = {**spec, "contacts": {}}
    try:
        client = _client_for("bare", tmp_path)
    finally:
        del LOGS["bare"]
    section = journeys.journey_section(client, "main")
    assert section.contacts.empty
    assert "declares no contact events" in section.notes["contacts"]
    assert journeys.chain_journey_features(client, "main")["n_contacts"].sum() == 0


def test_unknown_event_links_and_bad_filters_are_reported(tmp_path):
    spec = LOGS["reviewing"]
    events = {**spec["events"], "columns": {**spec["events"]["columns"], "link": "org:resource"}}
    LOGS["links"] = {**spec, "events": events}
    try:
        client = _client_for("links", tmp_path)
        warned = [p for p in client.warnings if p.column == "link"]
        assert warned and "not among its links" in warned[0].message and "'Anne'" in warned[0].message
        LOGS["links"]["events"] = {**spec["events"], "filter": {"keep": "no_such_column = 'x'"}}
        with pytest.raises(ipm.ValidationError, match="no_such_column"):
            _client_for("links", tmp_path / "again")
    finally:
        del LOGS["links"]


def test_journey_report_on_a_real_log_shows_nothing_under_the_minimum_base(tmp_path):
    """Run as a user would: the receipt log with a minimum base of 50 cases. Activities that
    fewer than 50 cases have appear in no journey table, text or summary of the report."""
    folder = tmp_path / "receipt50"
    folder.mkdir()
    shutil.copy(REAL_LOGS / "receipt.csv", folder / "receipt.csv")
    cfg = {**RECEIPT_CONFIG, "id": "receipt50", "reporting": {"min_base_suppress": 50, "min_base_flag": 100}}
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    run = run_client(folder, tmp_path / "reports")
    assert run.status == "ok", run.message
    raw = pd.read_csv(REAL_LOGS / "receipt.csv", usecols=["case:concept:name", "concept:name"])
    per_activity = raw.groupby("concept:name")["case:concept:name"].nunique()
    rare = per_activity[per_activity < 50].index.tolist()
    common = per_activity[per_activity >= 100].index.tolist()
    assert len(rare) > 10 and common
    nb = json.loads((run.report_dir / "04_journeys.ipynb").read_text())
    shown = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", ""))
                    + "".join(o.get("data", {}).get("text/plain", ""))
                    for c in nb["cells"] for o in c.get("outputs", []))
    summary = (run.report_dir / "summary.json").read_text()
    for activity in rare:
        assert activity not in shown, f"{activity} ({per_activity[activity]} cases) is shown"
        assert activity not in summary
    assert "T10 Determine necessity to stop indication" in shown  # 1,283 cases: shown
    # the share that followed the design explains itself, and the contacts section says why it is empty
    j = json.loads(summary)["journeys"]["application"]
    assert "had an activity outside the design" in j["headline"]
    assert "declares no contact events" in shown
    html = (run.report_dir / REPORT_HTML).read_text()
    assert "had an activity outside the design" in html
