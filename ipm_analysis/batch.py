"""Run the report notebooks per client, in batch, through Dask; write reports atomically.

A *job* is one client: validate its data, execute every report notebook with papermill in a
private temporary folder, export one code-free HTML report. Jobs run on Dask workers: by default
a local cluster sized to the machine, or an existing cluster given by address
(``--scheduler tcp://host:port`` or ``IPM_SCHEDULER``). Workers need read access to the client
folders under the same path (or a shared location); they do **not** need the reports folder:
a job returns its files to the submitting process, which writes them.

Writing is atomic per client: the new files go to a staging folder beside
``reports/<client>/`` that replaces it by renames only when every notebook ran. A client that
fails keeps its previous report untouched; its executed notebooks, with the error cell, go to
``reports/<client>/failed-run/``.

A client whose inputs, notebooks and package code are unchanged since its last successful run
is skipped (``force=True`` runs it anyway).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .config import check_client_id, load_config
from .data import CACHE_ENV
from .errors import IpmError

KERNEL_NAME = "python3"
NOTEBOOK_PATTERN = re.compile(r"^\d{2}_.+\.ipynb$")
FAILED_DIR = "failed-run"
REPORT_HTML = "report.html"
RUN_FILE = "run.json"
SCHEDULER_ENV = "IPM_SCHEDULER"



@dataclass
class ClientRun:
    """Outcome of one client's run."""

    client_id: str
    client_dir: Path
    status: str = "pending"  # ok | failed | invalid | skipped
    seconds: float = 0.0
    message: str = ""
    report_dir: Path | None = None
    notebooks: list[str] = field(default_factory=list)
    notebook_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class JobResult:
    """What a worker sends back: the files it made, never a path on its own disk."""

    client_id: str
    status: str
    message: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    seconds: float = 0.0
    notebook_seconds: dict[str, float] = field(default_factory=dict)
    detail: str = ""


log = logging.getLogger(__name__)

def package_root() -> Path:
    """The project folder (holds ``notebooks/``) when running from a checkout."""
    return Path(__file__).resolve().parent.parent


