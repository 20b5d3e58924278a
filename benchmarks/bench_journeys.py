"""Time and peak memory of journey mining on a synthetic event log.

Run from the repository root, e.g.::

    python benchmarks/bench_journeys.py --events 1000000
    python benchmarks/bench_journeys.py --events 10000000 --only variants conformance
    python benchmarks/bench_journeys.py --real-shaped 50000 100000 300000

The last form times variants + directly-follows and conformance against pm4py on logs shaped
like real ones (a generated loan-application-like log and the public logs replicated).

The log mimics an installer's journey: a designed sequence of six steps with skips,
repeats, swaps, status calls and a channel and link per event, and a few very long cases
(the loops of the journey functions run over positions in a case, so long outliers are the
worst case for them). Nothing is written to disk; results go to stdout as one line per
function.
"""

from __future__ import annotations

import argparse
import os
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


# ------------------------------------------------------------------------------------------
# logs shaped like real ones: long traces, thousands of variants, many same-timestamp events
# ------------------------------------------------------------------------------------------

REAL_LOGS = Path(__file__).resolve().parents[1] / "tests" / "data" / "real_logs"
LOAN_STEPS = ["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "W_Complete application", "A_ACCEPTED",
              "O_SENT", "W_Call after offer", "O_ACCEPTED", "A_APPROVED"]


