"""``actions.xlsx``: the improvement agenda and the chain KPIs for managers who work in Excel.

Written from the client's ``summary.json`` (the numbers the report states), so the workbook
and the report cannot disagree. Sheets:

- **Agenda**: the improvement actions ranked by expected gain, each with the chain KPI, its
  owning link and chain owner, today's value and the target, and the expected gain with its
  95 % interval (among the chain's respondents and on the overall result KPI); or one line
  saying that no reliable driver was found;
- **Chain KPIs**: every chain KPI against its target, with its interval, by chain owner and
  owning link;
- **KPI structure**: result KPI ← chain (owner) ← chain KPI ← link;
- **Actions taken**: what each improvement action of client.yaml did (when any is declared);
- **Predicted vs realised**: the result-KPI gain predicted at each action's start against the one
  realised;
- **Agenda money**, **Contacts at target**, **Actions money** (when client.yaml sets prices): the
  avoidable contacts saved per month and their cost, and the value of the result-KPI gain, next
  to the agenda's actions, per chain KPI below its target, and per action taken.

Shares are stored as fractions with a percentage format, so Excel computes with them as
numbers (and shows them with the decimal comma of a Dutch Excel). Sheet names, headers and
words are in the report's language (``overview.language`` of summary.json). Written with openpyxl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import messages
from .summary import ActionReviewRow, Agenda, GainRow, MoneyRow, Overview, Summary, TargetMoneyRow, parse

WORKBOOK = "actions.xlsx"
_PERCENT = "0.0%"
_NUMBER = "0.0"


def _sheet(wb, title: str, header: list[str], rows: list[list[Any]], formats: dict[int, str] | None = None,
           language: str = "en"):
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(messages.translate(title, language))
    header = [messages.translate(h, language) for h in header]
    if language != "en":
        rows = [[messages.localize_text(v, language) if isinstance(v, str) else v for v in row] for row in rows]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        ws.append(row)
    for col, fmt in (formats or {}).items():
        for r in range(2, ws.max_row + 1):
            ws.cell(row=r, column=col).number_format = fmt
    for i, name in enumerate(header, start=1):
        values = [str(name)] + [str(ws.cell(row=r, column=i).value or "") for r in range(2, ws.max_row + 1)]
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(10, max(len(v) for v in values) + 2))
    ws.freeze_panes = "A2"
    return ws


def _fmt_for(unit: str) -> str:
    return _PERCENT if unit == "share" else _NUMBER


def write_workbook(summary: Summary | dict, path: str | Path) -> Path:
    """Write the workbook for one client's ``summary`` to ``path`` (the caller writes atomically)."""
    from openpyxl import Workbook

    s = parse(summary)
    wb = Workbook()
    wb.remove(wb.active)
    overview = s.overview or Overview(client="", title="")
    lang = overview.language

    def t(text: str, **values: Any) -> str:
        return messages.translate(text, lang, **values)

    agenda = (s.drivers.agenda if s.drivers is not None else None) or Agenda()
    unit = agenda.kpi_unit
    result = agenda.result_kpi or (overview.result_kpi.name if overview.result_kpi else t("result KPI"))
    actions = agenda.actions
    header = ["rank", "chain KPI", "chain", "chain owner", "owning link", "today", "target",
              t("expected gain among the chain's respondents ({unit})", unit=t(unit)), "95% interval from",
              "95% interval to", t("expected gain on the overall {result} ({unit})", result=result, unit=t(unit)),
              "95% interval from (overall)", "95% interval to (overall)"]
    rows = []
    for a in actions:
        rows.append([a.rank, a.name, a.chain_name or a.chain, a.owner, a.link, a.current, a.target, a.gain,
                     a.gain_ci_low, a.gain_ci_high, a.gain_overall, a.gain_overall_ci_low, a.gain_overall_ci_high])
    ws = _sheet(wb, "Agenda", header, rows, {8: "+0.0;-0.0;0", 9: "+0.0;-0.0;0", 10: "+0.0;-0.0;0",
                                              11: "+0.0;-0.0;0", 12: "+0.0;-0.0;0", 13: "+0.0;-0.0;0"}, lang)
    for r, a in enumerate(actions, start=2):  # today and target in the KPI's own unit
        for c in (6, 7):
            ws.cell(row=r, column=c).number_format = _fmt_for(a.unit or "")
    if not actions:
        ws.append([None, messages.render(agenda.sentence, lang) if agenda.sentence
                   else t("No improvement agenda: no reliable driver was found.")])
    elif agenda.sentence:
        ws.append([])
        ws.append([None, messages.render(agenda.sentence, lang)])

    def chain_name(chain_id: str) -> str:
        return overview.chain(chain_id).name

    def chain_owner(chain_id: str) -> str | None:
        return overview.chain(chain_id).owner

    kpi_rows, kpi_units = [], []
    for k in overview.chain_kpis:
        kpi_rows.append([chain_name(k.chain), chain_owner(k.chain), k.kpi_name, k.link, k.unit, k.value, k.ci_low,
                         k.ci_high, k.target, k.status, k.n])
        kpi_units.append(k.unit or "")
    ws = _sheet(wb, "Chain KPIs", ["chain", "chain owner", "chain KPI", "owning link", "unit", "value", "95% low",
                                   "95% high", "target", "status", "cases"], kpi_rows, language=lang)
    for r, u in enumerate(kpi_units, start=2):
        for c in (6, 7, 8, 9):
            ws.cell(row=r, column=c).number_format = _fmt_for(u)

    structure = [[result, chain_name(k.chain), chain_owner(k.chain), k.kpi_name, k.link] for k in overview.chain_kpis]
    _sheet(wb, "KPI structure", ["result KPI", "chain", "chain owner", "chain KPI", "owning link"], structure,
           language=lang)

    section = s.actions
    if section is not None:
        for rows, model, title in ((section.reviews, ActionReviewRow, "Actions taken"),
                                   (section.gains, GainRow, "Predicted vs realised")):
            if rows:  # the actions measured; each predicted at its start against realised
                cols = [f.alias or name for name, f in model.model_fields.items()]
                _sheet(wb, title, cols, [list(r.model_dump(by_alias=True).values()) for r in rows], language=lang)
        cur = section.currency or ""
        money_cols = ["contacts saved per month", "contacts saved 95% low", "contacts saved 95% high",
                      "cost saved per month", "cost saved 95% low", "cost saved 95% high", "value", "value 95% low",
                      "value 95% high"]
        if actions and (section.target_money or section.value_per_point is not None):
            from .summary import agenda_money_from_summary

            rows = [[a.rank, a.name] + [m.get(c) for c in money_cols]
                    for a, m in zip(actions, agenda_money_from_summary(actions, section))]
            _sheet(wb, "Agenda money", ["rank", "chain KPI"] + [f"{t(c)} ({cur})" if c.startswith(("cost", "value"))
                                                                and cur else c for c in money_cols], rows,
                   language=lang)
        for rows, model, title in ((section.target_money, TargetMoneyRow, "Contacts at target"),
                                   (section.money, MoneyRow, "Actions money")):
            if rows:
                cols = [f.alias or name for name, f in model.model_fields.items()]
                _sheet(wb, title, cols, [list(r.model_dump(by_alias=True).values()) for r in rows], language=lang)
    path = Path(path)
    wb.save(path)
    return path
