"""Load a client folder through DuckDB: read, map columns, validate, link responses to cases.

Data flow: ``client.yaml`` → read each table (CSV or Parquet) as text through DuckDB → map the
client's column names onto the contract names → check and convert the contract columns,
collecting every problem with file, column and example rows → derive cases from the event log
or events from milestone columns where the config says so → evaluate the chain-KPI and segment
expressions (checked first, see :mod:`ipm_analysis.expressions`) → link each response to its
case.

Nothing is ever written into the client folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import pickle
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .config import CONFIG_NAME, ClientConfig, TableSpec, config_problems, read_yaml
from .errors import AnalysisError, ConfigError, ExpressionError, Problem, ValidationError
from .expressions import check_expression, referenced_columns

MAX_COLUMNS = 2_000
HEADER_BYTES = 4 * 1024 * 1024  # the header row must lie within the first 4 MB
EXAMPLE_ROWS = 5
ROW = "__row"  # 1-based data row number in the source file
SEG = "__segment_"  # prefix of evaluated segment columns (file columns cannot start with '__')
COMPUTED = ("period",)  # columns the loader adds to responses and cases
# timestamps outside these bounds are typos or placeholders (and beyond 2262 no analysis can hold them)
EARLIEST, LATEST = "1900-01-01", "2200-01-01"

CONTRACT = {
    "responses": {"response_id": "id", "responded_at": "timestamp", "score": "score",
                  "case_id": "id?", "customer_id": "id?"},
    "cases": {"case_id": "id", "chain": "text?", "customer_id": "id?",
              "opened_at": "timestamp", "closed_at": "timestamp?"},
    "events": {"case_id": "id", "activity": "text", "timestamp": "timestamp",
               "channel": "text?", "link": "text?"},
}


@dataclass
class Client:
    """A loaded client: its configuration and its linked tables.

    Attributes
    ----------
    config
        The parsed ``client.yaml``.
    responses
        One row per survey answer (``None`` without a survey): contract columns, ``score`` as a
        number on the analysed scale (labels mapped to 1..k), ``period``, one column per
        segment, the linked ``case_id`` and every other column of the file.
    cases
        One row per case with contract columns, ``period`` and the file's other columns.
    case_kpis
        One row per case: ``case_id``, ``chain``, ``period``, one column per chain-KPI id (the
        per-case value; NaN where the KPI does not apply) and case-table segment columns.
    events
        The event log in contract shape (``row`` = source order), or ``None``.
    linked
        ``responses`` joined to ``case_kpis`` of their case: the base of the model frame.
    warnings
        Soft problems found while loading (the analysis goes on).
    """

    path: Path
    config: ClientConfig
    responses: pd.DataFrame | None
    cases: pd.DataFrame
    case_kpis: pd.DataFrame
    events: pd.DataFrame | None
    linked: pd.DataFrame | None
    warnings: list[Problem] = field(default_factory=list)
    event_filter: dict | None = None  # events the filter of client.yaml left out (see EventLogFilter)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def linkage_rate(self) -> float | None:
        """Share of responses that found their case."""
        if self.responses is None or len(self.responses) == 0:
            return None
        return float(self.responses["case_id"].notna().mean()) if "case_id" in self.responses else 0.0

    @property
    def segment_ids(self) -> list[str]:
        return [s.id for s in self.config.segments]

    def _segment(self, segment: str):
        seg = next((s for s in self.config.segments if s.id == segment), None)
        if seg is None:
            raise AnalysisError(f"segment {segment!r} is not declared in client.yaml; segments are "
                                f"{self.segment_ids}")
        if seg.table == "responses" and self.responses is None:
            raise AnalysisError(f"segment {segment!r} is on the responses table, but client '{self.id}' has no "
                                "survey")
        return seg

    def segment_groups(self, segment: str) -> pd.Series:
        """Responses per group of one segment (linked to a case, with a score), largest first.

        Segment values are text; responses without a value count under ``None``.
        """
        self._segment(segment)
        if self.linked is None:
            raise AnalysisError(f"client '{self.id}' has no survey, so its segments have no responses")
        rows = self.linked.loc[self.linked["linked"].to_numpy(dtype=bool) & self.linked["score"].notna().to_numpy()]
        values = rows[segment].astype(object).where(rows[segment].notna(), None)
        counts = values.value_counts(dropna=False, sort=False)
        order = sorted(counts.index, key=lambda g: (-counts[g], g is None, str(g)))
        return counts.reindex(order).astype(int).rename("responses")

    def in_segment(self, segment: str, group: str | None) -> Client:
        """This client restricted to one group of one segment (e.g. new customers).

        The responses (and linked responses) of the group are kept. For a segment on the cases
        table, the group's cases are kept, with their KPI values and events; for a segment on
        the responses table, the cases those responses are linked to. So the chain KPIs'
        current values are those of the group. ``group=None`` selects the responses (or cases)
        without a value.

        Raises
        ------
        AnalysisError
            Unknown segment, or a group no case or response belongs to.
        """
        seg = self._segment(segment)

        def member(frame: pd.DataFrame) -> np.ndarray:
            col = frame[segment]
            return (col.isna() if group is None else (col == str(group)).fillna(False)).to_numpy(dtype=bool)

        responses, linked = self.responses, self.linked
        if seg.table == "cases":
            cases = self.cases.loc[member(self.cases)]
            keep = pd.Index(cases["case_id"].dropna().unique())
            if linked is not None:
                linked = linked.loc[member(linked)]
                responses = responses.loc[responses["response_id"].isin(linked["response_id"])]
        else:
            responses = responses.loc[member(responses)]
            linked = linked.loc[member(linked)]
            keep = pd.Index(linked["case_id"].dropna().unique())
            cases = self.cases.loc[self.cases["case_id"].isin(keep)]
        if len(cases) == 0 and (responses is None or len(responses) == 0):
            raise AnalysisError(f"no response or case of client '{self.id}' is in group {group!r} of segment "
                                f"{segment!r}")
        case_kpis = self.case_kpis.loc[self.case_kpis["case_id"].isin(keep)]
        events = None if self.events is None else self.events.loc[self.events["case_id"].isin(keep)]
        return replace(
            self, responses=None if responses is None else responses.reset_index(drop=True),
            cases=cases.reset_index(drop=True), case_kpis=case_kpis.reset_index(drop=True),
            events=None if events is None else events.reset_index(drop=True),
            linked=None if linked is None else linked.reset_index(drop=True), warnings=list(self.warnings))


class ProblemCollector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # (file, contract column) -> the client's own column name, from tables.*.columns
        self.own_names: dict[tuple[str, str], str] = {}
        # (file, contract column) whose mapped column is missing: reported once, not again as missing
        self.unmapped: set[tuple[str, str]] = set()
        # table -> {name: contract} for names that are a loaded column and another column's own name
        self.ambiguous: dict[str, dict[str, str]] = {}

    def _add(self, file: str, message: str, column: str | None, rows, severity: str) -> None:
        theirs = self.own_names.get((file, column)) if column else None
        if theirs and f"'{theirs}'" not in message:
            message += f" (the file's column '{theirs}')"
        self.problems.append(Problem(file, message, column, tuple(int(r) for r in rows), severity))

    def error(self, file: str, message: str, column: str | None = None, rows=()) -> None:
        self._add(file, message, column, rows, "error")

    def warn(self, file: str, message: str, column: str | None = None, rows=()) -> None:
        self._add(file, message, column, rows, "warning")

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


STATEMENT_SECONDS_ENV = "IPM_STATEMENT_SECONDS"  # time limit of one DuckDB statement of the loader
MEMORY_LIMIT_ENV = "IPM_DUCKDB_MEMORY"  # DuckDB's memory_limit for the loader
THREADS_ENV = "IPM_DUCKDB_THREADS"
STATEMENT_SECONDS = 300.0
MEMORY_LIMIT = "4GB"


class StatementTimeout(duckdb.Error):
    """A DuckDB statement of the loader ran past the time limit and was interrupted."""


def _statement_seconds() -> float:
    try:
        return max(float(os.environ.get(STATEMENT_SECONDS_ENV, STATEMENT_SECONDS)), 0.01)
    except ValueError:
        return STATEMENT_SECONDS


class _BoundedConnection:
    """A DuckDB connection whose every statement is interrupted after ``seconds``.

    A timer thread calls ``interrupt()`` when a statement (``execute``, or a relation of
    ``sql`` when it is fetched) runs past the limit; the statement then raises
    :class:`StatementTimeout` naming the limit and the statement. Everything else goes to the
    connection itself.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self._con = con
        self.seconds = seconds

    def _bounded(self, sql: str, run):
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            self._con.interrupt()

        timer = threading.Timer(self.seconds, stop)
        timer.daemon = True
        timer.start()
        try:
            return run()
        except duckdb.Error as e:
            if fired.is_set() or isinstance(e, duckdb.InterruptException):
                shown = re.sub(r"\s+", " ", sql)[:300]
                raise StatementTimeout(f"stopped after {self.seconds:g} s (the limit of one step, "
                                       f"{STATEMENT_SECONDS_ENV}): {shown}") from None
            raise
        finally:
            timer.cancel()

    def execute(self, sql: str, *args):
        return self._bounded(sql, lambda: self._con.execute(sql, *args))

    def sql(self, query: str):
        return _BoundedRelation(self._con.sql(query), self, query)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


class _BoundedRelation:
    def __init__(self, rel, con: _BoundedConnection, sql: str) -> None:
        self._rel, self._bcon, self._sql = rel, con, sql

    def __getattr__(self, name: str):
        attr = getattr(self._rel, name)
        if not callable(attr):
            return attr
        return lambda *a, **k: self._bcon._bounded(self._sql, lambda: attr(*a, **k))


def connect_duckdb() -> duckdb.DuckDBPyConnection:
    threads = os.environ.get(THREADS_ENV, "") or "2"
    memory = os.environ.get(MEMORY_LIMIT_ENV, "") or MEMORY_LIMIT
    con = duckdb.connect(config={"threads": int(threads) if threads.isdigit() else 2, "memory_limit": memory})
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar = false")
    return _BoundedConnection(con, _statement_seconds())


