"""Executing one notebook with papermill: the report notebooks, their parameters and timeout,
execution counts as in a kernel of its own, and a failure in one line."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..errors import IpmError
from .engines import KERNEL_NAME, shared_kernel_engine


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


NOTEBOOK_PATTERN = re.compile(r"^\d{2}_.+\.ipynb$")


def package_root() -> Path:
    """The project folder (holds ``notebooks/``) when running from a checkout."""
    return Path(__file__).resolve().parents[2]


def notebooks_root() -> Path:
    """The folder of the report notebooks.

    ``ipm_analysis/notebooks`` is a link to the project's ``notebooks/`` in a checkout (resolved, so
    the notebooks' own relative defaults keep working) and a copy of it, as package data, in an
    installed wheel.
    """
    return (Path(__file__).parent.parent / "notebooks").resolve()


def report_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The numbered report notebooks (``NN_name.ipynb``), in reading order."""
    nb_dir = Path(notebooks_dir) if notebooks_dir else notebooks_root()
    found = sorted(p for p in nb_dir.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if not found:
        raise IpmError(f"no report notebooks (named like 01_overview.ipynb) in {nb_dir}")
    return found



def _execute(nb_path: Path, out_path: Path, params: dict, cwd: Path, timeout: int | None, km=None,
             kc=None) -> None:
    import papermill as pm

    engine = shared_kernel_engine() if kc is not None else None
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


