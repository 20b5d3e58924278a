"""Developer tasks.

``python -m ipm_analysis.dev refresh-notebooks`` re-executes every notebook in ``notebooks/`` in
place on its default parameters (the committed fixture client), so the outputs nbval compares
match the current code.

``python -m ipm_analysis.dev summary-schema`` rewrites ``docs/summary.schema.json`` from the
models of :mod:`ipm_analysis.summary` (a test checks the committed file equals the export).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .batch import KERNEL_NAME, notebooks_root


def refresh_notebooks(notebooks_dir: Path | None = None) -> list[Path]:
    import papermill as pm

    nb_dir = notebooks_dir or notebooks_root()
    done = []
    for nb in sorted(nb_dir.glob("*.ipynb")):
        pm.execute_notebook(str(nb), str(nb), kernel_name=KERNEL_NAME, cwd=str(nb_dir), progress_bar=False)
        _relative_paths(nb)
        done.append(nb)
    return done


def _relative_paths(nb_path: Path) -> None:
    """papermill records where it ran; a committed notebook names only itself."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    pm_meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if key in pm_meta:
            pm_meta[key] = nb_path.name
    nbformat.write(nb, nb_path)


def schema_path() -> Path:
    return Path(__file__).resolve().parent.parent / "docs" / "summary.schema.json"


def write_summary_schema(path: Path | None = None) -> Path:
    from .summary import schema_text

    path = path or schema_path()
    path.write_text(schema_text(), encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    if argv[:1] == ["summary-schema"]:
        print(f"wrote {write_summary_schema().name}")
        return 0
    if argv[:1] != ["refresh-notebooks"]:
        print("usage: python -m ipm_analysis.dev refresh-notebooks | summary-schema", file=sys.stderr)
        return 2
    for nb in refresh_notebooks():
        print(f"executed {nb.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
