"""Benchmark: batch runs of the report notebooks against the floor of a kernel start + imports.

Measures, in one run (issue 6, "Performance"):

* **batches**: the demo batch (the three demo clients, ``write_demo_clients(size)``) and a
  12-client batch (4 clients of each generator kind, distinct seeds and client ids), each
  generated into a temporary folder and run as a user runs it: the command
  ``python -m ipm_analysis.cli run <clients> --force`` (``ipm run``) in a process of its own,
  into a fresh output folder, on the default local Dask cluster (one worker per core), each
  batch ``--repeat`` times (default 3; the row is the run with the median wall). Printed
  per batch: the command's wall time (start to exit: cluster start and close, every client's
  tasks, the portfolio index), the median of the per-notebook execution times the run itself
  recorded (``reports/<client>/run.json``), the CPU seconds our process tree used (the command,
  its Dask workers and kernels), and the ratio ``wall / (jobs * floor / cores)`` with ``jobs = clients * notebooks``
  and ``cores = os.cpu_count()`` (target <= 1.3).
* **the floor**, measured in the same run before the batches: start a ``python3`` kernel with
  nbclient, execute one cell ``import ipm_analysis, pandas, statsmodels.api, seaborn,
  matplotlib.pyplot, duckdb``, shut the kernel down; median of ``--floor-runs`` runs, split into
  kernel start, import cell and shutdown.
* **where the time goes** in one job (the demo ``koffie`` client, serial, in a subprocess):
  the job's own load of the raw files (``validate_client``, which also writes the per-job
  client cache), and per notebook the papermill overhead (notebook wall
  minus the sum of its cell durations), the import cell (the floor's import line, inserted as
  the first cell of a copy of each notebook for this profile only), the notebook's setup cell
  (the rest of its imports, the theme and ``load_client`` from the cache) and the analysis
  cells; then the HTML export. Loading the raw files, pickling and unpickling the client are
  also timed on their own.
* **a large client** (unless ``--quick`` or ``--no-large``): koffie with 1M responses and about
  10M events in Parquet (the ``"large"`` demo size), generated in a subprocess; then
  ``load_client`` in a subprocess (time, peak RSS); then one serial job (validate, the four
  notebooks, HTML) in a subprocess; then ``ipm run`` on it alone (the local Dask cluster: its
  notebooks run side by side, each worker's kernel holding the client); each stopped after
  ``--large-timeout`` seconds. Peak memory is the largest sum of RSS over the subprocess and
  all its descendants (workers, kernels), sampled every 0.2 s, and the largest single process
  (sampled, or ``ru_maxrss`` from ``wait4`` for the subprocess itself), against the machine's
  total memory.

The machine is shared: the load average before and after each step is printed, and the CPU
column separates our processes from the rest of the machine.

Usage (from the repository root)::

    python benchmarks/bench_batch.py            # full (about 10 minutes)
    python benchmarks/bench_batch.py --quick    # 3 small clients, no large client (about a minute)

The kernels print "Kernel is running over TCP without encryption" warnings on stderr; add
``2>/dev/null`` for a clean table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import nbformat  # noqa: E402
import psutil  # noqa: E402

from ipm_analysis import batch as B  # noqa: E402
from ipm_analysis.batch import jobs as J  # noqa: E402 - the job's steps, timed by profile_child
from ipm_analysis import data as D  # noqa: E402
from ipm_analysis.demo import DEFAULT_SEEDS, DEMO_CLIENTS, LARGE, SIZES, generate_client, write_demo_clients  # noqa: E402

IMPORTS = "import ipm_analysis, pandas, statsmodels.api, seaborn, matplotlib.pyplot, duckdb"
CORES = os.cpu_count() or 1
TOTAL_GB = psutil.virtual_memory().total / 1e9


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# --------------------------------------------------------------------------------------
# the floor
# --------------------------------------------------------------------------------------


def floor_once() -> dict:
    """Kernel start + one import cell + shutdown, the way papermill runs a notebook (nbclient)."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(IMPORTS)]
    nb.metadata["kernelspec"] = {"name": B.KERNEL_NAME, "display_name": "Python 3", "language": "python"}
    marks: dict[str, float] = {}
    client = NotebookClient(
        nb, kernel_name=B.KERNEL_NAME, timeout=600,
        on_cell_execute=lambda **_: marks.setdefault("sent", time.perf_counter()),
        on_cell_executed=lambda **_: marks.setdefault("done", time.perf_counter()),
    )
    t0 = time.perf_counter()
    client.execute()
    t1 = time.perf_counter()
    return {"start": marks["sent"] - t0, "imports": marks["done"] - marks["sent"], "shutdown": t1 - marks["done"],
            "total": t1 - t0}


