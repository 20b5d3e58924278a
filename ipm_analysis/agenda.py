"""From drivers to an improvement agenda: importance-performance, what-if, ranked actions.

Importance-performance matrix
-----------------------------
Per chain, each chain KPI gets its *importance* (share of the explained variance of the score,
exact Shapley decomposition from :func:`ipm_analysis.drivers.relative_importance`, with a
bootstrap percentile interval over respondents) and its *performance* against its target
(``gap``: how far the current value is better (+) or worse (-) than the target, in the KPI's
unit, taking its direction into account). The quadrant rule:

=================  ====================================  ==================================
                   below target                          on or above target
=================  ====================================  ==================================
high importance    **fix first**                         **keep up**
low importance     **low priority**                      **possible overkill**
=================  ====================================  ==================================

*High importance* means a share at least equal to an equal split (``share >= 1 / p`` for p
drivers in the chain model), the usual "mean importance" split of importance-performance
analysis. A KPI without a target has no quadrant (``"no target"``). The interval of the share
is shown next to it: a driver near the line may belong to either side.

What-if
-------
"If chain KPI X moved from its current value to its target": the ordinal logit of the chain
(:func:`ipm_analysis.effects.fit_ordinal`) predicts each respondent's score distribution
``P(score = k)`` under the observed values and under the scenario; the result KPI is computed
from the averaged distributions (NPS = % promoters - % detractors; the mean score for a rating
scale). NPS is not linear in the mean score, so this goes through the distribution, not
through the OLS slope. The scenarios:

* a **share** (a 0/1 value per case) moves from ``p`` to target ``t``: a fraction
  ``q = (t - p) / (1 - p)`` of the failing cases succeed (for lower-is-better shares,
  ``q = (p - t) / p`` of the failing cases stop failing). Each failing respondent's predicted
  distribution becomes ``(1 - q) * P(observed) + q * P(success)``: the expected value of
  flipping a random ``q`` of them, without a random draw;
* a **numeric** KPI, ``mode="shift"`` (default): every respondent is moved by
  ``target - current mean`` (the needed amount), so the mean reaches the target as the KPI
  report measures it (values are not clipped at natural bounds such as 0 days: keep targets
  within the observed range); ``mode="clip"``: every respondent worse than the target is
  brought to the target and the others keep their value (the mean then passes the target).

The gain is ``KPI(scenario) - KPI(observed)``, both predicted by the model; the expected KPI
is the observed KPI plus the gain. Its interval is the delta method on the ordinal model's
parameters (central-difference gradient, the model's covariance): it covers the estimation
uncertainty of the association, not a change in who answers the survey.

Improvement agenda
------------------
An action is proposed for a chain KPI when all of these hold:

1. the chain's driver model is reliable (the drivers jointly explain the score, HC3 Wald test
   at ``1 - ci``, and R² is at least ``min_r2``);
2. the KPI's own association is reliable: its OLS (HC3) p-value, Holm-adjusted over every KPI
   considered across all chains, is below ``1 - ci``;
3. the KPI has a target and is worse than it;
4. the what-if gain's interval lies above zero (an association in the unexpected direction is
   reported, not proposed).

Actions are ranked by their expected gain on the *overall* result KPI: the gain among the
chain's respondents times the chain's share of all scored responses (responses of other
chains assumed unchanged). When no action qualifies because no reliable driver exists, the
agenda is empty and the sentence says plainly that no reliable driver was found. Every
sentence speaks of association ("expected gain if the association holds"), never of cause.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import kpis, messages, present
from .checks import check_ci, is_binary
from .drivers import relative_importance
from .effects import (
    DriverModels,
    design_matrix,
    driver_effects,
    fit_ordinal,
    kpi_base,
    kpi_name,
    kpi_unit,
    kpi_value,
    level_weights,
    ordinal_contrast,
    ordinal_levels,
)
from .errors import AnalysisError
from .kpis import nps
from .messages import Message, Num, Seq
from .modelframe import ModelFrame, check_driver, check_model_frame, model_frame
from .units import format_value

__all__ = [
    "QUADRANTS",
    "Agenda",
    "WhatIf",
    "agenda_summary",
    "importance_performance_table",
    "improvement_agenda",
    "Scenario",
    "what_if",
    "what_if_scenario",
]

QUADRANTS = ("fix first", "keep up", "possible overkill", "low priority")
QUADRANT_RULE = (
    "High importance: a share of explained variance at least equal to an equal split (1/p for p "
    "drivers). Fix first: high importance, below target. Keep up: high importance, on target. "
    "Possible overkill: low importance, on target. Low priority: low importance, below target."
)
NO_DRIVER_SENTENCE = "No reliable driver was found"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _gap(current: float, target: float | None, direction: str | None) -> float:
    if target is None or direction is None or not np.isfinite(current):
        return math.nan
    return current - target if direction == "higher" else target - current


def _current_from_cases(cases: pd.DataFrame | None, chain: str | None, driver: str) -> float | None:
    if cases is None or chain is None or driver not in cases.columns or "chain" not in cases.columns:
        return None
    vals = pd.to_numeric(cases.loc[cases["chain"] == chain, driver], errors="coerce").dropna()
    return float(vals.mean()) if len(vals) else None


def _kpi_now(mf: ModelFrame) -> float:
    return kpi_value(mf, mf.frame["score"].to_numpy(dtype=float))


# --------------------------------------------------------------------------------------------
# importance-performance
# --------------------------------------------------------------------------------------------


def importance_performance_table(
    mf: ModelFrame,
    cases: pd.DataFrame | None = None,
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Importance against performance for the drivers of one chain.

    Parameters
    ----------
    mf : ModelFrame
    cases : DataFrame, optional
        Per-case KPI values with a ``chain`` column (``client.case_kpis``): the current value
        is then the mean over all the chain's cases, as in the KPI reports. Without it, the
        mean over the respondents of the model frame.
    n_boot : int, default 200
        Bootstrap replicates for the importance interval (respondents resampled).
    ci : float, default 0.95
    seed : int or None, default 0

    Returns
    -------
    DataFrame
        One row per driver: ``chain, driver, name, link, owner, unit, direction, importance,
        share, share_ci_low, share_ci_high, current, target, gap`` (in the KPI's unit, + is
        better than target), ``gap_relative`` (gap / |target|, comparable across units, for
        the matrix's x axis), ``on_target, high_importance, quadrant``. ``attrs``: ``rule`` (the quadrant rule in words), ``r2``, ``n``, ``ci``.
    """
    mf = check_model_frame(mf)
    ci = check_ci(ci)
    if not mf.drivers:
        raise AnalysisError(f"the model frame has no driver left ({mf.policy})")
    ri = relative_importance(mf.frame, "score", list(mf.drivers), always=list(mf.controls) or None,
                             n_boot=int(n_boot), ci=ci, seed=seed)
    p = len(mf.drivers)
    rows = []
    for d in mf.drivers:
        spec = mf.specs[d]
        cur = _current_from_cases(cases, mf.chain, d)
        if cur is None:
            cur = float(mf.frame[d].mean())
        gap = _gap(cur, spec.target, spec.direction)
        share = float(ri.loc[d, "share"])
        high = bool(np.isfinite(share) and share >= 1 / p - 1e-12)
        on = None if not np.isfinite(gap) else bool(gap >= 0)
        if on is None:
            quadrant = "no target"
        elif high:
            quadrant = "keep up" if on else "fix first"
        else:
            quadrant = "possible overkill" if on else "low priority"
        rows.append({
            "chain": mf.chain, "driver": d, "name": spec.name, "link": spec.link, "owner": spec.owner,
            "unit": spec.unit, "direction": spec.direction,
            "importance": float(ri.loc[d, "importance"]), "share": share,
            "share_ci_low": float(ri.loc[d, "ci_low"]) if "ci_low" in ri else math.nan,
            "share_ci_high": float(ri.loc[d, "ci_high"]) if "ci_high" in ri else math.nan,
            "current": cur, "target": spec.target, "gap": gap,
            "gap_relative": gap / abs(spec.target) if np.isfinite(gap) and spec.target else math.nan,
            "on_target": on,
            "high_importance": high, "quadrant": quadrant,
        })
    out = pd.DataFrame(rows)
    out.attrs.update(rule=QUADRANT_RULE, r2=float(ri.attrs.get("r2", math.nan)), n=mf.n, ci=ci,
                     n_boot=int(n_boot))
    return out


