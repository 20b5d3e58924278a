"""Benchmark: exact Shapley / LMG relative importance against two peers.

Compares, on the same generated data in one run,

* ``ipm_analysis.drivers.relative_importance(method="shapley")`` (this package),
* ``pingouin.linear_regression(X, y, relimp=True)`` (installed in the project venv),
* the ``dominance-analysis`` PyPI package, which does not import beside numpy 2: the script
  gives it its own virtual environment under ``benchmarks/_envs/dominance`` (git-ignored),
  installs ``dominance-analysis "numpy<2" "pandas<2.3" "ipython<9"`` there on first use,
  and calls it as a subprocess on the same data (written to a temporary ``.npy`` file).
  Two of its modes are timed: on the raw rows (``data_format=0``: one scikit-learn fit per
  subset, its default use) and on a correlation matrix (``data_format=1``).

It checks that all three agree to 1e-6 and prints speed ratios (peer time / our time), then
times the three performance targets: p = 20 exact on n = 1M (< 10 s), 1,000 bootstrap
replicates at p = 10, n = 100k (< 10 s), and >= 500x against dominance-analysis at p = 10,
n = 100k.

Peer runs whose estimated time exceeds ``--peer-budget`` seconds are skipped and marked so
in the table. Times are wall-clock seconds, best of a few repeats for the fast calls.

Usage::

    python benchmarks/bench_importance.py            # full grid
    python benchmarks/bench_importance.py --quick    # smoke run (< 1 min)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ipm_analysis.drivers import relative_importance

DA_ENV = HERE / "_envs" / "dominance"
DA_PY = DA_ENV / "bin" / "python"
DA_REQUIREMENTS = ["dominance-analysis", "numpy<2", "pandas<2.3", "ipython<9"]
TOL = 1e-6

# Runs inside the dominance-analysis venv: python runner.py data.npy out.json mode
DA_RUNNER = r"""
import contextlib, io, json, sys, time, warnings
import numpy as np, pandas as pd
warnings.filterwarnings("ignore")
path, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
arr = np.load(path)
cols = [f"x{j}" for j in range(arr.shape[1] - 1)] + ["y"]
df = pd.DataFrame(arr, columns=cols)
sink = io.StringIO()
with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
    from dominance_analysis import Dominance
    t0 = time.perf_counter()
    if mode == "raw":
        dom = Dominance(data=df, target="y", objective=1)
    else:
        dom = Dominance(data=df.corr(), target="y", objective=1, data_format=1)
    imp = dom.incremental_rsquare()
    seconds = time.perf_counter() - t0
json.dump({"seconds": seconds, "importance": {k: float(v) for k, v in imp.items()}},
          open(out, "w"))
"""


# --------------------------------------------------------------------------------------
# data and runners
# --------------------------------------------------------------------------------------


def make_data(n: int, p: int, seed: int = 0) -> pd.DataFrame:
    """Correlated drivers (one common factor), a target with declining true effects."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n, 1))
    X = 0.6 * common + rng.normal(size=(n, p))
    beta = np.linspace(1.0, 0.05, p)
    y = X @ beta + rng.normal(size=n) * 2.0
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)])
    df["y"] = y
    return df


def best_time(fn, repeat: int):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_ours(df: pd.DataFrame, drivers: list[str], repeat: int):
    t, res = best_time(lambda: relative_importance(df, "y", drivers), repeat)
    return t, res["importance"].to_numpy()


def run_pingouin(df: pd.DataFrame, drivers: list[str], repeat: int):
    import pingouin as pg

    def call():
        return pg.linear_regression(df[drivers], df["y"], relimp=True)

    t, res = best_time(call, repeat)
    res = res.set_index("names").loc[drivers, "relimp"].to_numpy(dtype=float)
    return t, res


