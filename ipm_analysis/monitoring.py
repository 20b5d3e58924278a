"""Continuous monitoring of chain KPIs: control charts and their signals.

A chain KPI is followed per period (week or month) on a Shewhart control chart whose centre
line and limits come from a *baseline* period, so that a later change shows as a signal instead
of moving the limits with it:

- a **p-chart** for a share (on time, right first time): centre ``p̄ = Σx / Σn`` over the
  baseline periods, limits ``p̄ ± 3·√(p̄(1−p̄)/nᵢ)`` per period (they widen where a period has
  few cases), clipped to 0–1;
- an **individuals chart** (I-chart) for a time or a count per period: centre the baseline mean,
  σ estimated from the average moving range as ``MR̄ / 1.128`` (d₂ for ranges of two), limits
  centre ± 3σ.

Signals follow the Western Electric rules, on each period's distance from the centre in units
of its own σ (so the p-chart's varying limits are respected):

1. one point beyond 3σ;
2. two of three points in a row beyond 2σ on the same side;
3. four of five points in a row beyond 1σ on the same side;
4. eight points in a row on the same side of the centre.

and a trend rule (six points in a row steadily rising or falling). A signal says "this period
is unlike the baseline", not why: the report lists them as things to look at.

Numbers only; the presentation layer words them. Tested against a hand computation of the
limits and against series with known shifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import AnalysisError
from .messages import analysis_error, reason

D2 = 1.128  # expected range of two normal observations, in σ (moving ranges of span 2)
RULES = {
    "beyond_3_sigma": "one period beyond the control limits",
    "two_of_three_beyond_2_sigma": "two of three periods in a row beyond two sigma on one side",
    "four_of_five_beyond_1_sigma": "four of five periods in a row beyond one sigma on one side",
    "eight_on_one_side": "eight periods in a row on one side of the centre line",
    "six_trending": "six periods in a row steadily rising or falling",
}
MIN_BASELINE = 8  # baseline periods below which no limits are computed


@dataclass(frozen=True)
class ControlChart:
    """A control chart of one KPI.

    ``table`` has one row per period: ``period``, ``value``, ``n`` (cases behind the value; for
    an I-chart the count of cases, informative only), ``center``, ``sigma`` (of that period's
    value), ``lcl``, ``ucl``, ``baseline`` (bool), ``z`` (distance from the centre in σ) and
    ``signals`` (a tuple of rule ids that this period completes).
    """

    kind: Literal["p", "i"]
    table: pd.DataFrame
    center: float
    baseline_periods: int

    @property
    def signals(self) -> pd.DataFrame:
        """One row per (period, rule) that signals, with the rule's description in the report's
        language (:func:`ipm_analysis.messages.use_language`)."""
        from . import messages

        words = messages.catalogue(messages.current_language())
        rows = [(r.period, rule, words[f"monitoring.rule.{rule}"], r.value) for r in self.table.itertuples()
                for rule in r.signals]
        return pd.DataFrame(rows, columns=["period", "rule", "description", "value"])

    def signals_since(self, period: Any) -> pd.DataFrame:
        """The signals of periods after ``period`` (e.g. the last report's last period)."""
        s = self.signals
        return s[pd.to_datetime(s["period"]) > pd.to_datetime(period)].reset_index(drop=True)


def _series(frame: pd.DataFrame, value: str, n: str | None) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise AnalysisError(f"a control chart needs a DataFrame, got {type(frame).__name__}")
    need = ["period", value] + ([n] if n else [])
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise AnalysisError(f"a control chart needs the columns {need}; missing: {missing}")
    out = pd.DataFrame({"period": frame["period"].to_numpy(),
                        "value": pd.to_numeric(frame[value], errors="coerce").to_numpy(dtype=float),
                        "n": (pd.to_numeric(frame[n], errors="coerce").to_numpy(dtype=float) if n
                              else np.ones(len(frame)))})
    out = out.dropna(subset=["value"]).sort_values("period", kind="mergesort").reset_index(drop=True)
    if out["period"].duplicated().any():
        raise AnalysisError("a control chart needs one row per period; some periods repeat")
    return out


def _baseline_mask(periods: pd.Series, baseline: Any) -> np.ndarray:
    if baseline is None:  # all periods
        return np.ones(len(periods), dtype=bool)
    if isinstance(baseline, (int, np.integer)) and not isinstance(baseline, bool):
        if baseline < 1:
            raise AnalysisError(f"baseline must be a positive number of periods, got {baseline}")
        return np.arange(len(periods)) < baseline
    if isinstance(baseline, tuple) and len(baseline) == 2:
        p = pd.to_datetime(periods)
        lo, hi = (pd.Timestamp(b) if b is not None else None for b in baseline)
        mask = np.ones(len(periods), dtype=bool)
        if lo is not None:
            mask &= (p >= lo).to_numpy()
        if hi is not None:
            mask &= (p <= hi).to_numpy()
        return mask
    raise AnalysisError("baseline must be None (all periods), a number of first periods, or a (first, last) "
                        f"pair of dates; got {baseline!r}")


def p_chart(frame: pd.DataFrame, successes: str = "successes", n: str = "n", baseline: Any = None) -> ControlChart:
    """A p-chart of a share per period.

    Parameters
    ----------
    frame : DataFrame
        One row per period: ``period``, the count of ``successes`` and the count ``n`` of cases.
    baseline : None, int or (date, date)
        The periods the centre and limits come from: all (None), the first ``k``, or those
        between two dates (inclusive). At least 8 baseline periods are needed.
    """
    s = _series(frame, successes, n)
    if (s["n"] <= 0).any() or (s["value"] < 0).any() or (s["value"] > s["n"]).any():
        raise AnalysisError("a p-chart needs 0 <= successes <= n and n > 0 in every period")
    base = _baseline_mask(s["period"], baseline)
    _check_baseline(base)
    center = float(s.loc[base, "value"].sum() / s.loc[base, "n"].sum())
    share = s["value"] / s["n"]
    sigma = np.sqrt(center * (1 - center) / s["n"].to_numpy())
    table = pd.DataFrame({"period": s["period"], "value": share, "n": s["n"].astype(int), "center": center,
                          "sigma": sigma, "lcl": np.clip(center - 3 * sigma, 0, 1),
                          "ucl": np.clip(center + 3 * sigma, 0, 1), "baseline": base})
    return _finish("p", table, center, base)


def individuals_chart(frame: pd.DataFrame, value: str = "value", n: str | None = None,
                      baseline: Any = None) -> ControlChart:
    """An individuals (I-) chart of a time or count per period (e.g. the mean lead time per month).

    σ is the baseline's average moving range divided by d₂ = 1.128, the textbook estimate that
    is robust to a slow drift in the baseline (the standard deviation of all values is not).
    """
    s = _series(frame, value, n)
    base = _baseline_mask(s["period"], baseline)
    _check_baseline(base)
    b = s.loc[base, "value"].to_numpy()
    # moving ranges between consecutive baseline periods only
    idx = np.flatnonzero(base)
    consecutive = np.diff(idx) == 1
    mr = np.abs(np.diff(b))[consecutive]
    if not len(mr):
        raise analysis_error("monitoring.error.consecutive_baseline")
    center = float(b.mean())
    sigma = float(mr.mean() / D2)
    table = pd.DataFrame({"period": s["period"], "value": s["value"], "n": s["n"].astype(int), "center": center,
                          "sigma": sigma, "lcl": center - 3 * sigma, "ucl": center + 3 * sigma, "baseline": base})
    return _finish("i", table, center, base)


def _check_baseline(base: np.ndarray) -> None:
    if base.sum() < MIN_BASELINE:
        raise analysis_error("monitoring.error.min_baseline", need=MIN_BASELINE, got=int(base.sum()))


def _finish(kind: Literal["p", "i"], table: pd.DataFrame, center: float, base: np.ndarray) -> ControlChart:
    sig = table["sigma"].to_numpy(dtype=float)
    dev = table["value"].to_numpy(dtype=float) - center
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sig > 0, dev / np.where(sig > 0, sig, 1), np.sign(dev) * np.inf)
    table = table.assign(z=z)
    table["signals"] = signal_rules(z, table["value"].to_numpy(dtype=float))
    return ControlChart(kind=kind, table=table.reset_index(drop=True), center=center,
                        baseline_periods=int(base.sum()))


