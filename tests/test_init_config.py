"""``ipm init``: a draft client.yaml that validates (or fails only where it says 'fill in')."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

import ipm_analysis as ipm
from ipm_analysis.demo import DEMO_CLIENTS, write_demo_clients
from ipm_analysis.errors import IpmError
from ipm_analysis.init_config import draft_config, write_draft

from .conftest import FIXTURE_CLIENT, REAL_LOGS

CONTRACT_KEYS = {"response_id", "responded_at", "score", "case_id", "chain", "opened_at", "closed_at", "activity",
                 "timestamp"}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_small")
    write_demo_clients(root, size="small")
    return root


def _copy_data(src, dst):
    """The client's data files only, as a new user would have them (no client.yaml)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.suffix in (".csv", ".parquet", ".xlsx"):
            shutil.copy(f, dst / f.name)
    return dst


def _errors(folder):
    return [p for p in ipm.validate_client(folder) if p.severity == "error"]


@pytest.mark.parametrize("client", DEMO_CLIENTS)
def test_draft_for_a_demo_client_validates_and_maps_as_its_own_config(client, demo_root, tmp_path):
    folder = _copy_data(demo_root / client, tmp_path / client)
    write_draft(folder)
    assert _errors(folder) == []
    # the mapping of the contract columns agrees with the demo's own client.yaml (written by hand)
    draft = yaml.safe_load((folder / "client.yaml").read_text())
    truth = yaml.safe_load((demo_root / client / "client.yaml").read_text())
    for table, spec in truth["tables"].items():
        mine = draft["tables"].get(table, {})
        assert mine.get("file") == spec.get("file")
        want = {k: v for k, v in spec.get("columns", {}).items() if k in CONTRACT_KEYS}
        got = mine.get("columns", {})
        assert {k: got.get(k, k) for k in want} == want, (table, got)
    assert draft["result_kpi"]["scale"] == truth["result_kpi"]["scale"]
    if truth["result_kpi"]["scale"] == "labels":
        assert draft["result_kpi"]["labels"] == truth["result_kpi"]["labels"]
    assert sorted(c["id"] for c in draft["chains"]) == sorted(c["id"] for c in truth["chains"])


def test_draft_for_the_fixture_validates(tmp_path):
    folder = _copy_data(FIXTURE_CLIENT, tmp_path / "fixture")
    write_draft(folder)
    assert _errors(folder) == []
    c = ipm.load_client(folder)
    # the fixture's promised/installed dates give the on-time KPI its own config defines
    kp = {k.expression for k in c.config.kpis}
    assert "installed_at::DATE <= promised_at::DATE" in kp


@pytest.mark.parametrize("log", ["helpdesk", "receipt"])
def test_draft_for_a_real_event_log_validates(log, tmp_path):
    folder = tmp_path / log
    folder.mkdir()
    shutil.copy(REAL_LOGS / f"{log}.csv", folder / f"{log}.csv")
    write_draft(folder)
    assert _errors(folder) == []
    draft = yaml.safe_load((folder / "client.yaml").read_text())
    assert draft["tables"]["events"]["columns"] == {"case_id": "case:concept:name", "activity": "concept:name",
                                                    "timestamp": "time:timestamp"}
    c = ipm.load_client(folder)
    import pandas as pd

    raw = pd.read_csv(folder / f"{log}.csv")
    assert len(c.cases) == raw["case:concept:name"].nunique()


def test_without_candidates_the_draft_fails_only_where_it_says_fill_in(tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "tickets.csv").write_text("ticket_id,created,team\nt1,2024-01-01,a\nt2,2024-01-02,b\nt3,2024-01-03,a\n")
    text = draft_config(folder)
    write_draft(folder)
    errors = _errors(folder)
    assert errors, "a KPI the data do not suggest must be filled in"
    lines = text.splitlines()
    for e in errors:
        kpi = e.column.split(".")[3]  # chains.<chain>.kpis.<kpi>.expression
        line = next(ln for ln in lines if ln.strip().startswith(f"- id: {kpi}"))
        assert "# fill in" in line, (str(e), line)


def test_init_never_overwrites(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "data.csv").write_text("case_id,opened_at\nc1,2024-01-01\n")
    (folder / "client.yaml").write_text("id: mine\n")
    with pytest.raises(IpmError, match="never overwrites"):
        write_draft(folder)
    assert (folder / "client.yaml").read_text() == "id: mine\n"
    r = subprocess.run([sys.executable, "-m", "ipm_analysis.cli", "init", str(folder)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "never overwrites" in r.stderr and "Traceback" not in r.stderr


def test_init_on_a_folder_without_data(tmp_path):
    with pytest.raises(IpmError, match="no CSV, Parquet or Excel"):
        write_draft(tmp_path)


@pytest.mark.parametrize("slice_", ["airline_survey", "call_centre", "telecom_churn"])
def test_draft_for_a_real_export_validates(slice_, tmp_path):
    from .conftest import ROOT

    src = ROOT / "tests" / "data" / "real" / slice_
    folder = _copy_data(src, tmp_path / slice_)
    write_draft(folder)
    assert _errors(folder) == []
    draft = yaml.safe_load((folder / "client.yaml").read_text())
    truth = yaml.safe_load((src / "client.yaml").read_text())
    # the score column and its scale are those the hand-written client.yaml uses
    assert draft["tables"]["responses"]["columns"]["score"] == truth["tables"]["responses"]["columns"]["score"]
    assert draft["result_kpi"]["scale"] == truth["result_kpi"]["scale"]
    if truth["result_kpi"]["scale"] == "labels":
        assert draft["result_kpi"]["labels"] == truth["result_kpi"]["labels"]


def test_draft_from_a_parquet_event_log(tmp_path):
    import pandas as pd

    folder = tmp_path / "log"
    folder.mkdir()
    log = pd.read_csv(REAL_LOGS / "helpdesk.csv").head(3000)
    log["time:timestamp"] = pd.to_datetime(log["time:timestamp"])
    log.to_parquet(folder / "helpdesk.parquet")
    write_draft(folder)
    assert _errors(folder) == []
    c = ipm.load_client(folder)
    assert len(c.events) == 3000 and len(c.cases) == log["case:concept:name"].nunique()
