"""Demo client ``woonstad``: housing corporation, 1-5 stars, linkage by customer within a window, milestones.

Its spec (the causal parameters, documented in docs/demo-clients.md, and its improvement
actions) and its generator, on the shared template."""

from __future__ import annotations

from typing import Any

import numpy as np

from .template import (_action_config, _actions_truth, _bt, _Built, _cat, _curve_truth, _CUTOFF, _day, _Driver,
                       _flag_effect, _ids, _known, _month_of, _N_DAYS, _params, _pick_responses, _r, _reporting, _Scale,
                       _segment_levels, _timestamp)


PARAMETERS: dict[str, Any] = {
    "sigma": 0.9,
    "mu": {"repair": 4.05, "complaint": 3.3},
    "main": {"senior": 0.15},
    "kept_gain": 0.45,
    "senior_kept_multiplier": 2.0,
    "ftf_gain": 0.65,
    "repair_hinge": {"knot": 7, "slope": -0.03, "cap": 40},
    "skip_confirm_cost": 0.3,
    "p_skip_confirm": 0.12,
    "answered_gain": 0.8,
    "acknowledged": 0.0,  # the null driver
}

# the drivers a no-driver client sets to zero
NULL_KEYS = ["kept_gain", "ftf_gain", "skip_confirm_cost", "answered_gain"]

ACTIONS: dict[str, Any] = {
    "worked": {"id": "shared_agenda_van_dijk", "name": "Appointments for Van Dijk Onderhoud booked in the "
               "contractor's own agenda", "owner": "Planning", "chain": "repair", "kpi": "appointment_kept",
               "start": "2025-09-01", "pilot": {"segment": "contractor", "group": "Van Dijk Onderhoud"},
               "q": 0.7,
               "mechanism": "from the start, 70% of Van Dijk's repairs whose appointment would have been missed "
                            "get the appointment on the day the contractor comes (visit itself unchanged)"},
    "null": {"id": "complaint_review", "name": "Weekly review of open complaints", "owner": "Complaints Desk",
             "chain": "complaint", "kpi": "answered_in_time", "start": "2025-09-01"},
    "recent": {"id": "parts_kit", "name": "Contractors' vans carry a standard parts kit",
               "owner": "Contractor", "chain": "repair", "kpi": "fixed_first_time", "start": "2025-12-01"},
    "shift": {"chain": "complaint", "kpi": "acknowledged_in_2_days", "month": "2025-10", "p": 0.5,
              "mechanism": "staff shortage at the contact centre: from October half of the complaints that "
                           "would have been acknowledged within 2 days wait 3 days longer"},
}


_WINDOW_DAYS = 30


