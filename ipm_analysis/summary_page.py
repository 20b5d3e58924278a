"""The manager-first page of a client's HTML report: a one-screen summary and a methods note.

Built from the client's ``summary.json`` (which the report notebooks write), so it always
agrees with the sections below it. Every piece of client-supplied text is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from . import present
from .units import format_value

STYLE = """
<style>
.ipm-summary { font-family: system-ui, sans-serif; border: 1px solid #cfd8dc; border-radius: 6px;
  padding: 1rem 1.4rem; margin: 0 0 2rem 0; background: #fafcfd; max-width: 60rem; }
.ipm-summary h1 { font-size: 1.5rem; margin: 0 0 .6rem 0; }
.ipm-summary h2 { font-size: 1.05rem; margin: 1rem 0 .4rem 0; }
.ipm-summary table { border-collapse: collapse; width: 100%; font-size: .92rem; }
.ipm-summary th, .ipm-summary td { text-align: left !important; padding: .3rem .5rem; border-bottom: 1px solid #e0e0e0; }
.ipm-summary .headline { font-size: 1.15rem; }
.ipm-summary .muted { color: #555; font-size: .9rem; }
.ipm-methods { font-family: system-ui, sans-serif; max-width: 60rem; margin-top: 2rem; color: #333; }
</style>
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _result_block(overview: dict, kpi_structure: dict) -> str:
    r = overview.get("result_kpi")
    if not r:
        if overview.get("linkage", {}).get("responses"):
            return "<p class=headline>Too few survey responses to report the result KPI.</p>"
        return ("<p class=headline>No survey for this client: the result KPI and the drivers are not available; "
                "chain KPIs and journeys are.</p>")
    if r["scale"] == "nps":
        v, lo, hi = present.interval(r["value"], r["ci_low"], r["ci_high"], 0, signed=True)
        text = f"{_e(r['name'])}: <b>{v}</b> points (95% interval {lo} to {hi}; {r['n']:,} responses)"
    elif r.get("measure") in ("share", "top_box") and r.get("top_box_ci_low") is not None:
        v, lo, hi = present.interval(100 * r["top_box"], 100 * r["top_box_ci_low"], 100 * r["top_box_ci_high"], 1)
        m, mlo, mhi = present.interval(r["value"], r["ci_low"], r["ci_high"], 2)
        mean = f"; mean {m} (95% interval {mlo} to {mhi})" if r["measure"] == "top_box" else ""
        text = (f"{_e(r['name'])}: <b>{v} % {_e(r.get('top_label', 'in the top box'))}</b> (95% interval {lo} to "
                f"{hi} %{mean}; {r['n']:,} responses)")
    else:
        m, mlo, mhi = present.interval(r["value"], r["ci_low"], r["ci_high"], 2)
        top = ""
        if r.get("top_box_ci_low") is not None:
            v, lo, hi = present.interval(100 * r["top_box"], 100 * r["top_box_ci_low"], 100 * r["top_box_ci_high"], 1)
            top = f"; {v} % {_e(r.get('top_label', 'in the top box'))} (95% interval {lo} to {hi} %)"
        text = (f"{_e(r['name'])}: <b>{m}</b> on average (95% interval {mlo} to "
                f"{mhi}{top}; {r['n']:,} responses)")
    change = (kpi_structure or {}).get("recent_change")
    return f"<p class=headline>{text}</p>" + (f"<p class=muted>{_e(change)}</p>" if change else "")


def _actions_block(drivers: dict | None, has_survey: bool) -> str:
    if not has_survey:
        return ""
    if not drivers:
        return "<h2>Improvement actions</h2><p>No driver analysis in this run.</p>"
    actions = (drivers.get("agenda") or {}).get("actions") or []
    if not actions:
        return f"<h2>Improvement actions</h2><p>{_e(drivers.get('note') or 'No reliable driver was found.')}</p>"
    unit = (drivers.get("agenda") or {}).get("kpi_unit", "")
    d = 2 if unit.startswith("points on") else 1  # a mean on a 1-5 scale needs two decimals

    def gain(a: dict) -> str:
        g, lo, hi = present.interval(a["gain_overall"], a["gain_overall_ci_low"], a["gain_overall_ci_high"], d,
                                     signed=True)
        return f"<b>{g}</b> ({lo} to {hi})"

    rows = "".join(
        f"<tr><td>{a['rank']}</td><td>{_e(a['name'])}</td><td>{_e(a['link'])}</td><td>{_e(a['owner'])}</td>"
        f"<td>{_e(a['current_label'])} → {_e(a['target_label'])}</td><td>{gain(a)}</td></tr>"
        for a in actions[:3]
    )
    more = f"<p class=muted>{len(actions) - 3} more in the agenda below.</p>" if len(actions) > 3 else ""
    return (f"<h2>The three biggest improvement actions</h2><table><thead><tr><th>#</th><th>chain KPI</th>"
            f"<th>owning link</th><th>chain owner</th><th>now → target</th><th>expected gain, {_e(unit)} "
            f"(95% interval)</th></tr></thead><tbody>{rows}</tbody></table>{more}"
            "<p class=muted>Expected gains hold if the association seen in the survey holds when the KPI "
            "improves; they are not proof of cause.</p>")


def _off_target_block(overview: dict) -> str:
    chains = overview.get("chains", {})
    off = [k for k in overview.get("chain_kpis", []) if k.get("status") == "below target"]
    if not overview.get("chain_kpis"):
        return ""
    if not off:
        return "<h2>Chains off target</h2><p>Every chain KPI with a target is on target.</p>"
    items = []
    for chain_id in dict.fromkeys(k["chain"] for k in off):
        c = chains.get(chain_id, {"name": chain_id, "owner": ""})
        kpis = "; ".join(f"{_e(k.get('kpi_name', k['kpi']))} {format_value(k['value'], k.get('unit'))} against "
                         f"{format_value(k['target'], k.get('unit'))} ({_e(k['link'])})" for k in off if k["chain"] == chain_id)
        items.append(f"<li><b>{_e(c['name'])}</b> (owner {_e(c['owner'])}): {kpis}</li>")
    return f"<h2>Chains off target</h2><ul>{''.join(items)}</ul>"


def _journey_block(overview: dict, journeys: dict | None) -> str:
    if not journeys:
        return ""
    chains = overview.get("chains", {})
    items = []
    for chain_id, j in journeys.items():
        name = chains.get(chain_id, {}).get("name", chain_id)
        text = _e(j["headline"].rstrip(".")) if j.get("headline") else (
            f"{present.num(100 * j['as_designed'], 0)}% of cases followed the designed journey")
        d = j.get("deviating_minus_designed")
        if d:
            from .journeys import difference_phrase

            r = overview.get("result_kpi") or {}
            unit = ("points" if r.get("scale", "nps") == "nps" else "percentage points"
                    if r.get("measure") in ("share", "top_box") else "points on the scale")
            text += "; " + _e(difference_phrase(d["diff"], d["ci_low"], d["ci_high"], unit, "deviating journeys",
                                                "journeys as designed"))
        if j.get("events_left_out"):
            text += f" ({j['events_left_out']:,} events left out by the event filter of client.yaml)"
        items.append(f"<li><b>{_e(name)}</b>: {text}.</li>")
    return f"<h2>Journeys</h2><ul>{''.join(items)}</ul>"


def summary_html(summary: dict) -> str:
    """The one-screen summary that opens the client's report."""
    overview = summary.get("overview", {})
    title = overview.get("title", overview.get("client", "Client report"))
    has_survey = bool(overview.get("result_kpi")) or bool(overview.get("linkage", {}).get("responses"))
    link = overview.get("linkage", {})
    data_line = ""
    if link.get("rate") is not None:
        data_line = (f"<p class=muted>Based on {link['responses']:,} survey responses, {present.num(100 * link['rate'], 0)}% "
                     "of them linked to the case they are about.</p>")
    return (STYLE + f"<div class=ipm-summary><h1>{_e(title)}</h1>"
            + _result_block(overview, summary.get("kpi_structure", {}))
            + _actions_block(summary.get("drivers"), has_survey)
            + _off_target_block(overview)
            + _journey_block(overview, summary.get("journeys"))
            + data_line + "</div>")


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