def read_table_into(con, client_dir: Path, name: str, spec: TableSpec, col: ProblemCollector, label: str | None = None) -> bool:
    """Read one file into DuckDB table ``raw_<name>`` with every column as text plus ``__row``
    (an Excel sheet: its cells typed as in the workbook, see :func:`_read_xlsx`)."""
    file = label or spec.file
    path = client_dir / spec.file
    if path.exists() and not _inside_folder(client_dir, spec.file):
        col.error(file, "is a link that leads outside the client folder; copy the file into the folder")
        return False
    if not path.is_file():
        col.error(file, f"file not found (client.yaml names it for the {name} table)")
        return False
    if path.stat().st_size == 0:
        col.error(file, "the file is empty")
        return False
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(con, path.resolve(), name, spec, file, col)
    links: list[Path] = []
    try:
        suffix = path.suffix.lower()  # of the name client.yaml gives (a link may point to another name)
        path = _literal_path(path.resolve(), links)
        with path.open("rb") as f:
            is_parquet = f.read(4) == b"PAR1"
        if suffix == ".parquet":
            if not is_parquet:
                col.error(file, "not a Parquet file (a CSV file renamed to .parquet?); name a CSV file .csv")
                return False
            if not _parquet_names_unique(path, file, col):
                return False
            rel = f"read_parquet({_sql_str(path)})"
        elif is_parquet:
            col.error(file, "a Parquet file, not CSV text; name it .parquet in the folder and in client.yaml")
            return False
        else:
            header = _csv_header(path, file, col)
            if header is None:
                return False
            # the header is parsed here, so DuckDB's dialect sniffer does not guess: no row is
            # skipped as a "comment" and a malformed row is reported with its row number
            names = ", ".join(f"{_sql_str(h)}: 'VARCHAR'" for h in header)
            rel = (
                f"read_csv({_sql_str(path)}, header=true, auto_detect=false, columns={{{names}}}, "
                "delim=',', quote='\"', escape='\"', strict_mode=true, null_padding=false)"
            )
        con.execute(f"CREATE OR REPLACE TABLE raw_{name} AS SELECT row_number() OVER () AS {ROW}, * FROM {rel}")
    except duckdb.Error as e:
        _read_error(e, path, file, col)
        return False
    except OSError as e:
        col.error(file, f"cannot be read: {e.strerror or e}")
        return False
    finally:
        for link in links:
            shutil.rmtree(link.parent, ignore_errors=True)
    ncols = len(con.execute(f"DESCRIBE raw_{name}").fetchall()) - 1
    if ncols > MAX_COLUMNS:
        col.error(file, f"{ncols:,} columns; at most {MAX_COLUMNS:,} are read")
        return False
    n = con.execute(f"SELECT count(*) FROM raw_{name}").fetchone()[0]
    if n == 0:
        col.error(file, "has a header but no data rows")
        return False
    return True


def xlsx_label(client_dir: Path, spec: TableSpec) -> str:
    """How messages name an Excel table: ``calls.xlsx, sheet 'Calls'`` (the first sheet unless
    ``sheet:`` names one); other files by their name."""
    if spec.file is None or not spec.file.lower().endswith(".xlsx"):
        return spec.file
    if spec.sheet is not None:
        return f"{spec.file}, sheet '{spec.sheet}'"
    try:
        from python_calamine import CalamineWorkbook

        names = CalamineWorkbook.from_path(str(client_dir / spec.file)).sheet_names
    except Exception:  # noqa: BLE001 - unreadable: _read_xlsx reports why
        return spec.file
    return f"{spec.file}, sheet '{names[0]}'" if names else spec.file


def _xlsx_text(v) -> str | None:
    """A cell as text, for a column whose cells are of several kinds (a whole number without '.0')."""
    import datetime as dt

    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
    return str(v)


def _xlsx_column(values: list) -> pa.Array:
    """One sheet column as typed as in the workbook: booleans, dates and times, times of day,
    whole numbers, numbers or durations when every filled cell is of that kind; text otherwise."""
    import datetime as dt

    cells = [None if v == "" else v for v in values]
    filled = [v for v in cells if v is not None]
    if filled and all(isinstance(v, bool) for v in filled):
        return pa.array(cells, pa.bool_())
    if filled and all(isinstance(v, (dt.datetime, dt.date)) for v in filled):
        return pa.array([v if v is None or isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)
                         for v in cells], pa.timestamp("us"))
    if filled and all(isinstance(v, dt.timedelta) for v in filled):
        return pa.array(cells, pa.duration("us"))
    if filled and all(isinstance(v, dt.time) for v in filled):  # a time of day, or a duration shown as one
        return pa.array(cells, pa.time64("us"))
    if filled and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in filled):
        if all(float(v).is_integer() and abs(v) < 2**53 for v in filled):
            return pa.array([None if v is None else int(v) for v in cells], pa.int64())
        return pa.array([None if v is None else float(v) for v in cells], pa.float64())
    return pa.array([_xlsx_text(v) for v in cells], pa.string())


