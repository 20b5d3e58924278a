"""Run the report notebooks per client, in batch, through Dask; write reports atomically.

A client's *job*: validate its data, execute every report notebook with papermill in a private
temporary folder, export one code-free HTML report. On Dask (by default a local cluster sized to
the machine, or an existing cluster given by address: ``--scheduler tcp://host:port`` or
``IPM_SCHEDULER``) the job is split into tasks: prepare (validate and load once), one task per
notebook (the loaded client travels to it as bytes), assemble (the HTML report), so that the
notebooks of all clients share the workers evenly. Workers need read access to the client
folders under the same path (or a shared location); they do **not** need the reports folder:
the assemble task returns the files to the submitting process, which writes them.

Writing is atomic per client: the new files go to a staging folder beside
``reports/<client>/`` that replaces it by renames only when every notebook ran. A client that
fails keeps its previous report untouched; its executed notebooks, with the error cell, go to
``reports/<client>/failed-run/``.

A client whose inputs, notebooks and package code are unchanged since its last successful run
is skipped (``force=True`` runs it anyway).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


def _import_nbformat():
    """Import nbformat without the IRI format checks jsonschema registers on import.

    ``jsonschema`` imports ``rfc3987_syntax`` (when installed) for its ``iri`` formats, and that
    import builds some thirty parser grammars: 0.9 s in every process that imports nbformat (the
    ``ipm`` command and each Dask worker). nbformat validates notebooks without format checks,
    so the import is hidden while jsonschema loads; anything imported afterwards sees it again.
    """
    hide = "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules
    if hide:
        sys.modules["rfc3987_syntax"] = None  # an ImportError for jsonschema, which it skips
    try:
        import nbformat
    finally:
        if hide and sys.modules.get("rfc3987_syntax", 0) is None:
            del sys.modules["rfc3987_syntax"]
    return nbformat


nbformat = _import_nbformat()

from .config import check_client_id, load_config
from .data import CACHE_ENV
from .errors import IpmError
from .html_report import export_html, strip_remote_assets  # noqa: F401 - the report's exporter

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


def notebooks_root() -> Path:
    """The folder of the report notebooks.

    ``ipm_analysis/notebooks`` is a link to the project's ``notebooks/`` in a checkout (resolved, so
    the notebooks' own relative defaults keep working) and a copy of it, as package data, in an
    installed wheel.
    """
    return (Path(__file__).parent / "notebooks").resolve()


def report_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The numbered report notebooks (``NN_name.ipynb``), in reading order."""
    nb_dir = Path(notebooks_dir) if notebooks_dir else notebooks_root()
    found = sorted(p for p in nb_dir.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if not found:
        raise IpmError(f"no report notebooks (named like 01_overview.ipynb) in {nb_dir}")
    return found


# -- the job: runs on a worker ------------------------------------------------------------------
#
# A client's work is three kinds of step: prepare (read and check its data once), one step per
# notebook, and assemble (the HTML report from the executed notebooks). ``execute_job`` does
# them in order in one process (serial runs, ``run_client``); a batch on Dask submits them as
# separate tasks, so that the notebooks of all clients share the workers evenly.


@dataclass
class Prepared:
    """A client checked and loaded once for its notebooks (``cache``: the loaded client, pickled)."""

    client_dir: str
    client_id: str
    title: str = ""
    status: str = "ok"  # ok | invalid | failed (the checks themselves broke)
    message: str = ""
    detail: str = ""
    cache_name: str = ""
    cache: bytes | None = None
    seconds: float = 0.0


@dataclass
class NotebookResult:
    """One executed notebook of one client, as a worker sends it back."""

    name: str
    client_id: str
    title: str
    status: str  # ok | failed | invalid (the client's data did not pass)
    message: str = ""
    detail: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    seconds: float = 0.0
    prepare_seconds: float = 0.0


def _prepare(client_dir: str, cache_dir: Path) -> Prepared:
    """Check the client's config and data; the loaded client is cached in ``cache_dir``."""
    from .data import validate_client

    start = time.perf_counter()
    try:
        cfg = load_config(client_dir)
        client_id = check_client_id(cfg.id)
    except IpmError as e:
        return Prepared(client_dir, Path(client_dir).name, status="invalid", message=str(e),
                        seconds=time.perf_counter() - start)
    os.environ[CACHE_ENV] = str(cache_dir)  # the loaded client is kept for the notebooks
    try:
        problems = validate_client(client_dir)
    except Exception as e:  # noqa: BLE001 - a fault the checks did not foresee fails this client only
        return Prepared(client_dir, client_id, cfg.title, "failed", f"checking the data failed: {_short_error(e)}",
                        "".join(traceback.format_exception(e)), seconds=time.perf_counter() - start)
    finally:
        os.environ.pop(CACHE_ENV, None)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        return Prepared(client_dir, client_id, cfg.title, "invalid", f"{len(errors)} data problem(s); first: {errors[0]}",
                        "\n".join(str(p) for p in problems), seconds=time.perf_counter() - start)
    cached = sorted(cache_dir.glob("*.pickle"))
    return Prepared(client_dir, client_id, cfg.title, cache_name=cached[0].name if cached else "",
                    seconds=time.perf_counter() - start)


def _run_notebook(kernel: _Kernel, client_dir: str, name: str, text: str, work: Path, cache_dir: Path,
                  out: Path, timeout: int | None) -> float:
    """Execute one notebook into ``out`` in ``kernel`` (reset first); its seconds. Raises on failure."""
    nb_dir = work / "notebooks"
    nb_dir.mkdir(exist_ok=True)
    src = nb_dir / name
    src.write_text(text, encoding="utf-8")
    dst = out / name
    t0 = time.perf_counter()
    try:
        kernel.reset(nb_dir, {CACHE_ENV: str(cache_dir)})
        _execute(src, dst, {"client_dir": client_dir, "output_dir": str(out)}, nb_dir, timeout, kernel.km,
                 kernel.kc)
    finally:
        if dst.exists():
            _renumber(dst)
    return time.perf_counter() - t0


def _files(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` by its relative path: what a task sends back."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _assemble(client_id: str, title: str, out: Path, names: list[str], failure: tuple[str, str] | None,
              seconds: float, nb_seconds: dict[str, float]) -> JobResult:
    """The job's result from its output folder: the HTML report when every notebook ran."""
    status, message, detail = ("failed", *failure) if failure else ("ok", "", "")
    t0 = time.perf_counter()
    if failure is None:
        try:
            from .summary import SUMMARY_NAME, load

            summary_path = out / SUMMARY_NAME
            summary = load(summary_path) if summary_path.exists() else None
            export_html([out / n for n in names], out / REPORT_HTML, title, summary)
            if summary:
                from .workbook import WORKBOOK, write_workbook

                write_workbook(summary, out / WORKBOOK)
        except Exception as e:  # noqa: BLE001 - reported to the caller, not raised
            status, message, detail = "failed", _short_error(e), "".join(traceback.format_exception(e))
    return JobResult(client_id, status, message, _files(out), seconds + time.perf_counter() - t0, nb_seconds, detail)


def execute_job(client_dir: str, notebooks: list[tuple[str, str]], timeout: int | None = 1800) -> JobResult:
    """Validate one client and execute the given notebooks for it, in order, in one process.

    ``notebooks`` holds (file name, notebook JSON text) pairs, so the worker needs no copy of
    the project. The notebooks share one kernel (reset before each) and stop at the first
    failure. Never raises for the client's own failure: the result says what happened.
    """
    client_dir = str(Path(client_dir).resolve())
    with tempfile.TemporaryDirectory(prefix="ipm-job-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        cache.mkdir()
        prep = _prepare(client_dir, cache)
        if prep.status != "ok":
            return JobResult(prep.client_id, prep.status, prep.message, seconds=prep.seconds, detail=prep.detail)
        out = tmp / "out"
        out.mkdir()
        nb_seconds: dict[str, float] = {}
        names: list[str] = []
        failure = None
        try:
            kernel = _job_kernel()
        except Exception as e:  # noqa: BLE001 - reported to the caller, not raised
            return _assemble(prep.client_id, prep.title, out, names,
                             (_short_error(e), "".join(traceback.format_exception(e))), prep.seconds, nb_seconds)
        clean = False
        try:
            for name, text in notebooks:
                names.append(name)
                try:
                    nb_seconds[name] = _run_notebook(kernel, client_dir, name, text, tmp, cache, out, timeout)
                except Exception as e:  # noqa: BLE001 - reported to the caller, not raised
                    failure = (f"{name}: {_short_error(e)}", "".join(traceback.format_exception(e)))
                    break
            clean = failure is None
        finally:
            _release_kernel(kernel, keep=clean)
        return _assemble(prep.client_id, prep.title, out, names, failure, prep.seconds + sum(nb_seconds.values()),
                         nb_seconds)


def prepare_job(client_dir: str) -> Prepared:
    """Dask task: check one client and load it once; the loaded client travels as bytes to the
    notebook tasks (whichever worker runs them)."""
    client_dir = str(Path(client_dir).resolve())
    with tempfile.TemporaryDirectory(prefix="ipm-prepare-") as tmp:
        prep = _prepare(client_dir, Path(tmp))
        if prep.status == "ok" and prep.cache_name:
            prep.cache = (Path(tmp) / prep.cache_name).read_bytes()
    return prep


def notebook_job(prep: Prepared, name: str, text: str, timeout: int | None = 1800) -> NotebookResult:
    """Dask task: execute one notebook of a prepared client in this worker's kernel."""
    if prep.status != "ok":
        return NotebookResult(name, prep.client_id, prep.title, prep.status, prep.message, prep.detail,
                              prepare_seconds=prep.seconds)
    with tempfile.TemporaryDirectory(prefix=f"ipm-{prep.client_id}-") as tmp:
        tmp = Path(tmp)
        cache, out = tmp / "cache", tmp / "out"
        cache.mkdir()
        out.mkdir()
        if prep.cache is not None:
            (cache / prep.cache_name).write_bytes(prep.cache)
        status, message, detail, seconds = "ok", "", "", 0.0
        t0 = time.perf_counter()
        try:
            kernel = _job_kernel()
            clean = False
            try:
                seconds = _run_notebook(kernel, prep.client_dir, name, text, tmp, cache, out, timeout)
                clean = True
            finally:
                _release_kernel(kernel, keep=clean)
        except Exception as e:  # noqa: BLE001 - reported to the caller, not raised
            status, message, detail = "failed", _short_error(e), "".join(traceback.format_exception(e))
            seconds = time.perf_counter() - t0
        return NotebookResult(name, prep.client_id, prep.title, status, message, detail, _files(out), seconds, prep.seconds)


def assemble_job(results: list[NotebookResult]) -> JobResult:
    """Dask task: one client's notebooks (in report order) into its JobResult and HTML report.

    The notebooks' ``summary.json`` sections are merged in report order; a failed notebook
    fails the client (its message is the first failure's).
    """
    first = results[0]
    if first.status == "invalid":
        return JobResult(first.client_id, "invalid", first.message, seconds=first.prepare_seconds,
                         detail=first.detail)
    summary: dict = {}
    failure = None
    with tempfile.TemporaryDirectory(prefix=f"ipm-{first.client_id}-") as tmp:
        out = Path(tmp)
        for r in results:
            for rel, data in r.files.items():
                if rel == "summary.json":
                    summary.update(json.loads(data))
                    continue
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            if r.status != "ok" and failure is None:
                failure = (f"{r.name}: {r.message}", r.detail)
        if summary:
            from .summary import SummaryError, dumps

            try:
                (out / "summary.json").write_text(dumps(summary), encoding="utf-8")
            except SummaryError as e:
                failure = failure or (str(e), "")
        names = [r.name for r in results if (out / r.name).exists()]
        seconds = first.prepare_seconds + sum(r.seconds for r in results)
        return _assemble(first.client_id, first.title, out, names, failure, seconds,
                         {r.name: r.seconds for r in results if r.status == "ok"})


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
        from jupyter_client import BlockingKernelClient
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        # nbclient drives the kernel asynchronously (and notices a dead one only so): an async manager.
        # Local sockets in a private folder (IPC), not TCP ports: nothing else on the machine can
        # listen in, and the kernel has no reason to warn the user about unencrypted TCP.
        # The folder is named after this process; a Dask worker that was killed leaves its folder
        # behind, and the next kernel started on the machine removes it (the path must stay short:
        # a socket path has at most 107 characters).
        _remove_orphan_socket_folders()
        self._sockets = Path(tempfile.mkdtemp(prefix=f"{_SOCKETS_PREFIX}{os.getpid()}-"))
        self.km = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc",
                                     connection_file=str(self._sockets / "kernel.json"),
                                     ip=str(self._sockets / "k"))
        run_sync(self.km.start_kernel)(cwd=tempfile.gettempdir(), env=_kernel_env())
        # clients for the kernel's life: waiting for a new client to be ready costs 0.2 s
        # (jupyter_client drains IOPub for that long), twice per notebook otherwise. ``kc`` is
        # nbclient's (it leaves a given client's channels open); the resets have their own,
        # shell channel only: they need nothing but the reply.
        # the kernel's process, to make sure it ends with this object (see shutdown)
        self._process = getattr(self.km.provisioner, "process", None)
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=120)
        self._reset_kc = BlockingKernelClient()
        self._reset_kc.load_connection_info(self.km.get_connection_info())
        self._reset_kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return bool(self.km.has_kernel and run_sync(self.km.is_alive)())

    def reset(self, cwd: Path, env: dict[str, str]) -> None:
        # first into the job's folder (the last job's is gone, and %reset needs a working folder)
        code = (f"import os as _os\n_os.chdir({str(cwd)!r})\n%reset -f\n"
                "import os as _os, matplotlib.pyplot as _plt\n_plt.close('all')\n"
                + "".join(f"_os.environ[{k!r}] = {v!r}\n" for k, v in env.items())
                + "del _os, _plt")
        msg_id = self._reset_kc.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + 120
        while True:
            try:
                reply = self._reset_kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise RuntimeError("the kernel did not answer within 120 s when reset for the next notebook") from None
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel could not be reset: {reply['content'].get('evalue', '')}")

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        try:
            self.kc.stop_channels()
            self._reset_kc.stop_channels()
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        finally:
            # Ctrl-C can stop the graceful shutdown half-way (its event loop interrupted): the kernel
            # must not outlive the command all the same, holding its terminal and output pipes
            proc = self._process
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.kill()
                    proc.wait(timeout=10)
            shutil.rmtree(self._sockets, ignore_errors=True)


_SOCKETS_PREFIX = "ipm-kernel-"


def _remove_orphan_socket_folders() -> None:
    """Remove the kernel socket folders of processes that are gone (``ipm-kernel-<pid>-*``)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_SOCKETS_PREFIX}*-*"):
        pid = folder.name[len(_SOCKETS_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not folder.is_dir() or folder.is_symlink():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # another user's live process
            continue


def _kernel_env() -> dict[str, str]:
    """The kernel's environment: this process's, without a fixed malloc trim threshold.

    Dask's nanny gives its workers ``MALLOC_TRIM_THRESHOLD_=65536`` (for long-lived workers'
    memory); in an analysis kernel that frees and reallocates large frames it makes glibc hand
    memory back and fault it in again: about 2.4 s of system time per demo-size report
    (benchmarks/RESULTS.md). The kernel keeps glibc's adaptive default.
    """
    return {k: v for k, v in os.environ.items() if k != _MALLOC_TRIM}


_MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
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


_ENGINE = "ipm-shared-kernel"
_ENGINE_REGISTERED = False


def _shared_kernel_engine():
    """papermill's nbclient engine, but nbclient gets the kernel's long-lived client (papermill
    has no argument for it), so it neither starts a client nor waits for one per notebook."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine

    class SharedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, km=None, kc=None,
                                     **kwargs):
            client = PapermillNotebookClient(nb_man, km=km, kernel_name=kernel_name, timeout=execution_timeout,
                                             startup_timeout=start_timeout, log=logging.getLogger("papermill"),
                                             log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            client.kc = kc  # a given kernel manager's client is left open by nbclient
            return client.execute()

    return SharedKernelEngine


def _execute(nb_path: Path, out_path: Path, params: dict, cwd: Path, timeout: int | None, km=None,
             kc=None) -> None:
    import papermill as pm
    from papermill.engines import papermill_engines

    global _ENGINE_REGISTERED
    engine = None
    if kc is not None:
        if not _ENGINE_REGISTERED:
            papermill_engines.register(_ENGINE, _shared_kernel_engine())
            _ENGINE_REGISTERED = True
        engine = _ENGINE
    pm.execute_notebook(
        str(nb_path),
        str(out_path),
        parameters=params,
        engine_name=engine,
        kernel_name=KERNEL_NAME,
        progress_bar=False,
        log_output=False,
        cwd=str(cwd),
        execution_timeout=timeout,
        km=km,  # a running kernel is used and left running (nbclient); None starts and stops one
        **({"kc": kc} if kc is not None else {}),
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


# -- writing: in the submitting process ---------------------------------------------------------

def atomic_write_text(path: Path, text: str) -> None:
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


_PARAM_LINE = re.compile(r"^(client_dir|output_dir) = .*$", re.M)


def portable_notebook(data: bytes, client_dir: Path, folder: Path) -> bytes:
    """An executed notebook as the report keeps it in ``folder``: re-runnable where it lies and
    free of the job's machine paths.

    The job ran it with the client folder's absolute path and a temporary output folder; here
    ``client_dir`` becomes the client folder relative to ``folder`` (as the notebooks' own
    defaults are relative to theirs; absolute only where no relative path exists, such as
    another drive) and ``output_dir`` empty (a re-run writes nothing). papermill's record of the
    parameters and of the temporary input and output paths says the same.
    """
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except (UnicodeDecodeError, ValueError, nbformat.ValidationError):  # not ours to judge: kept as it came
        return data
    try:
        rel = Path(os.path.relpath(Path(client_dir).resolve(), Path(folder).resolve())).as_posix()
    except ValueError:
        rel = Path(client_dir).resolve().as_posix()
    values = {"client_dir": rel, "output_dir": ""}
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = _PARAM_LINE.sub(lambda m: f"{m.group(1)} = {json.dumps(values[m.group(1)])}", cell.source)
    pm = nb.metadata.get("papermill")
    if pm is not None:
        pm.setdefault("parameters", {}).update(
            {k: v for k, v in values.items() if k in pm.get("parameters", {})})
        for key in ("input_path", "output_path"):
            if pm.get(key):
                pm[key] = Path(str(pm[key])).name
    return nbformat.writes(nb).encode("utf-8")


def _with_changes(files: dict[str, bytes], final: Path) -> dict[str, bytes]:
    """The job's files with what changed since the report in ``final`` (the client's previous
    one): ``changes`` in summary.json and the "What changed since the last report" block on the
    report's first screen (the job left a marker for it, as only the writer sees the previous
    report). Without a usable previous report the files are as the job made them."""
    from .summary import SUMMARY_NAME, dumps, with_changes
    from .summary_page import CHANGES_MARKER, changes_html

    if SUMMARY_NAME not in files:
        return files
    try:
        current = with_changes(files[SUMMARY_NAME], final / SUMMARY_NAME)
    except Exception:  # noqa: BLE001 - the new report is written as it is; the comparison is an extra
        log.warning("%s: not compared with the previous report:\n%s", final.name, traceback.format_exc())
        return files
    if current is None:
        return files
    out = dict(files)
    out[SUMMARY_NAME] = dumps(current).encode("utf-8")
    if REPORT_HTML in out:
        out[REPORT_HTML] = out[REPORT_HTML].replace(CHANGES_MARKER.encode(), changes_html(current).encode("utf-8"), 1)
    return out


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
            for name, data in _with_changes(result.files, final).items():
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if name.endswith(".ipynb"):
                    data = portable_notebook(data, client_dir, (final / name).parent)
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
                (staging / Path(name).name).write_bytes(portable_notebook(data, client_dir, failed))
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
        from distributed import as_completed

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
