"""Did it work? Interrupted time series and difference-in-differences against statsmodels formula
fits of the same models, known effects recovered over seeds, and the verdict rules."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from ipm_analysis.actions import (
    difference_in_differences,
    interrupted_time_series,
    minimum_detectable_effect,
    verdict,
)
from ipm_analysis.errors import AnalysisError

FIXTURE = Path(__file__).parent / "fixtures" / "clients" / "fixture"


def _series(rng, n=36, start=24, level=0.0, slope=0.0, noise=0.01, base=0.85):
    periods = pd.date_range("2023-01-01", periods=n, freq="MS")
    t = np.arange(n, dtype=float)
    post = (t >= start).astype(float)
    y = base + 0.001 * t + level * post + slope * post * (t - start) + rng.normal(0, noise, n)
    return pd.DataFrame({"period": periods, "value": y}), periods[start]


def test_its_equals_a_statsmodels_formula_fit():
    rng = np.random.default_rng(3)
    frame, start = _series(rng, n=40, start=30, level=0.03, slope=0.002)
    res = interrupted_time_series(frame, start, seasonal=True)
    d = frame.assign(t=np.arange(40.0), post=(frame["period"] >= start).astype(float))
    d["t_since"] = np.where(d["post"] == 1, d["t"] - 30, 0.0)
    d["month"] = d["period"].dt.month
    hac = smf.ols("value ~ t + post + t_since + C(month)", d).fit(
        cov_type="HAC", cov_kwds={"maxlags": res.maxlags, "use_correction": True}, use_t=True)
    classical = smf.ols("value ~ t + post + t_since + C(month)", d).fit()
    assert res.level_change == pytest.approx(hac.params["post"], abs=1e-8)
    assert res.slope_change == pytest.approx(hac.params["t_since"], abs=1e-8)
    mean_since = d.loc[d["post"] == 1, "t_since"].mean()
    # the larger of the Newey-West and the classical standard error
    tests = [f.t_test(f"post + {mean_since} * t_since = 0") for f in (hac, classical)]
    tt = max(tests, key=lambda t: np.ravel(t.sd)[0])
    assert res.effect == pytest.approx(np.ravel(tt.effect)[0], abs=1e-8)
    assert res.se == pytest.approx(np.ravel(tt.sd)[0], abs=1e-8)
    lo, hi = tt.conf_int()[0]
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi), abs=1e-8)
    assert res.p_value == pytest.approx(np.ravel(tt.pvalue)[0], abs=1e-8)
    assert res.seasonal


def test_its_interval_keeps_its_level_on_a_year_of_months():
    """Newey-West errors alone cover a null effect on 12 months about 86% of the time; the larger of
    them and the classical errors about 95% (2,000 simulated series of independent noise)."""
    rng = np.random.default_rng(0)
    periods = pd.date_range("2025-01-01", periods=12, freq="MS")
    covered = sum(
        (lambda e: e.ci_low <= 0 <= e.ci_high)(interrupted_time_series(
            pd.DataFrame({"period": periods, "value": rng.normal(0, 1, 12)}), "2025-09-01"))
        for _ in range(400))
    assert covered / 400 >= 0.92


def test_its_recovers_a_known_level_change_over_seeds():
    covered, worked = 0, 0
    for seed in range(40):
        frame, start = _series(np.random.default_rng(seed), level=0.04, noise=0.01)
        res = interrupted_time_series(frame, start)
        covered += res.ci_low <= 0.04 <= res.ci_high
        worked += verdict(res, "higher") == "worked"
    assert covered >= 33  # about 95 % nominal; HAC with 36 points is a little liberal
    assert worked >= 38  # 4 sigma of the noise: found almost always


def test_its_null_action_says_no_measurable_effect():
    said = [verdict(interrupted_time_series(*_series(np.random.default_rng(s), level=0.0)), "higher",
                    expected=0.05) for s in range(40)]
    assert said.count("no measurable effect") >= 32
    assert "worked" in said or said.count("no measurable effect") >= 36  # false 'worked' only at the test's rate


def test_its_too_recent_is_too_early_and_the_mde_is_stated():
    frame, start = _series(np.random.default_rng(5), n=26, start=24, level=0.0)
    res = interrupted_time_series(frame, start)
    assert res.n_post == 2
    assert verdict(res, "higher") == "too early to tell"
    assert res.mde == pytest.approx(minimum_detectable_effect(res.se, res.df), rel=1e-12)
    # an expected effect below what the data can see is also "too early", however many periods
    frame, start = _series(np.random.default_rng(5), n=36, start=24, level=0.0, noise=0.05)
    res = interrupted_time_series(frame, start)
    assert verdict(res, "higher", expected=res.mde / 3) == "too early to tell"


def _pilot_cases(rng, effect=0.05, months=12, start_month=7, n=300):
    periods = pd.date_range("2024-01-01", periods=months, freq="MS")
    rows = []
    for i, p in enumerate(periods):
        shock = rng.normal(0, 0.02)  # a month's shock shared by both groups
        for pilot in (True, False):
            base = 0.80 + (0.03 if pilot else 0.0) + shock + rng.normal(0, 0.01)
            prob = base + (effect if pilot and i >= start_month - 1 else 0.0)
            rows.append(pd.DataFrame({"period": p, "pilot": pilot, "value": rng.binomial(1, prob, n)}))
    return pd.concat(rows, ignore_index=True), periods[start_month - 1]


def test_did_equals_a_statsmodels_formula_fit_on_the_cell_means():
    cases, start = _pilot_cases(np.random.default_rng(2))
    res = difference_in_differences(cases, start)
    cells = cases.groupby(["period", "pilot"], as_index=False)["value"].mean()
    cells["treated"] = (cells["pilot"] & (cells["period"] >= start)).astype(float)
    cells["pilot"] = cells["pilot"].astype(float)
    fit = smf.ols("value ~ pilot + C(period) + treated", cells).fit()
    assert res.effect == pytest.approx(fit.params["treated"], abs=1e-8)
    assert res.se == pytest.approx(fit.bse["treated"], abs=1e-8)
    lo, hi = fit.conf_int().loc["treated"]
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi), abs=1e-8)
    assert res.p_value == pytest.approx(fit.pvalues["treated"], abs=1e-8)
    assert res.df == 12 * 2 - 12 - 2  # cells minus period effects, pilot and treated


def test_did_recovers_a_pilot_effect_and_a_null_one_over_seeds():
    covered = worked = null_quiet = 0
    for seed in range(20):
        cases, start = _pilot_cases(np.random.default_rng(100 + seed), effect=0.09)
        res = difference_in_differences(cases, start)
        covered += res.ci_low <= 0.09 <= res.ci_high
        worked += verdict(res, "higher") == "worked"
        null, start = _pilot_cases(np.random.default_rng(200 + seed), effect=0.0)
        null_quiet += verdict(difference_in_differences(null, start), "higher", expected=0.09) == \
            "no measurable effect"
    # 9 pp against month-to-month gap noise of about 3.5 pp over 6 + 6 months: power near 0.97
    assert covered >= 16 and worked >= 17 and null_quiet >= 15
    assert res.pre_trend_p_value is not None  # the parallel-trends check is there to read


def test_refusals():
    frame, _ = _series(np.random.default_rng(1), n=12, start=10)
    with pytest.raises(AnalysisError, match="at least 6 periods before"):
        interrupted_time_series(frame, frame["period"].iloc[3])
    with pytest.raises(AnalysisError, match="no period on or after"):
        interrupted_time_series(frame, "2030-01-01")
    cases, start = _pilot_cases(np.random.default_rng(1))
    with pytest.raises(AnalysisError, match="both before and after"):
        difference_in_differences(cases[cases["pilot"]], start)
    with pytest.raises(AnalysisError, match="direction"):
        verdict(interrupted_time_series(*_series(np.random.default_rng(1))), "up")


def _client_with_a_pilot(folder, seed=0, effect=0.10, months=18, start=12):
    """A client folder whose on-time share rises by ``effect`` in region north from month ``start``;
    NPS answers depend on on-time (promoter 60 % when on time, 25 % when late)."""
    import copy

    from .conftest import BASE_CONFIG, write_client

    rng = np.random.default_rng(seed)
    periods = pd.date_range("2024-01-01", periods=months, freq="MS")
    cases, answers = [], []
    for i, p in enumerate(periods):
        for region in ("north", "south"):
            share = 0.80 + (effect if region == "north" and i >= start else 0.0) + rng.normal(0, 0.01)
            for _ in range(150):
                cid = f"c{len(cases) + 1:05d}"
                late = rng.random() > share
                opened = p + pd.Timedelta(days=int(rng.integers(0, 10)))
                promised = opened + pd.Timedelta(days=8)  # installed within the month it was opened in
                installed = promised + pd.Timedelta(days=int(rng.integers(1, 6)) if late else 0)
                cases.append((cid, "installation", opened.date(), installed.date(), promised.date(),
                              installed.date(), region))
                if rng.random() < 0.5:
                    promoter = rng.random() < (0.25 if late else 0.60)
                    score = int(rng.integers(9, 11)) if promoter else int(rng.integers(0, 9))
                    answers.append((f"r{len(answers) + 1:05d}", (installed + pd.Timedelta(days=2)).date(), score,
                                    cid, 2))
    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["tables"].pop("events")
    cfg["chains"][0].pop("journey")
    case_csv = "case_id,chain,opened_at,closed_at,promised_at,installed_at,region\n" + "\n".join(
        ",".join(map(str, c)) for c in cases)
    resp_csv = "response_id,responded_at,nps,case_id,years\n" + "\n".join(",".join(map(str, a)) for a in answers)
    return write_client(folder, cfg, responses_csv=resp_csv, cases_csv=case_csv, events_csv=None), periods[start]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_pilot_on_a_loaded_client_is_found_on_the_kpi_and_the_result(tmp_path, seed):
    from ipm_analysis.actions import ActionSpec, review_action
    from ipm_analysis.data import load_client

    folder, start = _client_with_a_pilot(tmp_path / "c", seed=seed)
    client = load_client(folder)
    review = review_action(client, ActionSpec(id="plan", kpi="on_time", start=start, pilot=("region", "north")))
    assert review.kpi.design == "did"
    assert review.kpi.ci_low <= 0.10 <= review.kpi.ci_high and review.kpi_verdict == "worked"
    # the result KPI of the touched cases: an on-time case scores NPS 100 x (0.60 - 0.40 x 7/9) = 28.9, a late one
    # 100 x (0.25 - 0.75 x 7/9) = -33.3, so 10 pp more on time is worth +6.2 NPS points in the pilot
    assert review.result.design == "did"
    assert review.result.ci_low <= 6.22 <= review.result.ci_high
    # the same action read without its pilot: an interrupted time series of the whole chain
    plain = review_action(client, ActionSpec(id="plan", kpi="on_time", start=start))
    assert plain.kpi.design == "its" and plain.kpi.ci_low <= 0.05 <= plain.kpi.ci_high  # half the cases had it


def test_actions_in_client_yaml_are_validated_and_reviewed(tmp_path):
    import yaml

    from ipm_analysis.actions import review_actions
    from ipm_analysis.data import load_client
    from ipm_analysis.errors import ValidationError

    folder, start = _client_with_a_pilot(tmp_path / "c", seed=1)
    cfg = yaml.safe_load((folder / "client.yaml").read_text())
    cfg["segments"].append({"id": "area", "name": "Area", "table": "cases", "column": "region"})
    cfg["actions"] = [{"id": "plan_north", "name": "Planning calls back", "owner": "Planning", "kpis": ["on_time"],
                       "start": start.date().isoformat(), "pilot": {"segment": "area", "group": "north"}}]
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg))
    (review,) = review_actions(load_client(folder))
    assert review.action.owner == "Planning" and review.kpi.design == "did" and review.kpi_verdict == "worked"
    good = cfg["actions"][0]
    for bad, words in [({"kpis": ["on_tiem"]}, "unknown chain KPIs ['on_tiem']"),
                       ({"pilot": {"segment": "nowhere", "group": "x"}}, "pilot segment 'nowhere'"),
                       ({"end": "2020-01-01"}, "must come after start")]:
        cfg["actions"] = [{**good, **bad}]
        (folder / "client.yaml").write_text(yaml.safe_dump(cfg))
        with pytest.raises(ValidationError, match=re.escape(words)):
            load_client(folder)


def test_the_section_says_what_each_action_did_in_the_kpis_unit(tmp_path):
    import yaml

    from ipm_analysis.actions import actions_section
    from ipm_analysis.data import load_client

    folder, start = _client_with_a_pilot(tmp_path / "c", seed=2)
    cfg = yaml.safe_load((folder / "client.yaml").read_text())
    cfg["segments"].append({"id": "area", "name": "Area", "table": "cases", "column": "region"})
    late = (start + pd.DateOffset(months=5)).date().isoformat()  # one month of data after it
    cfg["actions"] = [
        {"id": "plan_north", "name": "Planning calls back", "owner": "Planning", "kpis": ["on_time"],
         "start": start.date().isoformat(), "pilot": {"segment": "area", "group": "north"}},
        {"id": "late", "name": "New route planner", "owner": "Planning", "kpis": ["on_time"], "start": late}]
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg))
    client = load_client(folder)
    # every month of this generated client is complete, though its data end before the month's last
    # days (so the last month would read as incomplete, see test_partial_period.py)
    section = actions_section(client, leave_out=())
    first, second = section.sentences
    kpi = section.reviews[0].kpi
    assert first.startswith(f"Planning calls back (Planning), from {start:%Y-%m-%d} in area = north against the rest:")
    assert f"On time {100 * kpi.effect:+.1f} percentage points (95% interval {100 * kpi.ci_low:+.1f}" in first
    assert "worked" in first and "NPS" in first
    assert "too early to tell; a change under" in second and "percentage points could not be seen yet" in second
    assert set(section.table["verdict"]) <= {"worked", "no measurable effect", "too early to tell",
                                             "moved the wrong way"}
    assert section.table.columns.tolist() == ["action", "owner", "measured on", "design", "change", "95% interval",
                                              "smallest visible change", "periods after start", "verdict"]
    assert set(section.charts) == {"on_time", "lead_time"} and section.note == ""


def test_the_predicted_gain_at_the_start_equals_an_ordinal_logit_fitted_by_hand_on_the_earlier_answers():
    """The agenda's prediction at an action's start, from the answers before it only, against
    statsmodels' OrderedModel fitted here on the raw files (KPIs computed in pandas)."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    from ipm_analysis.actions import ActionSpec, predicted_gain
    from ipm_analysis.data import load_client

    folder = FIXTURE
    client = load_client(folder)
    spec = ActionSpec(id="kit", kpi="right_first_time", start="2025-07-01")
    pred = predicted_gain(client, spec, kpi_change=0.06)

    r = pd.read_csv(folder / "responses.csv", parse_dates=["responded_at"])
    c = pd.read_csv(folder / "cases.csv", parse_dates=["ordered_at", "promised_at", "installed_at"])
    c = c[c["chain"] == "installation"].assign(
        on_time=lambda d: (d["installed_at"].dt.normalize() <= d["promised_at"]).astype(float),
        right_first_time=lambda d: (d["install_visits"] == 1).astype(float),
        lead_time_days=lambda d: (d["installed_at"].dt.normalize() - d["ordered_at"].dt.normalize()).dt.days)
    d = r[r["responded_at"] < "2025-07-01"].merge(c, on="case_id").dropna(
        subset=["on_time", "right_first_time", "lead_time_days"])
    d = d[d["installed_at"].notna()]
    X = d[["on_time", "right_first_time", "lead_time_days"]].astype(float)
    levels = np.sort(d["score"].unique())
    y = pd.Categorical(d["score"], categories=levels, ordered=True)
    res = OrderedModel(pd.Series(y), X, distr="logit").fit(method="bfgs", disp=False, maxiter=5000)

    def nps_of(Xs):
        P = np.asarray(res.model.predict(res.params, exog=Xs.to_numpy()))
        return 100 * (P[:, levels >= 9].sum(1) - P[:, levels <= 6].sum(1))

    x = X["right_first_time"].to_numpy()
    p = x.mean()
    q = 0.06 / (1 - p)  # a fraction q of the failing cases succeed
    X1 = X.assign(right_first_time=1.0)
    fail = (x == 0).astype(float)
    gain = float(np.mean((1 - q * fail) * nps_of(X) + q * fail * nps_of(X1)) - np.mean(nps_of(X)))
    assert pred.n == len(d)
    assert pred.kpi_from == pytest.approx(p, abs=1e-12)
    assert pred.kpi_to == pytest.approx(p + 0.06, abs=1e-12)
    assert pred.gain == pytest.approx(gain, abs=1e-3)
    assert pred.ci_low < pred.gain < pred.ci_high and pred.basis == "realised change"
    # to the target when no change is given
    assert predicted_gain(client, spec).kpi_to == pytest.approx(0.95) and predicted_gain(client, spec).basis == "target"


