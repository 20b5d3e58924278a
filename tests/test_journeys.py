"""Tests for ipm_analysis.journeys.

Hand-made logs pin down each definition; the two real logs in tests/data/real_logs are
cross-checked against pm4py (a test-only peer, AGPL: never imported by the package).

pm4py quirks these tests work around:

- ``pm4py.get_variants`` / start / end activities on a frame that did not go through
  ``pm4py.format_dataframe`` read the rows in frame order (its own internal sort result is
  discarded), so every pm4py call here gets a formatted frame.
- ``format_dataframe`` sorts by case, timestamp and the original position (a stable
  ``np.lexsort`` underneath), so ties at one timestamp keep frame order: we hand pm4py the
  frame in source-row order, which is our tie rule.
- ``format_dataframe`` tries to parse every text column as a timestamp and adds columns to
  the frame it is given, so it gets a copy holding only the three columns it needs.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipm_analysis import journeys as j
from ipm_analysis.journeys import log as jlog
from ipm_analysis.errors import AnalysisError, IpmError

# pm4py's alignments use np.matrix, which warns on every trace
pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

REAL_LOGS = Path(__file__).parent / "data" / "real_logs"
DESIGN = ["a", "b", "c", "d"]
T0 = pd.Timestamp("2024-03-01 08:00", tz="UTC")


def make_events(traces: dict[str, str | list[str]], hours: float = 1.0, **extra) -> pd.DataFrame:
    """One event per activity, ``hours`` apart; single letters in a str are activities."""
    rows = []
    for case, acts in traces.items():
        for i, act in enumerate(acts):
            rows.append(
                {"case_id": case, "activity": act, "timestamp": T0 + pd.Timedelta(hours=i * hours)}
            )
    frame = pd.DataFrame(rows)
    frame["row"] = np.arange(len(frame), dtype=np.int64)
    for name, values in extra.items():
        frame[name] = values
    return frame


# --------------------------------------------------------------------------------------
# pm4py peer on the real logs
# --------------------------------------------------------------------------------------


def _read_real_log(name: str) -> pd.DataFrame:
    raw = pd.read_csv(
        REAL_LOGS / f"{name}.csv", usecols=["case:concept:name", "concept:name", "time:timestamp"]
    )
    raw["time:timestamp"] = pd.to_datetime(raw["time:timestamp"], utc=True, format="ISO8601")
    return raw


def _ours(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": raw["case:concept:name"],
            "activity": raw["concept:name"],
            "timestamp": raw["time:timestamp"],
            "row": np.arange(len(raw), dtype=np.int64),
        }
    )


def _pm4py_frame(pm4py, raw: pd.DataFrame) -> pd.DataFrame:
    return pm4py.format_dataframe(
        raw[["case:concept:name", "concept:name", "time:timestamp"]].copy(),
        case_id="case:concept:name",
        activity_key="concept:name",
        timestamp_key="time:timestamp",
    )


@pytest.fixture(scope="module")
def pm4py():
    os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "False")  # read when pm4py is imported
    return pytest.importorskip("pm4py")


@pytest.fixture(scope="module", params=["receipt", "helpdesk"])
def real_log(request, pm4py):
    raw = _read_real_log(request.param)
    return request.param, _ours(raw), _pm4py_frame(pm4py, raw), raw


def test_real_logs_have_the_documented_size(real_log):
    name, events, _, _ = real_log
    expected = {"receipt": (8577, 1434), "helpdesk": (21348, 4580)}[name]
    assert (len(events), events["case_id"].nunique()) == expected


def test_variants_match_pm4py(real_log, pm4py):
    _, events, formatted, _ = real_log
    ours = j.variants(events)
    assert dict(zip(ours["activities"], ours["cases"])) == pm4py.get_variants(formatted)
    assert ours["cases"].sum() == events["case_id"].nunique()
    assert ours["share"].sum() == pytest.approx(1.0)
    # most frequent first, ties by the activities tuple
    keys = list(zip(-ours["cases"], ours["activities"]))
    assert keys == sorted(keys)


def test_start_end_activities_match_pm4py(real_log, pm4py):
    _, events, formatted, _ = real_log
    ours = j.start_end_activities(events)
    assert {
        a: n for a, n in zip(ours["activity"], ours["start"]) if n
    } == pm4py.get_start_activities(formatted)
    assert {a: n for a, n in zip(ours["activity"], ours["end"]) if n} == pm4py.get_end_activities(
        formatted
    )


def test_directly_follows_counts_and_durations_match_pm4py(real_log, pm4py):
    _, events, formatted, _ = real_log
    ours = j.directly_follows(events)
    dfg, _, _ = pm4py.discover_dfg(formatted)
    assert {
        (a, b): n for a, b, n in zip(ours["from_activity"], ours["to_activity"], ours["count"])
    } == dfg
    perf, _, _ = pm4py.discover_performance_dfg(formatted)
    assert set(perf) == set(zip(ours["from_activity"], ours["to_activity"]))
    for a, b, mean, median in zip(
        ours["from_activity"], ours["to_activity"], ours["mean_hours"], ours["median_hours"]
    ):
        assert mean * 3600 == pytest.approx(perf[(a, b)]["mean"], rel=1e-9, abs=1e-6)
        assert median * 3600 == pytest.approx(perf[(a, b)]["median"], rel=1e-9, abs=1e-6)


def test_row_order_not_frame_order_decides(real_log):
    _, events, _, _ = real_log
    shuffled = events.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(j.variants(shuffled), j.variants(events))
    pd.testing.assert_frame_equal(j.directly_follows(shuffled), j.directly_follows(events))
    pd.testing.assert_frame_equal(j.case_variants(shuffled), j.case_variants(events))


def test_ties_follow_source_row_like_pm4py(pm4py):
    """helpdesk has 130 (case, timestamp) groups with several events: the tie rule shows."""
    raw = _read_real_log("helpdesk")
    assert raw.duplicated(["case:concept:name", "time:timestamp"]).sum() > 0
    events = _ours(raw)
    reversed_rows = events.assign(row=np.arange(len(events))[::-1].astype(np.int64))
    ours = j.variants(reversed_rows)
    # pm4py sees the file in the same (reversed) source order
    expected = pm4py.get_variants(_pm4py_frame(pm4py, raw.iloc[::-1].reset_index(drop=True)))
    assert dict(zip(ours["activities"], ours["cases"])) == expected
    assert expected != pm4py.get_variants(_pm4py_frame(pm4py, raw))  # the ties did matter


def _sequence_net(steps):
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils import petri_utils

    net = PetriNet("designed journey")
    places = [PetriNet.Place(f"p{i}") for i in range(len(steps) + 1)]
    for place in places:
        net.places.add(place)
    for i, step in enumerate(steps):
        transition = PetriNet.Transition(f"t{i}", step)
        net.transitions.add(transition)
        petri_utils.add_arc_from_to(places[i], transition, net)
        petri_utils.add_arc_from_to(transition, places[i + 1], net)
    return net, Marking({places[0]: 1}), Marking({places[-1]: 1})


def _pm4py_alignment_fitness(pm4py, formatted: pd.DataFrame, steps) -> pd.Series:
    diagnostics = pm4py.conformance_diagnostics_alignments(
        formatted, *_sequence_net(steps), multi_processing=False, return_diagnostics_dataframe=True
    )
    return diagnostics.set_index("case_id")["fitness"]


def test_fits_and_fitness_match_pm4py_alignments(real_log, pm4py):
    """Design = the log's most frequent variant, a straight line; ~200 sampled cases."""
    _, events, _, raw = real_log
    design = list(j.variants(events)["activities"].iloc[0])
    assert len(set(design)) == len(design)
    rng = np.random.default_rng(11)
    sample = rng.choice(events["case_id"].unique(), size=200, replace=False)
    keep = events["case_id"].isin(sample).to_numpy()
    ours = j.conformance(events[keep], design).set_index("case_id")
    theirs = _pm4py_alignment_fitness(pm4py, _pm4py_frame(pm4py, raw[keep]), design).reindex(
        ours.index
    )
    assert theirs.notna().all()
    assert (ours["fits"] == (theirs == 1.0)).all()
    np.testing.assert_allclose(ours["fitness"], theirs, rtol=0, atol=1e-12)
    assert 0 < ours["fits"].sum() < len(ours)  # both verdicts occur in the sample


