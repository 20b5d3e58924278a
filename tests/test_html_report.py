"""The report's presentation layer: manager tables, the placement of cells by tag, the contents,
the glossary, what to do next, the PDF's missing-Chromium message, and readable figures."""

from __future__ import annotations

import html as htmllib
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ipm_analysis import html_report, plots  # noqa: E402
from ipm_analysis.errors import IpmError  # noqa: E402

# -- html_table ---------------------------------------------------------------------------------


def _cells(table_html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", table_html, flags=re.S)
    return [[htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", r, flags=re.S)]
            for r in rows]


def test_html_table_has_no_index_no_flag_column_and_no_nan():
    frame = pd.DataFrame({"chain KPI": ["On time", "Right first time", "Lead time"],
                          "share": [0.027, 0.5, np.nan], "p": [3.45e-166, 0.012, None],
                          "cases": [1200, 25, 8], "small base": [False, True, "yes"]}, index=[5, 6, 7])
    out = html_report.html_table(frame, percent=["share"])
    rows = _cells(out)
    assert rows[0] == ["chain KPI", "share", "p", "cases"]  # no index, no flag column
    assert rows[1] == ["On time", "2.7 %", "p < 0.001", "1,200"]
    assert rows[2][0] == "Right first time" + html_report.SMALL_MARK and rows[2][2] == "0.012"
    assert rows[3][1] == "–" and rows[3][2] == "–"  # missing values read as a dash
    assert "nan" not in out.lower() and "e-166" not in out and "small base" in out  # explained once, under it
    assert "<th></th>" not in out and ">5<" not in out


def test_html_table_marks_a_status_that_says_small_base_and_escapes_client_text():
    frame = pd.DataFrame({"chain KPI": ["<script>x</script>"], "status": ["below target (small base)"]})
    out = html_report.html_table(frame)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert _cells(out)[1] == ["<script>x</script>" + html_report.SMALL_MARK, "below target"]


def test_an_empty_table_says_so():
    out = html_report.html_table(pd.DataFrame(columns=["a", "b"]), caption="Signals")
    assert "<table" not in out and "not enough data" in out


# -- the report's layout --------------------------------------------------------------------------


def _nb(path, title, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {title}\n\nWhat this section holds.\n\n## A heading"))
    for i, (tags, text) in enumerate(cells):
        c = nbformat.v4.new_code_cell(f"# cell {i}", id=f"c{i}")
        c.metadata["tags"] = tags
        c.outputs = [nbformat.v4.new_output("display_data", data={"text/html": f"<p>{text}</p>"})]
        nb.cells.append(c)
    nbformat.write(nb, path)
    return path


SUMMARY = {"overview": {"client": "koffie", "title": "Koffie", "chains": {"inst": {"name": "Install", "owner": "Head"}},
                        "chain_kpis": [{"chain": "inst", "kpi": "lead", "kpi_name": "Lead time", "link": "Logistics",
                                        "unit": "days", "value": 15.0, "target": 14.0, "status": "below target"}]},
           "drivers": {"agenda": {"kpi_unit": "NPS points", "actions": [
               {"rank": 1, "chain": "inst", "kpi": "on_time", "name": "On time", "link": "Planning", "owner": "Head",
                "current_label": "80%",
                "target_label": "90%", "gain_overall": 2.5, "gain_overall_ci_low": 1.0, "gain_overall_ci_high": 4.0}]}}}


def test_cells_are_placed_by_tag_with_contents_and_glossary(tmp_path):
    a = _nb(tmp_path / "01_a.ipynb", "Overview", [
        ([], "APPENDIX-A"), (["check"], "CHECK-TEXT"), (["manager-chains"], "CHAINS-A"), (["remove-cell"], "GONE")])
    b = _nb(tmp_path / "02_b.ipynb", "Drivers", [
        (["manager-agenda"], "AGENDA-B"), (["manager-chains"], "CHAINS-B"), ([], "APPENDIX-B")])
    page = html_report.report_html([a, b], "Koffie", SUMMARY)
    order = [page.index(x) for x in ('id="contents"', 'id="for-managers"', "AGENDA-B", "CHAINS-A", "CHAINS-B",
                                     'id="m-next"', 'id="appendix"', "APPENDIX-A", "APPENDIX-B", 'id="a-glossary"')]
    assert order == sorted(order)
    assert "CHECK-TEXT" not in page and "GONE" not in page
    # every link of the contents leads to an element of the page
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    targets = re.findall(r'<a href="#([^"]+)"', page)
    assert targets and not [t for t in targets if t not in ids]
    assert "m-journeys" in ids and "Nothing to show for this client" in page  # no journey cell: said so
    for term in ("HC3", "VIF", "Holm", "Newey-West", "Shapley / LMG", "lag", "knot / threshold", "p-value",
                 "95% interval"):
        assert f"<dt>{term}</dt>" in page, term
    # the notebook's title heads its appendix section; its own sub-headings go one level down
    assert re.search(r'<h2 id="a-01-overview">Overview</h2>', page)
    assert "<h3" in page and "A heading" in page
    assert "<script" not in page.lower()


def test_what_to_do_next_names_owners_and_the_kpis_without_an_action():
    text = html_report.what_next_html(SUMMARY)
    assert "<b>Planning</b> (chain owner Head)" in text and "+2.5 NPS points (95% interval +1.0 to +4.0)" in text
    assert "<i>Lead time</i> is below its target" in text
    no_driver = {"overview": {"client": "k", "title": "K"}, "drivers": {"note": "No reliable driver was found.", "agenda": {"actions": []}}}
    assert "No reliable driver was found." in html_report.what_next_html(no_driver)


def test_drivers_in_words_per_chain():
    m = pd.DataFrame({"name": ["On time", "Lead time"], "link": ["Planning", "Logistics"], "share": [0.7, 0.3],
                      "share_ci_low": [0.5, 0.1], "share_ci_high": [0.9, 0.5], "gap_relative": [-0.12, 0.05],
                      "quadrant": ["fix first", "possible overkill"]})
    text = htmllib.unescape(re.sub(r"<[^>]+>", "", html_report.drivers_html("Install", m)))
    assert "On time (Planning): 70 % of the differences in scores this chain explains (95% interval 50 to 90 %); " \
           "12 % worse than its target; important and below target: fix first." in text
    assert "5 % better than its target" in text


# -- PDF ----------------------------------------------------------------------------------------


def test_pdf_without_chromium_is_one_readable_error(tmp_path, monkeypatch):
    monkeypatch.setenv(html_report.CHROMIUM_ENV, str(tmp_path / "no-such-browser"))
    page = tmp_path / "report.html"
    page.write_text("<p>report</p>", encoding="utf-8")
    with pytest.raises(IpmError, match=r"report\.pdf not written: no Chromium found .*apt-get install chromium.*"
                                        r"report\.html is written"):
        html_report.write_pdf(page)
    assert page.read_text(encoding="utf-8") == "<p>report</p>" and not (tmp_path / "report.pdf").exists()


# -- figures ------------------------------------------------------------------------------------


def _crowded_matrix(n=6):
    rng = np.random.default_rng(3)
    return pd.DataFrame({"name": [f"Chain KPI number {i} with a long name" for i in range(n)],
                         "link": ["Planning", "Service", "Logistics", "Finance", "Sales", "Service"][:n],
                         "share": 0.3 + rng.normal(0, 0.02, n), "share_ci_low": 0.2, "share_ci_high": 0.4,
                         "gap_relative": -0.05 + rng.normal(0, 0.01, n), "quadrant": "fix first"})


def _texts(fig):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


def test_importance_performance_labels_do_not_overlap_and_are_readable():
    plots.set_theme()
    ax = plots.importance_performance(_crowded_matrix(), title="Install")
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text()]
    assert len(labels) == 6
    boxes = [t.get_window_extent(renderer) for t in labels]
    overlaps = [(i, j) for i in range(len(boxes)) for j in range(i) if plots._overlap(boxes[i], boxes[j]) > 0]
    assert not overlaps, overlaps
    small = [(t.get_text()[:30], t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < plots.MIN_FONT]
    assert not small, small
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= ax.get_window_extent(renderer).x1  # the legend is beside the data, not on it
    plt.close(fig)


@pytest.mark.parametrize("draw", ["interval_line", "variants", "step_deviations", "control_chart"])
def test_figures_use_at_least_the_minimum_font(draw):
    plots.set_theme()
    if draw == "interval_line":
        d = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=6, freq="MS"), "value": np.arange(6.0),
                          "ci_low": np.arange(6.0) - 1, "ci_high": np.arange(6.0) + 1, "small_base": [True] + [False] * 5})
        ax = plots.interval_line(d, x="period", y="value", low="ci_low", high="ci_high", flag="small_base")
    elif draw == "variants":
        v = pd.DataFrame({"activities": [("A", "B", "C"), ("A", "C")], "share": [0.8, 0.2]})
        ax = plots.top_variants(v, designed=("A", "B", "C"))
    elif draw == "step_deviations":
        t = pd.DataFrame({"step": ["A", "B"], "skipped_share": [0.1, 0.0], "repeated_share": [0.0, 0.2],
                          "out_of_order_share": [0.0, 0.05]})
        ax = plots.step_deviations(t)
    else:
        t = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=6, freq="MS"), "value": 0.5, "center": 0.5,
                          "ucl": 0.6, "lcl": 0.4, "baseline": [True] * 3 + [False] * 3, "signals": [[]] * 6})
        ax = plots.control_chart(t, kind="p", title="On time")
    fig = ax.figure
    fig.canvas.draw()
    small = [(t.get_text()[:30], t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < plots.MIN_FONT]
    assert not small, small
    legend = ax.get_legend()
    if legend is not None:
        r = fig.canvas.get_renderer()
        assert legend.get_window_extent(r).x0 >= ax.get_window_extent(r).x1 - 1
    plt.close(fig)


def test_nothing_to_show():
    assert plots.nothing_to_show(pd.DataFrame({"a": [0.0, 0.0], "b": [np.nan, 0.0]}))
    assert plots.nothing_to_show([])
    assert not plots.nothing_to_show([0.0, 0.01])
