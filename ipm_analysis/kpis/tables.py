"""KPI tables under the base-size rules: the result KPI by segment and period, chain KPIs per chain,
period and segment against their targets, and the links that own them.

Part of :mod:`ipm_analysis.kpis`; the conventions are in its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check_ci, name_list, z_value
from ..errors import AnalysisError
from ..messages import Message, Seq, render
from ..units import UNITS
from .intervals import (
    _check_bases,
    _check_rating_scale,
    _fmt,
    _frame,
    _get,
    _month,
    _nps_stats,
    _numeric,
    _require,
    _scale_scores,
    _t_interval,
    _wilson,
)

__all__ = [
    "apply_base_rules",
    "result_kpi_by",
    "chain_kpi_table",
    "link_overview",
]

_UNITS = UNITS

_DIRECTIONS = ("higher", "lower")

_CHAIN_TABLE_COLUMNS = (
    "chain", "kpi", "kpi_name", "link", "unit", "direction", "period", "n", "value",
    "ci_low", "ci_high", "target", "gap", "on_target", "status", "small_base",
)


# --------------------------------------------------------------------------------------------
# base-size rules
# --------------------------------------------------------------------------------------------


def apply_base_rules(table: pd.DataFrame, n_col: str = "n", flag: int = 30,
                     suppress: int = 10) -> pd.DataFrame:
    """Apply the minimum-base rules to a table with one row per group.

    Parameters
    ----------
    table : DataFrame
        Any table with a base-size column. It is not modified.
    n_col : str, default "n"
        The column holding each row's base (answers or cases).
    flag : int, default 30
        Rows with ``suppress <= n < flag`` get ``small_base = True``.
    suppress : int, default 10
        Rows with ``n < suppress`` are removed (their values are too noisy to show).

    Returns
    -------
    DataFrame
        The rows kept (original index and column order, plus a bool ``small_base`` column).
        ``attrs`` records what was done: ``n_suppressed`` (rows removed), ``base_flag``,
        ``base_suppress`` and ``base_note``, a sentence for the report, e.g.
        ``"2 groups with a base below 10 are not shown; bases below 30 are flagged."``
    """
    table = _frame(table, "table")
    flag, suppress = _check_bases(flag, suppress)
    _require(table, [n_col], "table")
    n = pd.to_numeric(table[n_col], errors="coerce")
    if n.isna().any():
        raise AnalysisError(f"column '{n_col}' must hold a base size in every row; got missing "
                            f"or non-numeric values at index {_fmt(table.index[n.isna()].tolist())}")
    keep = (n >= suppress).to_numpy()
    out = table.loc[keep].copy()
    out["small_base"] = (n[keep] < flag).astype(bool).to_numpy()
    n_supp = int((~keep).sum())
    out.attrs = dict(table.attrs)
    out.attrs.update(
        n_suppressed=n_supp, base_flag=flag, base_suppress=suppress,
        base_note=(f"{n_supp} group{'s' if n_supp != 1 else ''} with a base below {suppress} "
                   f"{'are' if n_supp != 1 else 'is'} not shown; bases below {flag} are flagged."),
    )
    return out


# --------------------------------------------------------------------------------------------
# result KPI by segment / period
# --------------------------------------------------------------------------------------------


def _scale_spec(scale: Any) -> dict[str, Any]:
    kind = _get(scale, "type", None)
    if kind == "nps":
        return {"type": "nps", "min": 0, "max": 10}
    if kind == "rating":
        lo, hi, top, bottom = _check_rating_scale(_get(scale, "min"), _get(scale, "max"),
                                                  _get(scale, "top_box"), _get(scale, "bottom_box"))
        return {"type": "rating", "min": lo, "max": hi, "top_box": top, "bottom_box": bottom}
    if kind == "labels":
        raise AnalysisError("a labels scale must be mapped to integers 1..k and passed as "
                            "{'type': 'rating', 'min': 1, 'max': k, ...}")
    raise AnalysisError(f"scale type must be 'nps' or 'rating', got {kind!r}")


def _grouped(frame: pd.DataFrame, keys: list[str], agg: dict[str, tuple[str, str]]) -> pd.DataFrame:
    if keys:
        return frame.groupby(keys, dropna=False, sort=True, observed=True).agg(**agg).reset_index()
    return pd.DataFrame({name: [frame[src].agg(fn)] for name, (src, fn) in agg.items()})


def result_kpi_by(responses: pd.DataFrame, score_col: str, scale: Any, by: Any = None,
                  period: str | None = None, flag: int = 30, suppress: int = 10,
                  ci: float = 0.95) -> pd.DataFrame:
    """The result KPI (NPS or rating) per segment and/or period, with intervals and base rules.

    Parameters
    ----------
    responses : DataFrame
        One row per survey answer.
    score_col : str
        Column of scores (0-10 for NPS; ``min..max`` integers for a rating).
    scale : dict or object
        ``{"type": "nps"}`` or ``{"type": "rating", "min": 1, "max": 5, "top_box": [5],
        "bottom_box": [1, 2]}``; an object with these attributes works too. Labels scales must
        already be mapped to integers 1..k and passed as a rating.
    by : str or list of str, optional
        Segment column(s). Missing segment values form their own group (nothing is dropped
        silently).
    period : str, optional
        Column giving the period. Datetime values are mapped to their month start; other values
        are used as they are. The output column is always named ``period``.
    flag, suppress : int
        Base-size rules, see :func:`apply_base_rules`.
    ci : float, default 0.95

    Returns
    -------
    DataFrame
        One row per group: the ``by`` columns, ``period`` (if asked), ``n``, ``value``,
        ``ci_low``, ``ci_high``, ``se``, then for NPS ``promoters``, ``passives``,
        ``detractors`` (fractions) and for a rating ``top_box``, ``top_box_ci_low``,
        ``top_box_ci_high``, ``bottom_box``, ``bottom_box_ci_low``, ``bottom_box_ci_high``
        (``value`` is then the mean score), and ``small_base``. Groups with ``n < suppress``
        are absent; ``attrs["n_suppressed"]`` counts them. Without ``by`` and ``period`` the
        table has one row.
    """
    responses = _frame(responses, "responses")
    ci = check_ci(ci)
    flag, suppress = _check_bases(flag, suppress)
    by_cols = name_list(by, "by")
    spec = _scale_spec(scale)
    if not isinstance(score_col, str):
        raise AnalysisError(f"score_col must be a column name, got {score_col!r}")
    if period is not None and not isinstance(period, str):
        raise AnalysisError(f"period must be a column name or None, got {period!r}")
    _require(responses, [score_col, *by_cols] + ([period] if period else []), "responses")
    reserved = {"period", "n", "value", "ci_low", "ci_high", "se", "small_base", "_score"}
    clash = [c for c in by_cols if c in reserved]
    if clash:
        raise AnalysisError(f"by columns {clash} clash with output column names; rename them")

    label = "NPS scores" if spec["type"] == "nps" else f"rating scores (scale {spec['min']}-{spec['max']})"
    scores = _scale_scores(responses[score_col], spec["min"], spec["max"],
                           f"{label} in column '{score_col}'")
    frame = pd.DataFrame({c: responses[c].reset_index(drop=True) for c in by_cols},
                         index=range(len(scores)))  # keeps dtypes, e.g. ordered categories
    keys = list(by_cols)
    if period:
        frame["period"] = _month(responses[period]).to_numpy()
        keys.append("period")
    has = ~np.isnan(scores)
    frame["_has"] = has.astype(float)
    z = z_value(ci)

    if spec["type"] == "nps":
        frame["_pro"] = (has & (scores >= 9)).astype(float)
        frame["_det"] = (has & (scores <= 6)).astype(float)
        g = _grouped(frame, keys, {"n": ("_has", "sum"), "_pro": ("_pro", "sum"),
                                   "_det": ("_det", "sum")})
        n = g["n"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_pro = g["_pro"].to_numpy() / n
            p_det = g["_det"].to_numpy() / n
        value, se, lo, hi = _nps_stats(p_pro, p_det, n, z)
        extra = {"promoters": p_pro, "passives": 1 - p_pro - p_det, "detractors": p_det}
    else:
        frame["_score"] = scores
        frame["_top"] = (has & np.isin(scores, spec["top_box"])).astype(float)
        frame["_bot"] = (has & np.isin(scores, spec["bottom_box"])).astype(float)
        g = _grouped(frame, keys, {"n": ("_has", "sum"), "_mean": ("_score", "mean"),
                                   "_sd": ("_score", "std"), "_top": ("_top", "sum"),
                                   "_bot": ("_bot", "sum")})
        n = g["n"].to_numpy(dtype=float)
        value = g["_mean"].to_numpy(dtype=float)
        lo, hi, se = _t_interval(value, g["_sd"].to_numpy(dtype=float), n, ci)
        t_lo, t_hi = _wilson(g["_top"], n, z)
        b_lo, b_hi = _wilson(g["_bot"], n, z)
        with np.errstate(invalid="ignore", divide="ignore"):
            extra = {"top_box": g["_top"].to_numpy() / n, "top_box_ci_low": t_lo,
                     "top_box_ci_high": t_hi, "bottom_box": g["_bot"].to_numpy() / n,
                     "bottom_box_ci_low": b_lo, "bottom_box_ci_high": b_hi}

    out = g[keys].copy() if keys else pd.DataFrame(index=range(len(g)))
    out["n"] = n.astype(int)
    out["value"] = value
    out["ci_low"] = lo
    out["ci_high"] = hi
    out["se"] = se
    for name, col in extra.items():
        out[name] = col
    out = apply_base_rules(out, "n", flag, suppress).reset_index(drop=True)
    out.attrs.update(measure=spec["type"], ci=ci)
    return out


# --------------------------------------------------------------------------------------------
# chain KPIs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KPI:
    id: str
    name: str
    chain: str
    unit: str
    direction: str
    target: float | None
    link: str


def _kpi_spec(k: Any) -> _KPI:
    try:
        spec = _KPI(id=_get(k, "id"), name=_get(k, "name"), chain=_get(k, "chain"),
                    unit=_get(k, "unit"), direction=_get(k, "direction"),
                    target=_get(k, "target", None), link=_get(k, "link"))
    except AnalysisError as exc:
        raise AnalysisError(f"a KPI needs id, name, chain, unit, direction, target and link: {exc}") from None
    if spec.unit not in _UNITS:
        raise AnalysisError(f"KPI '{spec.id}': unit must be one of {list(_UNITS)}, got {spec.unit!r}")
    if spec.direction not in _DIRECTIONS:
        raise AnalysisError(f"KPI '{spec.id}': direction must be 'higher' or 'lower', got "
                            f"{spec.direction!r}")
    if spec.target is not None and (isinstance(spec.target, bool)
                                    or not isinstance(spec.target, (int, float, np.number))
                                    or not math.isfinite(spec.target)):
        raise AnalysisError(f"KPI '{spec.id}': target must be a number or None, got {spec.target!r}")
    if not spec.chain:
        raise AnalysisError(f"KPI '{spec.id}' has no chain")
    return spec


def _kpi_values(values: pd.Series, k: _KPI) -> np.ndarray:
    what = f"KPI '{k.id}' (chain '{k.chain}', unit {k.unit})"
    arr = _numeric(values, what)
    has = ~np.isnan(arr)
    if k.unit == "share":
        bad = has & (arr != 0) & (arr != 1)
        if bad.any():
            raise AnalysisError(f"{what} must hold true/false or 0/1 per case (NaN = not "
                                f"applicable); got {_fmt(pd.unique(arr[bad]).tolist())} in "
                                f"{int(bad.sum())} case(s)")
    elif not np.isfinite(arr[has]).all():
        raise AnalysisError(f"{what} must hold finite numbers per case; got infinity")
    return arr


def chain_kpi_table(case_values: pd.DataFrame, kpis: Sequence[Any], period_col: str | None = "period",
                    by: Any = None, flag: int = 30, suppress: int = 10, ci: float = 0.95,
                    overall: bool = True) -> pd.DataFrame:
    """Chain KPIs per period (and overall) with intervals, targets and base rules.

    Parameters
    ----------
    case_values : DataFrame
        One row per case: ``case_id`` (unique), ``chain``, the period column (month-start
        Timestamps; other datetimes are mapped to their month start) and one column per KPI id
        with the case's value: true/false or 0/1 for unit ``share``, numbers otherwise, NaN when
        the KPI does not apply to the case. A KPI is computed over the cases of its own chain.
    kpis : sequence of KPI specs
        Objects (or dicts) with ``id, name, chain, unit, direction, target, link``.
    period_col : str or None, default "period"
        Column of periods; None gives overall rows only.
    by : str or list of str, optional
        Case segment column(s); missing values form their own group.
    flag, suppress : int
        Base-size rules, see :func:`apply_base_rules`; ``n`` counts cases where the KPI applies.
    ci : float, default 0.95
    overall : bool, default True
        Also give one row per KPI (and segment) over all periods, with ``period = "all"``.

    Returns
    -------
    DataFrame
        Columns ``chain, kpi, kpi_name, link, unit, direction, <by...>, period, n, value,
        ci_low, ci_high, target, gap, on_target, status, small_base``. ``value`` is a fraction
        for shares (Wilson interval) and a mean per case otherwise (Student-t interval).
        ``gap`` is signed so that positive is better than target: ``value - target`` when
        higher is better, ``target - value`` when lower is better. ``on_target`` is
        ``gap >= 0`` (NA without a target); ``status`` is ``"on target"``, ``"below target"``
        (worse than target in the KPI's direction) or ``"no target"``. Rows are ordered by
        KPI as given, then segment, then period, the ``"all"`` row last. Groups with
        ``n < suppress`` are absent (a KPI with no applicable case at all counts as one
        suppressed group); ``attrs["n_suppressed"]`` counts them.
    """
    case_values = _frame(case_values, "case_values")
    ci = check_ci(ci)
    flag, suppress = _check_bases(flag, suppress)
    by_cols = name_list(by, "by")
    if isinstance(kpis, (str, bytes, Mapping)) or not isinstance(kpis, Iterable):
        raise AnalysisError(f"kpis must be a list of KPI specs, got {type(kpis).__name__}")
    specs = [_kpi_spec(k) for k in kpis]
    if not specs:
        raise AnalysisError("kpis is empty: give at least one chain KPI")
    pairs = [(s.chain, s.id) for s in specs]
    dup = sorted({p for p in pairs if pairs.count(p) > 1})
    if dup:
        raise AnalysisError(f"KPIs occur more than once (chain, id): {dup}")
    if period_col is None and not overall:
        raise AnalysisError("with period_col=None, overall must be True (nothing to show otherwise)")
    clash = [c for c in by_cols if c in _CHAIN_TABLE_COLUMNS]
    if clash:
        raise AnalysisError(f"by columns {clash} clash with output column names; rename them")
    needed = ["case_id", "chain", *by_cols] + ([period_col] if period_col else [])
    _require(case_values, needed + [s.id for s in specs], "case_values")
    dup_ids = case_values["case_id"].duplicated()
    if dup_ids.any():
        raise AnalysisError("case_values must hold one row per case; case_id values repeat: "
                            f"{_fmt(case_values.loc[dup_ids, 'case_id'].unique().tolist())}")

    z = z_value(ci)
    agg = {"n": ("_v", "count"), "value": ("_v", "mean"), "_sd": ("_v", "std")}
    parts: list[pd.DataFrame] = []
    for k in specs:
        sub = case_values.loc[case_values["chain"] == k.chain]
        frame = pd.DataFrame({c: sub[c].reset_index(drop=True) for c in by_cols},
                             index=range(len(sub)))
        frame["_v"] = _kpi_values(sub[k.id], k)
        pieces = []
        if period_col is not None:
            frame["period"] = _month(sub[period_col]).to_numpy()
            pieces.append(_grouped(frame, by_cols + ["period"], agg))
        if overall:
            tot = _grouped(frame, by_cols, agg)
            if tot.empty:  # no case of this chain at all (only possible with by)
                tot = pd.DataFrame({**{c: [np.nan] for c in by_cols}, "n": [0],
                                    "value": [np.nan], "_sd": [np.nan]})
            tot.insert(len(by_cols), "period", "all")
            pieces.append(tot)
        g = pd.concat([p.astype({"period": object}) for p in pieces], ignore_index=True)
        n = g["n"].to_numpy(dtype=float)
        value = g["value"].to_numpy(dtype=float)
        if k.unit == "share":
            lo, hi = _wilson(value * n, n, z)
        else:
            lo, hi, _ = _t_interval(value, g["_sd"].to_numpy(dtype=float), n, ci)
        target = math.nan if k.target is None else float(k.target)
        gap = (value - target) if k.direction == "higher" else (target - value)
        on = pd.array([pd.NA if k.target is None or np.isnan(x) else bool(x >= 0) for x in gap],
                      dtype="boolean")
        status = ["no target" if k.target is None else "on target" if x >= 0 else "below target"
                  for x in gap]
        head = pd.DataFrame({"chain": k.chain, "kpi": k.id, "kpi_name": k.name, "link": k.link,
                             "unit": k.unit, "direction": k.direction}, index=range(len(g)))
        part = pd.concat([head, g[by_cols + ["period"]]], axis=1)
        part["n"] = n.astype(int)
        part["value"] = value
        part["ci_low"] = lo
        part["ci_high"] = hi
        part["target"] = target
        part["gap"] = gap
        part["on_target"] = on
        part["status"] = status
        parts.append(part)

    table = pd.concat(parts, ignore_index=True)
    table = apply_base_rules(table, "n", flag, suppress).reset_index(drop=True)
    table.attrs.update(ci=ci, by=by_cols)
    return table


def _table_by_cols(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in _CHAIN_TABLE_COLUMNS]


#: The statuses of a KPI against its target, in the order a link's summary counts them.
_STATUSES = ("below target", "on target", "no target", "no data")


def _link_sentence(link: str, counts: dict[str, int]) -> Message:
    """``"Planning owns 2 KPIs, both below target"``: the statuses are counted per catalogue key."""
    total = sum(counts.values())
    owns = Message("link.owns_one" if total == 1 else "link.owns", link=link, n=total)
    shown = {s: c for s, c in counts.items() if c}
    label = {s: Message(f"status.{s.replace(' ', '_')}") for s in shown}
    if len(shown) == 1:
        s = next(iter(shown))
        if total == 1:
            return Message("link.one_status", owns=owns, status=label[s])
        return Message("link.all_status", owns=owns, status=Message("status.both" if total == 2 else "status.all",
                                                                    n=total, status=label[s]))
    counted = Seq(tuple(Message("link.count", n=c, status=label[s]) for s, c in shown.items()), "list.comma")
    return Message("link.counts", owns=owns, counts=counted)


def link_overview(table: pd.DataFrame, kpis: Sequence[Any] | None = None, language: str = "en") -> pd.DataFrame:
    """Per owning link: how many KPIs it owns and how many are below target.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`chain_kpi_table` made without ``by``. The ``"all"`` rows are used when
        present, otherwise each KPI's latest period.
    kpis : sequence of KPI specs, optional
        When given, KPIs absent from the table (every base suppressed) are counted as
        ``n_no_data`` instead of being missed.
    language : str, default "en"
        The language of the ``summary`` sentences (``reporting.language``).

    Returns
    -------
    DataFrame
        One row per link: ``link, chains, n_kpis, n_below_target, n_on_target, n_no_target,
        n_no_data, below_target`` (names of the KPIs below target) and ``summary``, e.g.
        ``"Planning owns 2 KPIs, both below target"``. Links with most KPIs below target come
        first.
    """
    table = _frame(table, "table")
    _require(table, ["chain", "kpi", "kpi_name", "link", "period", "status"], "table")
    by_cols = _table_by_cols(table)
    if by_cols:
        raise AnalysisError(f"link_overview needs one row per KPI; the table has segment columns "
                            f"{by_cols}: pass a chain_kpi_table made without by=")
    is_all = table["period"].astype(str) == "all"
    if is_all.any():
        rows = table.loc[is_all]
    else:
        rows = table.sort_values("period").groupby(["chain", "kpi"], sort=False).tail(1)
    if rows.duplicated(["chain", "kpi"]).any():
        raise AnalysisError("link_overview needs one row per KPI and period; KPIs repeat in the table")
    recs = [{"chain": r.chain, "kpi": r.kpi, "name": r.kpi_name, "link": r.link, "status": r.status}
            for r in rows.itertuples(index=False)]
    if kpis is not None:
        seen = {(r["chain"], r["kpi"]) for r in recs}
        for k in (_kpi_spec(x) for x in kpis):
            if (k.chain, k.id) not in seen:
                recs.append({"chain": k.chain, "kpi": k.id, "name": k.name, "link": k.link,
                             "status": "no data"})
    out = []
    links = list(dict.fromkeys(r["link"] for r in recs))
    for link in links:
        mine = [r for r in recs if r["link"] == link]
        counts = {s: sum(r["status"] == s for r in mine) for s in _STATUSES}
        out.append({
            "link": link,
            "chains": ", ".join(dict.fromkeys(r["chain"] for r in mine)),
            "n_kpis": len(mine),
            "n_below_target": counts["below target"],
            "n_on_target": counts["on target"],
            "n_no_target": counts["no target"],
            "n_no_data": counts["no data"],
            "below_target": ", ".join(r["name"] for r in mine if r["status"] == "below target"),
            "summary": render(_link_sentence(link, counts), language),
        })
    frame = pd.DataFrame(out, columns=["link", "chains", "n_kpis", "n_below_target", "n_on_target",
                                       "n_no_target", "n_no_data", "below_target", "summary"])
    return frame.sort_values(["n_below_target", "n_kpis"], ascending=[False, False],
                             kind="stable").reset_index(drop=True)
