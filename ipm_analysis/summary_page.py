"""The manager-first page of a client's HTML report: a one-screen summary and a methods note.

Built from the client's ``summary.json`` (which the report notebooks write), so it always
agrees with the sections below it. Every piece of client-supplied text is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from . import present
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


def arrow(diff: float, ci_low: float, ci_high: float) -> str:
    """▲ up or ▼ down when the 95 % interval of a change lies on one side of zero, ● otherwise."""
    return "▲" if ci_low > 0 else "▼" if ci_high < 0 else "●"


def _diff_base(unit: str) -> int:
    return 2 if unit == "points on the scale" else 1


def change_phrase(diff: float, ci_low: float, ci_high: float, unit: str) -> str:
    """``"▲ +6.3 points (95% interval +1.0 to +11.6)"``, or with ``"no reliable change"`` when the
    interval spans zero."""
    d, lo, hi = present.interval(diff, ci_low, ci_high, _diff_base(unit), signed=True)
    text = (f"<span class=arrow>{arrow(diff, ci_low, ci_high)}</span> {d} {_e(unit)} "
            f"(95% interval {lo} to {hi})")
    if not (ci_low > 0 or ci_high < 0):
        text += ": no reliable change"
    return text


def _levels(current: float, previous: float, unit: str) -> tuple[str, str]:
    """Two levels of the result KPI, with the decimals that tell them apart."""
    if unit == "points":
        return present.pair(current, previous, 0, signed=True)
    if unit == "percentage points":
        a, b = present.pair(current, previous, 1)
        return a + "%", b + "%"
    return present.pair(current, previous, 2)


def _result_block(overview: Overview, kpi_structure: KpiStructure | None) -> str:
    r = overview.result_kpi
    if r is None:
        if overview.linkage.responses:
            return "<p class=headline>Too few survey responses to report the result KPI.</p>"
        return ("<p class=headline>No survey for this client: the result KPI and the drivers are not available; "
                "chain KPIs and journeys are.</p>")
    if r.scale == "nps":
        v, lo, hi = present.interval(r.value, r.ci_low, r.ci_high, 0, signed=True)
        text = f"{_e(r.name)}: <b>{v}</b> points (95% interval {lo} to {hi}; {r.n:,} responses)"
    elif r.measure in ("share", "top_box") and r.top_box_known():
        v, lo, hi = present.interval(100 * r.top_box, 100 * r.top_box_ci_low, 100 * r.top_box_ci_high, 1)
        m, mlo, mhi = present.interval(r.value, r.ci_low, r.ci_high, 2)
        mean = f"; mean {m} (95% interval {mlo} to {mhi})" if r.measure == "top_box" else ""
        text = (f"{_e(r.name)}: <b>{v} % {_e(r.top_label or 'in the top box')}</b> (95% interval {lo} to "
                f"{hi} %{mean}; {r.n:,} responses)")
    else:
        m, mlo, mhi = present.interval(r.value, r.ci_low, r.ci_high, 2)
        top = ""
        if r.top_box_known():
            v, lo, hi = present.interval(100 * r.top_box, 100 * r.top_box_ci_low, 100 * r.top_box_ci_high, 1)
            top = f"; {v} % {_e(r.top_label or 'in the top box')} (95% interval {lo} to {hi} %)"
        text = (f"{_e(r.name)}: <b>{m}</b> on average (95% interval {mlo} to "
                f"{mhi}{top}; {r.n:,} responses)")
    return f"<p class=headline>{text}</p>" + _recent_change_line(kpi_structure)


def _recent_change_line(kpi_structure: KpiStructure | None) -> str:
    change = kpi_structure.recent_change if kpi_structure is not None else None
    if change is None:
        return ""
    if change.diff is None or change.ci_low is None or change.ci_high is None:
        return f"<p class=muted>{_e(change.sentence)}</p>"
    return (f"<p>Change: {change_phrase(change.diff, change.ci_low, change.ci_high, change.unit or 'points')}, "
            f"{_e(change.after_months)} against {_e(change.before_months)}.</p>")


def _actions_block(drivers: Drivers | None, has_survey: bool) -> str:
    if not has_survey:
        return ""
    if drivers is None:
        return "<h2>Improvement actions</h2><p>No driver analysis in this run.</p>"
    agenda = drivers.agenda
    actions = agenda.actions if agenda is not None else []
    if not actions:
        return f"<h2>Improvement actions</h2><p>{_e(drivers.note or 'No reliable driver was found.')}</p>"
    unit = agenda.kpi_unit
    d = 2 if unit.startswith("points on") else 1  # a mean on a 1-5 scale needs two decimals

    def gain(a: AgendaAction) -> str:
        g, lo, hi = present.interval(a.gain_overall, a.gain_overall_ci_low, a.gain_overall_ci_high, d, signed=True)
        return f"<b>{g}</b> ({lo} to {hi})"

    rows = "".join(
        f"<tr><td>{a.rank}</td><td>{_e(a.name)}</td><td>{_e(a.link)}</td><td>{_e(a.owner)}</td>"
        f"<td>{_e(a.current_label)} → {_e(a.target_label)}</td><td>{gain(a)}</td></tr>"
        for a in actions[:3]
    )
    more = f"<p class=muted>{len(actions) - 3} more in the agenda below.</p>" if len(actions) > 3 else ""
    return (f"<div class=actions><h2>The three biggest improvement actions</h2><table><thead><tr><th>#</th><th>chain KPI</th>"
            f"<th>owning link</th><th>chain owner</th><th>now → target</th><th>expected gain, {_e(unit)} "
            f"(95% interval)</th></tr></thead><tbody>{rows}</tbody></table>{more}"
            "<p class=muted>Expected gains hold if the association seen in the survey holds when the KPI "
            "improves; they are not proof of cause.</p></div>")


def _off_target_block(overview: Overview) -> str:
    if not overview.chain_kpis:
        return ""
    off = [k for k in overview.chain_kpis if k.off_target]
    with_target = [k for k in overview.chain_kpis if k.status in ("on target", "below target")]
    if not off:
        return "<h2>Chains off target</h2><p>Every chain KPI with a target is on target.</p>"
    items = []
    for chain_id in dict.fromkeys(k.chain for k in off):
        c = overview.chain(chain_id)
        kpis = "; ".join(f"{_e(k.kpi_name)} {format_value(k.value, k.unit)} against "
                         f"{format_value(k.target, k.unit)} ({_e(k.link)})" for k in off if k.chain == chain_id)
        items.append(f"<li><b>{_e(c.name)}</b> (owner {_e(c.owner)}): {kpis}</li>")
    return (f"<div class=off-target><h2>Chains off target: {len(off)} of {len(with_target)} chain KPIs with a "
            f"target are below it</h2><ul>{''.join(items)}</ul></div>")


def _journey_block(overview: Overview, journeys: dict[str, JourneyChain] | None) -> str:
    if not journeys:
        return ""
    items = []
    for chain_id, j in journeys.items():
        name = overview.chain(chain_id).name
        text = _e(j.headline.rstrip(".")) if j.headline else (
            f"{present.num(100 * (j.as_designed or 0), 0)}% of cases followed the designed journey")
        d = j.deviating_minus_designed
        if d:
            from .journeys import difference_phrase

            r = overview.result_kpi
            unit = ("points" if r is None or r.scale == "nps" else "percentage points"
                    if r.measure in ("share", "top_box") else "points on the scale")
            text += "; " + _e(difference_phrase(d.diff, d.ci_low, d.ci_high, unit, "deviating journeys",
                                                "journeys as designed"))
        if j.events_left_out:
            text += f" ({j.events_left_out:,} events left out by the event filter of client.yaml)"
        items.append(f"<li><b>{_e(name)}</b>: {text}.</li>")
    return f"<h2>Journeys</h2><ul>{''.join(items)}</ul>"


def _meta_line(overview: Overview) -> str:
    parts = []
    if overview.report_date is not None:
        parts.append(f"Report of {overview.report_date.isoformat()}")
    period = overview.data_period
    if period.first is not None and period.last is not None:
        parts.append(f"data from {period.first.isoformat()} to {period.last.isoformat()}")
    link = overview.linkage
    if link.rate is not None:
        parts.append(f"{link.responses:,} survey responses, {present.num(100 * link.rate, 0)}% of them linked to the "
                     "case they are about")
    return f"<p class=muted>{'; '.join(parts)}.</p>" if parts else ""


def _target_was(k) -> str:
    if k.previous_target is None or k.target is None or k.previous_target == k.target:
        return ""
    return f", was {format_value(k.previous_target, k.unit or 'number')}"


def changes_html(summary: Summary | dict) -> str:
    """The "What changed since the last report" block (empty when the summary has no ``changes``)."""
    s = parse(summary)
    ch = s.changes
    if ch is None:
        return ""
    prev = []
    if ch.previous_report_date is not None:
        prev.append(f"of {ch.previous_report_date.isoformat()}")
    if ch.previous_data_period.first is not None and ch.previous_data_period.last is not None:
        prev.append(f"data from {ch.previous_data_period.first.isoformat()} to "
                    f"{ch.previous_data_period.last.isoformat()}")
    items = []
    m = ch.result_kpi
    if m is not None:
        beyond = m.ci_low > 0 or m.ci_high < 0
        d, lo, hi = present.interval(m.diff, m.ci_low, m.ci_high, _diff_base(m.unit), signed=True)
        now, then = _levels(m.current, m.previous, m.unit)
        items.append(f"<li>{_e(m.name)}: <span class=arrow>{arrow(m.diff, m.ci_low, m.ci_high)}</span> "
                     f"{now} against {then}, a difference of {d} "
                     f"{_e(m.unit)} (95% interval {lo} to {hi}): "
                     f"{'beyond noise' if beyond else 'no reliable change'}.</li>")
    elif ch.result_kpi_note:
        items.append(f"<li>{_e(ch.result_kpi_note)}</li>")
    if ch.crossed_target:
        def value(v, lo, hi, unit):
            ci = format_interval(v, lo, hi, unit or "number")
            return format_value(v, unit or "number") + ("" if ci == "–" else f" ({ci})")

        crossed = "; ".join(
            f"<b>{_e(k.kpi_name)}</b> ({_e(k.link)}) {'▲ now on target' if k.now == 'on target' else '▼ now below target'}"
            f", {value(k.current, k.current_ci_low, k.current_ci_high, k.unit)} against "
            f"{value(k.previous, k.previous_ci_low, k.previous_ci_high, k.unit)} "
            f"(target {format_value(k.target, k.unit or 'number')}{_target_was(k)})" for k in ch.crossed_target)
        items.append(f"<li>Crossed their target: {crossed}.</li>")
    else:
        items.append("<li>No chain KPI crossed its target.</li>")
    if ch.new_signals:
        sig = "; ".join(f"{_e(x.chain_kpi)} ({_e(x.link)}) {_e(x.month)}: {_e(x.signal)}" for x in ch.new_signals)
        items.append(f"<li>New control-chart signals: {sig}.</li>")
    else:
        items.append("<li>No new control-chart signal.</li>")
    head = f"<p class=muted>Previous report {_e(', '.join(prev))}.</p>" if prev else ""
    return f"<div class=changes><h2>What changed since the last report</h2>{head}<ul>{''.join(items)}</ul></div>"


def summary_html(summary: Summary | dict) -> str:
    """The one-screen summary that opens the client's report (``summary``: the client's
    summary.json, as a :class:`~ipm_analysis.summary.Summary` or the dict it holds).

    Without ``changes`` it holds a marker where the writer of the report puts what changed since
    the client's last report (:data:`CHANGES_MARKER`)."""
    s = parse(summary)
    overview = s.overview or Overview(client="", title="Client report")
    title = overview.title or overview.client or "Client report"
    return (STYLE + f"<div class=ipm-summary><h1>{_e(title)}</h1>"
            + _meta_line(overview)
            + _result_block(overview, s.kpi_structure)
            + (changes_html(s) if s.changes is not None else CHANGES_MARKER)
            + _actions_block(s.drivers, overview.has_survey)
            + _off_target_block(overview)
            + _journey_block(overview, s.journeys)
            + "</div>")


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
