"""The batch: which clients run (skipping unchanged ones, refusing one id for two folders), on
a local or remote Dask cluster or in this process, longest first; each result written as it
comes in."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..config import check_client_id, load_config
from ..errors import IpmError
from .engines import _MALLOC_TRIM
from .execute import _short_error, report_notebooks
from .jobs import assemble_job, execute_job, notebook_job, prepare_job
from .write import ClientRun, JobResult, _up_to_date, atomic_write_text, fingerprint, recover_interrupted, write_result

SCHEDULER_ENV = "IPM_SCHEDULER"

log = logging.getLogger(__name__)


# -- the batch ----------------------------------------------------------------------------------

@dataclass
class _Pending:
    client_dir: Path
    digest: str
    future: object = None  # the client's last task: its JobResult
    futures: list = field(default_factory=list)
    started: float = 0.0


def _input_bytes(client_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(client_dir).rglob("*") if p.is_file())


def _priorities(todo: list[_Pending]) -> list[int]:
    """Bigger clients (more input bytes) first, in the given order among equals.

    The longest jobs start first and the small ones fill in at the end, so the batch does not
    end with one worker busy on a big client while the others idle (longest job first)."""
    size = [_input_bytes(p.client_dir) for p in todo]
    order = sorted(range(len(todo)), key=lambda i: (-size[i], i))
    rank = {i: r for r, i in enumerate(order)}
    return [len(todo) - rank[i] for i in range(len(todo))]


def _submit_client(client, p: _Pending, notebooks: list[tuple[str, str]], timeout: int | None,
                   priority: int = 0) -> list:
    """Submit one client as tasks: prepare, one per notebook, assemble (last; its JobResult).

    The notebook tasks are independent, so the clients' notebooks spread evenly over the
    workers. Clients with a higher ``priority`` run first (see :func:`_priorities`); within a
    client, the notebooks that took longest when last executed start first (see
    :func:`recorded_seconds`), so a batch ends on short tasks rather than one long one.
    """
    # keys "<kind>-<number>-<client>-<digest>": Dask groups task durations by the part before
    # the number, so it learns what each notebook costs across clients and balances by it
    tag = f"{time.time_ns()}-{p.client_dir.name}-{p.digest[:12]}"
    slots = len(notebooks) + 2
    base = priority * slots
    longest_first = sorted(range(len(notebooks)), key=lambda i: -recorded_seconds(notebooks[i][1]))
    rank = {i: r for r, i in enumerate(longest_first)}
    prep = client.submit(prepare_job, str(p.client_dir), key=f"ipm_prepare-{tag}", pure=False,
                         priority=base + slots - 1)
    nbs = [client.submit(notebook_job, prep, name, text, timeout, key=f"ipm_{_task_kind(name)}-{tag}", pure=False,
                         priority=base + slots - 2 - rank[i]) for i, (name, text) in enumerate(notebooks)]
    done = client.submit(assemble_job, nbs, key=f"ipm_assemble-{tag}", pure=False, priority=base)
    return [prep, *nbs, done]


@functools.lru_cache(maxsize=64)
def recorded_seconds(notebook_text: str) -> float:
    """The seconds a notebook's code cells took when it was last executed and saved (from the
    execution times Jupyter records in each cell's metadata); 0 without them."""
    try:
        cells = json.loads(notebook_text).get("cells", [])
    except (ValueError, AttributeError):
        return 0.0
    if not isinstance(cells, list):
        return 0.0
    total = 0.0
    for cell in cells:
        times = cell.get("metadata", {}).get("execution", {}) if isinstance(cell, dict) else {}
        try:
            start = datetime.fromisoformat(times["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(times["shell.execute_reply"].replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        total += max((end - start).total_seconds(), 0.0)
    return total


def _task_kind(notebook_name: str) -> str:
    """``01_overview.ipynb`` -> ``01_overview`` (letters, digits and underscores only)."""
    return re.sub(r"\W+", "_", Path(notebook_name).stem) or "notebook"


# A local cluster moves a prepared client between its workers over loopback: a demo client
# (74 MB pickled) took 0.23-0.32 s, about 300 MB/s. Dask's starting guess (100 MB/s) made the
# move look as costly as a short notebook, so notebooks stayed queued on the worker that
# prepared their client while the other worker idled.
_LOCAL_BANDWIDTH = 300_000_000  # bytes per second


def _dask_client(scheduler: str | None, n_workers: int | None):
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        try:
            return Client(address, timeout="20s"), None
        except OSError as e:
            raise IpmError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    import dask

    n = n_workers or os.cpu_count() or 1
    # the workers load clients (DuckDB, pandas) too: glibc's adaptive trim, as in the kernels
    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if k != _MALLOC_TRIM}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                          "distributed.scheduler.bandwidth": _LOCAL_BANDWIDTH}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=40)
    return Client(cluster), cluster


