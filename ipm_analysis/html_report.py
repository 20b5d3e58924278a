"""The client's HTML report: a manager part and an analyst appendix, joined from the executed notebooks.

Layout of ``report.html``::

    first screen (summary_page.summary_html, from summary.json)
    contents (links to every section below)
    For managers: the improvement agenda, chains against their targets, what drives the
                  result KPI, customer journeys, what to do next
    Appendix for analysts: one section per notebook (models, diagnostics, lag regressions,
                  segment tests, control charts), how to read this report, glossary

Cells are placed by their tags (cell metadata ``tags``):

- ``manager-agenda``, ``manager-chains``, ``manager-drivers``, ``manager-journeys``: the cell goes
  to that section of the manager part, in notebook order;
- ``check``: a text cell kept in the notebook only so that nbval compares its numbers; it repeats
  what another cell shows, so the report leaves it out;
- ``parameters``, ``injected-parameters``, ``remove-cell``: left out;
- any other cell goes to the appendix, under the title of its notebook.

Tables of the manager part are written by :func:`html_table`: names not ids, no index column,
no flag columns (a small base is a mark in the cell, explained under the table), p-values in
words, shares in percent, no NaN. Every client-supplied text is HTML-escaped.
"""

from __future__ import annotations

import copy
import functools
import html
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import messages, present

__all__ = ["MANAGER_SECTIONS", "GLOSSARY", "CHECK_TAG", "html_table", "export_html", "report_html", "what_next_html",
           "strip_remote_assets", "manager_tag", "paragraph", "bullets", "linkage_sentence", "quality_html",
           "segment_kpi_display", "drivers_html", "with_chain_names", "chain_kpis_html",
           "write_pdf", "find_chromium", "PDF_FILE", "REPORT_HTML", "heading", "named", "use_language",
           "current_language", "say", "untranslated_cells"]

#: The manager part's sections in reading order: (key, title, one line on what it holds).
MANAGER_SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("agenda", "The improvement agenda",
     "Where an improvement is expected to raise the result KPI most, with the link that owns it."),
    ("chains", "Chains against their targets",
     "Each chain KPI over the whole period against its target, and who owns what."),
    ("drivers", "What drives the result KPI",
     "Per chain: which chain KPIs go together with better scores, and how far each is from its target."),
    ("journeys", "Customer journeys",
     "The journeys customers really travelled, and how far they kept to the designed journey."),
    ("next", "What to do next", ""),
)

CHECK_TAG = "check"
_DROP_TAGS = {"parameters", "injected-parameters", "remove-cell", CHECK_TAG}

#: One line per term the report uses; the manager part avoids them or links here.
GLOSSARY: tuple[tuple[str, str], ...] = (
    ("95% interval", "The range that would contain the true value in 95 of 100 surveys like this one; "
                     "a wide interval means the data say little."),
    ("p-value", "How often a difference at least this large would turn up by chance if there were none; "
                "below 0.05 is read as a real difference, \"p < 0.001\" as a very clear one."),
    ("small base", "A figure from fewer cases or responses than the flag size (30 by default): "
                   "shown, marked, and to be read with care."),
    ("chain KPI", "One of the 2-3 measures of a customer chain (on time, right first time, lead time) "
                  "that connect all its links."),
    ("share of explained variance", "Of the differences in scores that a chain's KPIs explain together, "
                                    "the part each KPI accounts for."),
    ("Shapley / LMG", "The exact way the explained variance is split between chain KPIs: each KPI's "
                      "average contribution over every order in which the KPIs could be added."),
    ("bootstrap", "Re-computing an estimate on many resamples of the data to get its interval."),
    ("OLS", "Ordinary least squares: the straight-line regression behind the effects."),
    ("HC3", "Standard errors that stay valid when the spread of scores differs between customers."),
    ("VIF", "Variance inflation factor: how much two or more chain KPIs move together; above about 5 "
            "their separate effects are hard to tell apart."),
    ("ordinal model", "A check model that treats the score as ordered categories rather than a number."),
    ("logit", "A model of a yes/no outcome (for example, a promoter or not)."),
    ("Holm", "A correction of p-values when many tests are made at once, so that chance findings "
             "are not sold as real."),
    ("Newey-West", "Standard errors for monthly series that allow one month to resemble the next."),
    ("lag", "How many months earlier the chain KPI is taken: lag 2 compares this month's score "
            "with the KPI of two months before."),
    ("knot / threshold", "The value of a time or count KPI beyond which the score turns worse."),
    ("interaction test", "Whether a chain KPI's association with the score differs between segment groups."),
    ("control chart", "A KPI per month against limits within which it varies by chance; a month "
                      "outside them is a signal."),
    ("association", "Going together in the data; not proof that one causes the other."),
)

