"""Excel workbooks (.xlsx) as a table's file: typed cells, ``sheet:``, the same messages as CSV."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest

import ipm_analysis as ipm

from .conftest import write_client

HEADER = ["call_id", "called_at", "rating", "answer_seconds", "resolved", "agent"]
CALLS = [
    ["001", dt.datetime(2024, 1, 5, 10, 0), 4, 12.5, True, "a7"],
    ["002", dt.datetime(2024, 1, 6, 11, 30), None, 30, False, "a8"],
    ["003", dt.datetime(2024, 2, 7, 9, 15), 5, 7, True, "a7"],
    ["004", dt.datetime(2024, 2, 8, 16, 45), 2, 95, False, 12],
]


def _workbook(path, sheets: dict[str, list[list]]):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def _config(**responses) -> dict:
    return {
        "id": "calls", "title": "Contact centre",
        "result_kpi": {"name": "Call rating", "scale": "rating", "min": 1, "max": 5, "top_box": [4, 5],
                       "bottom_box": [1, 2]},
        "tables": {"responses": {"file": "calls.xlsx", "columns": {"response_id": "call_id", "score": "rating",
                                                                   "responded_at": "called_at"}, **responses},
                   "cases": {"from": "responses", "chain": "call"}},
        "chains": [{"id": "call", "name": "Answer a call", "owner": "Head of Contact Centre", "links": ["Agents"],
                    "kpis": [{"id": "speed", "name": "Speed of answer", "expression": "answer_seconds",
                              "unit": "seconds", "direction": "lower", "link": "Agents"},
                             {"id": "resolved", "name": "Resolved in the call", "expression": "resolved",
                              "unit": "share", "direction": "higher", "link": "Agents"}]}],
        "reporting": {"min_base_flag": 1, "min_base_suppress": 1},
    }


def _folder(tmp_path, sheets, **responses):
    folder = write_client(tmp_path / "calls", _config(**responses), responses_csv=None, cases_csv=None,
                          events_csv=None)
    _workbook(folder / "calls.xlsx", sheets)
    return folder


def test_first_sheet_typed_as_in_the_workbook(tmp_path):
    c = ipm.load_client(_folder(tmp_path, {"Calls": [HEADER, *CALLS], "Notes": [["x"], [1]]}))
    r = c.responses.set_index("response_id")
    assert list(r.index) == ["001", "003", "004"]  # ids stay text; call 002 has no rating (left out)
    assert r.loc["003", "responded_at"] == pd.Timestamp("2024-02-07 09:15")
    kp = c.case_kpis.set_index("case_id")
    assert kp.loc["001", "speed"] == 12.5 and kp.loc["004", "speed"] == 95
    assert kp["resolved"].tolist() == [1.0, 0.0, 1.0, 0.0]
    # a column with numbers and text is text (agent 12 next to a7)
    assert c.responses["agent"].tolist() == ["a7", "a7", "12"]
    assert c.responses["period"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01"),
                                              pd.Timestamp("2024-02-01")]


def test_sheet_chooses_the_sheet(tmp_path):
    other = [HEADER, ["009", dt.datetime(2024, 3, 1), 1, 300, False, "a1"]]
    c = ipm.load_client(_folder(tmp_path, {"Calls": [HEADER, *CALLS], "March": other}, sheet="March"))
    assert c.responses["response_id"].tolist() == ["009"]


def test_messages_name_file_sheet_column_and_rows(tmp_path):
    bad = [list(r) for r in CALLS]
    bad[2][2] = 9  # data row 3 (sheet row 4): outside the 1-5 scale
    bad[1][1] = "yesterday"
    problems = ipm.validate_client(_folder(tmp_path, {"Calls": [HEADER, *bad]}))
    shown = [str(p) for p in problems if p.severity == "error"]
    assert any(s.startswith("ERROR: calls.xlsx, sheet 'Calls', column 'score', rows 3:") and "'rating'" in s
               for s in shown), shown
    assert any(s.startswith("ERROR: calls.xlsx, sheet 'Calls', column 'responded_at', rows 2:") for s in shown), shown


def test_unknown_sheet_is_named(tmp_path):
    problems = ipm.validate_client(_folder(tmp_path, {"Calls": [HEADER, *CALLS]}, sheet="Calls 2024"))
    assert any("no sheet 'Calls 2024'" in p.message and "['Calls']" in p.message for p in problems)


def test_a_file_that_is_not_a_workbook(tmp_path):
    folder = write_client(tmp_path / "calls", _config(), responses_csv=None, cases_csv=None, events_csv=None)
    (folder / "calls.xlsx").write_text("call_id,rating\n1,2\n")
    problems = [str(p) for p in ipm.validate_client(folder)]
    assert any("calls.xlsx" in p and "cannot be read as an Excel workbook" in p for p in problems), problems


@pytest.mark.parametrize("table", ["responses", "cases", "events"])
def test_sheet_only_for_excel_files(tmp_path, base_config, table):
    base_config["tables"][table]["sheet"] = "Sheet1"
    problems = ipm.validate_client(write_client(tmp_path / "c", base_config))
    assert any("sheet: applies to an Excel file" in p.message for p in problems)