# --------------------------------------------------------------------------------------------
# what-if
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prediction:
    """What :class:`WhatIf` and :class:`Scenario` predict: the result KPI now and after, with intervals.

    Attributes
    ----------
    chain : str or None
    kpi_now : float
        The observed result KPI of the chain's respondents (NPS in points, or the mean score).
    gain, gain_ci_low, gain_ci_high, se, p_value : float
        Predicted change of the result KPI (ordinal model) with its delta-method interval.
    kpi_expected, kpi_expected_ci_low, kpi_expected_ci_high : float
        ``kpi_now + gain`` and its interval.
    n : int
    kpi_unit, sentence : str
    ci : float
    """

    chain: str | None
    kpi_now: float
    gain: float
    gain_ci_low: float
    gain_ci_high: float
    se: float
    p_value: float
    kpi_expected: float
    kpi_expected_ci_low: float
    kpi_expected_ci_high: float
    n: int
    kpi_unit: str
    sentence: str
    ci: float


@dataclass(frozen=True)
class WhatIf(_Prediction):
    """The expected result KPI if one chain KPI moved to a new level.

    Attributes
    ----------
    driver, name, unit : str
    current : float
        The driver's mean among the respondents modelled.
    to : float
        The level moved to (the target by default).
    mode : str
        ``"flip"`` (a share: a fraction of failing cases succeed), ``"shift"`` or ``"clip"``.
    mean_after : float
        The driver's mean among the respondents in the scenario (expected value for ``flip``).
    chain, kpi_now, gain, gain_ci_low, gain_ci_high, se, p_value, kpi_expected,
    kpi_expected_ci_low, kpi_expected_ci_high, n, kpi_unit, sentence, ci
        The prediction: the observed result KPI (NPS in points, or the mean score), the
        predicted change (ordinal model) with its delta-method interval and p-value, and
        ``kpi_now + gain`` with its interval.
    """

    driver: str
    name: str
    unit: str
    current: float
    to: float
    mode: str
    mean_after: float