SMALL_MARK = "†"
_SMALL_FLAGS = ("small base", "small_base")
_SMALL_TEXT = re.compile(r"\s*\(small base\)\s*$")
_MISSING = {"", "nan", "n/a", "nat", "<na>"}  # "none" may be a category (no deviation)


def use_language(language: str) -> None:
    """Write the tables, headings and texts of this module (and the sentences summary.json stores)
    in ``language`` from now on (a notebook calls it once, with ``client.config.reporting.language``)."""
    messages.use_language(language)


def current_language() -> str:
    """The language this module writes in (:func:`use_language`; English unless set)."""
    return messages.current_language()


def say(text: Any, language: str | None = None, **values: Any) -> str:
    """A text for the reader in the report's language: a catalogue message rendered, a fixed text
    of the report translated through the text catalogue (fields filled after), anything else as it is."""
    language = language or messages.current_language()
    if isinstance(text, messages.Message):
        return messages.render(text, language)
    return messages.translate(str(text), language, **values)


def manager_tag(key: str) -> str:
    """The cell tag that places a cell in the manager section ``key``."""
    return f"manager-{key}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return isinstance(v, str) and v.strip().lower() in _MISSING


def _cell_text(v: Any, column: str, percent: bool, language: str = "en") -> str:
    if _is_missing(v):
        return "–"
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return say("yes" if v else "no", language)
    if isinstance(v, int | float) or type(v).__module__ == "numpy":
        x = float(v)
        if percent:
            return present.localize(present.pct(x), language)
        if column.strip().lower().startswith("p ") or column.strip().lower() in ("p", "p-value", "p value"):
            return present.localize(present.p_value(x).replace("< ", "p < ") if x < 0.001 else present.p_value(x),
                                    language)
        if float(x).is_integer() and abs(x) >= 1:
            return present.localize(f"{int(x):,}", language)
        return present.localize(present.num(x), language)
    if language != "en":
        return messages.localize_text(say(v, language), language)
    return str(v)


