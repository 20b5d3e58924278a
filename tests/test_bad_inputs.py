"""The bad-input corpus (tests/bad_inputs/cases.yaml): every broken client folder gets a clear
message naming file, column and rows, exit code 2 and no traceback; nothing in the client
folder or in an earlier report changes.

Awkward but valid inputs (mixed time zones, quoted newlines and delimiters, a byte-order mark,
Windows line ends) are checked at the end: they must load, with the right values.
"""

from __future__ import annotations

import copy
import hashlib
import io
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import ipm_analysis as ipm
from ipm_analysis import agenda, drivers, effects, journeys, kpis
from ipm_analysis.errors import AnalysisError
from ipm_analysis.modelframe import frame_from_data

from .conftest import BASE_CONFIG, CASES, EVENTS, RESPONSES, write_client

CORPUS = Path(__file__).parent / "bad_inputs" / "cases.yaml"
CASE_KEYS = {"name", "why", "set", "unset", "config_text", "files", "replace", "encode", "generate", "rename",
             "ok", "expect"}
EXPECT_KEYS = {"file", "message", "column", "rows", "severity"}


def _load_corpus() -> list[dict]:
    return yaml.safe_load(CORPUS.read_text(encoding="utf-8"))


ALL = _load_corpus()
BROKEN = [c for c in ALL if not c.get("ok")]


# -- building a case's folder ------------------------------------------------------------------

def _walk(cfg, dotted: str):
    *parents, last = dotted.split(".")
    node = cfg
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    return node, (int(last) if isinstance(node, list) else last)


def _set(cfg: dict, dotted: str, value) -> None:
    node, key = _walk(cfg, dotted)
    if isinstance(node, list) and key == len(node):
        node.append(value)
    else:
        node[key] = value


def _unset(cfg: dict, dotted: str) -> None:
    node, key = _walk(cfg, dotted)
    del node[key]


def _wide_csv(n_cols: int = 10_000, n_rows: int = 3) -> str:
    header = ",".join(f"respondent_{i}" for i in range(n_cols))
    row = ",".join("7" for _ in range(n_cols))
    return header + "\n" + "\n".join([row] * n_rows) + "\n"


def _parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pd.read_csv(io.StringIO(RESPONSES), dtype=str).to_parquet(buf)
    return buf.getvalue()