def _read_xlsx(con, path: Path, name: str, spec: TableSpec, file: str, col: ProblemCollector) -> bool:
    """Read one sheet of an Excel workbook (python-calamine; no network) into ``raw_<name>``.

    The first row names the columns; row numbers in messages are data rows (the header not
    counted), as for CSV, so data row 1 is the sheet's row 2.
    """
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - a declared dependency
        col.error(file, "reading .xlsx needs python-calamine: pip install python-calamine")
        return False
    try:
        wb = CalamineWorkbook.from_path(str(path))
        names = wb.sheet_names
        sheet = spec.sheet if spec.sheet is not None else (names[0] if names else None)
        if sheet not in names:
            col.error(file, f"the workbook has no sheet '{sheet}'; its sheets are {names}")
            return False
        rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except Exception as e:  # noqa: BLE001 - a damaged or encrypted workbook: one readable message
        col.error(file, f"cannot be read as an Excel workbook (.xlsx): {_first_line(e)}")
        return False
    while rows and all(v in ("", None) for v in rows[-1]):
        rows.pop()
    if not rows or all(v in ("", None) for v in rows[0]):
        col.error(file, "the first row is empty; the sheet must start with a row naming its columns")
        return False
    if len(rows) == 1:
        col.error(file, "has a header but no data rows")
        return False
    width = max(len(r) for r in rows)
    if width > MAX_COLUMNS:
        col.error(file, f"{width:,} columns; at most {MAX_COLUMNS:,} are read")
        return False
    header = [(_xlsx_text(h) or "").strip() or f"unnamed_{i + 1}" for i, h in enumerate(list(rows[0]) + [""] * (width - len(rows[0])))]
    reserved = [h for h in header if h.startswith("__")]
    if reserved:
        col.error(file, f"column names starting with '__' are reserved for the analysis; rename '{reserved[0]}'",
                  reserved[0])
        return False
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        for h in twice:
            pos = [i + 1 for i, x in enumerate(header) if x == h]
            col.error(file, f"column '{h}' occurs more than once in the header (columns "
                            f"{', '.join(map(str, pos))}); give each column its own name", h)
        return False
    data = [list(r) + [""] * (width - len(r)) for r in rows[1:]]
    arrays = [pa.array(range(1, len(data) + 1), pa.int64())]
    arrays += [_xlsx_column([r[j] for r in data]) for j in range(width)]
    table = pa.Table.from_arrays(arrays, names=[ROW] + header)
    con.register("__xlsx", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE raw_{name} AS SELECT * FROM __xlsx")
    finally:
        con.unregister("__xlsx")
    return True


def _inside_folder(client_dir: Path, file: str) -> bool:
    """Whether ``file`` of the client folder, with every link followed, stays inside the folder
    (a file, a sub-folder or client.yaml linked to ``../other`` or ``/etc`` does not)."""
    base = Path(client_dir).resolve()
    return (base / file).resolve().is_relative_to(base)


_GLOB_CHARS = re.compile(r"[*?\[\]{}]")


def _literal_path(path: Path, links: list[Path]) -> Path:
    """A path DuckDB reads as this one file.

    DuckDB's read functions expand ``*``, ``?``, ``[...]`` and ``{...}`` in a path (and have no
    escape for them), so ``ev*.csv`` would read every matching file. A path holding one of
    them is read through a link with a plain name in a private temporary folder (appended to
    ``links``; the caller removes it).
    """
    if not _GLOB_CHARS.search(str(path)):
        return path
    folder = Path(tempfile.mkdtemp(prefix="ipm-read-"))
    link = folder / f"table{path.suffix.lower()}"
    links.append(link)
    os.symlink(path, link)
    return link


def _parquet_names_unique(path: Path, file: str, col: ProblemCollector) -> bool:
    """Refuse repeated column names in a Parquet file, as in a CSV header (DuckDB would rename
    the second one ``score_1`` silently)."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError):
        return True  # unreadable: DuckDB's read says why
    return _names_unique(names, file, col, "in the file")


def _names_unique(names: list[str], file: str, col: ProblemCollector, where: str) -> bool:
    """Report every column name that occurs more than once (with its positions); True when none does."""
    positions: dict[str, list[int]] = {}
    for i, h in enumerate(names):
        positions.setdefault(h, []).append(i + 1)
    ok = True
    for h, pos in positions.items():
        if len(pos) > 1:
            col.error(file, f"column '{h}' occurs more than once {where} (columns "
                            f"{', '.join(map(str, pos))}); give each column its own name", h)
            ok = False
    return ok


def _csv_header(path: Path, file: str, col: ProblemCollector) -> list[str] | None:
    """The column names of a CSV file's header row, or None after reporting why it is unusable."""
    with path.open("rb") as f:
        head = f.read(HEADER_BYTES)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not a multi-byte char cut at the sample edge
            col.error(file, f"not UTF-8 text (byte {e.start}); save the file as UTF-8")
            return None
        text = head[: e.start].decode("utf-8")
    text = text.removeprefix("\ufeff")  # a byte-order mark, as Excel writes it
    if "\x00" in text:
        col.error(file, "holds NUL bytes: not a text (CSV) file; save it as UTF-8 CSV")
        return None
    if len(head) == HEADER_BYTES and "\n" not in text and "\r" not in text:
        col.error(file, f"the first line is longer than {HEADER_BYTES // 1_000_000} MB: not a CSV header row")
        return None
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', strict=True), None)
    except csv.Error as e:
        col.error(file, f"the header row cannot be read: {e}", rows=())
        return None
    if not header or all(not h.strip() for h in header):
        col.error(file, "the first line is empty; a CSV file must start with a header row naming its columns")
        return None
    if len(header) > MAX_COLUMNS:
        col.error(file, f"{len(header):,} columns; at most {MAX_COLUMNS:,} are read")
        return None
    if len(header) == 1:
        for delim, label in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if delim in header[0]:
                col.error(file, f"the header has a single column '{header[0][:80]}': the file seems to use {label} "
                                "as delimiter; save it comma-separated (CSV)")
                return None
    names = [h.strip() or f"unnamed_{i + 1}" for i, h in enumerate(header)]
    reserved = [h for h in names if h.startswith("__")]
    if reserved:
        col.error(file, f"column names starting with '__' are reserved for the analysis; rename '{reserved[0]}'",
                  reserved[0])
        return None
    return names if _names_unique(names, file, col, "in the header") else None


def _read_error(e: duckdb.Error, path: Path, file: str, col: ProblemCollector) -> None:
    """Turn a DuckDB read error into a message with the row it happened on."""
    full = str(e).replace(str(path), file)
    first = re.sub(r"\s+", " ", full.splitlines()[0])
    m = re.search(r"CSV Error on Line: (\d+)", full)
    rows = (int(m.group(1)) - 1,) if m else ()  # DuckDB counts the header as line 1
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", full)
    if fields:
        exp, got = int(fields.group(1)), int(fields.group(2))
        why = ("an unquoted comma in a text field?" if got > exp
               else "a line cut short, or a line break in an unquoted text field?")
        col.error(file, f"a row has {got} fields where the header has {exp} ({why})", rows=rows)
    elif "unterminated quote" in full.lower():
        col.error(file, "a quoted field is never closed (a stray '\"')", rows=rows)
    elif "unicode" in full.lower() or "utf-8" in full.lower():
        col.error(file, "not UTF-8 text; save the file as UTF-8", rows=rows)
    else:
        what = path.suffix.lstrip(".").upper() or "CSV"
        col.error(file, f"cannot be read as {what}: {first[:300]}", rows=rows)


def _check_reserved(con, name: str, file: str, col: ProblemCollector, computed: bool = True) -> bool:
    """File columns may not take the names of columns the loader adds (they would shadow them)."""
    ok = True
    for c in table_columns(con, f"raw_{name}"):
        if c == ROW:
            continue
        if c.startswith("__"):
            col.error(file, f"column names starting with '__' are reserved for the analysis; rename '{c}' "
                            f"(or map it to another name under tables.{name}.columns in client.yaml)", c)
            ok = False
        elif computed and c in COMPUTED:
            col.error(file, f"column '{c}' is computed by the analysis (the reporting period) and would be "
                            f"shadowed; rename it or map it under tables.{name}.columns in client.yaml", c)
            ok = False
    return ok


def _sql_str(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def table_columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def _examples(con, sql: str) -> list[int]:
    return [r[0] for r in con.execute(sql + f" ORDER BY {ROW} LIMIT {EXAMPLE_ROWS + 1}").fetchall()]


def _map_columns(con, name: str, spec: TableSpec, col: ProblemCollector, label: str | None = None) -> bool:
    """Rename the client's columns to contract names (``columns:`` of client.yaml)."""
    file = label or spec.file
    have = table_columns(con, f"raw_{name}")
    ok = True
    renames = []
    for contract, theirs in spec.columns.items():
        if theirs not in have:
            # reported, and the table's other checks still run (every problem in one pass)
            col.error(file, f"column '{theirs}' (mapped to '{contract}' in client.yaml) not found; "
                            f"the file has: {', '.join(h for h in have if h != ROW)[:300]}", theirs)
            col.unmapped.add((file, contract))
        elif contract != theirs:
            if contract in have and contract not in spec.columns.values():
                col.error(file, f"the file has a column '{contract}' and client.yaml maps '{theirs}' onto "
                                f"'{contract}' too; rename one of them", contract)
                ok = False
            renames.append((theirs, contract))
    if not ok:
        return False
    for theirs, contract in renames:
        con.execute(f"ALTER TABLE raw_{name} RENAME COLUMN {quote_name(theirs)} TO {quote_name('__tmp_' + contract)}")
    for _, contract in renames:
        con.execute(f"ALTER TABLE raw_{name} RENAME COLUMN {quote_name('__tmp_' + contract)} TO {quote_name(contract)}")
    return ok


def infer_column_types(con, name: str, skip: set[str]) -> None:
    """Give the non-contract text columns their natural type (number, boolean, timestamp).

    A column keeps text when any value has a leading zero (an identifier such as ``007``).
    """
    table = f"raw_{name}"
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall())
    for c, t in types.items():
        if c == ROW or c in skip or t != "VARCHAR":
            continue
        qc = quote_name(c)
        n_nonnull, lead_zero = con.execute(
            f"SELECT count({qc}), count(*) FILTER (WHERE regexp_matches(trim({qc}), '^-?0[0-9]')) FROM {table}"
        ).fetchone()
        if n_nonnull == 0 or lead_zero:
            continue
        for target in ("BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMPTZ"):
            fails = f"TRY_CAST(trim({qc}) AS {target}) IS NULL"
            if target == "BIGINT":  # '0.5' would round to 1: whole numbers only
                fails = f"NOT regexp_full_match(trim({qc}), '-?[0-9]+') OR {fails}"
            # one failing value settles it: stop at the first (most columns fail a type early)
            bad = con.execute(
                f"SELECT 1 FROM {table} WHERE {qc} IS NOT NULL AND trim({qc}) <> '' AND ({fails}) LIMIT 1"
            ).fetchone()
            if bad is None:
                expr = f"TRY_CAST(NULLIF(trim({qc}), '') AS {target})"
                if target == "TIMESTAMPTZ":
                    expr = f"timezone('UTC', {expr})"
                con.execute(f"ALTER TABLE {table} ALTER COLUMN {qc} SET DATA TYPE "
                            f"{'TIMESTAMP' if target == 'TIMESTAMPTZ' else target} USING {expr}")
                break


def _check_contract(con, name: str, file: str, required: dict[str, str], col: ProblemCollector,
                    now: pd.Timestamp) -> None:
    """Check presence and type of the contract columns; convert them in place."""
    table = f"raw_{name}"
    have = table_columns(con, table)
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall())
    for c, kind in required.items():
        optional = kind.endswith("?")
        kind = kind.rstrip("?")
        if c not in have:
            if not optional and (file, c) not in col.unmapped:
                col.error(file, f"required column '{c}' is missing (map your column onto it under "
                                f"tables.{name}.columns in client.yaml)", c)
            continue
        qc = quote_name(c)
        n, n_null = con.execute(f"SELECT count(*), count(*) - count({qc}) FROM {table}").fetchone()
        if types[c] == "VARCHAR":
            con.execute(f"UPDATE {table} SET {qc} = NULLIF(trim({qc}), '')")
            n_null = con.execute(f"SELECT count(*) - count({qc}) FROM {table}").fetchone()[0]
        if n_null == n:
            col.error(file, "every value is missing", c)
            continue
        if kind == "id":
            if n_null and not optional:
                rows = _examples(con, f"SELECT {ROW} FROM {table} WHERE {qc} IS NULL")
                col.error(file, f"{n_null:,} rows have no {c}", c, rows)
            if types[c] != "VARCHAR":
                con.execute(f"ALTER TABLE {table} ALTER COLUMN {qc} SET DATA TYPE VARCHAR USING CAST({qc} AS VARCHAR)")
        elif kind == "text":
            if types[c] != "VARCHAR":
                con.execute(f"ALTER TABLE {table} ALTER COLUMN {qc} SET DATA TYPE VARCHAR USING CAST({qc} AS VARCHAR)")
            if n_null and not optional:
                rows = _examples(con, f"SELECT {ROW} FROM {table} WHERE {qc} IS NULL")
                col.error(file, f"{n_null:,} rows have no {c}", c, rows)
        elif kind == "timestamp":
            _convert_timestamp(con, table, file, c, optional, col, now)


def _convert_timestamp(con, table, file, c, optional, col, now) -> None:
    qc = quote_name(c)
    t = con.execute(f"SELECT column_type FROM (DESCRIBE {table}) WHERE column_name = ?", [c]).fetchone()[0]
    if t.startswith("TIMESTAMP WITH"):
        con.execute(f"ALTER TABLE {table} ALTER COLUMN {qc} SET DATA TYPE TIMESTAMP USING timezone('UTC', {qc})")
    elif t == "DATE" or t.startswith("TIMESTAMP"):
        con.execute(f"ALTER TABLE {table} ALTER COLUMN {qc} SET DATA TYPE TIMESTAMP USING CAST({qc} AS TIMESTAMP)")
    else:
        txt = f"CAST({qc} AS VARCHAR)"
        bad_sql = (f"SELECT {ROW} FROM {table} WHERE {qc} IS NOT NULL "
                   f"AND TRY_CAST({txt} AS TIMESTAMPTZ) IS NULL")
        n_bad = con.execute(f"SELECT count(*) FROM ({bad_sql})").fetchone()[0]
        if n_bad:
            rows = _examples(con, bad_sql)
            vals = [r[0] for r in con.execute(
                f"SELECT {qc} FROM {table} WHERE {ROW} IN ({','.join(map(str, rows[:3]))}) ORDER BY {ROW}").fetchall()]
            col.error(file, f"{n_bad:,} values are not a date/time (e.g. {', '.join(repr(v) for v in vals)}); "
                            "use ISO 8601 such as 2024-03-31 14:05:00", c, rows)
            return
        con.execute(f"ALTER TABLE {table} ALTER COLUMN {qc} SET DATA TYPE TIMESTAMP "
                    f"USING timezone('UTC', TRY_CAST({txt} AS TIMESTAMPTZ))")
    n_null = con.execute(f"SELECT count(*) - count({qc}) FROM {table}").fetchone()[0]
    if n_null and not optional:
        rows = _examples(con, f"SELECT {ROW} FROM {table} WHERE {qc} IS NULL")
        col.error(file, f"{n_null:,} rows have no {c}", c, rows)
    odd_sql = (f"SELECT {ROW} FROM {table} WHERE {qc} < TIMESTAMP '{EARLIEST}' OR {qc} >= TIMESTAMP '{LATEST}'")
    n_odd = con.execute(f"SELECT count(*) FROM ({odd_sql})").fetchone()[0]
    if n_odd:
        rows = _examples(con, odd_sql)
        vals = [str(r[0]) for r in con.execute(
            f"SELECT {qc} FROM {table} WHERE {ROW} IN ({','.join(map(str, rows[:3]))}) ORDER BY {ROW}").fetchall()]
        col.error(file, f"{n_odd:,} timestamps lie outside the years {EARLIEST[:4]}-{int(LATEST[:4]) - 1} "
                        f"(e.g. {', '.join(vals)}); a typo or a placeholder date?", c, rows)
        return
    future_sql = f"SELECT {ROW} FROM {table} WHERE {qc} > TIMESTAMP '{now.strftime('%Y-%m-%d %H:%M:%S')}'"
    n_future = con.execute(f"SELECT count(*) FROM ({future_sql})").fetchone()[0]
    if n_future:
        col.warn(file, f"{n_future:,} timestamps lie in the future", c, _examples(con, future_sql))