def html_table(frame: Any, *, percent: Sequence[str] = (), caption: str = "", small_note: str = "",
               rename: dict[str, str] | None = None, drop: Iterable[str] = (), language: str | None = None) -> str:
    """A table for the manager's eye, as HTML.

    ``frame`` is a display frame (names, not ids, as :mod:`ipm_analysis.report` writes them).
    No index column; a flag column ``small base`` (bool or "yes") and a status ending in
    "(small base)" become a mark :data:`SMALL_MARK` after the row's first cell, explained under
    the table; ``percent`` columns (shares 0-1) are written in percent; numbers by the one
    rounding rule; missing values as "–"; a p-value below 0.001 as "p < 0.001". Headers, caption
    and words in the report's language (:func:`use_language`, or ``language``), numbers in its symbols.
    """
    language = language or messages.current_language()
    rename = dict(rename or {})
    drop = set(drop)
    columns = [c for c in frame.columns if c not in drop and str(c) not in _SMALL_FLAGS]
    flags = [c for c in frame.columns if str(c) in _SMALL_FLAGS]
    percent = set(percent)
    body = []
    any_small = False
    for _, row in frame.iterrows():
        small = any(str(row[c]).strip().lower() in ("true", "yes") for c in flags)
        cells = []
        for c in columns:
            raw = row[c]
            small_text = isinstance(raw, str) and _SMALL_TEXT.search(raw)
            if small_text:
                raw = _SMALL_TEXT.sub("", raw)
            text = _cell_text(raw, str(c), c in percent, language)
            if small_text or _SMALL_TEXT.search(text):
                small, text = True, _SMALL_TEXT.sub("", text)
            cells.append(text)
        mark = ""
        if small:
            any_small = True
            mark = f"<sup class=ipm-mark>{SMALL_MARK}</sup>"
        tds = "".join(f"<td>{_e(t)}{mark if i == 0 else ''}</td>" for i, t in enumerate(cells))
        body.append(f"<tr>{tds}</tr>")
    head = "".join(f"<th>{_e(say(rename.get(c, c), language))}</th>" for c in columns)
    caption = say(caption, language) if caption else ""
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    note = ""
    if any_small:
        note = (f"<p class=ipm-note>{SMALL_MARK} "
                + _e(say("small base: {why}; read with care.", language,
                         why=say(small_note or "few cases or responses behind this row", language))) + "</p>")
    if not body:
        return (f"<p class=ipm-note>{_e(caption + ': ' if caption else '')}"
                + _e(say("not enough data to show.", language)) + "</p>")
    return (f"<table class=ipm-table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"{note}")


# -- small pieces for notebook cells -----------------------------------------------------------


def paragraph(text: str | None) -> str:
    """A sentence or a few lines of the report as HTML paragraphs (escaped)."""
    if not text:
        return ""
    language = messages.current_language()
    if language != "en":
        text = say(text, language) if isinstance(text, messages.Message) else \
            "\n".join(say(line, language) for line in str(text).split("\n"))
    return "".join(f"<p>{_e(line)}</p>" for line in str(text).split("\n") if line.strip())


def heading(text: str, level: int = 3) -> str:
    """A heading inside a section (escaped)."""
    return f"<h{level}>{_e(say(text))}</h{level}>"


def named(client: Any, frame: Any) -> Any:
    """A display table with chain and chain-KPI names in place of their ids (columns ``chain``
    and ``kpi``), as a reader reads them."""
    chains = {c.id: c.name for c in client.config.chains}
    kpis = {k.id: k.name for c in client.config.chains for k in c.kpis}
    out = frame.copy()
    if "chain" in out:
        out["chain"] = [chains.get(v, v) for v in out["chain"]]
    if "kpi" in out:
        out["kpi"] = [kpis.get(v, v) for v in out["kpi"]]
        out = out.rename(columns={"kpi": "chain KPI"})
    return out


def bullets(lines: Iterable[str]) -> str:
    """Lines as an HTML list (escaped)."""
    items = "".join(f"<li>{_e(say(line))}</li>" for line in lines if str(line).strip())
    return f"<ul>{items}</ul>" if items else ""


def linkage_sentence(link: dict) -> str:
    """How many survey answers found their case, in words."""
    language = messages.current_language()
    if link.get("rate") is None:
        return say("No survey: no linkage of answers to cases.", language)
    return say("{linked} of {responses} survey responses ({rate}) are linked to the case they are about (by {by}).",
               language, linked=present.format_number(link["linked"], 0, language),
               responses=present.format_number(link["responses"], 0, language),
               rate=present.localize(present.pct(link["rate"]), language), by=link["by"])


def quality_html(findings: Any, missing: Any) -> str:
    """Data quality: the findings of loading (or that there were none), then the chain KPIs
    with cases without a value (or that every case has them)."""
    out = (html_table(findings, caption="Findings from loading the data") if len(findings)
           else f"<p>{_e(say('Loading the data raised no finding.'))}</p>")
    gaps = missing[missing["without value"] > 0] if len(missing) else missing
    if len(gaps):
        out += html_table(gaps, caption="Chain KPIs with cases without a value (not applicable or not yet measured)")
    elif len(missing):
        out += f"<p>{_e(say('Every case has a value for every chain KPI.'))}</p>"
    return out


def with_chain_names(client: Any, table: Any) -> Any:
    """A chain-KPI table with the chains' names beside their ids (``chain_name``), as a reader
    reads them."""
    names = {c.id: c.name for c in client.config.chains}
    return table.assign(chain_name=table["chain"].map(names).fillna(table["chain"]))


def chain_kpis_html(client: Any, table: Any) -> str:
    """The chain KPIs against their targets (:func:`ipm_analysis.report.chain_kpis`) as an HTML table."""
    from .report import chain_kpi_display

    return html_table(chain_kpi_display(with_chain_names(client, table)))


def segment_kpi_display(client: Any, table: Any) -> Any:
    """Chain KPIs per segment group (:func:`ipm_analysis.report.segment_chain_kpis`) as a reader
    sees them: names, values and intervals in their units, the small-base mark in the status."""
    from .report import chain_kpi_display

    shown = chain_kpi_display(with_chain_names(client, table))
    shown.insert(0, "group", [str(g) for g in table["group"]])
    shown.insert(0, "segment", [str(s) for s in table["segment"]])
    return shown


_QUADRANT_WORDS = {
    "fix first": "important and below target: fix first",
    "keep up": "important and on target: keep up",
    "possible overkill": "less important and on target: possible overkill",
    "low priority": "less important and below target: low priority",
    "no target": "no target set",
    "no reliable association": "no reliable association with the score",
}


def drivers_html(chain_name: str, matrix: Any, language: str | None = None) -> str:
    """What drives the result KPI within one chain, in words: per chain KPI, its share of what the
    chain's KPIs explain (with interval), its distance to target and what follows."""
    language = language or messages.current_language()
    rows = matrix.sort_values("share", ascending=False)
    items = []
    for r in rows.to_dict("records"):
        if r.get("share") is None or (isinstance(r.get("share"), float) and math.isnan(r["share"])):
            items.append(f"<li><b>{_e(r['name'])}</b> ({_e(r['link'])}): {_e(say('not enough data.', language))}</li>")
            continue
        v, lo, hi = (present.localize(x, language) for x in
                     present.interval(100 * r["share"], 100 * r["share_ci_low"], 100 * r["share_ci_high"], 0))
        gap = r.get("gap_relative")
        if gap is None or (isinstance(gap, float) and math.isnan(gap)):
            where = say("no target", language)
        else:
            where = say("{gap} % better than its target" if gap >= 0 else "{gap} % worse than its target", language,
                        gap=present.localize(present.num(abs(100 * gap), 0), language))
            if present.num(abs(100 * gap), 0) == "0":
                where = say("at its target", language)
        reading = say(_QUADRANT_WORDS.get(r.get("quadrant"), str(r.get("quadrant") or "")), language)
        items.append(say("<li><b>{name}</b> ({link}): {v} % of the differences in scores this chain explains "
                         "(95% interval {lo} to {hi} %); {where}; {reading}.</li>", language,
                         name=_e(r["name"]), link=_e(r["link"]), v=v, lo=lo, hi=hi, where=_e(where),
                         reading=_e(reading)))
    return f"<h3>{_e(chain_name)}</h3><ul>{''.join(items)}</ul>"


# -- what to do next ---------------------------------------------------------------------------


def what_next_html(summary: Any, language: str | None = None) -> str:
    """The closing list of the manager part, from summary.json (a :class:`~ipm_analysis.summary.Summary`
    or the dict it holds): per owner the agenda's actions, the chain KPIs off target without an
    action, and the monitoring signals to look into; in ``language`` (default: the report's,
    ``overview.language``)."""
    from .summary import Agenda, Overview, parse

    if not summary:
        return f"<p>{_e(say('Nothing to list: the report was built without its summary.', language))}</p>"
    s = parse(summary)
    overview = s.overview or Overview(client="", title="")
    language = language or overview.language
    drivers = s.drivers
    agenda = (drivers.agenda if drivers is not None else None) or Agenda()
    actions = agenda.actions
    unit = agenda.kpi_unit
    d = present.unit_base(unit)
    items = []
    for a in actions:
        g, lo, hi = (present.localize(x, language) for x in
                     present.interval(a.gain_overall, a.gain_overall_ci_low, a.gain_overall_ci_high, d, signed=True))
        items.append(say("<li><b>{link}</b> (chain owner {owner}): lift <i>{name}</i> from {now} to {target}; "
                         "expected {g} {unit} (95% interval {lo} to {hi}), if the association holds.</li>", language,
                         link=_e(a.link), owner=_e(a.owner), name=_e(a.name),
                         now=_e(messages.localize_text(say(a.current_label, language), language)),
                         target=_e(messages.localize_text(say(a.target_label, language), language)), g=g,
                         unit=_e(say(unit, language)), lo=lo, hi=hi))
    acted = {a.name for a in actions}
    for k in overview.chain_kpis:
        if k.off_target and k.kpi_name not in acted:
            owner = overview.chain(k.chain).owner or ""
            owner_text = say(" (chain owner {owner})", language, owner=_e(owner)) if owner else ""
            items.append(say("<li><b>{link}</b>{owner}: <i>{name}</i> is below its target but no reliable "
                             "association with the result KPI was found: bring it to target for its own sake, "
                             "and watch whether scores follow.</li>", language,
                             link=_e(k.link or ""), owner=owner_text, name=_e(k.kpi_name)))
    signals = s.actions.signals if s.actions is not None else []
    if signals:
        names = sorted({sig.chain_kpi for sig in signals} - {""})
        items.append(say("<li>Look into the recent control-chart signals ({names}): a month outside its limits "
                         "is more than chance; see the appendix.</li>", language,
                         names=_e(", ".join(names) or len(signals))))
    if drivers is not None and not actions:
        items.append(say("<li>{note} Measure more (more responses, or chain KPIs closer to what customers notice) "
                         "before ranking improvements.</li>", language,
                         note=_e(say(drivers.note or say("No reliable driver was found.", language), language))))
    items.append(say("<li>Re-run this report after the next months of data to see whether the actions taken "
                     "moved their chain KPI and the result KPI (section <i>Did it work?</i> in the appendix).</li>",
                     language))
    return f"<ul class=ipm-next>{''.join(items)}</ul>"


# -- the exporter ------------------------------------------------------------------------------

STYLE = """
<style>
body { font-family: system-ui, sans-serif; }
.ipm-toc, .ipm-part, .ipm-glossary { font-family: system-ui, sans-serif; max-width: 60rem; }
.ipm-toc { border: 1px solid #cfd8dc; border-radius: 6px; padding: .6rem 1.4rem; margin: 0 0 2rem 0; }
.ipm-toc ol { margin: .2rem 0 .4rem 0; }
.ipm-toc li { margin: .15rem 0; }
.ipm-part h1 { font-size: 1.6rem; border-bottom: 2px solid #455a64; padding-bottom: .2rem; }
.ipm-section-lead { color: #444; }
table.ipm-table { border-collapse: collapse; font-size: .95rem; margin: .4rem 0; }
table.ipm-table caption { text-align: left; font-weight: 600; padding: .2rem 0; }
table.ipm-table th, table.ipm-table td { text-align: left !important; padding: .3rem .6rem;
  border-bottom: 1px solid #e0e0e0; vertical-align: top; }
table.ipm-table th { border-bottom: 2px solid #90a4ae; }
.ipm-note { color: #555; font-size: .9rem; }
.ipm-glossary dt { font-weight: 600; margin-top: .4rem; }
.ipm-glossary dd { margin-left: 1.2rem; }
.jp-RenderedImage img, .jp-OutputArea-output img { max-width: 100%; height: auto; }
@media print {
  @page { size: A4; margin: 12mm 11mm; }
  html, body { font-size: 9.5pt; }
  .jp-Notebook { padding: 0 !important; }
  .jp-Cell { padding: 0 !important; }
  .ipm-summary, .ipm-toc, .ipm-part, .ipm-methods, .ipm-glossary { max-width: none; }
  .ipm-page-break { break-before: page; page-break-before: always; }
  .jp-OutputArea-child { break-inside: auto !important; }
  img, table.ipm-table tr { break-inside: avoid; page-break-inside: avoid; }
  img { max-width: 100% !important; max-height: 100mm; width: auto !important; height: auto !important; }
  h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
  .ipm-toc a, .ipm-part a { color: inherit; text-decoration: none; }
  a.anchor-link { display: none; }
}
</style>
"""


def _html_cell(html_text: str, cell_id: str):
    import nbformat

    cell = nbformat.v4.new_code_cell("", id=cell_id)  # a fixed id: the same inputs, the same HTML
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html_text})]
    return cell