def _parquet_score(kind: str):
    """responses as Parquet with the score (column nps) of another type than a number."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def make() -> bytes:
        frame = pd.read_csv(io.StringIO(RESPONSES), dtype=str)
        n = len(frame)
        values = {"bool": pa.array([True, False] * (n // 2), pa.bool_()),
                  "list": pa.array([[9], [3], [10], [7]][:n], pa.list_(pa.int64())),
                  "struct": pa.array([{"v": 9}, {"v": 3}, {"v": 10}, {"v": 7}][:n]),
                  "date": pa.array(pd.to_datetime(["2024-01-09"] * n).date, pa.date32()),
                  "map": pa.array([[("v", 9)]] * n, pa.map_(pa.string(), pa.int64()))}[kind]
        table = pa.Table.from_pandas(frame.drop(columns="nps"), preserve_index=False)
        table = table.add_column(2, "nps", values)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()

    return make


def _parquet_duplicate_columns() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.read_csv(io.StringIO(RESPONSES), dtype=str)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.append_column("nps", pa.array(["1"] * len(frame)))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


GENERATORS = {"wide_10000": _wide_csv, "parquet_bytes": _parquet_bytes,
              "parquet_duplicate_columns": _parquet_duplicate_columns,
              **{f"parquet_score_{k}": _parquet_score(k) for k in ("bool", "list", "struct", "date", "map")}}


def build_case(case: dict, folder: Path) -> Path:
    """Write the client folder of one corpus case (the base client changed as the case says)."""
    cfg = copy.deepcopy(BASE_CONFIG)
    for path, value in (case.get("set") or {}).items():
        _set(cfg, path, copy.deepcopy(value))
    for path in case.get("unset") or []:
        _unset(cfg, path)
    contents: dict[str, str | bytes | None] = {"responses.csv": RESPONSES, "cases.csv": CASES,
                                               "events.csv": EVENTS}
    contents.update(case.get("files") or {})
    for name, pairs in (case.get("replace") or {}).items():
        text = contents[name]
        for old, new in pairs:
            assert old in text, f"case {case['name']}: {old!r} not in {name}"
            text = text.replace(old, new)
        contents[name] = text
    for name, gen in (case.get("generate") or {}).items():
        contents[name] = GENERATORS[gen]()
    contents["client.yaml"] = (case["config_text"] if "config_text" in case
                               else yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    for old, new in (case.get("rename") or {}).items():
        contents[new] = contents.pop(old)
    folder.mkdir(parents=True)
    for name, text in contents.items():
        if text is None:
            continue
        if isinstance(text, str):
            text = text.encode((case.get("encode") or {}).get(name, "utf-8"))
        (folder / name).write_bytes(text)
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under a folder with its digest (to prove that nothing was written)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _matches(problem, exp: dict) -> bool:
    if problem.file != exp["file"] or problem.severity != exp.get("severity", "error"):
        return False
    if exp.get("message") and exp["message"] not in problem.message:
        return False
    if "column" in exp and problem.column != exp["column"]:
        return False
    rows = exp.get("rows")
    return not rows or list(problem.rows[: len(rows)]) == rows


def check_problems(case: dict, problems) -> None:
    shown = "\n".join(f"  {p}" for p in problems)
    errors = [p for p in problems if p.severity == "error"]
    if case.get("ok"):
        assert not errors, f"{case['name']}: expected no errors, got\n{shown}"
    else:
        assert errors, f"{case['name']}: expected errors, got\n{shown}"
    for exp in case["expect"]:
        assert any(_matches(p, exp) for p in problems), f"{case['name']}: no problem like {exp}; got\n{shown}"
    for p in problems:  # every message says where (a file at least) and has no traceback in it
        assert p.file and p.message and "Traceback" not in p.message and 'File "' not in p.message


# -- the corpus --------------------------------------------------------------------------------

def test_corpus_is_large_and_well_formed():
    names = [c["name"] for c in ALL]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(BROKEN) >= 40
    for c in ALL:
        assert set(c) <= CASE_KEYS, f"{c['name']}: unknown keys {set(c) - CASE_KEYS}"
        assert c.get("why") and c.get("expect"), c["name"]
        for exp in c["expect"]:
            assert set(exp) <= EXPECT_KEYS and exp.get("file") and exp.get("message"), (c["name"], exp)


@pytest.mark.parametrize("case", ALL, ids=[c["name"] for c in ALL])
def test_bad_input(case, tmp_path):
    folder = build_case(case, tmp_path / case["name"])
    before = snapshot(tmp_path)
    start = time.process_time()
    problems = ipm.validate_client(folder)
    seconds = time.process_time() - start
    check_problems(case, problems)
    # CPU seconds of this process (all its threads), not wall time: a busy machine does not change them
    assert seconds < 10, f"{case['name']}: validation took {seconds:.1f} s of CPU"
    assert snapshot(tmp_path) == before, "validation must not write anything"


@pytest.mark.parametrize("name", ["score_above_scale", "row_with_extra_field", "kpi_input_column_with_text",
                                  "config_empty", "mapping_onto_existing_column"])
def test_load_client_raises_one_readable_error(tmp_path, name):
    case = next(c for c in ALL if c["name"] == name)
    folder = build_case(case, tmp_path / name)
    with pytest.raises(ipm.ValidationError) as info:
        ipm.load_client(folder)
    text = str(info.value)
    assert case["expect"][0]["message"] in text and "Traceback" not in text
    assert info.value.errors


def test_wide_csv_is_refused_fast(tmp_path):
    case = next(c for c in ALL if c["name"] == "responses_wide_10000_columns")
    folder = build_case(case, tmp_path / "wide")
    start = time.process_time()
    problems = ipm.validate_client(folder)
    assert time.process_time() - start < 2.0  # CPU seconds: the same on a busy machine
    assert [p.message for p in problems if p.severity == "error"] == [
        "10,000 columns; at most 2,000 are read"]


# -- the command line on the corpus ------------------------------------------------------------

def _ipm(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ipm_analysis.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for case in ALL:
        build_case(case, root / case["name"])
    return root


def _blocks(stdout: str) -> dict[str, str]:
    """`ipm validate a b c` output split per folder."""
    out, current = {}, None
    for line in stdout.splitlines():
        if not line.startswith("  "):  # client '<id>' (folder <absolute path>): status
            head = line.rsplit(": ", 1)[0] if ": ok (" in line or ": invalid (" in line else line
            current = head.split("(folder ", 1)[-1].removesuffix(")")
            out[current] = line + "\n"
        elif current is not None:
            out[current] += line + "\n"
    return out


def test_ipm_validate_on_the_whole_corpus(corpus_dir):
    """One `ipm validate` over every folder: exit 2, per folder its messages, no traceback."""
    before = snapshot(corpus_dir)
    folders = [corpus_dir / c["name"] for c in ALL]
    r = _ipm("validate", *folders)
    assert r.returncode == 2
    assert "Traceback" not in r.stdout + r.stderr
    blocks = _blocks(r.stdout)
    for case in ALL:
        block = blocks[str(corpus_dir / case["name"])]
        status = "ok (0 error(s)" if case.get("ok") else "invalid"
        assert status in block.splitlines()[0], block
        for exp in case["expect"]:
            assert f"{exp.get('severity', 'error').upper()}: {exp['file']}" in block, (case["name"], block)
            assert exp["message"] in block, (case["name"], block)
            if exp.get("column"):
                assert f"column '{exp['column']}'" in block, (case["name"], block)
            if exp.get("rows"):
                assert f"rows {', '.join(map(str, exp['rows']))}" in block, (case["name"], block)
    assert snapshot(corpus_dir) == before


SAMPLE = ["score_above_scale", "responses_latin1", "parquet_that_is_csv", "duplicate_case_ids",
          "kpi_link_not_in_chain", "config_invalid_yaml", "some_responses_link_to_no_case"]


@pytest.mark.parametrize("name", SAMPLE)
def test_ipm_validate_exit_code_per_folder(corpus_dir, name):
    case = next(c for c in ALL if c["name"] == name)
    r = _ipm("validate", corpus_dir / name)
    assert r.returncode == (0 if case.get("ok") else 2), r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("name", ["score_above_scale", "unknown_chain_in_cases", "journey_all_steps_unknown",
                                  "kpi_expression_unknown_column"])
def test_ipm_run_on_a_broken_client_keeps_the_old_report(corpus_dir, tmp_path, name):
    reports = tmp_path / "reports"
    old = reports / "007"  # the base client's id: an earlier good report of this client
    old.mkdir(parents=True)
    (old / "report.html").write_text("<html>the report of last month</html>", encoding="utf-8")
    (old / "run.json").write_text('{"client": "007", "fingerprint": "old"}', encoding="utf-8")
    (old / "01_overview.ipynb").write_text("{}", encoding="utf-8")
    before_report, before_data = snapshot(old), snapshot(corpus_dir / name)
    r = _ipm("run", corpus_dir / name, "--out", reports, "--serial")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "007: invalid" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert snapshot(old) == before_report
    assert snapshot(corpus_dir / name) == before_data
    assert not (old / "failed-run").exists()
    assert not [p for p in reports.iterdir() if p.name.startswith(".")], "no staging folders left"


# -- awkward but valid inputs ------------------------------------------------------------------

def test_mixed_time_zones_are_converted_to_utc(tmp_path):
    events = ("case_id,activity,timestamp,channel\n"
              "c1,Order,2023-12-01 10:00:00+01:00,web\n"       # CET
              "c1,Plan,2023-12-01 10:30:00Z,phone\n"           # UTC, 'Z'
              "c2,Order,2023-12-01T04:15:00-05:00,phone\n"     # New York, ISO 'T'
              "c3,Order,2023-12-01 10:00:00,web\n"             # no offset: taken as it is
              "c2,Plan,2023-12-02 00:30:00+05:30,web\n")       # India, half-hour offset
    client = ipm.load_client(write_client(tmp_path / "c", events_csv=events))
    ev = client.events.set_index(["case_id", "activity"])["timestamp"]
    assert ev[("c1", "Order")] == pd.Timestamp("2023-12-01 09:00:00")
    assert ev[("c1", "Plan")] == pd.Timestamp("2023-12-01 10:30:00")
    assert ev[("c2", "Order")] == pd.Timestamp("2023-12-01 09:15:00")
    assert ev[("c3", "Order")] == pd.Timestamp("2023-12-01 10:00:00")
    assert ev[("c2", "Plan")] == pd.Timestamp("2023-12-01 19:00:00")
    assert client.events["timestamp"].dt.tz is None  # one naive UTC column
    # the case order follows UTC, not the wall clock: c1's Order (09:00 UTC) before Plan
    assert client.events[client.events.case_id == "c1"]["activity"].tolist()[:2] == ["Order", "Plan"]


def test_mixed_time_zones_in_cases_and_responses(tmp_path):
    responses = RESPONSES.replace("001,2024-01-05,", "001,2024-01-05 23:30:00-02:00,")
    cases = CASES.replace("c1,installation,2023-12-01,", "c1,installation,2023-12-01T00:30:00+02:00,")
    client = ipm.load_client(write_client(tmp_path / "c", responses_csv=responses, cases_csv=cases))
    r = client.responses.set_index("response_id")
    assert r.loc["001", "responded_at"] == pd.Timestamp("2024-01-06 01:30:00")
    assert r.loc["001", "period"] == pd.Timestamp("2024-01-01")
    c = client.cases.set_index("case_id")
    assert c.loc["c1", "opened_at"] == pd.Timestamp("2023-11-30 22:30:00")


def test_quoted_newlines_and_delimiters_load_correctly(tmp_path):
    responses = ("response_id,responded_at,nps,case_id,years,comment\n"
                 '001,2024-01-05,9,c1,0.5,"fast, friendly; and\nclean"\n'
                 '002,2024-01-06,3,c2,2,"he said ""never again"", twice"\n'
                 '003,2024-02-07,10,c3,3,"line one\r\nline two\n\nline four"\n'
                 "004,2024-02-08,7,c9,1,\n")
    cases = CASES.replace("c2,installation,2023-12-02,2024-01-02,2023-12-10,2023-12-15 10:00:00,south",
                          'c2,installation,2023-12-02,2024-01-02,2023-12-10,2023-12-15 10:00:00,"south, coast\nwest"')
    client = ipm.load_client(write_client(tmp_path / "c", responses_csv=responses, cases_csv=cases))
    r = client.responses.set_index("response_id")
    assert r["comment"].tolist()[:3] == ["fast, friendly; and\nclean", 'he said "never again", twice',
                                         "line one\r\nline two\n\nline four"]
    assert pd.isna(r.loc["004", "comment"])
    assert r["score"].tolist() == [9, 3, 10, 7] and len(r) == 4
    assert client.cases.set_index("case_id").loc["c2", "region"] == "south, coast\nwest"
    assert client.case_kpis.set_index("case_id").loc["c2", "region"] == "south, coast\nwest"
    # rows after a multi-line field keep their own row numbers in messages
    bad = responses.replace("004,2024-02-08,7,", "004,2024-02-08,12,")
    problems = ipm.validate_client(write_client(tmp_path / "bad", responses_csv=bad, cases_csv=cases))
    assert any(p.column == "score" and p.rows == (4,) for p in problems), [str(p) for p in problems]


def test_byte_order_mark_and_windows_line_ends(tmp_path):
    bom = "\ufeff" + RESPONSES.replace("\n", "\r\n")
    client = ipm.load_client(write_client(tmp_path / "c", responses_csv=bom, cases_csv=CASES.replace("\n", "\r\n")))
    assert client.responses["response_id"].tolist() == ["001", "002", "003", "004"]
    assert client.cases["region"].tolist() == ["north", "south", "north"]


def test_problem_messages_name_the_clients_own_column(tmp_path):
    """A mapped column is reported under its contract name and the name in the client's file."""
    responses = RESPONSES.replace("001,2024-01-05,9,", "001,2024-01-05,11,")
    problems = ipm.validate_client(write_client(tmp_path / "c", responses_csv=responses))
    p = next(p for p in problems if p.column == "score")
    assert "'nps'" in p.message and p.rows == (1,)