def test_random_traces_fitness_matches_pm4py_alignments(pm4py):
    rng = np.random.default_rng(5)
    alphabet = np.array(DESIGN + ["x"])
    traces = {f"c{i:03d}": list(rng.choice(alphabet, size=rng.integers(1, 9))) for i in range(150)}
    traces["fit"] = list(DESIGN)
    events = make_events(traces)
    ours = j.conformance(events, DESIGN).set_index("case_id")
    formatted = pm4py.format_dataframe(
        events.rename(
            columns={
                "case_id": "case:concept:name",
                "activity": "concept:name",
                "timestamp": "time:timestamp",
            }
        )[["case:concept:name", "concept:name", "time:timestamp"]],
        case_id="case:concept:name",
        activity_key="concept:name",
        timestamp_key="time:timestamp",
    )
    theirs = _pm4py_alignment_fitness(pm4py, formatted, DESIGN).reindex(ours.index)
    np.testing.assert_allclose(ours["fitness"], theirs, rtol=0, atol=1e-12)
    assert (ours["fits"] == (theirs == 1.0)).all()


# --------------------------------------------------------------------------------------
# conformance by hand
# --------------------------------------------------------------------------------------


HAND = {
    "perfect": "abcd",
    "skip": "abd",
    "repeat": "abbcd",
    "reorder": "acbd",
    "extra": "abxcd",
    "late": "acdb",
    "rework": "babcd",
    "single": "a",
    "nothing": "xy",
}


def test_conformance_each_deviation_type():
    table = j.conformance(make_events(HAND), DESIGN).set_index("case_id")
    cols = ["n_events", "skipped", "repeated", "out_of_order", "extra"]
    expected = {
        "perfect": (4, 0, 0, 0, 0, "none"),
        "skip": (3, 1, 0, 0, 0, "skipped"),
        "repeat": (5, 0, 1, 0, 0, "repeated"),
        "reorder": (4, 0, 0, 1, 0, "out_of_order"),
        "extra": (5, 0, 0, 0, 1, "extra"),
        "late": (4, 0, 0, 1, 0, "out_of_order"),
        "rework": (5, 0, 1, 0, 0, "repeated"),  # b, a, b, c, d: the second b is in order
        "single": (1, 3, 0, 0, 0, "skipped"),
        "nothing": (2, 4, 0, 0, 2, "skipped"),  # tie 4 vs 2 -> larger; skipped first on ties
    }
    for case, (*counts, deviation) in expected.items():
        assert table.loc[case, cols].tolist() == counts, case
        assert table.loc[case, "deviation"] == deviation, case
    assert table["fits"].to_dict() == {c: c == "perfect" for c in table.index}
    # fitness = 1 - (skipped + repeated + extra + 2 * out_of_order) / (K + n)
    assert table.loc["perfect", "fitness"] == 1.0
    assert table.loc["skip", "fitness"] == pytest.approx(1 - 1 / 7)
    assert table.loc["reorder", "fitness"] == pytest.approx(1 - 2 / 8)
    assert table.loc["extra", "fitness"] == pytest.approx(1 - 1 / 9)
    assert table.loc["nothing", "fitness"] == pytest.approx(0.0)
    assert list(table.index) == sorted(table.index)


def test_deviation_ties_go_to_the_first_type():
    table = j.conformance(make_events({"t": "abbd"}), DESIGN).set_index("case_id")
    assert table.loc["t", ["skipped", "repeated"]].tolist() == [1, 1]
    assert table.loc["t", "deviation"] == "skipped"


def test_step_deviation_shares_and_consistency():
    events = make_events(HAND)
    steps = j.step_deviation(events, DESIGN).set_index("step")
    n = len(HAND)
    assert steps["n_cases"].eq(n).all()
    assert steps["position"].tolist() == [1, 2, 3, 4]
    assert steps.loc["c", "skipped_share"] == pytest.approx(3 / n)  # skip, single, nothing
    assert steps.loc["b", "repeated_share"] == pytest.approx(2 / n)  # repeat, rework
    assert steps.loc["c", "out_of_order_share"] == pytest.approx(1 / n)  # reorder: c too early
    assert steps.loc["b", "out_of_order_share"] == pytest.approx(1 / n)  # late: b too late
    table = j.conformance(events, DESIGN)
    assert (steps["out_of_order_share"] * n).sum() == pytest.approx(table["out_of_order"].sum())
    assert (steps["skipped_share"] * n).sum() == pytest.approx(table["skipped"].sum())
    np.testing.assert_allclose(steps["done_share"] + steps["skipped_share"], 1.0)