def build(rng: np.random.Generator, n_cases: int, n_resp: int, no_driver: bool,
          arng: np.random.Generator | None = None) -> _Built:
    P = _params(PARAMETERS, NULL_KEYS, no_driver)
    chains = ["repair", "complaint"]
    chain = (rng.random(n_cases) < 0.2).astype(np.int64)  # 0 repair, 1 complaint
    rep_t = np.sort(_bt(rng, rng.integers(0, _N_DAYS, n_cases), 7.5, 20))
    rep_day = rep_t // 86_400
    opened_t = rep_t + rng.integers(0, 31, n_cases) * 60

    n_cust = max(20, int(n_cases / 2.2))
    age_c = _cat(rng, [0, 1, 2], [0.2, 0.5, 0.3], n_cust)  # 18-34, 35-64, 65+
    portal_c = rng.random(n_cust) < 0.45
    districts = ["Centrum", "Haven", "Noord", "Oost", "West", "Zuid"]
    district_c = rng.integers(0, len(districts), n_cust)
    cust = rng.integers(0, n_cust, n_cases)

    neg = np.full(n_cases, -1, dtype=np.int64)
    T = {k: neg.copy() for k in ("planned", "appointment", "confirmed", "visited", "closed", "received",
                                  "acknowledged", "answered")}
    visits_all = neg.copy()
    contractors = ["Eigen dienst", "Van Dijk Onderhoud", "Bakker Installatie"]
    contractor = np.full(n_cases, -1, dtype=np.int64)
    Rd = np.zeros(n_cases, dtype=np.int64)
    kept_all = np.zeros(n_cases, dtype=bool)
    skip_all = np.zeros(n_cases, dtype=bool)
    ack_all = np.zeros(n_cases, dtype=np.int64)
    ans_all = np.zeros(n_cases, dtype=np.int64)

    # -- repair requests
    Rp = np.flatnonzero(chain == 0)
    n = len(Rp)
    r0, d0 = rep_t[Rp], rep_day[Rp]
    R = np.minimum(2 + rng.negative_binomial(2, 2 / 9, n), 90)  # days to repair, independent of the rest
    ctr = _cat(rng, [0, 1, 2], [0.45, 0.35, 0.20], n)
    kept = rng.random(n) < np.array([0.90, 0.80, 0.70])[ctr]
    ftf = rng.random(n) < np.array([0.85, 0.75, 0.70])[ctr]
    visits = np.where(ftf, 1, _cat(rng, [2, 3], [0.8, 0.2], n))
    v1 = np.where(visits == 1, R, np.maximum(2, R - rng.integers(1, 8, n)))
    a_day = np.where(kept, v1, np.maximum(1, v1 - rng.integers(1, 4, n)))
    planned = r0 + rng.integers(10, 180, n) * 60
    slot = _cat(rng, [8, 10, 12, 14], [0.3, 0.3, 0.2, 0.2], n)
    appointment = (d0 + a_day) * 86_400 + slot * 3600
    skip = rng.random(n) < P["p_skip_confirm"]
    t1 = np.where(kept, appointment + rng.integers(0, 110, n) * 60, _bt(rng, d0 + v1, 8, 15))
    AW = ACTIONS
    risk_all = np.zeros(n_cases, dtype=bool)  # pilot cases whose appointment would have been missed
    flip_all = np.zeros(n_cases, dtype=bool)  # ... and kept thanks to the action
    if arng is not None:  # the pilot: the appointment set on the day Van Dijk comes; the visit unchanged
        aw = AW["worked"]
        risk = (ctr == 1) & (d0 >= _day(aw["start"])) & ~kept
        flip = risk & (arng.random(n) < aw["q"])
        a_day = np.where(flip, v1, a_day)
        appointment = np.where(flip, (d0 + a_day) * 86_400 + slot * 3600, appointment)
        kept = kept | flip
        risk_all[Rp], flip_all[Rp] = risk, flip
    mid_day = v1 + np.floor(rng.random(n) * (R - v1 + 1)).astype(np.int64)
    t_mid = np.where(mid_day == v1, t1 + rng.integers(120, 180, n) * 60, _bt(rng, d0 + mid_day, 8, 15))
    prev = np.where(visits == 3, t_mid, t1)
    prev_day = np.where(visits == 3, mid_day, v1)
    t_last = np.where(visits == 1, t1,
                      np.where(prev_day == R, prev + rng.integers(120, 180, n) * 60, _bt(rng, d0 + R, 8, 15)))
    T["planned"][Rp], T["appointment"][Rp] = planned, appointment
    T["confirmed"][Rp] = np.where(skip, -1, planned + rng.integers(1, 30, n) * 60)
    T["visited"][Rp] = t1
    T["closed"][Rp] = t_last + rng.integers(30, 120, n) * 60
    visits_all[Rp], contractor[Rp], Rd[Rp], kept_all[Rp], skip_all[Rp] = visits, ctr, R, kept, skip

    # -- complaints: receive -> acknowledge -> answer -> close
    C = np.flatnonzero(chain == 1)
    nc = len(C)
    c0, cd = rep_t[C], rep_day[C]
    A = _cat(rng, np.arange(8), [0.30, 0.30, 0.15, 0.10, 0.06, 0.04, 0.03, 0.02], nc)
    W = 8 + rng.negative_binomial(3, 3 / 8, nc)  # answer after 8+ days; independent of A
    shift_risk = np.zeros(n_cases, dtype=bool)
    if arng is not None:  # the level shift: slower acknowledgements from its month on
        ws = AW["shift"]
        at = (cd >= _day(ws["month"] + "-01")) & (A <= 2)
        shift_risk[C] = at
        A = np.where(at & (arng.random(nc) < ws["p"]), A + 3, A)
    T["received"][C] = c0
    T["acknowledged"][C] = np.where(A == 0, c0 + rng.integers(30, 240, nc) * 60, _bt(rng, cd + A))
    answered = _bt(rng, cd + W)
    T["answered"][C] = answered
    T["closed"][C] = _bt(rng, answered // 86_400 + rng.integers(0, 3, nc), 17, 18)
    T["closed"][C] = np.maximum(T["closed"][C], answered + 600)
    ack_all[C], ans_all[C] = A, W

    closed = T["closed"]
    closed_ok = _known(closed)

    # -- responses: tenant answers 1 hour to 10 days after the case closed, before any later case
    #    of the same tenant closes; linkage by customer within window_days finds exactly this case
    o = np.lexsort((closed, cust))
    cs, cl, ok_s = cust[o], closed, closed_ok[o]
    cl_s = np.where(ok_s, cl[o], np.iinfo(np.int64).max)
    o2 = np.lexsort((cl_s, cs))
    cs2, cl2 = cs[o2], cl_s[o2]
    idx_sorted = o[o2]
    same_next = np.r_[cs2[1:] == cs2[:-1], False]
    same_prev = np.r_[False, cs2[1:] == cs2[:-1]]
    gap_next = np.where(same_next, np.r_[cl2[1:], 0] - cl2, 10**12)
    gap_prev = np.where(same_prev, cl2 - np.r_[0, cl2[:-1]], 10**12)
    gap_n = np.empty(n_cases, dtype=np.int64)
    gap_p = np.empty(n_cases, dtype=np.int64)
    gap_n[idx_sorted], gap_p[idx_sorted] = gap_next, gap_prev
    eligible = closed_ok & (closed + 12 * 86_400 <= _CUTOFF) & (gap_n > 2 * 3600) & (gap_p > 60)
    rc = _pick_responses(rng, eligible, n_resp, "woonstad")
    delay = rng.integers(60, 10 * 24 * 60, len(rc)) * 60
    room = gap_n[rc] - 60
    delay = np.where(delay < room, delay, np.maximum(60, (room * rng.uniform(0.2, 0.9, len(rc))).astype(np.int64)))
    resp_t = closed[rc] + delay
    order = np.argsort(resp_t, kind="stable")
    rc, resp_t = rc[order], resp_t[order]
    rch, rcu = chain[rc], cust[rc]
    senior = age_c[rcu] == 2

    hinge = P["repair_hinge"]

    def h(x):  # latent cost of waiting x days
        return hinge["slope"] * np.clip(np.asarray(x, dtype=float) - hinge["knot"], 0, hinge["cap"] - hinge["knot"])

    def dh(x):  # left derivative
        x = np.asarray(x, dtype=float)
        return np.where((x > hinge["knot"]) & (x <= hinge["cap"]), hinge["slope"], 0.0)

    mu = np.array([P["mu"][c] for c in chains])
    m = mu[rch] + P["main"]["senior"] * senior
    isR, isC = rch == 0, rch == 1
    kmult = np.where(senior, P["senior_kept_multiplier"], 1.0)
    kept_r, ftf_r, R_r, skip_r = kept_all[rc], visits_all[rc] == 1, Rd[rc], skip_all[rc]
    in_time = ans_all[rc] <= 14
    ack2 = ack_all[rc] <= 2
    m = m + np.where(isR, -P["kept_gain"] * kmult * (1 - kept_r) - P["ftf_gain"] * (1 - ftf_r) + h(R_r)
                     - P["skip_confirm_cost"] * skip_r, 0.0)
    m = m + np.where(isC, -P["answered_gain"] * (1 - in_time), 0.0)
    lam_r = np.zeros(len(rc))
    sc = _Scale("rating", 1, 5, P["sigma"], 5, 2)
    score = sc.observe(m + P["sigma"] * rng.standard_normal(len(rc)))

    mR, lR = m[isR], lam_r[isR]
    kR, fR, km = kept_r[isR].astype(float), ftf_r[isR].astype(float), kmult[isR]
    mC, lC = m[isC], lam_r[isC]
    tC = in_time[isC].astype(float)
    g_k = P["kept_gain"]
    drivers = [
        _Driver("repair", "appointment_kept", "share", g_k, "linear", kR,
                on=[(1.0, mR + g_k * km * (1 - kR), lR)], off=[(1.0, mR - g_k * km * kR, lR)],
                note="tenants of 65+ react twice as strongly; correlated with fixed_first_time via the contractor"),
        _Driver("repair", "fixed_first_time", "share", P["ftf_gain"], "linear", fR,
                on=[(1.0, mR + P["ftf_gain"] * (1 - fR), lR)], off=[(1.0, mR - P["ftf_gain"] * fR, lR)],
                note="a repeat visit is the same event"),
        _Driver("repair", "days_to_repair", "days", hinge["slope"], "hinge", R_r[isR].astype(float),
                slope=dh(R_r[isR]),
                note=f"hinge: no cost up to {hinge['knot']} days, then {hinge['slope']} per day up to "
                     f"{hinge['cap']} days; independent of the other repair KPIs"),
        _Driver("complaint", "answered_in_time", "share", P["answered_gain"], "linear", tC,
                on=[(1.0, mC + P["answered_gain"] * (1 - tC), lC)], off=[(1.0, mC - P["answered_gain"] * tC, lC)]),
        _Driver("complaint", "acknowledged_in_2_days", "share", P["acknowledged"], "none", ack2[isC].astype(float),
                slope=np.zeros(isC.sum()), note="null driver: the acknowledgement letter changes nothing"),
    ]
    if no_driver:
        for dv in drivers:
            dv.form, dv.latent = "none", 0.0

    built = _Built(
        config=None, responses=None, cases=None, events=None, offsets=False, scale=sc,
        result_kpi={"name": "Review score", "scale": "rating", "min": 1, "max": 5, "top_box": [5],
                    "bottom_box": [1, 2]},
        chains=chains, resp_chain=rch, m=m, lam=lam_r, cost=0.0, score=score.astype(float), drivers=drivers,
        sections=dict, segments={
            "age": np.array(["18-34", "35-64", "65+"])[age_c[rcu]],
            "portal": np.where(portal_c[rcu], "yes", "no"),
        }, params=P)

    def sections() -> dict:
        if no_driver:
            return {}
        dv = drivers[0]
        sen = senior[isR]
        levels = _segment_levels(built, dv, [("65+", sen, P["senior_kept_multiplier"]), ("under 65", ~sen, 1.0)])
        table = _curve_truth(built, mR - h(R_r[isR]), h, lR, [7, 10, 14, 21, 28, 40])
        e_skip = _flag_effect(built, mR, lR, P["skip_confirm_cost"], skip_r[isR])
        return {
            "nonlinear": {"repair.days_to_repair": {
                "variable": "date_diff('day', reported_at, closed_at)",
                "shape": f"hinge at {hinge['knot']} days, slope {hinge['slope']} per day, flat after {hinge['cap']}",
                "by_days": table}},
            "segment_effects": {
                "age": {"modifies": "repair.appointment_kept", "levels": levels,
                        "main_effect_latent": {"65+": P["main"]["senior"], "35-64": 0.0, "18-34": 0.0}},
                "portal": {"modifies": None, "main_effect_latent": {"yes": 0.0, "no": 0.0}},
                "contractor": {"modifies": None, "note": "cases-table segment; no direct effect, but the contractors "
                               "differ in appointment_kept and fixed_first_time"},
            },
            "journey_effects": {
                "skipped_step": {"chain": "repair", "step": "Confirm", "share_of_cases": P["p_skip_confirm"],
                                 "latent_effect": -P["skip_confirm_cost"], "effect_on_score": _r(e_skip["score"]),
                                 "effect_on_top_box_pp": _r(e_skip["head"]), "note": "independent of every chain KPI"},
                "repeat_visit": {"chain": "repair", "same_as_kpi": "repair.fixed_first_time",
                                 "note": "milestones hold the first visit only; the visits column counts them"},
            },
        }

    built.sections = sections

    if arng is not None:
        aw, ws = AW["worked"], AW["shift"]
        close_m = _month_of(np.where(closed_ok, closed, 0))
        gain_k = P["kept_gain"] * kmult

        def actions_truth() -> dict:
            return _actions_truth(built, ACTIONS, {
                "case_post": (chain == 0) & (contractor == 1) & closed_ok
                             & (close_m >= np.datetime64(aw["start"][:7])),
                "case_risk": risk_all,
                "resp_post": isR & (contractor[rc] == 1) & (close_m[rc] >= np.datetime64(aw["start"][:7])),
                "resp_risk": risk_all[rc], "m_cf": m - gain_k * flip_all[rc], "lam_cf": lam_r, "gain": gain_k,
                "dlam": 0.0,
            }, {"case_post": (chain == 1) & closed_ok & (close_m >= np.datetime64(ws["month"])),
                "case_risk": shift_risk})

        built.actions = actions_truth

    case_ids = _ids("WS", n_cases)
    cust_ids = _ids("HT", n_cust)
    resp_ids = _ids("WR", len(rc))


    isRep = chain == 0
    built.cases = {
        "case_id": ("id", case_ids, None),
        "chain": ("cat", (chain, chains), None),
        "customer_id": ("id", cust_ids[cust], None),
        "opened_at": ("ts", opened_t, None),
        "closed_at": _timestamp(closed),
        "reported_at": ("ts", np.where(isRep, rep_t, -1), isRep),
        "planned_at": _timestamp(T["planned"]),
        "appointment_at": _timestamp(T["appointment"]),
        "confirmed_at": _timestamp(T["confirmed"]),
        "visited_at": _timestamp(T["visited"]),
        "visits": ("int", visits_all, closed_ok & isRep),
        "contractor": ("cat", (np.maximum(contractor, 0), contractors), isRep),
        "received_at": ("ts", np.where(~isRep, rep_t, -1), ~isRep),
        "acknowledged_at": _timestamp(T["acknowledged"]),
        "answered_at": _timestamp(T["answered"]),
        "district": ("cat", (district_c[cust], districts), None),
    }
    built.responses = {
        "response_id": ("id", resp_ids, None),
        "customer_id": ("id", cust_ids[rcu], None),
        "responded_at": ("ts", resp_t, None),
        "score": ("int", score, None),
        "age_band": ("cat", (age_c[rcu], ["18-34", "35-64", "65+"]), None),
        "portal_user": ("cat", (portal_c[rcu].astype(int), ["no", "yes"]), None),
    }

    def config(cid: str, ext: str) -> dict:
        cfg = {
            "id": cid,
            "title": "Woonstad — housing corporation, repair requests and complaints",
            "result_kpi": {"name": "Review score", "scale": "rating", "min": 1, "max": 5, "top_box": [5],
                           "bottom_box": [1, 2]},
            "tables": {"responses": {"file": "responses" + ext}, "cases": {"file": "cases" + ext}},
            "linkage": {"by": "customer_id", "window_days": _WINDOW_DAYS},
            "chains": [
                {"id": "repair", "name": "Repair request",
                 "need": "Something in my home is broken and I want it fixed", "owner": "Head of Maintenance",
                 "links": ["Contact Centre", "Planning", "Maintenance", "Contractor"],
                 "kpis": [
                     {"id": "appointment_kept", "name": "Visit on the agreed day",
                      "expression": "visited_at::DATE = appointment_at::DATE", "unit": "share",
                      "direction": "higher", "target": 0.9, "link": "Planning"},
                     {"id": "fixed_first_time", "name": "Fixed at the first visit", "expression": "visits = 1",
                      "unit": "share", "direction": "higher", "target": 0.85, "link": "Contractor"},
                     {"id": "days_to_repair", "name": "Report to repaired",
                      "expression": "date_diff('day', reported_at, closed_at)", "unit": "days",
                      "direction": "lower", "target": 7, "link": "Maintenance"},
                 ],
                 "journey": {"steps": ["Report", "Plan", "Confirm", "Visit", "Close"],
                             "milestones": {"Report": "reported_at", "Plan": "planned_at", "Confirm": "confirmed_at",
                                            "Visit": "visited_at", "Close": "closed_at"}}},
                {"id": "complaint", "name": "Complaint handling",
                 "need": "I am unhappy about something and want it put right", "owner": "Head of Tenant Services",
                 "links": ["Contact Centre", "Complaints Desk", "Management"],
                 "kpis": [
                     {"id": "answered_in_time", "name": "Answered within 14 days",
                      "expression": "date_diff('day', received_at, answered_at) <= 14", "unit": "share",
                      "direction": "higher", "target": 0.85, "link": "Complaints Desk"},
                     {"id": "acknowledged_in_2_days", "name": "Receipt acknowledged within 2 days",
                      "expression": "date_diff('day', received_at, acknowledged_at) <= 2", "unit": "share",
                      "direction": "higher", "target": 0.9, "link": "Contact Centre"},
                 ],
                 "journey": {"steps": ["Receive", "Acknowledge", "Answer", "Close"],
                             "milestones": {"Receive": "received_at", "Acknowledge": "acknowledged_at",
                                            "Answer": "answered_at", "Close": "closed_at"}}},
            ],
            "segments": [
                {"id": "age", "name": "Age of the tenant", "table": "responses", "column": "age_band"},
                {"id": "portal", "name": "Uses the tenant portal", "table": "responses", "column": "portal_user"},
                {"id": "contractor", "name": "Contractor", "table": "cases", "column": "contractor"},
                {"id": "district", "name": "District", "table": "cases", "column": "district"},
            ],
            "reporting": _reporting(),
        }
        if arng is not None:
            cfg["actions"] = _action_config(ACTIONS)
        return cfg

    built.config = config
    return built