def _check_unique(con, name: str, file: str, c: str, col: ProblemCollector) -> None:
    table = f"raw_{name}"
    if c not in table_columns(con, table):
        return
    dup_sql = (f"SELECT {ROW} FROM (SELECT {ROW}, count(*) OVER (PARTITION BY {quote_name(c)}) AS k FROM {table} "
               f"WHERE {quote_name(c)} IS NOT NULL) WHERE k > 1")
    n = con.execute(f"SELECT count(*) FROM ({dup_sql})").fetchone()[0]
    if n:
        vals = [r[0] for r in con.execute(
            f"SELECT {quote_name(c)} FROM {table} GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 3").fetchall()]
        col.error(file, f"{n:,} rows share an id with another row (duplicates: {', '.join(map(repr, vals))}); "
                        f"{c} must be unique", c, _examples(con, dup_sql))


_SCORE_TYPES = re.compile(r"^(VARCHAR|U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$")


def _check_score(con, cfg: ClientConfig, file: str, col: ProblemCollector) -> None:
    table = "raw_responses"
    if "score" not in table_columns(con, table):
        return
    kpi = cfg.result_kpi
    spec = kpi.scale_spec
    t = con.execute(f"SELECT column_type FROM (DESCRIBE {table}) WHERE column_name = 'score'").fetchone()[0]
    if not _SCORE_TYPES.match(t):  # e.g. a Parquet column of booleans, dates, lists or structs
        col.error(file, f"the score column holds {t} values; scores must be numbers (or the scale's labels as "
                        "text)", "score")
        return
    txt = "trim(CAST(score AS VARCHAR))"
    if kpi.scale == "labels":
        labels = spec.labels
        in_list = ", ".join(_sql_str(v) for v in labels)
        bad_sql = f"SELECT {ROW} FROM {table} WHERE score IS NOT NULL AND {txt} NOT IN ({in_list})"
        n_bad = con.execute(f"SELECT count(*) FROM ({bad_sql})").fetchone()[0]
        if n_bad:
            vals = [r[0] for r in con.execute(
                f"SELECT DISTINCT {txt} FROM {table} WHERE score IS NOT NULL AND {txt} NOT IN ({in_list}) "
                "ORDER BY 1 LIMIT 3").fetchall()]
            col.error(file, f"{n_bad:,} answers are not one of the declared labels {labels} "
                            f"(got {', '.join(map(repr, vals))})", "score", _examples(con, bad_sql))
            return
        case = " ".join(f"WHEN {_sql_str(v)} THEN {i + 1}" for i, v in enumerate(labels))
        con.execute(f"ALTER TABLE {table} ALTER COLUMN score SET DATA TYPE DOUBLE USING CASE {txt} {case} END")
    else:
        if t == "VARCHAR":  # 'NaN' and 'inf' cast to a double too, but are not answers
            bad_sql = (f"SELECT {ROW} FROM {table} WHERE score IS NOT NULL AND "
                       f"(TRY_CAST({txt} AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST({txt} AS DOUBLE)))")
            n_bad = con.execute(f"SELECT count(*) FROM ({bad_sql})").fetchone()[0]
            if n_bad:
                vals = [r[0] for r in con.execute(
                    f"SELECT score FROM {table} WHERE {ROW} IN (SELECT * FROM ({bad_sql}) LIMIT 3)").fetchall()]
                col.error(file, f"{n_bad:,} scores are not numbers (got {', '.join(map(repr, vals))})", "score",
                          _examples(con, bad_sql))
                return
        con.execute(f"ALTER TABLE {table} ALTER COLUMN score SET DATA TYPE DOUBLE USING TRY_CAST({txt} AS DOUBLE)")
        lo, hi = spec.min, spec.max
        bad_sql = (f"SELECT {ROW} FROM {table} WHERE score IS NOT NULL AND "
                   f"(NOT isfinite(score) OR score < {lo} OR score > {hi} OR score <> round(score))")
        n_bad = con.execute(f"SELECT count(*) FROM ({bad_sql})").fetchone()[0]
        if n_bad:
            vals = [r[0] for r in con.execute(
                f"SELECT DISTINCT score FROM {table} WHERE {ROW} IN (SELECT * FROM ({bad_sql})) ORDER BY 1 LIMIT 3"
            ).fetchall()]
            shown = ", ".join(f"{v:g}" for v in vals)
            col.error(file, f"{n_bad:,} scores outside the {kpi.scale} scale {lo}-{hi} or not whole numbers "
                            f"(got {shown})", "score", _examples(con, bad_sql))
            return
    n, n_null = con.execute(f"SELECT count(*), count(*) - count(score) FROM {table}").fetchone()
    if 0 < n_null < n:
        col.warn(file, f"{n_null:,} of {n:,} responses have no score; they are left out",
                 "score", _examples(con, f"SELECT {ROW} FROM {table} WHERE score IS NULL"))


def _derive_cases_from_events(con, cfg: ClientConfig) -> None:
    """One case per case_id of the event log; case-level columns are those constant per case."""
    derived = (ROW, "case_id", "activity", "timestamp", "opened_at", "closed_at", "n_events")  # computed here
    cols = [c for c in table_columns(con, "raw_events") if c not in derived]
    constant = []
    if cols:
        checks = ", ".join(f"max(k{i}) <= 1" for i in range(len(cols)))
        inner = ", ".join(f"count(DISTINCT {quote_name(c)}) AS k{i}" for i, c in enumerate(cols))
        flags = con.execute(f"SELECT {checks} FROM (SELECT {inner} FROM raw_events GROUP BY case_id)").fetchone()
        constant = [c for c, f in zip(cols, flags) if f]
    extra = "".join(f", any_value({quote_name(c)}) AS {quote_name(c)}" for c in constant)
    con.execute(
        "CREATE OR REPLACE TABLE raw_cases AS SELECT min(__row) AS __row, case_id, "
        "min(timestamp) AS opened_at, max(timestamp) AS closed_at, count(*) AS n_events"
        f"{extra} FROM raw_events GROUP BY case_id ORDER BY min(__row)"
    )


def _add_constant_chain(con, cfg: ClientConfig, col: ProblemCollector, file: str) -> None:
    have = table_columns(con, "raw_cases")
    spec = cfg.tables.cases
    constant = (spec.chain if spec else None) or (cfg.tables.events.chain if cfg.tables.events else None)
    if "chain" in have and constant is None:
        return
    if constant is None:
        if len(cfg.chains) == 1:
            constant = cfg.chains[0].id
        else:
            col.error(file, "the cases have no 'chain' column and client.yaml declares several chains; "
                            "add a chain column or set tables.cases.chain", "chain")
            return
    if "chain" in have:
        con.execute(f"UPDATE raw_cases SET chain = {_sql_str(constant)}")
    else:
        con.execute(f"ALTER TABLE raw_cases ADD COLUMN chain VARCHAR DEFAULT {_sql_str(constant)}")


def _check_chains(con, cfg: ClientConfig, file: str, col: ProblemCollector) -> None:
    known = [c.id for c in cfg.chains]
    in_list = ", ".join(_sql_str(k) for k in known)
    con.execute("UPDATE raw_cases SET chain = NULLIF(trim(chain), '')")
    none_sql = f"SELECT {ROW} FROM raw_cases WHERE chain IS NULL"
    n_none = con.execute(f"SELECT count(*) FROM ({none_sql})").fetchone()[0]
    if n_none:
        col.error(file, f"{n_none:,} cases have no chain; each case needs one of {known}", "chain",
                  _examples(con, none_sql))
    bad_sql = f"SELECT {ROW} FROM raw_cases WHERE chain IS NOT NULL AND chain NOT IN ({in_list})"
    n_bad = con.execute(f"SELECT count(*) FROM ({bad_sql})").fetchone()[0]
    if n_bad:
        vals = [r[0] for r in con.execute(
            f"SELECT DISTINCT chain FROM raw_cases WHERE chain NOT IN ({in_list}) ORDER BY 1 LIMIT 3").fetchall()]
        col.error(file, f"{n_bad:,} cases name an unknown chain ({', '.join(map(repr, vals))}); "
                        f"client.yaml declares {known}", "chain", _examples(con, bad_sql))


def _events_from_milestones(con, cfg: ClientConfig, col: ProblemCollector, file: str) -> bool:
    """Turn declared milestone timestamp columns of the cases table into events."""
    parts = []
    have = table_columns(con, "raw_cases")
    own = _case_own_map(cfg)
    for chain in cfg.chains:
        if chain.journey is None:
            continue
        for step, named in chain.journey.milestones.items():
            # the file's own column name or the contract name, alike
            column = _resolve(have, own, named, col, file, f"chains.{chain.id}.journey.milestones.{step}")
            if column is None:
                col.error(file, f"milestone column '{named}' (step '{step}' of chain '{chain.id}') not found", named)
                continue
            _convert_timestamp(con, "raw_cases", file, column, True, col, pd.Timestamp.now(tz="UTC"))
            parts.append(
                f"SELECT {ROW} * 1000 + {len(parts)} AS {ROW}, case_id, {_sql_str(step)} AS activity, "
                f"{quote_name(column)} AS timestamp FROM raw_cases WHERE chain = {_sql_str(chain.id)} AND {quote_name(column)} IS NOT NULL"
            )
    if not parts:
        return False
    sql = " UNION ALL ".join(parts)
    if "raw_events" in {r[0] for r in con.execute("SHOW TABLES").fetchall()}:
        con.execute(f"CREATE OR REPLACE TABLE milestone_events AS {sql}")
        return True
    con.execute(f"CREATE OR REPLACE TABLE raw_events AS {sql}")
    return True


def _case_own_map(cfg: ClientConfig) -> dict[str, str]:
    """Own column names of the file the cases come from -> their contract names."""
    spec = cfg.tables.cases
    if spec is None or spec.from_ == "events":
        return _own_map(cfg.tables.events)
    if spec.from_ == "responses":
        return {**_own_map(spec), **_own_map(cfg.tables.responses)}
    return _own_map(spec)


