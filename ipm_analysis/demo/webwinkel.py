"""Demo client ``webwinkel``: webshop, labelled satisfaction, the client's own column names, UTC offsets.

Its spec (the causal parameters, documented in docs/demo-clients.md, and its improvement
actions) and its generator, on the shared template."""

from __future__ import annotations

from typing import Any

import numpy as np

from .template import (_action_config, _actions_truth, _bt, _Built, _cat, _curve_truth, _CUTOFF, _day, _Driver, _Events,
                       _flag_effect, _ids, _KMAX, _known, _mix, _month_of, _N_DAYS, _params, _pick_responses, _r,
                       _reporting, _Scale, _segment_levels)


PARAMETERS: dict[str, Any] = {
    "sigma": 0.85,
    "mu": {"delivery": 4.1, "returns": 3.9},
    "main": {"member": 0.1},
    "on_time_gain": 0.6,
    "complete_gain": 0.45,
    "first_order_complete_multiplier": 2.0,
    "days_to_delivery": -0.08,
    "failed_attempt_cost": 0.25,
    "p_failed_attempt": 0.06,
    "skip_track_cost": 0.2,
    "p_skip_track": 0.08,
    "wismo_cost": 0.15,
    "wismo_rate": {"app": 0.03, "no_app": 0.13},
    "wismo_late": 0.9,
    "refund_hinge": {"knot": 5, "slope": -0.06, "cap": 20},
    "refund_complete_gain": 0.7,
    "label_in_box": 0.0,  # the null driver
}

# the drivers a no-driver client sets to zero
NULL_KEYS = ["on_time_gain", "complete_gain", "days_to_delivery", "failed_attempt_cost", "skip_track_cost",
             "wismo_cost", "refund_complete_gain"]

ACTIONS: dict[str, Any] = {
    "worked": {"id": "carrier_forecast_dhl", "name": "DHL orders get their promised date from the carrier's "
               "forecast", "owner": "Carrier", "chain": "delivery", "kpi": "delivered_on_time",
               "start": "2025-09-01", "pilot": {"segment": "carrier", "group": "DHL"}, "q": 0.8,
               "mechanism": "from the start, 80% of the DHL orders that would have arrived after the promised "
                            "day are promised the day they arrive (delivery itself unchanged)"},
    "null": {"id": "packing_check", "name": "A second check at packing", "owner": "Warehouse",
             "chain": "delivery", "kpi": "complete_order", "start": "2025-09-01"},
    "recent": {"id": "same_day_refund", "name": "Refunds paid the day the return arrives", "owner": "Finance",
               "chain": "returns", "kpi": "refund_days", "start": "2025-12-01"},
    "shift": {"chain": "returns", "kpi": "return_label_in_box", "month": "2025-10", "p": 0.5,
              "mechanism": "a new packing line: from October half of the parcels that would have had a return "
                           "label in the box go without"},
}


_WW_LABELS = ("very dissatisfied", "dissatisfied", "neutral", "satisfied", "very satisfied")


