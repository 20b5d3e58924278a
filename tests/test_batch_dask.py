"""A real Dask scheduler and worker as separate processes on 127.0.0.1, driven through `ipm run`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import write_client
from .test_batch import _notebook

DASK = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")


def _scheduler_address(sched_file, proc, timeout: float = 120) -> str:
    """The scheduler's address once its file is completely written (a half-written file is not yet ready)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(sched_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Dask scheduler did not write its address")
            time.sleep(0.2)


@pytest.fixture
def dask_cluster(tmp_path):
    if DASK is None:
        pytest.skip("the dask command is not installed")
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        address = _scheduler_address(sched_file, procs[0])
        procs.append(subprocess.Popen([DASK, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard", "--local-directory", str(tmp_path / "worker")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        yield address
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _ipm(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ipm_analysis.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


def test_two_clients_through_an_external_scheduler(tmp_path, dask_cluster, base_config):
    nbs = tmp_path / "notebooks"
    _notebook(nbs, "01_probe.ipynb", (
        "import os, pathlib, ipm_analysis as ipm\n"
        "client = ipm.load_client(client_dir)\n"
        "pathlib.Path(output_dir, 'pid.txt').write_text(str(os.getppid()))\n"
        "print('client', client.id)\n"))
    a = write_client(tmp_path / "clients" / "a")
    base_config["id"] = "b-client"
    b = write_client(tmp_path / "clients" / "b", base_config)
    reports = tmp_path / "reports"
    r = _ipm("run", a, b, "--out", reports, "--notebooks", nbs, "--scheduler", dask_cluster)
    assert r.returncode == 0, r.stdout + r.stderr
    for cid in ("007", "b-client"):
        assert (reports / cid / "report.html").is_file()
        assert (reports / cid / "01_probe.ipynb").is_file()
    # the jobs ran in the worker's process tree, not in the process that ran `ipm run`
    assert "2/2 done" in r.stdout
    assert (reports / "index.html").is_file() and (reports / "portfolio.json").is_file()
    # unchanged inputs: the second run skips both; --force runs them again
    r2 = _ipm("run", a, b, "--out", reports, "--notebooks", nbs, "--scheduler", dask_cluster)
    assert r2.returncode == 0 and r2.stdout.count(": skipped") == 2, r2.stdout
    r3 = _ipm("run", a, "--out", reports, "--notebooks", nbs, "--scheduler", dask_cluster, "--force")
    assert r3.returncode == 0 and ": ok" in r3.stdout


def test_a_killed_job_fails_alone_and_old_report_stays(tmp_path, dask_cluster, base_config):
    nbs = tmp_path / "notebooks"
    _notebook(nbs, "01_probe.ipynb", (
        "import os, pathlib, ipm_analysis as ipm\n"
        "client = ipm.load_client(client_dir)\n"
        "if pathlib.Path(client_dir, 'KILL').exists():\n"
        "    os._exit(9)  # the kernel dies mid-run\n"
        "print('client', client.id)\n"))
    good = write_client(tmp_path / "clients" / "good")
    base_config["id"] = "victim"
    victim = write_client(tmp_path / "clients" / "victim", base_config)
    reports = tmp_path / "reports"
    assert _ipm("run", victim, "--out", reports, "--notebooks", nbs, "--scheduler", dask_cluster).returncode == 0
    old = (reports / "victim" / "report.html").read_bytes()
    (victim / "KILL").write_text("")
    r = _ipm("run", victim, good, "--out", reports, "--notebooks", nbs, "--scheduler", dask_cluster)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "victim: failed" in r.stdout and "007: ok" in r.stdout
    assert (reports / "victim" / "report.html").read_bytes() == old
    assert (reports / "victim" / "failed-run" / "error.txt").is_file()
    assert (reports / "007" / "report.html").is_file()
    # a re-run once the cause is gone completes the missing one
    (victim / "KILL").unlink()
    r = _ipm("run", victim, good, "--out", reports, "--notebooks", nbs, "--scheduler", dask_cluster)
    assert r.returncode == 0 and "victim: ok" in r.stdout and "007: skipped" in r.stdout, r.stdout
