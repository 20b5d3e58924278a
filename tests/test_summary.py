"""summary.json has one typed schema: written and read through it, unknown keys refused, and the
JSON Schema in docs/ is the export of the models."""

from __future__ import annotations

import json

import pytest

from ipm_analysis import dev
from ipm_analysis import summary as sm

OVERVIEW = {
    "client": "koffie", "title": "Koffie", "report_date": "2026-02-01",
    "data_period": {"first": "2025-01-01", "last": "2026-01-31"},
    "chains": {"inst": {"name": "Install", "owner": "Head of Service"}},
    "result_kpi": {"name": "NPS", "scale": "nps", "measure": "nps", "n": 2000, "value": 19.5, "ci_low": 16.4,
                   "ci_high": 22.6, "promoters": 0.365, "passives": 0.465, "detractors": 0.17},
    "linkage": {"responses": 2000, "linked": 1900, "rate": 0.95, "by": "case_id"},
    "chain_kpis": [{"chain": "inst", "kpi": "on_time", "kpi_name": "On time", "link": "Planning", "unit": "share",
                    "direction": "higher", "n": 1130, "value": 0.77, "ci_low": 0.74, "ci_high": 0.79,
                    "target": 0.9, "status": "below target"}],
}


def test_the_committed_json_schema_is_the_export_of_the_models():
    assert dev.schema_path().read_text(encoding="utf-8") == sm.schema_text(), \
        "docs/summary.schema.json is stale: run python -m ipm_analysis.dev summary-schema"
    schema = json.loads(sm.schema_text())
    assert schema["additionalProperties"] is False and "schema_version" in schema["properties"]
    assert set(sm.SECTIONS) <= set(schema["properties"])


def test_update_summary_validates_its_section_and_keeps_the_others(tmp_path):
    sm.update_summary(tmp_path, "overview", OVERVIEW)
    sm.update_summary(tmp_path, "actions", {"reviews": [], "sentences": [], "signals": [
        {"chain KPI": "On time", "link": "Planning", "month": "2026-01", "signal": "point beyond the limits"}],
        "note": ""})
    data = json.loads((tmp_path / "summary.json").read_text())
    assert list(data) == ["schema_version", "overview", "actions"] and data["schema_version"] == 1
    s = sm.load(tmp_path / "summary.json")
    assert s.overview.result_kpi.value == 19.5 and s.overview.data_period.last.isoformat() == "2026-01-31"
    assert s.actions.signals[0].chain_kpi == "On time"
    assert data["actions"]["signals"][0]["chain KPI"] == "On time"  # written by its name in the file
    with pytest.raises(sm.SummaryError, match=r"section 'overview'.*field 'overview\.chain_kpis\.0\.valeu'.*Extra inputs"):
        sm.update_summary(tmp_path, "overview", {**OVERVIEW, "chain_kpis": [{**OVERVIEW["chain_kpis"][0], "valeu": 1}]})
    with pytest.raises(sm.SummaryError, match="unknown section 'overveiw'"):
        sm.update_summary(tmp_path, "overveiw", OVERVIEW)
    assert sm.load(tmp_path / "summary.json").overview.chain_kpis[0].value == 0.77  # the file is as it was


def test_a_bad_file_is_one_message_naming_the_file_and_the_field(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"overview": {**OVERVIEW, "result_kpi": {**OVERVIEW["result_kpi"], "n": "many"}}}))
    with pytest.raises(sm.SummaryError) as e:
        sm.load(path)
    assert str(path) in str(e.value) and "field 'overview.result_kpi.n'" in str(e.value)
    path.write_text("{not json")
    with pytest.raises(sm.SummaryError, match="is not JSON"):
        sm.load(path)
    path.write_text(json.dumps({"schema_version": 2}))
    with pytest.raises(sm.SummaryError, match="schema_version"):
        sm.load(path)


def test_numpy_and_nan_values_are_written_as_json():
    np = pytest.importorskip("numpy")
    k = sm.section("overview", {**OVERVIEW, "chain_kpis": [{**OVERVIEW["chain_kpis"][0], "n": np.int64(5),
                                                           "value": np.float64("nan"), "target": None}]})
    assert k.chain_kpis[0].n == 5 and k.chain_kpis[0].value is None


def test_a_journey_difference_can_be_added_once_computed():
    """Notebook 04 adds each chain's deviating-minus-designed difference as it computes it."""
    j = sm.section("journeys", {"inst": {"cases": 10, "as_designed": 0.5}})
    j["inst"]["deviating_minus_designed"] = {"diff": -5.0, "ci_low": -8.0, "ci_high": -2.0, "p_value": 0.01}
    assert j["inst"].deviating_minus_designed.diff == -5.0
    with pytest.raises(Exception):
        j["inst"]["deviating_minus_designed"] = {"diff": "a lot"}


def check_report_summary(report_dir) -> sm.Summary:
    """Every section present and valid in a report folder written by the batch (used by the tests
    that run whole clients)."""
    s = sm.load(report_dir / "summary.json")
    assert s.overview is not None and s.kpi_structure is not None and s.drivers is not None
    assert s.journeys is not None and s.actions is not None
    assert s.overview.report_date is not None
    return s