def report_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The numbered report notebooks (``NN_name.ipynb``), in reading order."""
    nb_dir = Path(notebooks_dir) if notebooks_dir else package_root() / "notebooks"
    found = sorted(p for p in nb_dir.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if not found:
        raise IpmError(f"no report notebooks (named like 01_overview.ipynb) in {nb_dir}")
    return found


# -- the job: runs on a worker ------------------------------------------------------------------

def execute_job(client_dir: str, notebooks: list[tuple[str, str]], timeout: int | None = 1800) -> JobResult:
    """Validate one client and execute the given notebooks for it in a private temp folder.

    ``notebooks`` holds (file name, notebook JSON text) pairs, so the worker needs no copy of
    the project. Never raises for the client's own failure: the result says what happened.
    """
    from .data import validate_client

    start = time.perf_counter()
    client_dir = str(Path(client_dir).resolve())
    try:
        cfg = load_config(client_dir)
        client_id = check_client_id(cfg.id)
    except IpmError as e:
        return JobResult(Path(client_dir).name, "invalid", str(e), seconds=time.perf_counter() - start)
    with tempfile.TemporaryDirectory(prefix=f"ipm-{client_id}-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        cache.mkdir()
        os.environ[CACHE_ENV] = str(cache)  # notebooks of this job load the client once
        try:
            problems = validate_client(client_dir)
            errors = [p for p in problems if p.severity == "error"]
            if errors:
                msg = f"{len(errors)} data problem(s); first: {errors[0]}"
                return JobResult(client_id, "invalid", msg, seconds=time.perf_counter() - start,
                                 detail="\n".join(str(p) for p in problems))
            out = tmp / "out"
            nb_dir = tmp / "notebooks"
            out.mkdir()
            nb_dir.mkdir()
            executed: list[Path] = []
            nb_seconds: dict[str, float] = {}
            status, message, detail = "ok", "", ""
            try:
                kernel = _job_kernel()
                clean = False
                try:
                    for name, text in notebooks:
                        src = nb_dir / name
                        src.write_text(text, encoding="utf-8")
                        dst = out / name
                        executed.append(dst)
                        t0 = time.perf_counter()
                        kernel.reset(nb_dir, {CACHE_ENV: str(cache)})
                        _execute(src, dst, {"client_dir": client_dir, "output_dir": str(out)}, nb_dir, timeout,
                                 kernel.km)
                        _renumber(dst)
                        nb_seconds[name] = time.perf_counter() - t0
                    clean = True
                finally:
                    _release_kernel(kernel, keep=clean)
                summary_path = out / "summary.json"
                summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else None
                export_html(executed, out / REPORT_HTML, cfg.title, summary)
            except Exception as e:  # noqa: BLE001 - reported to the caller, not raised
                status, message = "failed", _short_error(e)
                detail = "".join(traceback.format_exception(e))
            files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
            return JobResult(client_id, status, message, files, time.perf_counter() - start, nb_seconds, detail)
        finally:
            os.environ.pop(CACHE_ENV, None)


class _Kernel:
    """A kernel that runs notebook after notebook, its namespace cleared before each one.

    A kernel start, its imports (pandas, statsmodels, seaborn, the package) and its shutdown
    cost about three seconds, more than most notebooks' own analysis. On a Dask worker one
    kernel serves every notebook of every job the worker runs; elsewhere (``serial``,
    :func:`run_client`) one kernel serves the notebooks of one job. Before each notebook
    ``%reset -f`` empties the namespace (a notebook cannot use what an earlier one defined),
    open figures are closed, and the working folder and the client cache variable are set for
    the job; imported modules stay loaded, which is the point. tests/test_batch.py checks that
    every notebook prints the same in a shared kernel as alone, also after another client's
    notebooks. A kernel that died (a killed job) is replaced by the next job.
    """

    def __init__(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        # nbclient drives the kernel asynchronously (and notices a dead one only so): an async manager
        self.km = AsyncKernelManager(kernel_name=KERNEL_NAME)
        run_sync(self.km.start_kernel)(cwd=tempfile.gettempdir())

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return bool(self.km.has_kernel and run_sync(self.km.is_alive)())

    def reset(self, cwd: Path, env: dict[str, str]) -> None:
        from jupyter_client import BlockingKernelClient

        # first into the job's folder (the last job's is gone, and %reset needs a working folder)
        code = (f"import os as _os\n_os.chdir({str(cwd)!r})\n%reset -f\n"
                "import os as _os, matplotlib.pyplot as _plt\n_plt.close('all')\n"
                + "".join(f"_os.environ[{k!r}] = {v!r}\n" for k, v in env.items())
                + "del _os, _plt")
        kc = BlockingKernelClient()
        kc.load_connection_info(self.km.get_connection_info())
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"the kernel could not be reset: {reply['content'].get('evalue', '')}")
        finally:
            kc.stop_channels()

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        if self.km.has_kernel:
            run_sync(self.km.shutdown_kernel)(now=True)


_WORKER_KERNEL: _Kernel | None = None  # the kernel this Dask worker process keeps between jobs


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


def _job_kernel() -> _Kernel:
    global _WORKER_KERNEL
    if not _on_dask_worker():
        return _Kernel()
    if _WORKER_KERNEL is not None and not _WORKER_KERNEL.alive():
        _WORKER_KERNEL.shutdown()
        _WORKER_KERNEL = None
    if _WORKER_KERNEL is None:
        _WORKER_KERNEL = _Kernel()
        atexit.register(_WORKER_KERNEL.shutdown)  # also: the kernel exits when its worker dies
    return _WORKER_KERNEL


def _release_kernel(kernel: _Kernel, keep: bool) -> None:
    """Shut a job's own kernel down; a worker's kernel too after a failure (it may still be busy)."""
    global _WORKER_KERNEL
    if kernel is _WORKER_KERNEL and keep:
        return
    kernel.shutdown()
    if kernel is _WORKER_KERNEL:
        _WORKER_KERNEL = None


def _execute(nb_path: Path, out_path: Path, params: dict, cwd: Path, timeout: int | None, km=None) -> None:
    import papermill as pm

    pm.execute_notebook(
        str(nb_path),
        str(out_path),
        parameters=params,
        kernel_name=KERNEL_NAME,
        progress_bar=False,
        log_output=False,
        cwd=str(cwd),
        execution_timeout=timeout,
        km=km,  # a running kernel is used and left running (nbclient); None starts and stops one
    )


def _renumber(path: Path) -> None:
    """Execution counts from 1 in each notebook, as if it had had its own kernel."""
    nb = nbformat.read(path, as_version=4)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.get("execution_count") is None:
            continue
        count += 1
        cell.execution_count = count
        for out in cell.get("outputs", []):
            if "execution_count" in out:
                out["execution_count"] = count
    nbformat.write(nb, path)


def _short_error(e: BaseException) -> str:
    if type(e).__name__ == "PapermillExecutionError":
        return f"cell {getattr(e, 'exec_count', '?')} raised {e.ename}: {e.evalue}"[:500]
    return f"{type(e).__name__}: {e}"[:500]


# -- HTML export --------------------------------------------------------------------------------

def _html_cell(html_text: str):
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html_text})]
    return cell


def export_html(notebook_paths: list[Path], html_path: Path, title: str, summary: dict | None = None) -> None:
    """Join executed notebooks into one code-free HTML report that opens offline.

    With ``summary`` (the client's summary.json), the report opens with the manager summary and
    closes with the methods note (see :mod:`ipm_analysis.summary_page`).
    """
    from nbconvert import HTMLExporter

    from .summary_page import METHODS_HTML, summary_html

    merged = nbformat.v4.new_notebook()
    merged.metadata = nbformat.read(str(notebook_paths[0]), as_version=4).metadata
    merged.metadata["title"] = title
    if summary:
        merged.cells.append(_html_cell(summary_html(summary)))
    for p in notebook_paths:
        nb = nbformat.read(str(p), as_version=4)
        for cell in nb.cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if "parameters" in tags or "injected-parameters" in tags or "remove-cell" in tags:
                continue
            merged.cells.append(cell)
    if summary:
        merged.cells.append(_html_cell(METHODS_HTML))
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(merged)
    _atomic_write_text(html_path, strip_remote_assets(body))


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link[^>]*\bhref=[\"']https?://[^>]*>", re.I)


def strip_remote_assets(html: str) -> str:
    """Drop every script and every stylesheet loaded from an outside host.

    nbconvert's template loads RequireJS, MathJax and Mermaid from public CDNs. The report needs
    none of them (its outputs are static images, tables and text), and a client's report must
    open offline without calling out.
    """
    html = _SCRIPT.sub("", html)
    return _REMOTE_LINK.sub("", html)


# -- writing: in the submitting process ---------------------------------------------------------

def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _replace_dir(staging: Path, final: Path) -> None:
    """Put ``staging`` where ``final`` is, keeping the old one until the new one is in place."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if old.exists():
            os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours, or the platform cannot tell: leave its files alone
        return True
    return True


def recover_interrupted(final: Path) -> None:
    """Undo what a process that died while writing ``final`` left behind.

    :func:`_replace_dir` moves the old report aside before it moves the new one in; a process
    killed between the two renames leaves no ``final`` and the old report in
    ``.<name>.old-<pid>``. That report is put back (the newest, if several); once ``final``
    exists, old copies and the staging folders of dead processes are removed.
    """
    root = final.parent
    if not root.is_dir():
        return
    leftovers = []
    for kind in ("old", "staging", "failed"):
        for path in root.glob(f".{final.name}.{kind}-*"):
            pid = path.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                leftovers.append((kind, path))
    olds = sorted((p for k, p in leftovers if k == "old"), key=lambda p: p.stat().st_mtime, reverse=True)
    if olds and not final.exists():
        os.replace(olds[0], final)
    for _, path in leftovers:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)