def test_rows_starting_with_a_hash_are_data_not_comments(tmp_path):
    """A CSV sniffer may take '#...' rows for comments and drop them; the loader must not."""
    cases = CASES.replace("c3,installation", "#3,installation")
    events = EVENTS.replace("c3,Order", "#3,Order")
    client = ipm.load_client(write_client(tmp_path / "c", cases_csv=cases, events_csv=events))
    assert client.cases["case_id"].tolist() == ["c1", "c2", "#3"]
    assert "#3" in set(client.events["case_id"])


# -- degenerate analysis input: a clear finding, not a crash or a silent wrong number ----------

def _survey(n=80, seed=0, **override):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"on_time": rng.integers(0, 2, n).astype(float), "lead": rng.normal(5, 2, n)})
    d["score"] = np.clip(np.round(6 + 2 * d["on_time"] - 0.3 * d["lead"] + rng.normal(0, 1.5, n)), 0, 10)
    for col, value in override.items():
        d[col] = value(d) if callable(value) else value
    return d


def _frame(d, drivers_=("on_time", "lead"), **kw):
    return frame_from_data(d, list(drivers_), "nps", **kw)


def test_one_response():
    res = kpis.nps([9])
    assert (res.n, res.value) == (1, 100.0)
    table = kpis.result_kpi_by(pd.DataFrame({"score": [9]}), "score", {"type": "nps"})
    assert table.empty and table.attrs["n_suppressed"] == 1  # below the minimum base: not shown
    r = kpis.rating([4], 1, 5, [5], [1, 2])
    assert np.isnan(r.mean_ci_low) and np.isnan(r.sd)  # no interval from one answer, not a fake one
    with pytest.raises(AnalysisError, match="too few rows"):
        drivers.relative_importance(_survey(1), "score", ["on_time", "lead"])
    with pytest.raises(AnalysisError, match="no driver left"):
        effects.driver_effects(_frame(_survey(1)))
    ag = agenda.improvement_agenda(_frame(_survey(1)), n_boot=20)
    assert ag.actions.empty and not ag.reliable and "no driver left" in " ".join(ag.chain_notes.values())