WORKER_TIMEOUT_ENV = "IPM_WORKER_TIMEOUT"
WORKER_TIMEOUT = 120.0  # seconds a batch waits while its scheduler has no worker at all


def worker_timeout_default() -> float:
    try:
        return max(float(os.environ.get(WORKER_TIMEOUT_ENV, WORKER_TIMEOUT)), 1.0)
    except ValueError:
        return WORKER_TIMEOUT


def _completed_while_workers(client, futures: list, worker_timeout: float):
    """The futures as they finish, like ``distributed.as_completed``, but the iteration ends
    (without the rest) once the scheduler has had no worker for ``worker_timeout`` seconds:
    with its last worker lost, a scheduler waits for a new one forever."""
    from distributed import as_completed

    pending = as_completed(futures)
    alone_since = None
    while not pending.is_empty():
        batch = pending.next_batch(block=False)
        if batch:
            yield from batch
            continue
        try:
            n = len(client.scheduler_info(n_workers=1).get("workers", {}))
        except Exception:  # noqa: BLE001 - the scheduler itself gone: no worker either
            n = 0
        if n:
            alone_since = None
        elif alone_since is None:
            alone_since = time.monotonic()
        elif time.monotonic() - alone_since > worker_timeout:
            return
        time.sleep(0.25)


def run_batch(client_dirs: list[str | Path], out_root: str | Path = "reports",
              notebooks_dir: str | Path | None = None, on_done=None, *, scheduler: str | None = None,
              n_workers: int | None = None, fail_fast: bool = False, force: bool = False,
              timeout: int | None = 1800, serial: bool = False,
              worker_timeout: float | None = None) -> list[ClientRun]:
    """Run every client's notebooks; a failing client does not stop the others.

    Parameters
    ----------
    scheduler
        Address of an existing Dask scheduler; default: ``IPM_SCHEDULER`` or a local cluster.
    n_workers
        Size of the local cluster (default: one worker per core).
    fail_fast
        Cancel the clients not yet finished after the first failure.
    force
        Run clients whose report is up to date too.
    serial
        Run in this process without Dask (for debugging).
    on_done
        Called with each :class:`ClientRun` as it finishes.
    worker_timeout
        Seconds to wait while the scheduler has no worker (all lost) before the clients not yet
        finished fail (default ``IPM_WORKER_TIMEOUT`` or 120); finished clients are kept.
    """
    worker_timeout = worker_timeout_default() if worker_timeout is None else worker_timeout
    out_root = Path(out_root).resolve()
    nb_paths = report_notebooks(notebooks_dir)
    notebooks = [(p.name, p.read_text(encoding="utf-8")) for p in nb_paths]
    runs: list[ClientRun] = []
    todo: list[_Pending] = []
    ids = _batch_ids(client_dirs)  # refuses one id for two folders before anything runs
    for d in client_dirs:
        d = Path(d).resolve()
        cid = ids.get(d)
        try:
            digest = fingerprint(d, notebooks)
        except Exception as e:  # noqa: BLE001 - e.g. an unreadable file: this client fails, the others run
            run = ClientRun(cid or d.name, d, "failed", 0.0, f"cannot read the client folder: {_short_error(e)}")
            runs.append(run)
            if on_done:
                on_done(run)
            continue
        if cid:
            recover_interrupted(out_root / cid)
        if cid and not force and _up_to_date(out_root / cid, digest):
            run = ClientRun(cid, d, "skipped", 0.0, "unchanged since the last successful run",
                            report_dir=out_root / cid)
            runs.append(run)
            if on_done:
                on_done(run)
            continue
        todo.append(_Pending(d, digest))

    def finish(p: _Pending, result: JobResult) -> None:
        try:
            run = write_result(result, p.client_dir, out_root, p.digest)
        except Exception as e:  # noqa: BLE001 - one client's fault never stops the batch
            run = ClientRun(result.client_id, p.client_dir, "failed", result.seconds,
                            f"could not write the report: {_short_error(e)}")
        runs.append(run)
        if on_done:
            on_done(run)

    if serial or not todo:
        for p in todo:
            try:
                result = execute_job(str(p.client_dir), notebooks, timeout)
            except Exception as e:  # noqa: BLE001 - one client's fault never stops the batch
                result = JobResult(ids.get(p.client_dir) or p.client_dir.name, "failed",
                                   f"the job did not finish: {_short_error(e)}", detail="".join(
                                       traceback.format_exception(e)))
            finish(p, result)
            if fail_fast and runs[-1].status in ("failed", "invalid"):
                break
    else:

        client, cluster = _dask_client(scheduler, n_workers or os.cpu_count() or 1)
        try:
            by_key = {}
            for p, priority in zip(todo, _priorities(todo)):
                p.futures = _submit_client(client, p, notebooks, timeout, priority=priority)
                p.future = p.futures[-1]
                p.started = time.perf_counter()
                by_key[p.future.key] = p
            finished: set[str] = set()
            for fut in _completed_while_workers(client, [p.future for p in todo], worker_timeout):
                p = by_key[fut.key]
                finished.add(fut.key)
                try:
                    result = fut.result()
                except Exception as e:  # noqa: BLE001 - a lost worker or a killed job
                    result = JobResult(p.client_dir.name, "failed", f"the job did not finish: {_short_error(e)}",
                                       seconds=time.perf_counter() - p.started)
                    if ids.get(p.client_dir):
                        result.client_id = ids[p.client_dir]
                    else:
                        result.status = "invalid"
                finish(p, result)
                if fail_fast and result.status in ("failed", "invalid"):
                    for q in todo:
                        if q.future is not None and not q.future.done():
                            for f in q.futures:
                                f.cancel()
                            runs.append(ClientRun(q.client_dir.name, q.client_dir, "cancelled", 0.0,
                                                  "cancelled after an earlier failure (--fail-fast)"))
                    break
            else:
                for q in todo:  # a finished client's results may be lost with the worker: kept as written
                    if q.future is not None and q.future.key not in finished:
                        where = ("the local cluster" if cluster is not None
                                 else f"the Dask scheduler at {client.scheduler.address}")
                        for f in q.futures:
                            f.cancel()
                        run = ClientRun(ids.get(q.client_dir) or q.client_dir.name, q.client_dir, "failed",
                                        time.perf_counter() - q.started,
                                        f"not finished: {where} had no worker for {worker_timeout:g} s "
                                        f"(all lost?); start workers and run again ({WORKER_TIMEOUT_ENV} sets the wait)")
                        runs.append(run)
                        if on_done:
                            on_done(run)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    order = {str(Path(d).resolve()): i for i, d in enumerate(client_dirs)}
    runs.sort(key=lambda r: order.get(str(Path(r.client_dir).resolve()), len(order)))
    _write_run_summary(runs, out_root)
    return runs