def test_predicted_against_realised_reads_the_difference_and_its_interval():
    from ipm_analysis.actions import ActionEffect, ActionReview, ActionSpec, PredictedGain, compare_gain

    spec = ActionSpec(id="kit", kpi="right_first_time", start="2025-09-01", name="Kit")
    pred = PredictedGain("realised change", 0.88, 0.98, gain=5.0, se=1.0, ci_low=3.04, ci_high=6.96, n=400,
                         result_unit="NPS points")

    def review(effect, se, n_post=4):
        e = ActionEffect("did", effect, se, effect - 1.96 * se, effect + 1.96 * se, 0.5, 10, 3 * se, 8, n_post)
        return ActionReview(spec, None, None, e, "worked")

    c = compare_gain(review(4.0, 2.0), pred)
    assert c.agreement == "as predicted" and c.difference == pytest.approx(-1.0)
    half = 1.959964 * np.hypot(2.0, 1.0)
    assert (c.difference_ci_low, c.difference_ci_high) == pytest.approx((-1.0 - half, -1.0 + half), abs=1e-5)
    assert compare_gain(review(-5.0, 2.0), pred).agreement == "less than predicted"
    assert compare_gain(review(15.0, 2.0), pred).agreement == "more than predicted"
    assert compare_gain(review(15.0, 2.0, n_post=2), pred).agreement == "too early to tell"
    none = compare_gain(ActionReview(spec, None, None, None, None), pred)
    assert none.agreement == "not comparable" and "not measured" in none.note and none.difference is None
