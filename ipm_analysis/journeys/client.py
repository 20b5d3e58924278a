"""One chain of a loaded client: its events and designed journey, and the journeys section of
its report.

The functions named ``chain_*`` (``chain_events``, ``chain_log``, ``chain_variants``,
``chain_directly_follows``, ``chain_conformance``, ``chain_step_deviation``, ``chain_funnel``,
``chain_journey_features``) take a loaded client and a chain id: the chain's events and its
designed journey from client.yaml, prepared and compared with the design once per client and
chain, each call handing out its own frame. :func:`journey_section` gives everything the
journeys section of a report shows for one chain, under the client's minimum bases, and
:func:`journey_cost` what deviating journeys are associated with in the result KPI.

The primitives on a prepared log are in :mod:`ipm_analysis.journeys.log`; the private helpers
imported from there stay private to this package.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import kpis, messages, present
from ..messages import Message, Num, Seq
from ..errors import AnalysisError
from .log import (
    channel_mix,
    directly_follows,
    PreparedLog,
    variants,
    _Conformance,
    _conformance,
    _conformance_frame,
    _designed_steps,
    _features_frame,
    _funnel_frame,
    _Log,
    _pair_stats,
    _prepare,
    _prepared,
    _step_deviation_frame,
)

__all__ = [
    "JourneySection",
    "chain_conformance",
    "chain_directly_follows",
    "chain_events",
    "chain_funnel",
    "chain_journey_features",
    "chain_log",
    "chain_step_deviation",
    "chain_variants",
    "deviation_classes",
    "difference_phrase",
    "extra_activities",
    "journey_cost",
    "journey_cost_message",
    "journey_cost_sentence",
    "journey_section",
    "result_difference_unit",
]


# --------------------------------------------------------------------------------------------
# client level: one chain's journeys and what deviations cost in the result KPI
# --------------------------------------------------------------------------------------------


def chain_events(client, chain_id: str) -> pd.DataFrame:
    """The events of one chain's cases (empty frame when the client has no event log).

    Taken once per loaded client and chain; each call returns its own frame (changing it
    leaves the client and later calls untouched).
    """
    if client.events is None:
        return pd.DataFrame(columns=["case_id", "activity", "timestamp", "row"])
    cache = _client_cache(client, "_chain_events")
    if chain_id not in cache:
        rows = _event_rows_by_chain(client).get(chain_id)
        ev = client.events.iloc[:0] if rows is None else client.events.iloc[rows]
        cache[chain_id] = ev.reset_index(drop=True)
    return _callers_copy(cache[chain_id])


def _callers_copy(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame the caller may change without changing ``frame``: a shallow copy where pandas
    copies on write (always from pandas 3), a deep one otherwise."""
    cow = int(pd.__version__.split(".")[0]) >= 3 or pd.get_option("mode.copy_on_write") is True
    return frame.copy(deep=not cow)


def _client_cache(client, name: str) -> dict:
    """A per-client store of derived results, emptied when ``client.events`` is replaced."""
    hit = client.__dict__.get(name)
    if hit is None or hit[0] is not client.events:
        hit = client.__dict__[name] = (client.events, {})
    return hit[1]


def _event_rows_by_chain(client) -> dict:
    """Positions of each chain's events in ``client.events``, computed once per loaded client
    (a membership test on a million Arrow strings per call cost seconds)."""
    cache = _client_cache(client, "_event_rows_by_chain")
    if "rows" not in cache:
        chain = client.events[["case_id"]].merge(client.cases[["case_id", "chain"]].drop_duplicates("case_id"),
                                                 on="case_id", how="left", sort=False)["chain"]
        cache["rows"] = {k: np.sort(v) for k, v in chain.groupby(chain.to_numpy(dtype=object), sort=False)
                         .indices.items()}
    return cache["rows"]