def build(rng: np.random.Generator, n_cases: int, n_resp: int, no_driver: bool,
          arng: np.random.Generator | None = None) -> _Built:
    P = _params(PARAMETERS, NULL_KEYS, no_driver)
    chains = ["delivery", "returns"]
    nd = round(n_cases * 0.85)
    nr = n_cases - nd

    n_cust = max(20, int(nd / 2.5))
    app_c = rng.random(n_cust) < 0.35
    member_c = rng.random(n_cust) < 0.30
    w = rng.gamma(0.7, 1.0, n_cust) + 0.05
    # -- orders (delivery chain)
    o_t = _bt(rng, rng.integers(0, _N_DAYS, nd), 6, 21)  # webwinkel times are UTC instants
    o_cust = rng.choice(n_cust, size=nd, p=w / w.sum())
    srt = np.lexsort((o_t, o_cust))
    first = np.zeros(nd, dtype=bool)
    first[srt[np.r_[True, o_cust[srt][1:] != o_cust[srt][:-1]]]] = True
    o_day = o_t // 86_400
    Pd = _cat(rng, [1, 2, 3], [0.55, 0.35, 0.10], nd)
    delta = np.maximum(_cat(rng, [-1, 0, 1, 2, 3, 4], [0.06, 0.80, 0.08, 0.03, 0.02, 0.01], nd), 1 - Pd)
    late = delta > 0
    D = Pd + delta
    deliv_day = o_day + D
    deliv_t = _bt(rng, deliv_day, 12, 20)
    items = 1 + rng.poisson(1.5, nd)
    incomplete = (rng.random(nd) < 0.05) & (items >= 2)
    items_deliv = items - np.where(incomplete, rng.integers(1, np.maximum(items, 2)), 0)
    pay_t = o_t + rng.integers(1, 11, nd) * 60
    pick_t = o_t + rng.integers(60, 360, nd) * 60
    ship_t = pick_t + rng.integers(60, 180, nd) * 60
    track_skip = rng.random(nd) < P["p_skip_track"]
    track_t = np.where(track_skip, -1, ship_t + rng.integers(5, 30, nd) * 60)
    failed = rng.random(nd) < P["p_failed_attempt"]
    fail_t = np.where(failed, deliv_t - rng.integers(120, 240, nd) * 60, -1)
    carriers = ["PostNL", "DHL", "DPD"]
    carrier = _cat(rng, [0, 1, 2], [0.55, 0.30, 0.15], nd)
    lam_d = np.where(app_c[o_cust], P["wismo_rate"]["app"], P["wismo_rate"]["no_app"]) + P["wismo_late"] * late
    n_wismo = np.minimum(rng.poisson(lam_d), _KMAX)
    AWW = ACTIONS
    risk_d = np.zeros(nd, dtype=bool)  # pilot orders that would have arrived after the promised day
    flip_d = np.zeros(nd, dtype=bool)  # ... and that the action promised right
    if arng is not None:  # the pilot: DHL promises the day its forecast gives; the delivery unchanged
        aw = AWW["worked"]
        risk_d = (carrier == 1) & (o_day >= _day(aw["start"])) & late
        flip_d = risk_d & (arng.random(nd) < aw["q"])
        Pd = np.where(flip_d, D, Pd)
        keep = np.where(flip_d, (lam_d - P["wismo_late"]) / lam_d, 1.0)
        n_wismo = np.where(flip_d, arng.binomial(n_wismo, keep), n_wismo)  # fewer "where is my order" calls
        lam_d = np.where(flip_d, lam_d - P["wismo_late"], lam_d)
        late = late & ~flip_d

    # -- returns: a return of an earlier order, refund after the parcel is received
    ret_of = rng.choice(nd, size=nr, replace=False)
    r_open = _bt(rng, deliv_day[ret_of] + rng.integers(1, 15, nr), 6, 21)
    label_in_box = rng.random(nr) < 0.6
    shift_r = np.zeros(nr, dtype=bool)
    if arng is not None:  # the level shift: fewer return labels in the box from its month on
        at = (r_open // 86_400 >= _day(AWW["shift"]["month"] + "-01")) & label_in_box
        shift_r = at
        label_in_box = label_in_box & ~(at & (arng.random(nr) < AWW["shift"]["p"]))
    label_t = np.where(label_in_box, -1, r_open + rng.integers(5, 60, nr) * 60)
    recv_day = r_open // 86_400 + rng.integers(2, 7, nr)
    recv_t = _bt(rng, recv_day, 9, 17)
    F = np.minimum(1 + rng.negative_binomial(2, 2 / 5, nr), 30)  # refund days, independent of the rest
    refund_t = _bt(rng, recv_day + F, 9, 17)
    value_c = rng.integers(999, 24_900, nr)  # cents
    refund_complete = rng.random(nr) < 0.88
    refund_c = np.where(refund_complete, value_c, (value_c * rng.uniform(0.5, 0.95, nr)).astype(np.int64))
    n_wimr = np.minimum(rng.poisson(0.02 + 0.04 * np.clip(F - 5, 0, None)), _KMAX)

    # -- one case table, sorted by creation time
    open_all = np.r_[o_t, r_open]
    perm = np.argsort(open_all, kind="stable")
    inv = np.empty(n_cases, dtype=np.int64)
    inv[perm] = np.arange(n_cases)
    chain = np.r_[np.zeros(nd, dtype=np.int64), np.ones(nr, dtype=np.int64)][perm]
    isD_all = chain == 0

    def put(dv, rv=None, fill=-1):
        out = np.r_[dv if dv is not None else np.full(nd, fill), rv if rv is not None else np.full(nr, fill)]
        return out[perm]

    cust = put(o_cust, o_cust[ret_of])
    open_t = open_all[perm]
    completed = put(deliv_t, refund_t)
    complete_ok = completed <= _CUTOFF

    rc = _pick_responses(rng, complete_ok & (completed + 8 * 86_400 <= _CUTOFF), n_resp, "webwinkel")
    resp_t = np.maximum(completed[rc] + 1800, _bt(rng, completed[rc] // 86_400 + rng.integers(0, 8, len(rc)), 6, 21))
    order = np.argsort(resp_t, kind="stable")
    rc, resp_t = rc[order], resp_t[order]
    src = perm[rc]  # index into the concatenated [orders, returns]
    rch = chain[rc]
    isD, isRt = rch == 0, rch == 1
    di = np.where(isD, src, 0)
    ri = np.where(isRt, src - nd, 0)
    rcu = cust[rc]
    first_r = np.where(isD, first[di], first[ret_of[ri]])
    member_r = member_c[rcu]

    hinge = P["refund_hinge"]

    def h(x):
        return hinge["slope"] * np.clip(np.asarray(x, dtype=float) - hinge["knot"], 0, hinge["cap"] - hinge["knot"])

    def dh(x):
        x = np.asarray(x, dtype=float)
        return np.where((x > hinge["knot"]) & (x <= hinge["cap"]), hinge["slope"], 0.0)

    mu = np.array([P["mu"][c] for c in chains])
    m = mu[rch] + P["main"]["member"] * member_r
    cmult = np.where(first_r, P["first_order_complete_multiplier"], 1.0)
    late_r = late[di]
    comp_r = ~incomplete[di]
    m = m + np.where(isD, -P["on_time_gain"] * late_r - P["complete_gain"] * cmult * (1 - comp_r)
                     + P["days_to_delivery"] * (D[di] - 1) - P["failed_attempt_cost"] * failed[di]
                     - P["skip_track_cost"] * track_skip[di], 0.0)
    m = m + np.where(isRt, h(F[ri]) - P["refund_complete_gain"] * (1 - refund_complete[ri]), 0.0)
    lam_r = np.where(isD, lam_d[di], 0.0)
    cost = P["wismo_cost"]
    n_contacts = np.where(isD, n_wismo[di], 0)
    sc = _Scale("labels", 1, 5, P["sigma"], 4, 2, _WW_LABELS)
    score = sc.observe(m - cost * n_contacts + P["sigma"] * rng.standard_normal(len(rc)))

    mD, lD = m[isD], lam_r[isD]
    onD = (~late_r[isD]).astype(float)
    cpD = comp_r[isD].astype(float)
    cmD = cmult[isD]
    gl, wl = P["on_time_gain"], P["wismo_late"]
    lD_rest = lD - wl * (1 - onD)
    mRt, lRt = m[isRt], lam_r[isRt]
    rcpl = refund_complete[ri][isRt].astype(float)
    gr = P["refund_complete_gain"]
    drivers = [
        _Driver("delivery", "delivered_on_time", "share", gl, "linear", onD,
                on=[(1.0, mD + gl * (1 - onD), lD_rest)], off=[(1.0, mD - gl * onD, lD_rest + wl)],
                note="includes the 'Where is my order' contacts that late deliveries cause; correlated with "
                     "days_to_delivery"),
        _Driver("delivery", "complete_order", "share", P["complete_gain"], "linear", cpD,
                on=[(1.0, mD + P["complete_gain"] * cmD * (1 - cpD), lD)],
                off=[(1.0, mD - P["complete_gain"] * cmD * cpD, lD)],
                note="first-time buyers react twice as strongly"),
        _Driver("delivery", "days_to_delivery", "days", P["days_to_delivery"], "linear", D[di][isD].astype(float),
                slope=np.full(isD.sum(), P["days_to_delivery"])),
        _Driver("returns", "refund_days", "days", hinge["slope"], "hinge", F[ri][isRt].astype(float),
                slope=dh(F[ri][isRt]),
                note=f"hinge: no cost up to {hinge['knot']} days, then {hinge['slope']} per day up to "
                     f"{hinge['cap']} days"),
        _Driver("returns", "refund_complete", "share", gr, "linear", rcpl,
                on=[(1.0, mRt + gr * (1 - rcpl), lRt)], off=[(1.0, mRt - gr * rcpl, lRt)]),
        _Driver("returns", "return_label_in_box", "share", P["label_in_box"], "none",
                label_in_box[ri][isRt].astype(float), slope=np.zeros(isRt.sum()),
                note="null driver: a return label in the parcel changes nothing"),
    ]
    if no_driver:
        for dv in drivers:
            dv.form, dv.latent = "none", 0.0

    built = _Built(
        config=None, responses=None, cases=None, events=None, offsets=True, scale=sc,
        result_kpi={"name": "Customer satisfaction", "scale": "labels", "labels": list(_WW_LABELS),
                    "top_box": ["satisfied", "very satisfied"], "bottom_box": ["very dissatisfied", "dissatisfied"],
                    "coded": "labels are analysed as 1..5 in the order given"},
        chains=chains, resp_chain=rch, m=m, lam=lam_r, cost=cost, score=score.astype(float), drivers=drivers,
        sections=dict, segments={
            "first_order": np.where(first_r, "yes", "no"),
            "app_user": np.where(app_c[rcu], "yes", "no"),
            "member": np.where(member_r, "yes", "no"),
        }, params=P)

    def sections() -> dict:
        if no_driver:
            return {}
        dv = drivers[1]
        fo = first_r[isD]
        levels = _segment_levels(built, dv, [("yes", fo, P["first_order_complete_multiplier"]), ("no", ~fo, 1.0)])
        table = _curve_truth(built, mRt - h(F[ri][isRt]), h, lRt, [5, 7, 10, 14, 20])
        e_fail = _flag_effect(built, mD, lD, P["failed_attempt_cost"], failed[di][isD])
        e_track = _flag_effect(built, mD, lD, P["skip_track_cost"], track_skip[di][isD])
        pc = _mix(lambda x: sc.stats(x - cost) - sc.stats(x), mD, lD, cost).mean(axis=0)
        per, per_h = float(pc[0]), float(pc[1])
        return {
            "nonlinear": {"returns.refund_days": {
                "variable": "date_diff('day', return_received_ts, refund_ts)",
                "shape": f"hinge at {hinge['knot']} days, slope {hinge['slope']} per day, flat after {hinge['cap']}",
                "by_days": table}},
            "segment_effects": {
                "first_order": {"modifies": "delivery.complete_order", "levels": levels,
                                "main_effect_latent": {"yes": 0.0, "no": 0.0}},
                "member": {"modifies": None, "main_effect_latent": {"yes": P["main"]["member"], "no": 0.0}},
                "app_user": {"modifies": None, "main_effect_latent": {"yes": 0.0, "no": 0.0},
                             "indirect": "no direct effect; app users ask 'Where is my order' less often "
                                         f"(rate {P['wismo_rate']['app']} vs {P['wismo_rate']['no_app']})"},
            },
            "journey_effects": {
                "skipped_step": {"chain": "delivery", "step": "Track & trace", "share_of_cases": P["p_skip_track"],
                                 "latent_effect": -P["skip_track_cost"], "effect_on_score": _r(e_track["score"]),
                                 "effect_on_top_box_pp": _r(e_track["head"])},
                "repeat_step": {"chain": "delivery", "activity": "Deliver", "share_of_cases": P["p_failed_attempt"],
                                "latent_effect": -P["failed_attempt_cost"], "effect_on_score": _r(e_fail["score"]),
                                "effect_on_top_box_pp": _r(e_fail["head"]),
                                "note": "a failed first delivery attempt; independent of every chain KPI"},
                "avoidable_contacts": {
                    "activity": "Where is my order", "latent_effect_per_contact": -cost,
                    "effect_on_score_per_contact": _r(per), "effect_on_top_box_pp_per_contact": _r(per_h),
                    "rate_per_case": {"app_user": P["wismo_rate"]["app"], "no_app": P["wismo_rate"]["no_app"],
                                      "extra_when_late": wl},
                    "note": "mediates part of delivery.delivered_on_time"},
                "other_contacts": {"activity": "Where is my refund",
                                   "note": "more frequent with slow refunds; no effect of its own"},
                "null_step": {"chain": "returns", "step": "Label sent",
                              "note": "skipped when the label was in the box (label_in_box): no effect"},
            },
        }

    built.sections = sections

    if arng is not None:
        aw, ws = AWW["worked"], AWW["shift"]
        close_m = _month_of(np.where(complete_ok, completed, 0))
        carrier_all = put(carrier, fill=-1)
        dhl_r = isD & (carrier[di] == 1)

        def actions_truth() -> dict:
            return _actions_truth(built, ACTIONS, {
                "case_post": isD_all & (carrier_all == 1) & complete_ok
                             & (close_m >= np.datetime64(aw["start"][:7])),
                "case_risk": put(risk_d, np.zeros(nr, dtype=bool), fill=0).astype(bool),
                "resp_post": dhl_r & (close_m[rc] >= np.datetime64(aw["start"][:7])),
                "resp_risk": isD & risk_d[di],
                "m_cf": m - P["on_time_gain"] * (isD & flip_d[di]),
                "lam_cf": lam_r + P["wismo_late"] * (isD & flip_d[di]),
                "gain": P["on_time_gain"], "dlam": -P["wismo_late"],
            }, {"case_post": ~isD_all & complete_ok & (close_m >= np.datetime64(ws["month"])),
                "case_risk": put(np.zeros(nd, dtype=bool), shift_r, fill=0).astype(bool)})

        built.actions = actions_truth

    case_ids = _ids("WW", n_cases)
    cust_ids = _ids("C", n_cust)
    resp_ids = _ids("S", len(rc))

    od_day = put(o_day)
    built.cases = {
        "dossier_nr": ("id", case_ids, None),
        "process": ("cat", (chain, chains), None),
        "klant_nr": ("id", cust_ids[cust], None),
        "created": ("ts", open_t, None),
        "completed": ("ts", completed, complete_ok),
        "order_date": ("date", od_day, od_day >= 0),
        "promised_date": ("date", put(o_day + Pd), isD_all),
        "shipped_ts": ("ts", put(ship_t), _known(put(ship_t))),
        "delivered_ts": ("ts", put(deliv_t), _known(put(deliv_t)) & isD_all),
        "delivery_attempts": ("int", put(1 + failed), _known(put(deliv_t)) & isD_all),
        "items_ordered": ("int", put(items), isD_all),
        "items_delivered": ("int", put(items_deliv), _known(put(deliv_t)) & isD_all),
        "carrier": ("cat", (put(carrier, fill=0), carriers), isD_all),
        "original_order": ("id", case_ids[inv[np.r_[np.zeros(nd, dtype=np.int64), ret_of]]][perm], ~isD_all),
        "return_received_ts": ("ts", put(None, recv_t), _known(put(None, recv_t))),
        "refund_ts": ("ts", put(None, refund_t), _known(put(None, refund_t))),
        "return_value": ("float", put(None, value_c, 0) / 100.0, ~isD_all),
        "refund_amount": ("float", put(None, refund_c, 0) / 100.0, _known(put(None, refund_t))),
        "label_in_box": ("bool", put(None, label_in_box, 0).astype(bool), ~isD_all),
    }
    built.responses = {
        "survey_id": ("id", resp_ids, None),
        "submitted": ("ts", resp_t, None),
        "satisfaction": ("cat", (score - 1, list(_WW_LABELS)), None),
        "dossier": ("id", case_ids[rc], None),
        "klant": ("id", cust_ids[rcu], None),
        "first_order": ("cat", (first_r.astype(int), ["no", "yes"]), None),
        "app_user": ("cat", (app_c[rcu].astype(int), ["no", "yes"]), None),
        "member": ("cat", (member_r.astype(int), ["no", "yes"]), None),
    }

    acts = ["Order", "Payment", "Pick", "Ship", "Track & trace", "Deliver", "Where is my order",
            "Return request", "Label sent", "Return received", "Refund", "Where is my refund"]
    links = ["Webshop", "Warehouse", "Carrier", "Customer Service", "Finance"]
    channels = ["web", "app", "e-mail", "chat", "phone", "visit"]
    full = {
        "order": put(o_t), "pay": put(pay_t), "pick": put(pick_t), "ship": put(ship_t), "track": put(track_t),
        "fail": put(fail_t), "deliv": put(deliv_t), "ropen": put(None, r_open), "label": put(None, label_t),
        "recv": put(None, recv_t), "refund": put(None, refund_t),
    }
    n_wismo_all = put(n_wismo, fill=0)
    n_wimr_all = put(None, n_wimr, 0)
    app_all = app_c[cust]
    names = {"case_id": "dossier_nr", "activity": "event", "timestamp": "event_time", "channel": "kanaal",
             "link": "afdeling"}

    def events(a: int, b: int, erng: np.random.Generator) -> dict:
        ev = _Events(acts, links, channels, names)
        sl = {k: v[a:b] for k, v in full.items()}
        app = app_all[a:b]
        order_ch = np.where(app & (erng.random(b - a) < 0.7), channels.index("app"), channels.index("web"))
        ev.add_where(a, sl["order"], "Order", "Webshop", order_ch, 0, erng)
        ev.add_where(a, sl["pay"], "Payment", "Webshop", order_ch, 1, erng)
        ev.add_where(a, sl["pick"], "Pick", "Warehouse", None, 2, erng)
        ev.add_where(a, sl["ship"], "Ship", "Warehouse", None, 3, erng)
        ev.add_where(a, sl["track"], "Track & trace", "Webshop", "e-mail", 4, erng)
        ev.add_where(a, sl["fail"], "Deliver", "Carrier", "visit", 5, erng)
        ev.add_where(a, sl["deliv"], "Deliver", "Carrier", "visit", 5, erng)
        ev.add_counts(a, n_wismo_all[a:b], sl["order"], sl["deliv"], "Where is my order", "Customer Service",
                      (["chat", "e-mail", "phone"], [0.5, 0.3, 0.2]), 6, erng)
        ev.add_where(a, sl["ropen"], "Return request", "Customer Service", np.where(app, 1, 0), 0, erng)
        ev.add_where(a, sl["label"], "Label sent", "Customer Service", "e-mail", 1, erng)
        ev.add_where(a, sl["recv"], "Return received", "Warehouse", None, 2, erng)
        ev.add_where(a, sl["refund"], "Refund", "Finance", "e-mail", 3, erng)
        ev.add_counts(a, n_wimr_all[a:b], sl["recv"], sl["refund"], "Where is my refund", "Customer Service",
                      (["chat", "e-mail", "phone"], [0.5, 0.3, 0.2]), 4, erng)
        return ev.table(case_ids)

    built.events = events

    def config(cid: str, ext: str) -> dict:
        cfg = {
            "id": cid,
            "title": "Webwinkel — webshop, order to delivery and returns",
            "result_kpi": {"name": "Customer satisfaction", "scale": "labels", "labels": list(_WW_LABELS),
                           "top_box": ["satisfied", "very satisfied"],
                           "bottom_box": ["very dissatisfied", "dissatisfied"]},
            "tables": {
                "responses": {"file": "responses" + ext,
                              "columns": {"response_id": "survey_id", "responded_at": "submitted",
                                          "score": "satisfaction", "case_id": "dossier", "customer_id": "klant"}},
                "cases": {"file": "cases" + ext,
                          "columns": {"case_id": "dossier_nr", "chain": "process", "customer_id": "klant_nr",
                                      "opened_at": "created", "closed_at": "completed"}},
                "events": {"file": "events" + ext,
                           "columns": {"case_id": "dossier_nr", "activity": "event", "timestamp": "event_time",
                                       "channel": "kanaal", "link": "afdeling"}},
            },
            "linkage": {"by": "case_id"},
            "chains": [
                {"id": "delivery", "name": "Order to delivery", "need": "I want what I ordered, when promised",
                 "owner": "E-commerce Operations Manager",
                 "links": ["Webshop", "Warehouse", "Carrier", "Customer Service"],
                 "kpis": [
                     {"id": "delivered_on_time", "name": "Delivered on the promised day",
                      "expression": "delivered_ts::DATE <= promised_date", "unit": "share", "direction": "higher",
                      "target": 0.95, "link": "Carrier"},
                     {"id": "complete_order", "name": "Everything in one delivery",
                      "expression": "items_delivered = items_ordered", "unit": "share", "direction": "higher",
                      "target": 0.98, "link": "Warehouse"},
                     {"id": "days_to_delivery", "name": "Order to delivery",
                      "expression": "date_diff('day', order_date, delivered_ts::DATE)", "unit": "days",
                      "direction": "lower", "target": 2, "link": "Warehouse"},
                 ],
                 "journey": {"steps": ["Order", "Payment", "Pick", "Ship", "Track & trace", "Deliver"]}},
                {"id": "returns", "name": "Returns and refunds", "need": "I want my money back for what I return",
                 "owner": "Head of Customer Service",
                 "links": ["Customer Service", "Carrier", "Warehouse", "Finance"],
                 "kpis": [
                     {"id": "refund_days", "name": "Return received to refund",
                      "expression": "date_diff('day', return_received_ts, refund_ts)", "unit": "days",
                      "direction": "lower", "target": 5, "link": "Finance"},
                     {"id": "refund_complete", "name": "Full amount refunded",
                      "expression": "refund_amount >= return_value", "unit": "share", "direction": "higher",
                      "target": 0.95, "link": "Warehouse"},
                     {"id": "return_label_in_box", "name": "Return label in the parcel", "expression": "label_in_box",
                      "unit": "share", "direction": "higher", "target": 0.8, "link": "Warehouse"},
                 ],
                 "journey": {"steps": ["Return request", "Label sent", "Return received", "Refund"]}},
            ],
            "segments": [
                {"id": "first_order", "name": "First order", "table": "responses", "column": "first_order"},
                {"id": "app_user", "name": "Uses the app", "table": "responses", "column": "app_user"},
                {"id": "member", "name": "Loyalty member", "table": "responses", "column": "member"},
                {"id": "carrier", "name": "Carrier", "table": "cases", "column": "carrier"},
            ],
            "contacts": {"avoidable": ["Where is my order", "Where is my refund"], "repeat_within_days": 7},
            "reporting": _reporting(),
        }
        if arng is not None:
            cfg["actions"] = _action_config(ACTIONS)
        return cfg

    built.config = config
    return built