def signal_rules(z: Any, values: Any | None = None) -> list[tuple[str, ...]]:
    """The rules each point completes, from the points' distances ``z`` from the centre in σ.

    A rule is reported at the point that completes it (the last point of its run), once per
    point. ``values`` (default ``z``) are used for the trend rule.
    """
    z = np.asarray(z, dtype=float)
    v = z if values is None else np.asarray(values, dtype=float)
    out: list[tuple[str, ...]] = []
    for i in range(len(z)):
        hits = []
        if abs(z[i]) > 3:
            hits.append("beyond_3_sigma")
        for rule, k, m, limit in (("two_of_three_beyond_2_sigma", 2, 3, 2.0),
                                  ("four_of_five_beyond_1_sigma", 4, 5, 1.0)):
            if i + 1 >= m:
                w = z[i + 1 - m:i + 1]
                for side in (1, -1):
                    if side * z[i] > limit and (side * w > limit).sum() >= k:
                        hits.append(rule)
                        break
        if i + 1 >= 8:
            w = z[i - 7:i + 1]
            if (w > 0).all() or (w < 0).all():
                hits.append("eight_on_one_side")
        if i + 1 >= 6:
            d = np.diff(v[i - 5:i + 1])
            if (d > 0).all() or (d < 0).all():
                hits.append("six_trending")
        out.append(tuple(hits))
    return out


