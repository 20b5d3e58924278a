"""The manager summary that opens each HTML report."""

from __future__ import annotations

from ipm_analysis.summary_page import summary_html

ACTION = {"rank": 1, "chain": "inst", "kpi": "on_time", "name": "On time", "link": "Planning", "owner": "Head of Service", "current_label": "80 %",
          "target_label": "90 %", "gain_overall": 2.5, "gain_overall_ci_low": 1.0, "gain_overall_ci_high": 4.0}


def _summary(actions, title="Koffie"):
    return {
        "overview": {"client": "koffie", "title": title, "chains": {"inst": {"name": "Install <b>", "owner": "Head"}},
                     "result_kpi": {"name": "NPS", "scale": "nps", "measure": "nps", "value": 19.6, "ci_low": 16.4, "ci_high": 22.6,
                                    "n": 2000},
                     "linkage": {"responses": 2000, "linked": 1900, "rate": 0.95},
                     "chain_kpis": [{"chain": "inst", "kpi": "on_time", "kpi_name": "On time", "link": "Planning",
                                     "unit": "share", "value": 0.8, "target": 0.9, "status": "below target"}]},
        "drivers": {"note": "No reliable driver was found: the chain KPIs explain too little.",
                    "agenda": {"kpi_unit": "NPS points", "actions": actions}},
    }


def test_summary_shows_result_kpi_actions_and_off_target_chains():
    html = summary_html(_summary([dict(ACTION, rank=i) for i in range(1, 6)]))
    assert "<b>+20</b> points (95% interval +16 to +23; 2,000 responses)" in html
    assert html.count("<tr><td>") == 3  # the three biggest actions only
    assert "2 more in the agenda below" in html
    assert "On time 80% against 90% (Planning)" in html
    assert "95% of them linked" in html
    assert "not proof of cause" in html


def test_no_reliable_driver_is_said_plainly():
    html = summary_html(_summary([]))
    assert "No reliable driver was found" in html
    assert "biggest improvement actions" not in html


def test_client_text_is_escaped():
    html = summary_html(_summary([dict(ACTION, name="<script>alert(1)</script>")], title="<img src=x onerror=1>"))
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Install &lt;b&gt;" in html


def test_client_without_survey():
    s = _summary([])
    s["overview"]["result_kpi"] = None
    s["overview"]["linkage"] = {"responses": 0, "linked": 0, "rate": None}
    del s["drivers"]
    html = summary_html(s)
    assert "No survey for this client" in html and "improvement actions" not in html.lower()


def test_values_are_written_in_their_unit():
    from ipm_analysis.units import format_value

    assert format_value(0.767, "share") == "76.7%" and format_value(0.9, "share") == "90%"
    assert format_value(15.04, "days") == "15.0 days" and format_value(26.72, "hours") == "26.7 hours"
    assert format_value(float("nan"), "share") == "–" and format_value(None, "days") == "–"
    assert format_value(1234.5, "count") == "1,234" and format_value(3.14159, "number") == "3.14"


def test_html_report_is_the_same_for_the_same_notebooks(tmp_path):
    """Exporting the same executed notebooks twice gives the same bytes, also with another
    report exported in between (one exporter serves a worker's reports)."""
    import nbformat

    from ipm_analysis.batch import export_html

    def executed(name, text):
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("print(1)")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells = [nbformat.v4.new_markdown_cell(f"## {name}"), cell]
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    a = [executed("a1", "zq-first\n"), executed("a2", "zq-second\n")]
    b = [executed("b1", "zq-other\n")]
    export_html(a, tmp_path / "a.html", "A", _summary([ACTION]))
    export_html(b, tmp_path / "b.html", "B", _summary([]))
    export_html(a, tmp_path / "a-again.html", "A", _summary([ACTION]))
    first, again = (tmp_path / "a.html").read_bytes(), (tmp_path / "a-again.html").read_bytes()
    assert first == again
    assert b"zq-second" in first and b"zq-other" not in first
    assert b"zq-other" in (tmp_path / "b.html").read_bytes()


def test_journey_difference_is_worded_as_a_difference_and_the_share_explains_itself():
    s = _summary([])
    s["journeys"] = {"inst": {"cases": 900, "as_designed": 0.0, "mean_fitness": 0.7, "events_left_out": 1200,
                              "headline": "0% of 900 cases followed the designed journey (A → B); 100% had an "
                                          "activity outside the design (most often 'W_Call', in 98% of cases).",
                              "deviating_minus_designed": {"diff": -48.9, "ci_low": -57.7, "ci_high": -40.1,
                                                           "p_value": 0.001}}}
    html = summary_html(s)
    assert "deviating journeys scored 48.9 points lower than journeys as designed (95% interval 40.1 to 57.7 lower)" \
        in html
    assert "-48.9" not in html
    assert "100% had an activity outside the design" in html
    assert "1,200 events left out by the event filter" in html
