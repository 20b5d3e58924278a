"""summary.json carries what the driver report states: the reliability verdict, the effects, the
thresholds and the segment differences, each number with its interval."""

from __future__ import annotations

import json

from ipm_analysis import load_client, report
from ipm_analysis.agenda import improvement_agenda
from tests.conftest import FIXTURE_CLIENT


def test_drivers_summary_carries_thresholds_segments_effects_and_verdict(tmp_path):
    client = load_client(FIXTURE_CLIENT)
    agenda = improvement_agenda(client, n_boot=50)
    thresholds = report.threshold_analyses(client, agenda)
    segments = report.segment_differences(client, agenda)
    report.update_summary(tmp_path, "drivers", report.drivers_summary(agenda, thresholds=thresholds,
                                                                      segments=segments))
    s = json.loads((tmp_path / "summary.json").read_text())["drivers"]
    assert s["reliability"]["reliable"] is True and s["reliability"]["sentence"] == agenda.sentence
    assert set(s["reliability"]["chains"]) == set(agenda.models)
    # every effect the report prints, with its interval, as the models hold it
    n_eff = sum(len(m.effects) for m in agenda.models.values())
    assert len(s["effects"]) == n_eff
    e = next(x for x in s["effects"] if x["driver"] == "on_time")
    ref = agenda.models["installation"].effects.set_index("driver").loc["on_time"]
    assert e["effect_kpi"] == ref["effect_kpi"] and e["effect_kpi_ci_low"] == ref["effect_kpi_ci_low"]
    # thresholds: every reading the report prints, and the numbers behind a found one
    assert [t["reading"] for t in s["thresholds"]] == [t["reading"] for t in thresholds]
    late = next(t for t in s["thresholds"] if t["driver"] == "days_late")
    assert late["found"] is True and late["knot_ci_low"] <= late["knot"] <= late["knot_ci_high"]
    assert late["curve"] and {"kpi", "kpi_ci_low", "kpi_ci_high"} <= set(late["curve"][0])
    # segment differences: every test, the ones the text lists flagged
    assert len(s["segment_differences"]) == len(segments)
    text = report.segment_differences_text(client, agenda, tests=segments)
    for t in s["segment_differences"]:
        assert (t["reading"] in text) == t["differs"]
