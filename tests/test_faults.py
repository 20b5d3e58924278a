"""Faults while writing reports: a full disk, a failing rename, a crash between renames, a lost
Dask worker. The old report stays intact, no staging folder is left, the run says it failed, and
a later run completes what is missing.

No notebook runs here: jobs are replaced by their results (:class:`ipm_analysis.batch.JobResult`),
so these tests take a second. A job killed mid-run on a real Dask worker is covered in
tests/test_batch_dask.py.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
from types import SimpleNamespace

import pytest

from ipm_analysis import batch
from ipm_analysis.batch import schedule, write
from ipm_analysis.batch import FAILED_DIR, REPORT_HTML, JobResult, write_result

from .conftest import write_client
from .test_bad_inputs import snapshot


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _ok(client_id="007", text="new"):
    return JobResult(client_id, "ok", files={"01_overview.ipynb": b'{"cells": []}',
                                             REPORT_HTML: f"<html>{text} report</html>".encode(),
                                             "summary.json": b'{"overview": {}}'}, seconds=1.0)


@pytest.fixture
def old_report(tmp_path):
    """reports/007 from an earlier good run."""
    reports = tmp_path / "reports"
    client = write_client(tmp_path / "clients" / "c")
    run = write_result(_ok(text="old"), client, reports, "fp-old")
    assert run.status == "ok"
    return reports, client, snapshot(reports / "007")


def _fail_writes_under(monkeypatch, marker: str):
    """Path.write_bytes / write_text raise ENOSPC for paths whose name contains ``marker``."""
    real_bytes, real_text = pathlib.Path.write_bytes, pathlib.Path.write_text

    def write_bytes(self, data):
        if marker in str(self):
            _enospc()
        return real_bytes(self, data)

    def write_text(self, data, *args, **kwargs):
        if marker in str(self):
            _enospc()
        return real_text(self, data, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)
    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def _no_leftovers(reports):
    assert not [p.name for p in reports.iterdir() if p.name.startswith(".")], "staging or old folders left behind"


def test_full_disk_while_staging_keeps_the_old_report(old_report, monkeypatch):
    reports, client, before = old_report
    _fail_writes_under(monkeypatch, ".staging-")
    run = write_result(_ok(), client, reports, "fp-new")
    assert run.status == "failed" and "No space left on device" in run.message
    assert run.report_dir is None
    assert snapshot(reports / "007") == before
    _no_leftovers(reports)
    # the disk has room again: the next run replaces the report
    monkeypatch.undo()
    assert write_result(_ok(), client, reports, "fp-new").status == "ok"
    assert (reports / "007" / REPORT_HTML).read_text() == "<html>new report</html>"
    assert json.loads((reports / "007" / "run.json").read_text())["fingerprint"] == "fp-new"
    _no_leftovers(reports)


def test_full_disk_on_the_very_first_run_leaves_nothing(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    _fail_writes_under(monkeypatch, ".staging-")
    run = write_result(_ok(), write_client(tmp_path / "c"), reports, "fp")
    assert run.status == "failed"
    assert not (reports / "007").exists()
    _no_leftovers(reports)


@pytest.mark.parametrize("which", ["final->old", "staging->final"])
def test_failing_rename_keeps_the_old_report(old_report, monkeypatch, which):
    reports, client, before = old_report
    real = os.replace

    def replace(src, dst):
        src, dst = str(src), str(dst)
        if (which == "final->old" and ".old-" in dst) or (which == "staging->final" and ".staging-" in src):
            _enospc()
        return real(src, dst)

    monkeypatch.setattr(write.os, "replace", replace)
    run = write_result(_ok(), client, reports, "fp-new")
    assert run.status == "failed" and "could not write the report" in run.message
    assert snapshot(reports / "007") == before
    _no_leftovers(reports)


def test_full_disk_while_keeping_a_failed_run(old_report, monkeypatch):
    reports, client, before = old_report
    failed = JobResult("007", "failed", "cell 3 raised ValueError: boom",
                       files={"01_overview.ipynb": b'{"cells": []}'}, detail="Traceback ...")
    _fail_writes_under(monkeypatch, ".failed-")
    run = write_result(failed, client, reports, "fp-new")
    assert run.status == "failed" and run.message.startswith("cell 3")
    assert snapshot(reports / "007") == before
    assert not (reports / "007" / FAILED_DIR).exists()
    _no_leftovers(reports)


def test_full_disk_on_an_atomic_file_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "last_run.json"
    target.write_text('{"old": true}')
    _fail_writes_under(monkeypatch, ".last_run.json.tmp-")
    with pytest.raises(OSError):
        batch.atomic_write_text(target, '{"new": true}')
    assert target.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["last_run.json"]


def test_a_crash_between_the_two_renames_is_undone_by_the_next_run(old_report, monkeypatch):
    reports, client, before = old_report
    real = os.replace

    def replace(src, dst):
        if ".staging-" in str(src):
            raise KeyboardInterrupt  # the process dies here: old report moved aside, new one not in
        return real(src, dst)

    monkeypatch.setattr(write.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_result(_ok(), client, reports, "fp-new")
    monkeypatch.undo()
    # what a dead process leaves: no reports/007, the old report aside, the staging folder
    aside = list(reports.glob(".007.old-*"))
    assert not (reports / "007").exists() and len(aside) == 1
    for path in list(reports.glob(".007.*")):  # make them look like a dead process's (pid 2**22 + 1)
        path.rename(path.with_name(path.name.rsplit("-", 1)[0] + f"-{2**22 + 1}"))
    # the next run of anything for this client first puts the old report back
    batch.recover_interrupted(reports / "007")
    assert snapshot(reports / "007") == before and not list(reports.glob(".007.*"))


def test_a_failed_run_after_a_crash_keeps_the_restored_report(old_report):
    reports, client, before = old_report
    os.replace(reports / "007", reports / f".007.old-{2**22 + 1}")  # as left by a dead process
    (reports / f".007.staging-{2**22 + 1}").mkdir()
    run = write_result(JobResult("007", "failed", "boom", files={}), client, reports, "fp-new")
    assert run.status == "failed"
    after = snapshot(reports / "007")
    assert {k: v for k, v in after.items() if not k.startswith(FAILED_DIR)} == before
    assert not list(reports.glob(".007.*"))


def test_a_live_processs_staging_folder_is_left_alone(old_report):
    reports, client, _ = old_report
    mine = reports / f".007.staging-{os.getpid()}"
    mine.mkdir()
    batch.recover_interrupted(reports / "007")
    assert mine.is_dir()


# -- a batch: one client's fault does not stop the others; a re-run completes ------------------

@pytest.fixture
def two_clients(tmp_path, base_config):
    a = write_client(tmp_path / "clients" / "a")
    base_config["id"] = "other"
    b = write_client(tmp_path / "clients" / "b", base_config)
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    (nbs / "01_probe.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    return a, b, nbs, tmp_path / "reports"


def test_full_disk_for_one_client_in_a_batch(two_clients, monkeypatch):
    a, b, nbs, reports = two_clients
    monkeypatch.setattr(schedule, "execute_job", lambda d, nb, t: _ok("other" if d.endswith("/b") else "007"))
    assert [r.status for r in batch.run_batch([a, b], reports, nbs, serial=True)] == ["ok", "ok"]
    before = snapshot(reports / "other")
    _fail_writes_under(monkeypatch, ".other.staging-")
    (b / "changed.txt").write_text("new data")  # a changed input: the client runs again
    (a / "changed.txt").write_text("new data")
    runs = batch.run_batch([a, b], reports, nbs, serial=True)
    assert {r.client_id: r.status for r in runs} == {"007": "ok", "other": "failed"}
    assert snapshot(reports / "other") == before
    summary = {r["client"]: r["status"] for r in json.loads((reports / "last_run.json").read_text())}
    assert summary == {"007": "ok", "other": "failed"}
    _no_leftovers(reports)
    monkeypatch.undo()  # the disk has room again
    monkeypatch.setattr(schedule, "execute_job", lambda d, nb, t: _ok("other" if d.endswith("/b") else "007"))
    runs = batch.run_batch([a, b], reports, nbs, serial=True)
    assert {r.client_id: r.status for r in runs} == {"007": "skipped", "other": "ok"}


class _Future:
    def __init__(self, key, outcome, client_dir=None):
        self.key, self._outcome, self.client_dir = key, outcome, client_dir

    def result(self):
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome

    def done(self):
        return True

    def cancel(self):
        pass


class _LosingClient:
    """Stands in for a Dask client whose worker dies while running the client 'other'.

    A client is submitted as prepare, notebook and assemble tasks; the assemble task's result
    is the client's: here it raises for 'other' as Dask does when a task it depends on was
    lost with its worker.
    """

    def submit(self, fn, *args, pure=False, key=None, priority=0):
        first = args[0]
        client_dir = first if isinstance(first, str) else (first[0] if isinstance(first, list) else first).client_dir
        return _Future(key, self.outcome(client_dir) if fn is batch.assemble_job else None, client_dir)

    def outcome(self, client_dir):
        from distributed.scheduler import KilledWorker

        if client_dir.endswith("/b"):
            return KilledWorker("ipm-01_overview", SimpleNamespace(address="tcp://127.0.0.1:40000"), 3)
        return _ok("007")

    def close(self):
        pass


def test_a_lost_dask_worker_fails_its_client_only(two_clients, monkeypatch):
    a, b, nbs, reports = two_clients
    monkeypatch.setattr(schedule, "execute_job", lambda d, nb, t: _ok("other" if d.endswith("/b") else "007"))
    batch.run_batch([b], reports, nbs, serial=True)
    before = snapshot(reports / "other")
    (b / "changed.txt").write_text("new data")
    monkeypatch.setattr(schedule, "_dask_client", lambda scheduler, n: (_LosingClient(), None))
    monkeypatch.setattr(schedule, "_completed_while_workers", lambda client, futures, timeout: iter(futures))
    runs = batch.run_batch([a, b], reports, nbs)
    status = {r.client_id: (r.status, r.message) for r in runs}
    assert status["007"][0] == "ok"
    assert status["other"][0] == "failed" and "did not finish" in status["other"][1]
    after = snapshot(reports / "other")
    assert {k: v for k, v in after.items() if not k.startswith(FAILED_DIR)} == before  # the old report
    assert "died while running it" in (reports / "other" / FAILED_DIR / "error.txt").read_text()
    assert (reports / "007" / REPORT_HTML).exists()
    # the worker is back: a re-run completes the missing one and skips the done one
    monkeypatch.setattr(schedule, "_dask_client", lambda scheduler, n: (_Healthy(), None))
    runs = batch.run_batch([a, b], reports, nbs)
    assert {r.client_id: r.status for r in runs} == {"007": "skipped", "other": "ok"}


class _Healthy(_LosingClient):
    def outcome(self, client_dir):
        return _ok("other" if client_dir.endswith("/b") else "007")


def test_full_disk_for_the_run_summary_is_a_message(two_clients, monkeypatch, caplog):
    a, _, nbs, reports = two_clients
    monkeypatch.setattr(schedule, "execute_job", lambda d, nb, t: _ok("007"))
    _fail_writes_under(monkeypatch, str(reports))
    runs = batch.run_batch([a], reports, nbs, serial=True)  # no OSError out of the batch
    assert runs[0].status == "failed" and "No space left" in runs[0].message
    assert "could not write" in caplog.text and "last_run.json" in caplog.text
    assert not (reports / "last_run.json").exists() and not list(reports.glob(".*tmp*"))


def test_full_disk_for_the_portfolio_index_is_a_message_in_ipm_run(two_clients, monkeypatch, capsys):
    from ipm_analysis import cli, portfolio

    a, _, nbs, reports = two_clients
    monkeypatch.setattr(schedule, "execute_job", lambda d, nb, t: _ok("007"))
    monkeypatch.setattr(portfolio, "write_portfolio", lambda out_root: _enospc())
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", str(a), "--out", str(reports), "--notebooks", str(nbs), "--serial"])
    out = capsys.readouterr()
    assert exit_.value.code == 1 and "Traceback" not in out.out + out.err
    assert "portfolio index: not written" in out.out and "No space left" in out.out
    assert (reports / "007" / REPORT_HTML).read_bytes() == b"<html>new report</html>"  # the report stands