def measure_floor(runs: int) -> dict:
    out = [floor_once() for _ in range(runs)]
    return {k: median([r[k] for r in out]) for k in out[0]} | {"runs": [round(r["total"], 2) for r in out]}


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


def make_demo(root: Path, size: str) -> list[Path]:
    if (root / DEMO_CLIENTS[-1] / "client.yaml").is_file():
        return [root / k for k in DEMO_CLIENTS]
    return write_demo_clients(root, size)


def make_many(root: Path, per_kind: int, size: str) -> list[Path]:
    """``per_kind`` clients of each kind: ids ``<kind>_<i>``, seeds distinct from the demo clients'."""
    dirs = []
    for i in range(1, per_kind + 1):
        for kind in DEMO_CLIENTS:
            cid = f"{kind}_{i}"
            d = root / cid
            if not (d / "client.yaml").is_file():
                generate_client(kind, d, n_responses=SIZES[size], seed=DEFAULT_SEEDS[kind] + 1000 * i, client_id=cid)
            dirs.append(d)
    return dirs


# --------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _machine_busy() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def run_one_batch(name: str, dirs: list[Path], out: Path, notebooks_dir, n_workers) -> dict:
    """Time the ``ipm run`` command on ``dirs`` as a user starts it: a process of its own.

    The wall runs from starting the command to its exit: the local cluster's start and close,
    every client's tasks and the portfolio index. Per-client and per-notebook seconds come
    from the run's own records (``reports/<client>/run.json``, ``reports/last_run.json``).
    """
    shutil.rmtree(out, ignore_errors=True)
    n_nb = len(B.report_notebooks(notebooks_dir))
    cmd = [sys.executable, "-m", "ipm_analysis.cli", "run", *map(str, dirs), "--out", str(out), "--force"]
    if notebooks_dir:
        cmd += ["--notebooks", str(notebooks_dir)]
    if n_workers:
        cmd += ["--workers", str(n_workers)]
    load_before = load_avg()
    c0, m0 = _cpu_children(), _machine_busy()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    wall = time.perf_counter() - t0
    ours = _cpu_children() - c0
    machine = _machine_busy() - m0
    workers = n_workers or CORES  # run_batch's default
    last = json.loads((out / "last_run.json").read_text()) if (out / "last_run.json").is_file() else []
    by_nb: dict[str, list[float]] = {}
    for r in last:
        if r["status"] == "ok":
            info = json.loads((out / r["report"] / B.RUN_FILE).read_text())
            for k, v in info["notebooks"].items():
                by_nb.setdefault(k, []).append(v)
    nb_times = [v for vs in by_nb.values() for v in vs]
    failed = [f"{r['client']}: {r['message']}" for r in last if r["status"] != "ok"]
    if proc.returncode != 0 and not failed:
        failed = [f"ipm run exit code {proc.returncode}: {proc.stderr.strip()[-300:]}"]
    return {
        "name": name, "clients": len(dirs), "notebooks": n_nb, "jobs": len(dirs) * n_nb, "wall": wall,
        "ok": sum(r["status"] == "ok" for r in last), "failed": failed,
        "nb_executed": len(nb_times), "nb_median": median(nb_times),
        "by_nb": {k: median(v) for k, v in sorted(by_nb.items())},
        "job_seconds": [r["seconds"] for r in last], "workers": workers,
        # the wall of a perfect packing of the clients' tasks (prepare, notebooks, HTML) on the workers
        "bound": sum(r["seconds"] for r in last) / workers,
        "cpu_ours": ours, "cpu_others": max(machine - ours, 0.0),
        "load": f"{load_before} -> {load_avg()}",
    }


