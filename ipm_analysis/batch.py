"""Run the report notebooks per client with papermill and export a code-free HTML report.

Each client is executed into a fresh staging folder next to its report folder. Only when every
notebook ran does the staging folder replace ``reports/<client>/`` (by renames, so a reader
never sees a half-written report). A client that fails keeps its previous report untouched;
its executed notebooks, with the error cell, go to ``reports/<client>/failed-run/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .config import check_client_id, load_config
from .data import validate_client
from .errors import IpmError

KERNEL_NAME = "python3"
NOTEBOOK_PATTERN = re.compile(r"^\d{2}_.+\.ipynb$")
FAILED_DIR = "failed-run"
REPORT_HTML = "report.html"


@dataclass
class ClientRun:
    """Outcome of one client's run."""

    client_id: str
    client_dir: Path
    status: str = "pending"  # ok | failed | invalid
    seconds: float = 0.0
    message: str = ""
    report_dir: Path | None = None
    notebooks: list[str] = field(default_factory=list)


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


def _execute(nb_path: Path, out_path: Path, params: dict, cwd: Path, timeout: int | None) -> None:
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
    )


def export_html(notebook_paths: list[Path], html_path: Path, title: str) -> None:
    """Join executed notebooks into one code-free HTML report that opens offline."""
    from nbconvert import HTMLExporter

    merged = nbformat.v4.new_notebook()
    merged.metadata = nbformat.read(str(notebook_paths[0]), as_version=4).metadata
    merged.metadata["title"] = title
    for p in notebook_paths:
        nb = nbformat.read(str(p), as_version=4)
        for cell in nb.cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if "parameters" in tags or "injected-parameters" in tags or "remove-cell" in tags:
                continue
            merged.cells.append(cell)
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(merged)
    body = strip_remote_assets(body)
    _atomic_write_text(html_path, body)


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link[^>]*\bhref=[\"']https?://[^>]*>", re.I)


def strip_remote_assets(html: str) -> str:
    """Drop every script and every stylesheet loaded from an outside host.

    nbconvert's template loads RequireJS, MathJax and Mermaid from public CDNs. The report needs
    none of them (its outputs are static images, tables and text), and a client's report must
    open offline without calling out.
    """
    html = _SCRIPT.sub("", html)
    html = _REMOTE_LINK.sub("", html)
    return html


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


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


def run_client(
    client_dir: str | Path,
    out_root: str | Path = "reports",
    notebooks: list[Path] | None = None,
    timeout: int | None = 1800,
) -> ClientRun:
    """Execute every report notebook for one client; never raises for a client's failure."""
    client_dir = Path(client_dir).resolve()
    out_root = Path(out_root).resolve()
    notebooks = notebooks or report_notebooks()
    start = time.perf_counter()
    try:
        cfg = load_config(client_dir)
        client_id = check_client_id(cfg.id)
    except IpmError as e:
        return ClientRun(client_dir.name, client_dir, "invalid", time.perf_counter() - start, str(e))
    run = ClientRun(client_id, client_dir)
    problems = validate_client(client_dir)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        run.status = "invalid"
        run.message = f"{len(errors)} data problem(s); first: {errors[0]}"
        run.seconds = time.perf_counter() - start
        return run
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / client_id
    staging = out_root / f".{client_id}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    executed: list[Path] = []
    try:
        for nb in notebooks:
            out_nb = staging / nb.name
            executed.append(out_nb)
            params = {"client_dir": str(client_dir), "output_dir": str(staging)}
            _execute(nb, out_nb, params, nb.parent, timeout)
        export_html(executed, staging / REPORT_HTML, cfg.title)
        # a previous failed run's leftovers do not belong to the new good report
        shutil.rmtree(staging / FAILED_DIR, ignore_errors=True)
        _replace_dir(staging, final)
        run.status = "ok"
        run.report_dir = final
        run.notebooks = [p.name for p in executed]
    except Exception as e:  # noqa: BLE001 - a client's failure must not stop the batch
        run.status = "failed"
        run.message = _short_error(e)
        failed = final / FAILED_DIR
        final.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(failed, ignore_errors=True)
        failed.mkdir()
        for p in executed:
            if p.exists():
                shutil.copy2(p, failed / p.name)
        (failed / "error.txt").write_text(run.message + "\n\n" + "".join(traceback.format_exception(e)),
                                          encoding="utf-8")
        shutil.rmtree(staging, ignore_errors=True)
        run.report_dir = failed
    run.seconds = time.perf_counter() - start
    return run


def _short_error(e: BaseException) -> str:
    name = type(e).__name__
    if name == "PapermillExecutionError":
        return f"cell {getattr(e, 'exec_count', '?')} raised {e.ename}: {e.evalue}"[:500]
    return f"{name}: {e}"[:500]


def run_batch(client_dirs: list[str | Path], out_root: str | Path = "reports",
              notebooks_dir: str | Path | None = None, on_done=None) -> list[ClientRun]:
    """Run every client in turn; a failing client does not stop the others."""
    notebooks = report_notebooks(notebooks_dir)
    runs = []
    for d in client_dirs:
        run = run_client(d, out_root, notebooks)
        runs.append(run)
        if on_done:
            on_done(run)
    _write_run_summary(runs, Path(out_root))
    return runs


def _write_run_summary(runs: list[ClientRun], out_root: Path) -> None:
    out_root.mkdir(parents=True, exist_ok=True)
    data = [
        {"client": r.client_id, "status": r.status, "seconds": round(r.seconds, 1), "message": r.message,
         "report": str(Path(r.report_dir).relative_to(out_root.resolve())) if r.report_dir else None}
        for r in runs
    ]
    _atomic_write_text(out_root / "last_run.json", json.dumps(data, indent=2))
