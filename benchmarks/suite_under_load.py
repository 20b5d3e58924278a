"""The test suite on a busy machine: the README's test command, N times in a row, on a fresh
clone, while a CPU load runs beside it; a table of pass/fail and duration per run.

A suite that passes on an idle machine can fail on a loaded one (timeouts, a slow kernel start,
a browser that takes its time). This runs exactly what CI runs, under load, and says per run
whether it passed and how long it took.

    python benchmarks/suite_under_load.py                      # 3 runs, one busy process per core
    python benchmarks/suite_under_load.py --runs 5 --load 4    # 5 runs beside 4 busy processes
    python benchmarks/suite_under_load.py --fresh-each         # a new clone (and venv) for every run
    python benchmarks/suite_under_load.py --pytest-args '-m "not slow"'   # the fast lane instead

The load is ``stress-ng --cpu N`` when stress-ng is installed, otherwise N Python processes
that spin; it starts before the first run and is stopped (these processes only) after the last.
The clone is of the committed HEAD of this checkout (uncommitted changes are not in it), in a
temporary folder that is removed afterwards unless ``--keep``. The command needs what the
README's command needs: Python 3.11+, pip and access to the package index.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the README's test command (the second of "The two commands"); pytest's arguments go at its end
README_COMMAND = ('python3 -m venv .venv && . .venv/bin/activate && pip install -q -c constraints.txt -e ".[dev]" '
                  "&& python -m pytest")
SPIN = "while True:\n    pass\n"


def readme_command() -> str:
    """The test command as the README writes it (checked, so that the two stay the same)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if README_COMMAND not in readme:
        raise SystemExit("README.md no longer has the test command this script runs; update README_COMMAND")
    return README_COMMAND


def start_load(n: int) -> list[subprocess.Popen]:
    """``n`` busy processes: stress-ng's CPU workers when installed, else spinning Pythons."""
    if n <= 0:
        return []
    if shutil.which("stress-ng"):
        return [subprocess.Popen(["stress-ng", "--cpu", str(n), "--quiet"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)]
    return [subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    """Stop the load this script started (each by its own process group), and nothing else."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    return dest


def pytest_counts(output: str) -> str:
    """pytest's closing line (``12 passed, 1 failed in 300.2s``) without its time, or ''."""
    lines = [ln for ln in output.splitlines() if re.search(r"\b(passed|failed|error|errors|no tests ran)\b", ln)]
    if not lines:
        return ""
    last = lines[-1].strip("= ").strip()
    return re.sub(r"\s+in\s+[\d.]+s.*$", "", last)


def run_once(workdir: Path, command: str, log: Path, timeout: float | None) -> tuple[int | None, float, str]:
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(["bash", "-c", command], cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"})
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    seconds = time.perf_counter() - t0
    return code, seconds, pytest_counts(log.read_text(encoding="utf-8", errors="replace"))


def table(rows: list[dict]) -> str:
    head = f"{'run':>3}  {'result':<7}  {'exit':>4}  {'seconds':>8}  pytest"
    lines = [head, "-" * len(head)]
    for r in rows:
        exit_ = "-" if r["code"] is None else str(r["code"])
        lines.append(f"{r['run']:>3}  {r['result']:<7}  {exit_:>4}  {r['seconds']:>8.1f}  {r['counts']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="how many times to run the command (default 3)")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 1,
                    help="busy processes beside the suite (default: one per core; 0: none)")
    ap.add_argument("--fresh-each", action="store_true", help="a new clone (and venv) for every run")
    ap.add_argument("--pytest-args", default="", help="appended to the command's pytest, e.g. '-m \"not slow\"'")
    ap.add_argument("--command", default=None, help="another command instead of the README's (for a dry run)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds after which a run is stopped (default: none)")
    ap.add_argument("--keep", action="store_true", help="keep the clone(s) and logs")
    a = ap.parse_args(argv)

    command = a.command or readme_command()
    if a.pytest_args:
        command = f"{command} {a.pytest_args}"
    tmp = Path(tempfile.mkdtemp(prefix="ipm-suite-load-"))
    rows: list[dict] = []
    load: list[subprocess.Popen] = []
    try:
        work = None if a.fresh_each else clone(tmp / "clone")
        stress = "stress-ng" if shutil.which("stress-ng") else "busy Python processes"
        print(f"command: {command}\nload: {a.load} ({stress if a.load else 'none'}); cores: {os.cpu_count()}; "
              f"runs: {a.runs}; clone: {'fresh for each run' if a.fresh_each else 'one'} of {ROOT} at HEAD",
              flush=True)
        load = start_load(a.load)
        for i in range(1, a.runs + 1):
            here = clone(tmp / f"clone-{i}") if a.fresh_each else work
            code, seconds, counts = run_once(here, command, tmp / f"run-{i}.log", a.timeout)
            result = "timeout" if code is None else "pass" if code == 0 else "fail"
            rows.append({"run": i, "result": result, "code": code, "seconds": seconds, "counts": counts})
            print(f"run {i}: {result} in {seconds:.1f} s {counts}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        stop_load(load)
        if a.keep:
            print(f"clones and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(table(rows))
    if rows:
        secs = [r["seconds"] for r in rows]
        print(f"\n{sum(r['result'] == 'pass' for r in rows)} of {len(rows)} runs passed; "
              f"duration min {min(secs):.1f} s, max {max(secs):.1f} s")
    return 0 if rows and all(r["result"] == "pass" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