def _alias_views(con, cfg: ClientConfig, col: ProblemCollector) -> None:
    """Views ``x_cases`` / ``x_responses``: the table plus each mapped column under the file's own
    name too, so KPI and segment expressions may name a column either way. A name that is both a
    loaded column and another column's own name means the loaded column (see :func:`_resolve`)."""
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    for name, own in (("cases", _case_own_map(cfg)), ("responses", _own_map(cfg.tables.responses))):
        if f"raw_{name}" not in tables:
            continue
        have = table_columns(con, f"raw_{name}")
        extra = "".join(f", {quote_name(c)} AS {quote_name(x)}" for x, c in own.items() if x not in have and c in have)
        con.execute(f"CREATE OR REPLACE VIEW x_{name} AS SELECT *{extra} FROM raw_{name}")
        col.ambiguous[name] = {x: c for x, c in own.items() if x in have}


def _aliases(con, name: str) -> list[str]:
    """The own-name columns the view ``x_<name>`` adds to ``raw_<name>``."""
    raw = set(table_columns(con, f"raw_{name}"))
    return [c for c in table_columns(con, f"x_{name}") if c not in raw]


def _note_ambiguous(col: ProblemCollector, table: str, expression: str, where: str) -> None:
    for name in referenced_columns(expression):
        if name in col.ambiguous.get(table, {}):
            col.warn(CONFIG_NAME, f"'{name}' is both a column of the {table} as loaded and the file's own name of "
                                  f"the column mapped onto '{col.ambiguous[table][name]}'; the column named "
                                  f"'{name}' is used", where)


def _evaluate_expressions(con, cfg: ClientConfig, col: ProblemCollector, files: dict[str, str]) -> None:
    """Check each KPI/segment expression, then evaluate it into a column of kpi_values / segments."""
    _alias_views(con, cfg, col)
    case_cols = [c for c in table_columns(con, "x_cases") if c != ROW]
    selects = []
    for chain in cfg.chains:
        for k in chain.kpis:
            what = f"KPI '{chain.id}.{k.id}'"
            try:
                check_expression(k.expression, case_cols, what)
            except ExpressionError as e:
                col.error(CONFIG_NAME, str(e), f"chains.{chain.id}.kpis.{k.id}.expression")
                continue
            _note_ambiguous(col, "cases", k.expression, f"chains.{chain.id}.kpis.{k.id}.expression")
            selects.append((chain.id, k))
            if k.companion:  # a share's continuous companion (e.g. days late): one more column
                cid, cexpr = next(iter(k.companion.items()))
                try:
                    check_expression(cexpr, case_cols, f"companion '{chain.id}.{k.id}.{cid}'")
                except ExpressionError as e:
                    col.error(CONFIG_NAME, str(e), f"chains.{chain.id}.kpis.{k.id}.companion")
                    continue
                selects.append((chain.id, k.model_copy(update={"id": cid, "expression": cexpr})))
    if col.has_errors:
        return
    cols = []
    for chain_id, k in selects:
        expr = f"CASE WHEN chain = {_sql_str(chain_id)} THEN CAST(({k.expression}) AS DOUBLE) END"
        key = f"chains.{chain_id}.kpis.{k.id}.expression"
        if _expression_fails(con, "x_cases", expr, files["cases"], f"KPI '{chain_id}.{k.id}'", key,
                             k.expression, col):
            continue
        cols.append((chain_id, k, expr))
    if col.has_errors:
        return
    # KPIs of the same id in several chains share a column: each case belongs to one chain
    merged: dict[str, list[str]] = {}
    for _, k, expr in cols:
        merged.setdefault(k.id, []).append(expr)
    sel = ", ".join(f"coalesce({', '.join(exprs)}) AS {quote_name(kid)}" if len(exprs) > 1 else f"{exprs[0]} AS {quote_name(kid)}"
                    for kid, exprs in merged.items())
    con.execute(f"CREATE OR REPLACE TABLE kpi_values AS SELECT case_id{', ' + sel if sel else ''} FROM x_cases")
    for chain_id, k, _ in cols:
        n = con.execute(
            f"SELECT count(kv.{quote_name(k.id)}) FROM kpi_values kv JOIN raw_cases rc USING (case_id) "
            f"WHERE chain = {_sql_str(chain_id)}").fetchone()[0]
        if n == 0:
            col.warn(CONFIG_NAME, f"KPI '{chain_id}.{k.id}' has no value for any case of its chain",
                     f"chains.{chain_id}.kpis.{k.id}.expression")
    for seg in cfg.segments:
        table = "raw_" + seg.table
        if table == "raw_responses" and not cfg.has_survey:
            col.error(CONFIG_NAME, f"segment '{seg.id}' is on the responses table, but there is no survey",
                      f"segments.{seg.id}")
            continue
        table = "x_" + seg.table  # own and contract names alike
        tcols = [c for c in table_columns(con, table) if c != ROW]
        try:
            check_expression(seg.sql, tcols, f"segment '{seg.id}'")
        except ExpressionError as e:
            col.error(CONFIG_NAME, str(e), f"segments.{seg.id}")
            continue
        _note_ambiguous(col, seg.table, seg.sql, f"segments.{seg.id}")
        _expression_fails(con, table, f"CAST(({seg.sql}) AS VARCHAR)", files["cases" if seg.table == "cases"
                          else "responses"], f"segment '{seg.id}'", f"segments.{seg.id}", seg.sql, col)


def _expression_fails(con, table: str, expr: str, file: str, what: str, key: str, source: str,
                      col: ProblemCollector) -> bool:
    """Run a checked expression over a table; report a failure with its rows and column.

    An expression that cannot even be bound (a type error such as text * 2) is a client.yaml
    problem. One that fails on some rows only (a date column with a word in one row) is a data
    problem: the rows are found by bisection over the row numbers and reported with the text
    column the expression reads.
    """
    try:
        con.execute(f"SELECT {expr} FROM {table} LIMIT 0")
    except duckdb.Error as e:
        col.error(CONFIG_NAME, f"{what} cannot be computed: {_first_line(e)}", key)
        return True
    try:
        con.execute(f"SELECT min(hash({expr})) FROM {table}").fetchone()  # hash: evaluated on every row
        return False
    except StatementTimeout:
        col.error(CONFIG_NAME, f"{what} ({source}) took longer than {con.seconds:g} s on the data and was "
                               f"stopped (the limit of one step, {STATEMENT_SECONDS_ENV})", key)
        return True
    except duckdb.Error as e:
        error = _first_line(e)
    rows = _failing_rows(con, table, expr)
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall())
    text_cols = [c for c in referenced_columns(source) if types.get(c) == "VARCHAR"]
    if not rows:  # fails on the whole table only (e.g. an overflow in an aggregate): say so plainly
        col.error(CONFIG_NAME, f"{what} cannot be computed on the data: {error}", key)
        return True
    column = text_cols[0] if len(text_cols) == 1 else None
    shown = ""
    if text_cols:
        vals = con.execute(f"SELECT {', '.join(quote_name(c) for c in text_cols)} FROM {table} WHERE {ROW} = {rows[0]}").fetchone()
        shown = "; row " + str(rows[0]) + " holds " + ", ".join(f"{c}={v!r}" for c, v in zip(text_cols, vals))
    col.error(file, f"{what} ({source}) cannot be computed for these rows: {error}{shown}", column, rows)
    return True


def _failing_rows(con, table: str, expr: str) -> list[int]:
    """Up to EXAMPLE_ROWS row numbers on which ``expr`` raises, found by bisection."""
    lo, hi = con.execute(f"SELECT min({ROW}), max({ROW}) FROM {table}").fetchone()
    if lo is None:
        return []

    def fails(a: int, b: int) -> bool:
        try:
            con.execute(f"SELECT min(hash({expr})) FROM {table} WHERE {ROW} BETWEEN {a} AND {b}").fetchone()
            return False
        except StatementTimeout:
            raise
        except duckdb.Error:
            return True

    rows: list[int] = []
    start = lo
    while len(rows) < EXAMPLE_ROWS and start <= hi and fails(start, hi):
        a, b = start, hi
        while a < b:
            mid = (a + b) // 2
            if fails(a, mid):
                b = mid
            else:
                a = mid + 1
        if not fails(a, a):  # fails only together with other rows
            break
        rows.append(a)
        start = a + 1
    return rows


def _first_line(e: Exception) -> str:
    return re.sub(r"\s+", " ", str(e).splitlines()[0])[:300]


def _link(con, cfg: ClientConfig, col: ProblemCollector, file: str) -> None:
    """Give each response the case it is about (by case id, or by customer and time window)."""
    rcols = table_columns(con, "raw_responses")
    ccols = table_columns(con, "raw_cases")
    if cfg.tables.cases is not None and cfg.tables.cases.from_ == "responses":
        return  # each response is its own case
    if cfg.linkage.by == "case_id":
        if "case_id" not in rcols:
            col.error(file, "linkage.by is case_id, but the responses have no case_id column", "case_id")
            return
        con.execute("CREATE OR REPLACE TABLE link AS SELECT r.response_id, c.case_id FROM raw_responses r "
                    "LEFT JOIN raw_cases c ON r.case_id = c.case_id")
    else:
        missing = [t for t, cols in (("responses", rcols), ("cases", ccols)) if "customer_id" not in cols]
        if missing:
            col.error(file, f"linkage.by is customer_id, but the {' and '.join(missing)} have no customer_id column",
                      "customer_id")
            return
        if "closed_at" not in ccols:
            col.error(file, "linkage by customer needs closed_at on the cases", "closed_at")
            return
        con.execute(
            "CREATE OR REPLACE TABLE link AS SELECT r.response_id, "
            f"CASE WHEN c.closed_at >= r.responded_at - INTERVAL {int(cfg.linkage.window_days)} DAY "
            "THEN c.case_id END AS case_id FROM raw_responses r ASOF LEFT JOIN "
            "(SELECT case_id, customer_id, closed_at FROM raw_cases WHERE closed_at IS NOT NULL) c "
            "ON r.customer_id = c.customer_id AND r.responded_at >= c.closed_at"
        )
    n, n_linked = con.execute("SELECT count(*), count(case_id) FROM link").fetchone()
    if n_linked == 0:
        col.error(file, f"no response links to a case (linkage by {cfg.linkage.by}); check the ids and the mapping",
                  cfg.linkage.by)
    elif n_linked < n:
        rows = _examples(con, f"SELECT r.{ROW} FROM raw_responses r JOIN link l USING (response_id) "
                              "WHERE l.case_id IS NULL")
        col.warn(file, f"{(n - n_linked) / n:.0%} of responses ({n - n_linked:,}) link to no case; "
                       "they count for the result KPI but not for the drivers", cfg.linkage.by, rows)


