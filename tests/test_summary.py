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


# -- what changed since the last report --------------------------------------------------------

def _report(value, lo, hi, kpis=(), signals=(), client="koffie", report_date="2026-01-05", **result):
    r = {**OVERVIEW["result_kpi"], "value": value, "ci_low": lo, "ci_high": hi, **result}
    return sm.parse({
        "overview": {**OVERVIEW, "client": client, "report_date": report_date, "result_kpi": r,
                     "chain_kpis": [{"chain": "inst", "kpi": k, "kpi_name": k.replace("_", " ").capitalize(), "link": "Planning",
                                     "unit": "share", "value": v, "ci_low": v - 0.01, "ci_high": v + 0.01, "target": t,
                                     "status": st} for k, v, t, st in kpis]},
        "actions": {"signals": [{"chain KPI": k, "link": "Planning", "month": m, "signal": s} for k, m, s in signals]},
    })


def test_the_result_kpi_move_matches_a_hand_computation():
    # NPS +20 (16 to 24) then +26 (22 to 30): each interval's standard error is 4 / 1.96, the
    # difference's is sqrt(2) * 4 / 1.96, so its interval is 6 +- 4 * sqrt(2) = 0.34 to 11.66
    m = sm.compare(_report(20, 16, 24), _report(26, 22, 30)).result_kpi
    assert (m.previous, m.current, m.diff, m.unit) == (20, 26, 6, "points")
    assert m.ci_low == pytest.approx(6 - 4 * 2 ** 0.5) and m.ci_high == pytest.approx(6 + 4 * 2 ** 0.5)
    assert m.reliable
    # the same move with intervals twice as wide spans zero: 6 +- 8 * sqrt(2)
    m = sm.compare(_report(20, 12, 28), _report(26, 18, 34)).result_kpi
    assert m.ci_low == pytest.approx(6 - 8 * 2 ** 0.5) and not m.reliable


def test_a_share_is_compared_in_percentage_points_of_the_top_box():
    rating = dict(scale="rating", measure="share", top_label="satisfied")
    before = _report(3.9, 3.8, 4.0, top_box=0.40, top_box_ci_low=0.36, top_box_ci_high=0.44, **rating)
    after = _report(3.7, 3.6, 3.8, top_box=0.30, top_box_ci_low=0.27, top_box_ci_high=0.33, **rating)
    m = sm.compare(before, after).result_kpi
    # -10 pp; standard errors 4 / 1.96 and 3 / 1.96, so the difference's is 5 / 1.96: -10 +- 5
    assert m.unit == "percentage points" and m.diff == pytest.approx(-10)
    assert (m.ci_low, m.ci_high) == (pytest.approx(-15), pytest.approx(-5))
    mean = dict(rating, measure="mean")
    other = sm.compare(_report(3.9, 3.8, 4.0, **mean), after)
    assert other.result_kpi is None and "not compared" in other.result_kpi_note


def test_chain_kpis_that_crossed_their_target_and_new_signals():
    before = _report(20, 16, 24, kpis=[("on_time", 0.88, 0.9, "below target"), ("first_visit", 0.96, 0.95, "on target"),
                                       ("lead", 0.5, None, "no target"), ("kept", 0.97, 0.95, "on target")],
                     signals=[("On time", "2025-12", "point beyond the control limits")])
    after = _report(21, 17, 25, kpis=[("on_time", 0.91, 0.9, "on target"), ("first_visit", 0.94, 0.95, "below target"),
                                      ("lead", 0.7, None, "no target"), ("kept", 0.96, 0.95, "on target"),
                                      ("new_kpi", 0.5, 0.9, "below target")],
                    signals=[("On time", "2025-12", "point beyond the control limits"),
                             ("Kept", "2026-01", "8 points in a row on one side of the centre line")])
    ch = sm.compare(before, after)
    assert [(k.kpi, k.now, k.previous, k.current) for k in ch.crossed_target] == [
        ("on_time", "on target", 0.88, 0.91), ("first_visit", "below target", 0.96, 0.94)]
    assert [(s.chain_kpi, s.month) for s in ch.new_signals] == [("Kept", "2026-01")]
    assert ch.previous_report_date.isoformat() == "2026-01-05"
    from ipm_analysis.summary_page import changes_html

    import re

    html = re.sub(r"<[^>]+>", "", changes_html(after.model_copy(update={"changes": ch})))
    assert "What changed since the last report" in html and "Previous report of 2026-01-05" in html
    assert "NPS: ● +21 against +20, a difference of +1.0 points (95% interval -4.7 to +6.7): no reliable change" \
        in html  # the same hand computation: 1 +- 4 * sqrt(2)
    assert "On time (Planning) ▲ now on target, 91% (90.0% – 92.0%) against 88% (87.0% – 89.0%) (target 90%)" in html
    assert "First visit (Planning) ▼ now below target, 94% (93.0% – 95.0%) against 96% (95.0% – 97.0%) (target 95%)" in html
    assert "New control-chart signals: Kept (Planning) 2026-01: 8 points in a row" in html
    assert sm.compare(before, _report(21, 17, 25, client="other")) is None


