"""A client with ``reporting: {language: nl}`` gets its whole report in Dutch.

The demo client koffie (the committed fixture client) is run end to end with Dutch set in a copy
of its client.yaml: ``report.html``, ``actions.xlsx`` and the portfolio's ``index.html``. Their
visible text is checked for English left behind (a run of three or more words that only English
uses, taken from the English catalogues and templates, once the names from client.yaml are taken
out) and for numbers with a decimal point.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

from ipm_analysis import messages
from ipm_analysis.html_report import untranslated_cells

from .conftest import FIXTURE_CLIENT, ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))


class _Visible(HTMLParser):
    """The text a reader sees: no styles, scripts or tag attributes."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(html_text: str) -> list[str]:
    p = _Visible()
    p.feed(html_text)
    return p.parts


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z']*", re.sub(r"\{\w+\}|<[^>]+>", " ", text))


def english_words() -> set[str]:
    """Words of the English catalogue and templates that the Dutch ones do not use."""
    english = list(messages.catalogue("en").values()) + list(messages.texts("nl"))
    dutch = list(messages.catalogue("nl").values()) + list(messages.texts("nl").values())
    en = {w.lower() for t in english for w in _words(t)}
    nl = {w.lower() for t in dutch for w in _words(t)}
    return {w for w in en - nl if len(w) > 1}


def client_names(config: dict) -> list[str]:
    """Every name client.yaml gives (title, chains, KPIs, links, owners, segments, steps...)."""
    names: set[str] = set()

    def walk(v, key=""):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, k)
        elif isinstance(v, list):
            for x in v:
                walk(x, key)
        elif isinstance(v, str) and key not in ("expr", "sql", "file", "path", "language"):
            names.add(v)

    walk(config)
    return sorted(names, key=len, reverse=True)


def english_runs(lines: list[str], names: list[str], words: set[str], n: int = 3) -> list[str]:
    """Runs of ``n`` or more English-only words in the lines, names from client.yaml left out."""
    found = []
    for line in lines:
        for name in names:
            line = line.replace(name, " | ")
        run: list[str] = []
        for token in re.findall(r"[A-Za-z][A-Za-z']*|[^\sA-Za-z]+", line):
            if token.lower() in words:
                run.append(token)
                continue
            if len(run) >= n:
                found.append(" ".join(run))
            run = []
        if len(run) >= n:
            found.append(" ".join(run))
    return found


# a number with a decimal point; Dutch thousands (2.000, 12.345.678) are not one
_POINT_DECIMAL = re.compile(r"(?<![\w.,-])(?![+-]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?(?![\d.,]))[+-]?\d+\.\d+(?![\w.]*\d)")


@pytest.fixture(scope="module")
def dutch(tmp_path_factory):
    from ipm_analysis.batch import run_client
    from ipm_analysis.portfolio import write_portfolio

    tmp = tmp_path_factory.mktemp("dutch")
    folder = tmp / "clients" / "koffie"
    shutil.copytree(FIXTURE_CLIENT, folder)
    config = yaml.safe_load((folder / "client.yaml").read_text(encoding="utf-8"))
    config.setdefault("reporting", {})["language"] = "nl"
    (folder / "client.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    run = run_client(folder, tmp / "reports")
    assert run.status == "ok", run.message
    index = write_portfolio(tmp / "reports")
    return {"dir": run.report_dir, "index": index, "config": config}


def _check(lines: list[str], config: dict, what: str) -> None:
    runs = english_runs(lines, client_names(config), english_words())
    assert not runs, f"English left in the Dutch {what}: {sorted(set(runs))[:20]}"
    points = [m.group(0) for line in lines for m in _POINT_DECIMAL.finditer(line)]
    assert not points, f"numbers with a decimal point in the Dutch {what}: {points[:20]}"


def test_the_dutch_report_has_no_english_sentence_and_comma_decimals(dutch):
    text = (dutch["dir"] / "report.html").read_text(encoding="utf-8")
    lines = visible_text(text)
    assert "Voor managers" in lines and "De verbeteragenda" in lines and "Begrippenlijst" in lines
    assert any("95%-betrouwbaarheidsinterval" in line for line in lines)
    _check(lines, dutch["config"], "report.html")


def test_the_dutch_workbook_and_portfolio(dutch):
    from openpyxl import load_workbook

    wb = load_workbook(dutch["dir"] / "actions.xlsx")
    assert "Keten-KPI's" in wb.sheetnames and "Chain KPIs" not in wb.sheetnames
    cells = list(wb.sheetnames)
    for ws in wb.worksheets:
        cells += [c for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    _check(cells, dutch["config"], "actions.xlsx")
    index = visible_text(dutch["index"].read_text(encoding="utf-8"))
    assert any("Portefeuille" in line for line in index)
    _check(index, dutch["config"], "index.html")


def test_the_dutch_summary_names_its_language(dutch):
    from ipm_analysis.summary import load

    assert load(dutch["dir"] / "summary.json").overview.language == "nl"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_text_cell_of_the_report_has_a_dutch_entry(path):
    missing = untranslated_cells(nbformat.read(str(path), as_version=4), "nl")
    assert not missing, f"{path.name}: text cells without a Dutch entry in text.po: {[m[:60] for m in missing]}"


def test_the_checks_catch_english_and_point_decimals():
    words = english_words()
    assert english_runs(["De agenda: this is below its target"], [], words)
    assert not english_runs(["Install a coffee machine: 57% van de zaken"], ["Install a coffee machine"], words)
    assert _POINT_DECIMAL.search("winst +2.5 punten") and not _POINT_DECIMAL.search("winst +2,5 punten")
    assert _POINT_DECIMAL.search("fitness 0.945") and not _POINT_DECIMAL.search("uit 2.000 antwoorden")
    # Dutch thousands with a decimal comma (money: € 29.628,8) are Dutch, not a decimal point
    assert not _POINT_DECIMAL.search("€ 29.628,8 per maand") and not _POINT_DECIMAL.search("-1.234,56")


def test_every_phrase_of_the_figures_has_a_dutch_entry():
    from ipm_analysis.plots import PHRASES

    known = messages.texts("nl")
    assert not [p for p in PHRASES if p not in known]


def test_figures_come_out_in_the_report_language():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from ipm_analysis import plots

    data = pd.DataFrame({"label": ["Install a coffee machine"], "gap": [-5.0], "low": [-8.0], "high": [-2.0],
                         "status": ["below target"]})
    messages.use_language("nl")
    try:
        ax = plots.estimate_bars(data, y="label", x="gap", low="low", high="high", hue="status", reference=0,
                                 xlabel="distance to target (% of target; right = better)",
                                 title="Chain KPIs against their targets")
    finally:
        messages.use_language("en")
    assert ax.get_title() == "Keten-KPI's tegenover hun doelen"
    assert ax.get_xlabel() == "afstand tot doel (% van het doel; rechts = beter)"
    assert "Install a coffee machine" in [t.get_text() for t in ax.get_yticklabels()]
    english = plots.estimate_bars(data, y="label", x="gap", low="low", high="high",
                                  title="Chain KPIs against their targets")
    assert english.get_title() == "Chain KPIs against their targets"
    # numbers on the axes with a decimal comma
    messages.use_language("nl")
    try:
        ax = plots.estimate_bars(data.assign(gap=-0.5, low=-0.8, high=-0.2), y="label", x="gap", low="low",
                                 high="high")
    finally:
        messages.use_language("en")
    ax.figure.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert any("," in t for t in ticks) and not any("." in t for t in ticks), ticks
