"""Safety check for the SQL expressions that client.yaml declares.

KPI and segment expressions are DuckDB *scalar* expressions over the columns of one table. An
expression is parsed by DuckDB itself (``json_serialize_sql``) and its syntax tree is walked:
only column references to the table's own columns, constants, operators, comparisons, casts,
``CASE`` and allow-listed scalar functions pass. Subqueries, table functions, window and
aggregate functions, and functions that read the environment or settings are refused before
anything is executed.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache

import duckdb

from .errors import ExpressionError

_ALLOWED_CLASSES = {
    "COLUMN_REF",
    "CONSTANT",
    "FUNCTION",
    "OPERATOR",
    "COMPARISON",
    "CONJUNCTION",
    "CASE",
    "CAST",
    "BETWEEN",
    "TYPE",
    "COLLATE",
}
# The scalar functions an expression may call, by name: arithmetic, text, date/time, comparison
# and conversion. Anything else is refused, also what DuckDB lists as a scalar function or
# macro: functions that read the environment or settings (getenv, current_setting, version,
# ...), macros that run queries (pg_get_viewdef, format_type, ...), functions that sleep
# (sleep_ms, pg_sleep), build lists or long strings from a number (range, generate_series,
# repeat, lpad, format, bar, ...), draw random numbers, or touch sequences and files.
ALLOWED_FUNCTIONS = frozenset({
    # numbers
    "abs", "cbrt", "ceil", "ceiling", "degrees", "even", "exp", "floor", "gcd", "greatest", "isfinite",
    "isinf", "isnan", "lcm", "least", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians",
    "round", "round_even", "roundbankers", "sign", "signbit", "sqrt", "trunc", "divide", "add", "subtract",
    "multiply", "fdiv", "fmod",
    # conditionals and NULLs
    "coalesce", "ifnull", "if", "nullif", "try", "greatest_common_divisor", "least_common_multiple",
    # text
    "lower", "upper", "lcase", "ucase", "trim", "ltrim", "rtrim", "length", "strlen", "char_length",
    "character_length", "substring", "substr", "left", "right", "concat", "concat_ws", "replace",
    "contains", "starts_with", "ends_with", "prefix", "suffix", "position", "strpos", "instr", "split_part",
    "reverse", "translate", "ascii", "chr", "unicode", "nfc_normalize", "strip_accents", "like_escape",
    "ilike_escape", "regexp_matches", "regexp_full_match", "regexp_extract", "regexp_replace", "md5", "hash",
    "array_extract", "list_extract", "string_to_array_extract",
    # dates and times
    "age", "century", "date_add", "date_diff", "datediff", "date_part", "datepart", "date_sub", "datesub",
    "date_trunc", "datetrunc", "day", "dayname", "dayofmonth", "dayofweek", "dayofyear", "decade", "epoch",
    "epoch_ms", "epoch_us", "epoch_ns", "era", "hour", "isodow", "isoyear", "julian", "last_day",
    "make_date", "make_time", "make_timestamp", "microsecond", "millennium", "millisecond", "minute",
    "month", "monthname", "quarter", "second", "strftime", "strptime", "try_strptime", "time_bucket",
    "timezone", "to_timestamp", "week", "weekday", "weekofyear", "year", "yearweek",
    "to_years", "to_months", "to_weeks", "to_days", "to_hours", "to_minutes", "to_seconds",
    "to_milliseconds", "to_microseconds", "to_centuries", "to_decades", "to_millennia",
})
# operators DuckDB writes as functions (is_operator): arithmetic, text concatenation, LIKE/GLOB
_ALLOWED_OPERATORS = frozenset({
    "+", "-", "*", "/", "//", "%", "^", "**", "||", "~~", "!~~", "~~*", "!~~*", "~~~", "!~~~",
})
MAX_DEPTH = 64  # nesting of an expression: ((a + b) + c) + ... nests one level per term


_CATALOGUE_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _catalogue():
    """One in-memory DuckDB connection per process, with no tables and no data, that only
    parses expressions and lists DuckDB's own types and functions (opening one costs 15 ms)."""
    return duckdb.connect()


def _catalogue_rows(sql: str, params: list | None = None) -> list:
    with _CATALOGUE_LOCK:  # a DuckDB connection serves one thread at a time
        return _catalogue().execute(sql, params or []).fetchall()


@lru_cache(maxsize=1)
def _allowed_types() -> frozenset[str]:
    """Built-in type names: a cast such as ``ATTACH '/tmp/x.db'`` (a cast to the type ATTACH) is
    refused before DuckDB binds it."""
    rows = _catalogue_rows("SELECT DISTINCT lower(type_name) FROM duckdb_types() WHERE database_name = 'system'")
    return frozenset(r[0] for r in rows) - {"type"}