def _reference_conformance(trace: list[str], design: list[str]) -> dict:
    """Straight from the definitions, one case at a time (tests only)."""
    k = len(design)
    pos = {s: i for i, s in enumerate(design)}
    seq = [pos[a] for a in trace if a in pos]
    done = sorted(set(seq))

    def embeds(steps):
        it = iter(seq)
        return all(any(x == s for x in it) for s in steps)

    best: tuple = ()
    for size in range(len(done), 0, -1):
        fitting = [c for c in itertools.combinations(done, size) if embeds(c)]
        if fitting:
            best = min(fitting)
            break
    counts = {s: seq.count(s) for s in done}
    out = {
        "skipped": k - len(done),
        "repeated": sum(c - 1 for c in counts.values()),
        "out_of_order": len(done) - len(best),
        "extra": len(trace) - len(seq),
        "ooo_steps": {design[s] for s in done if s not in best},
    }
    cost = out["skipped"] + out["repeated"] + out["extra"] + 2 * out["out_of_order"]
    out["fitness"] = 1 - cost / (k + len(trace))
    out["fits"] = trace == design
    return out


@settings(max_examples=60, deadline=None, database=None)
@given(
    st.lists(
        st.lists(st.sampled_from(list("abcdex")), min_size=1, max_size=9), min_size=1, max_size=25
    )
)
def test_conformance_matches_reference_definitions(traces):
    design = ["a", "b", "c", "d", "e"]
    named = {f"c{i:02d}": t for i, t in enumerate(traces)}
    events = make_events(named)
    table = j.conformance(events, design).set_index("case_id")
    steps = j.step_deviation(events, design).set_index("step")
    ooo_count = dict.fromkeys(design, 0)
    for case, trace in named.items():
        ref = _reference_conformance(trace, design)
        got = table.loc[case]
        for col in ("skipped", "repeated", "out_of_order", "extra", "fits"):
            assert got[col] == ref[col], (trace, col)
        assert got["fitness"] == pytest.approx(ref["fitness"])
        for s in ref["ooo_steps"]:
            ooo_count[s] += 1
    np.testing.assert_allclose(
        steps["out_of_order_share"] * len(named), [ooo_count[s] for s in design]
    )


def test_conformance_validates_design():
    events = make_events({"x": "ab"})
    with pytest.raises(AnalysisError, match="sequence of activity names"):
        j.conformance(events, "abcd")
    with pytest.raises(AnalysisError, match="repeated"):
        j.conformance(events, ["a", "b", "a"])
    with pytest.raises(AnalysisError, match="no steps"):
        j.conformance(events, [])


# --------------------------------------------------------------------------------------
# ordering, time zones, edge cases
# --------------------------------------------------------------------------------------


def test_ties_are_broken_by_row_not_frame_order():
    same = T0
    events = pd.DataFrame(
        {
            "case_id": ["k", "k", "k"],
            "activity": ["start", "second", "first"],
            "timestamp": [same - pd.Timedelta(hours=1), same, same],
            "row": np.array([0, 2, 1], dtype=np.int64),  # 'first' came first in the file
        }
    )
    assert j.variants(events)["activities"].iloc[0] == ("start", "first", "second")
    # without a row column the frame order decides
    assert j.variants(events.drop(columns="row"))["activities"].iloc[0] == (
        "start",
        "second",
        "first",
    )


def test_timestamps_with_different_utc_offsets_are_ordered_in_utc():
    # 10:00+02:00 is 08:00 UTC, before 09:30+01:00 (08:30 UTC), though its clock time is later
    late = pd.Timestamp("2024-03-01 09:30+01:00")
    early = pd.Timestamp("2024-03-01 10:00+02:00")
    events = pd.DataFrame(
        {
            "case_id": ["k", "k"],
            "activity": ["late", "early"],
            "timestamp": pd.Series([late, early], dtype=object),  # what mixed offsets give
        }
    )
    assert j.variants(events)["activities"].iloc[0] == ("early", "late")
    as_text = events.assign(timestamp=["2024-03-01 09:30+01:00", "2024-03-01 10:00+02:00"])
    assert j.variants(as_text)["activities"].iloc[0] == ("early", "late")
    assert j.directly_follows(events)["mean_hours"].iloc[0] == pytest.approx(0.5)


def test_tz_aware_in_any_zone_and_naive_agree():
    events = make_events({"k": "abcd", "m": "ab"}, hours=5)
    amsterdam = events.assign(timestamp=events["timestamp"].dt.tz_convert("Europe/Amsterdam"))
    naive = events.assign(timestamp=events["timestamp"].dt.tz_localize(None))
    base = j.journey_features(events, DESIGN)
    pd.testing.assert_frame_equal(j.journey_features(amsterdam, DESIGN), base)
    pd.testing.assert_frame_equal(j.journey_features(naive, DESIGN), base)
    pd.testing.assert_frame_equal(j.directly_follows(naive), j.directly_follows(events))


def test_empty_events_give_empty_frames():
    empty = make_events({"k": "ab"}).iloc[:0]
    assert j.variants(empty).empty and list(j.variants(empty).columns) == [
        "variant_id",
        "activities",
        "length",
        "cases",
        "share",
    ]
    assert j.case_variants(empty).empty
    assert j.start_end_activities(empty).empty
    assert j.directly_follows(empty).empty
    assert list(j.directly_follows(empty).columns) == [
        "from_activity",
        "to_activity",
        "count",
        "mean_hours",
        "median_hours",
        "p90_hours",
    ]
    table = j.conformance(empty, DESIGN)
    assert table.empty and "fitness" in table.columns
    steps = j.step_deviation(empty, DESIGN)
    assert len(steps) == 4 and steps["n_cases"].eq(0).all() and steps["skipped_share"].isna().all()
    funnel = j.funnel(empty, DESIGN)
    assert funnel["n_reached"].eq(0).all() and funnel["share"].isna().all()
    assert j.contacts(empty).empty
    assert j.journey_features(empty, DESIGN).empty
    assert j.handovers(empty.assign(link=pd.Series([], dtype="str"))).empty
    assert j.channel_mix(empty.assign(channel=pd.Series([], dtype="str"))).shares.empty


def test_a_case_with_one_event():
    events = make_events({"solo": "a", "pair": "ab"})
    assert j.variants(events).set_index("length")["cases"].to_dict() == {1: 1, 2: 1}
    start_end = j.start_end_activities(events).set_index("activity")
    assert start_end.loc["a"].tolist() == [2, 1]
    assert start_end.loc["b"].tolist() == [0, 1]
    follows = j.directly_follows(events)
    assert follows[["from_activity", "to_activity", "count"]].values.tolist() == [["a", "b", 1]]
    features = j.journey_features(events, ["a"]).set_index("case_id")
    assert features.loc["solo", ["fits", "n_events", "lead_time_days"]].tolist() == [1, 1, 0.0]
    assert features.loc["pair", "extra"] == 1