def write_result(result: JobResult, client_dir: Path, out_root: Path, fingerprint: str | None = None) -> ClientRun:
    """Write a job's files under ``out_root/<client>/`` atomically; see the module docstring."""
    run = ClientRun(result.client_id, Path(client_dir), result.status, result.seconds, result.message,
                    notebooks=[n for n in result.files if n.endswith(".ipynb")],
                    notebook_seconds=result.notebook_seconds)
    if result.status == "invalid":
        return run
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / result.client_id
    recover_interrupted(final)
    if result.status == "ok":
        staging = out_root / f".{result.client_id}.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir(parents=True)
            for name, data in result.files.items():
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            run_info = {"client": result.client_id, "fingerprint": fingerprint,
                        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(result.seconds, 2),
                        "notebooks": {k: round(v, 2) for k, v in result.notebook_seconds.items()}}
            (staging / RUN_FILE).write_text(json.dumps(run_info, indent=2), encoding="utf-8")
            _replace_dir(staging, final)
        except OSError as e:  # e.g. a full disk: the old report stays as it was
            shutil.rmtree(staging, ignore_errors=True)
            run.status = "failed"
            run.message = f"could not write the report: {e}"
            return run
        run.report_dir = final
        return run
    # failed: keep the executed notebooks with the error beside the untouched old report
    failed = final / FAILED_DIR
    staging = out_root / f".{result.client_id}.failed-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        for name, data in result.files.items():
            if name.endswith(".ipynb"):
                (staging / Path(name).name).write_bytes(data)
        (staging / "error.txt").write_text(result.message + "\n\n" + result.detail, encoding="utf-8")
        final.mkdir(parents=True, exist_ok=True)
        _replace_dir(staging, failed)
        run.report_dir = failed
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return run