def query_frame(con, sql: str) -> pd.DataFrame:
    """The result of ``sql`` as a DataFrame, as DuckDB's ``.df()`` gives it, only faster.

    ``.df()`` turns text into Python strings that pandas then packs into Arrow again (0.3 s for
    half a million events). Text columns go straight from Arrow to pandas' Arrow-backed ``str``
    columns; the other columns, and text without a single value (``.df()`` makes those
    ``object``), take DuckDB's own conversion, so the dtypes are those of ``.df()``.
    """
    table = con.sql(sql).to_arrow_table()
    names = table.column_names
    unique = len(set(names)) == len(names)  # repeated names: only DuckDB's conversion keeps them apart
    text = [f.name for f in table.schema
            if unique and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                           or pa.types.is_string_view(f.type))
            and table.column(f.name).null_count < table.num_rows]
    if not text:
        return con.from_arrow(table).df()
    frame = table.select(text).to_pandas()
    rest = [c for c in names if c not in text]
    if rest:
        frame = pd.concat([frame, con.from_arrow(table.select(rest)).df()], axis=1)
    return frame[names]


def _period_expr(period: str, column: str) -> str:
    return f"CAST(date_trunc('{period}', {column}) AS TIMESTAMP)"


def _collect(con, cfg: ClientConfig):
    """Turn the checked DuckDB tables into the frames of :class:`Client`."""
    period = cfg.reporting.period
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    # cases
    case_close = "coalesce(closed_at, opened_at)" if "closed_at" in table_columns(con, "raw_cases") else "opened_at"
    case_segs = [s for s in cfg.segments if s.table == "cases"]
    seg_sel = "".join(f", CAST(({s.sql}) AS VARCHAR) AS {quote_name(SEG + s.id)}" for s in case_segs)
    case_alias = _aliases(con, "cases")
    case_star = f"* EXCLUDE ({', '.join(quote_name(c) for c in case_alias)})" if case_alias else "*"
    con.execute(f"CREATE OR REPLACE TABLE cases AS SELECT {case_star}, {_period_expr(period, case_close)} AS period"
                f"{seg_sel} FROM x_cases")
    cases = query_frame(con, f"SELECT * EXCLUDE ({ROW}) FROM cases ORDER BY {ROW}")
    cases = _segments_to_columns(cases, case_segs)
    kpi_ids = list(dict.fromkeys([k.id for k in cfg.kpis] + [k.companion_id for k in cfg.kpis if k.companion]))
    seg_cols = "".join(f", c.{quote_name(SEG + s.id)} AS {quote_name(s.id)}" for s in case_segs)
    kpi_cols = "".join(f", k.{quote_name(k)}" for k in kpi_ids)
    case_kpis = query_frame(
        con, f"SELECT c.case_id, c.chain, c.period{kpi_cols}{seg_cols} FROM cases c JOIN kpi_values k USING (case_id) "
             f"ORDER BY c.{ROW}")
    case_kpis = _yes_no(case_kpis, [seg.id for seg in case_segs])
    # responses
    responses = linked = None
    if "raw_responses" in tables:
        resp_segs = [s for s in cfg.segments if s.table == "responses"]
        seg_sel = "".join(f", CAST(({s.sql}) AS VARCHAR) AS {quote_name(SEG + s.id)}" for s in resp_segs)
        resp_alias = "".join(f", {quote_name(c)}" for c in _aliases(con, "responses"))
        if "link" in tables:
            join = "LEFT JOIN link l USING (response_id)"
            case_col = ", l.case_id AS case_id"
            exclude = ", case_id" if "case_id" in table_columns(con, "raw_responses") else ""
        else:  # each response is its own case
            join, exclude = "", ""
            case_col = "" if "case_id" in table_columns(con, "raw_responses") else ", r.response_id AS case_id"
        con.execute(
            f"CREATE OR REPLACE TABLE responses AS SELECT r.* EXCLUDE ({ROW}{exclude}{resp_alias}){case_col}, "
            f"{_period_expr(period, 'r.responded_at')} AS period{seg_sel}, r.{ROW} FROM x_responses r {join}"
        )
        responses = query_frame(con, f"SELECT * EXCLUDE ({ROW}) FROM responses WHERE score IS NOT NULL ORDER BY {ROW}")
        responses = _segments_to_columns(responses, resp_segs)
        case_seg = "".join(f", k.{quote_name(s.id)} AS {quote_name(s.id)}" for s in case_segs)
        kp = "".join(f", k.{quote_name(k)}" for k in kpi_ids)
        linked = query_frame(
            con,
            f"SELECT r.response_id, r.responded_at, r.period, r.score, r.case_id, k.chain{kp}"
            + "".join(f", r.{quote_name(SEG + s.id)} AS {quote_name(s.id)}" for s in resp_segs)
            + case_seg
            + f" FROM responses r LEFT JOIN case_kpis_view k ON r.case_id = k.case_id "
              f"WHERE r.score IS NOT NULL ORDER BY r.{ROW}"
        ) if _register(con, "case_kpis_view", case_kpis) else None
        linked["linked"] = linked["case_id"].notna() & linked["chain"].notna()
        linked = _yes_no(linked, [seg.id for seg in cfg.segments])
    events = None
    if "raw_events" in tables:
        ev_sql = f"SELECT * FROM raw_events"
        if "milestone_events" in tables:
            ev_sql += " UNION ALL BY NAME SELECT * FROM milestone_events"
        ecols = set(table_columns(con, "raw_events"))
        keep = ["case_id", "activity", "timestamp"] + [c for c in ("channel", "link") if c in ecols]
        events = query_frame(
            con, f"SELECT {', '.join(keep)}, {ROW} AS row FROM ({ev_sql}) ORDER BY case_id, timestamp, {ROW}")
        events["row"] = events["row"].astype("int64")
    return responses, cases, case_kpis, events, linked


def _segments_to_columns(df: pd.DataFrame, segments) -> pd.DataFrame:
    """Name each evaluated segment column by its id (a same-named raw column gives way)."""
    for seg in segments:
        if seg.id in df.columns:
            df = df.drop(columns=[seg.id])
        df = df.rename(columns={SEG + seg.id: seg.id})
    return _yes_no(df, [seg.id for seg in segments])


def _yes_no(df: pd.DataFrame | None, columns) -> pd.DataFrame | None:
    """Segment groups of a yes/no column read as Yes and No (not the loader's true and false)."""
    for c in columns:
        if df is not None and c in df.columns and set(df[c].dropna().unique()) <= {"true", "false"}:
            df[c] = df[c].map({"true": "Yes", "false": "No"})
    return df


def _register(con, name: str, df: pd.DataFrame) -> bool:
    con.register(name, df)
    return True


def _load(client_dir: Path) -> tuple[Client | None, list[Problem]]:
    col = ProblemCollector()
    client_dir = Path(client_dir)
    if not client_dir.is_dir():
        col.error(str(client_dir.name or client_dir), "client folder not found")
        return None, col.problems
    try:
        raw = read_yaml(client_dir / CONFIG_NAME)
    except ConfigError as e:
        col.error(CONFIG_NAME, str(e).removeprefix(f"{CONFIG_NAME}: "))
        return None, col.problems
    cfg, problems = config_problems(raw)
    col.problems += problems
    if cfg is None:
        return None, col.problems
    labels = {}  # how messages name each table's file (an Excel file with its sheet)
    for table in ("responses", "cases", "events"):
        spec = getattr(cfg.tables, table)
        if spec is not None and spec.file is not None:
            labels[table] = xlsx_label(client_dir, spec)
            col.own_names.update({(labels[table], contract): theirs for contract, theirs in spec.columns.items()
                                  if contract != theirs})
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    con = connect_duckdb()
    try:
        files: dict[str, str] = {}
        read_ok = True
        for name in ("responses", "cases", "events"):
            spec = getattr(cfg.tables, name)
            if spec is None or spec.file is None:
                continue
            files[name] = labels[name]
            if not read_table_into(con, client_dir, name, spec, col, labels[name]):
                read_ok = False
                continue
            if not _map_columns(con, name, spec, col, labels[name]):
                read_ok = False
            elif name == "events" and not _build_activity(con, spec, col):
                read_ok = False
            elif not _check_reserved(con, name, labels[name], col, computed=name != "events"):
                read_ok = False
        # all files are read: no further file or network access from this connection
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        if not read_ok:
            return None, col.problems
        cases_spec = cfg.tables.cases
        if "responses" in files:
            required = _optional_responses(con, cfg, files["responses"], col)
            _check_contract(con, "responses", files["responses"], required, col, now)
            _check_unique(con, "responses", files["responses"], "response_id", col)
            _check_score(con, cfg, files["responses"], col)
            if "responded_at" not in required:  # no answer date: the period analyses are left out
                con.execute("ALTER TABLE raw_responses ADD COLUMN responded_at TIMESTAMP")
        if "events" in files:
            _check_contract(con, "events", files["events"], CONTRACT["events"], col, now)
        if "cases" in files:  # a cases file is checked in the same pass as the others
            _check_contract(con, "cases", files["cases"], CONTRACT["cases"], col, now)
        if col.has_errors:
            return None, col.problems
        if cases_spec is None or cases_spec.from_ == "events":
            _derive_cases_from_events(con, cfg)
            files["cases"] = files["events"]
        elif cases_spec.from_ == "responses":
            files["cases"] = files["responses"]
            case_contract = _cases_from_responses(con, cfg, col, files["cases"])
            if case_contract is not None:
                _check_contract(con, "cases", files["cases"], case_contract, col, now)
                if "opened_at" not in table_columns(con, "raw_cases"):
                    con.execute("ALTER TABLE raw_cases ADD COLUMN opened_at TIMESTAMP")
        _add_constant_chain(con, cfg, col, files["cases"])
        if cases_spec is None or cases_spec.from_ == "events":
            _check_reserved(con, "cases", files["cases"], col)  # case columns taken from the event log
        if col.has_errors:
            return None, col.problems
        _check_unique(con, "cases", files["cases"], "case_id", col)
        _check_chains(con, cfg, files["cases"], col)
        _check_case_times(con, files["cases"], col)
        skip = set(CONTRACT["cases"]) | {"n_events", "period"}
        infer_column_types(con, "cases", skip)
        if "responses" in files:
            infer_column_types(con, "responses", set(CONTRACT["responses"]))
        event_filter = _apply_event_contract(con, cfg, col, files)
        if col.has_errors:
            return None, col.problems
        _events_from_milestones(con, cfg, col, files["cases"])
        if "raw_events" in {r[0] for r in con.execute("SHOW TABLES").fetchall()} and "events" in files:
            n_orphan = con.execute("SELECT count(*) FROM raw_events WHERE case_id NOT IN (SELECT case_id FROM raw_cases)").fetchone()[0]
            if n_orphan:
                col.warn(files["events"], f"{n_orphan:,} events belong to no known case; they are left out of case KPIs",
                         "case_id", _examples(con, f"SELECT {ROW} FROM raw_events WHERE case_id NOT IN (SELECT case_id FROM raw_cases)"))
        _check_journeys(con, cfg, col, files.get("events"))
        if col.has_errors:
            return None, col.problems
        _evaluate_expressions(con, cfg, col, files)
        if col.has_errors:
            return None, col.problems
        if "responses" in files:
            _link(con, cfg, col, files["responses"])
        if col.has_errors:
            return None, col.problems
        try:
            responses, cases, case_kpis, events, linked = _collect(con, cfg)
        except duckdb.Error as e:
            col.error(CONFIG_NAME, f"a segment or KPI expression failed on the data: {str(e).splitlines()[0][:300]}")
            return None, col.problems
        client = Client(client_dir, cfg, responses, cases, case_kpis, events, linked, [], event_filter)
        client.warnings = [p for p in col.problems if p.severity == "warning"]
        return client, col.problems
    except duckdb.Error as e:  # a case the checks above missed: still a message, never a traceback
        col.error(str(client_dir.name), f"the data could not be processed ({_first_line(e)}); please report "
                                        "this together with the folder's client.yaml")
        return None, col.problems
    finally:
        con.close()


