"""Kernels that run notebook after notebook: the reused kernel of a job or a Dask worker (local
IPC sockets, reset between notebooks) and papermill's engine that executes in it."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import shutil
import tempfile
import time
from pathlib import Path

KERNEL_NAME = "python3"


class _Kernel:
    """A kernel that runs notebook after notebook, its namespace cleared before each one.

    A kernel start, its imports (pandas, statsmodels, seaborn, the package) and its shutdown
    cost about three seconds, more than most notebooks' own analysis. On a Dask worker one
    kernel serves every notebook of every job the worker runs; elsewhere (``serial``,
    :func:`run_client`) one kernel serves the notebooks of one job. Before each notebook
    ``%reset -f`` empties the namespace (a notebook cannot use what an earlier one defined),
    open figures are closed and the working folder is set for the job (the job's client cache
    is a parameter of each notebook); imported modules stay loaded, which is the point. tests/test_batch.py checks that
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

    def reset(self, cwd: Path) -> None:
        # first into the job's folder (the last job's is gone, and %reset needs a working folder)
        code = (f"import os as _os\n_os.chdir({str(cwd)!r})\n%reset -f\n"
                "import matplotlib.pyplot as _plt\n_plt.close('all')\ndel _plt")
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


def shared_kernel_engine() -> str:
    """The name of papermill's engine that executes in a :class:`_Kernel` (registered once)."""
    global _ENGINE_REGISTERED
    if not _ENGINE_REGISTERED:
        from papermill.engines import papermill_engines

        papermill_engines.register(_ENGINE, _shared_kernel_engine())
        _ENGINE_REGISTERED = True
    return _ENGINE


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