def ensure_da_env(log) -> bool:
    """Create the dominance-analysis venv on first use; True if it imports."""
    check = [str(DA_PY), "-c", "import dominance_analysis"]
    if DA_PY.exists():
        ok = subprocess.run(check, check=False, capture_output=True).returncode == 0
        if ok:
            return True
    log(f"creating {DA_ENV} and installing {' '.join(DA_REQUIREMENTS)} ...")
    DA_ENV.parent.mkdir(parents=True, exist_ok=True)
    if subprocess.run([sys.executable, "-m", "venv", str(DA_ENV)], check=False).returncode != 0:
        return False
    pip = [str(DA_PY), "-m", "pip", "install", "--quiet", *DA_REQUIREMENTS]
    if subprocess.run(pip, check=False).returncode != 0:
        return False
    return subprocess.run(check, check=False, capture_output=True).returncode == 0


def run_da(npy: Path, mode: str, drivers: list[str], timeout: float):
    with tempfile.TemporaryDirectory() as tmp:
        runner = Path(tmp) / "runner.py"
        runner.write_text(DA_RUNNER)
        out = Path(tmp) / "out.json"
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
        proc = subprocess.run(
            [str(DA_PY), str(runner), str(npy), str(out), mode],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        res = json.loads(out.read_text())
    return res["seconds"], np.array([res["importance"][d] for d in drivers])


class CostModel:
    """Per-subset-fit time of dominance-analysis as a + b * n, from the runs so far."""

    def __init__(self):
        self.points: list[tuple[int, float]] = []  # (n, seconds per subset)

    def add(self, n: int, fits: int, seconds: float) -> None:
        self.points.append((n, seconds / fits))

    def estimate(self, n: int, fits: int) -> float | None:
        if not self.points:
            return None
        ns = np.array([p[0] for p in self.points], dtype=float)
        ts = np.array([p[1] for p in self.points])
        if len(set(ns)) >= 2:
            A = np.column_stack([np.ones_like(ns), ns])
            a, b = np.linalg.lstsq(A, ts, rcond=None)[0]
            per = max(a, 0.0) + max(b, 0.0) * n
            per = max(per, ts[ns <= n].max() if (ns <= n).any() else 0.0)
        else:
            per = ts[0] * max(1.0, n / ns[0])
        return per * fits


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def fmt_t(t: float | None) -> str:
    return "-" if t is None else (f"{t:.4f}" if t < 1 else f"{t:.2f}")


def fmt_r(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x"


def fmt_d(d: float | None) -> str:
    if d is None:
        return "-"
    return f"{d:.1e}" + ("" if d <= TOL else " FAIL")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small grid, fast smoke run")
    ap.add_argument(
        "--peer-budget",
        type=float,
        default=240.0,
        help="skip a dominance-analysis run whose estimated time exceeds this (s)",
    )
    ap.add_argument("--no-dominance", action="store_true", help="skip dominance-analysis")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.quick:
        grid = [(6, 10_000), (8, 10_000)]
        big_p20_n, boot_reps, headline = 100_000, 100, None
    else:
        grid = [(p, n) for p in (6, 8, 10, 12) for n in (10_000, 100_000, 1_000_000)]
        big_p20_n, boot_reps, headline = 1_000_000, 1000, (10, 100_000)

    use_da = not args.no_dominance and ensure_da_env(log)
    costs = {"raw": CostModel(), "corr": CostModel()}
    rows = []
    failures = []
    headline_ratio = None
    for p, n in grid:
        log(f"p={p} n={n:,} ...")
        df = make_data(n, p, seed=p * 1000 + n % 997)
        drivers = [f"x{j}" for j in range(p)]
        repeat = 3 if n <= 100_000 else 1
        t_ours, ours = run_ours(df, drivers, repeat)
        t_pg, pg_imp = run_pingouin(df, drivers, repeat)
        d_pg = float(np.abs(pg_imp - ours).max())
        row = {
            "p": p,
            "n": n,
            "ours": t_ours,
            "pg": t_pg,
            "pg_ratio": t_pg / t_ours,
            "pg_d": d_pg,
        }
        if d_pg > TOL:
            failures.append(f"pingouin p={p} n={n}: max diff {d_pg:.2e}")
        if use_da:
            with tempfile.TemporaryDirectory() as tmp:
                npy = Path(tmp) / "data.npy"
                np.save(npy, df[drivers + ["y"]].to_numpy())
                for mode in ("raw", "corr"):
                    fits = 2**p - 1
                    est = costs[mode].estimate(n if mode == "raw" else 1, fits)
                    if est is not None and est > args.peer_budget:
                        row[mode] = f"skipped (est. {est:,.0f} s)"
                        continue
                    try:
                        t_da, da_imp = run_da(npy, mode, drivers, timeout=4 * args.peer_budget)
                    except subprocess.TimeoutExpired:
                        row[mode] = "timed out"
                        continue
                    costs[mode].add(n if mode == "raw" else 1, fits, t_da)
                    d_da = float(np.abs(da_imp - ours).max())
                    row[mode] = t_da
                    row[mode + "_ratio"] = t_da / t_ours
                    row[mode + "_d"] = d_da
                    if d_da > TOL:
                        failures.append(f"dominance-analysis {mode} p={p} n={n}: {d_da:.2e}")
                    if mode == "raw" and headline == (p, n):
                        headline_ratio = t_da / t_ours
        rows.append(row)

    # ---- the grid table
    print()
    print("Exact Shapley/LMG: seconds (wall clock) and speed ratio = peer time / our time;")
    print(f"max diff = largest absolute difference of the importances to ours (<= {TOL:g}).")
    print()
    head = (
        "|  p |         n | ours (s) | pingouin (s) | ratio | max diff "
        "| dominance-analysis raw (s) | ratio | max diff "
        "| dominance-analysis corr (s) | ratio | max diff |"
    )
    print(head)
    print("|" + "|".join("---" for _ in head.split("|")[1:-1]) + "|")
    for r in rows:
        cells = [
            f"{r['p']:>3}",
            f"{r['n']:>9,}",
            fmt_t(r["ours"]),
            fmt_t(r["pg"]),
            fmt_r(r["pg_ratio"]),
            fmt_d(r["pg_d"]),
        ]
        for mode in ("raw", "corr"):
            v = r.get(mode)
            if v is None:
                cells += ["not run", "-", "-"]
            elif isinstance(v, str):
                cells += [v, "-", "-"]
            else:
                cells += [fmt_t(v), fmt_r(r[mode + "_ratio"]), fmt_d(r[mode + "_d"])]
        print("| " + " | ".join(cells) + " |")

    # ---- the targets
    print()
    print("Targets")
    print()
    print("| check | measured | target | met |")
    print("|---|---|---|---|")
    log(f"p=20 n={big_p20_n:,} ...")
    df20 = make_data(big_p20_n, 20, seed=20)
    t20, res20 = best_time(lambda: relative_importance(df20, "y", [f"x{j}" for j in range(20)]), 1)
    ok20 = abs(res20["importance"].sum() - res20.attrs["r2"]) < 1e-10
    label = f"p=20 exact (1,048,576 subsets), n={big_p20_n:,}"
    print(f"| {label} | {t20:.2f} s | < 10 s | {'yes' if t20 < 10 and ok20 else 'NO'} |")

    log(f"bootstrap {boot_reps} replicates p=10 n=100,000 ...")
    df10 = make_data(100_000, 10, seed=10)
    tb, _ = best_time(
        lambda: relative_importance(df10, "y", [f"x{j}" for j in range(10)], n_boot=boot_reps),
        1,
    )
    label = f"{boot_reps:,} bootstrap replicates, p=10, n=100,000"
    print(f"| {label} | {tb:.2f} s | < 10 s | {'yes' if tb < 10 else 'NO'} |")
    if headline is not None:
        if headline_ratio is None:
            print("| speed vs dominance-analysis (raw), p=10, n=100,000 | not run | >= 500x | ? |")
        else:
            met = "yes" if headline_ratio >= 500 else "NO"
            print(
                "| speed vs dominance-analysis (raw), p=10, n=100,000 "
                f"| {headline_ratio:,.0f}x | >= 500x | {met} |"
            )
    print()
    print("agreement: " + ("all within 1e-6" if not failures else "; ".join(failures)))
    sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