def _chain_log(client, chain_id: str) -> tuple[_Log, _Conformance, list]:
    """One chain's prepared log, its conformance to the designed journey and the designed
    steps, computed once per loaded client and chain (a journeys report needs them for the
    summary, the step deviations, the funnel, the features and the cost)."""
    cache = _client_cache(client, "_chain_logs")
    if chain_id not in cache:
        chain = client.config.chain(chain_id)
        if chain.journey is None:
            raise AnalysisError(f"chain '{chain_id}' has no designed journey (journey.steps in client.yaml)")
        steps = _designed_steps(chain.journey.steps)
        log = _prepare(chain_events(client, chain_id), f"events of chain '{chain_id}'")
        cache[chain_id] = (log, _conformance(log, steps), steps)
    return cache[chain_id]


def chain_conformance(client, chain_id: str) -> pd.DataFrame:
    """:func:`conformance` of one chain's events to its designed journey in client.yaml."""
    log, c, _ = _chain_log(client, chain_id)
    return _conformance_frame(log, c)


def chain_step_deviation(client, chain_id: str) -> pd.DataFrame:
    """:func:`step_deviation` of one chain's events against its designed journey."""
    log, c, steps = _chain_log(client, chain_id)
    return _step_deviation_frame(log, c, steps)


def chain_funnel(client, chain_id: str) -> pd.DataFrame:
    """:func:`funnel` of one chain's events through its designed steps."""
    log, c, steps = _chain_log(client, chain_id)
    return _funnel_frame(log, c, steps)


def chain_journey_features(client, chain_id: str) -> pd.DataFrame:
    """:func:`journey_features` for one chain, with the design and contacts from client.yaml
    (an empty frame when the chain has no designed journey or no events).

    Computed once per loaded client and chain (the journeys report and :func:`journey_cost`
    both ask for them); each call returns its own copy.
    """
    cache = _client_cache(client, "_journey_features")
    if chain_id not in cache:
        chain = client.config.chain(chain_id)
        if chain.journey is None or client.events is None or chain_id not in _event_rows_by_chain(client):
            cache[chain_id] = pd.DataFrame(columns=["case_id"])
        else:
            log, c, _ = _chain_log(client, chain_id)
            k = client.config.contacts
            cache[chain_id] = _features_frame(log, c, k.avoidable, k.repeat_within_days, k.channels or None,
                                              k.activities, k.activity_pattern)
    return cache[chain_id].copy()


def journey_cost(client, chain_id: str) -> dict:
    """The result KPI of conforming against deviating journeys, per deviation type, and with
    against without avoidable contacts — each with its interval and base rules.

    Returns a dict of tidy frames (``by_fit``, ``by_deviation``, ``by_avoidable``) and the
    change test of deviating against conforming (``difference``, or None when a group is below
    the minimum base). Association only: deviating cases may differ in other ways too.
    """
    out = {"by_fit": pd.DataFrame(), "by_deviation": pd.DataFrame(), "by_avoidable": pd.DataFrame(),
           "difference": None}
    if client.linked is None:
        return out
    feats = chain_journey_features(client, chain_id)
    if feats.empty:
        return out
    conf = chain_conformance(client, chain_id)[["case_id", "deviation"]]
    resp = client.linked[client.linked["chain"] == chain_id][["case_id", "score"]]
    d = resp.merge(feats, on="case_id").merge(conf, on="case_id")
    d["journey"] = np.where(d["fits"] == 1, "as designed", "deviating")
    d["avoidable contact"] = np.where(d["n_avoidable"] > 0, "one or more", "none")
    rep = client.config.reporting
    scale = client.config.result_kpi.kpi_scale
    for key, col in (("by_fit", "journey"), ("by_deviation", "deviation"), ("by_avoidable", "avoidable contact")):
        if key == "by_avoidable" and not client.config.contacts.avoidable:
            continue  # no avoidable contact declared: nothing to compare
        out[key] = kpis.result_kpi_by(d, "score", scale, by=col, flag=rep.min_base_flag,
                                      suppress=rep.min_base_suppress)
    a = d.loc[d["journey"] == "as designed", "score"]
    b = d.loc[d["journey"] == "deviating", "score"]
    if min(len(a), len(b)) >= max(rep.min_base_suppress, kpis.MIN_CHANGE_N):
        if scale["type"] == "nps":
            out["difference"] = kpis.nps_change(a, b)
        elif client.config.result_kpi.measure in ("share", "top_box"):  # percentage points of the share
            top = list(scale["top_box"])
            out["difference"] = kpis.mean_change(100.0 * a.isin(top), 100.0 * b.isin(top))
        else:
            out["difference"] = kpis.mean_change(a, b)
    return out