def test_missing_columns_and_values_are_named():
    events = make_events({"k": "ab"})
    with pytest.raises(AnalysisError, match="'timestamp'"):
        j.variants(events.drop(columns="timestamp"))
    with pytest.raises(AnalysisError, match="'case_id', 'activity'"):
        j.variants(events.drop(columns=["case_id", "activity"]))
    broken = events.astype({"activity": object})
    broken.loc[1, "activity"] = None
    with pytest.raises(AnalysisError, match="column 'activity' has 1 missing"):
        j.directly_follows(broken)
    with pytest.raises(AnalysisError, match="column 'timestamp' has 1 missing"):
        j.variants(events.assign(timestamp=[T0, pd.NaT]))
    with pytest.raises(AnalysisError, match="'link'"):
        j.handovers(events)
    with pytest.raises(AnalysisError, match="'channel'"):
        j.channel_mix(events)
    with pytest.raises(AnalysisError, match="'timestamp'"):
        j.variants(events.assign(timestamp=["yesterday", "today"]))
    with pytest.raises(AnalysisError, match="'timestamp' must hold timestamps"):
        j.variants(events.assign(timestamp=[1, 2]))
    with pytest.raises(IpmError):
        j.variants("not a frame")


def test_input_frame_is_not_modified():
    events = make_events(HAND, channel="phone", link="Sales").sample(frac=1.0, random_state=1)
    before = events.copy()
    j.journey_features(events, DESIGN, avoidable=["x"])
    j.handovers(events)
    j.variants(events)
    pd.testing.assert_frame_equal(events, before)


# --------------------------------------------------------------------------------------
# durations, handovers, funnel
# --------------------------------------------------------------------------------------


def test_directly_follows_duration_statistics():
    rows = []
    for i, gap in enumerate([1, 2, 3, 4, 10]):
        rows += [(f"c{i}", "a", T0), (f"c{i}", "b", T0 + pd.Timedelta(hours=gap))]
    events = pd.DataFrame(rows, columns=["case_id", "activity", "timestamp"])
    row = j.directly_follows(events).iloc[0]
    assert row["count"] == 5
    assert row["mean_hours"] == pytest.approx(4.0)
    assert row["median_hours"] == pytest.approx(3.0)
    assert row["p90_hours"] == pytest.approx(np.quantile([1, 2, 3, 4, 10], 0.9))


def test_handovers_and_slowest():
    events = pd.DataFrame(
        {
            "case_id": ["k"] * 5 + ["m"] * 3,
            "activity": list("abcde") + list("abc"),
            "timestamp": [T0 + pd.Timedelta(hours=h) for h in (0, 1, 3, 4, 10)]
            + [T0 + pd.Timedelta(hours=h) for h in (0, 2, 50)],
            "link": ["Sales", "Sales", "Planning", None, "Service"]
            + ["Sales", "Planning", "Service"],
        }
    )
    table = j.handovers(events).set_index(["from_link", "to_link"])
    assert table["count"].to_dict() == {("Sales", "Planning"): 2, ("Planning", "Service"): 2}
    # k: Sales@1h -> Planning@3h = 2h; m: 0h -> 2h = 2h
    assert table.loc[("Sales", "Planning"), "median_hours"] == pytest.approx(2.0)
    # k: Planning@3h -> (no link @4h) -> Service@10h = 7h; m: 48h
    assert table.loc[("Planning", "Service"), "mean_hours"] == pytest.approx((7 + 48) / 2)
    slowest = j.slowest_handovers(events, n=1)
    assert slowest[["from_link", "to_link"]].values.tolist() == [["Planning", "Service"]]
    assert j.slowest_handovers(events, n=5, min_count=3).empty


def _random_pair_log(seed: int, gap_ns: int, unit_ns: int) -> pd.DataFrame:
    """A shuffled log with ties, single-event cases, rare pairs and links with gaps.

    Gaps between events are whole multiples of ``unit_ns``, up to about ``gap_ns``; a
    quarter of them are 0 (ties at one timestamp, broken by ``row``).
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, 60)
    lengths[:4] = 1
    total = int(lengths.sum())
    acts = np.array(list("abcdef") + ["rare x", "rare y"], dtype=object)
    weights = np.array([0.2, 0.2, 0.2, 0.15, 0.13, 0.1, 0.01, 0.01])
    gaps = rng.integers(0, gap_ns // unit_ns + 1, total) * unit_ns
    gaps[rng.random(total) < 0.25] = 0
    case = np.repeat(np.arange(len(lengths)), lengths)
    first = np.cumsum(lengths) - lengths
    elapsed = np.cumsum(gaps)
    start = pd.Timestamp("1700-01-01", tz="UTC").value
    ns = start + elapsed - np.repeat(elapsed[first], lengths)
    links = np.array(["Sales", "Planning", "Service", None], dtype=object)
    events = pd.DataFrame(
        {
            "case_id": pd.Series(np.char.add("k", case.astype(str)), dtype="str"),
            "activity": pd.Series(rng.choice(acts, total, p=weights), dtype="str"),
            "timestamp": pd.to_datetime(ns, utc=True),
            "link": pd.Series(rng.choice(links, total, p=[0.4, 0.3, 0.2, 0.1]), dtype="str"),
            "row": np.arange(total, dtype=np.int64),
        }
    )
    return events.sample(frac=1.0, random_state=seed)


def _pandas_pair_stats(events: pd.DataFrame, column: str, names: tuple[str, str]) -> pd.DataFrame:
    """Pairs of consecutive events (consecutive changes of ``column`` for links) and their
    duration statistics by pandas' sort, shift and groupby."""
    frame = events.sort_values(["case_id", "timestamp", "row"], kind="stable")
    if column == "link":
        frame = frame[frame["link"].notna()]
    after = frame.groupby("case_id", sort=False)[[column, "timestamp"]].shift(-1)
    ns = (after["timestamp"] - frame["timestamp"]).to_numpy(dtype="timedelta64[ns]")
    pairs = pd.DataFrame(
        {names[0]: frame[column], names[1]: after[column], "hours": ns.view(np.int64) / 3_600e9}
    )[after[column].notna().to_numpy()]
    if column == "link":
        pairs = pairs[pairs[names[0]] != pairs[names[1]]]
    grouped = pairs.groupby(list(names), sort=True)["hours"]
    stats = grouped.agg(["size", "mean", "median"])
    table = pd.DataFrame(
        {
            "count": stats["size"].astype(np.int64),
            "mean_hours": stats["mean"],
            "median_hours": stats["median"],
            "p90_hours": grouped.quantile(0.9),
        }
    ).reset_index()
    table = table.sort_values(["count", *names], ascending=[False, True, True], kind="stable")
    return table.reset_index(drop=True)


