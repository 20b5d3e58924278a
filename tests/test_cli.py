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


# -- reliability: one bad client, duplicate ids, an unwritable --out, Ctrl-C ---------------------

def _probe_notebooks(folder, code="import ipm_analysis as ipm\nclient = ipm.load_client(client_dir)\nprint(client.id)\n"):
    from .test_batch import _notebook

    _notebook(folder, "01_probe.ipynb", code)
    return folder


def test_a_crashing_client_never_stops_the_batch(tmp_path, base_config):
    """A KPI of 660 terms (1,319 characters) used to raise RecursionError and end `ipm run` after
    the good client, without last_run.json or index.html. Now: the good report, the bad client's
    message, the run summary and the index; exit code 1."""
    import json

    good = write_client(tmp_path / "clients" / "good")
    base_config["id"] = "deep"
    base_config["chains"][0]["kpis"][1]["expression"] = "+".join(["1"] * 660)
    bad = write_client(tmp_path / "clients" / "deep", base_config)
    nbs = _probe_notebooks(tmp_path / "notebooks")
    reports = tmp_path / "reports"
    r = ipm("run", good, bad, "--out", reports, "--notebooks", nbs, "--serial")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "007: ok" in r.stdout and "deep: invalid" in r.stdout and "nested more than 64 levels" in r.stdout
    assert (reports / "007" / "report.html").is_file()
    assert {x["client"]: x["status"] for x in json.loads((reports / "last_run.json").read_text())} == \
        {"007": "ok", "deep": "invalid"}
    assert (reports / "index.html").is_file()


def test_two_folders_with_one_id_are_refused_before_anything_runs(tmp_path):
    a = write_client(tmp_path / "clients" / "a")
    b = write_client(tmp_path / "clients" / "b")  # the same id, 007
    reports = tmp_path / "reports"
    r = ipm("run", a, b, "--out", reports, "--notebooks", _probe_notebooks(tmp_path / "notebooks"), "--serial")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "same id ('007' in" in r.stderr and str(a.resolve()) in r.stderr and str(b.resolve()) in r.stderr
    assert "Traceback" not in r.stderr
    assert not reports.exists() or not any(reports.rglob("*.html")), "nothing may run"


def test_an_out_folder_that_cannot_be_created_is_refused_before_running(tmp_path, tiny_client):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = ipm("run", tiny_client, "--out", blocker / "reports", "--serial")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cannot write the reports folder" in r.stderr and "Traceback" not in r.stdout + r.stderr
    assert "running" not in r.stdout, "no notebook may run"


def test_a_real_read_only_out_folder_is_refused_before_running(tmp_path, tiny_client):
    """A folder the process really cannot write: a read-only directory (as a user), or /proc,
    which refuses new folders even to root."""
    import os
    from pathlib import Path

    if os.geteuid() != 0:
        parent = tmp_path / "read-only"
        parent.mkdir()
        parent.chmod(0o555)
        out = parent / "reports"
    else:
        assert Path("/proc/self").exists(), "needs Linux's /proc when run as root"
        out = Path("/proc") / "ipm-reports"
    try:
        r = ipm("run", tiny_client, "--out", out, "--serial")
    finally:
        if os.geteuid() != 0:
            (tmp_path / "read-only").chmod(0o755)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cannot write the reports folder" in r.stderr and "Traceback" not in r.stdout + r.stderr


def test_ctrl_c_while_a_notebook_runs_says_interrupted_and_exits_130(tmp_path, tiny_client):
    import os
    import signal
    import time

    marker = tmp_path / "notebook-started"
    nbs = _probe_notebooks(tmp_path / "notebooks", (
        "import os, pathlib, time\n"
        "pathlib.Path(os.environ['IPM_TEST_MARKER']).touch()\n"
        "time.sleep(300)\n"))
    env = {**os.environ, "IPM_TEST_MARKER": str(marker)}
    # output to files, and the wait is for the command itself: a pipe stays open as long as any process
    # holding it lives, so waiting on pipes would wait for the kernel too (asserted separately below)
    with open(tmp_path / "out.txt", "w") as fo, open(tmp_path / "err.txt", "w") as fe:
        p = subprocess.Popen([sys.executable, "-m", "ipm_analysis.cli", "run", tiny_client, "--out",
                              tmp_path / "r", "--notebooks", nbs, "--serial"], stdout=fo, stderr=fe, env=env,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # the notebook is running
            assert p.poll() is None and time.monotonic() < deadline, "the notebook did not start"
            time.sleep(0.1)
        os.killpg(p.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        p.wait(timeout=120)
        # no process of the run (the kernel) outlives the command
        deadline = time.monotonic() + 30
        while True:
            try:
                os.killpg(p.pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "a process of the run outlived the command"
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert p.returncode == 130, out + err
    assert err.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in out + err and "DeadKernelError" not in err


def test_ctrl_c_ends_the_command_even_where_the_interrupt_is_swallowed(tmp_path):
    """An event loop that catches the KeyboardInterrupt and waits on must not keep the command
    alive: the guard ends it with the same message and exit code."""
    import os
    import signal
    import time

    ready = tmp_path / "ready"
    code = ("import pathlib, signal, time\n"
            "from ipm_analysis import cli\n"
            "cli.INTERRUPT_GRACE_SECONDS = 1.0\n"
            "signal.signal(signal.SIGINT, cli._on_interrupt)\n"
            f"pathlib.Path({str(ready)!r}).touch()\n"
            "while True:\n"
            "    try:\n"
            "        time.sleep(0.1)\n"
            "    except KeyboardInterrupt:\n"
            "        pass  # swallowed, as an executor's event loop may do\n")
    p = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert p.poll() is None and time.monotonic() < deadline, "the child did not start"
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130 and err.strip().splitlines()[-1] == "interrupted"


def test_pdf_without_chromium_says_so_and_keeps_the_html_report(tmp_path):
    """`ipm run --pdf` where no Chromium can be found: one readable error naming what to install,
    no traceback, exit code 1, and the HTML report written all the same."""
    import os

    client = write_client(tmp_path / "clients" / "good")
    nbs = _probe_notebooks(tmp_path / "notebooks")
    reports = tmp_path / "reports"
    env = {**os.environ, "IPM_CHROMIUM": str(tmp_path / "no-such-browser")}
    r = subprocess.run([sys.executable, "-m", "ipm_analysis.cli", "run", str(client), "--out", str(reports),
                        "--notebooks", str(nbs), "--serial", "--pdf"], capture_output=True, text=True, timeout=300,
                       env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "report.pdf not written: no Chromium found" in r.stderr and "apt-get install chromium" in r.stderr
    assert (reports / "007" / "report.html").is_file() and not (reports / "007" / "report.pdf").exists()
