"""Writing a client's report: atomically (staging folder, renames), recovering what an
interrupted run left, notebooks made portable (no machine paths), what changed since the
previous report, and the fingerprint that lets an unchanged client be skipped."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_write_text  # noqa: F401 - kept here for the batch's callers
from ..html_report import REPORT_HTML
from .execute import nbformat

FAILED_DIR = "failed-run"
RUN_FILE = "run.json"

log = logging.getLogger(__name__)



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



# -- writing: in the submitting process ---------------------------------------------------------

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


_PARAM_LINE = re.compile(r"^(client_dir|output_dir|client_cache) = .*$", re.M)


def _literal(value: str | None) -> str:
    return "None" if value is None else json.dumps(value)


def portable_notebook(data: bytes, client_dir: Path, folder: Path) -> bytes:
    """An executed notebook as the report keeps it in ``folder``: re-runnable where it lies and
    free of the job's machine paths.

    The job ran it with the client folder's absolute path and a temporary output folder; here
    ``client_dir`` becomes the client folder relative to ``folder`` (as the notebooks' own
    defaults are relative to theirs; absolute only where no relative path exists, such as
    another drive) ``output_dir`` empty (a re-run writes nothing) and ``client_cache`` None (the job's cache is gone). papermill's record of the
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
    values = {"client_dir": rel, "output_dir": "", "client_cache": None}
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = _PARAM_LINE.sub(lambda m: f"{m.group(1)} = {_literal(values[m.group(1)])}", cell.source)
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
    from ..summary import SUMMARY_NAME, dumps, with_changes
    from ..summary_page import CHANGES_MARKER, changes_html

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
    pkg = Path(__file__).resolve().parent.parent  # the package ipm_analysis
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


