"""An incomplete last period (the data were extracted part-way through it) is found by the data's
last date or its volume, or set in client.yaml (reporting.as_of), and left out of the monthly
trends and the recent change, with a sentence saying so."""

from __future__ import annotations

import shutil

import pandas as pd
import yaml

from ipm_analysis import actions, kpis, load_client, periods, report
from tests.conftest import FIXTURE_CLIENT


def _copy_with(tmp_path, **reporting):
    dst = tmp_path / "client"
    shutil.copytree(FIXTURE_CLIENT, dst)
    cfg = yaml.safe_load((dst / "client.yaml").read_text())
    cfg["reporting"].update(reporting)
    (dst / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return load_client(dst)


def test_partial_last_month_found_by_date_and_volume_and_left_out():
    client = load_client(FIXTURE_CLIENT)  # extracted early in January 2026
    cases = pd.read_csv(FIXTURE_CLIENT / "cases.csv")
    jan = pd.to_datetime(cases["closed_at"].fillna(cases["opened_at"])).dt.strftime("%Y-%m").eq("2026-01").sum()
    p = periods.partial_period(client)
    assert p is not None and p["label"] == "2026-01" and p["n"] == jan
    assert p["last_date"] < pd.Timestamp("2026-01-29") and p["n"] < 0.5 * p["usual_n"]
    assert "2026-01" in p["sentence"] and "left out" in p["sentence"]
    monthly = report.chain_kpis_monthly(client)
    assert monthly["period"].max() == pd.Timestamp("2025-12-01")
    # the recent change compares the three complete months before with the three before them, by hand
    change = report.recent_change(client)
    assert change["after_months"] == "2025-10 to 2025-12"
    r = client.responses
    after = r.loc[(r["period"] >= "2025-10-01") & (r["period"] < "2026-01-01"), "score"]
    before = r.loc[(r["period"] >= "2025-07-01") & (r["period"] < "2025-10-01"), "score"]
    assert change["result"].diff == kpis.nps_change(before, after).diff
    assert "2026-01 left out: incomplete" in report.change_sentence(client, change)


def test_as_of_in_client_yaml_decides(tmp_path):
    client = _copy_with(tmp_path, as_of="2025-11-30")
    p = periods.partial_period(client)
    assert [f"{x:%Y-%m}" for x in p["periods"]] == ["2025-12", "2026-01"] and "as_of" in p["sentence"]
    assert report.chain_kpis_monthly(client)["period"].max() == pd.Timestamp("2025-11-01")
    assert report.recent_change(client)["after_months"] == "2025-09 to 2025-11"


def test_as_of_at_the_end_of_the_last_month_keeps_it(tmp_path):
    client = _copy_with(tmp_path, as_of="2026-01-31")
    assert periods.partial_period(client) is None
    assert report.chain_kpis_monthly(client)["period"].max() == pd.Timestamp("2026-01-01")
    assert periods.partial_period_sentence(client) == "The last period in the data is complete."


def test_actions_section_leaves_the_incomplete_month_out_of_its_charts_by_default():
    client = load_client(FIXTURE_CLIENT)  # January 2026 incomplete (above)
    default = actions.actions_section(client)
    every = actions.actions_section(client, leave_out=())
    charted = {k: ch.table["period"].max() for k, ch in default.charts.items() if not isinstance(ch, str)}
    assert charted and max(charted.values()) == pd.Timestamp("2025-12-01")
    kept = {ch.table["period"].max() for ch in every.charts.values() if not isinstance(ch, str)}
    assert max(kept) == pd.Timestamp("2026-01-01")  # charted when nothing is left out


def test_segment_chart_labels_each_bar_and_marks_small_bases_in_the_report_language():
    client = load_client(FIXTURE_CLIENT)
    seg = report.segment_chart(client)
    by_hand = report.in_reader_unit(client, report.segment_result_kpi(client))
    assert seg[["segment", "group", "value"]].equals(by_hand[["segment", "group", "value"]])
    for row in seg.itertuples():
        assert row.label.startswith(f"{row.segment}: {row.group}")
        assert row.label.endswith(" (small base)") == bool(row.small_base)
    dutch = report.segment_chart(client, language="nl")
    assert (dutch["label"].str.endswith(" (kleine basis)") == seg["small_base"].astype(bool)).all()
