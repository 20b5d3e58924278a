"""Time and peak memory of journey mining on a synthetic event log.

Run from the repository root, e.g.::

    python benchmarks/bench_journeys.py --events 1000000
    python benchmarks/bench_journeys.py --events 10000000 --only variants conformance

The log mimics an installer's journey: a designed sequence of six steps with skips,
repeats, swaps, status calls and a channel and link per event, and a few very long cases
(the loops of the journey functions run over positions in a case, so long outliers are the
worst case for them). Nothing is written to disk; results go to stdout as one line per
function.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ipm_analysis import journeys
from tests.test_journeys import _sequence_net  # the designed journey as a pm4py Petri net, as in the tests

STEPS = ["Quote", "Order", "Plan", "Deliver", "Install", "Invoice"]
EXTRA = ["Status call", "Repair visit", "Complaint"]
CHANNELS = ["phone", "e-mail", "web", "visit", "app"]
LINKS = ["Sales", "Planning", "Logistics", "Service", "Finance"]


def synthetic_events(n_events: int, seed: int = 0, shuffle: bool = False) -> pd.DataFrame:
    """About ``n_events`` events in the contract shape, built without per-case loops.

    The rows come grouped by case and in time order, like most exports; ``shuffle=True``
    shuffles them (``row`` keeps the source order), the slow path of the event sort.
    """
    rng = np.random.default_rng(seed)
    mean_len = 8
    n_cases = max(n_events // mean_len, 1)
    lengths = rng.poisson(mean_len - 1, n_cases) + 1
    lengths[: min(3, n_cases)] = 2_000  # a few very long outliers
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths  # position of each case's first event
    case = np.repeat(np.arange(n_cases), lengths)
    pos = np.arange(total) - np.repeat(first, lengths)
    labels = np.array(STEPS + EXTRA, dtype=object)
    on_design = rng.random(total) < 0.80
    act = np.where(on_design, np.minimum(pos, len(STEPS) - 1), rng.integers(0, len(labels), total))
    year_start = pd.Timestamp("2025-01-01", tz="UTC").value
    case_start = year_start + rng.integers(0, 365 * 86_400, n_cases) * 10**9
    gaps = rng.exponential(36 * 3_600, total).astype(np.int64) * 10**9
    gaps[pos == 0] = 0
    gaps[rng.random(total) < 0.05] = 0  # ties at the same timestamp
    elapsed = np.cumsum(gaps)
    ts = np.repeat(case_start, lengths) + elapsed - np.repeat(elapsed[first], lengths)

    def pick(values: list[str], size: int) -> pd.Series:
        codes = rng.integers(0, len(values), size)
        return pd.Series(np.asarray(values, dtype=object)[codes], dtype="str")

    case_ids = pd.Index(np.char.add("case-", np.arange(n_cases).astype(str)))
    customers = pd.Index(np.char.add("cust-", (np.arange(n_cases) // 2).astype(str)))
    events = pd.DataFrame(
        {
            "case_id": case_ids[case],
            "activity": pd.Series(labels[act], dtype="str"),
            "timestamp": pd.to_datetime(ts, utc=True),
            "channel": pick(CHANNELS, total),
            "link": pick(LINKS, total),
            "customer_id": customers[case],
            "row": np.arange(total, dtype=np.int64),
        }
    )
    if shuffle:
        events = events.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return events


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", default=None, help="function names to time")
    parser.add_argument("--shuffle", action="store_true", help="rows not grouped by case")
    parser.add_argument("--peer", action="store_true",
                        help="also time pm4py (a test-only peer) on the same log: variants, DFG "
                        "and alignments against the designed journey")
    parser.add_argument("--peer-cases", type=int, default=None, metavar="N",
                        help="run the conformance comparison on a random sample of N cases "
                        "(both sides; pm4py's alignments are slow)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    events = synthetic_events(args.events, shuffle=args.shuffle)
    n_cases = events["case_id"].nunique()
    print(f"built {len(events):,} events, {n_cases:,} cases in {time.perf_counter() - t0:.1f}s")
    calls = {
        "variants": lambda: journeys.variants(events),
        "case_variants": lambda: journeys.case_variants(events),
        "start_end_activities": lambda: journeys.start_end_activities(events),
        "conformance": lambda: journeys.conformance(events, STEPS),
        "step_deviation": lambda: journeys.step_deviation(events, STEPS),
        "directly_follows": lambda: journeys.directly_follows(events),
        "handovers": lambda: journeys.handovers(events),
        "funnel": lambda: journeys.funnel(events, STEPS, by="channel"),
        "channel_mix": lambda: journeys.channel_mix(events),
        "contacts": lambda: journeys.contacts(events, avoidable=["Status call"]),
        "contacts_customer": lambda: journeys.contacts(
            events, avoidable=["Status call"], per="customer"
        ),
        "journey_features": lambda: journeys.journey_features(
            events, STEPS, avoidable=["Status call"]
        ),
    }
    for name, call in calls.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        out = call()
        rows = len(out.shares) if isinstance(out, journeys.ChannelMix) else len(out)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        seconds = time.perf_counter() - t0
        print(f"{name:22s} {seconds:7.2f}s  {rows:>9,} rows  peak RSS so far {peak_mb:,.0f} MB")
    if args.peer:
        compare_with_pm4py(events, args.peer_cases)


def _pm4py_frame(pm4py, frame: pd.DataFrame) -> pd.DataFrame:
    """pm4py's formatted log of a copy of the three columns it needs (``format_dataframe``
    adds columns to the frame it is given)."""
    return pm4py.format_dataframe(
        frame, case_id="case_id", activity_key="activity", timestamp_key="timestamp"
    )


def compare_with_pm4py(events: pd.DataFrame, peer_cases: int | None = None) -> None:
    """Variants, directly-follows counts and conformance by pm4py on the same log, side by
    side with ours.

    pm4py's times include ``format_dataframe``. Conformance: our ``fits`` (the trace is the
    designed journey) against pm4py's alignment fitness == 1 on a sequential Petri net of
    ``STEPS``, one process, per case; with ``peer_cases`` both sides run on the same random
    sample of that many cases.
    """
    import os

    os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "False")  # read when pm4py is imported
    import pm4py

    if "row" in events.columns and not events["row"].is_monotonic_increasing:
        # pm4py keeps frame order on ties: give it the source-row order (our tie rule)
        events = events.sort_values("row", kind="stable").reset_index(drop=True)
    frame = events[["case_id", "activity", "timestamp"]].copy()
    t0 = time.perf_counter()
    frame = _pm4py_frame(pm4py, frame)
    t_format = time.perf_counter() - t0
    rows = []
    t0 = time.perf_counter()
    peer_variants = pm4py.get_variants(frame)
    t_peer = time.perf_counter() - t0 + t_format
    t0 = time.perf_counter()
    ours = journeys.variants(events)
    t_ours = time.perf_counter() - t0
    same = dict(zip(ours["activities"], ours["cases"])) == dict(peer_variants)
    rows.append(("variants", t_ours, t_peer, f"{same} ({len(ours):,} variants)"))
    t0 = time.perf_counter()
    dfg, _, _ = pm4py.discover_dfg(frame)
    t_peer = time.perf_counter() - t0 + t_format
    t0 = time.perf_counter()
    df = journeys.directly_follows(events)
    t_ours = time.perf_counter() - t0
    ours_dfg = {(a, b): c for a, b, c in zip(df["from_activity"], df["to_activity"], df["count"])}
    rows.append(("directly_follows", t_ours, t_peer, f"{ours_dfg == dict(dfg)} ({len(df):,} pairs)"))
    del frame

    sample = events
    if peer_cases is not None:
        ids = events["case_id"].unique()
        if peer_cases < len(ids):
            rng = np.random.default_rng(0)
            keep = rng.choice(len(ids), size=peer_cases, replace=False)
            sample = events[events["case_id"].isin(ids[keep])].reset_index(drop=True)
    t0 = time.perf_counter()
    conf = journeys.conformance(sample, STEPS)
    t_ours = time.perf_counter() - t0
    frame = sample[["case_id", "activity", "timestamp"]].copy()
    t0 = time.perf_counter()
    aligned = pm4py.conformance_diagnostics_alignments(
        _pm4py_frame(pm4py, frame),
        *_sequence_net(STEPS),
        multi_processing=False,
        return_diagnostics_dataframe=True,
    )
    t_peer = time.perf_counter() - t0
    theirs = aligned.set_index("case_id")["fitness"].reindex(conf["case_id"]).to_numpy()
    agree = int((conf["fits"].to_numpy() == (theirs == 1.0)).sum())
    same_fitness = int(np.isclose(conf["fitness"].to_numpy(), theirs, rtol=0, atol=1e-12).sum())
    n = len(conf)
    name = "conformance vs alignments" + (f" ({n:,}-case sample)" if sample is not events else "")
    rows.append(
        (name, t_ours, t_peer,
         f"fits agrees on {agree:,} of {n:,} cases; fitness equal on {same_fitness:,}")
    )
    print()
    print(f"pm4py on {len(events):,} events, {events['case_id'].nunique():,} cases"
          + (f"; conformance on {len(sample):,} events, {n:,} cases" if sample is not events else ""))
    print("| function | ours (s) | pm4py incl. format_dataframe (s) | ratio | same counts |")
    print("|---|---|---|---|---|")
    for name, ours_s, peer_s, same in rows:
        print(f"| {name} | {ours_s:.2f} | {peer_s:.2f} | {peer_s / ours_s:.1f}x | {same} |")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the run {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
