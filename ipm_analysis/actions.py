"""Did it work? Improvement actions measured against what happened before and elsewhere.

An improvement action starts on a date and targets a chain KPI. Two designs measure it:

- **interrupted time series** (ITS) on the KPI per period: ``y = b0 + b1·t + b2·post + b3·t_since``
  (+ month-of-year terms when there are at least two full years before the start), with
  Newey-West (HAC) errors for autocorrelated periods, or the classical errors where those are larger
  (HAC alone is too narrow on the year or two of months a report has). ``b2`` is the change in level at the start,
  ``b3`` the change in slope; the effect reported is the average over the periods after the
  start, ``b2 + b3·mean(t_since)``, against the line the earlier periods predict;
- **difference-in-differences** (DiD) when the action ran as a pilot (a segment or a set of
  cases) and the rest is a comparison group: ``y = a + b·pilot + Σ period + d·(pilot × after)``
  on the group-period cell means, the level at which the action is assigned and cases share
  their shocks (with one pilot group, case-level errors clustered by group cannot be had and
  clustered by cell are far too narrow).

Both return the effect with its interval and the **minimum detectable effect** (MDE): the
smallest true effect the data would show as significant four times in five,
``(t₁₋α/₂ + t₀.₈) · SE``. The verdict comes from the interval and the MDE: *worked*,
*moved the wrong way*, *no measurable effect* (the data could have seen the expected effect and
did not) or *too early to tell* (too few periods since the start, or the expected effect is
below what the data can yet detect).

Association caveats hold: ITS assumes nothing else changed at the start; DiD assumes the two
groups would have moved alike without the action (parallel trends), which the pre-period trend
difference (reported) lets a reader judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .errors import AnalysisError
from .messages import analysis_error, reason
from .kpis import hac_maxlags
from .periods import partial_period

POWER = 0.80
MIN_PRE_PERIODS = 6
MIN_POST_PERIODS = 3
Verdict = Literal["worked", "moved the wrong way", "no measurable effect", "too early to tell"]


@dataclass(frozen=True)
class ActionEffect:
    """The measured effect of one action on one KPI.

    ``effect`` is in the KPI's own unit per period value (a share as a fraction, a time in its
    unit), positive when the KPI went up. ``level_change``/``slope_change`` (ITS) or
    ``pre_trend_difference`` (DiD) describe the fit; ``mde`` the minimum detectable effect.
    """

    design: Literal["its", "did"]
    effect: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    mde: float
    n_pre: int
    n_post: int
    level_change: float | None = None
    slope_change: float | None = None
    seasonal: bool = False
    maxlags: int | None = None
    pre_trend_difference: float | None = None
    pre_trend_p_value: float | None = None
    params: dict[str, float] | None = None


def _t(ci: float, df: float) -> float:
    if not 0 < ci < 1:
        raise AnalysisError(f"ci must lie between 0 and 1, got {ci!r}")
    return float(stats.t.ppf(0.5 + ci / 2, df))


def minimum_detectable_effect(se: float, df: float, alpha: float = 0.05, power: float = POWER) -> float:
    """The smallest true effect found significant (two-sided ``alpha``) with probability ``power``."""
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se)


def _periods(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    missing = [c for c in ("period", value) if c not in frame.columns]
    if missing:
        raise AnalysisError(f"an interrupted time series needs the columns period and {value}; missing: {missing}")
    s = frame[["period", value]].rename(columns={value: "y"}).copy()
    s["y"] = pd.to_numeric(s["y"], errors="coerce")
    s["period"] = pd.to_datetime(s["period"])
    s = s.dropna().sort_values("period", kind="mergesort").reset_index(drop=True)
    if s["period"].duplicated().any():
        raise AnalysisError("an interrupted time series needs one value per period; some periods repeat")
    return s


def its_design(frame: pd.DataFrame, start: Any, value: str = "value", seasonal: bool | None = None) -> pd.DataFrame:
    """The ITS design matrix (as columns) of a series of periods: t, post, t_since, month terms.

    ``t`` counts periods from 0 in order of the rows (regular periods are assumed: months or
    weeks without gaps); ``post`` is 1 from the first period on or after ``start``.
    """
    s = _periods(frame, value)
    start = pd.Timestamp(start)
    s["t"] = np.arange(len(s), dtype=float)
    s["post"] = (s["period"] >= start).astype(float)
    if not s["post"].any():
        raise analysis_error("actions.error.no_period_after", start=f"{start.date()}")
    t0 = float(s.loc[s["post"] == 1, "t"].iloc[0])
    s["t_since"] = np.where(s["post"] == 1, s["t"] - t0, 0.0)
    n_pre = int((s["post"] == 0).sum())
    if seasonal is None:
        seasonal = n_pre >= 24 and s["period"].dt.day.eq(1).all()
    if seasonal:
        months = s["period"].dt.month
        for m in range(2, 13):
            s[f"month_{m}"] = (months == m).astype(float)
    return s


def interrupted_time_series(frame: pd.DataFrame, start: Any, value: str = "value", ci: float = 0.95,
                            seasonal: bool | None = None, maxlags: int | None = None) -> ActionEffect:
    """Level and slope change of a per-period KPI at ``start``, with Newey-West errors.

    Parameters
    ----------
    frame : DataFrame
        One row per period: ``period`` (the period's first day) and the KPI ``value``.
    start : date
        The action's start; the first period on or after it is the first "after" period.
    seasonal : bool, optional
        Month-of-year terms; by default when at least 24 monthly periods precede the start.
    maxlags : int, optional
        Newey-West lags; by default ``hac_maxlags(n)``.

    The standard error is the larger of the Newey-West and the classical one: on 12 simulated
    months of independent noise a HAC-only 95% interval covered the truth 86% of the time, the
    larger of the two 95%.
    """
    import statsmodels.api as sm

    d = its_design(frame, start, value, seasonal)
    n_pre, n_post = int((d["post"] == 0).sum()), int((d["post"] == 1).sum())
    if n_pre < MIN_PRE_PERIODS:
        raise analysis_error("actions.error.its_pre_periods", need=MIN_PRE_PERIODS, got=n_pre)
    cols = ["t", "post", "t_since"] + [c for c in d.columns if c.startswith("month_")]
    X = sm.add_constant(d[cols].to_numpy(), has_constant="add")
    if n_post < 2:  # no slope after the start can be told from the level
        cols.remove("t_since")
        X = sm.add_constant(d[cols].to_numpy(), has_constant="add")
    lags = hac_maxlags(len(d)) if maxlags is None else int(maxlags)
    fit = sm.OLS(d["y"].to_numpy(), X).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True},
                                           use_t=True)
    classical = sm.OLS(d["y"].to_numpy(), X).fit()
    names = ["const"] + cols
    params = dict(zip(names, map(float, fit.params)))
    # the average effect over the periods after the start: level + slope x mean periods since start
    w = np.zeros(len(names))
    w[names.index("post")] = 1.0
    if "t_since" in names:
        w[names.index("t_since")] = float(d.loc[d["post"] == 1, "t_since"].mean())
    effect = float(w @ fit.params)
    # Newey-West errors are too small on a year or two of months (a 95% interval covered 86% of
    # simulated null series of 12 months, 87% of 24); the larger of them and the classical error
    # restores the nominal level for independent months and keeps HAC where autocorrelation is larger
    se_hac = float(np.sqrt(w @ fit.cov_params() @ w))
    se = max(se_hac, float(np.sqrt(w @ classical.cov_params() @ w)))
    df = float(fit.df_resid)
    q = _t(ci, df)
    p = float(2 * stats.t.sf(abs(effect / se), df)) if se > 0 else float(effect == 0)
    return ActionEffect(design="its", effect=effect, se=se, ci_low=effect - q * se, ci_high=effect + q * se,
                        p_value=p, df=df, mde=minimum_detectable_effect(se, df, 1 - ci), n_pre=n_pre,
                        n_post=n_post, level_change=params["post"], slope_change=params.get("t_since"),
                        seasonal=any(c.startswith("month_") for c in cols), maxlags=lags, params=params)


def difference_in_differences(cases: pd.DataFrame, start: Any, value: str = "value", pilot: str = "pilot",
                              period: str = "period", ci: float = 0.95) -> ActionEffect:
    """The pilot's effect on a per-case KPI against the comparison group, before and after ``start``.

    Parameters
    ----------
    cases : DataFrame
        One row per case: the KPI ``value`` (a 0/1 flag for a share), ``pilot`` (True for cases
        where the action ran) and ``period`` (the case's period, e.g. month).

    The action is assigned to a group for a stretch of periods, so the cases of one group in one
    period share their shocks: the group-period cell is the unit of the design. The model is fitted
    on the cell means (pilot and comparison per period): ``mean = a + b·pilot + Σ period + d·treated``,
    with classical errors on ``periods·2 − periods − 2`` degrees of freedom (the two-step route of
    Donald and Lang, 2007). Case-level errors clustered by cell would count each case-level answer
    as information about the cell shocks and, with one pilot group, give intervals that are far
    too narrow. The pre-period trend of the pilot-minus-comparison gap (per period, with its
    p-value) is returned to judge the parallel-trends assumption.
    """
    import statsmodels.api as sm

    missing = [c for c in (value, pilot, period) if c not in cases.columns]
    if missing:
        raise AnalysisError(f"a difference-in-differences needs the columns {value}, {pilot}, {period}; "
                            f"missing: {missing}")
    d = pd.DataFrame({"y": pd.to_numeric(cases[value], errors="coerce"),
                      "pilot": cases[pilot].astype(bool).astype(float),
                      "period": pd.to_datetime(cases[period])}).dropna()
    cells = d.groupby(["period", "pilot"], sort=True)["y"].mean().unstack("pilot").dropna()
    start = pd.Timestamp(start)
    if cells.shape[1] < 2 or not (cells.index < start).any() or not (cells.index >= start).any():
        raise analysis_error("actions.error.did_both_groups")
    cell = cells.stack().rename("y").reset_index()
    cell["post"] = (cell["period"] >= start).astype(float)
    cell["treated"] = cell["pilot"] * cell["post"]
    periods = cells.index
    fe = pd.get_dummies(pd.Categorical(cell["period"], categories=periods), drop_first=True, dtype=float)
    X = np.column_stack([np.ones(len(cell)), cell["pilot"], cell["treated"], fe.to_numpy()])
    if len(cell) - X.shape[1] < 1:
        raise analysis_error("actions.error.did_periods")
    fit = sm.OLS(cell["y"].to_numpy(), X).fit()
    effect, se, df = float(fit.params[2]), float(fit.bse[2]), float(fit.df_resid)
    q = _t(ci, df)
    p = float(fit.pvalues[2])
    n_pre, n_post = int((periods < start).sum()), int((periods >= start).sum())
    gap_trend, gap_p = _pre_trend(cells[cells.index < start])
    return ActionEffect(design="did", effect=effect, se=se, ci_low=effect - q * se, ci_high=effect + q * se,
                        p_value=p, df=df, mde=minimum_detectable_effect(se, df, 1 - ci), n_pre=n_pre,
                        n_post=n_post, pre_trend_difference=gap_trend, pre_trend_p_value=gap_p,
                        params={"const": float(fit.params[0]), "pilot": float(fit.params[1]),
                                "treated": effect})


def _pre_trend(cells: pd.DataFrame) -> tuple[float | None, float | None]:
    """Slope per period of the pilot-minus-comparison gap before the start (None with < 3 periods)."""
    import statsmodels.api as sm

    gap = (cells[1.0] - cells[0.0]).dropna()
    if len(gap) < 3:
        return None, None
    fit = sm.OLS(gap.to_numpy(), sm.add_constant(np.arange(len(gap), dtype=float))).fit()
    return float(fit.params[1]), float(fit.pvalues[1])


def verdict(effect: ActionEffect, direction: Literal["higher", "lower"] = "higher",
            expected: float | None = None, min_post: int = MIN_POST_PERIODS) -> Verdict:
    """Worked / moved the wrong way / no measurable effect / too early to tell.

    ``expected`` is the change the action was predicted to bring (in the KPI's unit, signed);
    without it, a null result after ``min_post`` periods is "no measurable effect". Fewer than
    ``min_post`` periods after the start are "too early to tell" whatever the interval says: one or
    two periods cannot tell a lasting change from a passing one.
    """
    if direction not in ("higher", "lower"):
        raise AnalysisError(f"direction must be 'higher' or 'lower', got {direction!r}")
    good = 1 if direction == "higher" else -1
    if effect.n_post < min_post:  # a change in one or two periods cannot be told from a passing blip
        return "too early to tell"
    if effect.ci_low > 0 or effect.ci_high < 0:
        return "worked" if np.sign(effect.effect) == good else "moved the wrong way"
    if expected is not None and abs(expected) < effect.mde:
        return "too early to tell"
    return "no measurable effect"


@dataclass(frozen=True)
class ActionSpec:
    """One improvement action: what it targets, from when, and (a pilot) where it ran.

    ``pilot`` is ``(segment id, group)``: the cases (or answers) in that group had the action, the
    others are the comparison group. Without a pilot the action ran everywhere and only the
    interrupted time series can measure it.
    """

    id: str
    kpi: str
    start: Any
    end: Any = None
    pilot: tuple[str, str] | None = None
    name: str = ""
    owner: str = ""


@dataclass(frozen=True)
class ActionReview:
    """What one action did: on its chain KPI and on the result KPI of the cases it touched."""

    action: ActionSpec
    kpi: ActionEffect | None
    kpi_verdict: Verdict | None
    result: ActionEffect | None
    result_verdict: Verdict | None
    notes: tuple[str, ...] = ()


def result_points(scores: pd.Series, scale: str) -> pd.Series:
    """Each answer's contribution to the result KPI's mean: for NPS +100 (promoter), -100 (detractor) or
    0, so that the mean of the points is the NPS; otherwise the score itself."""
    s = pd.to_numeric(scores, errors="coerce")
    if scale == "nps":
        return 100.0 * (s >= 9).astype(float) - 100.0 * (s <= 6).astype(float)
    return s.astype(float)


def _window(frame: pd.DataFrame, spec: ActionSpec) -> pd.DataFrame:
    """The periods the review looks at: all before the start, and those up to the action's end."""
    if spec.end is None:
        return frame
    return frame[pd.to_datetime(frame["period"]) <= pd.Timestamp(spec.end)]


def _measure(rows: pd.DataFrame, value: str, spec: ActionSpec, direction: str, expected: float | None,
             ci: float, what: str, notes: list[str], min_base: int,
             leave_out: Any = ()) -> tuple[ActionEffect | None, Verdict | None]:
    rows = _window(rows.dropna(subset=[value]), spec)
    skip = set(pd.to_datetime(list(leave_out)))
    if skip:  # an incomplete last period holds a biased part of its cases (those that closed early)
        rows = rows[~pd.to_datetime(rows["period"]).isin(skip)]
    # periods (per group, for a pilot) under the minimum base say nothing reliable: left out, and said
    keys = ["period", "_pilot"] if spec.pilot is not None else ["period"]
    size = rows.groupby(keys)[value].transform("size")
    small = rows.loc[size < min_base, "period"].drop_duplicates()
    if len(small):
        notes.append(_say("actions.note.small_periods", what=what, n=len(small), min_base=min_base,
                          periods=", ".join(pd.to_datetime(small).dt.strftime("%Y-%m").sort_values())))
        rows = rows[~rows["period"].isin(small)]
    try:
        if spec.pilot is not None:
            eff = difference_in_differences(rows, spec.start, value=value, pilot="_pilot", ci=ci)
        else:
            monthly = rows.groupby("period", as_index=False)[value].mean()
            eff = interrupted_time_series(monthly, spec.start, value=value, ci=ci)
    except AnalysisError as e:
        notes.append(f"{what}: {reason(e)}")
        return None, None
    return eff, verdict(eff, direction, expected=expected)


def review_action(client: Any, spec: ActionSpec, expected_kpi_change: float | None = None,
                  expected_result_change: float | None = None, ci: float = 0.95,
                  leave_out: Any = ()) -> ActionReview:
    """Measure one action on a loaded client: its chain KPI per case, and the result KPI of the
    answers linked to the chain's cases (NPS in points, other scales in their unit), both by the
    period the case closed.

    ``expected_*`` are the changes the agenda predicted (for the "too early" rule); without them a
    null result after three periods reads "no measurable effect". ``leave_out``: periods not used
    (an incomplete last period).
    """
    kpi = next((k for ch in client.config.chains for k in ch.kpis if k.id == spec.kpi), None)
    if kpi is None:
        raise AnalysisError(f"action '{spec.id}': unknown chain KPI '{spec.kpi}'")
    chain = next(ch.id for ch in client.config.chains if any(k.id == spec.kpi for k in ch.kpis))
    notes: list[str] = []
    cases = client.case_kpis[client.case_kpis["chain"] == chain]
    linked = None
    if client.linked is not None:
        linked = client.linked[(client.linked["chain"] == chain) & client.linked["linked"].astype(bool)].copy()
        linked["_points"] = result_points(linked["score"], client.config.result_kpi.scale)
        # an answer counts in the period its case closed, as the case's KPI does: the answers about the
        # cases the action touched are then "after" together with those cases (by the answer's own
        # month, answers about cases that closed before the start would dilute the first months after)
        closed = client.case_kpis.drop_duplicates("case_id").set_index("case_id")["period"]
        linked["period"] = linked["case_id"].map(closed).fillna(linked["period"])
    if spec.pilot is not None:
        seg, group = spec.pilot
        if seg in cases.columns:
            cases = cases.assign(_pilot=cases[seg].astype(str) == str(group))
        elif linked is not None and seg in linked.columns:
            notes.append(_say("actions.note.pilot_answered_only", segment=seg))
            cases = linked.assign(_pilot=linked[seg].astype(str) == str(group))
        else:
            raise AnalysisError(f"action '{spec.id}': unknown segment '{seg}'")
        if linked is not None and seg in linked.columns:
            linked = linked.assign(_pilot=linked[seg].astype(str) == str(group))
    base = client.config.reporting.min_base_suppress
    kpi_eff, kpi_v = _measure(cases, spec.kpi, spec, kpi.direction, expected_kpi_change, ci,
                              _say("actions.what.chain_kpi"), notes, base, leave_out)
    res_eff = res_v = None
    if linked is None:
        notes.append(_say("actions.note.no_survey"))
    elif spec.pilot is not None and "_pilot" not in linked.columns:
        notes.append(_say("actions.note.pilot_answers"))
    else:
        res_eff, res_v = _measure(linked, "_points", spec, "higher", expected_result_change, ci,
                                  _say("actions.what.result_kpi"), notes, base, leave_out)
    return ActionReview(action=spec, kpi=kpi_eff, kpi_verdict=kpi_v, result=res_eff, result_verdict=res_v,
                        notes=tuple(notes))


def action_specs(client: Any) -> list[ActionSpec]:
    """The actions of the client's ``actions:`` in client.yaml, one spec per chain KPI targeted."""
    return [ActionSpec(id=a.id, kpi=kpi, start=a.start, end=a.end, name=a.name, owner=a.owner,
                       pilot=(a.pilot.segment, a.pilot.group) if a.pilot is not None else None)
            for a in client.config.actions for kpi in a.kpis]


def review_actions(client: Any, ci: float = 0.95, leave_out: Any = ()) -> list[ActionReview]:
    """Every action of the client's ``actions:`` in client.yaml, once per chain KPI it targets."""
    out = []
    for a in client.config.actions:
        for kpi in a.kpis:
            spec = ActionSpec(id=a.id, kpi=kpi, start=a.start, end=a.end, name=a.name, owner=a.owner,
                              pilot=(a.pilot.segment, a.pilot.group) if a.pilot is not None else None)
            out.append(review_action(client, spec, ci=ci, leave_out=leave_out))
    return out


# --------------------------------------------------------------------------------------------
# the report section: "Did it work?" and the control charts of the chain KPIs
# --------------------------------------------------------------------------------------------

VERDICT_WORDS = {
    "worked": "worked",
    "moved the wrong way": "moved the wrong way",
    "no measurable effect": "no measurable effect",
    "too early to tell": "too early to tell",
}
#: the catalogue key of each verdict's word
_VERDICT_KEYS = {"worked": "actions.verdict.worked", "moved the wrong way": "actions.verdict.wrong_way",
                 "no measurable effect": "actions.verdict.no_effect", "too early to tell": "actions.verdict.too_early"}
_UNIT_KEYS = {"percentage points": "unit.percentage_points", "NPS points": "unit.nps_points",
              "points": "unit.points", **{u: f"actions.unit.{u}" for u in ("days", "hours", "minutes", "seconds",
                                                                           "count", "number")}}


def _say(key: str, language: str | None = None, **values: Any) -> str:
    """The catalogue's sentence ``key`` in ``language`` (the report's language unless given), filled."""
    from . import messages

    return messages.catalogue(language or messages.current_language())[key].format(**values)


def verdict_word(v: str, language: str | None = None) -> str:
    """A verdict as the report writes it, in ``language`` (the report's language unless given)."""
    return _say(_VERDICT_KEYS[v], language)


def _in_unit(x: float, unit: str, signed: bool = True, language: str | None = None) -> str:
    """A change in a KPI's unit: shares in percentage points, times and counts in their unit, in
    ``language`` (the report's language unless given; the digits are the same in every language)."""
    from . import messages, present

    language = language or messages.current_language()
    if unit == "share":
        v, u = 100 * x, "percentage points"
    elif unit == "NPS points":
        v, u = x, "NPS points"
    else:
        v, u = x, unit
    digits = 1 if abs(v) >= 0.095 or v == 0 else 2
    text = f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"
    if language != "en":
        text = present.localize_numbers(text, language)
        u = _say(_UNIT_KEYS[u], language) if u in _UNIT_KEYS else u
    return f"{text} {u}".strip()


def review_sentence(review: ActionReview, kpi_name: str, kpi_unit: str, result_name: str,
                    result_unit: str, language: str | None = None) -> str:
    """What one action did, in words: the KPI's change with its interval and verdict, the result
    KPI's, and the smallest change the data could see where it is too early. In ``language`` (the
    report's language unless given)."""
    a = review.action
    parts = [_say("actions.head", language, action=a.name or a.id,
                  owner=_say("actions.owner", language, owner=a.owner) if a.owner else "",
                  start=f"{pd.Timestamp(a.start):%Y-%m-%d}",
                  pilot=_say("actions.pilot", language, segment=a.pilot[0], value=a.pilot[1]) if a.pilot else "")]
    for what, eff, v, unit in ((kpi_name, review.kpi, review.kpi_verdict, kpi_unit),
                               (result_name, review.result, review.result_verdict, result_unit)):
        if eff is None:
            continue
        text = _say("actions.change", language, what=what, change=_in_unit(eff.effect, unit, language=language),
                    low=_in_unit(eff.ci_low, unit, language=language),
                    high=_in_unit(eff.ci_high, unit, language=language), verdict=verdict_word(v, language))
        if v == "too early to tell":
            text += _say("actions.too_early", language, mde=_in_unit(eff.mde, unit, signed=False, language=language))
        parts.append(text + ".")
    if review.kpi is None and review.result is None:
        parts.append(_say("actions.not_measurable", language, notes="; ".join(review.notes)))
    return " ".join(parts)


@dataclass(frozen=True)
class ActionsSection:
    """The numbers and texts of the report's "Did it work?" and monitoring section.

    ``comparisons``/``gain_sentences``/``gains``: the result-KPI gain predicted at each action's
    start against the one realised (:func:`compare_gains`). ``money``: per action, the avoidable
    contacts its realised KPI change saves per month and their cost, and the value of its realised
    result-KPI change; ``target_money``: per chain KPI with a target, the contacts saved per month
    by reaching it (see :mod:`ipm_analysis.value`); ``value_note`` what the money rests on.
    """

    reviews: list[ActionReview]
    sentences: list[str]
    table: pd.DataFrame
    charts: dict
    signals: pd.DataFrame
    note: str
    comparisons: list = field(default_factory=list)
    gain_sentences: list = field(default_factory=list)
    gains: pd.DataFrame = field(default_factory=pd.DataFrame)
    money: pd.DataFrame = field(default_factory=pd.DataFrame)
    target_money: pd.DataFrame = field(default_factory=pd.DataFrame)
    value_note: str = ""
    currency: str | None = None
    cost_per_contact: float | None = None
    value_per_point: float | None = None


def actions_section(client: Any, recent_periods: int = 3, leave_out: Any = None) -> ActionsSection:
    """Review every action of client.yaml and chart every chain KPI (see :mod:`ipm_analysis.monitoring`).

    ``signals`` holds the signals of the last ``recent_periods`` periods charted, the ones a reader
    should look at now. ``leave_out``: periods neither charted nor used to measure the actions; by
    default the incomplete last period(s) that :func:`ipm_analysis.periods.partial_period` finds
    (a month cut short would read as a sudden drop), ``()`` to keep every period.
    """
    from .monitoring import chain_kpi_charts
    if leave_out is None:
        partial = partial_period(client)
        leave_out = partial["periods"] if partial else ()

    kpis = {k.id: k for c in client.config.chains for k in c.kpis}
    scale = client.config.result_kpi.scale if client.config.result_kpi is not None else None
    result_name = client.config.result_kpi.name if client.config.result_kpi is not None else "result KPI"
    result_unit = "NPS points" if scale == "nps" else "points"
    reviews = review_actions(client, leave_out=leave_out) if client.config.actions else []
    sentences, rows = [], []
    for r in reviews:
        k = kpis[r.action.kpi]
        sentences.append(review_sentence(r, k.name, k.unit, result_name, result_unit))
        for what, eff, v, unit in ((k.name, r.kpi, r.kpi_verdict, k.unit), (result_name, r.result, r.result_verdict,
                                                                             result_unit)):
            if eff is None:
                continue
            rows.append({"action": r.action.name or r.action.id, "owner": r.action.owner, "measured on": what,
                         "design": _say("actions.design.did" if eff.design == "did" else "actions.design.its"),
                         "change": _in_unit(eff.effect, unit),
                         "95% interval": _say("actions.range", low=_in_unit(eff.ci_low, unit),
                                              high=_in_unit(eff.ci_high, unit)),
                         "smallest visible change": _in_unit(eff.mde, unit, signed=False),
                         "periods after start": eff.n_post, "verdict": verdict_word(v)})
    charts = chain_kpi_charts(client, leave_out=leave_out)
    recent = []
    for kid, ch in charts.items():
        if isinstance(ch, str) or not len(ch.table):
            continue
        last = ch.table["period"].iloc[-recent_periods:]
        s = ch.signals
        s = s[s["period"].isin(last)]
        for row in s.itertuples():
            recent.append({"chain KPI": kpis[kid].name, "link": kpis[kid].link or "",
                           "month": pd.Timestamp(row.period).strftime("%Y-%m"), "signal": row.description})
    note = _say("actions.none_declared") if not client.config.actions else ""
    comparisons = compare_gains(client, reviews) if reviews else []
    gain_sentences = [comparison_sentence(c, kpis[c.kpi].name, kpis[c.kpi].unit, result_name) for c in comparisons]
    from . import value

    money_rows = _review_money(client, reviews, leave_out) if reviews else pd.DataFrame()
    return ActionsSection(reviews=reviews, sentences=sentences, table=pd.DataFrame(rows), charts=charts,
                          signals=pd.DataFrame(recent, columns=["chain KPI", "link", "month", "signal"]), note=note,
                          comparisons=comparisons, gain_sentences=gain_sentences, gains=_gains_table(comparisons),
                          money=money_rows, target_money=_target_money(client, leave_out),
                          value_note=value.value_note(client), currency=client.config.reporting.currency,
                          cost_per_contact=value.prices(client)[0], value_per_point=value.prices(client)[1])


# --------------------------------------------------------------------------------------------
# predicted against realised: what the agenda would have said at the start, and what came
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictedGain:
    """The result-KPI gain the improvement agenda predicted at an action's start.

    Fitted on the answers given before the start only (the chain's ordinal model, as the agenda
    fits it; see :func:`ipm_analysis.agenda.what_if`), for the chain KPI moved from its level among
    those answers (``kpi_from``) to ``kpi_to``: by the change the action realised on the KPI
    (``basis="realised change"``), or to the KPI's target when that change was not measured
    (``basis="target"``). ``gain`` and its interval are in the result KPI's unit (NPS points, or
    the mean score), ``n`` the answers modelled.
    """

    basis: Literal["realised change", "target"]
    kpi_from: float
    kpi_to: float
    gain: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    result_unit: str


@dataclass(frozen=True)
class GainComparison:
    """Predicted against realised result-KPI gain of one action.

    ``difference`` is realised minus predicted with its interval (the two errors combined as
    independent: the prediction uses the answers before the start, the realised change mostly
    those after); ``agreement`` reads it: "as predicted" when the interval holds zero, else
    "less than predicted" or "more than predicted"; "too early to tell" with fewer than
    ``MIN_POST_PERIODS`` periods after the start (the difference is still given); "not comparable"
    when either is missing (``note`` says why).
    """

    action_id: str
    kpi: str
    predicted: PredictedGain | None
    realised: ActionEffect | None
    difference: float | None
    difference_ci_low: float | None
    difference_ci_high: float | None
    agreement: Literal["as predicted", "less than predicted", "more than predicted", "too early to tell",
                       "not comparable"]
    note: str = ""
    action_name: str = ""


def _before(client: Any, start: Any) -> Any:
    """The client as it was known before ``start``: answers given before that day only."""
    import dataclasses

    start = pd.Timestamp(start)

    def cut(frame):
        if frame is None or "responded_at" not in frame.columns:
            return frame
        return frame[pd.to_datetime(frame["responded_at"]) < start]

    return dataclasses.replace(client, linked=cut(client.linked), responses=cut(client.responses))


def predicted_gain(client: Any, spec: ActionSpec, kpi_change: float | None = None,
                   ci: float = 0.95) -> PredictedGain:
    """The agenda's predicted result-KPI gain at the action's start, from the answers before it.

    Parameters
    ----------
    client : Client
    spec : ActionSpec
    kpi_change : float, optional
        The change of the chain KPI to predict for (in its unit: a share as a fraction), e.g. the
        realised change; without it, the KPI is moved to its target.
    ci : float

    Raises
    ------
    AnalysisError
        No survey, too few answers before the start for the chain's model, or no change and no
        target to predict for.
    """
    from .agenda import what_if
    from .modelframe import model_frame

    if client.linked is None:
        raise analysis_error("actions.error.no_survey")
    chain = next((ch for ch in client.config.chains if any(k.id == spec.kpi for k in ch.kpis)), None)
    if chain is None:
        raise AnalysisError(f"action '{spec.id}': unknown chain KPI '{spec.kpi}'")
    kpi = next(k for k in chain.kpis if k.id == spec.kpi)
    pre = _before(client, spec.start)
    mf = model_frame(pre, chain.id)
    if spec.kpi not in mf.drivers:
        raise analysis_error("actions.error.kpi_not_in_model", kpi=spec.kpi)
    current = float(mf.frame[spec.kpi].mean())
    if kpi_change is not None and np.isfinite(kpi_change):
        basis, to = "realised change", current + float(kpi_change)
    elif kpi.target is not None:
        basis, to = "target", float(kpi.target)
    else:
        raise analysis_error("actions.error.nothing_to_predict", kpi=spec.kpi)
    if kpi.unit == "share":
        to = float(np.clip(to, 0.0, 1.0))
    w = what_if(mf, spec.kpi, to=to, ci=ci)
    return PredictedGain(basis=basis, kpi_from=current, kpi_to=to, gain=w.gain, se=w.se, ci_low=w.gain_ci_low,
                         ci_high=w.gain_ci_high, n=w.n, result_unit=w.kpi_unit)


def compare_gain(review: ActionReview, predicted: PredictedGain | None, ci: float = 0.95,
                 note: str = "") -> GainComparison:
    """Realised against predicted result-KPI gain (see :class:`GainComparison`)."""
    a = review.action
    real = review.result
    if predicted is None or real is None:
        why = note or _say("actions.gain.not_measured" if real is None else "actions.gain.no_prediction")
        return GainComparison(a.id, a.kpi, predicted, real, None, None, None, "not comparable", why, a.name)
    diff = real.effect - predicted.gain
    se = float(np.hypot(real.se, predicted.se))
    q = float(stats.norm.ppf(0.5 + ci / 2))
    lo, hi = diff - q * se, diff + q * se
    agreement = "as predicted" if lo <= 0 <= hi else ("less than predicted" if hi < 0 else "more than predicted")
    if real.n_post < MIN_POST_PERIODS:
        agreement = "too early to tell"
    return GainComparison(a.id, a.kpi, predicted, real, diff, lo, hi, agreement, note, a.name)


def compare_gains(client: Any, reviews: list[ActionReview], ci: float = 0.95) -> list[GainComparison]:
    """For each review: the gain predicted at its start for the KPI change it realised (or for its
    target) against the result-KPI change it realised."""
    out = []
    for r in reviews:
        change = r.kpi.effect if r.kpi is not None else None
        try:
            pred = predicted_gain(client, r.action, kpi_change=change, ci=ci)
            note = ""
        except AnalysisError as e:
            pred, note = None, reason(e)
        out.append(compare_gain(r, pred, ci=ci, note=note))
    return out


def _result_number(x: float, unit: str, signed: bool = True) -> str:
    """A result-KPI number without its unit: NPS points with one decimal, a mean score with two."""
    digits = 1 if unit == "NPS points" or "percentage" in unit else 2
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def comparison_sentence(c: GainComparison, kpi_name: str, kpi_unit: str, result_name: str,
                        language: str | None = None) -> str:
    """Predicted against realised, in words, each with its interval; association, not proof. In
    ``language`` (the report's language unless given)."""
    from . import messages, present

    language = language or messages.current_language()

    def loc(text: str) -> str:
        return text if language == "en" else present.localize_numbers(text, language)

    a = c.action_name or c.action_id
    if c.agreement == "not comparable":
        return _say("actions.gain.not_comparable", language, action=a, result=result_name, note=c.note)
    p, r = c.predicted, c.realised
    u = p.result_unit
    unit = u if language == "en" or u not in _UNIT_KEYS else _say(_UNIT_KEYS[u], language)

    def n(x):
        return loc(_result_number(x, u))

    text = _say("actions.gain.predicted", language, action=a, n=p.n, kpi=kpi_name,
                kpi_from=loc(format_kpi(p.kpi_from, kpi_unit, language)),
                kpi_to=loc(format_kpi(p.kpi_to, kpi_unit, language)),
                move=_say("actions.gain.move_realised" if p.basis == "realised change" else "actions.gain.move_target",
                          language),
                gain=n(p.gain), unit=unit, low=n(p.ci_low), high=n(p.ci_high), result=result_name,
                real=n(r.effect), real_low=n(r.ci_low), real_high=n(r.ci_high),
                design=_say("actions.gain.did" if r.design == "did" else "actions.gain.its", language))
    if c.agreement == "too early to tell":
        text += _say("actions.gain.too_early", language, n=r.n_post)
    elif c.agreement == "as predicted":
        wide = (r.ci_high - r.ci_low) > 4 * max(abs(p.gain), 1e-9)
        text += _say("actions.gain.agrees_wide" if wide else "actions.gain.agrees", language)
    else:
        text += _say("actions.gain.less" if c.agreement == "less than predicted" else "actions.gain.more", language,
                     diff=n(c.difference), unit=unit, low=n(c.difference_ci_low), high=n(c.difference_ci_high))
    return text


def format_kpi(x: float, unit: str, language: str = "en") -> str:
    """A chain KPI's level: a share in %, a time or count in its unit (its name in ``language``)."""
    if unit == "share":
        return f"{100 * x:.1f}%"
    name = unit if language == "en" or unit not in _UNIT_KEYS else _say(_UNIT_KEYS[unit], language)
    return f"{x:.1f} {name}"


# --------------------------------------------------------------------------------------------
# tables of the section: predicted against realised, money; and the summary.json section
# --------------------------------------------------------------------------------------------


def _gains_table(comparisons: list[GainComparison]) -> pd.DataFrame:
    rows = []
    for c in comparisons:
        p, r = c.predicted, c.realised
        rows.append({
            "action": c.action_id, "kpi": c.kpi,
            "prediction basis": p.basis if p else None,
            "kpi from": p.kpi_from if p else None, "kpi to": p.kpi_to if p else None,
            "answers before start": p.n if p else None,
            "predicted gain": p.gain if p else None,
            "predicted 95% low": p.ci_low if p else None, "predicted 95% high": p.ci_high if p else None,
            "realised gain": r.effect if r else None,
            "realised 95% low": r.ci_low if r else None, "realised 95% high": r.ci_high if r else None,
            "difference": c.difference, "difference 95% low": c.difference_ci_low,
            "difference 95% high": c.difference_ci_high, "agreement": c.agreement,
            "unit": p.result_unit if p else None, "note": c.note})
    return pd.DataFrame(rows)


def _touched(client: Any, spec: ActionSpec, chain: str, frame: pd.DataFrame) -> pd.Series:
    """Rows of ``frame`` (cases or answers of the chain) the action touched: its pilot group, or all."""
    if spec.pilot is None:
        return pd.Series(True, index=frame.index)
    seg, group = spec.pilot
    if seg not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[seg].astype(str) == str(group)


def _review_money(client: Any, reviews: list[ActionReview], leave_out: Any = ()) -> pd.DataFrame:
    """Per review: avoidable contacts per month its realised KPI change saves (for the cases it
    touched), their cost, and the value of its realised result-KPI change on the overall result KPI
    (the touched answers' change times their share of all answers)."""
    from . import value

    cost, vpp, cur = value.prices(client)
    rows = []
    for r in reviews:
        a = r.action
        chain = next(ch.id for ch in client.config.chains if any(k.id == a.kpi for k in ch.kpis))
        cases = client.case_kpis[client.case_kpis["chain"] == chain]
        note = ""
        diff = None
        if r.kpi is not None and cost is not None:
            try:
                diff = value.contact_difference(client, chain, a.kpi, leave_out=leave_out)
            except AnalysisError as e:
                note = reason(e)
        share_cases = float(_touched(client, a, chain, cases).mean()) if len(cases) else 0.0
        gain = ci_g = None
        if r.result is not None and client.linked is not None and len(client.linked):
            ans = client.linked[(client.linked["chain"] == chain) & client.linked["linked"].astype(bool)]
            w = float(_touched(client, a, chain, ans).sum()) / len(client.linked)
            gain, ci_g = r.result.effect * w, (r.result.ci_low * w, r.result.ci_high * w)
        m = value.money(diff, r.kpi.effect if r.kpi is not None else 0.0,
                        cases_per_month=(diff.cases_per_month * share_cases) if diff else None,
                        cost_per_contact=cost, result_gain=gain, result_gain_ci=ci_g, value_per_point=vpp,
                        currency=cur)
        rows.append({"action": a.id, "kpi": a.kpi, "kpi change": m.kpi_change,
                     "cases per month touched": m.cases_per_month if diff else None,
                     "contacts saved per month": m.contacts_saved_per_month,
                     "contacts saved 95% low": m.contacts_ci_low, "contacts saved 95% high": m.contacts_ci_high,
                     "cost saved per month": m.cost_saved_per_month, "cost saved 95% low": m.cost_ci_low,
                     "cost saved 95% high": m.cost_ci_high, "overall result gain": m.result_gain,
                     "overall result gain 95% low": m.result_gain_ci_low,
                     "overall result gain 95% high": m.result_gain_ci_high, "value": m.result_value,
                     "value 95% low": m.result_value_ci_low, "value 95% high": m.result_value_ci_high,
                     "currency": cur, "note": note})
    out = pd.DataFrame(rows)
    if not len(out) or (cost is None and vpp is None):
        return pd.DataFrame()
    return out


def _agenda_gains(client: Any, chain: str) -> dict:
    """{kpi: WhatIf} of reaching each target, the agenda's what-if on all the chain's answers
    (empty when the chain's model cannot be fitted)."""
    from .agenda import what_if
    from .modelframe import model_frame
    from .effects import fit_ordinal

    out: dict = {}
    try:
        mf = model_frame(client, chain)
        res = fit_ordinal(mf)
    except AnalysisError:
        return out
    for k in client.config.chain(chain).kpis:
        if k.target is None or k.id not in mf.drivers:
            continue
        try:
            out[k.id] = what_if(mf, k.id, model=res)
        except AnalysisError:
            continue
    return out


def _target_money(client: Any, leave_out: Any = ()) -> pd.DataFrame:
    """Per chain KPI with a target it does not meet: avoidable contacts saved per month by reaching
    it (all the chain's cases) and their cost, and the result-KPI gain the agenda's what-if expects
    (among the chain's answers, and on the overall result KPI: times the chain's share of the
    answers) with its value; empty when client.yaml sets no price."""
    from . import value

    cost, vpp, cur = value.prices(client)
    if cost is None and vpp is None:
        return pd.DataFrame()
    rows = []
    n_answers = len(client.linked) if client.linked is not None else 0
    for ch in client.config.chains:
        cases = client.case_kpis[client.case_kpis["chain"] == ch.id]
        gains = _agenda_gains(client, ch.id) if n_answers else {}
        share = (float((client.linked["chain"] == ch.id).sum()) / n_answers) if n_answers else 0.0
        for k in ch.kpis:
            if k.target is None or k.id not in cases.columns or not cases[k.id].notna().any():
                continue
            current = float(cases[k.id].mean())
            change = float(k.target) - current
            if (change <= 0) == (k.direction == "higher"):  # on or past its target: nothing to reach
                continue
            diff = None
            if cost is not None:
                try:
                    diff = value.contact_difference(client, ch.id, k.id, leave_out=leave_out)
                except AnalysisError:
                    diff = None
            w = gains.get(k.id)
            if diff is None and w is None:
                continue
            m = value.money(diff, change, cost_per_contact=cost,
                            result_gain=w.gain * share if w is not None else None,
                            result_gain_ci=(w.gain_ci_low * share, w.gain_ci_high * share) if w is not None else None,
                            value_per_point=vpp, currency=cur)
            rows.append({"chain": ch.id, "kpi": k.id, "name": k.name, "unit": k.unit, "current": current,
                         "target": float(k.target),
                         "contacts per case difference": diff.per_unit if diff else None,
                         "difference 95% low": diff.ci_low if diff else None,
                         "difference 95% high": diff.ci_high if diff else None,
                         "cases per month": m.cases_per_month if diff else None,
                         "contacts saved per month": m.contacts_saved_per_month,
                         "contacts saved 95% low": m.contacts_ci_low, "contacts saved 95% high": m.contacts_ci_high,
                         "cost saved per month": m.cost_saved_per_month, "cost saved 95% low": m.cost_ci_low,
                         "cost saved 95% high": m.cost_ci_high,
                         "result gain in the chain": w.gain if w is not None else None,
                         "result gain in the chain 95% low": w.gain_ci_low if w is not None else None,
                         "result gain in the chain 95% high": w.gain_ci_high if w is not None else None,
                         "overall result gain": m.result_gain, "overall result gain 95% low": m.result_gain_ci_low,
                         "overall result gain 95% high": m.result_gain_ci_high, "value": m.result_value,
                         "value 95% low": m.result_value_ci_low, "value 95% high": m.result_value_ci_high,
                         "currency": cur})
    return pd.DataFrame(rows)
