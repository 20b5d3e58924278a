"""Data coverage, data quality and linkage of a loaded client: the first page of every report."""

from __future__ import annotations

import pandas as pd

from . import present
from .data import Client


def coverage(client: Client) -> pd.DataFrame:
    """One row per table: rows, cases or customers covered, and the time span."""
    cfg = client.config
    rows = []

    def span(s: pd.Series) -> tuple:
        s = s.dropna()
        if s.empty:
            return (None, None, 0)
        first, last = s.min(), s.max()
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        return (first.date(), last.date(), months)

    if client.responses is not None:
        f = cfg.tables.responses.file
        rows.append(("responses", f, len(client.responses), *span(client.responses["responded_at"])))
    cases_src = cfg.tables.cases
    cases_file = cases_src.file if cases_src and cases_src.file else f"derived from {cases_src.from_ if cases_src else 'events'}"
    rows.append(("cases", cases_file, len(client.cases), *span(client.cases["opened_at"])))
    if client.events is not None:
        ev = cfg.tables.events.file if cfg.tables.events else "derived from milestone columns"
        rows.append(("events", ev, len(client.events), *span(client.events["timestamp"])))
    return pd.DataFrame(rows, columns=["table", "source", "rows", "first", "last", "months"])


def cases_by_chain(client: Client) -> pd.DataFrame:
    """Cases per chain with the customer need it serves, the chain's owner and links."""
    counts = client.cases["chain"].value_counts()
    out = []
    for chain in client.config.chains:
        out.append({
            "chain": chain.name,
            "customer need": chain.need,
            "owner": chain.owner,
            "links": " → ".join(chain.links),
            "cases": int(counts.get(chain.id, 0)),
            "chain KPIs": len(chain.kpis),
        })
    return pd.DataFrame(out)


def quality(client: Client) -> pd.DataFrame:
    """The warnings found while loading, one row each (empty frame when the data are clean)."""
    rows = [
        {"file": p.file, "column": p.column or "", "finding": p.message,
         "example rows": ", ".join(map(str, p.rows[:5]))}
        for p in client.warnings
    ]
    return pd.DataFrame(rows, columns=["file", "column", "finding", "example rows"])


def linkage(client: Client) -> dict:
    """How many responses found their case; ``None`` values when there is no survey."""
    if client.linked is None:
        return {"responses": 0, "linked": 0, "rate": None, "by": client.config.linkage.by}
    n = len(client.linked)
    k = int(client.linked["linked"].sum())
    return {"responses": n, "linked": k, "rate": (k / n) if n else None, "by": client.config.linkage.by}


def missing_values(client: Client) -> pd.DataFrame:
    """Share of cases without a value, per chain KPI (not applicable or not yet measured)."""
    rows = []
    for chain in client.config.chains:
        sub = client.case_kpis[client.case_kpis["chain"] == chain.id]
        for k in chain.kpis:
            n = len(sub)
            miss = int(sub[k.id].isna().sum()) if n else 0
            rows.append({"chain": chain.name, "chain KPI": k.name, "cases": n,
                         "without value": miss, "share without value": (miss / n) if n else None})
    return pd.DataFrame(rows)


def missing_values_display(client: Client) -> pd.DataFrame:
    """:func:`missing_values` as a reader sees it: the share without value in percent, by the
    package's one rounding rule (:mod:`ipm_analysis.present`)."""
    t = missing_values(client)
    t["share without value"] = [("–" if v is None or pd.isna(v) else present.num(100 * v, 1) + "%")
                                for v in t["share without value"]]
    return t
