"""The "Did it work?" section in the client's language: ``reporting: {language: nl}`` gives its
sentences, verdicts, notes, table cells and signal descriptions in Dutch with comma decimals,
and English stays word for word as it was.

A small demo client with actions (koffie, 1,500 answers) is reviewed once in each language; no
notebook is run.
"""

from __future__ import annotations

import pytest
import yaml

from ipm_analysis import actions, demo, load_client, messages

from .test_dutch_report import _POINT_DECIMAL, client_names, english_runs, english_words


@pytest.fixture(scope="module")
def sections(tmp_path_factory):
    made = demo.generate_client("koffie", tmp_path_factory.mktemp("koffie"), n_responses=1500, seed=1)
    client = load_client(made.path)
    config = yaml.safe_load((made.path / "client.yaml").read_text(encoding="utf-8"))
    out = {"config": config}
    for language in ("en", "nl"):
        messages.use_language(language)
        try:
            out[language] = actions.actions_section(client)
        finally:
            messages.use_language("en")
    return out


def _lines(section) -> list[str]:
    lines = list(section.sentences) + list(section.gain_sentences) + [section.value_note, section.note]
    for frame in (section.table, section.signals):
        for record in frame.to_dict("records"):
            lines += [v for v in record.values() if isinstance(v, str)]
    return [line for line in lines if line]


def test_the_dutch_section_has_no_english_sentence_and_comma_decimals(sections):
    nl = sections["nl"]
    assert len(nl.sentences) == len(sections["en"].sentences) > 0 and nl.gain_sentences and nl.value_note
    lines = _lines(nl)
    runs = english_runs(lines, client_names(sections["config"]), english_words())
    assert not runs, f"English left in the Dutch section: {sorted(set(runs))[:20]}"
    points = [m.group(0) for line in lines for m in _POINT_DECIMAL.finditer(line)]
    assert not points, f"numbers with a decimal point in the Dutch section: {points[:20]}"
    assert any("95%-interval" in s for s in nl.sentences)
    assert set(nl.table["verdict"]) <= {messages.catalogue("nl")[k] for k in actions._VERDICT_KEYS.values()}


def test_the_english_section_reads_as_before(sections):
    en = sections["en"]
    # the wording the section had before it came from the catalogue
    first = en.sentences[0]
    assert first.startswith("Installers carry a spare-parts kit (Service), from 2025-09-01 in region = north against "
                            "the rest: Installed at the first visit +")
    assert "percentage points (95% interval +" in first and first.endswith(": no measurable effect.")
    assert set(en.table["verdict"]) <= set(actions.VERDICT_WORDS)
    assert set(en.table["design"]) <= {"pilot against the rest", "before against after"}
    assert en.value_note.startswith("Money amounts assume, as client.yaml says, that an avoidable contact costs ")
    assert set(en.signals["signal"]) <= set(__import__("ipm_analysis.monitoring").monitoring.RULES.values())
    # the same reviews, the same numbers: only the words differ
    nl = sections["nl"]
    assert [r.kpi.effect for r in en.reviews if r.kpi] == [r.kpi.effect for r in nl.reviews if r.kpi]


def test_the_dutch_tables_of_the_section(sections):
    from ipm_analysis.html_report import html_table

    from .test_dutch_report import visible_text

    nl = sections["nl"]
    lines = []
    for frame in (nl.table, nl.gains, nl.signals):
        lines += visible_text(html_table(frame, language="nl"))
    assert "oordeel" in lines and "overeenstemming" in lines and "signaal" in lines
    runs = english_runs(lines, client_names(sections["config"]), english_words())
    assert not runs, f"English left in the Dutch tables: {sorted(set(runs))[:20]}"
    points = [m.group(0) for line in lines for m in _POINT_DECIMAL.finditer(line)]
    assert not points, f"numbers with a decimal point in the Dutch tables: {points[:20]}"