@functools.lru_cache(maxsize=1)
def _html_exporter():
    """One exporter per process: building one compiles its templates (0.1 s), once per report
    otherwise; converting a notebook leaves it as it was."""
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                        exclude_output_prompt=True)


_H1 = re.compile(r"^#\s+(.+?)\s*$", re.M)
_HEADING = re.compile(r"^(#{2,5})\s", re.M)


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def untranslated_cells(nb, language: str) -> list[str]:
    """The text cells of a notebook the report would show that have no entry in ``language``'s
    text catalogue (none in English)."""
    if language == "en":
        return []
    known = messages.texts(language)
    return [c.source for c in nb.cells if c.cell_type == "markdown" and not (_tags(c) & _DROP_TAGS)
            and c.source.strip() and c.source not in known]


def _split_notebook(nb, language: str = "en") -> tuple[str, list, dict[str, list]]:
    """The notebook's title, its appendix cells and its manager cells by section; text cells in
    ``language`` (through the text catalogue, the cell's English text as key)."""
    title = ""
    appendix: list = []
    manager: dict[str, list] = {}
    keys = {manager_tag(k): k for k, _, _ in MANAGER_SECTIONS}
    for cell in nb.cells:
        tags = _tags(cell)
        if tags & _DROP_TAGS:
            continue
        placed = [keys[t] for t in tags if t in keys]
        if cell.cell_type == "markdown" and language != "en":
            cell = copy.deepcopy(cell)
            cell.source = messages.translate(cell.source, language)
        elif cell.cell_type == "code" and language != "en" and any(o.get("output_type") == "stream"
                                                                    for o in cell.get("outputs", [])):
            cell = copy.deepcopy(cell)
            for o in cell.outputs:  # printed English lines the text catalogue knows (the notebooks' own texts)
                if o.get("output_type") == "stream":
                    o.text = "\n".join(messages.localize_text(line, language) for line in o.text.split("\n"))
        if placed:
            if cell.cell_type == "markdown":  # under the section's own heading: one level down
                cell = copy.deepcopy(cell)
                cell.source = _HEADING.sub(lambda h: "#" + h.group(1) + " ", cell.source)
            manager.setdefault(placed[0], []).append(cell)
            continue
        if cell.cell_type == "markdown":
            cell = copy.deepcopy(cell)
            m = _H1.search(cell.source)
            if m and not title:
                title = m.group(1)
                cell.source = _H1.sub("", cell.source, count=1).strip()
            cell.source = _HEADING.sub(lambda h: "#" + h.group(1) + " ", cell.source)  # one level down
            if not cell.source:
                continue
        appendix.append(cell)
    return title, appendix, manager


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _toc(manager: list[tuple[str, str]], appendix: list[tuple[str, str]], language: str = "en") -> str:
    def items(entries):
        return "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t in entries)

    return (f"<nav class=ipm-toc id=contents><h2>{_e(say('Contents', language))}</h2>"
            f'<p><a href="#for-managers"><b>{_e(say("For managers", language))}</b></a></p><ol>{items(manager)}</ol>'
            f'<p><a href="#appendix"><b>{_e(say("Appendix for analysts", language))}</b></a></p>'
            f'<ol>{items(appendix)}</ol></nav>')


