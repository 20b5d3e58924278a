"""The message catalogue: every reading in English and Dutch, from one key and its numbers."""

from __future__ import annotations

import datetime
import pickle
import re

import pytest

from ipm_analysis import messages, present
from ipm_analysis.messages import Message, Num, Seq, catalogue, fields, render

EN, NL = catalogue("en"), catalogue("nl")


def _sample(key: str, template: str):
    """Parameters for every field of a sentence: numbers with decimals, and nested messages."""
    out = {}
    for name in fields(template):
        if name in ("change",):
            out[name] = Message("change.days", sign="+", amount=Num(1.0))
        elif name in ("unit",):
            out[name] = Message("unit.percentage_points")
        elif name in ("interval",):
            out[name] = Message("interval.level", level=Num(95.0, 0), low=Num(1.25, 2, True), high=Num(4.5, 1, True))
        elif name in ("status",):
            out[name] = Message("status.below_target")
        elif name in ("side",):
            out[name] = Message("word.lower")
        elif name in ("why", "counts"):
            out[name] = Seq((Message("model.why_no_interval"), Message("model.why_default")), "list.and")
        elif name in ("p",):
            out[name] = messages.p_text(0.0123)
        elif name in ("sign",):
            out[name] = "+"
        elif name in ("name", "link", "kpi", "result", "subject", "other"):
            out[name] = "Zeta"  # a name from client.yaml: written as it is in every language
        else:
            out[name] = Num(1234.5678, 2)
    return out


def test_both_catalogues_have_the_same_keys_and_fields():
    assert set(EN) == set(NL)
    for key in EN:
        assert fields(EN[key]) == fields(NL[key]), key


