"""Property-based tests (hypothesis) of the KPI, driver and journey functions.

Invariants that must hold for *any* input the contract allows: shares add up to 1, the NPS lies
in [-100, 100], the driver importances add up to the model's R², variant counts add up to the
number of cases, and no result depends on the order of the rows. Examples are kept modest so
the whole file runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ipm_analysis import drivers, journeys, kpis

SETTINGS = settings(max_examples=50, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

seeds = st.integers(0, 2**32 - 1)


# -- result and chain KPIs ---------------------------------------------------------------------

nps_scores = st.lists(st.integers(0, 10), min_size=1, max_size=200)


@SETTINGS
@given(scores=nps_scores, weights_seed=st.one_of(st.none(), seeds), seed=seeds)
def test_nps_bounds_shares_and_order(scores, weights_seed, seed):
    w = None if weights_seed is None else np.random.default_rng(weights_seed).uniform(0.1, 5, len(scores))
    res = kpis.nps(scores, weights=w)
    assert -100 <= res.ci_low <= res.value <= res.ci_high <= 100
    assert res.promoters + res.passives + res.detractors == pytest.approx(1.0)
    assert min(res.promoters, res.passives, res.detractors) >= 0
    assert res.value == pytest.approx(100 * (res.promoters - res.detractors))
    order = np.random.default_rng(seed).permutation(len(scores))
    again = kpis.nps(np.asarray(scores)[order], weights=None if w is None else w[order])
    assert again.value == pytest.approx(res.value) and again.se == pytest.approx(res.se)


@SETTINGS
@given(scores=st.lists(st.integers(1, 5), min_size=1, max_size=200), seed=seeds)
def test_rating_bounds_and_order(scores, seed):
    res = kpis.rating(scores, 1, 5, [5], [1, 2])
    assert 1 <= res.mean <= 5
    assert 0 <= res.top_box <= 1 and 0 <= res.bottom_box <= 1 and res.top_box + res.bottom_box <= 1
    assert res.top_box_ci_low - 1e-12 <= res.top_box <= res.top_box_ci_high + 1e-12
    again = kpis.rating(np.random.default_rng(seed).permutation(scores), 1, 5, [5], [1, 2])
    assert again.mean == pytest.approx(res.mean) and again.top_box == res.top_box


@SETTINGS
@given(scores=nps_scores, seed=seeds, n_groups=st.integers(1, 4))
def test_result_kpi_by_groups_add_up(scores, seed, n_groups):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"score": scores, "seg": rng.choice(list("abcd"[:n_groups]), len(scores)),
                          "when": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, len(scores)),
                                                                                    unit="D")})
    table = kpis.result_kpi_by(frame, "score", {"type": "nps"}, by="seg", period="when", flag=30, suppress=1)
    assert table["n"].sum() == len(scores)
    np.testing.assert_allclose(table[["promoters", "passives", "detractors"]].sum(axis=1), 1.0)
    assert table["value"].between(-100, 100).all()
    shuffled = kpis.result_kpi_by(frame.sample(frac=1, random_state=seed % 2**31), "score", {"type": "nps"},
                                  by="seg", period="when", flag=30, suppress=1)
    pd.testing.assert_frame_equal(table, shuffled)


KPI = {"id": "on_time", "name": "On time", "chain": "x", "unit": "share", "direction": "higher",
       "target": 0.9, "link": "Planning"}


@SETTINGS
@given(values=st.lists(st.sampled_from([0.0, 1.0, np.nan]), min_size=1, max_size=120), seed=seeds)
def test_chain_kpi_share_is_a_fraction_and_periods_add_up(values, seed):
    rng = np.random.default_rng(seed)
    n = len(values)
    cases = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "chain": "x",
                          "period": pd.to_datetime("2024-01-01") + pd.DateOffset(months=0)
                          + pd.to_timedelta(rng.integers(0, 3, n) * 31, unit="D"),
                          "on_time": values})
    assume(cases["on_time"].notna().any())
    table = kpis.chain_kpi_table(cases, [KPI], flag=30, suppress=1)
    overall = table[table["period"] == "all"]
    monthly = table[table["period"] != "all"]
    assert len(overall) == 1
    assert overall["n"].iloc[0] == cases["on_time"].notna().sum() == monthly["n"].sum()
    assert table["value"].between(0, 1).all()
    assert (table["ci_low"] <= table["value"] + 1e-12).all() and (table["value"] <= table["ci_high"] + 1e-12).all()
    assert overall["value"].iloc[0] == pytest.approx(np.nanmean(values))
    again = kpis.chain_kpi_table(cases.sample(frac=1, random_state=seed % 2**31), [KPI], flag=30, suppress=1)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), again.reset_index(drop=True))


# -- drivers -----------------------------------------------------------------------------------

@st.composite
def driver_data(draw):
    n = draw(st.integers(12, 120))
    p = draw(st.integers(1, 5))
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(p, p)) * draw(st.floats(0, 1.5))  # from independent to strongly correlated
    X = rng.normal(size=(n, p)) @ (np.eye(p) + mix)
    binary = draw(st.lists(st.booleans(), min_size=p, max_size=p))
    for j, b in enumerate(binary):  # share KPIs are 0/1 per case
        if b:
            X[:, j] = (X[:, j] > np.median(X[:, j])).astype(float)
    beta = rng.normal(size=p)
    y = np.clip(np.round(5 + X @ beta + rng.normal(size=n) * draw(st.floats(0.1, 4))), 0, 10)
    df = pd.DataFrame(X, columns=[f"k{j}" for j in range(p)])
    df["score"] = y
    assume(df.std().gt(1e-9).all())
    return df, seed


def _r2(df, cols):
    X = np.column_stack([np.ones(len(df)), df[cols].to_numpy()])
    y = df["score"].to_numpy()
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    return 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))


@SETTINGS
@given(data=driver_data())
def test_importances_add_up_to_r2_and_ignore_row_order(data):
    df, seed = data
    cols = [c for c in df.columns if c != "score"]
    res = drivers.relative_importance(df, "score", cols)
    r2 = _r2(df, cols)
    assert res.attrs["r2"] == pytest.approx(r2, abs=1e-8)
    assert res["importance"].sum() == pytest.approx(r2, abs=1e-8)
    assert (res["importance"] >= -1e-10).all()  # adding a driver never lowers an in-sample R²
    if r2 > 1e-12:
        assert res["share"].sum() == pytest.approx(1.0)
    else:  # nothing explained: no shares to give out, and the result says so
        assert res["share"].isna().all() and res.attrs.get("note")
    top = res.loc[res["rank"] == 1, "importance"]
    assert len(top) and top.min() == pytest.approx(res["importance"].max(), abs=1e-9)
    shuffled = df.sample(frac=1, random_state=seed % 2**31)
    again = drivers.relative_importance(shuffled, "score", cols)
    np.testing.assert_allclose(again["importance"], res["importance"], atol=1e-9)
    # the drivers' order and scale do not matter either
    back = drivers.relative_importance(df.assign(**{c: 3 * df[c] - 7 for c in cols}), "score", cols[::-1])
    np.testing.assert_allclose(back.loc[cols, "importance"], res.loc[cols, "importance"], atol=1e-9)


@settings(max_examples=20, deadline=None, database=None)
@given(data=driver_data())
def test_bootstrap_shares_stay_fractions(data):
    df, _ = data
    cols = [c for c in df.columns if c != "score"]
    res = drivers.relative_importance(df, "score", cols, n_boot=30, seed=1)
    assume(res.attrs["r2"] > 1e-12)
    assert res["share"].sum() == pytest.approx(1.0)
    ok = res["ci_low"].notna()
    assert (res.loc[ok, "ci_low"] >= -1e-9).all() and (res.loc[ok, "ci_high"] <= 1 + 1e-9).all()
    again = drivers.relative_importance(df, "score", cols, n_boot=30, seed=1)
    pd.testing.assert_frame_equal(res, again)  # a seed gives the same intervals


# -- journeys ----------------------------------------------------------------------------------

ACTIVITIES = ["Order", "Plan", "Deliver", "Install", "Call"]
DESIGN = ["Order", "Plan", "Deliver", "Install"]


@st.composite
def event_logs(draw):
    """A log of 1-12 cases with 1-7 events each; timestamps may tie (then file order decides)."""
    n_cases = draw(st.integers(1, 12))
    rows = []
    for c in range(n_cases):
        acts = draw(st.lists(st.sampled_from(ACTIVITIES), min_size=1, max_size=7))
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=draw(st.integers(0, 1000)))
        for a in acts:
            t += pd.Timedelta(hours=draw(st.sampled_from([0, 0, 1, 5, 30])))  # ties are frequent
            rows.append({"case_id": f"c{c:02d}", "activity": a, "timestamp": t,
                         "channel": draw(st.sampled_from(["phone", "web", "e-mail"])),
                         "link": draw(st.sampled_from(["Sales", "Planning", "Service"]))})
    ev = pd.DataFrame(rows)
    ev["row"] = np.arange(len(ev), dtype=np.int64)
    return ev, n_cases, draw(seeds)


@SETTINGS
@given(log=event_logs())
def test_variants_add_up_to_the_cases(log):
    ev, n_cases, _ = log
    v = journeys.variants(ev)
    assert v["cases"].sum() == n_cases
    assert v["share"].sum() == pytest.approx(1.0)
    assert (v["length"] == v["activities"].map(len)).all()
    assert (v["cases"] * v["length"]).sum() == len(ev)  # every event is in exactly one variant
    cv = journeys.case_variants(ev)
    assert len(cv) == n_cases and cv["case_id"].is_unique
    assert cv.groupby("variant_id").size().sort_index().tolist() == v.set_index("variant_id")["cases"].sort_index().tolist()


@SETTINGS
@given(log=event_logs())
def test_conformance_and_counts(log):
    ev, n_cases, _ = log
    conf = journeys.conformance(ev, DESIGN)
    assert len(conf) == n_cases
    assert conf["fitness"].between(0, 1).all()
    assert (conf["fits"] == (conf["fitness"] == 1)).all()
    assert conf["n_events"].sum() == len(ev)
    assert ((conf["deviation"] == "none") == conf["fits"]).all()
    df = journeys.directly_follows(ev)
    assert df["count"].sum() == len(ev) - n_cases  # one pair between each two consecutive events
    f = journeys.funnel(ev, DESIGN)
    assert (f["n_reached"] <= f["n_cases"]).all() and f["share"].between(0, 1).all()
    sd = journeys.step_deviation(ev, DESIGN)
    np.testing.assert_allclose(sd["done_share"] + sd["skipped_share"], 1.0)
    se = journeys.start_end_activities(ev)
    assert se["start"].sum() == n_cases and se["end"].sum() == n_cases


@SETTINGS
@given(log=event_logs())
def test_journeys_do_not_depend_on_the_frame_order(log):
    """The row column keeps the file order of tied events; shuffling the frame changes nothing."""
    ev, _, seed = log
    shuffled = ev.sample(frac=1, random_state=seed % 2**31)
    pd.testing.assert_frame_equal(journeys.variants(ev), journeys.variants(shuffled))
    pd.testing.assert_frame_equal(journeys.conformance(ev, DESIGN), journeys.conformance(shuffled, DESIGN))
    pd.testing.assert_frame_equal(journeys.directly_follows(ev), journeys.directly_follows(shuffled))
    pd.testing.assert_frame_equal(journeys.handovers(ev), journeys.handovers(shuffled))
    pd.testing.assert_frame_equal(journeys.journey_features(ev, DESIGN, avoidable=["Call"]),
                                  journeys.journey_features(shuffled, DESIGN, avoidable=["Call"]))


@SETTINGS
@given(log=event_logs(), hours=st.integers(-12, 14))
def test_journeys_do_not_depend_on_the_time_zone(log, hours):
    """The same instants written with another UTC offset give the same journeys."""
    ev, _, _ = log
    utc = ev.assign(timestamp=ev["timestamp"].dt.tz_localize("UTC"))
    shifted = utc.assign(timestamp=utc["timestamp"].dt.tz_convert(f"Etc/GMT{-hours:+d}" if hours else "UTC"))
    pd.testing.assert_frame_equal(journeys.variants(ev), journeys.variants(shifted))
    a = journeys.journey_features(ev, DESIGN)
    b = journeys.journey_features(shifted, DESIGN)
    pd.testing.assert_frame_equal(a, b)


def _events_only_client(folder, ev: pd.DataFrame, stamps: list[str]):
    from .conftest import write_client

    cfg = {"id": "tz", "title": "Time zones",
           "tables": {"events": {"file": "events.csv"}, "cases": {"from": "events", "chain": "order"}},
           "chains": [{"id": "order", "name": "Order", "owner": "Head of Sales", "links": ["Sales"],
                       "kpis": [{"id": "steps", "name": "Steps", "expression": "n_events", "unit": "count",
                                 "direction": "lower", "target": 4, "link": "Sales"}],
                       "journey": {"steps": DESIGN}}]}
    write_client(folder, cfg, responses_csv=None, cases_csv=None, events_csv=None)
    ev.drop(columns=["row"]).assign(timestamp=stamps).to_csv(folder / "events.csv", index=False)
    return folder


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(log=event_logs(), data=st.data())
def test_journeys_do_not_depend_on_offsets_mixed_row_by_row(tmp_path_factory, log, data):
    """An export whose rows carry different UTC offsets (a log merged from several sites, or one
    spanning a change of summer time) gives the journeys of the same instants written in UTC."""
    import ipm_analysis as ipm

    ev, _, _ = log
    offsets = data.draw(st.lists(st.integers(-12 * 4, 14 * 4), min_size=len(ev), max_size=len(ev)))  # quarter hours
    utc = [t.strftime("%Y-%m-%d %H:%M:%S+00:00") for t in ev["timestamp"]]
    local = []
    for t, q in zip(ev["timestamp"], offsets):
        off = pd.Timedelta(minutes=15 * q)
        sign, mins = ("+" if q >= 0 else "-"), abs(15 * q)
        local.append((t + off).strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{mins // 60:02d}:{mins % 60:02d}")
    root = tmp_path_factory.mktemp("tz")
    a = ipm.load_client(_events_only_client(root / "utc", ev, utc))
    b = ipm.load_client(_events_only_client(root / "mixed", ev, local))
    pd.testing.assert_series_equal(a.events["timestamp"], b.events["timestamp"])
    pd.testing.assert_frame_equal(journeys.variants(a.events), journeys.variants(b.events))
    pd.testing.assert_frame_equal(journeys.journey_features(a.events, DESIGN), journeys.journey_features(b.events, DESIGN))
