"""Loading, linking and validating client folders (ipm_analysis.data)."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

import ipm_analysis as ipm
from ipm_analysis.errors import ValidationError

from .conftest import CASES, EVENTS, REAL_LOGS, RESPONSES, write_client


def _errors(folder):
    return [p for p in ipm.validate_client(folder) if p.severity == "error"]


def _one_error(folder):
    errs = _errors(folder)
    assert len(errs) >= 1, "expected a validation error"
    return errs


def test_load_tiny_client(tiny_client):
    c = ipm.load_client(tiny_client)
    assert c.id == "007"
    # ids stay text: 001 is not the number 1
    assert c.responses["response_id"].tolist() == ["001", "002", "003", "004"]
    # 0.5 years is a number, not rounded into a whole number
    assert c.responses["years"].tolist() == [0.5, 2.0, 3.0, 1.0]
    assert c.responses["tenure"].tolist() == ["new", "existing", "existing", "existing"]
    kp = c.case_kpis.set_index("case_id")
    assert kp.loc["c1", "on_time"] == 1.0 and kp.loc["c2", "on_time"] == 0.0
    assert pd.isna(kp.loc["c3", "on_time"])  # not installed yet: the KPI does not apply
    assert kp.loc["c1", "lead_time"] == 8.0
    assert kp.loc["c2", "region"] == "south"
    # the unlinked response keeps its score but has no case
    linked = c.linked.set_index("response_id")
    assert not linked.loc["004", "linked"] and linked.loc["001", "linked"]
    assert c.linkage_rate == pytest.approx(0.75)
    assert any("link to no case" in p.message for p in c.warnings)


def test_timestamps_with_offsets_become_utc_and_milestones_become_events(tiny_client):
    c = ipm.load_client(tiny_client)
    ev = c.events
    c1 = ev[ev.case_id == "c1"]
    assert c1["activity"].tolist() == ["Order", "Plan", "Install"]
    assert c1["timestamp"].iloc[0] == pd.Timestamp("2023-12-01 09:00:00")  # +01:00 -> UTC
    assert ev[ev.case_id == "c3"]["activity"].tolist() == ["Order"]  # no install timestamp, no event


def test_months_of_cases_and_responses(tiny_client):
    c = ipm.load_client(tiny_client)
    assert c.case_kpis.set_index("case_id").loc["c3", "period"] == pd.Timestamp("2024-02-01")
    assert c.responses.set_index("response_id").loc["004", "period"] == pd.Timestamp("2024-02-01")


def test_link_by_customer_within_window(tmp_path, base_config):
    base_config["linkage"] = {"by": "customer_id", "window_days": 30}
    responses = ("response_id,responded_at,nps,customer_id,years\n"
                 "r1,2024-01-05,9,k1,1\n"    # k1's latest case closed 2024-01-01: c1
                 "r2,2024-03-20,3,k1,1\n"    # c3 closed 2024-02-01, 48 days before: outside the window
                 "r3,2024-01-10,8,k2,1\n")   # k2's case c2 closed 2024-01-02
    cases = ("case_id,chain,customer_id,opened_at,closed_at,promised_at,installed_at,region\n"
             "c1,installation,k1,2023-12-01,2024-01-01,2023-12-10,2023-12-09,north\n"
             "c2,installation,k2,2023-12-02,2024-01-02,2023-12-10,2023-12-15,south\n"
             "c3,installation,k1,2024-01-02,2024-02-01,2024-01-10,2024-01-09,north\n")
    c = ipm.load_client(write_client(tmp_path / "c", base_config, responses_csv=responses, cases_csv=cases))
    got = c.linked.set_index("response_id")["case_id"]
    assert got["r1"] == "c1" and got["r3"] == "c2" and pd.isna(got["r2"])


def test_client_without_survey(tmp_path, base_config):
    del base_config["tables"]["responses"]
    del base_config["result_kpi"]
    base_config["segments"] = [s for s in base_config["segments"] if s["table"] == "cases"]
    c = ipm.load_client(write_client(tmp_path / "c", base_config, responses_csv=None))
    assert c.responses is None and c.linked is None
    assert len(c.case_kpis) == 3


def test_cases_derived_from_real_event_log(tmp_path):
    """The public helpdesk log: no cases file, no survey; client.yaml alone maps it."""
    cfg = {
        "id": "helpdesk", "title": "Helpdesk (public log)",
        "tables": {"events": {"file": "helpdesk.csv", "columns": {
            "case_id": "case:concept:name", "activity": "concept:name", "timestamp": "time:timestamp"}},
            "cases": {"from": "events", "chain": "ticket"}},
        "chains": [{"id": "ticket", "name": "Resolve a ticket", "owner": "Head of Support",
                    "links": ["Support"], "kpis": [
                        {"id": "resolved_14d", "name": "Closed within 14 days",
                         "expression": "date_diff('hour', opened_at, closed_at) <= 14 * 24",
                         "unit": "share", "direction": "higher", "target": 0.8, "link": "Support"},
                        {"id": "events", "name": "Steps per ticket", "expression": "n_events",
                         "unit": "count", "direction": "lower", "target": 4, "link": "Support"}],
                    "journey": {"steps": ["Assign seriousness", "Take in charge ticket", "Resolve ticket",
                                          "Closed"]}}],
        "segments": [{"id": "seriousness", "name": "Seriousness", "table": "cases", "column": "seriousness"}],
    }
    folder = tmp_path / "helpdesk"
    write_client(folder, cfg, responses_csv=None, cases_csv=None, events_csv=None)
    (folder / "helpdesk.csv").write_bytes((REAL_LOGS / "helpdesk.csv").read_bytes())
    c = ipm.load_client(folder)
    assert len(c.cases) == 4580 and len(c.events) == 21348
    assert c.cases["n_events"].sum() == 21348
    # case columns are exactly the log's columns with one value per case (checked with pandas)
    raw = pd.read_csv(folder / "helpdesk.csv", dtype=str)
    constant = raw.drop(columns=["concept:name", "time:timestamp"]).groupby("case:concept:name").nunique().le(1).all()
    expected = set(constant[constant].index)
    assert expected == {"seriousness", "responsible_section", "support_section"}
    assert expected <= set(c.cases.columns) and "customer" not in c.cases.columns
    assert c.case_kpis["resolved_14d"].between(0, 1).all()


def test_one_file_as_responses_and_cases(tmp_path, base_config):
    base_config["tables"] = {"responses": {"file": "survey.csv"}, "cases": {"from": "responses"}}
    base_config["chains"][0]["journey"] = None
    base_config["segments"] = []
    survey = ("response_id,responded_at,score,opened_at,promised_at,installed_at\n"
              "1,2024-01-05,9,2023-12-01,2023-12-10,2023-12-09\n"
              "2,2024-01-06,3,2023-12-02,2023-12-10,2023-12-15\n")
    c = ipm.load_client(write_client(tmp_path / "c", base_config, **{"survey.csv": survey}, responses_csv=None,
                                     cases_csv=None, events_csv=None))
    assert c.linked["on_time"].tolist() == [1.0, 0.0]


def test_rating_and_label_scales(tmp_path, base_config):
    base_config["result_kpi"] = {"name": "Satisfaction", "scale": "labels",
                                 "labels": ["unhappy", "neutral", "happy"], "top_box": ["happy"],
                                 "bottom_box": ["unhappy"]}
    responses = RESPONSES.replace(",9,", ",happy,").replace(",3,", ",unhappy,").replace(",10,", ",neutral,") \
        .replace(",7,", ",happy,")
    c = ipm.load_client(write_client(tmp_path / "c", base_config, responses_csv=responses))
    assert c.responses["score"].tolist() == [3.0, 1.0, 2.0, 3.0]


# --- validation: every bad input gives its message with file, column and rows ----------------

@pytest.mark.parametrize(
    "kind, content, column, rows, words",
    [
        ("responses_csv", RESPONSES.replace("001,2024-01-05,9", "001,2024-01-05,11"), "score", (1,), "outside"),
        ("responses_csv", RESPONSES.replace("002,2024-01-06,3", "002,2024-01-06,abc"), "score", (2,), "not numbers"),
        ("responses_csv", RESPONSES.replace("002,", "001,"), "response_id", (1, 2), "unique"),
        ("responses_csv", RESPONSES.replace("2024-02-07", "07/02/2024x"), "responded_at", (3,), "date/time"),
        ("responses_csv", RESPONSES.replace("nps", "recommend"), "nps", (), "not found"),
        ("cases_csv", CASES.replace("c2,installation", "c2,repairs"), "chain", (2,), "unknown chain"),
        ("cases_csv", CASES.replace("c3,", "c1,"), "case_id", (1, 3), "unique"),
        ("cases_csv", CASES.replace("opened_at", "start"), "opened_at", (), "missing"),
        ("events_csv", EVENTS.replace("2023-12-02 10:00:00,phone", "yesterday,phone"), "timestamp", (3,), "date/time"),
    ],
)
def test_bad_input_messages(tmp_path, kind, content, column, rows, words):
    folder = write_client(tmp_path / "c", **{kind: content})
    errs = _one_error(folder)
    hit = [e for e in errs if e.column == column and words in e.message]
    assert hit, f"no error on column {column!r} mentioning {words!r}: {[str(e) for e in errs]}"
    assert hit[0].file == kind.replace("_csv", ".csv")
    assert tuple(hit[0].rows[: len(rows)]) == rows


def test_empty_and_header_only_files(tmp_path):
    errs = _one_error(write_client(tmp_path / "a", responses_csv=""))
    assert any("empty" in e.message and e.file == "responses.csv" for e in errs)
    errs = _one_error(write_client(tmp_path / "b", cases_csv="case_id,chain,opened_at\n"))
    assert any("no data rows" in e.message and e.file == "cases.csv" for e in errs)


def test_non_utf8_file(tmp_path):
    bad = RESPONSES.replace("years", "jaar_ü").encode("latin-1")
    errs = _one_error(write_client(tmp_path / "c", responses_csv=bad))
    assert any("UTF-8" in e.message and e.file == "responses.csv" for e in errs)


def test_quoted_fields_with_commas_and_newlines_are_read(tmp_path):
    responses = RESPONSES.replace("001,2024-01-05,9,c1,0.5", '001,2024-01-05,9,c1,0.5')
    responses = responses.replace("response_id,responded_at,nps,case_id,years",
                                  "response_id,responded_at,nps,case_id,years,comment")
    lines = responses.strip().split("\n")
    lines = [lines[0]] + [ln + ',"fine, thanks\nsecond line"' for ln in lines[1:]]
    c = ipm.load_client(write_client(tmp_path / "c", responses_csv="\n".join(lines) + "\n"))
    assert c.responses["comment"].iloc[0] == "fine, thanks\nsecond line"


def test_config_errors_are_reported_by_key(tmp_path, base_config):
    base_config["chains"][0]["kpis"][0]["taget"] = 0.9
    base_config["chains"][0]["kpis"][1]["unit"] = "weeks"
    errs = _one_error(write_client(tmp_path / "c", base_config))
    text = "\n".join(str(e) for e in errs)
    assert "chains.0.kpis.0.taget: unknown key" in text
    assert "chains.0.kpis.1.unit" in text and "share" in text  # says what is allowed
    assert len(errs) == 2


def test_kpi_owned_by_a_link_outside_the_chain(tmp_path, base_config):
    base_config["chains"][0]["kpis"][1]["link"] = "Finance"
    errs = _one_error(write_client(tmp_path / "c", base_config))
    assert any("'Finance'" in e.message and "lead_time" in e.message for e in errs)


@pytest.mark.parametrize("expression, words", [
    ("read_text('/etc/passwd')", "not allowed"),
    ("(SELECT 1)", "subquery"),
    ("getenv('HOME')", "not allowed"),
    ("installed_at <= due_date", "unknown column 'due_date'"),
    ("1) FROM cases; COPY cases TO 'x.csv'; SELECT (1", "not allowed"),
])
def test_unsafe_or_wrong_expressions_are_refused(tmp_path, base_config, expression, words):
    base_config["chains"][0]["kpis"][0]["expression"] = expression
    errs = _one_error(write_client(tmp_path / "c", base_config))
    assert any(words in e.message and "on_time" in e.message for e in errs), [str(e) for e in errs]


def test_every_problem_in_one_pass(tmp_path):
    responses = RESPONSES.replace("001,2024-01-05,9", "001,2024-01-05,11").replace("2024-02-07", "nope")
    errs = _one_error(write_client(tmp_path / "c", responses_csv=responses))
    assert {e.column for e in errs} >= {"score", "responded_at"}


def test_load_raises_with_all_problems_and_leaves_files_untouched(tmp_path):
    folder = write_client(tmp_path / "c", responses_csv=RESPONSES.replace(",9,", ",12,"))
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    with pytest.raises(ValidationError) as info:
        ipm.load_client(folder)
    assert "responses.csv, column 'score', rows 1" in str(info.value)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert before == after


def test_unlinked_share_is_a_warning_not_an_error(tiny_client):
    problems = ipm.validate_client(tiny_client)
    assert not [p for p in problems if p.severity == "error"]
    assert any(p.severity == "warning" and "25%" in p.message for p in problems)


def test_kpi_id_may_equal_a_case_column(tmp_path, base_config):
    base_config["chains"][0]["kpis"][0]["id"] = "region"
    base_config["chains"][0]["kpis"][0]["expression"] = "installed_at::DATE <= promised_at::DATE"
    base_config["segments"] = []
    c = ipm.load_client(write_client(tmp_path / "c", base_config))
    assert c.case_kpis.set_index("case_id").loc["c2", "region"] == 0.0


# -- one segment group of a client ------------------------------------------------------------------


def test_in_segment_on_the_responses_table_keeps_the_groups_answers_and_their_cases():
    from .conftest import FIXTURE_CLIENT

    c = ipm.load_client(FIXTURE_CLIENT)
    raw = pd.read_csv(FIXTURE_CLIENT / "responses.csv", dtype={"response_id": str, "case_id": str})
    new_ids = set(raw.loc[raw["customer_years"] < 1, "response_id"])  # the segment's expression, by hand
    s = c.in_segment("tenure", "new")
    assert set(s.responses["response_id"]) == new_ids and set(s.linked["response_id"]) == new_ids
    assert set(s.case_kpis["case_id"]) == set(s.linked["case_id"].dropna())
    assert set(s.events["case_id"]) <= set(s.case_kpis["case_id"]) and len(s.events) > 0
    assert len(c.responses) == 2000  # the client itself is untouched
    groups = c.segment_groups("tenure")
    assert groups.to_dict() == {"existing": 2000 - len(new_ids), "new": len(new_ids)}


def test_in_segment_on_the_cases_table(tiny_client):
    c = ipm.load_client(tiny_client)
    s = c.in_segment("region", "north")
    assert sorted(s.cases["case_id"]) == ["c1", "c3"] and sorted(s.case_kpis["case_id"]) == ["c1", "c3"]
    assert sorted(s.responses["response_id"]) == ["001", "003"]
    assert set(s.events["case_id"]) == {"c1", "c3"}
    assert c.segment_groups("region").to_dict() == {"north": 2, "south": 1}


def test_in_segment_says_what_is_wrong(tiny_client):
    from ipm_analysis.errors import AnalysisError

    c = ipm.load_client(tiny_client)
    with pytest.raises(AnalysisError, match=r"segment 'nope' is not declared.*\['tenure', 'region'\]"):
        c.in_segment("nope", "x")
    with pytest.raises(AnalysisError, match="no response or case .* group 'west' of segment 'region'"):
        c.in_segment("region", "west")


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop")  # inside DuckDB's own .df()
@pytest.mark.parametrize("sql", ["SELECT * FROM t ORDER BY n DESC", "SELECT * FROM t WHERE false",
                                 "SELECT case_id, n, case_id FROM t ORDER BY n"])
def test_frames_from_duckdb_equal_duckdbs_own_conversion(sql):
    """The loader's fast route from DuckDB to pandas gives exactly what ``.df()`` gives: the
    same values, order and dtypes, text as Arrow-backed ``str``, with missing values, dates,
    zoned timestamps, nullable integers and booleans, no rows at all, and a repeated name."""
    import duckdb

    from ipm_analysis.data import query_frame

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute("""
        CREATE TABLE t AS SELECT
            i AS n,
            CASE WHEN i % 3 = 0 THEN NULL ELSE 'case-' || i END AS case_id,
            CASE WHEN i % 2 = 0 THEN 'é' || i ELSE '' END AS note,
            CAST(NULL AS VARCHAR) AS empty_text,
            CASE WHEN i % 4 = 0 THEN NULL ELSE i END AS maybe_int,
            CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END AS flag,
            DATE '2025-01-01' + CAST(i AS INTEGER) AS day,
            TIMESTAMPTZ '2025-01-01 08:00:00+00' + i * INTERVAL 1 HOUR AS at,
            TIMESTAMP '2025-01-01 08:00:00' + i * INTERVAL 1 MINUTE AS local_at,
            i / 7 AS ratio
        FROM range(1000) r(i)
    """)
    fast, slow = query_frame(con, sql), con.execute(sql).df()
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert [type(fast[c].array) for c in fast] == [type(slow[c].array) for c in slow]
    assert list(fast.columns) == list(slow.columns)