def _check_move(mf: ModelFrame, driver: Any, to: Any, mode: str | None) -> tuple[str, float, str, np.ndarray]:
    """Validate one move of a driver: (driver, level, mode, observed values)."""
    driver = check_driver(mf, driver)
    spec = mf.specs[driver]
    if to is None:
        if spec.target is None:
            raise AnalysisError(f"driver '{driver}' has no target; pass to= the level to move it to")
        to = float(spec.target)
    if isinstance(to, bool) or not isinstance(to, (int, float, np.integer, np.floating)) or not np.isfinite(to):
        raise AnalysisError(f"to must be a number, got {to!r}")
    to = float(to)
    x = mf.frame[driver].to_numpy(dtype=float)
    binary = spec.unit == "share" and is_binary(x)
    if mode is None:
        mode = "flip" if binary else "shift"
    if mode not in ("flip", "clip", "shift"):
        raise AnalysisError(f"mode must be 'flip', 'clip' or 'shift', got {mode!r}")
    if mode == "flip" and not binary:
        raise AnalysisError(f"mode 'flip' needs a 0/1 driver; '{driver}' has other values")
    if spec.unit == "share" and not 0 <= to <= 1:
        raise AnalysisError(f"driver '{driver}' is a share: to must be between 0 and 1, got {to}")
    return driver, to, mode, x


def _apply_move(scenario: list, j: int, x: np.ndarray, to: float, mode: str, higher: bool) -> tuple[list, float]:
    """Move column ``j`` (observed values ``x``) of every design of a scenario; return it and the mean after.

    A scenario is a list of ``(X, row_weights)`` (see
    :func:`~ipm_analysis.effects.ordinal_contrast`). A flip splits each design in two:
    the rows as they are, and with the failing cases succeeding, weighted ``q`` (so flips of
    several KPIs combine as independent draws).
    """
    current = float(x.mean())
    out = []
    if mode == "flip":
        if to >= current:  # more successes: a fraction q of the zeros become one
            q = 0.0 if current >= 1 else (to - current) / (1 - current)
            value, fail = 1.0, (x == 0).astype(float)
        else:  # fewer ones (e.g. a lower-is-better share): a fraction of the ones become zero
            q = (current - to) / current
            value, fail = 0.0, (x == 1).astype(float)
        for X, rw in scenario:
            X1 = X.copy()
            X1[:, j] = value
            out += [(X, rw * (1.0 - q * fail)), (X1, rw * q * fail)]
        return out, float(np.mean((1.0 - q * fail) * x + q * fail * value))
    moved = (np.maximum(x, to) if higher else np.minimum(x, to)) if mode == "clip" else x + (to - current)
    for X, rw in scenario:
        X1 = X.copy()
        X1[:, j] = moved
        out.append((X1, rw))
    return out, float(moved.mean())


def _fitted_ordinal(mf: ModelFrame, model: Any) -> Any:
    if model is None:
        return fit_ordinal(mf)
    if isinstance(model, DriverModels):
        return model.ordinal if model.ordinal is not None else fit_ordinal(mf)
    return model