def _cases_from_responses(con, cfg: ClientConfig, col: ProblemCollector, file: str) -> dict[str, str] | None:
    """One file serves as both: each response is its own case (unless it names a case_id).

    ``tables.cases.columns`` names the responses' columns that serve as case columns
    (``opened_at: order_purchase_timestamp``), by the file's own name or its contract name.
    Returns the case contract to check (``opened_at`` optional when the survey has no dates),
    or None after reporting a problem.
    """
    have = table_columns(con, "raw_responses")
    spec = cfg.tables.cases
    own = _own_map(cfg.tables.responses)
    chosen: dict[str, str] = {}
    for contract, name in spec.columns.items():
        found = _resolve(have, own, name, col, file, f"tables.cases.columns.{contract}")
        if found is None:
            col.error(CONFIG_NAME, f"tables.cases.columns maps '{name}' onto the cases' '{contract}', but the "
                                   f"responses file {file} has no such column", f"tables.cases.columns.{contract}")
            continue
        chosen[contract] = found
    if len(chosen) < len(spec.columns):
        return None
    if "case_id" in chosen and chosen["case_id"] != "case_id":
        # the responses carry the case id they are linked to
        if "case_id" in have:
            con.execute("UPDATE raw_responses SET case_id = " + quote_name(chosen["case_id"]))
        else:
            con.execute("ALTER TABLE raw_responses ADD COLUMN case_id VARCHAR")
            con.execute("UPDATE raw_responses SET case_id = CAST(" + quote_name(chosen["case_id"]) + " AS VARCHAR)")
        have = table_columns(con, "raw_responses")
    sel = {c: quote_name(found) for c, found in chosen.items() if c != "case_id"}
    if "case_id" not in have:
        sel["case_id"] = "response_id"
    no_dates = con.execute("SELECT count(responded_at) FROM raw_responses").fetchone()[0] == 0
    if "opened_at" not in have and "opened_at" not in sel and not no_dates:
        sel["opened_at"] = "responded_at"
    replaced = [c for c in sel if c in have]
    star = f"* EXCLUDE ({', '.join(quote_name(c) for c in replaced)})" if replaced else "*"
    extra = "".join(f", {expr} AS {quote_name(c)}" for c, expr in sel.items())
    con.execute(f"CREATE TABLE raw_cases AS SELECT {star}{extra} FROM raw_responses")
    contract = dict(CONTRACT["cases"])
    if "opened_at" not in sel and "opened_at" not in have:
        contract["opened_at"] = "timestamp?"
    return contract


def _own_map(spec: TableSpec | None) -> dict[str, str]:
    """The file's own column name -> the contract name it was mapped onto (``columns:``)."""
    if spec is None:
        return {}
    return {theirs: contract for contract, theirs in spec.columns.items() if theirs != contract}


def _resolve(have: list[str], own: dict[str, str], name: str, col: ProblemCollector, file: str, where: str) -> str | None:
    """The table column that ``name`` in client.yaml means: a column of the table as loaded (a
    contract name, or a column kept under its own name), or the file's own name of a mapped
    column. When a name is both (a mapping swapped names), the column under that name is used and
    a warning says so. None when the table has neither."""
    if name in have:
        if name in own and own[name] != name:
            col.warn(CONFIG_NAME, f"'{name}' is both a column of {file} as loaded and the file's own name of the "
                                  f"column mapped onto '{own[name]}'; the column named '{name}' is used", where)
        return name
    if name in own and own[name] in have:
        return own[name]
    return None


def _optional_responses(con, cfg: ClientConfig, file: str, col: ProblemCollector) -> dict[str, str]:
    """Fill in what a survey export may lack: without a ``response_id`` column the 1-based row
    number serves; without ``responded_at`` the contract drops it (the period analyses are left
    out). Returns the responses' contract to check."""
    have = table_columns(con, "raw_responses")
    req = _required_responses(cfg)
    if "response_id" not in have and (file, "response_id") not in col.unmapped:
        con.execute("ALTER TABLE raw_responses ADD COLUMN response_id VARCHAR")
        con.execute(f"UPDATE raw_responses SET response_id = CAST({ROW} AS VARCHAR)")
        col.warn(file, "no response_id column: each answer's row number (1, 2, ...) serves as its id",
                 "response_id")
    if "responded_at" not in have and (file, "responded_at") not in col.unmapped:
        if cfg.linkage.by == "customer_id" and not (cfg.tables.cases is not None
                                                    and cfg.tables.cases.from_ == "responses"):
            col.error(file, "linkage by customer_id needs the answer time (responded_at) to find the case "
                            "closed before it; map the answer date onto responded_at, or link by case_id",
                      "responded_at")
        else:
            del req["responded_at"]
            col.warn(file, "no responded_at column (no answer date): the analyses by month are left out; "
                           "everything else is reported", "responded_at")
    return req


def _required_responses(cfg: ClientConfig) -> dict[str, str]:
    req = dict(CONTRACT["responses"])
    if cfg.tables.cases is not None and cfg.tables.cases.from_ == "responses":
        return req
    if cfg.linkage.by == "case_id":
        req["case_id"] = "id"
    else:
        req["customer_id"] = "id"
    return req


def _check_case_times(con, file: str, col: ProblemCollector) -> None:
    have = table_columns(con, "raw_cases")
    if "closed_at" in have and "opened_at" in have:
        sql = f"SELECT {ROW} FROM raw_cases WHERE closed_at < opened_at"
        n = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        if n:
            col.warn(file, f"{n:,} cases close before they open", "closed_at", _examples(con, sql))


def _check_journeys(con, cfg: ClientConfig, col: ProblemCollector, file: str | None = None) -> None:
    """Designed steps that never occur in the event log are reported (a likely misspelling)."""
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    if "raw_events" not in tables:
        return
    acts = {r[0] for r in con.execute("SELECT DISTINCT activity FROM raw_events").fetchall()}
    if "milestone_events" in tables:
        acts |= {r[0] for r in con.execute("SELECT DISTINCT activity FROM milestone_events").fetchall()}
    ev_sql = "SELECT case_id FROM raw_events" + (" UNION SELECT case_id FROM milestone_events"
                                                 if "milestone_events" in tables else "")
    silent = con.execute(
        f"SELECT chain, count(*) FROM raw_cases WHERE chain IS NOT NULL GROUP BY chain "
        f"HAVING count(*) FILTER (WHERE case_id IN ({ev_sql})) = 0 ORDER BY chain").fetchall()
    for chain_id, n in silent:  # its journeys cannot be reported
        col.warn(file or CONFIG_NAME, f"none of the {n:,} cases of chain '{chain_id}' has an event; its journey is "
                                      "not reported", "case_id")
    for chain in cfg.chains:
        if chain.journey is None:
            continue
        missing = [s for s in chain.journey.steps if s not in acts]
        if missing and len(missing) == len(chain.journey.steps):
            col.error(CONFIG_NAME, f"none of the designed steps of chain '{chain.id}' occurs in the event log "
                                   f"(steps {missing}; the log has e.g. {sorted(acts)[:5]})",
                      f"chains.{chain.id}.journey.steps")
        elif missing:
            col.warn(CONFIG_NAME, f"designed steps {missing} of chain '{chain.id}' never occur in the event log",
                     f"chains.{chain.id}.journey.steps")
    for a in cfg.contacts.avoidable:
        if a not in acts:
            col.warn(CONFIG_NAME, f"avoidable contact '{a}' never occurs in the event log", "contacts.avoidable")


