"""What the report notebooks show: the result KPI and chain KPIs of a client, ready to display.
The client's ``summary.json`` is :mod:`ipm_analysis.summary`.

The notebooks call these functions and display what they return; nothing here prints.
"""

from __future__ import annotations


import pandas as pd

from . import kpis, present
from . import messages
from .messages import Message, Num, Seq
from .data import Client
from .errors import AnalysisError
from .periods import partial_period, partial_period_sentence  # noqa: F401 (the report's sentence)
from .units import format_interval, format_value

# summary.json is written and read through its typed schema (:mod:`ipm_analysis.summary`);
# these names stay here for callers of the report helpers
from .summary import (SUMMARY_NAME, jsonable, drivers_summary, result_kpi_summary,  # noqa: E402,F401
                      update_summary)


def scale_of(client: Client) -> dict:
    """The result KPI's scale as the KPI functions take it (labels mapped to 1..k)."""
    return client.config.result_kpi.kpi_scale


def result_measure(client: Client) -> str:
    """How the result KPI is read (as :attr:`ModelFrame.measure`): ``"nps"``, ``"share"`` (two
    levels: % in the top one), ``"top_box"`` (``steer_on: top_box``) or ``"mean"``."""
    return client.config.result_kpi.measure


def top_label(client: Client) -> str:
    """The top box in the data's own words: ``result_kpi.top_box_name`` (``"stayed"``), the top-box
    labels (``"satisfied"``), or ``"in the top box (4, 5)"``."""
    r = client.config.result_kpi
    if r.top_words:
        return r.top_words
    spec = r.rating_scale
    return Message("result.top_box_label", values=", ".join(str(v) for v in spec.top_box))


def result_kpi_overall(client: Client):
    """The result KPI over all responses: an ``NPSResult`` or ``RatingResult`` (with intervals)."""
    if client.responses is None:
        return None
    scale = scale_of(client)
    scores = client.responses["score"]
    if scale["type"] == "nps":
        return kpis.nps(scores)
    return kpis.rating(scores, scale["min"], scale["max"], scale["top_box"], scale["bottom_box"])


def result_kpi_label(client: Client) -> str:
    """How the headline figure is expressed, e.g. 'NPS (points)' or 'Review score (mean, 1-5)'."""
    r = client.config.result_kpi
    if r.scale == "nps":
        return f"{r.name} (points, -100 to 100)"
    spec = r.rating_scale
    if result_measure(client) in ("share", "top_box"):
        return f"{r.name} (% {top_label(client)})"
    return f"{r.name} (mean, {spec.min}-{spec.max})"


def result_kpi_by_period(client: Client, by: str | None = None) -> pd.DataFrame:
    """The result KPI per period (and segment), small bases flagged, tiny ones suppressed."""
    rep = client.config.reporting
    return kpis.result_kpi_by(client.responses, "score", scale_of(client), by=by, period="period",
                              flag=rep.min_base_flag, suppress=rep.min_base_suppress)


def result_kpi_by_segment(client: Client, segment: str) -> pd.DataFrame:
    rep = client.config.reporting
    return kpis.result_kpi_by(client.linked if segment not in client.responses else client.responses,
                              "score", scale_of(client), by=segment,
                              flag=rep.min_base_flag, suppress=rep.min_base_suppress)


def in_reader_unit(client: Client, table: pd.DataFrame) -> pd.DataFrame:
    """A table of the result KPI by group (:func:`kpis.result_kpi_by`) in the reader's unit.

    ``value``, ``ci_low`` and ``ci_high`` become what :func:`result_kpi_label` names: NPS points,
    the share in percent (two labels, or ``steer_on: top_box``) or the mean score; a rating's
    ``top_box`` columns are in percent.
    """
    t = table.copy()
    if client.config.result_kpi is None or "top_box" not in t or scale_of(client)["type"] == "nps":
        return t  # no survey (an empty table), NPS points, or nothing to convert
    for c in ("top_box", "top_box_ci_low", "top_box_ci_high"):
        t[c] = 100.0 * t[c]
    if result_measure(client) in ("share", "top_box"):
        t["value"], t["ci_low"], t["ci_high"] = t["top_box"], t["top_box_ci_low"], t["top_box_ci_high"]
    return t