def _scenario_gain(mf: ModelFrame, res: Any, moves: Sequence[tuple[str, float, str, np.ndarray]],
                   ci: float) -> tuple[list[float], float, float, float, float, float]:
    """Means after, gain, its interval, se and p of moving several drivers together."""
    X = design_matrix(mf, const=False).to_numpy()
    cols = list(mf.drivers) + list(mf.controls)
    scenario: list = [(X, np.ones(len(X)))]
    after = []
    for driver, to, mode, x in moves:
        scenario, mean_after = _apply_move(scenario, cols.index(driver), x, to, mode,
                                           mf.specs[driver].direction != "lower")
        after.append(mean_after)
    w = level_weights(mf, ordinal_levels(res))
    gain, se = ordinal_contrast(res, scenario, [(X, 1.0)], w)
    z = float(stats.norm.ppf(0.5 + ci / 2))
    p = float(2 * stats.norm.sf(abs(gain / se))) if se > 0 else math.nan
    return after, gain, gain - z * se, gain + z * se, se, p


def _prediction_fields(mf: ModelFrame, now: float, gain: float, lo: float, hi: float, se: float, p: float,
                       sentence: str, ci: float) -> dict:
    return dict(chain=mf.chain, kpi_now=now, gain=gain, gain_ci_low=lo, gain_ci_high=hi, se=se, p_value=p,
                kpi_expected=now + gain, kpi_expected_ci_low=now + lo, kpi_expected_ci_high=now + hi, n=mf.n,
                kpi_unit=kpi_unit(mf), sentence=sentence, ci=ci)


def _prediction_sentence(mf: ModelFrame, scenario: Message, now: float, gain: float, lo: float, hi: float,
                         ci: float) -> Message:
    """'<scenario>, the expected NPS would be ... instead of ... (gain, interval), if the association holds.'"""
    b = kpi_base(mf)
    d = present.pair_decimals(now + gain, now, b, signed=mf.is_nps)
    after, before = Num(now + gain, d, mf.is_nps), Num(now, d, mf.is_nps)
    if mf.measure in ("share", "top_box"):
        after, before = Message("value.percent", value=after), Message("value.percent", value=before)
    g, glo, ghi = messages.interval(gain, lo, hi, b, signed=True)
    return Message("agenda.prediction", scenario=scenario, kpi=kpi_name(mf), after=after, before=before, gain=g,
                   unit=kpi_unit(mf), interval=Message("interval.level", level=Num(100 * ci, 0), low=glo, high=ghi))


def what_if(
    mf: ModelFrame,
    driver: str,
    to: float | None = None,
    mode: str | None = None,
    ci: float = 0.95,
    model: Any = None,
) -> WhatIf:
    """Predicted result KPI if ``driver`` moved from its current value to ``to`` (its target).

    Parameters
    ----------
    mf : ModelFrame
    driver : str
    to : float, optional
        The level to move to; default the driver's target (an error if it has none).
    mode : {"flip", "shift", "clip"}, optional
        Default ``"flip"`` for a 0/1 share, ``"shift"`` otherwise (see the module docs).
    ci : float, default 0.95
    model : fitted ordinal results or DriverModels, optional
        Reuse an ordinal model fitted on ``mf``; fitted here otherwise.

    Returns
    -------
    WhatIf
    """
    mf = check_model_frame(mf)
    ci = check_ci(ci)
    driver, to, mode, x = _check_move(mf, driver, to, mode)
    spec = mf.specs[driver]
    res = _fitted_ordinal(mf, model)
    (mean_after,), gain, lo, hi, se, p = _scenario_gain(mf, res, [(driver, to, mode, x)], ci)
    current = float(x.mean())
    higher = spec.direction != "lower"
    now = _kpi_now(mf)
    cur_txt, to_txt = format_value(current, spec.unit), format_value(to, spec.unit)
    if mode == "flip":
        scen = Message("agenda.if_flip", name=spec.name, current=cur_txt, to=to_txt)
    elif mode == "shift":
        scen = Message("agenda.if_shift_more" if to > current else "agenda.if_shift_less", name=spec.name,
                       current=cur_txt, to=to_txt, amount=format_value(abs(to - current), spec.unit))
    else:
        scen = Message("agenda.if_clip_below" if higher else "agenda.if_clip_above", name=spec.name, current=cur_txt,
                       to=to_txt, after=format_value(mean_after, spec.unit))
    sentence = _prediction_sentence(mf, scen, now, gain, lo, hi, ci)
    return WhatIf(**_prediction_fields(mf, now, gain, lo, hi, se, p, sentence, ci), driver=driver, name=spec.name,
                  unit=spec.unit, current=current, to=to, mode=mode, mean_after=mean_after)


@dataclass(frozen=True)
class Scenario(_Prediction):
    """The expected result KPI if several chain KPIs of one chain moved together.

    Attributes
    ----------
    moves : DataFrame
        One row per KPI moved: ``driver, name, unit, current, to, mode, mean_after``.
    chain, kpi_now, gain, gain_ci_low, gain_ci_high, se, p_value, kpi_expected,
    kpi_expected_ci_low, kpi_expected_ci_high, n, kpi_unit, sentence, ci
        As in :class:`WhatIf`, for all the moves at once.
    """

    moves: pd.DataFrame


