"""Thresholds found where they are: knots over the whole observed range, a one-pass knot scan
checked against one least-squares fit per knot, the test on the KPI on its own and with the
other KPIs held equal, bins that follow the data, and a share KPI's continuous companion."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from ipm_analysis import load_client
from ipm_analysis.demo import generate_client
from ipm_analysis.modelframe import companion_frames, frame_from_data
from ipm_analysis.effects import (
    THRESHOLD_UNITS,
    _candidate_knots,
    find_threshold,
    hinge_rss,
    response_curve_table,
    threshold_reading,
)

RATING = {"min": 1, "max": 5, "top_box": [4, 5], "bottom_box": [1, 2]}


def marketplace(n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """90 % on time or early; the review drops beyond 0 days late (1-3 days, 4-7, beyond a week)."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    late = np.where(u < 0.35, -rng.integers(1, 11, n),
                    np.where(u < 0.9, 0, np.minimum(rng.geometric(0.12, n), 138))).astype(float)
    mean = np.select([late <= 0, late <= 3, late <= 7], [3.7 - 0.01 * late, 2.8, 2.1], 1.6)
    score = 1 + rng.binomial(4, np.clip(mean - 1, 0, 4) / 4)
    return pd.DataFrame({"score": score.astype(float), "days_late": late, "on_time": (late <= 0).astype(float)})


def market_frame(d: pd.DataFrame):
    return frame_from_data(d, ["days_late", "on_time"], RATING, units={"days_late": "days", "on_time": "share"},
                           directions={"days_late": "lower", "on_time": "higher"})


def test_knot_scan_matches_one_fit_per_knot():
    rng = np.random.default_rng(3)
    n = 600
    x = rng.integers(-3, 20, n).astype(float)
    B = np.column_stack([np.ones(n), x, rng.normal(size=n), rng.random(n) < 0.4])
    y = 2 - 0.1 * x - 0.8 * np.maximum(0, x - 5) + rng.normal(size=n)
    knots = _candidate_knots(x, 30)
    for step in (True, False):
        rss, coef = hinge_rss(B, x, y, knots, step=step)
        for i, k in enumerate(knots):
            extra = [np.maximum(0, x - k)] + ([x > k] if step else [])
            X = np.column_stack([B, *extra]).astype(float)
            beta, *_ = np.linalg.lstsq(X, y, rcond=None)
            r = y - X @ beta
            assert rss[i] == pytest.approx(r @ r, rel=1e-8)
            assert coef[i, 0] == pytest.approx(beta[4], rel=1e-6, abs=1e-9)
            if step:
                assert coef[i, 1] == pytest.approx(beta[5], rel=1e-6, abs=1e-9)


def test_knots_cover_the_whole_range_where_both_sides_hold_the_base():
    x = np.r_[np.zeros(900), np.arange(1, 101, dtype=float)]  # 90 % at 0: the old 10-90 % rule tried only 0
    knots = _candidate_knots(x, 30)
    assert knots.min() == 0 and knots.max() == 70  # 30 values above 70
    assert all((x <= k).sum() >= 30 and (x > k).sum() >= 30 for k in knots)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_marketplace_threshold_between_0_and_3_days_late(seed):
    mf = market_frame(marketplace(seed=seed))
    th = find_threshold(mf, "days_late")
    assert th.found and 0 <= th.knot <= 3, th.sentence
    assert th.step_ci_high < 0  # the drop beyond the knot, in points of the 1-5 scale
    assert th.adjusted is not None and not th.adjusted_for_others and th.adjusted.adjusted_for_others
    assert "held equal" in th.sentence
    curve = response_curve_table(mf, "days_late")
    assert (curve["x_high"] - curve["x_low"]).max() < 60  # no band from the earliest to the latest
    assert ((curve["x_low"] == 0) & (curve["x_high"] == 0)).any()  # the on-the-day mass is its own band
    late = curve[curve["x_low"] >= 1]
    assert len(late) >= 3 and (late["kpi_vs_ref_ci_high"] < 0).all()  # the figure shows the drop the text names


def test_companion_absorbing_the_step_does_not_hide_it():
    # on time is the step itself: with it held equal the days-late step is gone; on its own it is found
    mf = market_frame(marketplace(seed=4))
    alone = find_threshold(mf, "days_late", adjust=False)
    both = find_threshold(mf, "days_late")
    assert alone.found and both.found and both.knot == alone.knot
    assert both.sentence.startswith(alone.sentence)