def _glossary_html(language: str = "en") -> str:
    rows = "".join(f"<dt>{_e(say(t, language))}</dt><dd>{_e(say(d, language))}</dd>" for t, d in GLOSSARY)
    return f"<div class=ipm-glossary><dl>{rows}</dl></div>"


def export_html(notebook_paths: list[Path], html_path: Path, title: str, summary: dict | None = None) -> None:
    """Join executed notebooks into one code-free HTML report that opens offline.

    With ``summary`` (the client's summary.json), the report opens with the manager summary
    (:mod:`ipm_analysis.summary_page`); the manager part and the appendix follow as described in
    this module's docstring.
    """
    import tempfile

    text = report_html(notebook_paths, title, summary)
    html_path = Path(html_path)
    fd, tmp = tempfile.mkstemp(dir=html_path.parent, prefix=f".{html_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
        os.replace(tmp, html_path)  # a reader never sees half a report
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report_html(notebook_paths: list[Path], title: str, summary: dict | None = None) -> str:
    """The report as one HTML string (see :func:`export_html`)."""
    import nbformat

    from .summary import parse
    from .summary_page import methods_html, summary_html

    notebooks = [nbformat.read(str(p), as_version=4) for p in notebook_paths]
    merged = nbformat.v4.new_notebook()
    merged.metadata = notebooks[0].metadata
    merged.metadata["title"] = title
    overview = parse(summary).overview if summary else None
    lang = overview.language if overview is not None else "en"
    if lang != "en":
        merged.metadata["language"] = lang
    parts = [_split_notebook(nb, lang) for nb in notebooks]

    cells = [_html_cell(STYLE + (summary_html(summary) if summary else ""), "ipm-summary")]
    toc_manager = [(f"m-{k}", say(t, lang)) for k, t, _ in MANAGER_SECTIONS]
    toc_appendix = []
    for i, (nb_title, appendix, _) in enumerate(parts):
        if appendix:
            toc_appendix.append((f"a-{i + 1:02d}-{_slug(nb_title)}",
                                 nb_title or say("Section {n}", lang, n=i + 1)))
    toc_appendix += [("a-methods", say("How to read this report", lang)), ("a-glossary", say("Glossary", lang))]
    cells.append(_html_cell(_toc(toc_manager, toc_appendix, lang), "ipm-toc"))

    cells.append(_html_cell('<div class="ipm-part ipm-page-break"><h1 id="for-managers">'
                            f'{_e(say("For managers", lang))}</h1></div>', "ipm-managers"))
    for key, heading, lead in MANAGER_SECTIONS:
        heading = say(heading, lang)
        lead_html = f"<p class=ipm-section-lead>{_e(say(lead, lang))}</p>" if lead else ""
        cells.append(_html_cell(f'<div class=ipm-part><h2 id="m-{key}">{_e(heading)}</h2>{lead_html}</div>',
                                f"ipm-m-{key}"))
        if key == "next":
            cells.append(_html_cell(f"<div class=ipm-part>{what_next_html(summary)}</div>", "ipm-next"))
            continue
        section = [c for _, _, manager in parts for c in manager.get(key, [])]
        if not section:
            cells.append(_html_cell(f"<p class=ipm-note>{_e(say('Nothing to show for this client.', lang))}</p>",
                                    f"ipm-m-{key}-none"))
        cells.extend(section)

    cells.append(_html_cell('<div class="ipm-part ipm-page-break"><h1 id="appendix">'
                            f'{_e(say("Appendix for analysts", lang))}</h1>'
                            "<p class=ipm-section-lead>"
                            + say("The analyses behind the manager part: data, models, their checks, monthly and "
                                  "segment tests, journeys in detail and control charts. Statistical terms are "
                                  'explained in the <a href="#a-glossary">glossary</a>.', lang) + "</p></div>",
                            "ipm-appendix"))
    anchors = iter(toc_appendix)
    for i, (nb_title, appendix, _) in enumerate(parts):
        if not appendix:
            continue
        anchor, heading = next(anchors)
        cells.append(_html_cell(f'<div class="ipm-part{" ipm-page-break" if i else ""}">'
                                f'<h2 id="{anchor}">{_e(heading)}</h2></div>', f"ipm-{anchor}"[:64]))
        cells.extend(appendix)
    methods_title = say("How to read this report", lang)
    cells.append(_html_cell(f'<div class="ipm-part ipm-page-break"><h2 id="a-methods">{_e(methods_title)}</h2>'
                            "</div>", "ipm-a-methods"))
    cells.append(_html_cell(methods_html(lang).replace(f"<h2>{methods_title}</h2>", ""), "ipm-methods"))
    cells.append(_html_cell(f'<div class=ipm-part><h2 id="a-glossary">{_e(say("Glossary", lang))}</h2></div>'
                            + _glossary_html(lang), "ipm-glossary"))
    seen: set[str] = set()
    for n, cell in enumerate(cells):  # cell ids unique across the joined notebooks, and stable
        cid = cell.get("id") or f"cell-{n}"
        if cid in seen:
            cell = cells[n] = copy.copy(cell)
            cell["id"] = f"{cid}-{n}"[-64:]
        seen.add(cell["id"])
    merged.cells = cells
    body, _ = _html_exporter().from_notebook_node(merged)
    return strip_remote_assets(body)


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link[^>]*\bhref=[\"']https?://[^>]*>", re.I)


def strip_remote_assets(html_text: str) -> str:
    """Drop every script and every stylesheet loaded from an outside host.

    nbconvert's template loads RequireJS, MathJax and Mermaid from public CDNs. The report needs
    none of them (its outputs are static images, tables and text), and a client's report must
    open offline without calling out.
    """
    html_text = _SCRIPT.sub("", html_text)
    return _REMOTE_LINK.sub("", html_text)


# -- PDF ---------------------------------------------------------------------------------------

REPORT_HTML = "report.html"  # the client's report, beside its notebooks
PDF_FILE = "report.pdf"
CHROMIUM_ENV = "IPM_CHROMIUM"
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary that prints the PDF: ``$IPM_CHROMIUM``, else the first on PATH."""
    import shutil

    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pdf(html_path: Path, pdf_path: Path | None = None, timeout: float = 180) -> Path:
    """Print ``report.html`` to ``report.pdf`` (A4, the report's print style) with headless Chromium.

    Offline: Chromium runs with a dead proxy and a resolver that resolves nothing, on a profile of
    its own that is removed afterwards. Raises :class:`~ipm_analysis.errors.IpmError` with a
    readable message when no Chromium is installed or printing fails; the HTML is left as it is.
    """
    import shutil
    import subprocess
    import tempfile

    from .errors import IpmError

    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path or html_path.with_name(PDF_FILE)).resolve()
    binary = find_chromium()
    if binary is None:
        raise IpmError(f"{pdf_path.name} not written: no Chromium found to print it (on Debian or Ubuntu: "
                       f"apt-get install chromium; or set {CHROMIUM_ENV} to a Chromium or Chrome binary). "
                       f"{html_path.name} is written.")
    profile = Path(tempfile.mkdtemp(prefix="ipm-pdf-"))
    tmp = pdf_path.with_name(f".{pdf_path.name}.tmp-{os.getpid()}")
    args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--no-default-browser-check", "--proxy-server=http://127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw", f"--print-to-pdf={tmp}", html_path.as_uri()]
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise IpmError(f"{pdf_path.name} not written: Chromium ({binary}) printed nothing (exit code "
                           f"{done.returncode}{': ' + ' / '.join(tail) if tail else ''}). {html_path.name} is written.")
        os.replace(tmp, pdf_path)
    except subprocess.TimeoutExpired:
        raise IpmError(f"{pdf_path.name} not written: Chromium took longer than {timeout:.0f} s to print "
                       f"{html_path.name}. {html_path.name} is written.") from None
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)
    return pdf_path
