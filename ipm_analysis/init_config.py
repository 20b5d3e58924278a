"""``ipm init DIR``: a commented first draft of ``client.yaml`` from the files in a folder.

The files (CSV, Parquet, Excel) are read the way the loader reads them (:mod:`ipm_analysis.data`),
each column is profiled (type, distinct values, examples) and given a guessed role: an id, a
timestamp, the survey score (on which scale), labels, a segment, or a candidate chain KPI (an
on-time flag from a promised/actual date pair, a lead time between the first and last date, a
count, a duration in minutes or seconds). The draft is written beside the files and never over
an existing ``client.yaml``. Guesses are marked ``# check``; what only the client can say is
marked ``# fill in``. The draft validates, or fails only on places marked ``# fill in``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .config import CONFIG_NAME, ID_PATTERN, TableSpec
from .errors import IpmError

DATA_SUFFIXES = (".csv", ".parquet", ".xlsx")
FILL_IN = "fill in"
MAX_SEGMENTS = 4

_ID_NAME = re.compile(r"(^|[_:\s.-])(id|nr|no|number|key|code|name)$|^id[_\s]|_id\b|case|ticket|order|dossier", re.I)
_SCORE_NAME = re.compile(r"nps|recommend|score|rating|satisf|csat|review|rate\b|churn|attrition|cancel", re.I)
_BAD_OUTCOME = re.compile(r"churn|attrition|cancel|left|quit", re.I)
_ACTIVITY_NAME = re.compile(r"^(concept:name|activity|event|action|step|task|status)$|activity|event", re.I)
_CASE_NAME = re.compile(r"case|ticket|dossier|order|request|application", re.I)
_CUSTOMER_NAME = re.compile(r"customer|client|klant|tenant|account|member_id|cust", re.I)
_ANSWER_NAME = re.compile(r"respon|answer|submit|survey|review_answer|feedback", re.I)
_PROMISED = re.compile(r"promis|planned|expected|estimat|deadline|due|target|appointment", re.I)
_ACTUAL = re.compile(r"deliver|install|actual|done|complet|closed|visit|resolv|shipped|finish", re.I)
_OPEN = re.compile(r"open|creat|start|order|purchas|report|receiv|regist", re.I)
_CLOSE = re.compile(r"clos|end|complet|finish|deliver|resolv|done", re.I)
_COUNT = re.compile(r"visit|attempt|call|contact|count|number|times|^n_|_n$|repeat|transfer|reopen", re.I)
_SHARE = re.compile(r"on_?time|resolved|first|rft|complete|success|late|fcr|solved|within", re.I)
_MINUTES = re.compile(r"minute|mins?\b|_min$|delay", re.I)
_SECONDS = re.compile(r"second|secs?\b|_s$|speed_of_answer|asa\b|handl|talk|wait", re.I)
_YES = {"yes", "y", "true", "1", "ja", "j", "t"}
_NO = {"no", "n", "false", "0", "nee", "f"}


@dataclass
class Column:
    name: str
    kind: str  # id, text, integer, number, boolean, timestamp, duration
    n: int
    n_filled: int
    n_distinct: int
    examples: list[str]
    values: list[str] = field(default_factory=list)  # the distinct values when few
    raw: list[str] = field(default_factory=list)  # the same, as text in the file (as answers are compared)
    low: float | None = None
    high: float | None = None
    median_time: pd.Timestamp | None = None
    role: str = ""


@dataclass
class Table:
    file: str
    label: str
    n: int
    columns: dict[str, Column]
    frame: pd.DataFrame
    kind: str = "cases"  # responses, cases or events
    mapping: dict[str, str] = field(default_factory=dict)  # contract name -> the file's column


def _q(value: str) -> str:
    """A YAML scalar that stays a string (JSON strings are valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


def _ident(text: str, fallback: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_-")[:64]
    return out if out and ID_PATTERN.match(out) else fallback


def _read(folder: Path, file: str) -> tuple[pd.DataFrame | None, str, list[str]]:
    """The file as the loader reads it (the data layer's reader and type inference)."""
    from . import data

    spec = TableSpec(file=file)
    label = data.xlsx_label(folder, spec)
    col = data.ProblemCollector()
    con = data.connect_duckdb()
    try:
        if not data.read_table_into(con, folder, "t", spec, col, label):
            return None, label, [str(p) for p in col.problems]
        # the values as the loader compares answer labels (text, before types are inferred)
        raw = {}
        for name in data.table_columns(con, "raw_t"):
            if name == data.ROW:
                continue
            q = data.quote_name(name)
            vals = con.execute(f"SELECT DISTINCT trim(CAST({q} AS VARCHAR)) FROM raw_t WHERE {q} IS NOT NULL "
                               f"AND trim(CAST({q} AS VARCHAR)) <> '' LIMIT 13").fetchall()
            if len(vals) <= 12:
                raw[name] = sorted(v[0] for v in vals)
        data.infer_column_types(con, "t", set())
        con.execute("SELECT 1").fetchall()  # finish the type checks' last result before reading
        frame = data.query_frame(con, f"SELECT * EXCLUDE ({data.ROW}) FROM raw_t ORDER BY {data.ROW}")
    finally:
        con.close()
    frame.attrs["raw_values"] = raw
    return frame, label, []


def _profile(frame: pd.DataFrame) -> dict[str, Column]:
    out = {}
    n = len(frame)
    for name in frame.columns:
        s = frame[name]
        filled = s.dropna()
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            filled = filled[filled.astype(str).str.strip() != ""]
        kind = "text"
        if pd.api.types.is_bool_dtype(s.dtype):
            kind = "boolean"
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            kind = "timestamp"
        elif pd.api.types.is_timedelta64_dtype(s.dtype):
            kind = "duration"
        elif pd.api.types.is_integer_dtype(s.dtype):
            kind = "integer"
        elif pd.api.types.is_float_dtype(s.dtype):
            kind = "integer" if len(filled) and (filled == filled.round()).all() else "number"
        distinct = filled.astype(str).unique()
        c = Column(str(name), kind, n, len(filled), len(distinct), [str(v) for v in distinct[:3]])
        if len(distinct) <= 12:
            c.values = sorted(str(v) for v in distinct)
        if kind in ("integer", "number") and len(filled):
            c.low, c.high = float(filled.min()), float(filled.max())
        if kind == "timestamp" and len(filled):
            c.median_time = filled.sort_values().iloc[len(filled) // 2]
        out[str(name)] = c
    return out


def _is_unique_id(c: Column) -> bool:
    return c.kind in ("text", "integer") and c.n_filled == c.n and c.n_distinct == c.n and bool(_ID_NAME.search(c.name))


def _yes_no(c: Column) -> tuple[str, str] | None:
    """(the yes value, the no value) of a two-valued yes/no column, as written in the file."""
    values = c.raw or c.values
    if c.n_distinct != 2 or len(values) != 2:
        return ("true", "false") if c.kind == "boolean" else None
    low = {v.lower(): v for v in values}
    yes = next((low[v] for v in low if v in _YES), None)
    no = next((low[v] for v in low if v in _NO), None)
    return (yes, no) if yes and no else None


def _score(t: Table) -> tuple[Column, dict] | None:
    """The column that looks like the survey's answer, with the result KPI it suggests."""
    best = None
    for c in sorted(t.columns.values(), key=lambda c: c.name != "score"):  # the contract name first
        if not _SCORE_NAME.search(c.name) or c.n_filled == 0:
            continue
        if c.kind == "integer" and c.low is not None and c.low >= 0 and c.high <= 10 and c.n_distinct >= 2:
            lo, hi = int(c.low), int(c.high)
            if (lo == 0 and hi == 10) or (lo <= 1 and hi >= 9 and re.search(r"nps|recommend", c.name, re.I)):
                kpi = {"scale": "nps"}
            else:
                lo = 0 if lo == 0 else 1
                hi = max(hi, 5 if hi <= 5 else 10 if hi > 7 else 7)
                kpi = {"scale": "rating", "min": lo, "max": hi, "top_box": [hi], "bottom_box": list(range(lo, lo + 2))}
                if hi == 10 and lo == 0:
                    kpi.update(top_box=[9, 10], bottom_box=list(range(0, 7)))
            rank = 2
        elif c.kind in ("text", "boolean") and 2 <= c.n_distinct <= 7:
            yn = _yes_no(c)
            if yn and _BAD_OUTCOME.search(c.name):  # churned yes is the worse outcome
                labels = [yn[0], yn[1]]
            elif yn:
                labels = [yn[1], yn[0]]
            else:
                labels = sorted(c.raw or c.values, key=_tone)
            kpi = {"scale": "labels", "labels": labels, "top_box": [labels[-1]], "bottom_box": [labels[0]]}
            rank = 1
        else:
            continue
        if best is None or rank > best[2]:
            best = (c, kpi, rank)
    return (best[0], best[1]) if best else None


_NEGATIVE = re.compile(r"\b(dis|un|not|poor|bad|never|detract|unhappy|angry)|dissatisf|unsatisf|^no\b", re.I)
_NEUTRAL = re.compile(r"neutral|average|ok\b|okay|neither|passive|fair", re.I)
_STRONG = re.compile(r"very|extremely|completely|totally|highly|strongly", re.I)


def _tone(label: str) -> tuple[float, str]:
    """A rough order of answer labels, worst first: 'very dissatisfied' < 'dissatisfied' <
    'neutral' < 'satisfied' < 'very satisfied' (the draft marks the order '# check')."""
    base = -1.0 if _NEGATIVE.search(label) else 0.0 if _NEUTRAL.search(label) else 1.0
    return (base * (2 if _STRONG.search(label) else 1), label)


def _find(t: Table, pattern: re.Pattern, kinds: tuple[str, ...], exclude: set[str] = frozenset()) -> Column | None:
    for c in t.columns.values():
        if c.kind in kinds and c.name not in exclude and pattern.search(c.name):
            return c
    return None


def _classify(t: Table) -> None:
    cols = t.columns
    activity = _find(t, _ACTIVITY_NAME, ("text",))
    stamps = [c for c in cols.values() if c.kind == "timestamp"]
    # the case id: repeated over a case's events, and the most distinct of the case-like columns
    # (case:concept:name of an XES log, not case:channel)
    cands = [c for c in cols.values() if c.kind in ("text", "integer") and _CASE_NAME.search(c.name)
             and c.n_distinct < c.n and (activity is None or c.name != activity.name)]
    case = max(cands, key=lambda c: (c.name == "case:concept:name", c.n_distinct), default=None)
    if activity is not None and stamps and case is not None and case.n_distinct < 0.8 * t.n:
        t.kind = "events"
        t.mapping = {"case_id": case.name, "activity": activity.name,
                     "timestamp": next((c.name for c in stamps if re.search(r"time|^timestamp", c.name, re.I)),
                                       stamps[0].name)}
        return
    if _score(t) is not None:
        t.kind = "responses"
        return
    t.kind = "cases"


def _timestamps(t: Table, exclude: set[str]) -> list[Column]:
    return sorted((c for c in t.columns.values() if c.kind == "timestamp" and c.name not in exclude
                   and c.median_time is not None), key=lambda c: c.median_time)


def _kpi_candidates(t: Table, used: set[str]) -> list[dict]:
    """Candidate chain KPIs from a table's columns: on-time flags, lead times, counts, durations."""
    out: list[dict] = []
    stamps = _timestamps(t, used)
    promised = [c for c in stamps if _PROMISED.search(c.name)]
    actual = [c for c in stamps if _ACTUAL.search(c.name) and c not in promised]
    for p in promised[:1]:
        # the actual date nearest the promised one (an install promised, not the delivery before it)
        a = min(actual, key=lambda c: abs(c.median_time - p.median_time), default=None)
        if a is not None:
            out.append({"id": _ident(f"on_time_{a.name}", "on_time"), "name": f"{a.name} by {p.name}",
                        "expression": f"{_col(a.name)}::DATE <= {_col(p.name)}::DATE", "unit": "share",
                        "direction": "higher", "why": f"a promised date ({p.name}) and an actual one ({a.name})",
                        "columns": [a.name, p.name]})
    if len(stamps) >= 2:
        first, last = stamps[0], stamps[-1]
        if first.name != last.name and (last.median_time - first.median_time) > pd.Timedelta(0):
            unit = "days" if (last.median_time - first.median_time) >= pd.Timedelta(days=2) else "hours"
            out.append({"id": _ident(f"{first.name}_to_{last.name}", "lead_time")[:60], "name": f"{first.name} to {last.name}",
                        "expression": f"date_diff('{unit[:-1]}', {_col(first.name)}, {_col(last.name)})",
                        "unit": unit, "direction": "lower",
                        "why": f"the first and last date of a row ({first.name}, {last.name}): a lead time",
                        "columns": [first.name, last.name]})
    for c in t.columns.values():
        if c.name in used:
            continue
        yn = _yes_no(c)
        if yn and _SHARE.search(c.name):
            expr = _col(c.name) if c.kind == "boolean" else f"{_col(c.name)} = {_lit(yn[0])}"
            late = re.search(r"late", c.name, re.I)
            out.append({"id": _ident(c.name, "flag"), "name": c.name, "expression": expr, "unit": "share",
                        "direction": "lower" if late else "higher", "why": "a yes/no flag", "columns": [c.name]})
        elif c.kind in ("integer", "number") and (c.low or 0) >= 0:
            if _MINUTES.search(c.name) or _SECONDS.search(c.name):
                unit = "minutes" if _MINUTES.search(c.name) else "seconds"
                out.append({"id": _ident(c.name, "duration"), "name": c.name, "expression": _col(c.name),
                            "unit": unit, "direction": "lower", "why": f"a duration (in {unit}?)", "columns": [c.name]})
            elif c.kind == "integer" and _COUNT.search(c.name) and c.n_distinct <= 100:
                out.append({"id": _ident(c.name, "count"), "name": c.name, "expression": _col(c.name), "unit": "count",
                            "direction": "lower", "why": "a count", "columns": [c.name]})
    seen, unique = set(), []
    for k in out:
        if k["id"] not in seen:
            seen.add(k["id"])
            unique.append(k)
    return unique


def _col(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _overlap(a: pd.Series, b: pd.Series) -> float:
    va = set(a.dropna().astype(str))
    vb = set(b.dropna().astype(str))
    return len(va & vb) / len(va) if va else 0.0


def _link_column(resp: Table, target: Table, target_col: str) -> str | None:
    """The responses' column whose values are ids of the target table (most overlap, at least half)."""
    best, share = None, 0.5
    for c in sorted(resp.columns.values(), key=lambda c: c.name != target_col):
        if c.kind not in ("text", "integer"):
            continue
        s = _overlap(resp.frame[c.name], target.frame[target_col])
        if s > share:
            best, share = c.name, s
    return best


def draft_config(folder: str | Path) -> str:
    """The text of a draft ``client.yaml`` for the files in ``folder`` (not written)."""
    folder = Path(folder)
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
    if not files:
        raise IpmError(f"{folder}: no CSV, Parquet or Excel (.xlsx) files to draft a client.yaml from")
    tables: list[Table] = []
    unreadable: list[str] = []
    for f in files:
        frame, label, problems = _read(folder, f)
        if frame is None:
            unreadable += problems
            continue
        t = Table(f, label, len(frame), _profile(frame), frame)
        for name, vals in frame.attrs.get("raw_values", {}).items():
            t.columns[name].raw = vals
        tables.append(t)
    if not tables:
        raise IpmError(f"{folder}: none of the files could be read:\n  " + "\n  ".join(unreadable))
    for t in tables:
        _classify(t)
    responses = next((t for t in tables if t.kind == "responses"), None)
    events = next((t for t in tables if t.kind == "events"), None)
    cases = next((t for t in tables if t.kind == "cases"), None)
    ignored = [t.file for t in tables if t not in (responses, events, cases)]
    notes: list[str] = []
    lines: list[str] = []
    w = lines.append

    # -- responses ----------------------------------------------------------------------------
    result_kpi = None
    if responses is not None:
        score, result_kpi = _score(responses)
        responses.mapping["score"] = score.name
        score.role = f"the survey answer (result KPI, scale {result_kpi['scale']})"
        rid = responses.columns.get("response_id") or \
            next((c for c in responses.columns.values() if _is_unique_id(c)), None)
        if rid is not None:
            responses.mapping["response_id"] = rid.name
            rid.role = "response id"
        answered = responses.columns.get("responded_at") or _find(responses, _ANSWER_NAME, ("timestamp",))
        only = [c for c in responses.columns.values() if c.kind == "timestamp"]
        if answered is None and len(only) == 1 and len(tables) == 1:  # one file, one date: the answer's day
            answered = only[0]
        if answered is not None:
            responses.mapping["responded_at"] = answered.name
            answered.role = "answer time"
    # -- cases --------------------------------------------------------------------------------
    linkage: dict | None = None
    chain_values: list[str] = []
    if cases is not None:
        cid = cases.columns.get("case_id") or next((c for c in cases.columns.values() if _is_unique_id(c)), None)
        if cid is not None:
            cases.mapping["case_id"] = cid.name
            cid.role = "case id"
        stamps = _timestamps(cases, set())
        full = [c for c in stamps if c.n_filled == c.n]  # opened_at must be filled on every row
        opened = cases.columns.get("opened_at") if "opened_at" in cases.columns else \
            next((c for c in full if _OPEN.search(c.name)), full[0] if full else None)
        closed = cases.columns.get("closed_at") if "closed_at" in cases.columns else \
            next((c for c in reversed(stamps) if _CLOSE.search(c.name) and c is not opened), None)
        if opened is not None:
            cases.mapping["opened_at"] = opened.name
            opened.role = "case opened"
        if closed is not None:
            cases.mapping["closed_at"] = closed.name
            closed.role = "case closed"
        chain_col = next((c for c in sorted(cases.columns.values(), key=lambda c: c.name != "chain")
                          if c.kind == "text" and c.values
                          and re.search(r"^chain$|process|type|category|proces", c.name, re.I)
                          and all(ID_PATTERN.match(v) for v in c.values)), None)
        if chain_col is not None:
            cases.mapping["chain"] = chain_col.name
            chain_col.role = "chain of the case"
            chain_values = list(chain_col.values)
        cust = cases.columns.get("customer_id") or \
            _find(cases, _CUSTOMER_NAME, ("text", "integer"), {cases.mapping.get("case_id", "")})
        if responses is not None and cid is not None:
            link = _link_column(responses, cases, cid.name)
            if link is not None:
                responses.mapping["case_id"] = link
                responses.columns[link].role = "the case the answer is about"
                linkage = {"by": "case_id"}
            elif cust is not None:
                rc = _link_column(responses, cases, cust.name)
                if rc is not None and closed is not None and "responded_at" in responses.mapping:
                    responses.mapping["customer_id"] = rc
                    cases.mapping["customer_id"] = cust.name
                    responses.columns[rc].role = cust.role = "customer id"
                    linkage = {"by": "customer_id", "window_days": 60}
    elif events is not None and responses is not None:
        link = _link_column(responses, events, events.mapping["case_id"])
        if link is not None:
            responses.mapping["case_id"] = link
            responses.columns[link].role = "the case the answer is about"
            linkage = {"by": "case_id"}
    if events is not None:
        for contract, theirs in events.mapping.items():
            events.columns[theirs].role = {"case_id": "case id", "activity": "activity",
                                           "timestamp": "event time"}[contract]
    if cases is None and events is None and responses is not None:
        notes.append("one file: each answer is its own case (cases: {from: responses})")

    # -- chain and KPIs -----------------------------------------------------------------------
    source = cases if cases is not None else (responses if events is None else None)
    used = set()
    for t in (responses, cases):
        if t is not None:
            used |= set(t.mapping.values())
    if source is responses and responses is not None:
        used -= {responses.mapping.get("responded_at", "")}
        used |= {responses.mapping["score"]}
    kpis = _kpi_candidates(source, used) if source is not None else []
    if chain_values and cases is not None:  # several chains: candidates from each chain's own rows
        kpis = []
        ch = cases.frame[cases.mapping["chain"]].astype(str)
        for v in chain_values:
            sub = cases.frame.loc[ch == v].dropna(axis=1, how="all").reset_index(drop=True)
            part = Table(cases.file, cases.label, len(sub), _profile(sub), sub)
            for k in _kpi_candidates(part, used):
                k["chain"] = v
                if k["id"] not in {x["id"] for x in kpis}:
                    kpis.append(k)
    if events is not None and cases is None:
        kpis = [{"id": "n_events", "name": "Events per case", "expression": "n_events", "unit": "count",
                 "direction": "lower", "why": "derived from the event log", "columns": []},
                {"id": "throughput_hours", "name": "First to last event", "expression":
                 "date_diff('hour', opened_at, closed_at)", "unit": "hours", "direction": "lower",
                 "why": "derived from the event log: its first and last event", "columns": []}] + kpis
    for k in kpis:
        for c in k["columns"]:
            if source is not None and c in source.columns:
                source.columns[c].role = source.columns[c].role or f"candidate chain KPI ({k['id']})"
    # the file's own column names serve in expressions, so no KPI needs a mapped name
    chain_ids = chain_values or [_ident(Path((cases or events or responses).file).stem.lower(), "chain")]

    def chain_cases(ch: str) -> set | None:
        if not chain_values or cases is None:
            return None
        rows = cases.frame[cases.mapping["chain"]].astype(str) == ch
        return set(cases.frame.loc[rows, cases.mapping["case_id"]].astype(str))

    def chain_of(k: dict) -> str:
        if "chain" in k:
            return k["chain"]
        if not chain_values or cases is None:
            return chain_ids[0]
        ch = cases.frame[cases.mapping["chain"]].astype(str)
        filled = {v: cases.frame.loc[ch == v, k["columns"]].notna().all(axis=1).mean() if k["columns"] else 1.0
                  for v in chain_values}
        return max(filled, key=filled.get)

    # -- segments -----------------------------------------------------------------------------
    segs = []
    for t, table in ((responses, "responses"), (cases, "cases")):
        if t is None:
            continue
        for c in t.columns.values():
            if (not c.role and c.kind in ("text", "boolean") and 2 <= c.n_distinct <= 8
                    and c.name not in t.mapping.values()):
                segs.append((table, c))
                c.role = f"segment ({table})"
    # -- write --------------------------------------------------------------------------------
    w(f"# Draft client.yaml written by `ipm init` from the files in this folder. Read it top to bottom:")
    w(f"# '# {FILL_IN}' marks what only you can say; '# check' marks a guess from the data.")
    w("# The contract and every key: docs/data-contract.md. Then: ipm validate . and ipm run .")
    w("")
    w(f"id: {_q(_ident(folder.resolve().name, 'client'))}")
    w(f"title: {_q(folder.resolve().name)}  # {FILL_IN}: the client's name as the report shows it")
    w("")
    if result_kpi is not None:
        w("result_kpi:  # check: the answer the customers gave, and its scale")
        w(f"  name: {_q(responses.mapping['score'])}  # {FILL_IN}: how the report names it, e.g. NPS, Review score")
        for k, v in result_kpi.items():
            w(f"  {k}: {json.dumps(v, ensure_ascii=False)}" + ("  # check: ordered worst to best" if k == "labels" else ""))
        w("")
    w("tables:")
    for t, name in ((responses, "responses"), (cases, "cases"), (events, "events")):
        if t is None:
            continue
        w(f"  {name}:")
        w(f"    file: {_q(t.file)}")
        mapping = {k: v for k, v in t.mapping.items() if k != v}
        if mapping:
            w("    columns:  # contract name: the file's column")
            for k, v in mapping.items():
                w(f"      {k}: {_q(v)}")
        if name == "cases" and "opened_at" not in t.mapping:
            w(f"    # {FILL_IN}: no date column found; map the column that says when a case opened:")
            w("    # columns: {opened_at: your_column}")
        if name == "cases" and not chain_values:
            w(f"    chain: {_q(chain_ids[0])}")
    if cases is None:
        if events is not None:
            w("  cases:")
            w("    from: events  # one case per case id of the log: first and last event, n_events")
            w(f"    chain: {_q(chain_ids[0])}")
        elif responses is not None:
            w("  cases:")
            w("    from: responses  # each answer is its own case")
            w(f"    chain: {_q(chain_ids[0])}")
    w("")
    if linkage is not None:
        w("linkage:  # check: found by matching the values of the columns")
        for k, v in linkage.items():
            w(f"  {k}: {v}")
        w("")
    elif responses is not None and (cases is not None or events is not None):
        w(f"# {FILL_IN}: no column of the responses matches the case ids; map the one that does under")
        w("# tables.responses.columns (case_id: ...) or link by customer (linkage: {by: customer_id}).")
        w("")
    w("chains:")
    for ch in chain_ids:
        mine = [k for k in kpis if chain_of(k) == ch]
        w(f"  - id: {_q(ch)}  # check")
        w(f"    name: {_q(ch)}  # {FILL_IN}: the chain in a few words, e.g. Install a coffee machine")
        w(f"    need: {_q(FILL_IN)}  # {FILL_IN}: the customer's need, in their words")
        w(f"    owner: {_q(FILL_IN)}  # {FILL_IN}: who is accountable for the whole chain")
        w(f"    links: [{_q(FILL_IN)}]  # {FILL_IN}: the departments of the chain, in order")
        w("    kpis:")
        if not mine:
            w(f"      - id: {_ident(ch + '_kpi', 'kpi')}  # {FILL_IN}: no candidate found in the data")
            w(f"        name: {_q(FILL_IN)}")
            w(f"        expression: {_q(FILL_IN)}  # {FILL_IN}: a DuckDB expression per case")
            w("        unit: share")
            w("        direction: higher")
            w(f"        link: {_q(FILL_IN)}")
        for k in mine:
            w(f"      - id: {k['id']}  # check: {k['why']}")
            w(f"        name: {_q(k['name'])}  # {FILL_IN}: a name a manager reads")
            w(f"        expression: {_q(k['expression'])}")
            w(f"        unit: {k['unit']}" + ("  # check: minutes or seconds?" if k["unit"] in ("minutes", "seconds")
                                                else ""))
            w(f"        direction: {k['direction']}  # check")
            w(f"        # target: {FILL_IN} (optional)")
            w(f"        link: {_q(FILL_IN)}  # {FILL_IN}: the link that owns the KPI (one of links)")
        if events is not None:
            steps = _designed_steps(events, chain_cases(ch))
            w(f"    journey:  # check: the activities in their usual order; keep the designed ones")
            w(f"      steps: {json.dumps(steps, ensure_ascii=False)}")
    w("")
    if segs:
        w("# segments (optional; remove the '#' to use one):")
        w("# segments:")
        for table, c in segs[:MAX_SEGMENTS]:
            w(f"#   - {{id: {_ident('by_' + c.name, 'segment')}, name: {_q(c.name)}, table: {table}, "
              f"column: {_q(c.name)}}}  # values {', '.join(c.values[:6])}")
        w("")
    w("reporting:")
    w("  period: month")
    w("")
    w("# What was found, column by column (type; role guessed; examples):")
    for t in tables:
        used_as = t.kind if t in (responses, cases, events) else "not used (only one table of each kind)"
        w(f"#  {t.label}: {t.n:,} rows, read as {used_as}")
        for c in t.columns.values():
            rng = f" {c.low:g}..{c.high:g}" if c.low is not None else ""
            miss = f", {1 - c.n_filled / c.n:.0%} empty" if c.n and c.n_filled < c.n else ""
            w(f"#    {c.name}: {c.kind}{rng}{miss}; {c.role or '-'}; e.g. {', '.join(c.examples)[:80]}")
    for line in notes + [f"{f}: not used" for f in ignored] + unreadable:
        w(f"# note: {line}")
    return "\n".join(lines) + "\n"


def _designed_steps(events: Table, case_ids: set | None = None, limit: int = 8) -> list[str]:
    """The most frequent activities (of the given cases), ordered by their median position within a case."""
    f = events.frame[[events.mapping["case_id"], events.mapping["activity"], events.mapping["timestamp"]]].copy()
    f.columns = ["case", "activity", "ts"]
    f = f.dropna()
    if case_ids is not None and f["case"].astype(str).isin(case_ids).any():
        f = f[f["case"].astype(str).isin(case_ids)]
    f["pos"] = f.sort_values(["case", "ts"], kind="stable").groupby("case").cumcount()
    top = f["activity"].astype(str).value_counts().head(limit).index
    order = f[f["activity"].astype(str).isin(top)].groupby(f["activity"].astype(str))["pos"].median().sort_values()
    return [str(a) for a in order.index]


def write_draft(folder: str | Path) -> Path:
    """Write the draft beside the files as ``client.yaml``; never over an existing one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IpmError(f"{folder}: not a folder")
    target = folder / CONFIG_NAME
    if target.exists():
        raise IpmError(f"{target}: already exists; ipm init never overwrites it (move it away to draft anew)")
    text = draft_config(folder)
    with target.open("x", encoding="utf-8") as f:  # 'x': fails rather than overwrite a file made meanwhile
        f.write(text)
    return target


__all__ = ["draft_config", "write_draft"]
