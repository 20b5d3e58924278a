"""The portfolio index: one row per client on its own and a common scale, sortable on values."""

from __future__ import annotations

import re

from ipm_analysis import portfolio
from ipm_analysis import summary as sm

from .test_summary import OVERVIEW


def _client(folder, client, title, top_box, ci, diff, gains, statuses):
    r = {**OVERVIEW["result_kpi"], "top_box": top_box, "top_box_ci_low": ci[0], "top_box_ci_high": ci[1],
         "top_label": "promoters (9-10)"}
    kpis = [{**OVERVIEW["chain_kpis"][0], "kpi": f"k{i}", "status": s} for i, s in enumerate(statuses)]
    actions = [{"rank": i + 1, "chain": "inst", "kpi": f"k{i}", "name": f"KPI {i}", "link": "Planning",
                "owner": "Head", "gain_overall": g, "gain_overall_ci_low": g - 1, "gain_overall_ci_high": g + 1,
                "share": 0.5 - i / 10} for i, g in enumerate(gains)]
    s = {"overview": {**OVERVIEW, "client": client, "title": title, "result_kpi": r, "chain_kpis": kpis},
         "kpi_structure": {"recent_change": {"sentence": "…", "before_months": "2025-07 to 2025-09",
                                             "after_months": "2025-10 to 2025-12", "diff": diff, "ci_low": diff - 3,
                                             "ci_high": diff + 3, "unit": "points"}},
         "drivers": {"agenda": {"kpi_unit": "NPS points", "actions": actions}}}
    (folder / client).mkdir(parents=True)
    (folder / client / "summary.json").write_text(sm.dumps(s))


def test_rows_carry_both_scales_the_change_and_the_top_actions_by_gain(tmp_path):
    _client(tmp_path, "a", "Alpha", 0.30, (0.27, 0.33), 5.0, [3.0, 2.0, 1.0, 0.5],
            ["below target", "on target", "no target"])
    _client(tmp_path, "b", "Beta", 0.45, (0.41, 0.49), -1.0, [1.5], ["below target", "below target"])
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text('{"overview": {"client": "old"}}')
    data = portfolio.collect(tmp_path)
    a, b = data.clients
    assert (a.kpis_below_target, a.kpis_with_target, b.kpis_below_target, b.kpis_with_target) == (1, 2, 2, 2)
    assert [x.name for x in a.top_actions] == ["KPI 0", "KPI 1", "KPI 2"]  # the top three by expected gain
    assert data.unreadable == ["old"]
    assert [(r.chain_kpi, r.clients_with_it_as_top_action) for r in data.chain_kpis_across_clients][:1] == [("KPI 0", 2)]
    page = portfolio.render_index(data)
    rows = re.findall(r"<tr><td data-sort.*?</tr>", page, flags=re.S)
    assert len(rows) == 2
    keys = [re.findall(r'data-sort="([^"]*)"', r) for r in rows]
    # sort keys are the values: name, own scale, common scale (%), change, share below target, first gain, dates
    assert keys[0] == ["alpha", "19.5", "30.0", "5.0", "0.5", "3.0", "2026-02-01", "2026-01-31"]
    assert keys[1][2:6] == ["45.0", "-1.0", "1.0", "1.5"]
    assert "▲" in rows[0] and "reliable change" in rows[0] and "●" in rows[1] and "no reliable change" in rows[1]
    assert "<b>30.0%</b> promoters (9-10)" in rows[0] and "<b>1</b> of 2" in rows[0]
    assert "KPI 0 (Planning; owner Head): <b>+3.0</b>" in rows[0]
    assert "Not shown" in page and "old" in page
    assert "<script>" in page and "http" not in page.split("<script>")[1]  # the sort script is inline
    # the labels say what is measured and in which order
    assert "top 3 actions by expected gain on the result KPI" in page
    assert "median share of explained variation within its chain" in page