def _english_words(text: str) -> set[str]:
    """The words of a sentence, its ``{fields}`` left out."""
    return {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z']+", re.sub(r"\{\w+\}", " ", text))}


# words Dutch shares with English, and terms of the trade a Dutch report keeps
_SHARED = {"week", "in", "driver", "drivers", "score", "kpi", "kpis", "nps", "zeta", "interval", "significant", "en"}


@pytest.mark.parametrize("key", sorted(EN))
def test_the_dutch_rendering_contains_no_english_sentence(key):
    params = _sample(key, EN[key])
    english, dutch = render(Message(key, **params), "en"), render(Message(key, **params), "nl")
    assert str(Message(key, **params)) == english
    words = _english_words(EN[key]) - _SHARED
    if words:  # a sentence with words (not only fields and symbols) reads differently in Dutch
        assert dutch != english
        # no run of three words of any English sentence of the catalogue appears in the Dutch text
        for other in EN.values():
            ws = re.findall(r"[A-Za-z']+", re.sub(r"\{\w+\}", " ", other))
            for i in range(len(ws) - 2):
                run = " ".join(ws[i:i + 3])
                assert not re.search(rf"\b{re.escape(run)}\b", dutch), (key, run, dutch)
        # and no English word of its own sentence, apart from the ones Dutch shares
        assert not (_english_words(dutch) & words - _english_words(NL[key])), (key, dutch)
    # numbers come out with comma decimals in Dutch, with the same digits
    if "1,234.57" in english:
        assert "1.234,57" in dutch and "1,234.57" not in dutch
    if "+1.25" in english:
        assert "+1,25" in dutch


def test_numbers_in_dutch_have_comma_decimals_and_point_thousands():
    assert present.format_number(1234.5678, 2, "nl") == "1.234,57"
    assert present.format_number(1234.5678, 2, "en") == "1,234.57"
    assert present.format_number(-0.04, 2, "nl", signed=True) == "-0,04"
    assert present.format_number(0.0, 1, "nl") == "0"
    assert present.format_number(float("nan"), 1, "nl") == "n.v.t."
    assert present.format_number(12.5, None, "nl") == "12,5"
    # the digits are those of the English text, whatever the locale's rounding
    for x in (2.675, 0.125, 1e-5, 987654.3215):
        for d in (0, 1, 2, 3):
            en = present.format_number(x, d, "en")
            assert present.format_number(x, d, "nl") == en.translate(str.maketrans({",": ".", ".": ","}))
    with pytest.raises(ValueError, match="language"):
        present.format_number(1.0, 1, "de")


def test_dates_in_dutch():
    day = datetime.date(2026, 1, 10)
    assert present.format_date(day, "nl") == "10 januari 2026"
    assert present.format_date(day, "en") == "10 January 2026"


def test_a_message_is_its_english_text_and_keeps_its_key_through_pickle():
    m = Message("effect.associated", change=Message("change.pp", sign="+", amount=Num(10.0)), name="On time",
                effect=Num(3.14, 1, True), unit=Message("unit.nps_points"), what="",
                interval=Message("interval.level", level=Num(95.0, 0), low=Num(1.2, 1, True), high=Num(5.5, 1, True)))
    assert m == "+10 pp On time is associated with +3.1 NPS points (95% interval +1.2 to +5.5)."
    assert render(m, "nl") == ("+10 procentpunt On time gaat samen met +3,1 NPS-punten "
                               "(95%-betrouwbaarheidsinterval +1,2 tot +5,5).")
    again = pickle.loads(pickle.dumps(m))
    assert again.key == "effect.associated" and render(again, "nl") == render(m, "nl")
    assert render("a plain text", "nl") == "a plain text"


def test_p_text_follows_the_rounding_rule():
    for p in (0.0004, 0.0123, 0.2345, 0.06):
        assert messages.p_text(p) == present.p_text(p)
    assert render(messages.p_text(0.0123), "nl") == "p = 0,012"


def test_an_unknown_key_says_which():
    with pytest.raises(KeyError, match="'nope' is not in the en catalogue"):
        Message("nope")


def test_a_reason_an_analysis_cannot_be_done_reads_in_the_report_language():
    """An error the data cause (too few months for control limits, an action with no month after its
    start) keeps its English text for the command line and logs, and a Dutch report gives its
    reason in Dutch (the review's notes and a chart that could not be drawn use :func:`reason`)."""
    import pandas as pd

    from ipm_analysis import actions, monitoring
    from ipm_analysis.errors import AnalysisError
    from ipm_analysis.messages import reason

    months = pd.date_range("2025-01-01", periods=3, freq="MS")
    with pytest.raises(AnalysisError) as chart:
        monitoring.p_chart(pd.DataFrame({"period": months, "successes": [5, 6, 7], "n": [10, 10, 10]}))
    assert str(chart.value) == "control limits need at least 8 baseline periods; got 3"
    assert reason(chart.value, "en") == str(chart.value)
    assert reason(chart.value, "nl") == "regelgrenzen hebben minstens 8 perioden in de basisperiode nodig; er zijn er 3"
    with pytest.raises(AnalysisError) as its:
        actions.interrupted_time_series(pd.DataFrame({"period": months, "y": [1.0, 2.0, 3.0]}), "2026-01-01", value="y")
    assert str(its.value) == "no period on or after the start 2026-01-01"
    assert reason(its.value, "nl") == "geen periode op of na de start 2026-01-01"
    assert reason(ValueError("any other error"), "nl") == "any other error"  # no key: its own text


def test_a_printed_line_in_dutch_keeps_the_names_of_client_yaml_and_of_columns():
    """A notebook's printed output is translated run by run of words; a key of client.yaml or a
    column name is not a word to translate (``value`` in ``value_per_point`` stays)."""
    from ipm_analysis.messages import localize_text

    dutch = "Geen prijzen in client.yaml (contacts.cost_per_contact, result_kpi.value_per_point): geen geldbedragen."
    assert localize_text(dutch, "nl") == dutch
    assert localize_text("case_id value", "nl") == "case_id waarde"
    assert localize_text("below target", "nl") == "onder doel"
    assert localize_text("   NPS (points)  95% interval  small base", "nl") == "   NPS (punten)  95% interval  kleine basis"
