"""Shared test fixtures: a small valid client folder that each test can break in one place."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CLIENT = ROOT / "tests" / "fixtures" / "clients" / "fixture"
REAL_LOGS = ROOT / "tests" / "data" / "real_logs"

BASE_CONFIG = {
    "id": "007",
    "title": "Tiny test client",
    "result_kpi": {"name": "NPS", "scale": "nps"},
    "tables": {
        "responses": {"file": "responses.csv", "columns": {"score": "nps"}},
        "cases": {"file": "cases.csv"},
        "events": {"file": "events.csv"},
    },
    "linkage": {"by": "case_id"},
    "chains": [
        {
            "id": "installation",
            "name": "Install",
            "owner": "Head of Service",
            "links": ["Planning", "Service"],
            "kpis": [
                {"id": "on_time", "name": "On time", "expression": "installed_at::DATE <= promised_at::DATE",
                 "unit": "share", "direction": "higher", "target": 0.9, "link": "Planning"},
                {"id": "lead_time", "name": "Lead time", "expression": "date_diff('day', opened_at, installed_at)",
                 "unit": "days", "direction": "lower", "target": 10, "link": "Service"},
            ],
            "journey": {"steps": ["Order", "Plan", "Install"], "milestones": {"Install": "installed_at"}},
        }
    ],
    "segments": [
        {"id": "tenure", "name": "Tenure", "table": "responses",
         "expression": "CASE WHEN years < 1 THEN 'new' ELSE 'existing' END"},
        {"id": "region", "name": "Region", "table": "cases", "column": "region"},
    ],
}

RESPONSES = """response_id,responded_at,nps,case_id,years
001,2024-01-05,9,c1,0.5
002,2024-01-06,3,c2,2
003,2024-02-07,10,c3,3
004,2024-02-08,7,c9,1
"""

CASES = """case_id,chain,opened_at,closed_at,promised_at,installed_at,region
c1,installation,2023-12-01,2024-01-01,2023-12-10,2023-12-09,north
c2,installation,2023-12-02,2024-01-02,2023-12-10,2023-12-15 10:00:00,south
c3,installation,2024-01-02,2024-02-01,2024-01-10,,north
"""

EVENTS = """case_id,activity,timestamp,channel
c1,Order,2023-12-01 10:00:00+01:00,web
c1,Plan,2023-12-02 10:00:00+01:00,phone
c2,Order,2023-12-02 10:00:00,phone
c3,Order,2024-01-02 10:00:00,web
"""


def write_client(folder: Path, config: dict | None = None, **files: str | bytes | None) -> Path:
    """Write a client folder; ``files`` override responses.csv/cases.csv/events.csv (None: omit)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = copy.deepcopy(BASE_CONFIG) if config is None else config
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    contents = {"responses.csv": RESPONSES, "cases.csv": CASES, "events.csv": EVENTS}
    for name, text in files.items():
        contents[name.replace("_csv", ".csv")] = text
    for name, text in contents.items():
        if text is None:
            continue
        p = folder / name
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def base_config() -> dict:
    return copy.deepcopy(BASE_CONFIG)


@pytest.fixture
def tiny_client(tmp_path) -> Path:
    return write_client(tmp_path / "client")


# --------------------------------------------------------------------------------------------
# lanes: `pytest -m "not slow"` is the development lane (under 2 minutes); the README's command
# runs everything. A test that executes report notebooks is `notebook`, one that drives Chromium is
# `browser`, one that starts a Dask cluster is `dask`; each of those is also `slow`.
# --------------------------------------------------------------------------------------------

_MODULE_MARKS = {
    "test_browser.py": ("browser", "notebook"),
    "test_explorer_lab.py": ("browser",),
    "test_batch_dask.py": ("dask", "notebook"),
    "test_batch.py": ("notebook",),
    "test_faults.py": ("notebook",),
    "test_real_logs_report.py": ("notebook",),
    "test_base_rules_in_reports.py": ("notebook",),
    "test_demo_truth.py": ("slow",),  # default-size demo clients
    "test_action_truth.py": ("slow",),  # nine small demo clients, their actions reviewed (about 20 s)
    # many seconds in all, checked in the full suite: property tests (hypothesis), the schema walk
    # (two client loads per key), drafts of whole folders, the report texts of whole clients, and the
    # command line in subprocesses
    "test_properties.py": ("slow",),
    "test_schema_walk.py": ("slow",),
    "test_init_config.py": ("slow",),
    "test_report_texts.py": ("slow",),
    "test_cli.py": ("slow",),
}
_FIXTURE_MARKS = {"hostile_report": ("notebook",),
                  "dutch": ("notebook",)}  # one client run end to end in Dutch (about 40 s)
_TEST_MARKS = {"test_a_wheel_install_carries_the_notebooks_and_runs_a_client": ("notebook",),
               # 400 simulated interrupted time series (about 9 s); a 4,000-answer demo client (about 4 s)
               "test_its_interval_keeps_its_level_on_a_year_of_months": ("slow",),
               "test_the_demo_contact_difference_recovers_its_truth": ("slow",)}
_HEAVY = {"notebook", "browser", "dask"}

# The suite runs on two workers, a test file at a time (pyproject.toml: ``-n 2 --dist loadfile``, in
# the order collected). The files that take longest go first, longest first, so that the two workers
# finish together instead of one running the browser tests alone at the end. The order is by the
# time each file took in a whole quiet run (``pytest -n 0 --durations=0``); a file not listed keeps
# its place after these.
_LONGEST_FIRST = ["test_browser.py", "test_batch.py", "test_real_exports.py", "test_null_client.py",
                  "test_batch_dask.py", "test_hostile.py", "test_bad_inputs.py", "test_packaging.py",
                  "test_real_logs_report.py", "test_explorer_lab.py", "test_demo_truth.py",
                  "test_dutch_report.py", "test_base_rules_in_reports.py", "test_demo.py", "test_cli.py",
                  "test_properties.py", "test_action_truth.py"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order
    for item in items:
        names = set(_MODULE_MARKS.get(item.path.name, ())) | set(_TEST_MARKS.get(getattr(item, "originalname", item.name), ()))
        if item.path.suffix == ".ipynb":  # nbval runs the notebook
            names.add("notebook")
        for fixture in getattr(item, "fixturenames", ()):
            names.update(_FIXTURE_MARKS.get(fixture, ()))
        if "ipm_run" in item.name or "chromium" in item.name:
            names.add("notebook" if "ipm_run" in item.name else "browser")
        if "ipm_validate" in item.name:  # the command line over the whole bad-input corpus
            names.add("slow")
        names |= {m.name for m in item.iter_markers()} & _HEAVY
        if names & _HEAVY:
            names.add("slow")
        for name in sorted(names):
            item.add_marker(getattr(pytest.mark, name))