def what_if_scenario(
    mf: ModelFrame,
    moves: Mapping[str, float],
    modes: Mapping[str, str] | None = None,
    ci: float = 0.95,
    model: Any = None,
) -> Scenario:
    """Predicted result KPI if several drivers of one model frame moved together.

    Each driver moves as in :func:`what_if` (a share by flipping a fraction of its failing
    cases, a number by shifting or clipping); flips of different shares are independent, so a
    case failing on both may succeed on one, the other or both. With one move the result
    equals :func:`what_if`'s.

    Parameters
    ----------
    mf : ModelFrame
    moves : mapping of driver to level
        The level each driver moves to (fractions for shares). A driver left at its current
        value changes nothing.
    modes : mapping of driver to mode, optional
        ``"flip"``, ``"shift"`` or ``"clip"`` per driver (default as in :func:`what_if`).
    ci : float, default 0.95
    model : fitted ordinal results or DriverModels, optional

    Returns
    -------
    Scenario
    """
    mf = check_model_frame(mf)
    ci = check_ci(ci)
    if not isinstance(moves, Mapping) or not moves:
        raise AnalysisError("moves must map at least one driver to the level it moves to, e.g. {'on_time': 0.9}")
    modes = dict(modes or {})
    unknown = [d for d in modes if d not in moves]
    if unknown:
        raise AnalysisError(f"modes names drivers that do not move: {unknown}")
    checked = [_check_move(mf, d, to, modes.get(d)) for d, to in moves.items()]
    res = _fitted_ordinal(mf, model)
    after, gain, lo, hi, se, p = _scenario_gain(mf, res, checked, ci)
    rows = [{"driver": d, "name": mf.specs[d].name, "unit": mf.specs[d].unit, "current": float(x.mean()),
             "to": to, "mode": mode, "mean_after": a} for (d, to, mode, x), a in zip(checked, after, strict=True)]
    table = pd.DataFrame(rows, columns=["driver", "name", "unit", "current", "to", "mode", "mean_after"])
    now = _kpi_now(mf)
    parts = [Message("agenda.move", name=r["name"], current=format_value(r["current"], r["unit"]),
                     to=format_value(r["mean_after"], r["unit"]))
             for r in rows if abs(r["mean_after"] - r["current"]) > 1e-12]
    if not parts:
        scen = Message("agenda.if_nothing_moves")
    elif len(parts) == 1:
        scen = Message("agenda.if_moved", moves=parts[0])
    else:
        scen = Message("agenda.if_moved", moves=Message("agenda.moves", some=Seq(tuple(parts[:-1]), "list.comma"),
                                                        last=parts[-1]))
    sentence = _prediction_sentence(mf, scen, now, gain, lo, hi, ci)
    return Scenario(**_prediction_fields(mf, now, gain, lo, hi, se, p, sentence, ci), moves=table)


# --------------------------------------------------------------------------------------------
# agenda
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agenda:
    """The ranked improvement agenda across chains.

    Attributes
    ----------
    actions : DataFrame
        One row per proposed action, best first: ``rank, chain, chain_name, owner, kpi, name,
        link, unit, current, target, current_label, target_label, gain, gain_ci_low,
        gain_ci_high, gain_overall, gain_overall_ci_low, gain_overall_ci_high, share,
        share_ci_low, share_ci_high, p_holm, n, sentence``. Empty when nothing qualifies.
    considered : DataFrame
        Every chain KPI considered, with ``status`` (``"action"`` or why not) and the numbers.
    matrix : DataFrame
        The importance-performance rows of every chain analysed.
    models : dict
        ``{chain: DriverModels}`` of the chains analysed.
    chain_notes : dict
        ``{chain: sentence}`` on each chain's model (or why it was not analysed).
    reliable : bool
        True when at least one chain has a reliable driver model.
    sentence : str
        The headline: the first action, or that no reliable driver was found.
    result_name, kpi_unit : str
    ci : float
    """

    actions: pd.DataFrame
    considered: pd.DataFrame
    matrix: pd.DataFrame
    models: Mapping[str, DriverModels]
    chain_notes: Mapping[str, str]
    reliable: bool
    sentence: str
    result_name: str
    kpi_unit: str
    ci: float = 0.95
    method: str = field(default="")