def test_telecom_like_calls_threshold_beyond_three():
    rng = np.random.default_rng(5)
    n = 5000
    calls = np.minimum(rng.poisson(1.6, n), 9).astype(float)
    churn = rng.random(n) < np.where(calls <= 3, 0.10 + 0.013 * calls, 0.5 + 0.02 * (calls - 4))
    d = pd.DataFrame({"score": np.where(churn, 1.0, 2.0), "calls": calls})
    mf = frame_from_data(d, ["calls"], {"min": 1, "max": 2, "top_box": [2], "bottom_box": [1]},
                         units={"calls": "count"}, directions={"calls": "lower"}, names={"calls": "Service calls"},
                         top_label="stayed")
    th = find_threshold(mf, "calls")
    assert th.found and th.knot == 3
    assert th.kpi_unit == "percentage points" and "beyond 3" in th.sentence
    # from 4 calls the share staying drops by about 36 points against the line up to 3
    assert th.step_ci_low < -30 < th.step_ci_high


def test_no_threshold_text_agrees_with_a_straight_falling_curve():
    rng = np.random.default_rng(6)
    n = 3000
    x = rng.integers(0, 30, n).astype(float)
    score = np.clip(np.round(4.5 - 0.08 * x + rng.normal(scale=0.8, size=n)), 1, 5)
    mf = frame_from_data(pd.DataFrame({"score": score, "x": x}), ["x"], RATING, units={"x": "hours"},
                         directions={"x": "lower"}, names={"x": "Wait"})
    th = find_threshold(mf, "x")
    curve = response_curve_table(mf, "x")
    text = threshold_reading(th, curve)
    assert not th.found and text.startswith("No threshold found")
    assert "does change along Wait" in text  # the falling figure is not left unexplained


def test_threshold_units_are_time_and_counts_only():
    assert "number" not in THRESHOLD_UNITS and "share" not in THRESHOLD_UNITS
    assert {"days", "hours", "count"} <= set(THRESHOLD_UNITS)


def test_demo_lateness_companion_recovers_the_knot(tmp_path):
    made = generate_client("koffie", tmp_path / "koffie", n_responses=8_000)
    truth = json.loads((made.path / "truth.json").read_text())
    bands = truth["nonlinear"]["installation.on_time"]["by_days_late"]
    # the truth's knot: the last day late that costs almost nothing (under a tenth of the 3+ cost)
    full = abs(bands["3+"]["latent_cost_existing"])
    true_knot = max(int(k) for k, b in bands.items() if k.isdigit() and abs(b["latent_cost_existing"]) < 0.1 * full)
    client = load_client(made.path)
    (cf,) = companion_frames(client, "installation")
    assert cf.drivers == ("days_late",) and cf.specs["days_late"].direction == "lower"
    th = find_threshold(cf, "days_late")
    assert th.found and abs(th.knot - true_knot) <= 1, (th.knot, true_knot, th.sentence)


def test_companion_declaration_is_checked():
    import copy

    from pydantic import ValidationError as PydanticError

    from ipm_analysis.config import ClientConfig
    from tests.conftest import BASE_CONFIG

    cfg = copy.deepcopy(BASE_CONFIG)
    kpi = cfg["chains"][0]["kpis"][0]
    kpi["companion"] = {"days_late": "date_diff('day', promised_at, installed_at)"}
    assert ClientConfig.model_validate(cfg).kpis[0].companion_id == "days_late"
    kpi["companion"] = {kpi["id"]: "1"}  # the KPI's own id
    with pytest.raises(PydanticError, match="companion ids"):
        ClientConfig.model_validate(cfg)
    kpi["companion"] = {"a": "1", "b": "2"}
    with pytest.raises(PydanticError, match="one measure"):
        ClientConfig.model_validate(cfg)


def test_the_threshold_reading_in_dutch_has_dutch_words_and_comma_decimals():
    from ipm_analysis.messages import catalogue, render

    mf = market_frame(marketplace(seed=4))
    th = find_threshold(mf, "days_late")
    dutch = render(th.sentence, "nl")
    assert th.sentence.key == "threshold.both" and render(th.sentence, "en") == th.sentence
    assert "gelijk gehouden" in dutch and "held equal" not in dutch
    assert re.search(r"[+-]\d+,\d", dutch) and not re.search(r"\d\.\d", dutch)  # comma decimals only
    english_only = {"associated", "each", "beyond", "interval to", "adds up", "compared", "points"}
    assert not [w for w in english_only if w in dutch], dutch
    assert set(catalogue("nl")) == set(catalogue("en"))