def loan_like_events(n_events: int, seed: int = 0) -> pd.DataFrame:
    """About ``n_events`` events shaped like a loan-application log (mean trace ~16 events,
    median 8, a long tail past 200, variants for about 40% of the cases, a third of the
    events at the timestamp of the event before), built by a Markov chain over 24
    activities, one loop per position."""
    rng = np.random.default_rng(seed)
    work = ["W_Complete application", "W_Call after offer", "W_Validate application", "W_Handle leads",
            "W_Fix incoming lead", "W_Assess fraud"]
    labels = LOAN_STEPS[:3] + [w + " | " + t for w in work for t in ("START", "COMPLETE")] + [
        "A_ACCEPTED", "O_SELECTED", "O_CREATED", "O_SENT", "O_SENT_BACK", "O_CANCELLED", "O_ACCEPTED",
        "A_APPROVED", "A_DECLINED"]
    k = len(labels)
    trans = np.zeros((k, k))
    for i in range(k):  # each activity has a usual successor and two rarer ones
        nxt = rng.choice(k, size=2, replace=False)
        trans[i, nxt] = 0.06
        trans[i, (i + 1) % k] += 0.88
    trans /= trans.sum(axis=1, keepdims=True)
    cum = trans.cumsum(axis=1)
    n_cases = max(n_events // 16, 1)
    # per case chance to end after each event: a third end early (declined at once), the
    # others run long, as in the public loan-application log (13,087 cases, 4,366 variants)
    stop = np.where(rng.random(n_cases) < 0.3, 0.35, rng.uniform(0.03, 0.07, n_cases))
    state = np.zeros(n_cases, dtype=np.int64)
    alive = np.arange(n_cases)
    cases, acts = [], []
    pos = 0
    while len(alive) and pos < 400:
        cases.append(alive)
        acts.append(state[alive])
        r = rng.random(len(alive))
        state[alive] = (r[:, None] > cum[state[alive]]).sum(axis=1).clip(0, k - 1)
        keep = rng.random(len(alive)) > stop[alive]
        alive = alive[keep]
        pos += 1
    case = np.concatenate(cases)
    act = np.concatenate(acts)
    order = np.argsort(case, kind="stable")  # grouped by case, in time order, like an export
    case, act = case[order], act[order]
    gaps = rng.exponential(6 * 3_600, len(case)).astype(np.int64) * 10**9
    gaps[rng.random(len(case)) < 0.33] = 0  # same timestamp as the event before
    first = np.flatnonzero(np.concatenate(([True], case[1:] != case[:-1])))
    start = pd.Timestamp("2011-10-01").value + rng.integers(0, 180 * 86_400, n_cases) * 10**9
    elapsed = np.cumsum(gaps)
    lengths = np.diff(np.append(first, len(case)))
    ts = np.repeat(start, lengths) + elapsed - np.repeat(elapsed[first], lengths)
    ids = np.char.add("17", np.arange(100_000, 100_000 + n_cases).astype(str))
    return _client_shape(ids[case], np.asarray(labels, dtype=object)[act], ts)


def _client_shape(case_ids, activities, ts_ns) -> pd.DataFrame:
    """A frame as the loader hands it over: Arrow-backed text, naive UTC timestamps, source row."""
    return pd.DataFrame({"case_id": pd.Series(case_ids, dtype="str"),
                         "activity": pd.Series(activities, dtype="str"),
                         "timestamp": pd.to_datetime(np.asarray(ts_ns, dtype=np.int64)).as_unit("us"),
                         "row": np.arange(len(case_ids), dtype=np.int64)})


def replicated_events(name: str, n_events: int) -> pd.DataFrame:
    """A public log of ``tests/data/real_logs`` repeated until it has about ``n_events`` events:
    each copy with its own case ids and shifted in time by the log's span."""
    raw = pd.read_csv(REAL_LOGS / f"{name}.csv", usecols=["case:concept:name", "concept:name", "time:timestamp"],
                      dtype=str)
    ts = pd.to_datetime(raw["time:timestamp"], utc=True, format="ISO8601").dt.tz_localize(None)
    ns = ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
    span = int(ns.max() - ns.min()) + 86_400 * 10**9
    copies = max(1, round(n_events / len(raw)))
    rep = np.repeat(np.arange(copies), len(raw))
    case = np.tile(raw["case:concept:name"].to_numpy(dtype=object), copies)
    case = np.char.add(np.char.add(case.astype(str), "-"), rep.astype(str))
    act = np.tile(raw["concept:name"].to_numpy(dtype=object), copies)
    return _client_shape(case, act, np.tile(ns, copies) + rep * span)


def _best(call, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t0)
    return best, out


CLOCK = time.process_time  # CPU seconds of this process; set to time.perf_counter for wall time


def _best_interleaved(calls: list, repeats: int) -> list[tuple[float, object]]:
    """Each call ``repeats`` times, the calls taking turns; per call its best time (on
    :data:`CLOCK`) and result. Every call here runs on one thread, so on a machine shared with
    other work the CPU time of the process is the steadier measure; ``--wall`` uses wall time."""
    import gc

    best = [(float("inf"), None)] * len(calls)
    for _ in range(repeats):
        for i, call in enumerate(calls):
            gc.collect()
            t0 = CLOCK()
            out = call()
            took = CLOCK() - t0
            if took < best[i][0]:
                best[i] = (took, out)
    return best


def real_shaped(sizes: list[int], repeats: int = 3, peer_cases: int = 200) -> None:
    """Variants + directly-follows, ours against pm4py, on logs shaped like real ones, and
    conformance against pm4py's alignments on a sample of ``peer_cases`` cases.

    Ours: one prepared log (factorised text, int64 timestamps, case boundaries) from the frame
    as a loaded client holds it, then variants and the directly-follows counts on it (what
    pm4py's ``discover_dfg`` gives); a second column adds our directly-follows times (mean,
    median, p90 per pair), which pm4py's call does not compute. pm4py: ``format_dataframe`` +
    ``get_variants`` + ``discover_dfg``. Best of ``repeats`` runs each, the two sides taking
    turns.
    """
    os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "False")
    import pm4py

    logs = {"loan-like (generated)": (loan_like_events, LOAN_STEPS),
            "helpdesk (replicated)": (lambda n: replicated_events("helpdesk", n),
                                      ["Assign seriousness", "Take in charge ticket", "Resolve ticket", "Closed"]),
            "receipt (replicated)": (lambda n: replicated_events("receipt", n),
                                     ["Confirmation of receipt", "T02 Check confirmation of receipt",
                                      "T04 Determine confirmation of receipt",
                                      "T05 Print and send confirmation of receipt",
                                      "T06 Determine necessity of stop advice"])}
    print("| log | events | cases | variants | ours: prepare + variants + DFG (s) | pm4py: format + variants + "
          "DFG (s) | ratio | same variants and DFG counts | ours with DFG times (s) | ratio | conformance: ours (s) "
          "| alignments (s) | ratio | fits and fitness agree |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (build, steps) in logs.items():
        for size in sizes:
            events = build(size)

            def ours():
                log = journeys.prepare(events)
                return journeys.variants(log), journeys.directly_follows(log, durations=False)

            def ours_timed():  # the directly-follows table with median and p90 times as well
                log = journeys.prepare(events)
                return journeys.variants(log), journeys.directly_follows(log)

            def peer():
                frame = _pm4py_frame(pm4py, events[["case_id", "activity", "timestamp"]].copy())
                return pm4py.get_variants(frame), pm4py.discover_dfg(frame)[0]

            # interleaved, so that both sides meet the same load on a shared machine
            (t_ours, (v, d)), (t_timed, (_, d_timed)), (t_peer, (pv, pd_)) = _best_interleaved(
                [ours, ours_timed, peer], repeats)
            same = (dict(zip(v["activities"], v["cases"])) == dict(pv)
                    and {(a, b): c for a, b, c in zip(d["from_activity"], d["to_activity"], d["count"])} == dict(pd_)
                    and d_timed[["from_activity", "to_activity", "count"]].equals(d))
            ids = events["case_id"].unique()
            rng = np.random.default_rng(0)
            pick = ids[rng.choice(len(ids), size=min(peer_cases, len(ids)), replace=False)]
            sample = events[events["case_id"].isin(pick)].reset_index(drop=True)
            (t_conf, conf), = _best_interleaved([lambda: journeys.conformance(sample, steps)], repeats)
            t0 = CLOCK()
            aligned = pm4py.conformance_diagnostics_alignments(
                _pm4py_frame(pm4py, sample[["case_id", "activity", "timestamp"]].copy()), *_sequence_net(steps),
                multi_processing=False, return_diagnostics_dataframe=True)
            t_align = CLOCK() - t0
            theirs = aligned.set_index("case_id")["fitness"].reindex(conf["case_id"]).to_numpy()
            agree = bool((conf["fits"].to_numpy() == (theirs == 1.0)).all()
                         and np.allclose(conf["fitness"].to_numpy(), theirs, rtol=0, atol=1e-12))
            print(f"| {name} | {len(events):,} | {len(ids):,} | {len(v):,} | {t_ours:.3f} | {t_peer:.2f} | "
                  f"{t_peer / t_ours:.1f}x | {'yes' if same else 'NO'} | {t_timed:.3f} | {t_peer / t_timed:.1f}x | "
                  f"{t_conf:.3f} ({len(pick)} cases) | "
                  f"{t_align:.2f} | {t_align / t_conf:.0f}x | {'yes' if agree else 'NO'} |", flush=True)


def _real_shaped_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="journeys on logs shaped like real ones, against pm4py")
    parser.add_argument("--real-shaped", nargs="+", type=int, required=True, metavar="EVENTS")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-cases", type=int, default=200)
    parser.add_argument("--wall", action="store_true", help="wall-clock time instead of the process's CPU time")
    args = parser.parse_args(argv)
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    print(f"times: {'wall clock' if args.wall else 'CPU time of the process'} (s), best of {args.repeats}")
    real_shaped(args.real_shaped, args.repeats, args.peer_cases)


if __name__ == "__main__":
    if "--real-shaped" in sys.argv:
        _real_shaped_main(sys.argv[1:])
    else:
        main()