DEFAULT_BASELINE = 12  # periods, when nothing says otherwise


def default_baseline(n_periods: int, first_action: Any = None) -> Any:
    """The baseline a client's charts use: the periods before its first action's start when
    there is one, else the first 12 periods (but never the last 3, which are what is watched)."""
    if first_action is not None:
        return (None, pd.Timestamp(first_action) - pd.Timedelta(days=1))
    return max(MIN_BASELINE, min(DEFAULT_BASELINE, n_periods - 3))


def chain_kpi_charts(client: Any, baseline: Any = None, leave_out: Any = ()) -> dict[str, ControlChart | str]:
    """A control chart per chain KPI of a loaded client, by the client's period.

    Shares get a p-chart of the cases meeting the KPI per period; times and counts an
    individuals chart of their mean per period. Periods with fewer cases than the client's
    minimum base are left out, and so are the periods in ``leave_out`` (an incomplete last
    period). A KPI that cannot be charted maps to the reason (a sentence).
    """
    skip = set(pd.to_datetime(list(leave_out)))
    base_n = client.config.reporting.min_base_suppress
    starts = [a.start for a in getattr(client.config, "actions", [])]
    first = min(starts) if starts else None
    out: dict[str, ControlChart | str] = {}
    for chain in client.config.chains:
        cases = client.case_kpis[client.case_kpis["chain"] == chain.id]
        for kpi in chain.kpis:
            v = cases[["period", kpi.id]].dropna()
            g = v.groupby("period")[kpi.id]
            per = pd.DataFrame({"n": g.size(), "sum": g.sum(), "mean": g.mean()}).reset_index()
            per = per[(per["n"] >= base_n) & ~pd.to_datetime(per["period"]).isin(skip)]
            b = baseline if baseline is not None else default_baseline(len(per), first)
            try:
                if kpi.unit == "share":
                    out[kpi.id] = p_chart(per.rename(columns={"sum": "successes"}), baseline=b)
                else:
                    out[kpi.id] = individuals_chart(per, value="mean", n="n", baseline=b)
            except AnalysisError as e:
                out[kpi.id] = reason(e)
    return out