def _cached_load(path: Path, cache: str | Path | None) -> tuple[Client | None, list[Problem]]:
    """Load once per batch job: with ``cache`` (a private temporary folder of the job, given by
    the batch runner), the loaded client is kept there and the job's other notebooks read it
    back instead of parsing the raw files again."""
    if not cache or not Path(cache).is_dir():
        return _load(path)
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    cached = Path(cache) / f"{key}.pickle"
    if cached.is_file():
        with cached.open("rb") as f:
            return pickle.load(f)  # noqa: S301 - written by this job, in its own temp folder
    result = _load(path)
    tmp = cached.with_suffix(f".tmp-{os.getpid()}")
    with tmp.open("wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, cached)
    return result


def validate_client(path: str | Path, cache: str | Path | None = None) -> list[Problem]:
    """Every problem found in a client folder, in one pass (errors and warnings).

    ``cache``: a folder where the loaded client is kept for later calls (a batch job's own)."""
    _, problems = _cached_load(Path(path), cache)
    return problems


def load_client(path: str | Path, cache: str | Path | None = None) -> Client:
    """Load, validate and link a client folder (from ``cache`` when an earlier call of the same
    batch job kept it there; see :func:`validate_client`).

    Raises
    ------
    ValidationError
        With every problem found, when the folder has errors.
    """
    client, problems = _cached_load(Path(path), cache)
    if client is None:
        raw_id = Path(path).name
        raise ValidationError(problems, raw_id)
    return client


# --------------------------------------------------------------------------------------------
# the event contract: activity from several columns, the event filter, event-derived case
# columns, declared contacts and link values (tables.events and contacts in client.yaml)
# --------------------------------------------------------------------------------------------

_UNIT_MS = {"minutes": 60_000, "hours": 3_600_000, "days": 86_400_000}


def _build_activity(con, spec, col: ProblemCollector) -> bool:
    """``activity`` built from the columns ``tables.events.activity`` names, joined with its
    separator; parts that are empty are skipped (an event with every part empty has no
    activity, which the contract check reports)."""
    cols = getattr(spec, "activity_columns", [])
    if not cols:
        return True
    have = table_columns(con, "raw_events")
    missing = [c for c in cols if c not in have]
    if missing:
        col.error(spec.file, f"column '{missing[0]}' (named under tables.events.activity in client.yaml) not found; "
                             f"the file has: {', '.join(h for h in have if h != ROW)[:300]}", missing[0])
        return False
    if "activity" in have:
        col.error(spec.file, f"the file has a column 'activity' and client.yaml builds activity from {cols}; "
                             "map the file's column to another name under tables.events.columns", "activity")
        return False
    parts = ", ".join(f"NULLIF(trim(CAST({quote_name(c)} AS VARCHAR)), '')" for c in cols)
    con.execute("ALTER TABLE raw_events ADD COLUMN activity VARCHAR")
    con.execute(f"UPDATE raw_events SET activity = concat_ws({_sql_str(spec.activity_separator)}, {parts})")
    return True


def _in_list(values) -> str:
    return ", ".join(_sql_str(v) for v in values) or "NULL"


def _apply_event_contract(con, cfg: ClientConfig, col: ProblemCollector, files: dict[str, str]) -> dict | None:
    """Filter the event log, add the event-derived case columns, check links and contacts.

    Runs after the cases exist (cases derived from the event log see every event: a case opens
    at its first event whatever the filter keeps). Returns what the filter left out, or None
    when client.yaml declares no filter.
    """
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    spec = cfg.tables.events
    if "raw_events" not in tables or spec is None or spec.file is None:
        return None
    file = spec.file
    summary = None
    if spec.filter is not None:
        summary = _filter_events(con, spec, col, file)
        if summary is None:
            return None
    acts = {r[0] for r in con.execute("SELECT DISTINCT activity FROM raw_events").fetchall()}
    _event_case_columns(con, spec, col, file, acts)
    ecols = table_columns(con, "raw_events")
    if "link" in ecols:
        for chain in cfg.chains:
            bad_sql = (f"SELECT e.{ROW} FROM raw_events e JOIN raw_cases c USING (case_id) WHERE c.chain = "
                       f"{_sql_str(chain.id)} AND e.link IS NOT NULL AND e.link NOT IN ({_in_list(chain.links)})")
            n = con.execute(f"SELECT count(*) FROM ({bad_sql})").fetchone()[0]
            if n:
                vals = [r[0] for r in con.execute(
                    f"SELECT DISTINCT e.link FROM raw_events e JOIN raw_cases c USING (case_id) WHERE c.chain = "
                    f"{_sql_str(chain.id)} AND e.link NOT IN ({_in_list(chain.links)}) ORDER BY 1 LIMIT 3").fetchall()]
                col.warn(file, f"{n:,} events of chain '{chain.id}' name links that are not among its links "
                               f"{chain.links} (e.g. {', '.join(map(repr, vals))}); they still count in handovers",
                         "link", _examples(con, bad_sql.replace(f"e.{ROW}", f"e.{ROW} AS {ROW}")))
    contacts = cfg.contacts
    if contacts.channels and "channel" not in ecols:
        col.error(CONFIG_NAME, "contacts.channels declares contact channels, but the event log has no channel column "
                               "(map one under tables.events.columns)", "contacts.channels")
    elif isinstance(contacts.channels, list) and contacts.channels:
        have = {str(r[0]).strip().casefold() for r in con.execute(
            "SELECT DISTINCT channel FROM raw_events WHERE channel IS NOT NULL").fetchall()}
        unknown = [c for c in contacts.channels if c.strip().casefold() not in have]
        if unknown:
            col.warn(CONFIG_NAME, f"contact channels {unknown} never occur in the event log", "contacts.channels")
    unknown = [a for a in contacts.activities if a not in acts]
    if unknown:
        col.warn(CONFIG_NAME, f"contact activities {unknown} never occur in the event log", "contacts.activities")
    if contacts.activity_pattern is not None:
        pat = re.compile(contacts.activity_pattern)
        if not any(pat.fullmatch(a) for a in acts):
            col.warn(CONFIG_NAME, f"no activity of the event log matches the contact pattern "
                                  f"'{contacts.activity_pattern}'", "contacts.activity_pattern")
    return summary


def _filter_events(con, spec, col: ProblemCollector, file: str) -> dict | None:
    """Leave out the events the filter of client.yaml does not keep; what was left out, counted."""
    flt = spec.filter
    n_total = con.execute("SELECT count(*) FROM raw_events").fetchone()[0]
    cases_before = con.execute("SELECT count(DISTINCT case_id) FROM raw_events").fetchone()[0]
    by_keep = 0
    if flt.keep is not None:
        key = "tables.events.filter.keep"
        ecols = [c for c in table_columns(con, "raw_events") if c != ROW]
        try:
            check_expression(flt.keep, ecols, "the event filter (tables.events.filter.keep)")
        except ExpressionError as e:
            col.error(CONFIG_NAME, str(e), key)
            return None
        expr = f"coalesce(CAST(({flt.keep}) AS BOOLEAN), false)"
        if _expression_fails(con, "raw_events", expr, file, "the event filter", key, flt.keep, col):
            return None
        by_keep = con.execute(f"SELECT count(*) FROM raw_events WHERE NOT {expr}").fetchone()[0]
        con.execute(f"DELETE FROM raw_events WHERE NOT {expr}")
    dropped: list[str] = []
    by_pattern = 0
    if flt.leave_out:
        patterns = [re.compile(p) for p in flt.leave_out]
        acts = [r[0] for r in con.execute("SELECT DISTINCT activity FROM raw_events WHERE activity IS NOT NULL")
                .fetchall()]
        dropped = sorted(a for a in acts if any(p.fullmatch(a) for p in patterns))
        if dropped:
            where = f"activity IN ({_in_list(dropped)})"
            by_pattern = con.execute(f"SELECT count(*) FROM raw_events WHERE {where}").fetchone()[0]
            con.execute(f"DELETE FROM raw_events WHERE {where}")
        else:
            col.warn(CONFIG_NAME, f"no activity matches the patterns {flt.leave_out} of tables.events.filter.leave_out",
                     "tables.events.filter.leave_out")
    n_kept = con.execute("SELECT count(*) FROM raw_events").fetchone()[0]
    if n_kept == 0:
        col.error(file, f"the event filter of client.yaml leaves none of the {n_total:,} events", "activity")
        return None
    cases_after = con.execute("SELECT count(DISTINCT case_id) FROM raw_events").fetchone()[0]
    return {"events": int(n_total), "kept": int(n_kept), "left_out": int(n_total - n_kept),
            "left_out_by_keep": int(by_keep), "left_out_by_pattern": int(by_pattern),
            "activities_left_out": dropped, "keep": flt.keep, "leave_out": list(flt.leave_out),
            "cases_without_events": int(cases_before - cases_after)}


def _event_case_columns(con, spec, col: ProblemCollector, file: str, acts: set) -> None:
    """The case columns ``tables.events.case_columns`` declares, computed from the (kept) events
    of each case and joined to the cases table, where KPI expressions and milestones see them."""
    if not spec.case_columns:
        return
    have = table_columns(con, "raw_cases")
    clash = [k for k in spec.case_columns if k in have]
    if clash:
        col.error(CONFIG_NAME, f"event-derived case columns {clash} are also columns of the cases; give them other "
                               "names", "tables.events.case_columns")
        return
    windows, aggs, outer = [], [], []
    for i, (name, c) in enumerate(spec.case_columns.items()):
        unknown = [a for a in c.activities if a not in acts]
        if unknown:
            col.warn(CONFIG_NAME, f"case column '{name}' names activities {unknown} that never occur in the event log",
                     f"tables.events.case_columns.{name}")
        qn = quote_name(name)
        in_acts = f"activity IN ({_in_list(c.activities)})"
        if c.kind == "reached":
            aggs.append(f"bool_or({in_acts}) AS {qn}")
            outer.append(f"coalesce(d.{qn}, false) AS {qn}")
        elif c.kind == "count":
            aggs.append(f"count(*) FILTER (WHERE {in_acts}) AS {qn}")
            outer.append(f"coalesce(d.{qn}, 0) AS {qn}")
        elif c.kind in ("first", "last"):
            fn = "min" if c.kind == "first" else "max"
            aggs.append(f"{fn}(timestamp) FILTER (WHERE {in_acts}) AS {qn}")
            outer.append(f"d.{qn}")
        else:
            a, b = c.between
            start = f"__from_{i}"
            windows.append(f"min(timestamp) FILTER (WHERE activity = {_sql_str(a)}) OVER (PARTITION BY case_id) "
                           f"AS {start}")
            end = f"min(timestamp) FILTER (WHERE activity = {_sql_str(b)} AND timestamp >= {start})"
            aggs.append(f"(epoch_ms({end}) - epoch_ms(any_value({start}))) / {_UNIT_MS[c.unit]}.0 AS {qn}")
            outer.append(f"d.{qn}")
    src = f"(SELECT *{''.join(', ' + w for w in windows)} FROM raw_events)" if windows else "raw_events"
    con.execute(f"CREATE OR REPLACE TEMP TABLE event_case_columns AS SELECT case_id, {', '.join(aggs)} FROM {src} "
                "GROUP BY case_id")
    con.execute(f"CREATE OR REPLACE TABLE raw_cases AS SELECT c.*, {', '.join(outer)} FROM raw_cases c "
                f"LEFT JOIN event_case_columns d ON c.case_id = d.case_id ORDER BY c.{ROW}")