def test_the_writer_adds_what_changed_when_the_folder_holds_an_earlier_report(tmp_path):
    from ipm_analysis.batch import REPORT_HTML, JobResult, write_result
    from ipm_analysis.summary_page import CHANGES_MARKER, summary_html

    def job(s):
        return JobResult("koffie", "ok", files={"summary.json": sm.dumps(s).encode(),
                                                REPORT_HTML: f"<html>{summary_html(s)}</html>".encode()})

    out = tmp_path / "reports"
    write_result(job(_report(20, 16, 24)), tmp_path, out)
    first = out / "koffie"
    assert sm.load(first / "summary.json").changes is None  # nothing to compare with
    assert "What changed" not in (first / REPORT_HTML).read_text()
    write_result(job(_report(26, 22, 30, report_date="2026-02-05")), tmp_path, out)
    s = sm.load(first / "summary.json")
    assert s.changes.result_kpi.diff == 6 and s.changes.previous_report_date.isoformat() == "2026-01-05"
    html = (first / REPORT_HTML).read_text()
    assert "What changed since the last report" in html and CHANGES_MARKER not in html and "beyond noise" in html
    # an earlier report that does not follow the schema (an older version) is not compared with
    (first / "summary.json").write_text('{"overview": {"client": "koffie"}}')
    write_result(job(_report(26, 22, 30)), tmp_path, out)
    assert sm.load(first / "summary.json").changes is None


def test_a_changed_target_is_a_crossing_and_says_what_it_was():
    import re

    from ipm_analysis.summary_page import changes_html

    before = _report(20, 16, 24, kpis=[("on_time", 0.85, 0.8, "on target")])
    after = _report(20, 16, 24, kpis=[("on_time", 0.85, 0.9, "below target")])
    ch = sm.compare(before, after)
    assert [(k.previous_target, k.target, k.now) for k in ch.crossed_target] == [(0.8, 0.9, "below target")]
    html = re.sub(r"<[^>]+>", "", changes_html(after.model_copy(update={"changes": ch})))
    assert "On time (Planning) ▼ now below target, 85% (84.0% – 86.0%) against 85% (84.0% – 86.0%) " \
           "(target 90%, was 80%)" in html


def test_journeys_section_takes_the_difference_of_deviating_journeys_from_journey_cost():
    """Notebook 04 passes what it computed (journey_cost per chain); the section, not the notebook,
    writes ``deviating_minus_designed`` with its interval, the same numbers as journey_cost's test."""
    from ipm_analysis import journeys, load_client

    from .conftest import FIXTURE_CLIENT

    client = load_client(FIXTURE_CLIENT)
    chains = [c.id for c in client.config.chains if c.journey is not None and not journeys.chain_events(client, c.id).empty]
    sections = {c: journeys.journey_section(client, c) for c in chains}
    costs = {c: journeys.journey_cost(client, c) for c in chains}
    with_costs = sm.journeys_section(client, sections, costs)
    compared = [c for c in chains if costs[c]["difference"] is not None]
    assert compared  # the fixture has journeys that deviate and enough answers on both sides
    for c in chains:
        d, got = costs[c]["difference"], with_costs[c].deviating_minus_designed
        if d is None:
            assert got is None
            continue
        assert (got.diff, got.ci_low, got.ci_high, got.p_value) == pytest.approx((d.diff, d.ci_low, d.ci_high, d.p_value))
        assert got.ci_low <= got.diff <= got.ci_high
    assert all(j.deviating_minus_designed is None for j in sm.journeys_section(client, sections).values())