def median_run(runs: list[dict]) -> dict:
    """The run with the median wall (the machine is shared: one run can catch a busy moment);
    every run's wall is kept for the table."""
    mid = sorted(runs, key=lambda r: r["wall"])[(len(runs) - 1) // 2]
    return mid | {"walls": [round(r["wall"], 1) for r in runs]}


# --------------------------------------------------------------------------------------
# one job, instrumented (runs in a subprocess: ``--profile-child``)
# --------------------------------------------------------------------------------------


def profile_child(client_dir: str, notebooks_dir: str | None, split_imports: bool) -> None:
    """Run ``execute_job`` for one client with timers around its steps; one JSON line per step."""

    def emit(**kw):
        print("PROFILE " + json.dumps(kw), flush=True)

    orig_validate, orig_exec, orig_html = D.validate_client, J._execute, J.export_html

    def validate(path, cache=None):
        t = time.perf_counter()
        problems = orig_validate(path, cache=cache)
        cache = Path(cache)
        size = sum(p.stat().st_size for p in cache.glob("*.pickle"))
        emit(step="validate", seconds=time.perf_counter() - t, pickle_mb=size / 1e6)
        return problems

    def execute(src, dst, params, cwd, timeout, km=None, kc=None):
        if split_imports:  # the floor's import line as a cell of its own, before the setup cell
            nb = nbformat.read(str(src), as_version=4)
            i = next(i for i, c in enumerate(nb.cells)
                     if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
            cell = nbformat.v4.new_code_cell(IMPORTS)
            cell.metadata["tags"] = ["bench-imports"]
            nb.cells.insert(i, cell)
            nbformat.write(nb, str(src))
        t = time.perf_counter()
        try:
            orig_exec(src, dst, params, cwd, timeout, km, kc)
        finally:
            wall = time.perf_counter() - t
            out = nbformat.read(str(dst), as_version=4) if Path(dst).is_file() else None
            cells, imports, setup, analysis, first = [], 0.0, 0.0, 0.0, True
            for c in (out.cells if out else []):
                if c.cell_type != "code":
                    continue
                d = (c.metadata.get("papermill") or {}).get("duration") or 0.0
                tags = c.metadata.get("tags", [])
                cells.append(d)
                if "bench-imports" in tags:
                    imports += d
                elif "parameters" in tags or "injected-parameters" in tags:
                    analysis += d
                elif first:
                    setup, first = d, False
                else:
                    analysis += d
            emit(step="notebook", name=Path(src).name, seconds=wall, overhead=wall - sum(cells), imports=imports,
                 setup=setup, analysis=analysis, size_mb=Path(dst).stat().st_size / 1e6 if out else 0)

    def html(*a, **kw):
        t = time.perf_counter()
        orig_html(*a, **kw)
        emit(step="html", seconds=time.perf_counter() - t)

    D.validate_client, J._execute, J.export_html = validate, execute, html
    nbs = [(p.name, p.read_text(encoding="utf-8")) for p in B.report_notebooks(notebooks_dir)]
    t = time.perf_counter()
    result = B.execute_job(client_dir, nbs)
    emit(step="job", seconds=time.perf_counter() - t, status=result.status, message=result.message,
         bytes_returned=sum(len(v) for v in result.files.values()))


def load_child(client_dir: str) -> None:
    """``load_client`` on its own, then pickling and unpickling the client (the job cache's cost)."""
    import pickle

    t = time.perf_counter()
    c = D.load_client(client_dir)
    load = time.perf_counter() - t
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    t = time.perf_counter()
    blob = pickle.dumps((c, []), protocol=pickle.HIGHEST_PROTOCOL)
    dump = time.perf_counter() - t
    t = time.perf_counter()
    pickle.loads(blob)
    unpickle = time.perf_counter() - t
    frames = sum(df.memory_usage(deep=True).sum() for df in (c.responses, c.cases, c.case_kpis, c.events, c.linked)
                 if df is not None)
    print("PROFILE " + json.dumps({"step": "load", "seconds": load, "peak_gb_after_load": rss_load,
                                   "pickle_seconds": dump, "unpickle_seconds": unpickle, "pickle_mb": len(blob) / 1e6,
                                   "frames_gb": frames / 1e9}), flush=True)


def generate_child(out_dir: str) -> None:
    t = time.perf_counter()
    c = generate_client("koffie", out_dir, n_responses=LARGE["n_responses"], response_rate=LARGE["response_rate"],
                        file_format="parquet")
    print("PROFILE " + json.dumps({"step": "generate", "seconds": time.perf_counter() - t, "responses": c.n_responses,
                                   "cases": c.n_cases, "events": c.n_events}), flush=True)


def run_child(args: list[str], timeout: float | None = None) -> dict:
    """Run this script as a subprocess; collect its PROFILE lines, wall time and peak memory."""
    return run_command([sys.executable, str(Path(__file__).resolve()), *args], timeout)


def run_command(cmd: list[str], timeout: float | None = None) -> dict:
    """Run ``cmd`` in a session of its own; its PROFILE lines, wall time and peak memory (the
    largest sum of RSS over it and its descendants, and the largest single process)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True, cwd=HERE.parent)
    lines: list[dict] = []
    peak = {"tree": 0, "single": 0}
    stop = threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        rss = p.memory_info().rss
                    except psutil.Error:
                        continue
                    total += rss
                    peak["single"] = max(peak["single"], rss)
                peak["tree"] = max(peak["tree"], total)
            except psutil.Error:
                pass
            stop.wait(0.2)

    def read():
        for line in proc.stdout:
            if line.startswith("PROFILE "):
                lines.append(json.loads(line[len("PROFILE "):]))

    threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=read, daemon=True)]
    for th in threads:
        th.start()
    t0 = time.perf_counter()
    timed_out = False
    deadline = None if timeout is None else t0 + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if deadline is not None and time.perf_counter() > deadline:
            timed_out = True
            os.killpg(proc.pid, 9)  # the child's own session: it and its kernels
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    for th in threads:
        th.join(timeout=5)
    return {"lines": lines, "wall": wall, "rc": proc.returncode, "timed_out": timed_out,
            "peak_tree_gb": peak["tree"] / 1e9, "peak_single_gb": max(ru.ru_maxrss * 1e3, peak["single"]) / 1e9}


# --------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------


def fmt(x: float, nd: int = 1) -> str:
    return "-" if x != x else f"{x:,.{nd}f}"


def print_batches(rows: list[dict], floor: dict) -> None:
    print(f"Batch runs: wall clock seconds on {CORES} cores; floor = kernel start + `{IMPORTS}` + shutdown "
          f"(nbclient, median of {len(floor['runs'])}: {floor['runs']} s).")
    print("wall = the median of the batch's runs (all runs' walls in the last column); "
          "ratio = wall / (jobs x floor / cores), jobs = clients x notebooks; target <= 1.3.")
    print("work bound = sum of the clients' task seconds (prepare, notebooks, HTML) / workers: the wall of a "
          "perfect packing of the tasks, startup excluded.")
    print("CPU ours = user+sys seconds of the `ipm run` process and its descendants (Dask workers, kernels); "
          "others = the rest of the machine during the batch.\n")
    print("| batch | clients | jobs | ok | wall (s) | per-notebook median (s) | floor (s) | jobs x floor / cores (s) "
          "| ratio | work bound (s) | CPU ours (s) | CPU others (s) | load avg before -> after | walls of all runs (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ideal = r["jobs"] * floor["total"] / CORES
        print(f"| {r['name']} | {r['clients']} | {r['jobs']} | {r['ok']}/{r['clients']} | {fmt(r['wall'])} "
              f"| {fmt(r['nb_median'], 2)} | {fmt(floor['total'], 2)} | {fmt(ideal)} | {fmt(r['wall'] / ideal, 2)} "
              f"| {fmt(r['bound'])} | {fmt(r['cpu_ours'])} | {fmt(r['cpu_others'])} | {r['load']} "
              f"| {', '.join(map(str, r['walls']))} |")
    print(f"\nfloor split (medians): kernel start {floor['start']:.2f} s, import cell {floor['imports']:.2f} s, "
          f"shutdown {floor['shutdown']:.2f} s")
    names = sorted({k for r in rows for k in r["by_nb"]})
    print("\nPer-notebook median (s) by notebook:\n")
    print("| batch | " + " | ".join(names) + " | job median (s) |")
    print("|---|" + "---|" * (len(names) + 1))
    for r in rows:
        print(f"| {r['name']} | " + " | ".join(fmt(r["by_nb"].get(n, float("nan")), 2) for n in names)
              + f" | {fmt(median(r['job_seconds']))} |")
    for r in rows:
        for f in r["failed"]:
            print(f"\n{r['name']}: FAILED {f}")


def print_profile(title: str, res: dict) -> None:
    steps = res["lines"]
    load = next((s for s in steps if s["step"] == "load"), None)
    print(f"\n{title}\n")
    print("| notebook | wall (s) | papermill overhead (s) | import cell (s) | setup cell incl. load_client (s) "
          "| analysis cells (s) | output .ipynb (MB) |")
    print("|---|---|---|---|---|---|---|")
    tot = {k: 0.0 for k in ("seconds", "overhead", "imports", "setup", "analysis")}
    for s in steps:
        if s["step"] == "notebook":
            print(f"| {s['name']} | {s['seconds']:.2f} | {s['overhead']:.2f} | {s['imports']:.2f} | {s['setup']:.2f} "
                  f"| {s['analysis']:.2f} | {s['size_mb']:.2f} |")
            for k in tot:
                tot[k] += s[k]
    print(f"| all notebooks | {tot['seconds']:.2f} | {tot['overhead']:.2f} | {tot['imports']:.2f} | {tot['setup']:.2f} "
          f"| {tot['analysis']:.2f} | |")
    v = next((s for s in steps if s["step"] == "validate"), None)
    h = next((s for s in steps if s["step"] == "html"), None)
    j = next((s for s in steps if s["step"] == "job"), None)
    parts = []
    if v:
        parts.append(f"validate_client (reads the raw files, writes the job cache, {v['pickle_mb']:.0f} MB) {v['seconds']:.2f} s")
    if h:
        parts.append(f"HTML export {h['seconds']:.2f} s")
    if j:
        parts.append(f"job total {j['seconds']:.2f} s (status {j['status']}{': ' + j['message'] if j['message'] else ''}), "
                     f"{j['bytes_returned'] / 1e6:.1f} MB returned")
    if load:
        parts.append(f"load_client alone {load['seconds']:.2f} s, pickle {load['pickle_seconds']:.2f} s, "
                     f"unpickle {load['unpickle_seconds']:.2f} s ({load['pickle_mb']:.0f} MB; data frames "
                     f"{load['frames_gb'] * 1e3:.0f} MB in memory)")
    print("\n" + "; ".join(parts) + ".")


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 small clients, no 12-client batch, no large client")
    ap.add_argument("--size", default=None, help="demo size of the batch clients (default: default; --quick: small)")
    ap.add_argument("--per-kind", type=int, default=4, help="clients per kind in the many-client batch (default 4)")
    ap.add_argument("--floor-runs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None, help="local Dask workers (default: run_batch's choice)")
    ap.add_argument("--notebooks", default=None, help="notebooks folder (default: the project's notebooks/)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each batch; the table shows the run with the median wall (default 3)")
    ap.add_argument("--no-large", action="store_true", help="skip the 1M-response client")
    ap.add_argument("--large-timeout", type=float, default=600.0, help="stop the large client's job after this (s)")
    ap.add_argument("--data", default=None, help="keep generated clients here and reuse them (default: a temp dir)")
    ap.add_argument("--profile-child", nargs=2, metavar=("CLIENT", "SPLIT"), help=argparse.SUPPRESS)
    ap.add_argument("--load-child", metavar="CLIENT", help=argparse.SUPPRESS)
    ap.add_argument("--generate-child", metavar="DIR", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.profile_child:
        return profile_child(a.profile_child[0], a.notebooks, a.profile_child[1] == "1")
    if a.load_child:
        return load_child(a.load_child)
    if a.generate_child:
        return generate_child(a.generate_child)

    size = a.size or ("small" if a.quick else "default")
    tmp = Path(tempfile.mkdtemp(prefix="ipm-bench-batch-"))
    data = Path(a.data).resolve() if a.data else tmp / "data"
    nb_dir = str(Path(a.notebooks).resolve()) if a.notebooks else None
    nb_args = ["--notebooks", nb_dir] if nb_dir else []
    try:
        log(f"generating clients ({size}) into {data}; load {load_avg()}")
        demo = make_demo(data / f"demo-{size}", size)
        many = [] if a.quick else make_many(data / f"many-{size}", a.per_kind, size)

        log(f"floor: {a.floor_runs} runs; load {load_avg()}")
        floor = measure_floor(a.floor_runs)
        log(f"floor median {floor['total']:.2f} s")

        rows = []
        for name, dirs in ((f"demo ({size})", demo), (f"{len(many)} clients ({size})", many)):
            if not dirs:
                continue
            log(f"batch {name}: {len(dirs)} clients; load {load_avg()}")
            runs = []
            for i in range(a.repeat):
                runs.append(run_one_batch(name, dirs, tmp / "out", nb_dir, a.workers))
                log(f"  run {i + 1}/{a.repeat}: wall {runs[-1]['wall']:.1f} s, ok {runs[-1]['ok']}/{len(dirs)}")
            rows.append(median_run(runs))
        shutil.rmtree(tmp / "out", ignore_errors=True)

        prof_client = str(demo[0])
        log(f"profile of one job ({prof_client}); load {load_avg()}")
        prof = run_child(["--profile-child", prof_client, "1", *nb_args])
        prof["lines"] += run_child(["--load-child", prof_client])["lines"]

        large = None
        if not (a.quick or a.no_large):
            ldir = data / "large" / "koffie"
            gen = None
            if not (ldir / "client.yaml").is_file():
                log(f"generating the large client; load {load_avg()}")
                gen = run_child(["--generate-child", str(ldir)])
            log(f"large client: load_client; load {load_avg()}")
            lload = run_child(["--load-child", str(ldir)])
            log(f"large client: one serial job (timeout {a.large_timeout:.0f} s); load {load_avg()}")
            ljob = run_child(["--profile-child", str(ldir), "0", *nb_args], timeout=a.large_timeout)
            log(f"large client: ipm run on the local Dask cluster (timeout {a.large_timeout:.0f} s); load {load_avg()}")
            lout = tmp / "large-out"
            lrun = run_command([sys.executable, "-m", "ipm_analysis.cli", "run", str(ldir), "--out", str(lout),
                                "--force", *nb_args], timeout=a.large_timeout)
            last = lout / "last_run.json"
            lrun["status"] = json.loads(last.read_text())[0]["status"] if last.is_file() else f"exit code {lrun['rc']}"
            large = {"gen": gen, "load": lload, "job": ljob, "dask": lrun}
        log(f"done; load {load_avg()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"# bench_batch ({time.strftime('%Y-%m-%d %H:%M')}, {CORES} cores, {TOTAL_GB:.1f} GB, "
          f"notebooks: {nb_dir or 'notebooks/'})\n")
    print_batches(rows, floor)
    print_profile(f"Where the time goes: one job, client {Path(prof_client).name} ({size}), serial, "
                  "the floor's import line run as its own first cell", prof)
    if large:
        print("\nLarge client: koffie, 1M responses, Parquet (peak memory = largest sum of RSS over the process "
              f"and its kernels; single = largest one process; machine {TOTAL_GB:.1f} GB)\n")
        print("| step | wall (s) | peak memory, tree (GB) | peak memory, single process (GB) | result |")
        print("|---|---|---|---|---|")
        g = large["gen"]
        if g:
            s = g["lines"][0] if g["lines"] else {}
            print(f"| generate (subprocess) | {g['wall']:.1f} | {g['peak_tree_gb']:.2f} | {g['peak_single_gb']:.2f} "
                  f"| {s.get('responses', 0):,} responses, {s.get('cases', 0):,} cases, {s.get('events', 0):,} events |")
        ld = large["load"]
        s = ld["lines"][0] if ld["lines"] else {}
        print(f"| load_client (subprocess, incl. imports) | {ld['wall']:.1f} | {ld['peak_tree_gb']:.2f} "
              f"| {ld['peak_single_gb']:.2f} | load {s.get('seconds', float('nan')):.1f} s; frames "
              f"{s.get('frames_gb', float('nan')):.2f} GB; pickle {s.get('pickle_mb', float('nan')):.0f} MB in "
              f"{s.get('pickle_seconds', float('nan')):.1f} s, unpickle {s.get('unpickle_seconds', float('nan')):.1f} s |")
        jb = large["job"]
        done = [x for x in jb["lines"] if x["step"] == "notebook"]
        job = next((x for x in jb["lines"] if x["step"] == "job"), None)
        if jb["timed_out"]:
            result = f"stopped after {a.large_timeout:.0f} s; {len(done)} notebook(s) finished"
        elif job:
            result = f"status {job['status']}" + (f": {job['message']}" if job["message"] else "")
        else:
            result = f"exit code {jb['rc']}"
        print(f"| one job, serial (validate + notebooks + HTML) | {jb['wall']:.1f} | {jb['peak_tree_gb']:.2f} "
              f"| {jb['peak_single_gb']:.2f} | {result} |")
        dk = large["dask"]
        result = f"stopped after {a.large_timeout:.0f} s" if dk["timed_out"] else f"status {dk['status']}"
        print(f"| `ipm run` on it alone (local Dask cluster, {CORES} workers: notebooks side by side) "
              f"| {dk['wall']:.1f} | {dk['peak_tree_gb']:.2f} | {dk['peak_single_gb']:.2f} | {result} |")
        print_profile("Large client job, per step", jb)


if __name__ == "__main__":
    main()