# --------------------------------------------------------------------------------------------
# the journeys section of a report: every table with its base, under the client's minimum bases
# --------------------------------------------------------------------------------------------



def chain_log(client, chain_id: str) -> PreparedLog:
    """The prepared log of one chain's events (prepared once per loaded client and chain)."""
    return _chain_log(client, chain_id)[0]


def chain_variants(client, chain_id: str) -> pd.DataFrame:
    """:func:`variants` of one chain's events, from its prepared log."""
    return variants(chain_log(client, chain_id))


def chain_directly_follows(client, chain_id: str) -> pd.DataFrame:
    """:func:`directly_follows` of one chain's events, from its prepared log."""
    return directly_follows(chain_log(client, chain_id))


def _pair_cases(src: np.ndarray, dst: np.ndarray, case: np.ndarray, labels: pd.Index,
                names: tuple[str, str]) -> pd.DataFrame:
    """Per (src, dst) code pair the number of distinct cases it occurs in."""
    if not len(src):
        return pd.DataFrame({names[0]: [], names[1]: [], "cases": np.zeros(0, np.int64)})
    width = max(len(labels), 1)
    n_case = int(case.max()) + 1
    key = np.unique((src.astype(np.int64) * width + dst) * n_case + case) // n_case
    pair, counts = np.unique(key, return_counts=True)
    return pd.DataFrame({names[0]: labels[pair // width], names[1]: labels[pair % width],
                         "cases": counts.astype(np.int64)})


def _slowest(table: pd.DataFrame, cases: pd.DataFrame, names: tuple[str, str], min_base: int, flag: int,
             n: int) -> pd.DataFrame:
    t = table.merge(cases, on=list(names), how="left")
    t = t[t["cases"] >= min_base]
    t = t.sort_values(["median_hours", "p90_hours", "cases"], ascending=[False, False, False], kind="stable")
    t = t.head(n).reset_index(drop=True)
    t["small_base"] = t["cases"] < flag
    return t[[*names, "cases", "count", "median_hours", "p90_hours", "small_base"]]


def deviation_classes(log, designed_steps: Sequence[str]) -> pd.DataFrame:
    """How many cases show each class of deviation from the designed journey (a case can show
    several): ``class`` (skipped, repeated, extra, out_of_order, and none = as designed),
    ``cases``, ``share`` of all cases and ``events`` (the deviating events or missing steps)."""
    steps = _designed_steps(designed_steps)
    log = _prepared(log)
    c = _conformance(log, steps)
    return _deviation_classes_frame(log, c)


def _deviation_classes_frame(log: _Log, c: _Conformance) -> pd.DataFrame:
    n = log.n_cases
    rows = []
    for name in ("skipped", "repeated", "extra", "out_of_order"):
        v = getattr(c, name)
        rows.append({"class": name, "cases": int((v > 0).sum()), "events": int(v.sum())})
    rows.append({"class": "none", "cases": int(c.fits.sum()), "events": 0})
    out = pd.DataFrame(rows)
    out["share"] = out["cases"] / n if n else np.nan
    return out[["class", "cases", "share", "events"]]


def extra_activities(log, designed_steps: Sequence[str]) -> pd.DataFrame:
    """The activities outside the designed journey: ``activity``, ``cases`` (with at least one),
    ``share`` of all cases, ``events``; most cases first."""
    steps = _designed_steps(designed_steps)
    log = _prepared(log)
    designed = log.activities.get_indexer(pd.Index(steps, dtype=object))
    extra = ~np.isin(log.act, designed[designed >= 0])
    n_act = len(log.activities)
    events = np.bincount(log.act[extra], minlength=n_act)
    pairs = np.unique(log.case[extra] * max(n_act, 1) + log.act[extra])
    cases = np.bincount(pairs % max(n_act, 1), minlength=n_act)
    keep = np.flatnonzero(events > 0)
    out = pd.DataFrame({"activity": log.activities[keep], "cases": cases[keep].astype(np.int64),
                        "events": events[keep].astype(np.int64)})
    out["share"] = out["cases"] / log.n_cases if log.n_cases else np.nan
    out = out.sort_values(["cases", "events", "activity"], ascending=[False, False, True], kind="stable")
    return out[["activity", "cases", "share", "events"]].reset_index(drop=True)


def difference_phrase(diff: float, low: float, high: float, unit: str, subject: str, other: str) -> Message:
    """A difference worded as one: "deviating journeys scored 48.9 points lower (95% interval 40.1 to
    57.7 lower) than journeys as designed". Numbers follow the package's one rounding rule
    (:mod:`ipm_analysis.present`; two decimals for a mean on a scale)."""
    def side(v: float) -> Message:
        return Message("word.higher" if v > 0 else "word.lower")

    base = 2 if unit.endswith("scale") else 1
    if low > 0 or high < 0:
        a, b = sorted([abs(low), abs(high)])
        d, a, b = messages.interval(abs(diff), a, b, base)
        interval = Message("difference.interval_one_side", low=a, high=b, side=side(high))
    else:
        d, a, b = messages.interval(abs(diff), abs(low), abs(high), base)
        interval = Message("difference.interval_both_sides", low=a, high=b)
    head = Message("difference.same", subject=subject, other=other) if diff == 0 else \
        Message("difference.scored", subject=subject, other=other, difference=d, unit=unit, side=side(diff))
    return Message("difference.phrase", head=head, interval=interval)


def result_difference_unit(client) -> Message:
    """The unit a difference in the result KPI is worded in: points (NPS), percentage points (a
    share) or points on the scale (a mean)."""
    if client.config.result_kpi.scale == "nps":
        return Message("unit.points")
    if client.config.result_kpi.measure in ("share", "top_box"):
        return Message("unit.percentage_points")
    return Message("unit.points_on_the_scale")


@dataclass(frozen=True)
class JourneySection:
    """Everything the journeys section of a report shows for one chain, with the client's
    minimum bases applied: no row of any table rests on fewer cases than ``min_base``
    (``reporting.min_base_suppress``); rows under ``flag_base`` carry ``small_base``. Each table
    that is empty has its reason in ``notes`` (one sentence, keyed by the table's name)."""

    chain_id: str
    n_cases: int
    min_base: int
    flag_base: int
    as_designed: float
    mean_fitness: float
    headline: str
    deviation_classes: pd.DataFrame
    extra_activities: pd.DataFrame
    variants: pd.DataFrame
    n_variants: int
    variants_shown_share: float
    variants_note: str
    step_deviation: pd.DataFrame
    funnel: pd.DataFrame
    slow_steps: pd.DataFrame
    slow_handovers: pd.DataFrame
    contacts: pd.DataFrame
    channels: pd.DataFrame
    notes: dict

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the section by name, each with its base column."""
        return {"deviation_classes": self.deviation_classes, "extra_activities": self.extra_activities,
                "variants": self.variants, "step_deviation": self.step_deviation, "funnel": self.funnel,
                "slow_steps": self.slow_steps, "slow_handovers": self.slow_handovers, "contacts": self.contacts,
                "channels": self.channels}

    #: the column that holds each table's base (cases)
    BASES = {"deviation_classes": "base", "extra_activities": "cases", "variants": "cases",
             "step_deviation": "n_cases", "funnel": "n_cases", "slow_steps": "cases", "slow_handovers": "cases",
             "contacts": "cases", "channels": "cases"}


def _pct(x: float) -> Message:
    return Message("value.share", value=Num(100 * x, present.decimals(100 * x, 0)))


def journey_section(client, chain_id: str, n_variants: int = 8, n_slowest: int = 5) -> JourneySection:
    """The journeys section of one chain, as a report shows it (see :class:`JourneySection`)."""
    rep = client.config.reporting
    say = functools.partial(messages.render, language=rep.language)
    lo, flag = rep.min_base_suppress, rep.min_base_flag
    client.config.chain(chain_id)  # an unknown chain is refused with the chains there are
    log, c, steps = _chain_log(client, chain_id)
    n = log.n_cases
    notes: dict[str, str] = {}
    empty = pd.DataFrame()
    as_designed = float(c.fits.mean()) if n else float("nan")
    mean_fit = float(c.fitness.mean()) if n else float("nan")
    if n < lo:
        why = say(Message("journeys.too_few_cases", n=Num(n, 0), lo=lo))
        for key in JourneySection.BASES:
            notes[key] = why
        return JourneySection(chain_id, n, lo, flag, as_designed, mean_fit, why, empty, empty, empty, 0,
                              float("nan"), why, empty, empty, empty, empty, empty, empty, notes)
    classes = _deviation_classes_frame(log, c)
    classes["base"] = n
    classes["small_base"] = n < flag
    extras = extra_activities(log, steps)
    n_extra_acts = len(extras)
    extras = extras[extras["cases"] >= lo].head(n_variants).reset_index(drop=True)
    extras["small_base"] = extras["cases"] < flag
    if extras.empty:
        notes["extra_activities"] = say(Message("journeys.no_extra") if n_extra_acts == 0 else
                                        Message("journeys.extra_below_base", lo=lo))
    # headline: why so few (or many) followed the design
    parts = []
    if as_designed < 1:
        dev = classes[classes["class"] != "none"].sort_values("cases", ascending=False, kind="stable")
        for cls, cases, share in zip(dev["class"], dev["cases"], dev["share"]):
            if cases == 0:
                continue
            if cls == "extra" and len(extras):
                parts.append(Message("journeys.class_share_extra", share=_pct(share),
                                     kind=Message(f"journeys.class_{cls}"), activity=extras["activity"].iloc[0],
                                     activity_share=_pct(extras["share"].iloc[0])))
            else:
                parts.append(Message("journeys.class_share", share=_pct(share), kind=Message(f"journeys.class_{cls}")))
    headline = say(Message("journeys.headline_deviations" if parts else "journeys.headline", share=_pct(as_designed),
                           n=Num(n, 0), steps=Seq(tuple(steps), "list.arrow"), deviations=Seq(tuple(parts))))
    # variants
    v = variants(log)
    total_variants = len(v)
    shown = v[v["cases"] >= lo].head(n_variants).copy()
    shown["as_designed"] = [tuple(a) == tuple(steps) for a in shown["activities"]]
    shown["small_base"] = shown["cases"] < flag
    shown_share = float(shown["share"].sum())
    note = Message("journeys.variants_note", total=Num(total_variants, 0), n=Num(n, 0), shown=len(shown), lo=lo,
                   share=_pct(shown_share))
    if not shown["as_designed"].any():
        note = Message("journeys.variants_designed_some" if as_designed > 0 else "journeys.variants_designed_none",
                       note=note, share=_pct(as_designed))
    note = say(note)
    if shown.empty:
        note = notes["variants"] = say(Message("journeys.variants_below_base", lo=lo, total=Num(total_variants, 0),
                                               n=Num(n, 0)))
    # steps, funnel
    steps_t = _step_deviation_frame(log, c, steps)
    funnel_t = _funnel_frame(log, c, steps)
    # slow steps and handovers: pairs seen in at least `lo` cases
    same = log.case[1:] == log.case[:-1]
    src, dst, case = log.act[:-1][same], log.act[1:][same], log.case[:-1][same]
    names = ("from_activity", "to_activity")
    dfg = _pair_stats(src, dst, (log.ts[1:] - log.ts[:-1])[same], log.activities, names)
    slow = _slowest(dfg, _pair_cases(src, dst, case, log.activities, names), names, lo, flag, n_slowest)
    if slow.empty:
        notes["slow_steps"] = say(Message("journeys.slow_below_base", lo=lo))
    hand = pd.DataFrame()
    if "link" in log.events.columns and log.events["link"].notna().any():
        link, labels = log.codes("link")
        has = link >= 0
        hc, hl, ht = log.case[has], link[has], log.ts[has]
        change = (hc[1:] == hc[:-1]) & (hl[1:] != hl[:-1])
        hnames = ("from_link", "to_link")
        ho = _pair_stats(hl[:-1][change], hl[1:][change], (ht[1:] - ht[:-1])[change], labels, hnames)
        hand = _slowest(ho, _pair_cases(hl[:-1][change], hl[1:][change], hc[:-1][change], labels, hnames), hnames,
                        lo, flag, n_slowest)
        if hand.empty:
            notes["slow_handovers"] = say(Message("journeys.handovers_below_base", lo=lo))
    else:
        notes["slow_handovers"] = say(Message("journeys.no_link"))
    # contacts: declared ones only
    k = client.config.contacts
    contacts_t = pd.DataFrame()
    if not k.declared:
        notes["contacts"] = say(Message("journeys.no_contacts"))
    else:
        f = chain_journey_features(client, chain_id)
        contacts_t = pd.DataFrame({
            "measure": [say(Message("journeys.measure_contacts")), say(Message("journeys.measure_avoidable")),
                        say(Message("journeys.measure_repeat", days=k.repeat_within_days))],
            "per_case": [f["n_contacts"].mean(), f["n_avoidable"].mean(), f["n_repeat"].mean()],
            "cases_with_any": [int((f[col] > 0).sum()) for col in ("n_contacts", "n_avoidable", "n_repeat")],
            "cases": len(f)})
        contacts_t["share_with_any"] = contacts_t["cases_with_any"] / contacts_t["cases"]
        contacts_t["small_base"] = contacts_t["cases"] < flag
    channels_t = pd.DataFrame()
    frame = log.events
    if "channel" in frame.columns and frame["channel"].notna().any():
        ratio = channel_mix(frame).ratio
        with_channel = frame.loc[frame["channel"].notna(), ["activity", "case_id"]]
        cases_per = with_channel.groupby("activity", sort=True)["case_id"].nunique()
        ratio.insert(1, "cases", cases_per.reindex(ratio["activity"]).to_numpy(dtype=np.int64))
        channels_t = ratio[ratio["cases"] >= lo].reset_index(drop=True)
        channels_t["small_base"] = channels_t["cases"] < flag
        if channels_t.empty:
            notes["channels"] = say(Message("journeys.channels_below_base", lo=lo))
    else:
        notes["channels"] = say(Message("journeys.no_channel"))
    return JourneySection(chain_id, n, lo, flag, as_designed, mean_fit, headline, classes, extras,
                          shown.reset_index(drop=True), total_variants, shown_share, note, steps_t, funnel_t, slow,
                          hand, contacts_t, channels_t, notes)


def journey_cost_sentence(client, cost: dict) -> str:
    """The difference between deviating and designed journeys in the result KPI, worded as a
    difference, or why there is none, in the report's language (``reporting.language``)."""
    return messages.render(journey_cost_message(client, cost), client.config.reporting.language)


def journey_cost_message(client, cost: dict) -> Message:
    """:func:`journey_cost_sentence` as a catalogue message: its key and numbers."""
    if client.linked is None:
        return Message("journeys.cost_no_survey")
    if cost["by_fit"].empty:
        return Message("journeys.cost_no_link")
    d = cost["difference"]
    if d is None:
        return Message("journeys.cost_too_few", n=client.config.reporting.min_base_suppress)
    unit = result_difference_unit(client)
    phrase = difference_phrase(d.diff, d.ci_low, d.ci_high, unit, Message("journeys.deviating_capital"),
                               Message("journeys.as_designed"))
    return Message("journeys.cost", difference=phrase, p=messages.p_text(d.p_value))