def _check_type(node, problems: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _check_type(item, problems)
        return
    if not isinstance(node, dict):
        return
    if node.get("class") == "TYPE":
        name = str(node.get("type_name", ""))
        if node.get("schema") or node.get("catalog") or name.lower() not in _allowed_types():
            problems.append(f"type '{name}' is not allowed (only built-in types)")
            return
    for value in node.get("children") or []:
        _check_type(value, problems)


@lru_cache(maxsize=1)
def _allowed_functions() -> frozenset[str]:
    """The allow list, restricted to the functions this DuckDB version has."""
    rows = _catalogue_rows(
        "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
        "WHERE function_type IN ('scalar', 'macro') AND database_name = 'system' AND schema_name = 'main'"
    )
    return ALLOWED_FUNCTIONS & frozenset(r[0] for r in rows)


def _walk(node, columns: set[str], problems: list[str], root: bool = False) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, columns, problems)
        return
    if not isinstance(node, dict):
        return
    cls = node.get("class")
    if cls is not None:
        if cls not in _ALLOWED_CLASSES:
            what = {"SUBQUERY": "a subquery", "WINDOW": "a window function", "STAR": "'*'",
                    "PARAMETER": "a parameter", "LAMBDA": "a lambda"}.get(cls, cls.lower())
            problems.append(f"{what} is not allowed")
            return
        if cls == "COLUMN_REF":
            names = node.get("column_names") or []
            name = names[-1] if names else ""
            if len(names) > 1:
                problems.append(f"qualified column '{'.'.join(names)}' is not allowed; use the plain column name")
            elif name.lower() not in {c.lower() for c in columns}:
                problems.append(f"unknown column '{name}'")
        elif cls == "FUNCTION":
            fname = str(node.get("function_name", "")).lower()
            if node.get("schema") or node.get("catalog"):
                problems.append(f"schema-qualified function '{fname}' is not allowed")
            elif node.get("is_operator"):
                if fname not in _ALLOWED_OPERATORS:
                    problems.append(f"operator '{fname}' is not allowed")
            elif fname not in _allowed_functions():
                problems.append(f"function '{fname}' is not allowed (only the scalar functions listed in "
                                "docs/data-contract.md)")
    if node.get("type") == "SELECT_NODE" and not root:
        problems.append("a subquery is not allowed")
        return
    for key, value in node.items():
        if key == "type_expr":
            _check_type(value, problems)
            continue
        _walk(value, columns, problems)


@lru_cache(maxsize=4096)
def _syntax_raw(sql: str) -> str:
    return _catalogue_rows("SELECT json_serialize_sql(?)", [sql])[0][0]


def _syntax_tree(sql: str) -> dict:
    """DuckDB's parse tree of ``sql`` (its own JSON form; ``error`` set when it does not parse),
    a fresh copy each call. A tree nested too deeply for Python's JSON reader has ``error`` set
    too (``too_deep``)."""
    try:
        return json.loads(_syntax_raw(sql))
    except RecursionError:
        return {"error": True, "too_deep": True, "error_message": f"nested more than {MAX_DEPTH} levels deep"}


def _depth(tree) -> int:
    """How deeply expression nodes nest in a parse tree (walked without recursion)."""
    deepest = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if "class" in node:
                depth += 1
                deepest = max(deepest, depth)
            stack.extend((v, depth) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth) for v in node if isinstance(v, (dict, list)))
    return deepest


def referenced_columns(expression: str) -> list[str]:
    """The column names an expression refers to, in order of first use (parsed by DuckDB).

    For an expression that does not parse, the empty list; :func:`check_expression` says why.
    """
    tree = _syntax_tree(f"SELECT ({expression}) AS __v FROM __t")
    found: list[str] = []

    def visit(node) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            if node.get("class") == "COLUMN_REF" and node.get("column_names"):
                found.append(node["column_names"][-1])
            for value in node.values():
                visit(value)

    if not tree.get("error") and _depth(tree) <= MAX_DEPTH:
        for st in tree.get("statements", []):
            visit(st.get("node", {}).get("select_list", []))
    return list(dict.fromkeys(found))


def check_expression(expression: str, columns: list[str] | set[str], what: str = "expression") -> None:
    """Raise :class:`ExpressionError` unless ``expression`` is a safe scalar expression.

    Parameters
    ----------
    expression
        The SQL text from client.yaml.
    columns
        The columns of the table the expression runs over.
    what
        Used in the message, e.g. ``"KPI 'installation.on_time'"``.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError(f"{what}: the expression is empty")
    if ";" in expression:
        raise ExpressionError(f"{what}: ';' is not allowed in an expression")
    tree = _syntax_tree(f"SELECT ({expression}) AS __v FROM __t")
    if tree.get("too_deep") or (not tree.get("error") and _depth(tree) > MAX_DEPTH):
        raise ExpressionError(f"{what}: the expression is nested more than {MAX_DEPTH} levels deep (e.g. a long "
                              "chain of '+' terms); write it shorter, e.g. with a CASE or a column of the data")
    if tree.get("error"):
        msg = tree.get("error_message", "cannot be parsed").splitlines()[0]
        raise ExpressionError(f"{what}: not a valid expression: {msg}")
    statements = tree.get("statements", [])
    if len(statements) != 1:
        raise ExpressionError(f"{what}: must be a single expression")
    node = statements[0]["node"]
    from_table = node.get("from_table", {})
    problems: list[str] = []
    if (
        node.get("type") != "SELECT_NODE"
        or len(node.get("select_list", [])) != 1
        or from_table.get("type") != "BASE_TABLE"
        or from_table.get("table_name") != "__t"
        or node.get("where_clause")
        or node.get("group_expressions")
        or node.get("having")
        or node.get("qualify")
        or node.get("modifiers")
        or node.get("cte_map", {}).get("map")
    ):
        raise ExpressionError(f"{what}: must be a single scalar expression over the table's columns")
    _walk(node["select_list"], set(columns), problems)
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ExpressionError(f"{what}: {'; '.join(unique)} in `{expression}`")