def test_every_score_identical():
    res = kpis.nps([7] * 40)
    assert res.value == 0 and res.passives == 1.0 and res.se == 0.0
    with pytest.raises(AnalysisError, match="zero variance"):
        drivers.relative_importance(_survey(score=8.0), "score", ["on_time", "lead"])
    with pytest.raises(AnalysisError, match="at least two different scores"):
        effects.fit_ordinal(_frame(_survey(score=8.0)))
    ag = agenda.improvement_agenda(_frame(_survey(score=8.0)), n_boot=20)
    assert ag.actions.empty and not ag.reliable
    assert "zero variance" in " ".join(ag.chain_notes.values())


def test_every_score_identical_reads_plainly():
    with pytest.raises(AnalysisError, match="same score .* nothing to explain"):
        effects.driver_effects(_frame(_survey(score=8.0)))
    ag = agenda.improvement_agenda(_frame(_survey(score=8.0)), n_boot=20)
    assert "inf" not in ag.sentence and "inf" not in " ".join(ag.chain_notes.values())


def test_driver_with_zero_variance():
    with pytest.raises(AnalysisError, match=r"\['lead'\] have zero variance"):
        drivers.relative_importance(_survey(lead=3.0), "score", ["on_time", "lead"])
    mf = _frame(_survey(lead=3.0))
    assert mf.drivers == ("on_time",) and "lead" in mf.dropped_drivers
    assert "lead" in mf.policy  # the reader is told why it is missing
    dm = effects.driver_effects(mf)
    assert dm.effects["driver"].tolist() == ["on_time"]


