"""The portfolio index across clients: ``reports/index.html`` and ``reports/portfolio.json``.

Built from each client's ``summary.json`` (read through :mod:`ipm_analysis.summary`), so it needs
no access to client data. One row per client: the result KPI on its own scale and on a common one
(the share of answers in the top box: promoters for an NPS, the top box of a rating or label
scale), its change against the client's own previous period, the chain KPIs off target, the top
improvement actions by expected gain with their owner, the run date and the data period, and a
link to the client's report. The page is in the language of its clients (``reporting.language``,
English when they differ; or as :func:`write_portfolio` is told). Every column sorts (a small
inline script; numbers sort on the
values in the cells' ``data-sort``, not on the text). Below it: which chain KPIs are top actions
across clients.
"""

from __future__ import annotations

import datetime as dt
import html
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from . import messages, present
from .files import atomic_write_text
from .html_report import REPORT_HTML
from .summary import AgendaAction, DataPeriod, RecentChange, ResultKpi, Summary, SummaryError, load
from .summary_page import arrow

TOP_N = 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientRow(_Model):
    """One client of the portfolio, as the index shows it."""

    client: str
    title: str
    report: str
    last_run_failed: bool = False
    report_date: dt.date | None = None
    data_period: DataPeriod = Field(default_factory=DataPeriod)
    result_kpi: ResultKpi | None = None
    recent_change: RecentChange | None = None
    kpis_below_target: int = 0
    kpis_with_target: int = 0
    kpi_unit: str | None = None
    top_actions: list[AgendaAction] = Field(default_factory=list)
    drivers_note: str | None = None
    language: str = "en"


class AcrossRow(_Model):
    chain_kpi: str
    clients_with_it_as_top_action: int
    median_share: float | None = None


class Portfolio(_Model):
    clients: list[ClientRow] = Field(default_factory=list)
    unreadable: list[str] = Field(default_factory=list)
    chain_kpis_across_clients: list[AcrossRow] = Field(default_factory=list)
    top_n: int = TOP_N


def client_row(summary: Summary, folder: Path) -> ClientRow:
    """The portfolio row of one client's summary."""
    o = summary.overview
    row = ClientRow(client=o.client if o else folder.name, title=o.title if o else folder.name,
                    report=f"{folder.name}/{REPORT_HTML}", last_run_failed=(folder / "failed-run").is_dir())
    if o is not None:
        row.report_date, row.data_period, row.result_kpi = o.report_date, o.data_period, o.result_kpi
        row.language = o.language
        row.kpis_below_target = sum(k.status == "below target" for k in o.chain_kpis)
        row.kpis_with_target = sum(k.status in ("on target", "below target") for k in o.chain_kpis)
    if summary.kpi_structure is not None:
        row.recent_change = summary.kpi_structure.recent_change
    d = summary.drivers
    if d is not None:
        row.drivers_note = d.note
        if d.agenda is not None:
            row.kpi_unit = d.agenda.kpi_unit
            row.top_actions = sorted(d.agenda.actions, key=lambda a: a.rank)[:TOP_N]
    return row


