"""The ipm command: messages, never a traceback, exit codes."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from .conftest import RESPONSES, write_client


def ipm(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ipm_analysis.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_validate_ok_client(tiny_client):
    r = ipm("validate", tiny_client)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok (0 error(s), 1 warning(s))" in r.stdout
    assert "link to no case" in r.stdout


def test_validate_dot_names_the_client_id_and_folder(tiny_client):
    r = ipm("validate", ".", cwd=tiny_client)
    assert r.returncode == 0, r.stdout + r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith(f"client '007' (folder {tiny_client.resolve()}): ok"), first


def test_validate_broken_client_lists_every_problem_and_exits_2(tmp_path):
    responses = RESPONSES.replace("001,2024-01-05,9", "001,2024-01-05,11").replace("2024-02-07", "soon")
    folder = write_client(tmp_path / "c", responses_csv=responses,
                          cases_csv="case_id,chain,opened_at\nc1,installation,2024-01-01\nc1,installation,2024-01-02\n")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    r = ipm("validate", folder)
    assert r.returncode == 2
    out = r.stdout
    assert "responses.csv, column 'score', rows 1" in out
    assert "responses.csv, column 'responded_at', rows 3" in out
    assert "Traceback" not in out + r.stderr
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert before == after, "validation must not touch the raw data"


def test_run_refuses_missing_folder_without_traceback(tmp_path):
    r = ipm("run", tmp_path / "nope", "--out", tmp_path / "reports")
    assert r.returncode == 2
    assert "not a client folder" in r.stderr
    assert "Traceback" not in r.stderr


def test_usage_error_exits_2(tmp_path):
    r = ipm("run", "--out", tmp_path / "reports")
    assert r.returncode == 2
    assert "--demo" in r.stderr + r.stdout
