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


class _Address(str):
    """The scheduler's address; ``worker_group``: the process group of its worker processes."""

    worker_group: int = 0


def _start_cluster(tmp_path, worker_args=("--nworkers", "1")):
    if DASK is None:
        pytest.skip("the dask command is not installed")
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        address = _Address(_scheduler_address(sched_file, procs[0]))
        procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1", *worker_args,
                                       "--no-dashboard", "--local-directory", str(tmp_path / "worker")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        address.worker_group = procs[-1].pid
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


@pytest.fixture
def dask_cluster(tmp_path):
    yield from _start_cluster(tmp_path)


@pytest.fixture
def dask_cluster_without_nanny(tmp_path):
    """One worker process and no nanny: a worker that dies is not replaced."""
    yield from _start_cluster(tmp_path, ("--no-nanny", "--nthreads", "2"))


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
    for cid in ("007", "b-client"):  # the kernel's parent: a process of the external worker
        parent = int((reports / cid / "pid.txt").read_text())
        assert os.getpgid(parent) == dask_cluster.worker_group, "the job did not run on the external worker"
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


def test_losing_the_last_worker_ends_the_batch_with_a_message(tmp_path, dask_cluster_without_nanny, base_config):
    """The only worker dies while running a client: the batch does not wait forever. After the
    worker timeout the unfinished client fails with a message naming the scheduler; the client
    that finished keeps its report; last_run.json and index.html are written; exit code 1."""
    nbs = tmp_path / "notebooks"
    _notebook(nbs, "01_probe.ipynb", (
        "import os, pathlib, signal, time, ipm_analysis as ipm\n"
        "client = ipm.load_client(client_dir)\n"
        "flag = pathlib.Path(client_dir, 'KILL_WORKER')\n"
        "if flag.exists():  # once the other client's report is written, the worker dies\n"
        "    deadline = time.monotonic() + 240\n"
        "    while not pathlib.Path(flag.read_text()).exists() and time.monotonic() < deadline:\n"
        "        time.sleep(0.1)\n"
        "    os.kill(os.getppid(), signal.SIGKILL)  # the worker process itself\n"
        "print('client', client.id)\n"))
    good = write_client(tmp_path / "clients" / "good")
    base_config["id"] = "victim"
    victim = write_client(tmp_path / "clients" / "victim", base_config)
    reports = tmp_path / "reports"
    (victim / "KILL_WORKER").write_text(str(reports / "007" / "report.html"))
    start = time.monotonic()
    r = _ipm("run", good, victim, "--out", reports, "--notebooks", nbs, "--scheduler", dask_cluster_without_nanny,
             "--worker-timeout", "5")
    assert r.returncode == 1, r.stdout + r.stderr
    assert time.monotonic() - start < 300
    assert "007: ok" in r.stdout and "victim: failed" in r.stdout, r.stdout
    assert f"the Dask scheduler at {dask_cluster_without_nanny} had no worker for 5 s" in r.stdout, r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert (reports / "007" / "report.html").is_file()
    summary = {x["client"]: x["status"] for x in json.loads((reports / "last_run.json").read_text())}
    assert summary == {"007": "ok", "victim": "failed"}
    assert (reports / "index.html").is_file()