@pytest.mark.parametrize(
    "gap_ns, unit_ns",
    [
        (3 * 3_600 * 10**9, 60 * 10**9),  # durations and pair codes share one int64
        (30 * 365 * 86_400 * 10**9, 10**9),  # decades: only in whole seconds
        (30 * 365 * 86_400 * 10**9, 1),  # decades to the nanosecond: two sorts
    ],
    ids=["hours", "decades-in-seconds", "decades-in-nanoseconds"],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_statistics_match_a_pandas_groupby(seed, gap_ns, unit_ns):
    """Counts, names and row order exactly; the float statistics to 1e-12."""
    events = _random_pair_log(seed, gap_ns, unit_ns)
    follows = _pandas_pair_stats(events, "activity", ("from_activity", "to_activity"))
    assert {1, 2} <= set(follows["count"]) and follows["count"].max() > 10
    links = _pandas_pair_stats(events, "link", ("from_link", "to_link"))
    for got, want in ((j.directly_follows(events), follows), (j.handovers(events), links)):
        pd.testing.assert_frame_equal(got, want, rtol=1e-12, atol=0)
        assert got.iloc[:, :3].to_numpy().tolist() == want.iloc[:, :3].to_numpy().tolist()


@pytest.mark.parametrize(
    "ns_max, unit_ns",
    [(2**40, 1), (2**58, 10**9), (2**62, 1)],
    ids=["one-int64", "whole-seconds", "two-sorts"],
)
def test_sorted_by_key_orders_by_key_then_duration(ns_max, unit_ns):
    rng = np.random.default_rng(7)
    key = rng.integers(0, 300, 5_000)
    ns = rng.integers(0, ns_max // unit_ns, 5_000) * unit_ns
    order = np.lexsort((ns, key))
    got_key, got_ns = jlog._sorted_by_key(key, ns)
    np.testing.assert_array_equal(got_key, key[order])
    np.testing.assert_array_equal(got_ns, ns[order])


def test_funnel_overall_and_by_segment():
    traces = {"k1": "abcd", "k2": "ab", "k3": "a", "k4": "acd"}
    events = make_events(traces)
    overall = j.funnel(events, DESIGN).set_index("step")
    assert overall["n_reached"].tolist() == [4, 2, 2, 2]
    assert overall["share"].tolist() == [1.0, 0.5, 0.5, 0.5]
    seg_of_event = events["case_id"].map({"k1": "new", "k2": "new", "k3": "old", "k4": "old"})
    by_col = j.funnel(events.assign(tenure=seg_of_event), DESIGN, by="tenure")
    got = by_col.set_index(["tenure", "step"])
    assert got.loc[("new", "b"), "n_reached"] == 2 and got.loc[("new", "b"), "n_cases"] == 2
    assert got.loc[("old", "c"), "share"] == pytest.approx(0.5)
    series = pd.Series({"k1": "new", "k2": "new", "k3": "old", "k4": "old"}, name="tenure")
    pd.testing.assert_frame_equal(j.funnel(events, DESIGN, by=series), by_col)
    partial = j.funnel(events, DESIGN, by=pd.Series({"k1": "x"}))
    assert partial["segment"].isna().sum() == 4  # the other cases keep a NaN segment
    with pytest.raises(AnalysisError, match="'nope'"):
        j.funnel(events, DESIGN, by="nope")


# --------------------------------------------------------------------------------------
# channels and contacts
# --------------------------------------------------------------------------------------


def test_channel_mix_shares_and_ratio():
    events = make_events(
        {"k": "aaaab", "m": "aa"},
        channel=["Phone", "web", "E-mail", "phone", None, "visit", "chat"],
    )
    mix = j.channel_mix(events)
    shares = mix.shares.set_index(["activity", "channel"])
    assert shares.loc[("a", "Phone"), "group"] == "phone"
    assert shares.loc[("a", "E-mail"), "group"] == "online"
    assert shares.loc[("a", "visit"), "group"] == "other"
    assert mix.shares.groupby("activity")["share"].sum().tolist() == pytest.approx([1.0])
    ratio = mix.ratio.set_index("activity").loc["a"]
    # a: Phone, web, E-mail, phone, visit, chat -> 2 phone, 3 online (b has no channel)
    assert ratio[["n_events", "n_phone", "n_online"]].tolist() == [6, 2, 3]
    assert ratio["phone_online_ratio"] == pytest.approx(2 / 3)
    custom = (
        j.channel_mix(events, channel_groups={"visit": "online"})
        .ratio.set_index("activity")
        .loc["a"]
    )
    assert custom[["n_phone", "n_online"]].tolist() == [0, 1]
    assert np.isnan(j.channel_mix(events, channel_groups={}).ratio["phone_online_ratio"].iloc[0])


def test_contacts_per_case_and_per_customer():
    day = pd.Timedelta(days=1)
    events = pd.DataFrame(
        {
            "case_id": ["k"] * 5 + ["m"] * 2,
            "activity": [
                "Order",
                "Status call",
                "Status call",
                "Install",
                "Complaint",
                "Order",
                "Status call",
            ],
            "timestamp": [
                T0,
                T0 + 1 * day,
                T0 + 8 * day,
                T0 + 20 * day,
                T0 + 27 * day,
                T0 + 30 * day,
                T0 + 31 * day,
            ],
            "channel": ["web", "phone", "phone", None, "e-mail", "web", "phone"],
            "customer_id": ["anna"] * 5 + ["anna", "anna"],
        }
    )
    per_case = j.contacts(events, avoidable=["Status call"], repeat_within_days=7,
                          contact_channels="any").set_index("case_id")
    # k: web day 0, phone day 1 (repeat), phone day 8 (repeat: exactly 7 days later),
    # no channel day 20 (not a contact), e-mail day 27 (19 days later) -> 4 contacts
    assert per_case.loc["k"].tolist() == [4, 2, 2]
    assert per_case.loc["m"].tolist() == [2, 1, 1]
    phone_only = j.contacts(events, avoidable=[], contact_channels=["PHONE"]).set_index("case_id")
    assert phone_only["n_contacts"].to_dict() == {"k": 2, "m": 1}
    per_customer = j.contacts(events, avoidable=["Status call"], per="customer",
                              contact_channels="any").set_index("customer_id")
    # across cases: m's Order on day 30 is 3 days after k's day-27 complaint
    assert per_customer.loc["anna"].tolist() == [2, 6, 3, 4]
    with pytest.raises(AnalysisError, match="'customer_id'"):
        j.contacts(events.drop(columns="customer_id"), per="customer")
    with pytest.raises(AnalysisError, match="'channel'"):
        j.contacts(events.drop(columns="channel"), contact_channels=["phone"])
    # only declared events are contacts: with nothing declared there are none
    assert j.contacts(events.drop(columns="channel"))["n_contacts"].tolist() == [0, 0]
    assert j.contacts(events)["n_contacts"].tolist() == [0, 0]
    # declared by activity list and by pattern (matched in full), counted like pandas does
    by_act = j.contacts(events, contact_activities=["Complaint"], contact_pattern="Status.*")
    expect = events[events["activity"].str.fullmatch("Status.*") | (events["activity"] == "Complaint")]
    assert by_act.set_index("case_id")["n_contacts"].to_dict() == expect.groupby("case_id").size().to_dict()
    assert j.contacts(events, contact_pattern="Status")["n_contacts"].sum() == 0  # not a full match


def test_journey_features_are_numeric_and_consistent():
    events = make_events(HAND, hours=12, channel="phone")
    features = j.journey_features(events, DESIGN, avoidable=["x"], repeat_within_days=1, contact_channels="any")
    expected_cols = [
        "case_id",
        "fits",
        "fitness",
        "skipped",
        "repeated",
        "out_of_order",
        "extra",
        "n_events",
        "n_contacts",
        "n_avoidable",
        "n_repeat",
        "lead_time_days",
    ]
    assert list(features.columns) == expected_cols
    assert all(pd.api.types.is_numeric_dtype(features[c]) for c in expected_cols[1:])
    assert features["case_id"].is_unique and len(features) == len(HAND)
    table = j.conformance(events, DESIGN)
    pd.testing.assert_series_equal(features["fits"], table["fits"].astype(np.int64))
    pd.testing.assert_series_equal(features["fitness"], table["fitness"])
    contacts = j.contacts(events, avoidable=["x"], repeat_within_days=1, contact_channels="any")
    pd.testing.assert_frame_equal(
        features[["case_id", "n_contacts", "n_avoidable", "n_repeat"]], contacts
    )
    lead = features.set_index("case_id")["lead_time_days"]
    assert lead["perfect"] == pytest.approx(1.5)  # 4 events, 12 h apart


# --------------------------------------------------------------------------------------
# the client adapters
# --------------------------------------------------------------------------------------


def test_chain_journey_features_are_computed_once_per_client_and_handed_out_as_copies():
    import ipm_analysis as ipm

    from .conftest import FIXTURE_CLIENT

    client = ipm.load_client(FIXTURE_CLIENT)
    chain = client.config.chain("installation")
    k = client.config.contacts
    direct = j.journey_features(j.chain_events(client, "installation"), chain.journey.steps,
                                k.avoidable, k.repeat_within_days, k.channels or None, k.activities, k.activity_pattern)
    first = j.chain_journey_features(client, "installation")
    pd.testing.assert_frame_equal(first, direct)
    first.loc[:, first.columns[1]] = -1  # a caller's change does not reach the next caller
    pd.testing.assert_frame_equal(j.chain_journey_features(client, "installation"), direct)


def test_client_level_journeys_equal_the_event_log_functions_and_survive_callers_changes():
    """The per-client, per-chain results (computed once) equal the event-log functions on the
    chain's events; a caller changing what it got changes nothing for the next caller."""
    import ipm_analysis as ipm

    from .conftest import FIXTURE_CLIENT

    client = ipm.load_client(FIXTURE_CLIENT)
    for chain in client.config.chains:
        if chain.journey is None:
            continue
        ev = j.chain_events(client, chain.id)
        steps = chain.journey.steps
        expect = {
            "conformance": (j.chain_conformance, j.conformance(ev, steps)),
            "step_deviation": (j.chain_step_deviation, j.step_deviation(ev, steps)),
            "funnel": (j.chain_funnel, j.funnel(ev, steps)),
        }
        for name, (per_client, direct) in expect.items():
            got = per_client(client, chain.id)
            pd.testing.assert_frame_equal(got, direct, obj=f"{chain.id} {name}")
            got.iloc[:, 1] = got.iloc[:, 1].iloc[::-1].to_numpy()  # a caller reorders a column in place
            pd.testing.assert_frame_equal(per_client(client, chain.id), direct, obj=f"{chain.id} {name} again")
        ev_again = ev.copy()
        ev["activity"] = "changed by a caller"
        del ev["timestamp"]
        pd.testing.assert_frame_equal(j.chain_events(client, chain.id), ev_again)


def test_client_level_journeys_refuse_a_chain_without_design(tmp_path, base_config):
    import ipm_analysis as ipm

    from .conftest import write_client

    for chain in base_config["chains"]:
        chain.pop("journey", None)
    client = ipm.load_client(write_client(tmp_path / "c", base_config))
    chain_id = client.config.chains[0].id
    with pytest.raises(AnalysisError, match="no designed journey"):
        j.chain_conformance(client, chain_id)
    assert j.chain_journey_features(client, chain_id).empty


# --------------------------------------------------------------------------------------
# the journeys section of a report: minimum bases everywhere
# --------------------------------------------------------------------------------------


def _client_with_bases(tmp_path, source, suppress, flag, edit=None):
    import shutil

    import yaml

    import ipm_analysis as ipm

    folder = tmp_path / f"{source.name}-{suppress}"
    shutil.copytree(source, folder)
    cfg = yaml.safe_load((folder / "client.yaml").read_text())
    cfg["reporting"] = {**cfg.get("reporting", {}), "min_base_suppress": suppress, "min_base_flag": flag}
    if edit:
        edit(cfg)
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return ipm.load_client(folder)


def _receipt_folder(tmp_path):
    import shutil

    import yaml

    from .test_real_logs_report import RECEIPT_CONFIG

    folder = tmp_path / "receipt-src"
    folder.mkdir()
    shutil.copy(REAL_LOGS / "receipt.csv", folder / "receipt.csv")
    (folder / "client.yaml").write_text(yaml.safe_dump(RECEIPT_CONFIG, sort_keys=False))
    return folder


def test_no_journey_table_shows_a_base_under_the_minimum(tmp_path):
    from .conftest import FIXTURE_CLIENT

    clients = [_client_with_bases(tmp_path, FIXTURE_CLIENT, 60, 120),
               _client_with_bases(tmp_path, _receipt_folder(tmp_path), 50, 100)]
    checked = 0
    for client in clients:
        for chain in client.config.chains:
            s = j.journey_section(client, chain.id)
            for name, table in s.tables().items():
                if table.empty:
                    assert s.notes.get(name), f"{chain.id} {name}: empty without a reason"
                    continue
                base = table[j.JourneySection.BASES[name]]
                assert (base >= s.min_base).all(), f"{chain.id} {name}: a base under {s.min_base}"
                if "small_base" in table:
                    assert table["small_base"].tolist() == (base < s.flag_base).tolist()
                checked += 1
    assert checked >= 15


def test_slow_steps_count_cases_like_pandas_and_leave_out_small_bases(tmp_path):
    client = _client_with_bases(tmp_path, _receipt_folder(tmp_path), 30, 60)
    ev = j.chain_events(client, "application").sort_values(["case_id", "timestamp", "row"], kind="stable")
    nxt = ev.groupby("case_id").shift(-1)
    pairs = pd.DataFrame({"case_id": ev["case_id"], "from_activity": ev["activity"], "to_activity": nxt["activity"],
                          "hours": (nxt["timestamp"] - ev["timestamp"]) / pd.Timedelta(hours=1)}).dropna()
    by_pair = pairs.groupby(["from_activity", "to_activity"]).agg(cases=("case_id", "nunique"),
                                                                  median_hours=("hours", "median"))
    expect = by_pair[by_pair["cases"] >= 30].sort_values("median_hours", ascending=False, kind="stable").head(5)
    got = j.journey_section(client, "application").slow_steps.set_index(["from_activity", "to_activity"])
    assert list(got.index) == list(expect.index)
    assert got["cases"].tolist() == expect["cases"].tolist()
    np.testing.assert_allclose(got["median_hours"], expect["median_hours"])
    # the pair seen in the fewest cases of the whole log is not shown at any minimum above its base
    assert by_pair["cases"].min() < 30


def test_deviation_classes_and_extra_activities_against_pandas():
    events = make_events({"k": "abxd", "m": "abcd", "n": "abbcxyd", "o": "bacd", "p": "ax"})
    classes = j.deviation_classes(events, DESIGN).set_index("class")
    conf = j.conformance(events, DESIGN).set_index("case_id")
    for name in ("skipped", "repeated", "extra", "out_of_order"):
        assert classes.loc[name, "cases"] == (conf[name] > 0).sum()
        assert classes.loc[name, "events"] == conf[name].sum()
    assert classes.loc["none", "cases"] == 1 and classes.loc["none", "share"] == pytest.approx(0.2)
    extras = j.extra_activities(events, DESIGN)
    outside = events[~events["activity"].isin(DESIGN)]
    expect = outside.groupby("activity").agg(cases=("case_id", "nunique"), events=("case_id", "size"))
    assert extras.set_index("activity")[["cases", "events"]].sort_index().equals(expect.sort_index())
    assert extras["activity"].iloc[0] == "x"  # in three cases


def test_differences_are_worded_as_differences():
    text = j.difference_phrase(-48.9, -57.7, -40.1, "points", "deviating journeys", "journeys as designed")
    assert text == ("deviating journeys scored 48.9 points lower than journeys as designed "
                    "(95% interval 40.1 to 57.7 lower)")
    assert "from 2.0 lower to 5.0 higher" in j.difference_phrase(1.5, -2, 5, "points", "a", "b")
    assert "-" not in j.difference_phrase(-3.0, -5.0, -1.0, "points", "a", "b")


def test_the_journeys_notebook_shows_only_tables_of_the_section():
    """The report notebook takes its journey tables from journey_section (where the bases hold),
    never from the raw mining functions."""
    import json

    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "04_journeys.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "journey_section" in code
    for raw in ("journeys.variants(", "journeys.directly_follows(", "slowest_handovers(", "journeys.handovers(",
                "journeys.channel_mix(", "chain_funnel(", "chain_step_deviation("):
        assert raw not in code, raw


def test_prepared_log_gives_the_same_results_as_the_frame():
    events = make_events(HAND, hours=5, channel="phone", link="Sales")
    log = j.prepare(events)
    assert j.prepare(log) is log
    pd.testing.assert_frame_equal(j.variants(log), j.variants(events))
    pd.testing.assert_frame_equal(j.directly_follows(log), j.directly_follows(events))
    pd.testing.assert_frame_equal(j.conformance(log, DESIGN), j.conformance(events, DESIGN))
    pd.testing.assert_frame_equal(j.handovers(log), j.handovers(events))
    pd.testing.assert_frame_equal(j.contacts(log, contact_channels="any"), j.contacts(events, contact_channels="any"))
    pd.testing.assert_frame_equal(j.channel_mix(log).ratio, j.channel_mix(events).ratio)


def test_variant_order_on_long_traces_with_shared_prefixes_matches_sorting_tuples():
    """Most frequent first, ties by the activities tuple: long traces that share long
    prefixes (the packed-word order needs several refinements) against Python's sort."""
    rng = np.random.default_rng(1)
    for _ in range(10):
        rows = []
        for c in range(int(rng.integers(5, 200))):
            n = int(rng.integers(1, 120))
            acts = [1] * (n - 1) + [int(rng.integers(0, 30))] if rng.random() < 0.5 else rng.integers(0, 30, n)
            rows += [(f"c{c:04d}", f"a{a:02d}") for a in acts]
        ev = pd.DataFrame(rows, columns=["case_id", "activity"]).astype("str")
        ev["timestamp"] = T0 + pd.to_timedelta(np.arange(len(ev)), unit="s")
        got = j.variants(ev)
        counts = ev.groupby("case_id")["activity"].agg(tuple).value_counts()
        expect = sorted(counts.items(), key=lambda x: (-x[1], x[0]))
        assert [tuple(a) for a in got["activities"]] == [t for t, _ in expect]
        assert got["cases"].tolist() == [c for _, c in expect]


def _random_traces(rng, n_act: int, n_cases: int) -> pd.DataFrame:
    """Cases whose traces repeat a few activities (many shared variants, traces that are
    prefixes of others) or draw from all ``n_act``; grouped by case, in time order."""
    rows = []
    for c in range(n_cases):
        n = int(rng.integers(1, 60))
        base = rng.integers(0, n_act, 3)
        acts = base[rng.integers(0, 2 if rng.random() < 0.3 else 3, n)] if rng.random() < 0.6 else rng.integers(0, n_act, n)
        rows += [(f"c{c:04d}", f"a{a:03d}") for a in acts]
    ev = pd.DataFrame(rows, columns=["case_id", "activity"]).astype("str")
    ev["timestamp"] = pd.Timestamp("2024-03-01") + pd.to_timedelta(np.arange(len(ev)), unit="s")
    return ev


def test_variants_by_arrow_equal_the_hashing_route_and_sorting_tuples():
    """Variants from one Arrow dictionary encoding of the traces (one byte per activity, two
    from 255 activities) against the hash-and-check codes with the packed-word order, and
    against pandas' tuples sorted by Python."""
    rng = np.random.default_rng(7)
    for n_act, two_bytes in ((3, False), (30, False), (400, True)):
        for _ in range(4):
            ev = _random_traces(rng, n_act, int(rng.integers(1, 400)))
            log = j.prepare(ev)
            assert (len(log.activities) >= 255) == two_bytes
            code, rep, counts, order = jlog._variants_by_arrow(log)
            hashed, hashed_rep = jlog._variant_codes(log)
            assert np.array_equal(code, hashed) and np.array_equal(rep, hashed_rep)
            assert np.array_equal(order, jlog._variant_order(log, rep, counts))
            got = j.variants(log)
            tuples = ev.groupby("case_id", sort=False)["activity"].agg(tuple).value_counts()
            expect = sorted(tuples.items(), key=lambda x: (-x[1], x[0]))
            assert list(zip(got["activities"], got["cases"])) == expect


def test_directly_follows_counts_on_random_logs_equal_pandas():
    rng = np.random.default_rng(3)
    for n_act in (2, 30):
        ev = _random_traces(rng, n_act, int(rng.integers(1, 300)))
        got = j.directly_follows(j.prepare(ev), durations=False)
        nxt = ev.groupby("case_id")["activity"].shift(-1)
        pairs = pd.DataFrame({"from_activity": ev["activity"], "to_activity": nxt}).dropna()
        expect = (pairs.value_counts().rename("count").reset_index()
                  .sort_values(["count", "from_activity", "to_activity"], ascending=[False, True, True]))
        assert list(got.itertuples(index=False, name=None)) == list(expect.itertuples(index=False, name=None))


def test_naive_timestamps_of_any_unit_give_the_same_log():
    ts = pd.to_datetime(["2024-03-01 08:00:00", "2024-03-01 08:00:01", "2024-03-02 09:30:00"])
    base = pd.DataFrame({"case_id": ["x", "x", "y"], "activity": ["a", "b", "a"]})
    expect = ts.as_unit("ns").asi8
    for unit in ("s", "ms", "us", "ns"):
        log = j.prepare(base.assign(timestamp=ts.as_unit(unit)))
        assert np.array_equal(log.ts, expect), unit
    with pytest.raises(AnalysisError, match="column 'timestamp' has 1 missing"):
        j.prepare(base.assign(timestamp=pd.to_datetime(["2024-03-01", None, "2024-03-02"]).as_unit("us")))
    with pytest.raises(AnalysisError, match="out of range"):  # seconds beyond what nanoseconds hold
        j.prepare(base.assign(timestamp=np.array(["2024-03-01", "2024-03-02", "2500-01-01"], dtype="datetime64[s]")))


def test_directly_follows_counts_only_equal_the_full_table():
    events = make_events(HAND, hours=3)
    full = j.directly_follows(events)
    counts = j.directly_follows(j.prepare(events), durations=False)
    pd.testing.assert_frame_equal(counts, full[["from_activity", "to_activity", "count"]])
    assert j.directly_follows(events.iloc[:0], durations=False).empty


def test_journey_cost_sentence_in_the_reports_language():
    """The same numbers, worded from the catalogue in English and in Dutch (comma decimals)."""
    from types import SimpleNamespace

    diff = SimpleNamespace(diff=-48.9, ci_low=-57.7, ci_high=-40.1, p_value=0.0004)
    cost = {"by_fit": pd.DataFrame({"x": [1]}), "difference": diff}

    def client(language):
        cfg = SimpleNamespace(result_kpi=SimpleNamespace(scale="nps", measure="nps"),
                              reporting=SimpleNamespace(language=language, min_base_suppress=10))
        return SimpleNamespace(linked=pd.DataFrame(), config=cfg)

    assert j.journey_cost_sentence(client("en"), cost) == (
        "Deviating journeys scored 48.9 points lower than journeys as designed (95% interval 40.1 to 57.7 lower); "
        "p < 0.001. Association only: deviating cases may differ in other ways too.")
    assert j.journey_cost_sentence(client("nl"), cost) == (
        "Afwijkende klantreizen scoorden 48,9 punten lager dan klantreizen zoals ontworpen "
        "(95%-betrouwbaarheidsinterval 40,1 tot 57,7 lager); p < 0,001. Alleen een verband: afwijkende zaken "
        "kunnen ook op andere punten verschillen.")
    assert j.journey_cost_message(client("nl"), cost).key == "journeys.cost"
    none = {"by_fit": pd.DataFrame({"x": [1]}), "difference": None}
    assert j.journey_cost_sentence(client("nl"), none).endswith("elke groep heeft er minstens 10 nodig.")


def test_journey_section_in_dutch(tmp_path):
    """reporting.language: nl writes the section's headline and notes from the Dutch catalogue."""
    import shutil

    import yaml

    import ipm_analysis as ipm

    from .conftest import FIXTURE_CLIENT

    folder = shutil.copytree(FIXTURE_CLIENT, tmp_path / "client")
    cfg = yaml.safe_load((folder / "client.yaml").read_text(encoding="utf-8"))
    english = ipm.load_client(folder)
    cfg.setdefault("reporting", {})["language"] = "nl"
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    dutch = ipm.load_client(folder)
    chain = next(c for c in dutch.config.chains if c.journey is not None)
    en, nl = j.journey_section(english, chain.id), j.journey_section(dutch, chain.id)
    assert "cases followed the designed journey" in en.headline
    assert "zaken volgde de ontworpen klantreis" in nl.headline and "followed" not in nl.headline
    assert en.variants_note.split(" ")[0].replace(",", "") == nl.variants_note.split(" ")[0].replace(".", "")
    for key, text in nl.notes.items():
        assert text != en.notes[key] and " the " not in text, (key, text)
