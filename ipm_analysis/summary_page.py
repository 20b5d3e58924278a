"""The manager-first page of a client's HTML report: a one-screen summary and a methods note.

Built from the client's ``summary.json`` (which the report notebooks write), so it always
agrees with the sections below it. Every piece of client-supplied text is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from . import messages, present
from .summary import AgendaAction, Drivers, JourneyChain, KpiStructure, Overview, Summary, parse
from .units import format_interval, format_value

STYLE = """
<style>
.ipm-summary { font-family: system-ui, sans-serif; border: 1px solid #cfd8dc; border-radius: 6px;
  padding: .7rem 1.2rem; margin: 0 0 1.5rem 0; background: #fafcfd; max-width: 78rem; line-height: 1.35; }
.ipm-summary h1 { font-size: 1.35rem; margin: 0 0 .2rem 0; }
.ipm-summary h2 { font-size: 1rem; margin: .7rem 0 .25rem 0; }
.ipm-summary p, .ipm-summary ul { margin: .2rem 0; }
.ipm-summary table { border-collapse: collapse; width: 100%; font-size: .88rem; }
.ipm-summary th, .ipm-summary td { text-align: left !important; padding: .15rem .45rem; border-bottom: 1px solid #e0e0e0; }
.ipm-summary .headline { font-size: 1.1rem; margin-top: .4rem; }
.ipm-summary .muted { color: #555; font-size: .88rem; }
.ipm-summary .arrow { font-weight: bold; }
.ipm-summary .actions th:first-child { width: 1.5rem; }
.ipm-summary .changes { border-left: 4px solid #90a4ae; padding: .1rem .8rem; margin: .5rem 0; background: #f1f5f7; }
.ipm-summary .changes ul { padding-left: 1.1rem; font-size: .92rem; }
.ipm-summary ul { padding-left: 1.2rem; font-size: .92rem; }
.ipm-methods { font-family: system-ui, sans-serif; max-width: 60rem; margin-top: 2rem; color: #333; }
</style>
"""


CHANGES_MARKER = "<!--ipm-what-changed-->"  # where the writer puts what changed since the last report


def _e(value: Any) -> str:
    """Text for HTML: escaped; nothing for a missing value."""
    return "" if value is None else html.escape(str(value), quote=True)


def _t(text: str, language: str, **values: Any) -> str:
    """A fixed text of the page in the report's language, its fields filled."""
    return messages.translate(text, language, **values)


def _nums(texts: tuple[str, ...], language: str) -> tuple[str, ...]:
    """Numbers :mod:`ipm_analysis.present` wrote, in the symbols of the report's language."""
    return tuple(present.localize(x, language) for x in texts)


def _count(n: int, language: str) -> str:
    return present.format_number(n, 0, language)


def _say(message: Any, language: str) -> str:
    """A reading (a catalogue message, or a text stored in summary.json) in the report's language,
    its numbers in the language's symbols."""
    return messages.localize_text(messages.render(message, language), language)


def _unit(unit: str, language: str) -> str:
    return _t(unit, language)


def arrow(diff: float, ci_low: float, ci_high: float) -> str:
    """▲ up or ▼ down when the 95 % interval of a change lies on one side of zero, ● otherwise."""
    return "▲" if ci_low > 0 else "▼" if ci_high < 0 else "●"


def _diff_base(unit: str) -> int:
    return 2 if unit == "points on the scale" else 1


def change_phrase(diff: float, ci_low: float, ci_high: float, unit: str, language: str = "en") -> str:
    """``"▲ +6.3 points (95% interval +1.0 to +11.6)"``, or with ``"no reliable change"`` when the
    interval spans zero."""
    d, lo, hi = _nums(present.interval(diff, ci_low, ci_high, _diff_base(unit), signed=True), language)
    text = _t("<span class=arrow>{arrow}</span> {d} {unit} (95% interval {lo} to {hi})", language,
              arrow=arrow(diff, ci_low, ci_high), d=d, unit=_e(_unit(unit, language)), lo=lo, hi=hi)
    if not (ci_low > 0 or ci_high < 0):
        text += _t(": no reliable change", language)
    return text


def _levels(current: float, previous: float, unit: str, language: str = "en") -> tuple[str, str]:
    """Two levels of the result KPI, with the decimals that tell them apart."""
    if unit == "points":
        return _nums(present.pair(current, previous, 0, signed=True), language)
    if unit == "percentage points":
        a, b = _nums(present.pair(current, previous, 1), language)
        return a + "%", b + "%"
    return _nums(present.pair(current, previous, 2), language)


def _result_block(overview: Overview, kpi_structure: KpiStructure | None, language: str = "en") -> str:
    r = overview.result_kpi
    if r is None:
        if overview.linkage.responses:
            return "<p class=headline>" + _t("Too few survey responses to report the result KPI.", language) + "</p>"
        return ("<p class=headline>" + _t("No survey for this client: the result KPI and the drivers are not "
                                          "available; chain KPIs and journeys are.", language) + "</p>")
    n = _count(r.n, language)
    if r.scale == "nps":
        v, lo, hi = _nums(present.interval(r.value, r.ci_low, r.ci_high, 0, signed=True), language)
        text = _t("{name}: <b>{v}</b> points (95% interval {lo} to {hi}; {n} responses)", language,
                  name=_e(r.name), v=v, lo=lo, hi=hi, n=n)
    elif r.measure in ("share", "top_box") and r.top_box_known():
        v, lo, hi = _nums(present.interval(100 * r.top_box, 100 * r.top_box_ci_low, 100 * r.top_box_ci_high, 1),
                          language)
        m, mlo, mhi = _nums(present.interval(r.value, r.ci_low, r.ci_high, 2), language)
        mean = _t("; mean {m} (95% interval {lo} to {hi})", language, m=m, lo=mlo, hi=mhi) \
            if r.measure == "top_box" else ""
        text = _t("{name}: <b>{v} % {top}</b> (95% interval {lo} to {hi} %{mean}; {n} responses)", language,
                  name=_e(r.name), v=v, top=_e(_t(r.top_label or "in the top box", language)), lo=lo, hi=hi,
                  mean=mean, n=n)
    else:
        m, mlo, mhi = _nums(present.interval(r.value, r.ci_low, r.ci_high, 2), language)
        top = ""
        if r.top_box_known():
            v, lo, hi = _nums(present.interval(100 * r.top_box, 100 * r.top_box_ci_low, 100 * r.top_box_ci_high, 1),
                              language)
            top = _t("; {v} % {top} (95% interval {lo} to {hi} %)", language, v=v,
                     top=_e(_t(r.top_label or "in the top box", language)), lo=lo, hi=hi)
        text = _t("{name}: <b>{m}</b> on average (95% interval {lo} to {hi}{top}; {n} responses)", language,
                  name=_e(r.name), m=m, lo=mlo, hi=mhi, top=top, n=n)
    return f"<p class=headline>{text}</p>" + _recent_change_line(kpi_structure, language)


def _recent_change_line(kpi_structure: KpiStructure | None, language: str = "en") -> str:
    change = kpi_structure.recent_change if kpi_structure is not None else None
    if change is None:
        return ""
    if change.diff is None or change.ci_low is None or change.ci_high is None:
        return f"<p class=muted>{_e(_say(change.sentence, language))}</p>"
    return "<p>" + _t("Change: {change}, {after} against {before}.", language,
                      change=change_phrase(change.diff, change.ci_low, change.ci_high, change.unit or "points",
                                           language),
                      after=_e(_months(change.after_months, language)),
                      before=_e(_months(change.before_months, language))) + "</p>"


def _months(span: str | None, language: str) -> str | None:
    """A span of months as summary.json holds it (``2025-10 to 2025-12``) in the report's language."""
    return span.replace(" to ", " " + _t("to", language) + " ") if span and language != "en" else span


def _actions_block(drivers: Drivers | None, has_survey: bool, language: str = "en") -> str:
    if not has_survey:
        return ""
    title = _t("Improvement actions", language)
    if drivers is None:
        return f"<h2>{title}</h2><p>" + _t("No driver analysis in this run.", language) + "</p>"
    agenda = drivers.agenda
    actions = agenda.actions if agenda is not None else []
    if not actions:
        note = drivers.note or _t("No reliable driver was found.", language)
        return f"<h2>{title}</h2><p>{_e(_say(note, language))}</p>"
    unit = agenda.kpi_unit
    d = present.unit_base(unit)  # a mean on a 1-5 scale needs two decimals

    def gain(a: AgendaAction) -> str:
        g, lo, hi = _nums(present.interval(a.gain_overall, a.gain_overall_ci_low, a.gain_overall_ci_high, d,
                                           signed=True), language)
        return _t("<b>{g}</b> ({lo} to {hi})", language, g=g, lo=lo, hi=hi)

    rows = "".join(
        f"<tr><td>{a.rank}</td><td>{_e(a.name)}</td><td>{_e(a.link)}</td><td>{_e(a.owner)}</td>"
        f"<td>{_e(_say(a.current_label, language))} → {_e(_say(a.target_label, language))}</td>"
        f"<td>{gain(a)}</td></tr>"
        for a in actions[:3]
    )
    more = ("<p class=muted>" + _t("{n} more in the agenda below.", language, n=len(actions) - 3) + "</p>"
            if len(actions) > 3 else "")
    return ("<div class=actions><h2>" + _t("The three biggest improvement actions", language)
            + "</h2><table><thead><tr><th>#</th><th>" + _t("chain KPI", language) + "</th><th>"
            + _t("owning link", language) + "</th><th>" + _t("chain owner", language) + "</th><th>"
            + _t("now → target", language) + "</th><th>"
            + _t("expected gain, {unit} (95% interval)", language, unit=_e(_unit(unit, language)))
            + f"</th></tr></thead><tbody>{rows}</tbody></table>{more}<p class=muted>"
            + _t("Expected gains hold if the association seen in the survey holds when the KPI improves; they "
                 "are not proof of cause.", language) + "</p></div>")


def _off_target_block(overview: Overview, language: str = "en") -> str:
    if not overview.chain_kpis:
        return ""
    off = [k for k in overview.chain_kpis if k.off_target]
    with_target = [k for k in overview.chain_kpis if k.status in ("on target", "below target")]
    if not off:
        return ("<h2>" + _t("Chains off target", language) + "</h2><p>"
                + _t("Every chain KPI with a target is on target.", language) + "</p>")
    items = []
    for chain_id in dict.fromkeys(k.chain for k in off):
        c = overview.chain(chain_id)
        kpis = "; ".join(_t("{kpi} {value} against {target} ({link})", language, kpi=_e(k.kpi_name),
                            value=_say(format_value(k.value, k.unit), language),
                            target=_say(format_value(k.target, k.unit), language), link=_e(k.link))
                         for k in off if k.chain == chain_id)
        items.append(_t("<li><b>{chain}</b> (owner {owner}): {kpis}</li>", language, chain=_e(c.name),
                        owner=_e(c.owner), kpis=kpis))
    return ("<div class=off-target><h2>"
            + _t("Chains off target: {off} of {all} chain KPIs with a target are below it", language,
                 off=len(off), all=len(with_target))
            + f"</h2><ul>{''.join(items)}</ul></div>")


def _journey_block(overview: Overview, journeys: dict[str, JourneyChain] | None, language: str = "en") -> str:
    if not journeys:
        return ""
    items = []
    for chain_id, j in journeys.items():
        name = overview.chain(chain_id).name
        text = _e(messages.render(j.headline, language).rstrip(".")) if j.headline else _t(
            "{share}% of cases followed the designed journey", language,
            share=present.localize(present.num(100 * (j.as_designed or 0), 0), language))
        d = j.deviating_minus_designed
        if d:
            from .journeys import difference_phrase

            r = overview.result_kpi
            unit = ("points" if r is None or r.scale == "nps" else "percentage points"
                    if r.measure in ("share", "top_box") else "points on the scale")
            if language != "en":
                unit = messages.Message({"points": "unit.points", "percentage points": "unit.percentage_points",
                                         "points on the scale": "unit.points_on_the_scale"}[unit])
            text += "; " + _e(messages.render(difference_phrase(d.diff, d.ci_low, d.ci_high, unit,
                                                                _t("deviating journeys", language),
                                                                _t("journeys as designed", language)), language))
        if j.events_left_out:
            text += _t(" ({n} events left out by the event filter of client.yaml)", language,
                       n=_count(j.events_left_out, language))
        items.append(f"<li><b>{_e(name)}</b>: {text}.</li>")
    return "<h2>" + _t("Journeys", language) + f"</h2><ul>{''.join(items)}</ul>"


def _day(day: Any, language: str) -> str:
    """A date on the page: ISO in English (as it always was), the language's own format otherwise."""
    return day.isoformat() if language == "en" else present.format_date(day, language)


def _meta_line(overview: Overview, language: str = "en") -> str:
    parts = []
    if overview.report_date is not None:
        parts.append(_t("Report of {date}", language, date=_day(overview.report_date, language)))
    period = overview.data_period
    if period.first is not None and period.last is not None:
        parts.append(_t("data from {first} to {last}", language, first=_day(period.first, language),
                        last=_day(period.last, language)))
    link = overview.linkage
    if link.rate is not None:
        parts.append(_t("{n} survey responses, {share}% of them linked to the case they are about", language,
                        n=_count(link.responses, language),
                        share=present.localize(present.num(100 * link.rate, 0), language)))
    return f"<p class=muted>{'; '.join(parts)}.</p>" if parts else ""


def _target_was(k, language: str = "en") -> str:
    if k.previous_target is None or k.target is None or k.previous_target == k.target:
        return ""
    return _t(", was {value}", language, value=_say(format_value(k.previous_target, k.unit or "number"), language))


def changes_html(summary: Summary | dict, language: str | None = None) -> str:
    """The "What changed since the last report" block (empty when the summary has no ``changes``)."""
    s = parse(summary)
    language = language or (s.overview.language if s.overview is not None else "en")
    ch = s.changes
    if ch is None:
        return ""
    prev = []
    if ch.previous_report_date is not None:
        prev.append(_t("of {date}", language, date=_day(ch.previous_report_date, language)))
    if ch.previous_data_period.first is not None and ch.previous_data_period.last is not None:
        prev.append(_t("data from {first} to {last}", language, first=_day(ch.previous_data_period.first, language),
                       last=_day(ch.previous_data_period.last, language)))
    items = []
    m = ch.result_kpi
    if m is not None:
        beyond = m.ci_low > 0 or m.ci_high < 0
        d, lo, hi = _nums(present.interval(m.diff, m.ci_low, m.ci_high, _diff_base(m.unit), signed=True), language)
        now, then = _levels(m.current, m.previous, m.unit, language)
        items.append(_t("<li>{name}: <span class=arrow>{arrow}</span> {now} against {then}, a difference of {d} "
                        "{unit} (95% interval {lo} to {hi}): {verdict}.</li>", language,
                        name=_e(m.name), arrow=arrow(m.diff, m.ci_low, m.ci_high), now=now, then=then, d=d,
                        unit=_e(_unit(m.unit, language)), lo=lo, hi=hi,
                        verdict=_t("beyond noise" if beyond else "no reliable change", language)))
    elif ch.result_kpi_note:
        items.append(f"<li>{_e(_say(ch.result_kpi_note, language))}</li>")
    if ch.crossed_target:
        def value(v, lo, hi, unit):
            ci = format_interval(v, lo, hi, unit or "number")
            ci = present.localize(ci, language)
            return _say(format_value(v, unit or "number"), language) + ("" if ci == "–" else f" ({ci})")

        crossed = "; ".join(
            _t("<b>{kpi}</b> ({link}) {now}, {current} against {previous} (target {target}{was})", language,
               kpi=_e(k.kpi_name), link=_e(k.link),
               now=_t("▲ now on target" if k.now == "on target" else "▼ now below target", language),
               current=value(k.current, k.current_ci_low, k.current_ci_high, k.unit),
               previous=value(k.previous, k.previous_ci_low, k.previous_ci_high, k.unit),
               target=_say(format_value(k.target, k.unit or "number"), language), was=_target_was(k, language))
            for k in ch.crossed_target)
        items.append(_t("<li>Crossed their target: {crossed}.</li>", language, crossed=crossed))
    else:
        items.append("<li>" + _t("No chain KPI crossed its target.", language) + "</li>")
    if ch.new_signals:
        sig = "; ".join(f"{_e(x.chain_kpi)} ({_e(x.link)}) {_e(x.month)}: {_e(_t(x.signal, language))}"
                        for x in ch.new_signals)
        items.append(_t("<li>New control-chart signals: {signals}.</li>", language, signals=sig))
    else:
        items.append("<li>" + _t("No new control-chart signal.", language) + "</li>")
    head = ("<p class=muted>" + _t("Previous report {previous}.", language, previous=_e(", ".join(prev))) + "</p>"
            if prev else "")
    return ("<div class=changes><h2>" + _t("What changed since the last report", language)
            + f"</h2>{head}<ul>{''.join(items)}</ul></div>")


def summary_html(summary: Summary | dict, language: str | None = None) -> str:
    """The one-screen summary that opens the client's report (``summary``: the client's
    summary.json, as a :class:`~ipm_analysis.summary.Summary` or the dict it holds), in
    ``language`` (default: the report's language, ``overview.language``).

    Without ``changes`` it holds a marker where the writer of the report puts what changed since
    the client's last report (:data:`CHANGES_MARKER`)."""
    s = parse(summary)
    overview = s.overview or Overview(client="", title="Client report")
    language = language or overview.language
    title = overview.title or overview.client or _t("Client report", language)
    return (STYLE + f"<div class=ipm-summary><h1>{_e(title)}</h1>"
            + _meta_line(overview, language)
            + _result_block(overview, s.kpi_structure, language)
            + (changes_html(s, language) if s.changes is not None else CHANGES_MARKER)
            + _actions_block(s.drivers, overview.has_survey, language)
            + _off_target_block(overview, language)
            + _journey_block(overview, s.journeys, language)
            + "</div>")


def methods_html(language: str = "en") -> str:
    """The methods note ("How to read this report") in ``language``."""
    return _t(METHODS_HTML, language)


METHODS_HTML = """
<div class=ipm-methods>
<h2>How to read this report</h2>
<ul>
<li><b>Intervals.</b> Every figure comes with a 95% interval: the range that would contain the true value
in 95 of 100 surveys like this one. Where two intervals overlap, the difference may be chance; where this
report compares two groups or periods it tests the difference itself.</li>
<li><b>Minimum bases.</b> Figures from fewer than the minimum number of responses or cases are not shown;
figures from small bases are marked and should be read with care.</li>
<li><b>Association, not cause.</b> Drivers are chain KPIs that go together with better scores in this
client's data. The driver shares split the explained variation in the score exactly (Shapley / LMG
decomposition); the effects are estimated with robust errors and checked with models that respect the
answer scale. Expected gains hold only if the association holds when the KPI improves; other differences
between customers may explain part of it.</li>
<li><b>No reliable driver.</b> When the chain KPIs explain too little of the score, or their intervals
include no effect, the report says so instead of ranking noise, and the agenda is left empty.</li>
<li><b>Journeys.</b> Mined from the event log; events of one case at the same moment keep their order in
the source file.</li>
</ul>
</div>
"""