def _batch_ids(client_dirs: list[str | Path]) -> dict[Path, str]:
    """Each folder's client id (folders whose client.yaml does not load are left out, they are
    reported when they run); one id for two folders is refused, as the second report would
    replace the first."""
    ids: dict[Path, str] = {}
    seen: dict[str, list[str]] = {}
    for d in client_dirs:
        d = Path(d).resolve()
        try:
            cid = check_client_id(load_config(d).id)
        except Exception:  # noqa: BLE001 - reported when the client runs
            continue
        ids[d] = cid
        seen.setdefault(cid, []).append(str(d))
    dups = {cid: dirs for cid, dirs in seen.items() if len(dirs) > 1}
    if dups:
        lines = "; ".join(f"'{cid}' in {', '.join(dirs)}" for cid, dirs in dups.items())
        raise IpmError(f"two client folders of this batch have the same id ({lines}); each report would replace "
                       "the other. Give each client its own id (or name each folder once); nothing was run")
    return ids


def run_client(client_dir: str | Path, out_root: str | Path = "reports", notebooks: list[Path] | None = None,
               timeout: int | None = 1800) -> ClientRun:
    """Run one client in this process (no Dask), always, and write its report."""
    notebooks = notebooks or report_notebooks()
    pairs = [(p.name, p.read_text(encoding="utf-8")) for p in notebooks]
    d = Path(client_dir).resolve()
    result = execute_job(str(d), pairs, timeout)
    return write_result(result, d, Path(out_root).resolve(), fingerprint(d, pairs))


def _write_run_summary(runs: list[ClientRun], out_root: Path) -> None:
    out_root.mkdir(parents=True, exist_ok=True)
    data = [
        {"client": r.client_id, "status": r.status, "seconds": round(r.seconds, 1), "message": r.message,
         "report": str(Path(r.report_dir).relative_to(out_root)) if r.report_dir else None}
        for r in runs
    ]
    try:
        atomic_write_text(out_root / "last_run.json", json.dumps(data, indent=2))
    except OSError as e:  # e.g. a full disk: the reports are written (or not) already; say so, go on
        log.warning("could not write %s: %s", out_root / "last_run.json", e)
