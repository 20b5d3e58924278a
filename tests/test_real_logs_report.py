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
