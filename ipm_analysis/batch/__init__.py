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

The package, one module per concern (as papermill's): ``execute`` (one notebook with papermill:
the report notebooks, parameters, timeout), ``engines`` (the kernel reused between notebooks and
papermill's engine that runs in it), ``jobs`` (a client's prepare, notebook and assemble steps,
as a worker runs them), ``write`` (atomic writing of a report, recovery, portable notebooks,
fingerprints) and ``schedule`` (``run_batch`` and ``run_client``: Dask or this process).
"""

from __future__ import annotations

from ..html_report import export_html, strip_remote_assets
from .engines import KERNEL_NAME
from .execute import NOTEBOOK_PATTERN, nbformat, notebooks_root, package_root, report_notebooks
from .jobs import NotebookResult, Prepared, assemble_job, execute_job, notebook_job, prepare_job
from .schedule import (SCHEDULER_ENV, WORKER_TIMEOUT, WORKER_TIMEOUT_ENV, recorded_seconds, run_batch, run_client,
                       worker_timeout_default)
from .write import (FAILED_DIR, REPORT_HTML, RUN_FILE, ClientRun, JobResult, atomic_write_text, fingerprint,
                    portable_notebook, recover_interrupted, write_result)

__all__ = [
    "FAILED_DIR", "KERNEL_NAME", "NOTEBOOK_PATTERN", "REPORT_HTML", "RUN_FILE", "SCHEDULER_ENV", "WORKER_TIMEOUT",
    "WORKER_TIMEOUT_ENV", "ClientRun", "JobResult", "NotebookResult", "Prepared", "assemble_job",
    "atomic_write_text", "execute_job", "export_html", "fingerprint", "nbformat", "notebook_job",
    "notebooks_root", "package_root", "portable_notebook", "prepare_job", "recorded_seconds",
    "recover_interrupted", "report_notebooks", "run_batch", "run_client", "strip_remote_assets",
    "worker_timeout_default", "write_result",
]
