"""A client's job, as a worker runs it: prepare (check and load its data once), one step per
notebook in the worker's kernel, assemble (the HTML report and workbook from the executed
notebooks). ``execute_job`` does them in order in one process; on Dask each is a task."""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..config import check_client_id, load_config
from ..errors import IpmError
from ..html_report import export_html
from .engines import _job_kernel, _Kernel, _release_kernel
from .execute import _execute, _renumber, _short_error
from .write import REPORT_HTML, JobResult



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
    from ..data import validate_client

    start = time.perf_counter()
    try:
        cfg = load_config(client_dir)
        client_id = check_client_id(cfg.id)
    except IpmError as e:
        return Prepared(client_dir, Path(client_dir).name, status="invalid", message=str(e),
                        seconds=time.perf_counter() - start)
    try:
        problems = validate_client(client_dir, cache=cache_dir)  # the loaded client is kept for the notebooks
    except Exception as e:  # noqa: BLE001 - a fault the checks did not foresee fails this client only
        return Prepared(client_dir, client_id, cfg.title, "failed", f"checking the data failed: {_short_error(e)}",
                        "".join(traceback.format_exception(e)), seconds=time.perf_counter() - start)
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
        kernel.reset(nb_dir)
        # the notebook reads the loaded client from the job's cache (a parameter: the kernel is another process)
        _execute(src, dst, {"client_dir": client_dir, "output_dir": str(out), "client_cache": str(cache_dir)},
                 nb_dir, timeout, kernel.km, kernel.kc)
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
            from ..summary import SUMMARY_NAME, load

            summary_path = out / SUMMARY_NAME
            summary = load(summary_path) if summary_path.exists() else None
            export_html([out / n for n in names], out / REPORT_HTML, title, summary)
            if summary:
                from ..workbook import WORKBOOK, write_workbook

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
            from ..summary import SummaryError, dumps

            try:
                (out / "summary.json").write_text(dumps(summary), encoding="utf-8")
            except SummaryError as e:
                failure = failure or (str(e), "")
        names = [r.name for r in results if (out / r.name).exists()]
        seconds = first.prepare_seconds + sum(r.seconds for r in results)
        return _assemble(first.client_id, first.title, out, names, failure, seconds,
                         {r.name: r.seconds for r in results if r.status == "ok"})

