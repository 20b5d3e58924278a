"""Demo client ``koffie``: coffee-machine installer, NPS, linkage by case, event log.

Its spec (the causal parameters, documented in docs/demo-clients.md, and its improvement
actions) and its generator, on the shared template."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .template import (_action_config, _actions_truth, _bt, _Built, _cat, _CONTRACT_EVENT_NAMES, _contrast, _CUTOFF,
                       _day, _Driver, _Events, _flag_effect, _ids, _KMAX, _known, _mix, _month_of, _N_DAYS, _params,
                       _pick_responses, _r, _reporting, _Scale, _segment_levels, _timestamp)


PARAMETERS: dict[str, Any] = {
    "sigma": 1.35,
    "mu": {"installation": 8.35, "supplies": 8.1, "repair": 8.3},
    "main": {"new": -0.2, "heavy": 0.3},
    # installation
    "late_p": [0.78, 0.09, 0.05, 0.03, 0.02, 0.015, 0.01, 0.005],  # P(days late = 0..7)
    "late_cost": {1: 0.1, 2: 0.7, 3: 2.0},  # latent cost by days late (3 = 3 or more), existing
    "new_late_multiplier": 2.0,
    "rft_gain": 1.25,
    "lead_time": 0.0,  # the null driver
    "skip_confirm_cost": 0.6,
    "p_skip_confirm": 0.10,
    # supplies
    "supplies_on_time": 0.8,
    "supplies_complete": 0.6,
    # repair
    "repair_ffv": 1.6,
    "repair_hours": -0.015,
    # avoidable contacts
    "status_cost": 0.35,
    "status_rate": {"account": 0.04, "no_account": 0.30},
    "status_late_install": 0.8,  # extra rate when 2+ days late
    "status_late_supplies": 0.5,  # extra rate when late
}

# the drivers a no-driver client sets to zero
NULL_KEYS = ["rft_gain", "skip_confirm_cost", "supplies_on_time", "supplies_complete", "repair_ffv",
             "repair_hours", "status_cost"]

ACTIONS: dict[str, Any] = {
    "worked": {"id": "spare_parts_kit", "name": "Installers carry a spare-parts kit", "owner": "Service",
               "chain": "installation", "kpi": "right_first_time", "start": "2025-09-01",
               "pilot": {"segment": "region", "group": "north"}, "q": 0.8,
               "mechanism": "from the start, 80% of the installations in region north that would have needed "
                            "a repeat visit are installed at the first visit"},
    "null": {"id": "route_planning", "name": "New route planning for repair visits", "owner": "Planning",
             "chain": "repair", "kpi": "response_time_hours", "start": "2025-09-01"},
    "recent": {"id": "delivery_text", "name": "Text message the evening before a supplies delivery",
               "owner": "Logistics", "chain": "supplies", "kpi": "delivered_on_time", "start": "2025-12-01"},
    "shift": {"chain": "supplies", "kpi": "complete_delivery", "month": "2025-10", "p": 0.12,
              "mechanism": "a new warehouse system: from October 12% of the supply orders that would have been "
                           "complete miss an item"},
    "regions": (("north", "south", "west"), (0.40, 0.35, 0.25)),
    # an avoidable contact costs EUR 6.50 (a handled call); one NPS point is worth EUR 15,000 a year
    "prices": {"cost_per_contact": 6.5, "value_per_point": 15_000},
}


def build(rng: np.random.Generator, n_cases: int, n_resp: int, no_driver: bool,
          arng: np.random.Generator | None = None) -> _Built:
    P = _params(PARAMETERS, NULL_KEYS, no_driver)
    chains = ["installation", "supplies", "repair"]
    chain = rng.choice(3, size=n_cases, p=[0.35, 0.45, 0.20])
    open_t = np.sort(_bt(rng, rng.integers(0, _N_DAYS, n_cases), 8, 17))
    open_day = open_t // 86_400

    # customers: tenure, online account, machines (heavy buyers order more supplies)
    n_cust = max(20, n_cases // 3)
    new_c = rng.random(n_cust) < 0.25
    years10 = np.where(new_c, rng.integers(1, 10, n_cust), rng.integers(10, 160, n_cust))
    account_c = rng.random(n_cust) < 0.55
    heavy_pick = rng.random(n_cust) < 0.30
    machines_c = np.where(heavy_pick, rng.integers(3, 9, n_cust), rng.integers(1, 3, n_cust))
    heavy_c = machines_c >= 3
    w = np.where(heavy_c, 3.0, 1.0)
    cust = rng.choice(n_cust, size=n_cases, p=w / w.sum())
    account = account_c[cust]
    AK = ACTIONS
    if arng is not None:  # the customer's region: where the pilot ran
        region_c = _cat(arng, np.arange(3), AK["regions"][1], n_cust)

    neg = np.full(n_cases, -1, dtype=np.int64)
    E = {k: neg.copy() for k in (
        "order", "confirm", "mdeliv", "fail1", "fail2", "installed", "invoice", "ship", "deliv", "missing",
        "plan", "fv", "part", "v2", "v3", "close", "status_from", "status_to")}
    promised_day = neg.copy()
    K = {k: np.full(n_cases, np.nan) for k in ("on_time", "rft", "lead", "s_on_time", "complete", "ffv", "hours")}
    I_int = {k: neg.copy() for k in ("visits", "items", "items_deliv", "rvisits")}
    lam = np.zeros(n_cases)
    late_days = np.zeros(n_cases, dtype=np.int64)
    skip = np.zeros(n_cases, dtype=bool)

    # -- installation: quote -> order -> confirm -> deliver -> install (visits) -> invoice
    I = np.flatnonzero(chain == 0)
    nI = len(I)
    order_day = open_day[I] + rng.integers(1, 8, nI)
    order_t = _bt(rng, order_day)
    L = 10 + rng.poisson(5, nI)  # lead time order -> installation (days), independent of lateness
    d = _cat(rng, np.arange(8), P["late_p"], nI)  # days late
    inst_day = order_day + L
    promised_day[I] = inst_day - d
    visits = _cat(rng, [1, 2, 3], [0.86, 0.11, 0.03], nI)
    risk_all = np.zeros(n_cases, dtype=bool)  # pilot cases that would have failed the KPI without it
    flip_all = np.zeros(n_cases, dtype=bool)  # ... and that the action fixed
    if arng is not None:  # the pilot: first-time installs in region north from the start
        aw = AK["worked"]
        treated = (region_c[cust[I]] == 0) & (inst_day >= _day(aw["start"]))
        risk = treated & (visits >= 2)
        flip = risk & (arng.random(nI) < aw["q"])
        visits = np.where(flip, 1, visits)
        risk_all[I], flip_all[I] = risk, flip
    g1, g2 = rng.integers(1, 4, nI), rng.integers(1, 4, nI)
    installed_t = _bt(rng, inst_day)
    fail1 = np.where(visits >= 2, _bt(rng, inst_day - g1), -1)
    fail2 = np.where(visits == 3, _bt(rng, inst_day - g1 - g2), -1)
    first_day = inst_day - g1 * (visits >= 2) - g2 * (visits == 3)
    skip_i = rng.random(nI) < P["p_skip_confirm"]
    E["order"][I] = order_t
    E["confirm"][I] = np.where(skip_i, -1, order_t + rng.integers(60, 20 * 60, nI) * 60)
    E["mdeliv"][I] = _bt(rng, first_day - rng.integers(1, 3, nI))
    E["fail1"][I], E["fail2"][I], E["installed"][I] = fail1, fail2, installed_t
    E["invoice"][I] = _bt(rng, inst_day + rng.integers(1, 6, nI))
    E["status_from"][I], E["status_to"][I] = order_t, installed_t
    late_days[I] = d
    skip[I] = skip_i
    I_int["visits"][I] = visits
    K["on_time"][I] = d == 0
    K["rft"][I] = visits == 1
    K["lead"][I] = L
    lam[I] = np.where(account[I], P["status_rate"]["account"], P["status_rate"]["no_account"]) \
        + P["status_late_install"] * (d >= 2)

    # -- supplies: order -> confirm -> ship -> deliver -> invoice
    S = np.flatnonzero(chain == 1)
    nS = len(S)
    o_t, o_day = open_t[S], open_day[S]
    pd_ = _cat(rng, [1, 2, 3], [0.2, 0.6, 0.2], nS)
    delta = np.maximum(_cat(rng, [-1, 0, 1, 2, 3], [0.08, 0.82, 0.06, 0.03, 0.01], nS), 1 - pd_)
    late = delta > 0
    deliv_day = o_day + pd_ + delta
    items = 2 + rng.poisson(4, nS)
    incomplete = rng.random(nS) < np.where(late, 0.20, 0.04)
    shift_risk = np.zeros(n_cases, dtype=bool)  # cases the level shift could touch
    if arng is not None:  # the level shift: more incomplete deliveries from its month on
        ks = AK["shift"]
        at = (deliv_day >= _day(ks["month"] + "-01")) & ~incomplete
        shift_risk[S] = at
        incomplete = incomplete | (at & (arng.random(nS) < ks["p"]))
    missing = np.where(incomplete, rng.integers(1, items), 0)
    ship_day = np.maximum(o_day + 1, deliv_day - 1)
    deliv_t = _bt(rng, deliv_day, 9, 17)
    promised_day[S] = o_day + pd_
    E["order"][S] = o_t
    E["confirm"][S] = o_t + rng.integers(5, 61, nS) * 60
    E["ship"][S] = ship_day * 86_400 + 6 * 3600 + rng.integers(0, 120, nS) * 60
    E["deliv"][S] = deliv_t
    E["invoice"][S] = (deliv_day + rng.integers(0, 4, nS)) * 86_400 + 20 * 3600 + rng.integers(0, 60, nS) * 60
    E["missing"][S] = np.where(incomplete & (rng.random(nS) < 0.7), deliv_t + rng.integers(1, 48, nS) * 3600, -1)
    E["status_from"][S], E["status_to"][S] = o_t, deliv_t
    I_int["items"][S], I_int["items_deliv"][S] = items, items - missing
    K["s_on_time"][S] = ~late
    K["complete"][S] = missing == 0
    lam[S] = np.where(account[S], P["status_rate"]["account"], P["status_rate"]["no_account"]) \
        + P["status_late_supplies"] * late

    # -- repair: report -> plan -> visit(s) (part ordered between) -> close -> invoice
    R = np.flatnonzero(chain == 2)
    nR = len(R)
    r_t = open_t[R]
    H = np.clip(np.round(np.exp(rng.normal(math.log(20), 0.75, nR))), 2, 120).astype(np.int64)
    fv_t = r_t + H * 3600
    rv = _cat(rng, [1, 2, 3], [0.80, 0.16, 0.04], nR)
    v2 = np.where(rv >= 2, _bt(rng, fv_t // 86_400 + rng.integers(1, 5, nR)), -1)
    v3 = np.where(rv == 3, _bt(rng, v2 // 86_400 + rng.integers(1, 5, nR)), -1)
    last_v = np.where(rv == 3, v3, np.where(rv == 2, v2, fv_t))
    close_t = last_v + rng.integers(10, 90, nR) * 60
    E["plan"][R] = r_t + rng.integers(5, np.minimum(H * 30, 240), nR) * 60
    E["fv"][R], E["v2"][R], E["v3"][R], E["close"][R] = fv_t, v2, v3, close_t
    E["part"][R] = np.where(rv >= 2, fv_t + rng.integers(60, 180, nR) * 60, -1)
    E["invoice"][R] = _bt(rng, close_t // 86_400 + rng.integers(1, 6, nR))
    E["status_from"][R], E["status_to"][R] = r_t, close_t
    I_int["rvisits"][R] = rv
    K["ffv"][R] = rv == 1
    K["hours"][R] = H
    lam[R] = np.where(account[R], P["status_rate"]["account"], P["status_rate"]["no_account"])

    n_status = np.minimum(rng.poisson(lam), _KMAX)
    closed_t = E["invoice"]
    closed_ok = _known(closed_t)

    # -- responses: a survey 2 hours to 10 days after the case closed
    rc = _pick_responses(rng, closed_ok & (closed_t + 10 * 86_400 <= _CUTOFF), n_resp, "koffie")
    resp_t = np.maximum(closed_t[rc] + 1800, _bt(rng, closed_t[rc] // 86_400 + rng.integers(0, 10, len(rc)), 7, 23))
    order = np.argsort(resp_t, kind="stable")
    rc, resp_t = rc[order], resp_t[order]
    rch, rcu = chain[rc], cust[rc]
    new_r, heavy_r = new_c[rcu], heavy_c[rcu]

    lc = P["late_cost"]
    cost_by_day = np.array([0.0, lc[1], lc[2]] + [lc[3]] * 5)
    mult_new = np.where(new_r, P["new_late_multiplier"], 1.0)
    mu = np.array([P["mu"][c] for c in chains])
    m = mu[rch] + P["main"]["new"] * new_r + P["main"]["heavy"] * heavy_r
    isI, isS, isR = rch == 0, rch == 1, rch == 2
    dr = late_days[rc]
    m = m + np.where(isI, -P["rft_gain"] * (1 - np.nan_to_num(K["rft"][rc])) - cost_by_day[dr] * mult_new
                     - P["skip_confirm_cost"] * skip[rc], 0.0)
    m = m + np.where(isS, -P["supplies_on_time"] * (1 - np.nan_to_num(K["s_on_time"][rc]))
                     - P["supplies_complete"] * (1 - np.nan_to_num(K["complete"][rc])), 0.0)
    m = m + np.where(isR, -P["repair_ffv"] * (1 - np.nan_to_num(K["ffv"][rc]))
                     + P["repair_hours"] * np.nan_to_num(K["hours"][rc]), 0.0)
    lam_r = lam[rc]
    cost = P["status_cost"]
    sc = _Scale("nps", 0, 10, P["sigma"], 9, 6)
    ystar = m - cost * n_status[rc] + P["sigma"] * rng.standard_normal(len(rc))
    score = sc.observe(ystar)

    # -- truth: drivers per chain (arrays over the chain's responses)
    def sub(a, mask):
        return np.asarray(a)[mask]

    mi, li = m[isI], lam_r[isI]
    di, multi = dr[isI], mult_new[isI]
    late2 = P["status_late_install"]
    m_rest = mi + cost_by_day[di] * multi
    l_rest = li - late2 * (di >= 2)
    p_late = np.asarray(P["late_p"][1:]) / np.sum(P["late_p"][1:])
    on_state = [(1.0, m_rest, l_rest)]
    distinct: dict[tuple, tuple] = {}  # identical states (3..7 days late) share arrays: computed once
    late_state = {}
    for k in range(1, 8):
        key = (float(cost_by_day[k]), k >= 2)
        if key not in distinct:
            distinct[key] = (m_rest - cost_by_day[k] * multi, l_rest + late2 * (k >= 2))
        late_state[k] = distinct[key]
    off_state = [(p_late[k - 1], *late_state[k]) for k in range(1, 8)]
    rft_i = sub(K["rft"][rc], isI)
    ms, ls = m[isS], lam_r[isS]
    s_on = sub(K["s_on_time"][rc], isS)
    s_cp = sub(K["complete"][rc], isS)
    ls_rest = ls - P["status_late_supplies"] * (1 - s_on)
    mr, lr = m[isR], lam_r[isR]
    ffv = sub(K["ffv"][rc], isR)

    def flip(mm, ll, x, gain):
        return [(1.0, mm + gain * (1 - x), ll)], [(1.0, mm - gain * x, ll)]

    rft_on, rft_off = flip(mi, li, rft_i, P["rft_gain"])
    cp_on, cp_off = flip(ms, ls, s_cp, P["supplies_complete"])
    ffv_on, ffv_off = flip(mr, lr, ffv, P["repair_ffv"])
    g = P["supplies_on_time"]
    drivers = [
        _Driver("installation", "on_time", "share", lc[3], "threshold", sub(K["on_time"][rc], isI),
                on=on_state, off=off_state,
                note="cost grows with days late (see nonlinear); new customers react twice as strongly; "
                     "includes the status calls that lateness causes"),
        _Driver("installation", "right_first_time", "share", P["rft_gain"], "linear", rft_i, on=rft_on, off=rft_off,
                note="a repeat install visit is the same event (journey deviation)"),
        _Driver("installation", "lead_time_days", "days", P["lead_time"], "none", sub(K["lead"][rc], isI),
                slope=np.zeros(isI.sum()),
                note="null driver: lead time is drawn independently of lateness and has no effect"),
        _Driver("supplies", "delivered_on_time", "share", g, "linear", s_on,
                on=[(1.0, ms + g * (1 - s_on), ls_rest)],
                off=[(1.0, ms - g * s_on, ls_rest + P["status_late_supplies"])],
                note="includes the status calls that late deliveries cause"),
        _Driver("supplies", "complete_delivery", "share", P["supplies_complete"], "linear", s_cp,
                on=cp_on, off=cp_off, note="correlated with delivered_on_time (backorders arrive late)"),
        _Driver("repair", "fixed_first_visit", "share", P["repair_ffv"], "linear", ffv, on=ffv_on, off=ffv_off),
        _Driver("repair", "response_time_hours", "hours", P["repair_hours"], "linear", sub(K["hours"][rc], isR),
                slope=np.full(isR.sum(), P["repair_hours"])),
    ]
    if no_driver:
        for dv in drivers:
            dv.form = "none"
            dv.latent = 0.0

    built = _Built(
        config=None, responses=None, cases=None, events=None, offsets=False, scale=sc,
        result_kpi={"name": "NPS", "scale": "nps", "min": 0, "max": 10},
        chains=chains, resp_chain=rch, m=m, lam=lam_r, cost=cost, score=score.astype(float), drivers=drivers,
        sections=dict, segments={
            "tenure": np.where(new_r, "new", "existing"),
            "online_account": np.where(account_c[rcu], "yes", "no"),
            "buyer": np.where(heavy_r, "heavy", "light"),
        }, params=P)

    def sections() -> dict:
        if no_driver:
            return {}
        out: dict[str, Any] = {}
        # nonlinear lateness: each band of days late vs on time
        bands = {"1": [1], "2": [2], "3+": [3, 4, 5, 6, 7]}
        nl = {}
        for name, ks in bands.items():
            wk = np.array([P["late_p"][k] for k in ks], dtype=float)
            wk /= wk.sum()
            st = [(wk[j], *late_state[k]) for j, k in enumerate(ks)]
            e = _contrast(built, st, on_state)
            nl[name] = {
                "latent_cost_existing": -float(cost_by_day[ks[0]]),
                "latent_cost_new": -float(cost_by_day[ks[0]] * P["new_late_multiplier"]),
                "extra_status_call_rate": late2 if ks[0] >= 2 else 0.0,
                "effect_on_score_vs_on_time": _r(e["score"]),
                "effect_on_nps_points_vs_on_time": _r(e["head"]),
                "share_of_installations": _r(sum(P["late_p"][k] for k in ks)),
            }
        out["nonlinear"] = {
            "installation.on_time": {
                "variable": "days late = installed_at::DATE - promised_at::DATE (0 when on time)",
                "shape": "threshold: 1 day late costs almost nothing, 2 days some, 3+ days a lot",
                "by_days_late": nl,
            }
        }
        new_i = new_r[isI]
        dv = drivers[0]
        seg = _segment_levels(built, dv, [("new", new_i, P["new_late_multiplier"]), ("existing", ~new_i, 1.0)])
        out["segment_effects"] = {
            "tenure": {"modifies": "installation.on_time", "levels": seg,
                       "main_effect_latent": {"new": P["main"]["new"], "existing": 0.0}},
            "buyer": {"modifies": None, "main_effect_latent": {"heavy": P["main"]["heavy"], "light": 0.0}},
            "online_account": {"modifies": None, "main_effect_latent": {"yes": 0.0, "no": 0.0},
                               "indirect": "no direct effect; customers without an account make more status calls "
                                           f"(rate {P['status_rate']['no_account']} vs "
                                           f"{P['status_rate']['account']} per case)"},
        }
        sk = skip[rc][isI]
        e_skip = _flag_effect(built, mi, li, P["skip_confirm_cost"], sk)
        pc = _mix(lambda x: sc.stats(x - cost) - sc.stats(x), m, lam_r, cost).mean(axis=0)
        per_call = {"score": float(pc[0]), "head": float(pc[1])}
        out["journey_effects"] = {
            "skipped_step": {"chain": "installation", "step": "Confirm", "share_of_cases": P["p_skip_confirm"],
                             "latent_effect": -P["skip_confirm_cost"], "effect_on_score": _r(e_skip["score"]),
                             "effect_on_nps_points": _r(e_skip["head"]),
                             "note": "independent of every chain KPI"},
            "repeat_visit": [
                {"chain": "installation", "activity": "Install", "same_as_kpi": "installation.right_first_time",
                 "latent_effect": -P["rft_gain"]},
                {"chain": "repair", "activity": "Visit", "same_as_kpi": "repair.fixed_first_visit",
                 "latent_effect": -P["repair_ffv"]},
            ],
            "avoidable_contacts": {
                "activity": "Status call", "latent_effect_per_contact": -cost,
                "effect_on_score_per_contact": _r(per_call["score"]),
                "effect_on_nps_points_per_contact": _r(per_call["head"]),
                "rate_per_case": {"base_with_account": P["status_rate"]["account"],
                                  "base_without_account": P["status_rate"]["no_account"],
                                  "extra_installation_2plus_days_late": late2,
                                  "extra_supplies_late": P["status_late_supplies"]},
                "mean_per_response": _r(float(n_status[rc].mean())),
                "note": "mediates part of installation.on_time and supplies.delivered_on_time",
            },
            "other_contacts": {"activity": "Missing items call",
                               "note": "follows an incomplete delivery; no effect of its own beyond "
                                       "supplies.complete_delivery"},
        }
        return out

    built.sections = sections

    if arng is not None:
        aw, ks = AK["worked"], AK["shift"]
        pilot_case = (chain == 0) & (region_c[cust] == 0) & closed_ok
        close_m = _month_of(np.where(closed_ok, closed_t, 0))
        flipped_r = flip_all[rc]
        m_cf = m - P["rft_gain"] * flipped_r
        supplies_closed = (chain == 1) & closed_ok

        def actions_truth() -> dict:
            out = _actions_truth(built, ACTIONS, {
                "case_post": pilot_case & (close_m >= np.datetime64(aw["start"][:7])),
                "case_risk": risk_all,
                "resp_post": isI & (region_c[rcu] == 0) & (close_m[rc] >= np.datetime64(aw["start"][:7])),
                "resp_risk": risk_all[rc], "m_cf": m_cf, "lam_cf": lam_r, "gain": P["rft_gain"], "dlam": 0.0,
            }, {"case_post": supplies_closed & (close_m >= np.datetime64(ks["month"])), "case_risk": shift_risk})
            # avoidable contacts: an installation 2+ days late brings status calls at a higher rate
            late_p = np.asarray(P["late_p"], dtype=float)
            out["contacts_per_case"] = {"installation.on_time": {
                "difference_per_unit": _r(-P["status_late_install"] * late_p[2:].sum() / late_p[1:].sum()),
                "note": "avoidable contacts per case (status calls) of an installation on time minus one late: "
                        "the extra status-call rate of 2+ days late times the share of late installations "
                        "that are 2+ days late"}}
            out["prices"] = dict(AK["prices"], currency="EUR")
            return out

        built.actions = actions_truth

    # -- tables
    case_ids = _ids("KC", n_cases)
    cust_ids = _ids("KL", n_cust)
    resp_ids = _ids("KR", len(rc))

    inst_ok, deliv_ok, close_ok = _known(E["installed"]), _known(E["deliv"]), _known(E["close"])
    built.cases = {
        "case_id": ("id", case_ids, None),
        "chain": ("cat", (chain, chains), None),
        "customer_id": ("id", cust_ids[cust], None),
        "opened_at": ("ts", open_t, None),
        "closed_at": _timestamp(closed_t),
        "ordered_at": _timestamp(E["order"]),
        "promised_at": ("date", promised_day, promised_day >= 0),
        "machine_delivered_at": _timestamp(E["mdeliv"]),
        "installed_at": _timestamp(E["installed"]),
        "install_visits": ("int", I_int["visits"], inst_ok),
        "delivered_at": _timestamp(E["deliv"]),
        "items_ordered": ("int", I_int["items"], I_int["items"] >= 0),
        "items_delivered": ("int", I_int["items_deliv"], deliv_ok),
        "reported_at": ("ts", np.where(chain == 2, open_t, -1), chain == 2),
        "first_visit_at": _timestamp(E["fv"]),
        "repair_visits": ("int", I_int["rvisits"], close_ok),
    }
    if arng is not None:
        built.cases["region"] = ("cat", (region_c[cust], list(AK["regions"][0])), None)
    built.responses = {
        "response_id": ("id", resp_ids, None),
        "responded_at": ("ts", resp_t, None),
        "score": ("int", score, None),
        "case_id": ("id", case_ids[rc], None),
        "customer_id": ("id", cust_ids[rcu], None),
        "customer_years": ("float", years10[rcu] / 10.0, None),
        "has_account": ("cat", (account_c[rcu].astype(int), ["no", "yes"]), None),
        "machines": ("int", machines_c[rcu], None),
    }

    acts = ["Quote", "Order", "Confirm", "Deliver", "Install", "Invoice", "Ship", "Report", "Plan", "Visit",
            "Order part", "Close", "Status call", "Missing items call"]
    links = ["Sales", "Planning", "Logistics", "Service", "Finance"]
    channels = ["phone", "e-mail", "web", "visit"]

    def events(a: int, b: int, erng: np.random.Generator) -> dict:
        ev = _Events(acts, links, channels, _CONTRACT_EVENT_NAMES)
        ch = chain[a:b]
        acc = account[a:b]
        sl = {k: v[a:b] for k, v in E.items()}
        isI_, isS_, isR_ = ch == 0, ch == 1, ch == 2
        ot = open_t[a:b]
        web_or_mail = np.where(acc & (erng.random(b - a) < 0.8), channels.index("web"), channels.index("e-mail"))
        ev.add_where(a, np.where(isI_, ot, -1), "Quote", "Sales",
                     (["visit", "phone", "e-mail"], [0.4, 0.3, 0.3]), 0, erng)
        ev.add_where(a, np.where(isI_ | isS_, sl["order"], -1), "Order", "Sales", web_or_mail, 1, erng)
        ev.add_where(a, np.where(isI_, sl["confirm"], -1), "Confirm", "Planning", "e-mail", 2, erng)
        ev.add_where(a, np.where(isS_, sl["confirm"], -1), "Confirm", "Sales", "e-mail", 2, erng)
        ev.add_where(a, sl["mdeliv"], "Deliver", "Logistics", "visit", 3, erng)
        ev.add_where(a, sl["fail2"], "Install", "Service", "visit", 4, erng)
        ev.add_where(a, sl["fail1"], "Install", "Service", "visit", 4, erng)
        ev.add_where(a, sl["installed"], "Install", "Service", "visit", 4, erng)
        ev.add_where(a, sl["ship"], "Ship", "Logistics", None, 3, erng)
        ev.add_where(a, sl["deliv"], "Deliver", "Logistics", "visit", 4, erng)
        ev.add_where(a, sl["missing"], "Missing items call", "Logistics", "phone", 5, erng)
        ev.add_where(a, np.where(isR_, ot, -1), "Report", "Service",
                     (["phone", "web", "e-mail"], [0.6, 0.3, 0.1]), 0, erng)
        ev.add_where(a, sl["plan"], "Plan", "Planning", (["phone", "e-mail"], [0.5, 0.5]), 1, erng)
        ev.add_where(a, sl["fv"], "Visit", "Service", "visit", 2, erng)
        ev.add_where(a, sl["part"], "Order part", "Logistics", None, 3, erng)
        ev.add_where(a, sl["v2"], "Visit", "Service", "visit", 4, erng)
        ev.add_where(a, sl["v3"], "Visit", "Service", "visit", 4, erng)
        ev.add_where(a, sl["close"], "Close", "Service", None, 5, erng)
        ev.add_where(a, sl["invoice"], "Invoice", "Finance", np.where(acc, channels.index("web"),
                                                                      channels.index("e-mail")), 9, erng)
        to = np.where(_known(sl["status_to"]), sl["status_to"], _CUTOFF)
        ev.add_counts(a, n_status[a:b], sl["status_from"], to, "Status call", "Planning", "phone", 8, erng)
        return ev.table(case_ids)

    built.events = events

    def config(cid: str, ext: str) -> dict:
        cfg = {
            "id": cid,
            "title": "Koffie & Co — coffee-machine installer" + (" (test fixture)" if cid == "fixture" else ""),
            "result_kpi": {"name": "NPS", "scale": "nps"},
            "tables": {"responses": {"file": "responses" + ext}, "cases": {"file": "cases" + ext},
                       "events": {"file": "events" + ext}},
            "linkage": {"by": "case_id"},
            "chains": [
                {"id": "installation", "name": "Install a coffee machine",
                 "need": "I need a working coffee machine in my office", "owner": "Head of Operations",
                 "links": ["Sales", "Planning", "Logistics", "Service", "Finance"],
                 "kpis": [
                     {"id": "on_time", "name": "Installed on the promised day",
                      "expression": "installed_at::DATE <= promised_at::DATE", "unit": "share",
                      "direction": "higher", "target": 0.9, "link": "Planning",
                      "companion": {"days_late": "date_diff('day', promised_at::DATE, installed_at::DATE)"}},
                     {"id": "right_first_time", "name": "Installed at the first visit",
                      "expression": "install_visits = 1", "unit": "share", "direction": "higher",
                      "target": 0.95, "link": "Service"},
                     {"id": "lead_time_days", "name": "Order to installation",
                      "expression": "date_diff('day', ordered_at, installed_at)", "unit": "days",
                      "direction": "lower", "target": 14, "link": "Logistics"},
                 ],
                 "journey": {"steps": ["Quote", "Order", "Confirm", "Deliver", "Install", "Invoice"]}},
                {"id": "supplies", "name": "Deliver coffee supplies",
                 "need": "I need beans, milk and cups before we run out", "owner": "Customer Service Manager",
                 "links": ["Sales", "Planning", "Logistics", "Finance"],
                 "kpis": [
                     {"id": "delivered_on_time", "name": "Delivered on the promised day",
                      "expression": "delivered_at::DATE <= promised_at::DATE", "unit": "share",
                      "direction": "higher", "target": 0.95, "link": "Logistics"},
                     {"id": "complete_delivery", "name": "Everything ordered was delivered",
                      "expression": "items_delivered = items_ordered", "unit": "share", "direction": "higher",
                      "target": 0.98, "link": "Logistics"},
                 ],
                 "journey": {"steps": ["Order", "Confirm", "Ship", "Deliver", "Invoice"]}},
                {"id": "repair", "name": "Repair a broken machine",
                 "need": "My coffee machine is broken; I need it working again", "owner": "Head of Service",
                 "links": ["Service", "Planning", "Logistics", "Finance"],
                 "kpis": [
                     {"id": "fixed_first_visit", "name": "Fixed at the first visit",
                      "expression": "repair_visits = 1", "unit": "share", "direction": "higher",
                      "target": 0.85, "link": "Service"},
                     {"id": "response_time_hours", "name": "Report to first visit",
                      "expression": "date_diff('hour', reported_at, first_visit_at)", "unit": "hours",
                      "direction": "lower", "target": 24, "link": "Planning"},
                 ],
                 "journey": {"steps": ["Report", "Plan", "Visit", "Close", "Invoice"]}},
            ],
            "segments": [
                {"id": "tenure", "name": "Customer tenure", "table": "responses",
                 "expression": "CASE WHEN customer_years < 1 THEN 'new' ELSE 'existing' END"},
                {"id": "online_account", "name": "Online account", "table": "responses", "column": "has_account"},
                {"id": "buyer", "name": "Heavy or light buyer", "table": "responses",
                 "expression": "CASE WHEN machines >= 3 THEN 'heavy' ELSE 'light' END"},
            ],
            "contacts": {"channels": "any", "avoidable": ["Status call", "Missing items call"], "repeat_within_days": 7},
            "reporting": _reporting(),
        }
        if arng is not None:
            cfg["segments"].append({"id": "region", "name": "Region", "table": "cases", "column": "region"})
            cfg["actions"] = _action_config(ACTIONS)
            # prices, so that the report states money next to score
            cfg["contacts"]["cost_per_contact"] = ACTIONS["prices"]["cost_per_contact"]
            cfg["result_kpi"]["value_per_point"] = ACTIONS["prices"]["value_per_point"]
            cfg["reporting"]["currency"] = "EUR"
        return cfg

    built.config = config
    return built