def test_two_perfectly_collinear_drivers_split_their_importance():
    d = _survey(lead=lambda d: 2 * d["on_time"] + 1)
    res = drivers.relative_importance(d, "score", ["on_time", "lead"])
    assert res["share"].tolist() == pytest.approx([0.5, 0.5])
    assert res["importance"].sum() == pytest.approx(res.attrs["r2"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        col = effects.collinearity(_frame(d))
    assert col.warning and "lead" in col.warning


@pytest.mark.parametrize("other", ["complement", "multiple"])
def test_two_perfectly_collinear_drivers_in_the_agenda(other):
    d = _survey(lead=(lambda d: 1 - d["on_time"]) if other == "complement" else (lambda d: 2 * d["on_time"]))
    with pytest.raises(AnalysisError, match="perfectly collinear"):
        effects.driver_effects(_frame(d))
    with pytest.raises(AnalysisError, match="perfectly collinear"):
        effects.fit_ordinal(_frame(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ag = agenda.improvement_agenda(_frame(d), n_boot=20)
    assert ag.actions.empty and not ag.reliable
    assert "perfectly collinear" in " ".join(ag.chain_notes.values())


def test_a_driver_with_one_response_away_from_the_rest():
    # one failed case among 25: it alone fixes the on_time coefficient, HC3 errors do not exist
    d = _survey(n=25, on_time=lambda d: np.r_[0.0, np.ones(len(d) - 1)])
    with pytest.raises(AnalysisError, match=r"HC3.*1 response\(s\) alone determine.*on_time"):
        effects.fit_ols(_frame(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ag = agenda.improvement_agenda(_frame(d), n_boot=20)
    assert ag.actions.empty and "alone determine" in " ".join(ag.chain_notes.values())
    ok = _survey(n=25, on_time=lambda d: np.r_[0.0, 0.0, np.ones(len(d) - 2)])
    assert np.isfinite(effects.fit_ols(_frame(ok)).bse).all()  # two such responses are enough


def test_more_drivers_than_responses():
    rng = np.random.default_rng(1)
    d = pd.DataFrame(rng.normal(size=(6, 8)), columns=[f"x{i}" for i in range(8)])
    d["score"] = rng.integers(0, 11, 6).astype(float)
    with pytest.raises(AnalysisError, match="too few rows"):
        drivers.relative_importance(d, "score", [f"x{i}" for i in range(8)])
    mf = _frame(d, [f"x{i}" for i in range(8)])
    with pytest.raises(AnalysisError, match="more responses than parameters"):
        effects.driver_effects(mf)
    ag = agenda.improvement_agenda(mf, n_boot=20)
    assert ag.actions.empty and "more responses than parameters" in " ".join(ag.chain_notes.values())


def test_segment_of_size_one():
    d = _survey(60)
    d["region"] = ["north"] * 59 + ["south"]
    table = kpis.result_kpi_by(d, "score", {"type": "nps"}, by="region")
    assert table["region"].tolist() == ["north"] and table.attrs["n_suppressed"] == 1
    mf = _frame(d, segments=["region"])
    out = effects.segment_drivers(mf, "region")
    assert "south" in out.attrs["not_analysed"] and "below" in out.attrs["not_analysed"]["south"]
    assert set(out["level"]) <= {"north"}


def test_segment_of_size_one_is_not_compared():
    d = _survey(60)
    d["region"] = ["north"] * 59 + ["south"]
    mf = _frame(d, segments=["region"], min_base_suppress=1, min_base_flag=2)
    out = effects.segment_difference(mf, "region")  # 'south' passes the base but cannot have a slope
    assert out["p_value"].isna().all() and all(s == {} for s in out["slopes"])
    assert all("cannot be compared" in r for r in out["reading"])


def test_segment_level_without_spread_in_a_driver_is_left_out():
    d = _survey(120, seed=3)
    d["region"] = ["north"] * 40 + ["south"] * 40 + ["east"] * 40
    d.loc[d["region"] == "east", "on_time"] = 1.0  # on-time does not vary in the east
    out = effects.segment_difference(_frame(d, segments=["region"]), "region").set_index("driver")
    assert set(out.loc["on_time", "slopes"]) == {"north", "south"} and out.loc["on_time", "df"] == 1
    assert "east" in out.loc["on_time", "reading"]
    assert set(out.loc["lead", "slopes"]) == {"east", "north", "south"}


def test_change_between_two_tiny_groups_is_not_certain():
    with pytest.raises(AnalysisError, match="at least 10 answers in each sample .*; got 1 before and 1 after"):
        kpis.nps_change([9], [3])  # one promoter before, one detractor after
    with pytest.raises(AnalysisError, match="at least 10"):
        kpis.share_change([1] * 30, [0] * 9)
    res = kpis.nps_change([9] * 10, [3] * 10)  # no spread in either group
    assert 0 < res.p_value < 0.001 and res.ci_low < res.ci_high and -200 <= res.ci_low
    assert "without spread" in res.test
    # the adjusted standard error: shares of 11 promoters, 1 passive, 1 detractor of 13
    pro, det = 11 / 13, 1 / 13
    assert res.se == pytest.approx(100 * np.sqrt(2 * (pro + det - (pro - det) ** 2) / 13))
    sh = kpis.share_change([1] * 10, [0] * 10)
    assert 0 < sh.p_value and -1 <= sh.ci_low < sh.ci_high
    assert sh.se == pytest.approx(np.sqrt(2 * (11 / 12) * (1 / 12) / 12))
    m = kpis.mean_change([4, 4], [5, 5])  # no spread: Welch's t is undefined, not p = 0
    assert np.isnan(m.p_value) and np.isnan(m.ci_low)
    # with spread the usual statistics are kept (no adjustment)
    assert "without spread" not in kpis.nps_change([9, 3, 7] * 5, [3, 3, 9] * 5).test


def test_chain_with_no_events(tmp_path):
    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["chains"].append({"id": "repair", "name": "Repair", "owner": "Service", "links": ["Service"],
                          "kpis": [{"id": "fixed", "name": "Fixed", "expression": "installed_at IS NOT NULL",
                                    "unit": "share", "direction": "higher", "link": "Service"}]})
    folder = write_client(tmp_path / "c", cfg, cases_csv=CASES + "c4,repair,2024-01-03,2024-01-05,,,north\n")
    problems = ipm.validate_client(folder)
    assert any(p.severity == "warning" and "chain 'repair' has an event" in p.message for p in problems)
    client = ipm.load_client(folder)
    ev = journeys.chain_events(client, "repair")
    assert ev.empty
    assert journeys.variants(ev).empty and journeys.conformance(ev, ["Report", "Visit"]).empty
    f = journeys.funnel(ev, ["Report", "Visit"])
    assert f["n_cases"].tolist() == [0, 0] and f["share"].isna().all()  # NaN, not a made-up 0 %
    assert journeys.chain_journey_features(client, "repair").empty
    cost = journeys.journey_cost(client, "repair")
    assert cost["difference"] is None and cost["by_fit"].empty