# -- incremental runs ---------------------------------------------------------------------------

_HASH_LIMIT = 64 * 1024 * 1024


def fingerprint(client_dir: Path, notebooks: list[tuple[str, str]]) -> str:
    """A digest of everything a client's report depends on: its folder, the notebooks, the code.

    Files up to 64 MB are hashed by content; larger ones by size and modification time.
    """
    h = hashlib.sha256()
    for p in sorted(Path(client_dir).rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        h.update(p.relative_to(client_dir).as_posix().encode())
        st = p.stat()
        if st.st_size <= _HASH_LIMIT:
            h.update(hashlib.sha256(p.read_bytes()).digest())
        else:
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    for name, text in notebooks:
        h.update(name.encode())
        h.update(text.encode())
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()


def _up_to_date(final: Path, digest: str) -> bool:
    info = final / RUN_FILE
    if not info.is_file() or not (final / REPORT_HTML).is_file() or (final / FAILED_DIR).exists():
        return False  # a failed run since the last good one: run again to clear it
    try:
        return json.loads(info.read_text()).get("fingerprint") == digest
    except (OSError, ValueError):
        return False


# -- the batch ----------------------------------------------------------------------------------

@dataclass
class _Pending:
    client_dir: Path
    digest: str
    future: object = None
    started: float = 0.0


def _dask_client(scheduler: str | None, n_workers: int | None):
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        try:
            return Client(address, timeout="20s"), None
        except OSError as e:
            raise IpmError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    n = n_workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    return Client(cluster), cluster


def run_batch(client_dirs: list[str | Path], out_root: str | Path = "reports",
              notebooks_dir: str | Path | None = None, on_done=None, *, scheduler: str | None = None,
              n_workers: int | None = None, fail_fast: bool = False, force: bool = False,
              timeout: int | None = 1800, serial: bool = False) -> list[ClientRun]:
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
    """
    out_root = Path(out_root).resolve()
    nb_paths = report_notebooks(notebooks_dir)
    notebooks = [(p.name, p.read_text(encoding="utf-8")) for p in nb_paths]
    runs: list[ClientRun] = []
    todo: list[_Pending] = []
    for d in client_dirs:
        d = Path(d).resolve()
        digest = fingerprint(d, notebooks)
        try:
            cid = check_client_id(load_config(d).id)
        except IpmError:
            cid = None
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
        run = write_result(result, p.client_dir, out_root, p.digest)
        runs.append(run)
        if on_done:
            on_done(run)

    if serial or not todo:
        for p in todo:
            finish(p, execute_job(str(p.client_dir), notebooks, timeout))
            if fail_fast and runs[-1].status in ("failed", "invalid"):
                break
    else:
        from distributed import as_completed

        client, cluster = _dask_client(scheduler, n_workers or min(len(todo), os.cpu_count() or 1))
        try:
            by_key = {}
            for p in todo:
                p.future = client.submit(execute_job, str(p.client_dir), notebooks, timeout, pure=False,
                                         key=f"ipm-{p.client_dir.name}-{p.digest[:12]}-{time.time_ns()}")
                p.started = time.perf_counter()
                by_key[p.future.key] = p
            for fut in as_completed([p.future for p in todo]):
                p = by_key[fut.key]
                try:
                    result = fut.result()
                except Exception as e:  # noqa: BLE001 - a lost worker or a killed job
                    result = JobResult(p.client_dir.name, "failed", f"the job did not finish: {_short_error(e)}",
                                       seconds=time.perf_counter() - p.started)
                    try:
                        result.client_id = check_client_id(load_config(p.client_dir).id)
                    except IpmError:
                        result.status = "invalid"
                finish(p, result)
                if fail_fast and result.status in ("failed", "invalid"):
                    for q in todo:
                        if q.future is not None and not q.future.done():
                            q.future.cancel()
                            runs.append(ClientRun(q.client_dir.name, q.client_dir, "cancelled", 0.0,
                                                  "cancelled after an earlier failure (--fail-fast)"))
                    break
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    order = {str(Path(d).resolve()): i for i, d in enumerate(client_dirs)}
    runs.sort(key=lambda r: order.get(str(Path(r.client_dir).resolve()), len(order)))
    _write_run_summary(runs, out_root)
    return runs


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
        _atomic_write_text(out_root / "last_run.json", json.dumps(data, indent=2))
    except OSError as e:  # e.g. a full disk: the reports are written (or not) already; say so, go on
        log.warning("could not write %s: %s", out_root / "last_run.json", e)
