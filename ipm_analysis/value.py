"""Money next to score: the avoidable contacts a chain KPI's improvement saves, what they cost, and
what the result-KPI gain is worth.

Two optional settings of client.yaml turn gains into money: ``contacts: {cost_per_contact: …}``
(what one avoidable contact costs) and ``result_kpi: {value_per_point: …}`` (what one point of the
result KPI is worth), both in ``reporting: {currency: …}``.

Contacts saved come from how the avoidable contacts per case differ between cases that meet a
chain KPI and cases that do not: the slope of an OLS of each case's avoidable contacts on its KPI
value (for a 0/1 KPI exactly the difference of the two means) with heteroskedasticity-robust HC2
errors (for a 0/1 KPI exactly the unequal-variance, Welch, standard error of that difference).
Moving the KPI by ``Δ`` then saves ``−slope · Δ`` avoidable contacts per case, times the chain's
cases per month. Like every driver in the report this is an association: cases that miss the KPI
may differ in other ways that bring contacts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .errors import AnalysisError
from .messages import analysis_error, reason

__all__ = ["ContactDifference", "Money", "agenda_money", "contact_difference", "money",
           "value_note"]


@dataclass(frozen=True)
class ContactDifference:
    """Avoidable contacts per case against a chain KPI's value.

    ``per_unit`` is the change in avoidable contacts per case per unit of the KPI (a share: a case
    that meets it against one that does not; negative when meeting it goes with fewer contacts),
    with its HC2 standard error, interval and p-value. ``mean_contacts`` is the chain's mean per
    case, ``cases_per_month`` its mean number of cases per complete month, ``n_cases`` the cases
    with both the KPI and an event trace.
    """

    chain: str
    kpi: str
    unit: str
    per_unit: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    n_cases: int
    mean_contacts: float
    cases_per_month: float


def contact_difference(client: Any, chain: str, kpi: str, ci: float = 0.95,
                       leave_out: Any = ()) -> ContactDifference:
    """How avoidable contacts per case differ with a chain KPI (see the module docs).

    ``leave_out``: periods not counted for the cases per month (an incomplete last period).
    Raises :class:`AnalysisError` when the chain has no event trace of its cases, no avoidable
    contacts are declared, or fewer than 10 cases remain.
    """
    import statsmodels.api as sm

    from . import journeys

    if not client.config.contacts.avoidable:
        raise analysis_error("value.error.no_avoidable")
    spec = next((k for k in client.config.chain(chain).kpis if k.id == kpi), None)
    if spec is None:
        raise AnalysisError(f"chain '{chain}' has no KPI '{kpi}'")
    feats = journeys.chain_journey_features(client, chain)
    if feats.empty or "n_avoidable" not in feats.columns:
        raise analysis_error("value.error.no_journey", chain=chain)
    cases = client.case_kpis[client.case_kpis["chain"] == chain]
    d = cases[["case_id", "period", kpi]].dropna().merge(feats[["case_id", "n_avoidable"]], on="case_id")
    if len(d) < 10 or d[kpi].nunique() < 2:
        raise analysis_error("value.error.too_few_cases", kpi=kpi, n=len(d))
    x = d[kpi].to_numpy(dtype=float)
    y = d["n_avoidable"].to_numpy(dtype=float)
    fit = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HC2")
    b, se = float(fit.params[1]), float(fit.bse[1])
    q = float(stats.norm.ppf(0.5 + ci / 2))
    skip = set(pd.to_datetime(list(leave_out)))
    per = pd.to_datetime(cases["period"])
    counts = per[~per.isin(skip)].value_counts()
    return ContactDifference(chain=chain, kpi=kpi, unit=spec.unit, per_unit=b, se=se, ci_low=b - q * se,
                             ci_high=b + q * se, p_value=float(fit.pvalues[1]), n_cases=len(d),
                             mean_contacts=float(y.mean()), cases_per_month=float(counts.mean()) if len(counts) else 0.0)


@dataclass(frozen=True)
class Money:
    """What a chain KPI's move is worth: contacts saved per month and their cost, next to the
    result-KPI gain and its value, each with its interval (``None`` where the client gave no price
    or no gain is known). Contacts saved are positive when fewer contacts are needed."""

    kpi_change: float
    cases_per_month: float
    contacts_saved_per_month: float | None
    contacts_ci_low: float | None
    contacts_ci_high: float | None
    cost_saved_per_month: float | None
    cost_ci_low: float | None
    cost_ci_high: float | None
    result_gain: float | None
    result_gain_ci_low: float | None
    result_gain_ci_high: float | None
    result_value: float | None
    result_value_ci_low: float | None
    result_value_ci_high: float | None
    currency: str | None


def _scaled(lo: float, hi: float, k: float) -> tuple[float, float]:
    a, b = lo * k, hi * k
    return (a, b) if a <= b else (b, a)


def money(diff: ContactDifference | None, kpi_change: float, cases_per_month: float | None = None,
          cost_per_contact: float | None = None, result_gain: float | None = None,
          result_gain_ci: tuple[float, float] | None = None, value_per_point: float | None = None,
          currency: str | None = None) -> Money:
    """Contacts saved per month by moving the KPI by ``kpi_change`` (its unit) for
    ``cases_per_month`` cases (default: the chain's), their cost, and the value of ``result_gain``."""
    saved = lo = hi = cost = clo = chi = None
    cpm = float(cases_per_month if cases_per_month is not None else (diff.cases_per_month if diff else 0.0))
    if diff is not None:
        k = -float(kpi_change) * cpm
        saved = diff.per_unit * k
        lo, hi = _scaled(diff.ci_low, diff.ci_high, k)
        if cost_per_contact is not None:
            cost, clo, chi = saved * cost_per_contact, lo * cost_per_contact, hi * cost_per_contact
    val = vlo = vhi = None
    glo, ghi = result_gain_ci if result_gain_ci is not None else (None, None)
    if result_gain is not None and value_per_point is not None:
        val = result_gain * value_per_point
        if result_gain_ci is not None:
            vlo, vhi = glo * value_per_point, ghi * value_per_point
    return Money(kpi_change=float(kpi_change), cases_per_month=cpm, contacts_saved_per_month=saved,
                 contacts_ci_low=lo, contacts_ci_high=hi, cost_saved_per_month=cost, cost_ci_low=clo,
                 cost_ci_high=chi, result_gain=result_gain, result_gain_ci_low=glo, result_gain_ci_high=ghi,
                 result_value=val, result_value_ci_low=vlo, result_value_ci_high=vhi, currency=currency)


def prices(client: Any) -> tuple[float | None, float | None, str | None]:
    """(cost per avoidable contact, value per result-KPI point, currency) from client.yaml."""
    cfg = client.config
    vpp = cfg.result_kpi.value_per_point if cfg.result_kpi is not None else None
    return cfg.contacts.cost_per_contact, vpp, cfg.reporting.currency


def agenda_money(client: Any, agenda: Any, ci: float = 0.95, leave_out: Any = ()) -> pd.DataFrame:
    """Money next to each action of the improvement agenda: contacts saved per month by reaching the
    KPI's target, their cost, and the value of the expected overall result-KPI gain.

    One row per agenda action (``rank, chain, kpi, name, kpi_change, cases_per_month,
    contacts_per_case_difference`` (+ interval) ``, contacts_saved_per_month`` (+ interval)
    ``, cost_saved_per_month`` (+ interval) ``, gain_overall`` (+ interval) ``, value`` (+ interval)
    ``, currency, note``); empty without agenda actions.
    """
    cost, vpp, cur = prices(client)
    rows = []
    actions = agenda.actions if agenda is not None else pd.DataFrame()
    for a in actions.itertuples():
        note = ""
        try:
            diff = contact_difference(client, a.chain, a.kpi, ci=ci, leave_out=leave_out)
        except AnalysisError as e:
            diff, note = None, reason(e)
        m = money(diff, float(a.target) - float(a.current), cost_per_contact=cost, result_gain=a.gain_overall,
                  result_gain_ci=(a.gain_overall_ci_low, a.gain_overall_ci_high), value_per_point=vpp, currency=cur)
        rows.append({"rank": a.rank, "chain": a.chain, "kpi": a.kpi, "name": a.name, "kpi_change": m.kpi_change,
                     "cases_per_month": m.cases_per_month,
                     "contacts_per_case_difference": diff.per_unit if diff else None,
                     "contacts_per_case_difference_ci_low": diff.ci_low if diff else None,
                     "contacts_per_case_difference_ci_high": diff.ci_high if diff else None,
                     "contacts_saved_per_month": m.contacts_saved_per_month,
                     "contacts_saved_ci_low": m.contacts_ci_low, "contacts_saved_ci_high": m.contacts_ci_high,
                     "cost_saved_per_month": m.cost_saved_per_month, "cost_saved_ci_low": m.cost_ci_low,
                     "cost_saved_ci_high": m.cost_ci_high, "gain_overall": m.result_gain,
                     "gain_overall_ci_low": m.result_gain_ci_low, "gain_overall_ci_high": m.result_gain_ci_high,
                     "value": m.result_value, "value_ci_low": m.result_value_ci_low,
                     "value_ci_high": m.result_value_ci_high, "currency": cur, "note": note})
    return pd.DataFrame(rows)


def value_note(client: Any) -> str:
    """What the money amounts rest on, in one sentence (empty when client.yaml sets no price)."""
    cost, vpp, cur = prices(client)
    if cost is None and vpp is None:
        return ""
    from . import messages, present

    language = messages.current_language()
    cat = messages.catalogue(language)
    c = f"{cur} " if cur else ""

    def loc(text: str) -> str:
        return text if language == "en" else present.localize_numbers(text, language)

    parts = []
    if cost is not None:
        parts.append(cat["value.contact_cost"].format(money=loc(f"{c}{cost:,.2f}")))
    if vpp is not None:
        unit = cat["value.nps_point" if client.config.result_kpi.scale == "nps" else "value.score_point"]
        parts.append(cat["value.point_worth"].format(unit=unit, money=loc(f"{c}{vpp:,.0f}")))
    return cat["value.note"].format(prices=cat["list.and"].join(parts))