_ACTION_COLUMNS = [
    "rank", "chain", "chain_name", "owner", "kpi", "name", "link", "unit", "current", "target",
    "current_label", "target_label", "gain", "gain_ci_low", "gain_ci_high", "gain_overall",
    "gain_overall_ci_low", "gain_overall_ci_high", "share", "share_ci_low", "share_ci_high",
    "p_holm", "n", "sentence",
]

_METHOD = (
    "Per chain: OLS of the score on the chain KPIs (HC3 errors) for reliability, exact Shapley "
    "decomposition of R² with bootstrap intervals for importance, and an ordinal logit for the "
    "expected gain of moving a KPI to its target (delta-method interval). An action needs a "
    "reliable chain model, a reliable KPI association (Holm-adjusted over all KPIs), a KPI below "
    "target and a gain interval above zero. Associations, not proof of cause."
)


def _holm(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if not ok.any():
        return out
    out[ok] = kpis.holm(p[ok])
    return out


def _frames_for_client(client: Any, chains, features, missing) -> tuple[list[ModelFrame], dict[str, str]]:
    frames, notes = [], {}
    ids = [c.id for c in client.config.chains] if chains is None else list(chains)
    for cid in ids:
        try:
            frames.append(model_frame(client, cid, features=features, missing=missing))
        except AnalysisError as e:
            notes[cid] = Message("agenda.not_analysed", why=messages.reason_message(e))
    return frames, notes


def improvement_agenda(
    source: Any,
    cases: pd.DataFrame | None = None,
    *,
    chains: Sequence[str] | None = None,
    features: pd.DataFrame | None = None,
    missing: str = "drop",
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int | None = 0,
    min_r2: float = 0.02,
) -> Agenda:
    """Ranked improvement actions across chains, or an honest empty agenda.

    Parameters
    ----------
    source : Client, ModelFrame or list of ModelFrame
        A loaded client (every chain with a survey is analysed; ``cases`` defaults to
        ``client.case_kpis``), or ready model frames (one per chain).
    cases : DataFrame, optional
        Per-case KPI values with a ``chain`` column, for the current values.
    chains : list of str, optional
        With a client: only these chains.
    features, missing
        Passed to :func:`~ipm_analysis.modelframe.model_frame` for a client.
    n_boot : int, default 200
        Bootstrap replicates for the importance intervals.
    ci : float, default 0.95
    seed : int or None, default 0
    min_r2 : float, default 0.02
        A chain model explaining less than this share of the score is not reliable.

    Returns
    -------
    Agenda
    """
    ci = check_ci(ci)
    notes: dict[str, str] = {}
    if isinstance(source, ModelFrame):
        frames = [source]
    elif isinstance(source, (list, tuple)) and all(isinstance(f, ModelFrame) for f in source):
        frames = list(source)
    elif hasattr(source, "config") and hasattr(source, "linked"):
        if source.linked is None:
            raise AnalysisError(f"client '{source.config.id}' has no survey, so there is no result KPI and no "
                                "agenda")
        frames, notes = _frames_for_client(source, chains, features, missing)
        if cases is None:
            cases = source.case_kpis
    else:
        raise AnalysisError(f"source must be a Client, a ModelFrame or a list of ModelFrames, got "
                            f"{type(source).__name__}")
    if not frames:
        raise AnalysisError("no chain could be analysed: " + "; ".join(f"{k}: {v}" for k, v in notes.items()))
    result_name = frames[0].result_name
    unit = kpi_unit(frames[0])
    base = kpi_base(frames[0])
    result_label = result_name if frames[0].measure in ("nps", "mean") else kpi_name(frames[0])
    alpha = 1 - ci

    models: dict[str, DriverModels] = {}
    matrices, cand = [], []
    for mf in frames:
        key = mf.chain or "all"
        if not mf.drivers:
            dropped = tuple(Message("agenda.dropped", name=mf.dropped_names.get(d, d), why=why)
                            for d, why in mf.dropped_drivers.items())
            notes[key] = Message("agenda.no_driver_left", dropped=Seq(dropped, "list.semicolon"))
            continue
        try:
            dm = driver_effects(mf, ci=ci, min_r2=min_r2)
        except AnalysisError as e:
            notes[key] = Message("agenda.not_analysed", why=messages.reason_message(e))
            continue
        models[key] = dm
        notes[key] = dm.reading
        try:
            ip = importance_performance_table(mf, cases, n_boot=n_boot, ci=ci, seed=seed)
        except AnalysisError as e:
            ip = None
            notes[key] = Message("agenda.importance_not_computed", reading=dm.reading, why=messages.reason_message(e))
        if ip is not None:
            matrices.append(ip)
        eff = dm.effects.set_index("driver")
        for d in mf.kpi_drivers:
            spec = mf.specs[d]
            cur = _current_from_cases(cases, mf.chain, d)
            cur = float(mf.frame[d].mean()) if cur is None else cur
            row = {"chain": mf.chain, "chain_name": mf.chain_name, "owner": mf.owner, "kpi": d,
                   "name": spec.name, "link": spec.link, "unit": spec.unit, "direction": spec.direction,
                   "current": cur, "target": spec.target, "gap": _gap(cur, spec.target, spec.direction),
                   "p_value": float(eff.loc[d, "p_value"]), "effect_kpi": float(eff.loc[d, "effect_kpi"]),
                   "model_reliable": dm.reliable, "n": mf.n, "weight": mf.n_chain / max(mf.n_responses, 1),
                   "_mf": mf, "_dm": dm}
            if ip is not None:
                r = ip.set_index("driver").loc[d]
                row.update(share=r["share"], share_ci_low=r["share_ci_low"], share_ci_high=r["share_ci_high"],
                           quadrant=r["quadrant"])
            cand.append(row)

    p_holm = _holm(np.array([r["p_value"] for r in cand])) if cand else np.array([])
    considered, actions = [], []
    for r, ph in zip(cand, p_holm, strict=True):
        r["p_holm"] = float(ph)
        r.update(gain=math.nan, gain_ci_low=math.nan, gain_ci_high=math.nan)
        if not r["model_reliable"]:
            r["status"] = "chain model not reliable"
        elif not ph < alpha:
            r["status"] = "no reliable association"
        elif r["target"] is None or r["direction"] is None:
            r["status"] = "no target"
        elif r["gap"] >= 0:
            r["status"] = "on target"
        else:
            try:
                wi = what_if(r["_mf"], r["kpi"], ci=ci, model=r["_dm"])
            except AnalysisError as e:
                r["status"] = f"what-if not computed: {e}"
            else:
                r.update(gain=wi.gain, gain_ci_low=wi.gain_ci_low, gain_ci_high=wi.gain_ci_high)
                if wi.gain_ci_low > 0:
                    r["status"] = "action"
                elif wi.gain_ci_high < 0:
                    r["status"] = "associated in the unexpected direction"
                else:
                    r["status"] = "expected gain not distinguishable from zero"
        if r["status"] in ("chain model not reliable", "no reliable association") and \
                r.get("quadrant") in QUADRANTS:
            r["quadrant"] = NOT_RELIABLE
        considered.append(r)
        if r["status"] == "action":
            actions.append(r)

    for r in actions:
        w = r["weight"]
        r.update(gain_overall=r["gain"] * w, gain_overall_ci_low=r["gain_ci_low"] * w,
                 gain_overall_ci_high=r["gain_ci_high"] * w,
                 current_label=format_value(r["current"], r["unit"]), target_label=format_value(r["target"], r["unit"]))
        r["sentence"] = _action_sentence(r, result_label, unit, ci, base)
    actions.sort(key=lambda r: -r["gain_overall"])
    for i, r in enumerate(actions, start=1):
        r["rank"] = i
    act = pd.DataFrame([{k: r.get(k, math.nan) for k in _ACTION_COLUMNS} for r in actions], columns=_ACTION_COLUMNS)
    cons_cols = ["chain", "kpi", "name", "link", "owner", "unit", "direction", "current", "target", "gap",
                 "effect_kpi", "p_value", "p_holm", "model_reliable", "share", "share_ci_low", "share_ci_high",
                 "quadrant", "gain", "gain_ci_low", "gain_ci_high", "status"]
    cons = pd.DataFrame([{k: r.get(k, math.nan) for k in cons_cols} for r in considered], columns=cons_cols)
    matrix = pd.concat(matrices, ignore_index=True) if matrices else pd.DataFrame()
    if len(matrices):
        matrix = _reliable_quadrants(matrix, considered, models, alpha)
        matrix.attrs.update(rule=QUADRANT_RULE)
    reliable = any(m.reliable for m in models.values())
    sentence = _headline(act, cons, models, reliable, result_name, unit, ci,
                         actions[0]["sentence"] if actions else None)
    return Agenda(act, cons, matrix, models, notes, reliable, sentence, result_name, unit, ci, _METHOD)


NOT_RELIABLE = "no reliable association"


def _reliable_quadrants(matrix: pd.DataFrame, considered: list, models: Mapping[str, DriverModels],
                        alpha: float) -> pd.DataFrame:
    """Quadrant labels only for drivers the model calls reliable.

    A chain KPI is reliable when its chain model is reliable and its Holm-adjusted p-value
    (over every KPI considered) is below ``alpha``; another driver of the model (a journey or
    contact feature) when the chain model is reliable and its p-value, Holm-adjusted within
    the chain, is. Other rows keep their place in the matrix (``position``) but their
    ``quadrant`` is ``"no reliable association"``: "fix first" on noise would rank noise.
    """
    m = matrix.copy()
    holm_kpi = {(r["chain"], r["kpi"]): r["model_reliable"] and r["p_holm"] < alpha for r in considered}
    ok = []
    for key, dm in models.items():
        eff = dm.effects
        ph = _holm(eff["p_value"].to_numpy(dtype=float))
        for d, p in zip(eff["driver"], ph, strict=True):
            chain = dm.frame.chain
            ok.append({"chain": chain, "driver": d,
                       "reliable": bool(holm_kpi.get((chain, d), dm.reliable and p < alpha))})
    rel = pd.DataFrame(ok, columns=["chain", "driver", "reliable"])
    m = m.merge(rel, on=["chain", "driver"], how="left")
    m["reliable"] = m["reliable"].fillna(False).astype(bool)
    m["position"] = m["quadrant"]
    m.loc[~m["reliable"] & (m["quadrant"] != "no target"), "quadrant"] = NOT_RELIABLE
    m.attrs.update(matrix.attrs)
    return m


def _action_sentence(r: Mapping[str, Any], result_name: str, unit: str, ci: float, base: int = 1) -> Message:
    who = r["link"] or Message("agenda.no_link")
    owner = Message("agenda.owner", owner=r["owner"]) if r.get("owner") else ""
    g, lo, hi = messages.interval(r["gain"], r["gain_ci_low"], r["gain_ci_high"], base, signed=True)
    overall = Num(r["gain_overall"], present.decimals(r["gain_overall"], base), True)
    return Message("agenda.action", name=r["name"], current=r["current_label"], target=r["target_label"], who=who,
                   owner=owner, gain=g, unit=unit, overall=overall, result=result_name,
                   interval=Message("interval.level", level=Num(100 * ci, 0), low=lo, high=hi))


def _headline(act, cons, models, reliable, result_name, unit, ci, top_sentence=None) -> Message:
    if len(act):
        more = Message("agenda.more", n=len(act)) if len(act) > 1 else ""
        return Message("agenda.first", sentence=top_sentence or act.iloc[0]["sentence"], more=more)
    if not reliable:
        r2s = [m.r2 for m in models.values()]
        r2_txt = (Message("agenda.r2_at_most", share=Num(100 * max(r2s), present.decimals(100 * max(r2s), 1)))
                  if r2s else Message("agenda.no_chain_modelled"))
        return Message("agenda.no_driver", why=r2_txt)
    reliable_kpis = cons[cons["status"].isin(["on target", "no target", "action",
                                              "expected gain not distinguishable from zero",
                                              "associated in the unexpected direction"])]
    if reliable_kpis.empty:
        return Message("agenda.no_driver_after_testing", result=result_name)
    on = reliable_kpis[reliable_kpis["status"] == "on target"]["name"].tolist()
    if on and len(on) == len(reliable_kpis):
        return Message("agenda.all_on_target", names=Seq(tuple(on), "list.comma"))
    return Message("agenda.no_action")


def _json_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else round(float(v), 4)
    if v is pd.NA:
        return None
    return str(v) if not isinstance(v, (str, list, dict)) else v


def agenda_summary(agenda: Agenda) -> dict:
    """The agenda as JSON-ready dicts for the client's ``summary.json``.

    Returns
    -------
    dict
        ``{"result_kpi", "kpi_unit", "ci", "reliable", "sentence", "method", "actions": [...],
        "chains": [...]}``; every number is a plain float (rounded to 4 decimals) or None.
    """
    if not isinstance(agenda, Agenda):
        raise AnalysisError(f"agenda_summary needs an Agenda (improvement_agenda), got {type(agenda).__name__}")
    actions = []
    for r in agenda.actions.to_dict("records"):
        actions.append({k: _json_value(v) for k, v in r.items()})
    chains = []
    for key, note in agenda.chain_notes.items():
        m = agenda.models.get(key)
        chains.append({
            "chain": key,
            "n": _json_value(m.n) if m else None,
            "r2": _json_value(m.r2) if m else None,
            "reliable": bool(m.reliable) if m else False,
            "collinearity_warning": m.collinearity.warning if m else None,
            "note": note,
        })
    return {
        "result_kpi": agenda.result_name,
        "kpi_unit": agenda.kpi_unit,
        "ci": _json_value(agenda.ci),
        "reliable": bool(agenda.reliable),
        "sentence": agenda.sentence,
        "method": agenda.method,
        "actions": actions,
        "chains": chains,
    }