def result_kpi_monthly(client: Client) -> pd.DataFrame:
    """The result KPI per complete month in the reader's unit (:func:`in_reader_unit`); an
    incomplete last period (:func:`partial_period`) is left out, as in the trends. Small bases
    are flagged, tiny ones suppressed."""
    t = result_kpi_by_period(client)
    t = t[t["period"].notna()].copy()
    t["period"] = pd.to_datetime(t["period"])
    return in_reader_unit(client, _complete(t, client)).reset_index(drop=True)


def result_kpi_display(client: Client, table: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """A result-KPI table in the reader's unit (:func:`in_reader_unit`) as a reader sees it:
    the ``keys`` columns (a ``period`` as ``YYYY-MM``), the base, the value and its interval by
    the one rounding rule (:mod:`ipm_analysis.present`); a mean also with its top-box share."""
    measure = result_measure(client)
    base = 0 if measure == "nps" else 2 if measure == "mean" else 1
    label = {"nps": "NPS (points)", "mean": "mean"}.get(measure, f"% {top_label(client)}")
    keys = list(keys or [])
    rows = []
    for r in table.to_dict("records"):
        row = {("month" if k == "period" else k): (f"{r[k]:%Y-%m}" if k == "period" else r[k]) for k in keys}
        v, lo, hi = present.interval(r["value"], r["ci_low"], r["ci_high"], base, signed=measure == "nps")
        row.update({"responses": int(r["n"]), label: v, "95% interval": f"{lo} to {hi}"})
        if measure == "mean":
            t, tlo, thi = present.interval(r["top_box"], r["top_box_ci_low"], r["top_box_ci_high"], 1)
            row[f"% {top_label(client)}"] = f"{t} ({tlo} to {thi})"
        row["small base"] = "yes" if r.get("small_base") else ""
        rows.append(row)
    return pd.DataFrame(rows)


def result_kpi_monthly_note(client: Client) -> str | None:
    """Which incomplete last period the monthly result KPI leaves out, or None."""
    p = partial_period(client)
    if p is None:
        return None
    many = len(p["periods"]) > 1
    return Message("result.monthly_left_out_many" if many else "result.monthly_left_out", label=p["label"],
                   reason=p["reason"])


def chain_kpis(client: Client, period: bool = False, by: str | None = None) -> pd.DataFrame:
    """Each chain KPI against its target over the whole period (or per period)."""
    rep = client.config.reporting
    return kpis.chain_kpi_table(client.case_kpis, client.config.kpis, period_col="period" if period else None,
                                by=by, flag=rep.min_base_flag, suppress=rep.min_base_suppress)


def chain_kpi_display(table: pd.DataFrame) -> pd.DataFrame:
    """The chain-KPI table with values, intervals and targets formatted in their units."""
    rows = []
    for _, r in table.iterrows():
        u = r["unit"]
        rows.append({
            "chain": r.get("chain_name", r["chain"]),
            "chain KPI": r["kpi_name"],
            "owner (link)": r["link"],
            "cases": int(r["n"]),
            "value": format_value(r["value"], u),
            "95% interval": format_interval(r["value"], r["ci_low"], r["ci_high"], u),
            "target": format_value(r["target"], u) if pd.notna(r["target"]) else "–",
            "status": r["status"] + (" (small base)" if r.get("small_base", False) else ""),
        })
    return pd.DataFrame(rows)


def result_kpi_sentence(client: Client, overall) -> str:
    """One plain sentence on the result KPI with its interval and base."""
    if overall is None:
        return Message("result.no_survey")
    name = client.config.result_kpi.name
    rep = client.config.reporting
    if overall.n < rep.min_base_suppress:
        return Message("result.below_base", n=str(overall.n), base=str(rep.min_base_suppress), name=name)
    if overall.n < rep.min_base_flag:
        return Message("result.small_base", sentence=result_sentence(client, overall), flag=str(rep.min_base_flag))
    return result_sentence(client, overall)


def result_sentence(client: Client, overall) -> str:
    name = client.config.result_kpi.name
    n = Num(overall.n, 0)

    def pct(share: float) -> Num:
        return Num(100 * share, present.decimals(100 * share, 0))

    if client.config.result_kpi.scale == "nps":
        v, lo, hi = messages.interval(overall.value, overall.ci_low, overall.ci_high, 0, signed=True)
        return Message("result.nps_sentence", name=name, value=v, low=lo, high=hi, n=n,
                       promoters=pct(overall.promoters), detractors=pct(overall.detractors))
    spec = client.config.result_kpi.rating_scale
    share, s_lo, s_hi = messages.interval(100 * overall.top_box, 100 * overall.top_box_ci_low,
                                          100 * overall.top_box_ci_high, 1)
    share_text = Message("result.share_text", share=share, top=top_label(client), low=s_lo, high=s_hi)
    if result_measure(client) == "share":
        return Message("result.share_sentence", name=name, share=share_text, n=n)
    m, m_lo, m_hi = messages.interval(overall.mean, overall.mean_ci_low, overall.mean_ci_high, 2)
    mean_text = Message("result.mean_text", mean=m, min=str(spec.min), max=str(spec.max), low=m_lo, high=m_hi)
    if result_measure(client) == "top_box":
        return Message("result.top_box_sentence", name=name, share=share_text, mean=mean_text, n=n)
    return Message("result.mean_sentence", name=name, share=share_text, mean=mean_text, n=n)


def chain_kpi_sentence(table: pd.DataFrame) -> str:
    """How many chain KPIs are on and below target."""
    n = len(table)
    below = table[table["status"] == "below target"]
    if n == 0:
        return Message("chains.no_kpi_reported")
    text = Message("chains.on_target_count", on=Num(n - len(below), 0), n=Num(n, 0))
    if len(below):
        names = Seq(tuple(Message("chains.kpi_of_link", kpi=r.kpi_name, link=r.link) for r in below.itertuples()))
        text = Message("chains.below_target_list", head=text, names=names)
    return text


# characters with a meaning in Markdown (emphasis, code, links and images, headings, tables,
# autolinks such as ``javascript:``, TeX between ``$``), written as character references so they show as text
_MARKDOWN_SPECIAL = {c: f"&#{ord(c)};" for c in "\\*_`[]()!#{}|~:$"}


def escape(text: str) -> str:
    """Client-supplied text (titles, chain and KPI names) made inert for Markdown/HTML output.

    HTML is escaped, and every character Markdown gives a meaning is written as a character
    reference: a title ``![p](http://host/p.png)`` or ``[t](javascript:alert(1))`` shows as
    that text, and is neither an image the browser fetches nor a link. Line breaks become
    spaces (a title is one line).
    """
    import html

    one_line = " ".join(str(text).split())
    return "".join(_MARKDOWN_SPECIAL.get(c) or html.escape(c, quote=True) for c in one_line)


def target_gaps(table: pd.DataFrame) -> pd.DataFrame:
    """Distance of each chain KPI to its target in % of the target; positive = better than target.

    Units differ between KPIs (shares, days), so the figure compares relative distances. KPIs
    without a (non-zero) target are left out.
    """
    rows = []
    for r in table.itertuples():
        if pd.isna(r.target) or r.target == 0:
            continue
        sign = 1.0 if r.direction == "higher" else -1.0
        scale = 100.0 / abs(r.target)
        ends = sorted([sign * (r.ci_low - r.target) * scale, sign * (r.ci_high - r.target) * scale])
        rows.append({"label": f"{r.kpi_name} ({r.link})", "gap_pct": sign * (r.value - r.target) * scale,
                     "low": ends[0], "high": ends[1], "status": r.status})
    return pd.DataFrame(rows, columns=["label", "gap_pct", "low", "high", "status"])


def has_answer_dates(client: Client) -> bool:
    """Whether the survey answers carry a date (``responded_at``); False without a survey."""
    return client.responses is not None and bool(client.responses["responded_at"].notna().any())


def has_case_dates(client: Client) -> bool:
    """Whether the cases carry a date (``opened_at`` or ``closed_at``), so chain KPIs have months."""
    return bool(client.case_kpis["period"].notna().any())


def dates_missing(client: Client) -> str | None:
    """One plain sentence when the data lack the dates that the analyses by period need, else None.

    A survey export without an answer date, or a customer file without any date, still gets
    every other analysis; only what is shown by month (trends, the recent change, the monthly
    association) is left out.
    """
    answers = client.responses is None or has_answer_dates(client)
    cases = has_case_dates(client)
    if answers and cases:
        return None
    if not answers and not cases:
        return ("The data carry no dates (neither an answer date nor a case date), so nothing is shown by month: "
                "no trends, no recent change, no monthly association. Everything else is reported.")
    if not answers:
        return ("The survey export has no answer date, so the result KPI is not shown by month: no recent change "
                "and no monthly association. Chain KPIs by month and everything else are reported.")
    return ("The cases carry no date, so the chain KPIs are not shown by month: no trends and no monthly "
            "association. Everything else is reported.")


def _complete(frame: pd.DataFrame, client: Client, col: str = "period") -> pd.DataFrame:
    p = partial_period(client)
    if p is None:
        return frame
    return frame[pd.to_datetime(frame[col]) < p["first"]]


def chain_kpis_monthly(client: Client) -> pd.DataFrame:
    """Each chain KPI per complete month (small bases flagged, tiny ones suppressed).

    An incomplete last period (:func:`partial_period`) is left out.
    """
    table = chain_kpis(client, period=True)
    table = table[table["period"].astype(str) != "all"].copy()
    table["period"] = pd.to_datetime(table["period"])
    table = table[table["period"].notna()]  # cases without a date have no month
    return _complete(table, client).reset_index(drop=True)


def chain_kpi_trends(client: Client, monthly: pd.DataFrame | None = None) -> pd.DataFrame:
    """Slope per month of each chain KPI with its interval and a plain reading."""
    monthly = chain_kpis_monthly(client) if monthly is None else monthly
    return kpis.kpi_trend(monthly)


def segment_result_kpi(client: Client) -> pd.DataFrame:
    """The result KPI per value of every segment, stacked (``segment``, ``group`` columns)."""
    if client.linked is None:
        return pd.DataFrame()
    parts = []
    for seg in client.config.segments:
        t = result_kpi_by_segment(client, seg.id).rename(columns={seg.id: "group"})
        t.insert(0, "segment", seg.name)
        t["group"] = t["group"].astype("string").fillna("(missing)")
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def segment_chart(client: Client, language: str | None = None) -> pd.DataFrame:
    """The result KPI by segment as the report charts it: :func:`segment_result_kpi` in the
    reader's unit (:func:`in_reader_unit`) with a ``label`` per bar, "segment: group", and
    "(small base)" after a group whose base is small, in ``language`` (the report's language by
    default)."""
    seg = in_reader_unit(client, segment_result_kpi(client))
    if not len(seg):
        return seg
    language = language or messages.current_language()
    mark = " (" + messages.translate("small base", language) + ")"
    small = seg["small_base"].fillna(False).astype(bool)
    return seg.assign(label=seg["segment"] + ": " + seg["group"].astype(str) + small.map({True: mark, False: ""}))


def segment_chain_kpis(client: Client) -> pd.DataFrame:
    """Chain KPIs per value of every case-table segment, stacked (``segment``, ``group``)."""
    parts = []
    for seg in client.config.segments:
        if seg.table != "cases":
            continue
        t = chain_kpis(client, by=seg.id).rename(columns={seg.id: "group"})
        t.insert(0, "segment", seg.name)
        t["group"] = t["group"].astype("string").fillna("(missing)")
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def recent_change(client: Client, months: int = 3):
    """The result KPI of the last ``months`` months against the ``months`` before, with a test."""
    if client.responses is None or not has_answer_dates(client):
        return None
    r = _complete(client.responses, client)
    if not len(r):
        return None
    last = r["period"].max()
    cut = last - pd.DateOffset(months=months - 1)
    prev = cut - pd.DateOffset(months=months)
    after = r.loc[r["period"] >= cut, "score"]
    before = r.loc[(r["period"] >= prev) & (r["period"] < cut), "score"]
    rep = client.config.reporting
    if min(len(after), len(before)) < max(rep.min_base_suppress, kpis.MIN_CHANGE_N):
        return None
    if scale_of(client)["type"] == "nps":
        res = kpis.nps_change(before, after)
    elif result_measure(client) in ("share", "top_box"):
        top = client.config.result_kpi.rating_scale.top_box
        res = kpis.mean_change(100.0 * before.isin(top), 100.0 * after.isin(top))
    else:
        res = kpis.mean_change(before, after)
    return {"before_months": f"{prev:%Y-%m} to {(cut - pd.DateOffset(months=1)):%Y-%m}",
            "after_months": f"{cut:%Y-%m} to {last:%Y-%m}", "result": res}


def change_sentence(client: Client, change) -> str:
    if change is None and client.responses is not None and not has_answer_dates(client):
        return "Recent months are not compared: the survey export has no answer date."
    if change is None:
        return "Too few responses to compare recent months with the months before."
    res = change["result"]
    measure = result_measure(client)
    unit = {"nps": "points", "share": "percentage points", "top_box": "percentage points"}.get(measure, "on the scale")
    base = 2 if measure == "mean" else 1
    verdict = ("a change unlikely to be chance alone (p < 0.05)" if res.p_value < 0.05
               else "within what chance alone could give (p ≥ 0.05)")
    after, before = present.pair(res.after, res.before, base)
    if measure in ("share", "top_box"):
        after, before = f"{after} % {top_label(client)}", f"{before} %"
    d, lo, hi = present.interval(res.diff, res.ci_low, res.ci_high, base, signed=True)
    partial = partial_period(client)
    note = f" ({partial['label']} left out: incomplete)" if partial else ""
    return (f"{client.config.result_kpi.name} {change['after_months']}{note}: {after} against "
            f"{before} in {change['before_months']}; a difference of {d} {unit} "
            f"(95% interval {lo} to {hi}), {verdict}.")


def monthly_association(client: Client, max_lag: int = 3, monthly: pd.DataFrame | None = None) -> pd.DataFrame:
    """Monthly result KPI against each chain KPI 0..max_lag months earlier (HAC errors).

    ``monthly``: the client's :func:`chain_kpis_monthly`, when the caller has it already.
    Association only: months where both moved together, not proof that one moved the other.
    """
    if client.responses is None or not has_answer_dates(client) or not has_case_dates(client):
        return pd.DataFrame()
    result = result_kpi_monthly(client)[["period", "value"]].rename(columns={"value": "result"})
    monthly_kpis = chain_kpis_monthly(client) if monthly is None else monthly
    parts = []
    for (chain, kpi_id), g in monthly_kpis.groupby(["chain", "kpi"], sort=False):
        frame = result.merge(g[["period", "value"]].rename(columns={"value": "kpi"}), on="period", how="outer")
        t = kpis.lagged_association(frame, "result", "kpi", max_lag=max_lag)
        t.insert(0, "kpi_name", g["kpi_name"].iloc[0])
        t.insert(0, "kpi", kpi_id)
        t.insert(0, "chain", chain)
        t["unit"] = g["unit"].iloc[0]
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def agenda_table(agenda) -> pd.DataFrame:
    """The improvement agenda as a reader sees it: action, owner, current → target, gain."""
    a = agenda.actions
    if a.empty:
        return pd.DataFrame(columns=["rank", "chain KPI", "owning link", "chain owner", "now → target",
                                     "expected gain (overall)", "95% interval"])
    d = 2 if agenda.kpi_unit.startswith("points on") else 1  # a mean on a 1-5 scale needs two decimals
    gains = [present.interval(g, lo, hi, d, signed=True) for g, lo, hi in
             zip(a["gain_overall"], a["gain_overall_ci_low"], a["gain_overall_ci_high"], strict=True)]
    return pd.DataFrame({
        "rank": a["rank"],
        "chain KPI": a["name"],
        "owning link": a["link"],
        "chain owner": a["owner"],
        "now → target": a["current_label"] + " → " + a["target_label"],
        messages.translate("expected gain (overall, {unit})", messages.current_language(),
                           unit=messages.render(agenda.kpi_unit, messages.current_language())): [g[0] for g in gains],
        "95% interval": [f"{g[1]} to {g[2]}" for g in gains],
    })


def matrix_display(matrix: pd.DataFrame) -> pd.DataFrame:
    """The importance-performance matrix as a reader sees it: each chain KPI's share of the
    explained variance in percent with its interval, its distance to target in % of the target,
    and its quadrant; numbers by the one rounding rule (:mod:`ipm_analysis.present`)."""
    rows = []
    for r in matrix.to_dict("records"):
        v, lo, hi = present.interval(100 * r["share"], 100 * r["share_ci_low"], 100 * r["share_ci_high"], 0)
        gap = r.get("gap_relative")
        rows.append({"chain": r["chain"], "chain KPI": r["name"], "share of explained variance (%)": v,
                     "95% interval": f"{lo} to {hi}",
                     "distance to target (% of target)": "–" if gap is None or pd.isna(gap)
                     else present.num(100 * gap, 0, signed=True),
                     "quadrant": r["quadrant"]})
    return pd.DataFrame(rows)


def trends_display(trends: pd.DataFrame) -> pd.DataFrame:
    """Chain-KPI trends (:func:`chain_kpi_trends`) as a reader sees them: the slope per month in
    the KPI's unit (a share in percentage points) with its interval, by the one rounding rule."""
    rows = []
    for r in trends.to_dict("records"):
        f = 100.0 if r["unit"] == "share" else 1.0
        unit = "pp" if r["unit"] == "share" else r["unit"]
        if pd.isna(r["slope"]):
            slope, ci = "–", "–"
        else:
            s_, lo, hi = present.interval(f * r["slope"], f * r["ci_low"], f * r["ci_high"], 2, signed=True)
            slope, ci = f"{s_} {unit}", f"{lo} to {hi}"
        rows.append({"chain": r["chain"], "kpi": r["kpi"], "months": r["n_months"], "slope per month": slope,
                     "95% interval": ci, "reading": r["reading"]})
    return pd.DataFrame(rows)


def association_display(assoc: pd.DataFrame) -> pd.DataFrame:
    """The monthly association (:func:`monthly_association`) as a reader sees it: coefficient
    and interval by the one rounding rule, the Holm-adjusted p-value, the reading."""
    rows = []
    for r in assoc.to_dict("records"):
        if pd.isna(r["coef"]):
            coef, ci = "–", "–"
        else:
            coef, lo, hi = present.interval(r["coef"], r["ci_low"], r["ci_high"], 2, signed=True)
            ci = f"{lo} to {hi}"
        rows.append({"chain": r["chain"], "kpi": r["kpi"], "lag": r["lag"], "months": r["n_months"],
                     "coefficient": coef, "95% interval": ci,
                     "p (Holm)": "–" if pd.isna(r["p_holm"]) else present.p_value(r["p_holm"]),
                     "reading": r["reading"]})
    return pd.DataFrame(rows)


def effects_table(models) -> pd.DataFrame:
    """Each driver's association with the result KPI, in the KPI's own unit, with its interval."""
    e = models.effects
    unit = models.kpi_unit
    d = 2 if unit.startswith("points on") else 1
    eff = [present.interval(v, lo, hi, d, signed=True) for v, lo, hi in
           zip(e["effect_kpi"], e["effect_kpi_ci_low"], e["effect_kpi_ci_high"], strict=True)]
    return pd.DataFrame({
        "chain KPI": e["name"],
        "change": e["change_label"],
        messages.translate("associated change ({unit})", messages.current_language(),
                           unit=messages.render(unit, messages.current_language())): [x[0] for x in eff],
        "95% interval": [f"{x[1]} to {x[2]}" for x in eff],
        "ordinal-model check": [present.num(v, d, signed=True) for v in e["effect_kpi_ordinal"]],
        "p": e["p_value_kpi"].map(present.p_value),
        "VIF": e["vif"].map(lambda v: present.num(v, 1)),
    })


def chain_model_notes(client: Client, agenda) -> list[Message]:
    """What the driver analysis left out, for the reader: each chain that could not be analysed,
    with why (too few responses, no chain KPI that varies, ...), and each chain KPI left out of its
    chain's model (it does not vary, or has no value), in the order of client.yaml.

    Returns
    -------
    list of Message
        Empty when every chain was analysed with all its KPIs.
    """
    out = []
    for chain in client.config.chains:
        models = agenda.models.get(chain.id)
        if models is None:
            note = agenda.chain_notes.get(chain.id)
            if note:
                out.append(Message("drivers.chain_note", chain=chain.name, why=note))
            continue
        mf = models.frame
        out += [Message("drivers.kpi_left_out", chain=chain.name, name=mf.dropped_names.get(d, d), why=why)
                for d, why in mf.dropped_drivers.items()]
    return out


def threshold_analyses(client: Client, agenda) -> list[dict]:
    """Thresholds and response curves of every chain KPI measured in time or counts, and of every
    declared companion (e.g. days late behind on time), per chain analysed.

    Returns
    -------
    list of dict
        ``{"chain", "driver", "name", "unit", "kpi_unit", "threshold" (Threshold or None),
        "curve" (DataFrame or None), "reading"}``; a driver that cannot be analysed has a
        reading saying why.
    """
    from . import effects
    from .modelframe import companion_frames

    out = []
    for chain_id, models in agenda.models.items():
        mf = models.frame
        pairs = [(mf, d) for d in mf.drivers if mf.specs[d].unit in effects.THRESHOLD_UNITS]
        if client is not None and mf.chain is not None:
            pairs += [(cf, cf.drivers[0]) for cf in companion_frames(client, mf.chain) if cf.drivers]
        for frame, d in pairs:
            spec = frame.specs[d]
            row = {"chain": chain_id, "driver": d, "name": spec.name, "unit": spec.unit,
                   "kpi_unit": models.kpi_unit, "threshold": None, "curve": None}
            try:
                th = effects.find_threshold(frame, d)
                curve = effects.response_curve_table(frame, d)
            except AnalysisError as e:
                row["reading"] = Message("thresholds.not_analysed", name=spec.name, why=messages.reason_message(e))
            else:
                row.update(threshold=th, curve=curve, reading=effects.threshold_reading(th, curve))
            out.append(row)
    return out


def segment_differences(client: Client, agenda, alpha: float = 0.05) -> list[dict]:
    """Every segment-difference test of every chain analysed: one dict per (chain, segment,
    driver) with ``p_value``, ``differs`` (p below ``alpha``), the per-group slopes in the
    result KPI's unit and the reading."""
    from . import effects

    names = {s.id: s.name for s in client.config.segments}
    out = []
    for chain_id, models in agenda.models.items():
        for seg in models.frame.segments:
            try:
                t = effects.segment_difference(models.frame, seg)
            except AnalysisError:  # e.g. one group only in this chain, or groups below the base
                continue
            for r in t[t["p_value"].notna()].itertuples():
                out.append({"chain": chain_id, "chain_name": client.config.chain(chain_id).name, "segment": seg,
                            "segment_name": names.get(seg, seg), "driver": r.driver, "name": r.name,
                            "p_value": r.p_value, "differs": bool(r.p_value < alpha),
                            "slopes": {str(k): v for k, v in r.slopes.items()}, "reading": r.reading})
    return out


def segment_differences_text(client: Client, agenda, alpha: float = 0.05, tests: list[dict] | None = None) -> str:
    """Which chain KPIs' associations differ between segment groups, with a multiple-testing caution."""
    tests = segment_differences(client, agenda, alpha) if tests is None else tests
    n_tests = len(tests)
    lines = [Message("segments.line", chain=t["chain_name"], segment=t["segment_name"], reading=t["reading"])
             for t in tests if t["differs"]]
    if not n_tests:
        return Message("segments.none_tested")
    head = Message("segments.head", found=Num(len(lines), 0), n=Num(n_tests, 0), alpha=Num(alpha),
                   expected=Num(n_tests * alpha, present.decimals(n_tests * alpha, 1)))
    return Message("segments.text", lines=Seq((head, *lines), "list.newline"))