def collect(out_root: str | Path) -> Portfolio:
    """Read every client's summary under ``out_root`` into one portfolio."""
    out_root = Path(out_root)
    data = Portfolio()
    for summary_path in sorted(out_root.glob("*/summary.json")):
        try:
            summary = load(summary_path)
        except SummaryError:
            data.unreadable.append(summary_path.parent.name)
            continue
        data.clients.append(client_row(summary, summary_path.parent))
    shares: dict[str, list[float]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for c in data.clients:
        for a in c.top_actions:
            counts[a.name] += 1
            if a.share is not None:
                shares[a.name].append(a.share)
    data.chain_kpis_across_clients = sorted(
        (AcrossRow(chain_kpi=k, clients_with_it_as_top_action=n,
                   median_share=statistics.median(shares[k]) if shares[k] else None) for k, n in counts.items()),
        key=lambda r: (-r.clients_with_it_as_top_action, -(r.median_share or 0), r.chain_kpi))
    return data


def portfolio_language(data: Portfolio) -> str:
    """The language of the index: its clients' ``reporting.language`` when they share one, else English."""
    languages = {c.language for c in data.clients}
    return languages.pop() if len(languages) == 1 else "en"


def write_portfolio(out_root: str | Path, language: str | None = None) -> Path:
    """Write ``portfolio.json`` and ``index.html`` into ``out_root``; returns the index path. The
    index is in ``language`` (default: :func:`portfolio_language`)."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    data = collect(out_root)
    atomic_write_text(out_root / "portfolio.json", data.model_dump_json(indent=2))
    index = out_root / "index.html"
    atomic_write_text(index, render_index(data, language or portfolio_language(data)))
    return index


# -- the page ----------------------------------------------------------------------------------

def _e(value) -> str:
    """Text for HTML: escaped; nothing for a missing value."""
    return "" if value is None else html.escape(str(value), quote=True)


def _key(value) -> str:
    """A cell's sort key: a number as plain text, empty when there is none (sorted last)."""
    if value is None:
        return ""
    return _e(repr(float(value)) if isinstance(value, (int, float)) else value)


def _td(text: str, key=None) -> str:
    return f'<td data-sort="{_key(key)}">{text}</td>'


def _t(text: str, language: str, **values) -> str:
    return messages.translate(text, language, **values)


def _nums(texts: tuple[str, ...], language: str) -> tuple[str, ...]:
    return tuple(present.localize(x, language) for x in texts)


def _own_scale(r: ResultKpi | None, language: str = "en") -> str:
    if r is None:
        return _td(_t("no survey or too few responses", language))
    base = 0 if r.scale == "nps" else 2
    v, lo, hi = _nums(present.interval(r.value, r.ci_low, r.ci_high, base, signed=r.scale == "nps"), language)
    unit = _t(" points" if r.scale == "nps" else " on average", language)
    return _td(_t("{name}: <b>{v}</b>{unit} <span class=ci>({lo} to {hi}; n={n})</span>", language, name=_e(r.name),
                  v=v, unit=unit, lo=lo, hi=hi, n=present.format_number(r.n, 0, language)), r.value)


def _common_scale(r: ResultKpi | None, language: str = "en") -> str:
    if r is None or not r.top_box_known():
        return _td("–")
    v, lo, hi = _nums(present.interval(100 * r.top_box, 100 * r.top_box_ci_low, 100 * r.top_box_ci_high, 1), language)
    return _td(_t("<b>{v}%</b> {top} <span class=ci>({lo} to {hi}%)</span>", language, v=v,
                  top=_e(_t(r.top_label or "in the top box", language)), lo=lo, hi=hi), 100 * r.top_box)


def _change(c: RecentChange | None, language: str = "en") -> str:
    if c is None or c.diff is None or c.ci_low is None or c.ci_high is None:
        return _td(f"<span class=ci>{_t('not compared', language)}</span>" if c is None
                   else f"<span class=ci>{_e(messages.localize_text(c.sentence, language))}</span>")
    base = 2 if c.unit == "points on the scale" else 1
    d, lo, hi = _nums(present.interval(c.diff, c.ci_low, c.ci_high, base, signed=True), language)
    reliable = c.ci_low > 0 or c.ci_high < 0
    verdict = _t("reliable change" if reliable else "no reliable change", language)

    def months(span):
        return span.replace(" to ", " " + _t("to", language) + " ") if span and language != "en" else span
    return _td(_t("<span class=arrow>{arrow}</span> <b>{d}</b> {unit} <span class=ci>({lo} to {hi}; {verdict}; "
                  "{after} against {before})</span>", language, arrow=arrow(c.diff, c.ci_low, c.ci_high), d=d,
                  unit=_e(_t(c.unit, language)), lo=lo, hi=hi, verdict=verdict, after=_e(months(c.after_months)),
                  before=_e(months(c.before_months))), c.diff)


def _off_target(c: ClientRow, language: str = "en") -> str:
    if not c.kpis_with_target:
        return _td(_t("no chain KPI with a target", language))
    share = c.kpis_below_target / c.kpis_with_target
    return _td(_t("<b>{below}</b> of {all}", language, below=c.kpis_below_target, all=c.kpis_with_target), share)


def _actions(c: ClientRow, language: str = "en") -> str:
    if not c.top_actions:
        return _td(_e(messages.localize_text(c.drivers_note, language) if c.drivers_note
                      else _t("no driver analysis", language)))
    unit = c.kpi_unit or "points"
    base = present.unit_base(unit)
    items = []
    for a in c.top_actions:
        g, lo, hi = _nums(present.interval(a.gain_overall, a.gain_overall_ci_low, a.gain_overall_ci_high, base,
                                           signed=True), language)
        items.append(_t("<li>{name} ({link}; owner {owner}): <b>{g}</b> <span class=ci>({lo} to {hi})</span></li>",
                        language, name=_e(a.name), link=_e(a.link), owner=_e(a.owner), g=g, lo=lo, hi=hi))
    return _td(f"<ol>{''.join(items)}</ol><span class=ci>{_e(_t(unit, language))}</span>",
               c.top_actions[0].gain_overall)


def _day(day, language: str) -> str:
    return day.isoformat() if language == "en" else present.format_date(day, language)


def _dates(c: ClientRow, language: str = "en") -> tuple[str, str]:
    run = f"<span class=nowrap>{_day(c.report_date, language)}</span>" if c.report_date else "–"
    p = c.data_period
    period = (_t("<span class=nowrap>{first}</span> to <span class=nowrap>{last}</span>", language,
                 first=_day(p.first, language), last=_day(p.last, language)) if p.first and p.last else "–")
    return _td(run, c.report_date.isoformat() if c.report_date else None), \
        _td(period, p.last.isoformat() if p.last else None)


SORT_SCRIPT = """
<script>
document.querySelectorAll('table.sortable').forEach(table => {
  const heads = [...table.tHead.rows[0].cells];
  heads.forEach((th, col) => {
    const button = th.querySelector('button');
    if (!button) return;
    button.addEventListener('click', () => {
      const ascending = th.getAttribute('aria-sort') !== 'ascending';
      heads.forEach(h => h.removeAttribute('aria-sort'));
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      const numeric = th.dataset.type === 'number';
      const body = table.tBodies[0];
      const rows = [...body.rows];
      const key = row => row.cells[col].dataset.sort;
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === '' || y === '') return (x === '') - (y === '');  // no value: last either way
        const order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(r => body.appendChild(r));
    });
  });
});
</script>
"""

COLUMNS = [  # header, what it measures (title), sort type
    ("client", "client name (alphabetical)", "text"),
    ("result KPI, own scale (95% interval)", "the result KPI as the client measures it; sorts by its value", "number"),
    ("result KPI, common scale: % in the top box (95% interval)",
     "share of answers in the top box of the scale (promoters 9-10 for an NPS); sorts by the share", "number"),
    ("change against the previous period (95% interval)",
     "last three months against the three before, in the result KPI's own unit; sorts by the change", "number"),
    ("chain KPIs below target", "below target of those with a target; sorts by the share below target", "number"),
    (f"top {TOP_N} actions by expected gain on the result KPI (95% interval)",
     "improvement actions ranked by expected gain on the overall result KPI, in its own unit; sorts by the "
     "first action's gain", "number"),
    ("run date", "the day the report was made", "text"),
    ("data period", "first to last date of the answers and cases used; sorts by the last date", "text"),
]


def render_index(data: Portfolio | dict, language: str = "en") -> str:
    """A self-contained HTML page (one inline script for sorting, no outside requests) in ``language``."""
    if isinstance(data, dict):
        data = Portfolio.model_validate(data)
    lang = language
    rows = []
    for c in data.clients:
        flag = (" <span class=warn>" + _t("(last run failed; report is from an earlier run)", lang) + "</span>"
                if c.last_run_failed else "")
        run, period = _dates(c, lang)
        link = f'<a href="{_e(c.report)}">{_e(c.title)}</a>{flag}'
        rows.append(f"<tr>{_td(link, c.title.casefold())}"
                    f"{_own_scale(c.result_kpi, lang)}{_common_scale(c.result_kpi, lang)}"
                    f"{_change(c.recent_change, lang)}{_off_target(c, lang)}{_actions(c, lang)}{run}{period}</tr>")
    heads = "".join(f'<th data-type="{kind}" title="{_e(_t(what, lang))}"><button type=button>'
                    f'{_e(_t(name, lang))}</button></th>' for name, what, kind in COLUMNS)
    across = "".join(
        f"<tr><td>{_e(r.chain_kpi)}</td><td>{r.clients_with_it_as_top_action}</td>"
        f"<td>{'' if r.median_share is None else present.num(100 * r.median_share, 0) + '%'}</td></tr>"
        for r in data.chain_kpis_across_clients
    ) or f"<tr><td colspan=3>{_t('No driver results yet.', lang)}</td></tr>"
    unreadable = ("<p class=warn>" + _t("Not shown (their summary.json does not follow this version's schema; run "
                                        "them again): {names}.", lang, names=_e(", ".join(data.unreadable))) + "</p>"
                  if data.unreadable else "")
    return _PAGE.format(lang=lang, unreadable=unreadable, heads=heads, across=across, script=SORT_SCRIPT,
                        title=_t("Portfolio: result KPIs and improvement actions across clients", lang),
                        note=_t(NOTE, lang), rows="".join(rows) or "<tr><td colspan=8>"
                        + _t("No client reports yet.", lang) + "</td></tr>",
                        across_title=_t("Which chain KPIs are top actions across clients", lang),
                        across_note=_t(ACROSS_NOTE, lang, n=data.top_n),
                        across_head=_t(ACROSS_HEAD, lang, n=data.top_n))


NOTE = """Every estimate with its 95% interval. The result KPI is shown on each client's own scale and on
a common one, the share of answers in the top box, so that clients with different scales can be compared.
▲ / ▼: a change whose interval lies above / below zero; ●: no reliable change. Expected gains hold if the
association seen in each client's survey holds when the KPI improves; they are not proof of cause. Click a
column header to sort by it."""
ACROSS_NOTE = """Ordered by the number of clients where the chain KPI is among the top {n} actions by
expected gain, then by its median share of the explained variation of the result KPI within its chain."""
ACROSS_HEAD = """<th>chain KPI</th><th>clients where it is a top-{n} action</th>
<th>median share of explained variation within its chain</th>"""
_PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>ipm-analysis portfolio</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 90rem; color: #222; padding: 0 1rem; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 2rem; font-size: .92rem; }}
th, td {{ text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid #ddd; }}
th {{ background: #f3f6f9; }} th button {{ all: unset; cursor: pointer; font-weight: bold; }}
th[aria-sort=ascending] button::after {{ content: " ↑"; }} th[aria-sort=descending] button::after {{ content: " ↓"; }}
.ci {{ color: #666; font-size: .9em; }} .nowrap {{ white-space: nowrap; }} .warn {{ color: #b71c1c; }} .arrow {{ font-weight: bold; }}
ol {{ margin: 0; padding-left: 1.2rem; }} p.note {{ color: #555; }}
</style></head><body>
<h1>{title}</h1>
<p class=note>{note}</p>
{unreadable}
<table class=sortable id=clients><thead><tr>{heads}</tr></thead>
<tbody>{rows}</tbody></table>
<h2>{across_title}</h2>
<p class=note>{across_note}</p>
<table><thead><tr>{across_head}</tr></thead>
<tbody>{across}</tbody></table>
{script}
</body></html>
"""
