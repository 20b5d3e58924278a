"""Benchmark: the whole client-level driver analysis, step by step, as ``03_drivers`` computes it.

For each size a client folder is generated (Parquet tables, a client.yaml with ``p`` chain
KPIs in chains of four, responses spread evenly over the chains, two response segments), loaded
once (not timed as a step: loading belongs to the data layer), and then the notebook's
computations are timed one by one:

* ``frames``      model frames of every chain (``modelframe.model_frame``);
* ``effects``     driver models per chain (OLS HC3, top/bottom-box logits, ordinal logit);
* ``importance``  exact Shapley shares with their bootstrap interval per chain;
* ``agenda``      the whole ``agenda.improvement_agenda`` (frames, effects, importance and the
                  what-ifs together, as the notebook calls it);
* ``thresholds``  ``report.threshold_analyses`` (knot scans and response curves);
* ``segments``    ``report.segment_differences`` (interaction tests per chain and segment);
* ``summary``     ``report.drivers_summary`` (JSON-ready numbers);
* ``total``       agenda + thresholds + segments + summary (the notebook's cell time without
                  figures).

``frames``, ``effects`` and ``importance`` are parts of ``agenda``, timed separately to show
where its time goes. Half of the KPIs are 0/1 shares, a quarter days (a long right tail), a
quarter counts; the score is NPS 0-10 from a latent normal with real effects.

Usage::

    python benchmarks/bench_drivers_report.py                       # p = 4, 8, 16, 32; n = 20k, 100k, 1M
    python benchmarks/bench_drivers_report.py --p 16 --n 26000 100000
    python benchmarks/bench_drivers_report.py --max-n 100000        # skip the largest sizes
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ipm_analysis import load_client, report  # noqa: E402
from ipm_analysis.agenda import importance_performance_table, improvement_agenda  # noqa: E402
from ipm_analysis.modelframe import model_frame  # noqa: E402
from ipm_analysis.effects import driver_effects  # noqa: E402

KPIS_PER_CHAIN = 4
N_BOOT = 200


def make_client(folder: Path, p: int, n: int, seed: int = 0) -> Path:
    """A client with ``p`` chain KPIs (chains of four) and ``n`` linked responses."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_chains = max(1, p // KPIS_PER_CHAIN)
    chain_of = rng.integers(0, n_chains, n)
    day = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    cases = {"case_id": np.char.add("C", np.arange(n).astype(str)), "chain": np.char.add("ch", chain_of.astype(str)),
             "opened_at": day, "closed_at": day + pd.to_timedelta(rng.integers(0, 20, n), unit="D")}
    latent = rng.normal(size=n)
    kpis = []
    for j in range(p):
        kind = "share" if j % 4 in (0, 1) else ("days" if j % 4 == 2 else "count")
        if kind == "share":
            v = (rng.random(n) < 0.85).astype(float)
            latent += 0.6 * v
            target, direction = 0.9, "higher"
        elif kind == "days":
            v = np.minimum(rng.geometric(0.3, n) - 1, 60).astype(float)
            latent -= 0.1 * v + 0.4 * np.maximum(0, v - 3)
            target, direction = 2.0, "lower"
        else:
            v = rng.poisson(0.8, n).astype(float)
            latent -= 0.25 * v
            target, direction = 0.5, "lower"
        cases[f"k{j}"] = v
        kpis.append((j, kind, target, direction))
    score = np.clip(np.round(6.5 + 1.6 * (latent - latent.mean()) + rng.normal(scale=1.5, size=n)), 0, 10)
    responses = pd.DataFrame({"response_id": np.char.add("R", np.arange(n).astype(str)), "responded_at": day,
                              "score": score, "case_id": cases["case_id"],
                              "region": rng.choice(["north", "south", "east"], n),
                              "member": rng.choice(["yes", "no"], n)})
    pd.DataFrame(cases).to_parquet(folder / "cases.parquet", index=False)
    responses.to_parquet(folder / "responses.parquet", index=False)
    chains = []
    for c in range(n_chains):
        ks = [k for k in kpis if k[0] // KPIS_PER_CHAIN == c] if p >= KPIS_PER_CHAIN else kpis
        chains.append({"id": f"ch{c}", "name": f"Chain {c}", "owner": f"Owner {c}", "links": ["Ops"],
                       "kpis": [{"id": f"k{j}", "name": f"KPI {j}", "expression": f"k{j}", "unit": kind,
                                 "direction": direction, "target": target, "link": "Ops"}
                                for j, kind, target, direction in ks]})
    cfg = {"id": f"bench_p{p}_n{n}", "title": "Driver benchmark", "result_kpi": {"name": "NPS", "scale": "nps"},
           "tables": {"responses": {"file": "responses.parquet"}, "cases": {"file": "cases.parquet"}},
           "linkage": {"by": "case_id"}, "chains": chains,
           "segments": [{"id": "region_seg", "name": "Region", "table": "responses", "column": "region"},
                        {"id": "member_seg", "name": "Member", "table": "responses", "column": "member"}],
           "reporting": {"period": "month"}}
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def run(p: int, n: int, root: Path) -> dict:
    folder = make_client(root / f"p{p}_n{n}", p, n)
    client, t_load = _timed(lambda: load_client(folder))
    row = {"p": p, "n": n, "load": t_load}
    chains = [c.id for c in client.config.chains]
    frames, row["frames"] = _timed(lambda: [model_frame(client, c) for c in chains])
    _, row["effects"] = _timed(lambda: [driver_effects(mf) for mf in frames])
    _, row["importance"] = _timed(lambda: [importance_performance_table(mf, client.case_kpis, n_boot=N_BOOT)
                                           for mf in frames])
    agenda, row["agenda"] = _timed(lambda: improvement_agenda(client, n_boot=N_BOOT, seed=0))
    th, row["thresholds"] = _timed(lambda: report.threshold_analyses(client, agenda))
    seg, row["segments"] = _timed(lambda: report.segment_differences(client, agenda))
    _, row["summary"] = _timed(lambda: report.drivers_summary(agenda, thresholds=th, segments=seg))
    row["total"] = row["agenda"] + row["thresholds"] + row["segments"] + row["summary"]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--n", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    ap.add_argument("--max-n", type=int, default=None, help="skip sizes above this many answers")
    args = ap.parse_args(argv)
    sizes = [n for n in args.n if args.max_n is None or n <= args.max_n]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for p in args.p:
                r = run(p, n, Path(tmp))
                rows.append(r)
                print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()),
                      flush=True)
    table = pd.DataFrame(rows)
    cols = ["p", "n", "load", "frames", "effects", "importance", "agenda", "thresholds", "segments", "summary",
            "total"]
    print()
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in table[cols].itertuples(index=False):
        print("| " + " | ".join(f"{v:,}" if isinstance(v, (int, np.integer)) else f"{v:.2f}" for v in r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
