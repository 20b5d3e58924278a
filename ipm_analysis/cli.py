"""The ``ipm`` command: a thin shell over the package.

Exit codes: 0 all good; 1 some clients failed; 2 usage or validation error. A user error never
shows a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

import click

from .errors import IpmError

DEMO_ROOT = Path("data") / "demo"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ipm-analysis")
def cli() -> None:
    """ipm-analysis: which chain KPIs drive your customer KPIs."""


@cli.command()
@click.argument("client_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(client_dirs: tuple[Path, ...]) -> None:
    """Check client folders against the data contract; print every problem."""
    from .data import validate_client

    bad = False
    for d in client_dirs:
        problems = validate_client(d)
        errors = [p for p in problems if p.severity == "error"]
        status = "invalid" if errors else "ok"
        click.echo(f"{_client_label(d)}: {status} ({len(errors)} error(s), {len(problems) - len(errors)} warning(s))")
        for p in problems:
            click.echo(f"  {p}")
        bad = bad or bool(errors)
    sys.exit(2 if bad else 0)


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
def init(folder: Path) -> None:
    """Draft a commented client.yaml from the files in FOLDER (never overwrites one)."""
    from .init_config import write_draft

    path = write_draft(folder)
    click.echo(f"wrote {path}: a draft; fill in the places marked 'fill in', check the guesses, then "
               f"ipm validate {folder}")


def _client_label(folder: Path) -> str:
    """``client 'olist' (folder /data/olist)``: the id from client.yaml, when it can be read, and
    the folder as an absolute path (so ``ipm validate .`` says which folder it checked)."""
    from .config import CONFIG_NAME, read_yaml

    where = f"(folder {Path(folder).resolve()})"
    try:
        raw = read_yaml(Path(folder) / CONFIG_NAME)
    except IpmError:
        raw = None
    cid = raw.get("id") if isinstance(raw, dict) else None
    return f"client '{cid}' {where}" if isinstance(cid, (str, int)) else f"client without a readable id {where}"


@cli.command()
@click.option("--out", "out_root", default=str(DEMO_ROOT), show_default=True, type=click.Path(path_type=Path),
              help="Folder to write the demo clients into.")
@click.option("--size", type=click.Choice(["small", "default", "large"]), default="default", show_default=True)
def demo(out_root: Path, size: str) -> None:
    """Write the three demo clients (with their ground truth) into data/demo/."""
    from .demo import write_demo_clients

    dirs = write_demo_clients(out_root, size=size)
    for d in dirs:
        click.echo(f"wrote {d}")


@cli.command()
@click.argument("client_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--demo", "use_demo", is_flag=True, help="Run the bundled demo clients (generated if missing).")
@click.option("--out", "out_root", default="reports", show_default=True, type=click.Path(path_type=Path),
              help="Reports folder; each client gets reports/<client>/.")
@click.option("--notebooks", "notebooks_dir", default=None, type=click.Path(path_type=Path),
              help="Folder of report notebooks (default: the project's notebooks/).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Send the jobs to this Dask scheduler (default: $IPM_SCHEDULER, else a local cluster).")
@click.option("--workers", "n_workers", type=click.IntRange(1, 256), default=None,
              help="Workers of the local cluster (default: one per core).")
@click.option("--worker-timeout", type=click.FloatRange(1), default=None, metavar="SECONDS",
              help="Fail the unfinished clients once the Dask scheduler has had no worker this long "
                   "(default: $IPM_WORKER_TIMEOUT, else 120).")
@click.option("--fail-fast", is_flag=True, help="Stop the batch at the first failing client.")
@click.option("--force", is_flag=True, help="Also run clients whose report is up to date.")
@click.option("--serial", is_flag=True, help="Run in this process, without Dask (for debugging).")
@click.option("--pdf", is_flag=True, help="Also print each client's report to report.pdf (needs Chromium).")
def run(client_dirs: tuple[Path, ...], use_demo: bool, out_root: Path, notebooks_dir: Path | None,
        scheduler: str | None, n_workers: int | None, worker_timeout: float | None, fail_fast: bool, force: bool,
        serial: bool, pdf: bool) -> None:
    """Execute every report notebook per client into reports/<client>/ (notebooks + HTML)."""
    import time

    from .batch import report_notebooks, run_batch
    from .portfolio import write_portfolio

    dirs = list(client_dirs)
    if use_demo:
        dirs += _demo_dirs()
    if not dirs:
        raise click.UsageError("give one or more client folders, or --demo")
    missing = [str(d) for d in dirs if not (Path(d) / "client.yaml").is_file()]
    if missing:
        raise IpmError(f"not a client folder (no client.yaml): {', '.join(missing)}")
    _check_writable(out_root)
    nbs = report_notebooks(notebooks_dir)
    click.echo(f"running {len(nbs)} notebook(s) for {len(dirs)} client(s) into {out_root}/")
    start = time.perf_counter()
    done: list = []

    def progress(r) -> None:
        done.append(r)
        elapsed = time.perf_counter() - start
        n_failed = sum(x.status in ("failed", "invalid") for x in done)
        ran = [x for x in done if x.status != "skipped"]
        left = len(dirs) - len(done)
        eta = f", about {elapsed / len(ran) * left:.0f} s left" if ran and left else ""
        click.echo(f"[{len(done)}/{len(dirs)} done, {n_failed} failed, {left} queued or running; "
                   f"{elapsed:.0f} s{eta}] {r.client_id}: {r.status}" + (f" - {r.message}" if r.message else ""))

    runs = run_batch(dirs, out_root, notebooks_dir, on_done=progress, scheduler=scheduler, n_workers=n_workers,
                     fail_fast=fail_fast, force=force, serial=serial, worker_timeout=worker_timeout)
    pdf_failed = _write_pdfs(runs) if pdf else False
    try:
        index = write_portfolio(out_root)
    except OSError as e:  # e.g. a full disk: the client reports stand; the index is the old one
        index = f"not written ({e})"
    click.echo("")
    click.echo(f"{'client':<20} {'status':<9} {'seconds':>7}  report")
    for r in runs:
        click.echo(f"{r.client_id:<20} {r.status:<9} {r.seconds:7.1f}  {r.report_dir or ''}")
    n_bad = sum(r.status not in ("ok", "skipped") for r in runs)
    click.echo(f"{len(runs) - n_bad} of {len(runs)} client(s) ok; portfolio index: {index}")
    if n_bad or pdf_failed or str(index).startswith("not written"):
        all_invalid = n_bad and all(r.status == "invalid" for r in runs if r.status != "skipped")
        sys.exit(2 if all_invalid else 1)


def _write_pdfs(runs: list) -> bool:
    """``report.pdf`` beside each written report (a report skipped as up to date gets one when it
    has none); True when one could not be printed. The HTML reports stand either way."""
    from .html_report import PDF_FILE, find_chromium, write_pdf

    todo = [r for r in runs if r.report_dir is not None and (r.status == "ok" or (
        r.status == "skipped" and not (Path(r.report_dir) / PDF_FILE).is_file()))]
    if not todo:
        return False
    if find_chromium() is None:
        click.echo(f"Error: {PDF_FILE} not written: no Chromium found to print it (on Debian or Ubuntu: apt-get "
                   "install chromium; or set IPM_CHROMIUM to a Chromium or Chrome binary). The HTML reports are "
                   "written.", err=True)
        return True
    failed = False
    for r in todo:
        try:
            write_pdf(Path(r.report_dir) / "report.html")
            click.echo(f"{r.client_id}: {PDF_FILE} written")
        except IpmError as e:
            click.echo(f"Error: {r.client_id}: {e}", err=True)
            failed = True
    return failed


def _check_writable(out_root: Path) -> None:
    """Refuse a reports folder that cannot be created or written, before any notebook runs."""
    import tempfile

    try:
        Path(out_root).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_root, prefix=".ipm-write-test-"):
            pass
    except OSError as e:
        raise IpmError(f"cannot write the reports folder {out_root}: {e.strerror or e}; choose another --out") from None


def _demo_dirs() -> list[Path]:
    from .demo import DEMO_CLIENTS, write_demo_clients

    if not all((DEMO_ROOT / c / "client.yaml").is_file() for c in DEMO_CLIENTS):
        click.echo(f"generating the demo clients into {DEMO_ROOT}/ ...")
        write_demo_clients(DEMO_ROOT)
    return [DEMO_ROOT / c for c in DEMO_CLIENTS]


INTERRUPT_GRACE_SECONDS = 10.0  # after Ctrl-C, the time the command has to end on its own


def _force_exit_after(seconds: float) -> None:
    time.sleep(seconds)
    with contextlib.suppress(OSError):
        os.write(2, b"interrupted\n")
    os._exit(130)


def _on_interrupt(signum, frame) -> None:
    """Ctrl-C: a KeyboardInterrupt as usual (the orderly path below), and a guard that ends the
    command anyway if that interrupt is swallowed somewhere (an event loop of the notebook
    executor may catch it and go on waiting for a kernel that was interrupted too). Report
    files are written atomically, so an exit at any point keeps the earlier report."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C acts at once
    threading.Thread(target=_force_exit_after, args=(INTERRUPT_GRACE_SECONDS,), daemon=True).start()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ipm`` console script."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_interrupt)
    try:
        cli.main(args=argv, prog_name="ipm", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort as e:
        if isinstance(e.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            _interrupted()
        click.echo("aborted", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except IpmError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    sys.exit(0)


def _interrupted() -> None:
    """Ctrl-C: one line and exit code 130. The notebook being executed loses its kernel (which
    got the signal too); what nbclient's unfinished tasks would log about that is silenced."""
    import logging

    for name in ("asyncio", "distributed", "tornado", "papermill", "traitlets"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    click.echo("interrupted", err=True)
    sys.exit(130)


if __name__ == "__main__":
    main()
