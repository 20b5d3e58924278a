"""Reporting periods: which of the last periods in a client's data are incomplete.

An incomplete last month (the export was cut mid-month, or holds a fraction of the usual volume)
would read as a sudden drop in every trend and control chart. :func:`partial_period` finds it;
the trends, the recent change and the control charts leave it out.
"""

from __future__ import annotations

import pandas as pd

from . import present
from .data import Client
from .messages import Message, Num, Seq

PERIOD_OFFSET = {"month": pd.DateOffset(months=1), "quarter": pd.DateOffset(months=3), "week": pd.DateOffset(weeks=1)}
PERIOD_WORD = {"month": "month", "quarter": "quarter", "week": "week"}
#: A last period with less than this share of the usual volume (median of the periods before) is partial.
PARTIAL_VOLUME = 0.5
#: A last period whose data end more than this many days before the period's end is partial.
PARTIAL_DAYS = 2


def data_end(client: Client) -> pd.Timestamp | None:
    """The last date in the data (answer, case closed or opened), as a day without time zone."""
    dates = []
    if client.responses is not None and "responded_at" in client.responses:
        dates.append(pd.to_datetime(client.responses["responded_at"]).max())
    if client.cases is not None:
        for col in ("closed_at", "opened_at"):
            if col in client.cases:
                dates.append(pd.to_datetime(client.cases[col]).max())
    dates = [d for d in dates if pd.notna(d)]
    if not dates:
        return None
    d = max(dates)
    return (d.tz_localize(None) if d.tzinfo is not None else d).normalize()


def partial_period(client: Client) -> dict | None:
    """The incomplete last period(s), to be left out of trends and the recent change.

    With ``reporting: {as_of: DATE}`` in client.yaml, every period that ends after that day is
    incomplete. Otherwise the last period is incomplete when the data's last date (the latest
    response or case date) falls more than ``PARTIAL_DAYS`` days before the period's end, or
    when it holds less than ``PARTIAL_VOLUME`` of the median volume (cases, or responses without
    cases) of up to six periods before it.

    Returns
    -------
    dict or None
        ``{"periods": [Timestamp, ...], "first": Timestamp, "label": "2026-01", "n": int,
        "usual_n": float or None, "last_date": Timestamp, "as_of": date or None, "reason": str,
        "sentence": str}``; None when the last period is complete.
    """
    rep = client.config.reporting
    step = PERIOD_OFFSET.get(rep.period, pd.DateOffset(months=1))
    table = client.cases if client.cases is not None and len(client.cases) else client.responses
    if table is None or "period" not in table or not len(table):
        return None
    counts = pd.to_datetime(table["period"]).value_counts().sort_index()
    periods = list(counts.index)
    if not periods:  # no dates at all: no periods, so none is partial
        return None
    last = periods[-1]
    last_date = data_end(client)
    as_of = getattr(rep, "as_of", None)
    partial: list = []
    if as_of is not None:
        cut = pd.Timestamp(as_of)
        partial = [p for p in periods if p + step - pd.Timedelta(days=1) > cut]
        reason = Message("partial.as_of", date=f"{cut:%Y-%m-%d}")
    else:
        usual = float(counts.iloc[-7:-1].median()) if len(counts) > 1 else None
        end = last + step - pd.Timedelta(days=1)
        short_date = last_date is not None and last_date < end - pd.Timedelta(days=PARTIAL_DAYS)
        low_volume = usual is not None and counts.iloc[-1] < PARTIAL_VOLUME * usual
        if short_date or low_volume:
            partial = [last]
        why = []
        if short_date:
            why.append(Message("partial.data_end", date=f"{last_date:%Y-%m-%d}"))
        if low_volume:
            k = int(counts.iloc[-1])
            why.append(Message("partial.holds_one" if k == 1 else "partial.holds", k=Num(k, 0),
                               usual=Num(usual, present.decimals(usual, 0))))
        reason = Seq(tuple(why), "list.and")
    if not partial or len(partial) >= len(periods):
        return None
    first = min(partial)
    fmt = "%Y-%m" if rep.period != "week" else "%Y-%m-%d"
    word = PERIOD_WORD.get(rep.period, "period")
    label = ", ".join(f"{p:{fmt}}" for p in sorted(partial))
    usual = float(counts[counts.index < first].iloc[-6:].median())
    many = len(partial) > 1
    sentence = Message("partial.many" if many else "partial.one", word=Message(f"partial.{word}{'s' if many else ''}"),
                       label=label, reason=reason)
    return {"periods": sorted(partial), "first": first, "label": label, "n": int(counts[counts.index >= first].sum()),
            "usual_n": usual, "last_date": last_date, "as_of": as_of, "reason": reason, "sentence": sentence}


def partial_period_sentence(client: Client) -> str:
    """One sentence on an incomplete last period, or that the last period is complete."""
    p = partial_period(client)
    return p["sentence"] if p else Message("partial.complete")
