"""The demo clients' shared template: the result scale, the truth bookkeeping (exact expected
effects, LMG), vectorised helpers, writing tables and event logs, improvement actions with known
effects. Each client (``koffie``, ``woonstad``, ``webwinkel``) is a spec and a generator on top."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from scipy.special import ndtr

DEMO_CLIENTS: tuple[str, ...] = ("koffie", "woonstad", "webwinkel")
DEFAULT_SEEDS: dict[str, int] = {"koffie": 1102, "woonstad": 2202, "webwinkel": 3303}
NO_DRIVER_SEED_OFFSET = 50_000
DEFAULT_RESPONSE_RATE = 0.2  # responses per case: 20k responses come with 100k cases
SIZES: dict[str, int] = {"small": 2_000, "default": 20_000}
LARGE = {"client": "koffie", "n_responses": 1_000_000, "response_rate": 0.56}
FIXTURE = {"kind": "koffie", "client_id": "fixture", "n_responses": 2_000, "seed": 7,
           "response_rate": 0.6, "file_format": "csv"}
CHUNK_CASES = 200_000  # cases per chunk of the event log

_BASE_EPOCH = 1_735_689_600  # 2025-01-01 00:00:00 (naive local time)
_BASE_DAY = 20_089  # 2025-01-01 in days since 1970-01-01
_N_DAYS = 365  # cases open during 2025
_CUTOFF_DAY = 374  # data extracted on 2026-01-10: later milestones are not known yet
_CUTOFF = _CUTOFF_DAY * 86_400
_KMAX = 12  # contact counts are capped here (P(N > 12) < 1e-9 for the rates used)


def _params(parameters: dict[str, Any], null_keys: list[str], no_driver: bool) -> dict[str, Any]:
    """A client's causal parameters; for a no-driver client every driver's effect is zero."""
    p = copy.deepcopy(parameters)
    if no_driver:
        for k in null_keys:
            p[k] = 0.0
        level = float(np.mean(list(p["mu"].values())))
        p["mu"] = {c: level for c in p["mu"]}
        if "late_cost" in p:
            p["late_cost"] = {k: 0.0 for k in p["late_cost"]}
        for h in ("repair_hinge", "refund_hinge"):
            if h in p:
                p[h]["slope"] = 0.0
    return p


# ---------------------------------------------------------------------------------------
# the result scale: exact expectations of the rounded, clipped latent normal
# ---------------------------------------------------------------------------------------

_SQRT2PI = math.sqrt(2 * math.pi)


def _phi(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / _SQRT2PI


@dataclass(frozen=True)
class _Scale:
    kind: str  # nps, rating or labels
    lo: int
    hi: int
    sigma: float
    top_min: int  # lowest score in the top box
    bottom_max: int  # highest score in the bottom box
    labels: tuple[str, ...] = ()

    @property
    def cuts(self) -> np.ndarray:  # score >= lo + j  <=>  y* >= cuts[j - 1]
        return np.arange(self.lo, self.hi) + 0.5

    def _z(self, m: np.ndarray) -> np.ndarray:
        return (np.asarray(m, dtype=float)[..., None] - self.cuts) / self.sigma

    def stats(self, m: np.ndarray) -> np.ndarray:
        """Exact E[score], headline, E[score^2], P(top box), P(bottom box) given the latent mean.

        The headline is the NPS in points (nps) or the top-box share in percentage points
        (rating, labels). All five come from one matrix of normal CDFs at the cut points.
        """
        F = ndtr(self._z(m))  # F[..., j] = P(score >= lo + 1 + j)
        s = np.arange(self.lo + 1, self.hi + 1)
        mean = self.lo + F.sum(-1)
        second = self.lo ** 2 + (F * (2 * s - 1)).sum(-1)
        top = F[..., self.top_min - self.lo - 1]
        bottom = 1.0 - F[..., self.bottom_max - self.lo]
        head = 100 * (top - bottom) if self.kind == "nps" else 100 * top
        return np.stack([mean, head, second, top, bottom], axis=-1)

    def dstats(self, m: np.ndarray) -> np.ndarray:
        """Derivatives of E[score] and of the headline with respect to the latent mean."""
        f = _phi(self._z(m)) / self.sigma
        dtop = f[..., self.top_min - self.lo - 1]
        dhead = 100 * (dtop + f[..., self.bottom_max - self.lo]) if self.kind == "nps" else 100 * dtop
        return np.stack([f.sum(-1), dhead], axis=-1)

    def clipped(self, m):
        m = np.asarray(m, dtype=float)
        return ndtr((self.lo - 0.5 - m) / self.sigma) + ndtr((m - self.hi - 0.5) / self.sigma)

    def observe(self, ystar: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(ystar + 0.5), self.lo, self.hi).astype(np.int64)

    @property
    def head_key(self) -> str:
        return "nps_points" if self.kind == "nps" else "top_box_pp"


def _mix(fn: Callable, m: np.ndarray, lam: np.ndarray, cost: float) -> np.ndarray:
    """E over N ~ Poisson(lam) (capped at _KMAX, as drawn) of fn(m - cost * N).

    ``fn`` maps latent means of shape (n,) to (n,) or (n, k).
    """
    m = np.asarray(m, dtype=float)
    lam = np.broadcast_to(np.asarray(lam, dtype=float), m.shape)
    if m.size > 5_000:  # latent means are sums of discrete terms: work on the distinct values
        uniq, inv = np.unique(m + 1j * lam, return_inverse=True)
        if 4 * len(uniq) < m.size:
            return _mix_values(fn, uniq.real.copy(), uniq.imag.copy(), cost)[inv.ravel()]
    return _mix_values(fn, m, lam, cost)


def _mix_values(fn: Callable, m: np.ndarray, lam: np.ndarray, cost: float) -> np.ndarray:
    if cost == 0.0 or not np.any(lam > 0):
        return fn(m)

    def wt(w, out):
        return w[:, None] if out.ndim > w.ndim else w

    w = np.exp(-lam)
    left = np.ones_like(m)
    first = fn(m)
    total = wt(w, first) * first
    for n in range(1, _KMAX + 1):
        left -= w
        w = w * lam / n
        weight = np.clip(left, 0.0, None) if n == _KMAX else w
        total += wt(weight, first) * fn(m - cost * n)
    return total


# ---------------------------------------------------------------------------------------
# truth bookkeeping
# ---------------------------------------------------------------------------------------

State = list  # [(weight, m, lam), ...] over the responses of one chain


@dataclass
class _Driver:
    """One chain KPI as the truth sees it (arrays over the responses of its chain)."""

    chain: str
    kpi: str
    unit: str
    latent: float  # nominal latent coefficient per unit (0: a null driver)
    form: str  # linear, threshold, hinge, none
    x: np.ndarray  # the KPI's value for each response of the chain
    on: State | None = None  # 0/1 KPIs: the state with KPI = 1
    off: State | None = None  # ... and with KPI = 0
    slope: np.ndarray | None = None  # continuous KPIs: d latent / d KPI per response
    note: str = ""


@dataclass
class _Built:
    config: Callable[[str, str], dict]
    responses: dict
    cases: dict
    events: Callable[[int, int, np.random.Generator], dict] | None
    offsets: bool
    scale: _Scale
    result_kpi: dict
    chains: list[str]
    resp_chain: np.ndarray  # chain code per response
    m: np.ndarray  # latent mean per response, without contact costs
    lam: np.ndarray  # contact rate per response
    cost: float  # latent cost per contact
    score: np.ndarray  # observed score (numeric) per response
    drivers: list[_Driver]
    sections: Callable[[], dict]  # nonlinear / segment / journey sections
    segments: dict[str, np.ndarray]  # segment label per response, for the true result KPI by segment
    params: dict
    cache: dict = field(default_factory=dict)
    actions: Callable[[], dict] | None = None  # the truth of the actions and the level shift


def _expected(b: _Built, m: np.ndarray, lam) -> np.ndarray:
    """Exact stats (see :meth:`_Scale.stats`) per response for one state; cached per array pair."""
    lam = np.broadcast_to(np.asarray(lam, dtype=float), np.shape(m))
    key = (id(m), id(lam.base if lam.base is not None else lam))
    hit = b.cache.get(key)
    if hit is not None and hit[0] is m:
        return hit[2]
    out = _mix(b.scale.stats, m, lam, b.cost)
    b.cache[key] = (m, lam, out)
    return out


def _contrast(b: _Built, a: State, z: State, sel=None) -> dict:
    """Mean over responses (``sel`` of them) of E[.| state a] - E[.| state z].

    A state is a list of (weight, latent mean, contact rate) over the responses of one chain;
    several entries average over a distribution (e.g. of days late).
    """
    def pick(x):
        return x if sel is None else x[sel]

    def combine(state, f):
        return sum(w * pick(f(m, np.broadcast_to(np.asarray(lam, dtype=float), np.shape(m))))
                   for w, m, lam in state)

    ev = combine(a, lambda m, lam: _expected(b, m, lam)) - combine(z, lambda m, lam: _expected(b, m, lam))
    lat = combine(a, lambda m, lam: m - b.cost * lam) - combine(z, lambda m, lam: m - b.cost * lam)
    direct = combine(a, lambda m, lam: m) - combine(z, lambda m, lam: m)
    return {
        "latent": float(np.mean(lat)),
        "latent_direct": float(np.mean(direct)),
        "score": float(np.mean(ev[:, 0])),
        "head": float(np.mean(ev[:, 1])),
    }


def _slope_effect(b: _Built, slope: np.ndarray, m: np.ndarray, lam: np.ndarray, sel=None) -> dict:
    if sel is not None:
        slope, m, lam = slope[sel], m[sel], lam[sel]
    if not np.any(slope):
        return {"latent": 0.0, "latent_direct": 0.0, "score": 0.0, "head": 0.0}
    d = _mix(b.scale.dstats, m, lam, b.cost)
    return {
        "latent": float(np.mean(slope)),
        "latent_direct": float(np.mean(slope)),
        "score": float(np.mean(slope * d[:, 0])),
        "head": float(np.mean(slope * d[:, 1])),
    }


def _driver_effect(b: _Built, d: _Driver, sel=None) -> dict:
    mask = b.resp_chain == b.chains.index(d.chain)
    m, lam = b.m[mask], b.lam[mask]
    if d.on is not None:
        return _contrast(b, d.on, d.off, sel)
    slope = d.slope if d.slope is not None else np.zeros(mask.sum())
    return _slope_effect(b, slope, m, lam, sel)


def _r(x: float, nd: int = 6) -> float:
    x = float(x)
    if not math.isfinite(x):
        return x
    v = round(x, nd)
    return 0.0 if v == 0 else v


def _segment_levels(b: _Built, d: _Driver, levels) -> dict:
    """The true effect of driver ``d`` within each level of a segment that multiplies it.

    ``levels`` holds ``(level, responses of the level, latent multiplier)``; the effects are per unit
    of the driver, in the score and in the scale's head (NPS points or top-box points).
    """
    out = {}
    for level, sel, multiplier in levels:
        e = _contrast(b, d.on, d.off, sel)
        out[level] = {"latent_multiplier": multiplier, "effect_on_score_per_unit": _r(e["score"]),
                      f"effect_on_{b.scale.head_key}_per_unit": _r(e["head"]), "n_responses": int(sel.sum())}
    return out


def _curve_truth(b: _Built, base: np.ndarray, h: Callable, lam: np.ndarray, xs: list[int]) -> dict:
    """The true response curve of a time in days: the effect of ``x`` days against ``xs[0]`` days.

    ``base`` is each response's latent mean without the time's part ``h``; ``lam`` its contact rate.
    """
    ref = xs[0]
    table = {}
    for x in xs:
        e = _contrast(b, [(1.0, base + h(x), lam)], [(1.0, base, lam)])
        table[str(x)] = {f"latent_effect_vs_{ref}_days": _r(float(h(x))),
                         f"effect_on_score_vs_{ref}_days": _r(e["score"]),
                         f"effect_on_{b.scale.head_key}_vs_{ref}_days": _r(e["head"])}
    return table


def _flag_effect(b: _Built, m: np.ndarray, lam: np.ndarray, cost: float, flag: np.ndarray) -> dict:
    """The true effect of a 0/1 case flag (a step skipped, an attempt failed) set for every response
    against set for none; ``m`` already holds ``-cost`` where the flag is set."""
    return _contrast(b, [(1.0, m - cost * (1 - flag), lam)], [(1.0, m + cost * flag, lam)])


def _known(t) -> np.ndarray:
    """Whether a moment (seconds since 2025-01-01; negative: never happened) was known when the data
    were extracted."""
    t = np.asarray(t)
    return (t >= 0) & (t <= _CUTOFF)


def _timestamp(t) -> tuple:
    """A case column of moments; one not known at extraction is left empty."""
    t = np.asarray(t)
    return ("ts", t, _known(t))


def _lmg(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact Shapley (LMG) decomposition of the explained variance of y by the columns of X."""
    p = X.shape[1]
    C = np.cov(np.column_stack([X, y]), rowvar=False, bias=True)
    Cxx, cxy = C[:p, :p], C[:p, p]

    def ev(cols: tuple[int, ...]) -> float:
        if not cols:
            return 0.0
        idx = list(cols)
        beta = np.linalg.lstsq(Cxx[np.ix_(idx, idx)], cxy[idx], rcond=None)[0]
        return float(cxy[idx] @ beta)

    vals = {s: ev(s) for k in range(p + 1) for s in combinations(range(p), k)}
    out = np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        for k in range(p):
            wgt = math.factorial(k) * math.factorial(p - k - 1) / math.factorial(p)
            for s in combinations(others, k):
                out[j] += wgt * (vals[tuple(sorted(s + (j,)))] - vals[s])
    return out, vals[tuple(range(p))]


def _finish_truth(b: _Built, client_id: str, seed: int, no_driver: bool) -> dict:
    sc = b.scale
    n = len(b.m)
    st = _expected(b, b.m, b.lam)
    g_all, head_all, g2_all, top_all, bottom_all = (st[:, j] for j in range(5))
    var_all = float(g2_all.mean() - g_all.mean() ** 2)

    rows = []
    for ci, chain in enumerate(b.chains):
        mask = b.resp_chain == ci
        ds = [d for d in b.drivers if d.chain == chain]
        if not ds or mask.sum() < 3:
            continue
        X = np.column_stack([d.x for d in ds]).astype(float)
        G = g_all[mask]
        var_c = float(g2_all[mask].mean() - G.mean() ** 2)
        beta = np.linalg.lstsq(np.column_stack([np.ones(len(G)), X]), G, rcond=None)[0][1:]
        lmg, ev_total = _lmg(X, G)
        for j, d in enumerate(ds):
            eff = _driver_effect(b, d)
            sd = float(X[:, j].std())
            rows.append({
                "chain": chain,
                "kpi": d.kpi,
                "unit": d.unit,
                "form": d.form,
                "linear_in_kpi": d.form in ("linear", "threshold", "none"),
                "latent_effect": _r(eff["latent"]),
                "latent_effect_direct": _r(eff["latent_direct"]),
                "effect_on_score_per_unit": _r(eff["score"]),
                f"effect_on_{sc.head_key}_per_unit": _r(eff["head"]),
                "ols_target_per_unit": _r(beta[j]),
                "sd_over_responses": _r(sd),
                "standardised_effect": _r(eff["score"] * sd),
                "lmg_in_chain": _r(lmg[j]),
                "lmg_share_in_chain": _r(lmg[j] / ev_total) if ev_total > 1e-12 else None,
                "r2_in_chain": _r(lmg[j] / var_c),
                "importance": _r(mask.mean() * lmg[j] / var_all),
                "statement": _statement(d, eff, sc),
                "note": d.note,
                "_null": (d.latent == 0.0 and d.form == "none") or no_driver,
                "_imp": mask.mean() * lmg[j] / var_all,
                "_lmg": lmg[j],
            })
    drivers = [r for r in rows if not r["_null"]]
    nulls = [r for r in rows if r["_null"]]
    for rank, r in enumerate(sorted(drivers, key=lambda r: -r["_imp"]), start=1):
        r["rank"] = rank
    for chain in b.chains:
        in_chain = sorted((r for r in drivers if r["chain"] == chain), key=lambda r: -r["_lmg"])
        for rank, r in enumerate(in_chain, start=1):
            r["rank_in_chain"] = rank
    drivers.sort(key=lambda r: r["rank"])
    for r in rows:
        for k in ("_null", "_imp", "_lmg"):
            r.pop(k)
    for r in nulls:
        r["note"] = r["note"] or "no effect on the score"

    def kpi_summary(sel) -> dict:
        out = {"n_responses": int(sel.sum()), "mean_score": _r(g_all[sel].mean())}
        if sc.kind == "nps":
            out["nps"] = _r(head_all[sel].mean(), 4)
        else:
            out["top_box_share"] = _r(top_all[sel].mean())
            out["bottom_box_share"] = _r(bottom_all[sel].mean())
        return out

    everyone = np.ones(n, dtype=bool)
    true_kpi = kpi_summary(everyone)
    true_kpi["by_chain"] = {c: kpi_summary(b.resp_chain == i) for i, c in enumerate(b.chains)}
    true_kpi["by_segment"] = {
        seg: {str(level): kpi_summary(labels == level) for level in sorted(set(labels.tolist()))}
        for seg, labels in b.segments.items()
    }
    obs = {"mean_score": _r(b.score.mean())}
    if sc.kind == "nps":
        obs["nps"] = _r(100 * ((b.score >= 9).mean() - (b.score <= 6).mean()), 4)
    else:
        obs["top_box_share"] = _r((b.score >= sc.top_min).mean())
        obs["bottom_box_share"] = _r((b.score <= sc.bottom_max).mean())

    sections = b.sections()
    truth = {
        "client_id": client_id,
        "seed": seed,
        "no_driver": bool(no_driver),
        "n_responses": int(n),
        "n_cases": len(next(iter(b.cases.values()))[1]),
        "n_events": 0,
        "result_kpi": b.result_kpi,
        "model": {
            "latent": "y* = m + sigma * e, e ~ N(0, 1); score = clip(round(y*), min, max)",
            "sigma": b.scale.sigma,
            "scale": {"min": sc.lo, "max": sc.hi, "coding": list(sc.labels) if sc.labels else None},
            "latent_mean": _r(float(np.mean(b.m - b.cost * b.lam))),
            "share_clipped": _r(float(_mix(sc.clipped, b.m, b.lam, b.cost).mean())),
            "score_variance": _r(var_all),
            "contact_cost": b.cost,
            "parameters": b.params,
        },
        "drivers": drivers,
        "null_drivers": nulls,
        "nonlinear": sections.get("nonlinear", {}),
        "segment_effects": sections.get("segment_effects", {}),
        "journey_effects": sections.get("journey_effects", {}),
        "true_result_kpi": true_kpi,
        "observed_result_kpi": obs,
    }
    if b.actions is not None:
        truth.update(b.actions())
    return truth


def _statement(d: _Driver, eff: dict, sc: _Scale) -> str:
    head = "NPS points" if sc.kind == "nps" else "pp top box"
    if d.form == "none":
        return f"{d.kpi} has no effect on the score (null driver)"
    if d.unit == "share":
        return (f"+10 pp {d.kpi} -> {0.1 * eff['head']:+.2f} {head} "
                f"({0.1 * eff['score']:+.3f} on the score)")
    step = {"days": (1, "day"), "hours": (10, "hours")}.get(d.unit, (1, "unit"))
    k = step[0]
    return (f"-{k} {step[1]} {d.kpi} -> {-k * eff['head']:+.2f} {head} "
            f"({-k * eff['score']:+.3f} on the score)")


# ---------------------------------------------------------------------------------------
# small vectorised helpers
# ---------------------------------------------------------------------------------------


def _cat(rng: np.random.Generator, values, probs, n: int) -> np.ndarray:
    return np.asarray(values)[rng.choice(len(values), size=n, p=np.asarray(probs) / np.sum(probs))]


def _bt(rng: np.random.Generator, day, lo: float = 8, hi: float = 17) -> np.ndarray:
    """A time (seconds since 2025-01-01) on ``day`` between lo:00 and hi:00, whole minutes."""
    day = np.asarray(day, dtype=np.int64)
    return day * 86_400 + int(lo * 3600) + rng.integers(0, int((hi - lo) * 60), size=day.shape) * 60


def _ids(prefix: str, n: int, width: int | None = None) -> np.ndarray:
    """``prefix`` + zero-padded 1..n as a bytes array (vectorised)."""
    width = width or max(5, len(str(n)))
    nums = np.arange(1, n + 1, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = ((nums[:, None] // powers) % 10 + 48).astype(np.uint8)
    pre = np.frombuffer(prefix.encode(), dtype=np.uint8)
    buf = np.concatenate([np.broadcast_to(pre, (n, len(pre))), digits], axis=1)
    return np.ascontiguousarray(buf).view(f"S{len(pre) + width}").ravel()


def _last_sunday(year: int, month: int) -> int:
    """Day index (since 2025-01-01) of the last Sunday of a month."""
    nxt = np.datetime64(f"{year + (month == 12):04d}-{month % 12 + 1:02d}-01")
    last = nxt - np.timedelta64(1, "D")
    dow = (last.astype(np.int64) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    return int(last.astype(np.int64) - (dow - 6) % 7 - _BASE_DAY)


def _day_table(dmin: int, dmax: int) -> np.ndarray:
    days = np.arange(dmin, dmax + 1)
    txt = np.datetime_as_string((days + _BASE_DAY).astype("datetime64[D]")).astype("S10")
    return txt.view(np.uint8).reshape(-1, 10)


def _summer_time(t: np.ndarray) -> np.ndarray:
    """Whether a UTC instant falls in Central European Summer Time (01:00 UTC switches)."""
    out = np.zeros(t.shape, dtype=bool)
    for year in range(2024, 2028):
        start = _last_sunday(year, 3) * 86_400 + 3600
        end = _last_sunday(year, 10) * 86_400 + 3600
        out |= (t >= start) & (t < end)
    return out


def _fmt_ts(t: np.ndarray, valid: np.ndarray | None, offsets: bool) -> np.ndarray:
    """Seconds since 2025-01-01 -> b'YYYY-MM-DD HH:MM:SS'.

    With ``offsets`` the seconds are UTC instants, written as Amsterdam wall-clock time with
    their offset (b'+01:00' in winter, b'+02:00' in summer).
    """
    t = np.asarray(t, dtype=np.int64)
    if valid is not None:
        t = np.where(valid, t, 0)
    summer = _summer_time(t) if offsets else None
    if offsets:
        t = t + 3600 * (1 + summer)
    day = t // 86_400
    sod = t - day * 86_400
    dmin, dmax = (int(day.min()), int(day.max())) if len(day) else (0, 0)
    table = _day_table(dmin, dmax)
    width = 25 if offsets else 19
    out = np.empty((len(t), width), dtype=np.uint8)
    out[:, :10] = table[day - dmin]
    out[:, 10] = ord(" ")
    for pos, val in ((11, sod // 3600), (14, sod // 60 % 60), (17, sod % 60)):
        out[:, pos] = val // 10 + 48
        out[:, pos + 1] = val % 10 + 48
    out[:, 13] = out[:, 16] = ord(":")
    if offsets:
        out[:, 19:25] = np.frombuffer(b"+01:00", dtype=np.uint8)
        out[summer, 21] = ord("2")
    return out.view(f"S{width}").ravel()


def _fmt_date(day: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    day = np.asarray(day, dtype=np.int64)
    if valid is not None:
        day = np.where(valid, day, 0)
    return (day + _BASE_DAY).astype("datetime64[D]").astype(str).astype("S10")


# ---------------------------------------------------------------------------------------
# writing tables
# ---------------------------------------------------------------------------------------
# a column is (kind, values, valid-mask or None); kinds: id (bytes), cat ((codes, names)),
# int, float, bool, ts (seconds since 2025-01-01), date (days since 2025-01-01)


def _arrow(cols: dict, fmt: str, offsets: bool) -> pa.Table:
    arrays = []
    for kind, v, valid in cols.values():
        mask = None if valid is None else ~np.asarray(valid, dtype=bool)
        if kind == "id":
            a = pa.array(v, mask=mask).cast(pa.string())
        elif kind == "cat":
            codes, names = v
            a = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int32), mask=mask),
                                               pa.array(list(names), type=pa.string()))
        elif kind == "int":
            a = pa.array(np.asarray(v, dtype=np.int64), mask=mask)
        elif kind == "float":
            a = pa.array(np.asarray(v, dtype=np.float64), mask=mask)
        elif kind == "bool":
            a = pa.array(np.asarray(v, dtype=bool), mask=mask)
        elif kind == "ts":
            if fmt == "csv":
                a = pa.array(_fmt_ts(v, valid, offsets), mask=mask).cast(pa.string())
            else:
                vv = np.where(valid, v, 0) if valid is not None else v
                a = pa.array((np.asarray(vv, dtype=np.int64) + _BASE_EPOCH).astype("datetime64[s]"), mask=mask)
        elif kind == "date":
            if fmt == "csv":
                a = pa.array(_fmt_date(v, valid), mask=mask).cast(pa.string())
            else:
                vv = np.where(valid, v, 0) if valid is not None else v
                a = pa.array((np.asarray(vv, dtype=np.int64) + _BASE_DAY).astype(np.int32), type=pa.date32(),
                             mask=mask)
        else:  # pragma: no cover - a programming error
            raise ValueError(kind)
        arrays.append(a)
    return pa.Table.from_arrays(arrays, names=list(cols))


def _write_table(path: Path, chunks, fmt: str, offsets: bool) -> int:
    """Write column dicts (one or more chunks) to CSV or Parquet; returns the row count."""
    n = 0
    if fmt == "csv":
        opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
        with open(path, "wb") as fh:
            header = False
            for cols in chunks:
                if not header:
                    fh.write((",".join(cols) + "\n").encode("utf-8"))
                    header = True
                tbl = _arrow(cols, fmt, offsets)
                pacsv.write_csv(tbl, fh, opts)
                n += tbl.num_rows
        return n
    writer = None
    try:
        for cols in chunks:
            tbl = _arrow(cols, fmt, offsets)
            if writer is None:
                writer = pq.ParquetWriter(path, tbl.schema, compression="zstd")
            writer.write_table(tbl)
            n += tbl.num_rows
    finally:
        if writer is not None:
            writer.close()
    return n


class _Events:
    """Collects events of a chunk of cases and returns them sorted by case, time, design order."""

    def __init__(self, activities: list[str], links: list[str], channels: list[str], names: dict[str, str]):
        self.activities, self.links, self.channels, self.names = activities, links, channels, names
        self.parts: list[tuple] = []

    def add(self, case_idx, t, activity: str, link: str | None, channel, seq: int, rng) -> None:
        case_idx = np.asarray(case_idx, dtype=np.int64)
        n = len(case_idx)
        if n == 0:
            return
        if channel is None:
            ch = np.full(n, -1, dtype=np.int64)
        elif isinstance(channel, str):
            ch = np.full(n, self.channels.index(channel), dtype=np.int64)
        elif isinstance(channel, tuple):  # (names, probs)
            ch = _cat(rng, [self.channels.index(c) for c in channel[0]], channel[1], n)
        else:  # per-event codes already
            ch = np.asarray(channel, dtype=np.int64)
        lk = np.full(n, -1 if link is None else self.links.index(link), dtype=np.int64)
        self.parts.append((case_idx, np.asarray(t, dtype=np.int64), np.full(n, self.activities.index(activity)),
                           ch, lk, np.full(n, seq)))

    def add_where(self, lo: int, t_full: np.ndarray, activity, link, channel, seq, rng, extra_mask=None):
        """Events for the cases of [lo, lo + len) whose time in t_full is set (>= 0)."""
        t = t_full
        ok = t >= 0
        if extra_mask is not None:
            ok &= extra_mask
        idx = np.flatnonzero(ok)
        if isinstance(channel, np.ndarray):
            channel = channel[idx]
        self.add(lo + idx, t[idx], activity, link, channel, seq, rng)

    def add_counts(self, lo, counts, t_from, t_to, activity, link, channel, seq, rng):
        """``counts`` events per case at uniform times between t_from and t_to."""
        counts = np.asarray(counts, dtype=np.int64)
        idx = np.repeat(np.arange(len(counts)), counts)
        if len(idx) == 0:
            return
        a, b = t_from[idx], np.maximum(t_to[idx], t_from[idx] + 600)
        t = a + ((b - a) * rng.random(len(idx)) // 60).astype(np.int64) * 60
        self.add(lo + idx, t, activity, link, channel, seq, rng)

    def table(self, case_ids: np.ndarray) -> dict:
        case_idx, t, act, ch, lk, seq = (np.concatenate([p[i] for p in self.parts]) for i in range(6))
        keep = t <= _CUTOFF
        case_idx, t, act, ch, lk, seq = (a[keep] for a in (case_idx, t, act, ch, lk, seq))
        order = np.lexsort((seq, t, case_idx))
        case_idx, t, act, ch, lk = (a[order] for a in (case_idx, t, act, ch, lk))
        nm = self.names
        return {
            nm["case_id"]: ("id", case_ids[case_idx], None),
            nm["activity"]: ("cat", (act, self.activities), None),
            nm["timestamp"]: ("ts", t, None),
            nm["channel"]: ("cat", (np.maximum(ch, 0), self.channels), ch >= 0),
            nm["link"]: ("cat", (np.maximum(lk, 0), self.links), lk >= 0),
        }


_CONTRACT_EVENT_NAMES = {"case_id": "case_id", "activity": "activity", "timestamp": "timestamp",
                         "channel": "channel", "link": "link"}


def _reporting() -> dict:
    return {"period": "month", "min_base_flag": 30, "min_base_suppress": 10}


def _pick_responses(rng, eligible: np.ndarray, n_resp: int, what: str) -> np.ndarray:
    idx = np.flatnonzero(eligible)
    if len(idx) < n_resp:  # pragma: no cover - guarded by the response-rate limit
        raise ValueError(f"{what}: only {len(idx)} cases can carry a response, {n_resp} asked; "
                         "lower response_rate")
    return np.sort(rng.choice(idx, size=n_resp, replace=False))


# ---------------------------------------------------------------------------------------
# improvement actions and a level shift: known effects, from their own random stream
# ---------------------------------------------------------------------------------------

ACTION_STREAM = 4_242  # the actions' generator is default_rng([seed, ACTION_STREAM])

# Each client's ACTIONS (its spec): a pilot that worked (a 0/1 chain KPI moved for a share ``q`` of the pilot's cases that
# would have failed it, from ``start`` on), an action with no effect, one started too recently to
# judge, and a level shift of one chain KPI for the control charts (a share ``p`` of the cases from
# ``month`` on that would have met the KPI fail it).


def _day(date: str) -> int:
    """Day index since 2025-01-01 of an ISO date."""
    return int((np.datetime64(date, "D") - np.datetime64("2025-01-01", "D")).astype(np.int64))


def _month_of(t: np.ndarray) -> np.ndarray:
    """Month (numpy datetime64[M]) of seconds since 2025-01-01; NaT-free input assumed."""
    return (np.asarray(t, dtype=np.int64) // 86_400 + _BASE_DAY).astype("datetime64[D]").astype("datetime64[M]")


def _action_config(A: dict[str, Any]) -> list[dict]:
    """The ``actions:`` of a demo client's client.yaml (``A``: the client's ``ACTIONS``)."""
    out = []
    for key in ("worked", "null", "recent"):
        a = A[key]
        d = {"id": a["id"], "name": a["name"], "owner": a["owner"], "kpis": [a["kpi"]], "start": a["start"]}
        if "pilot" in a:
            d["pilot"] = dict(a["pilot"])
        out.append(d)
    return out


def _actions_truth(b: "_Built", A: dict[str, Any], worked: dict, shift: dict) -> dict:
    """The truth of a client's actions and level shift.

    ``worked`` holds, for the pilot: ``case_post`` (cases of the chain in the pilot whose period, the
    month they closed, is on or after the start's month, KPI known), ``case_risk`` (those treated that
    would have failed the KPI), ``resp_post`` / ``resp_risk`` (the same over responses, by the month
    their case closed, as the review counts them), ``m_cf``/``lam_cf`` (latent mean and contact rate per response had the action not
    run), ``gain``/``dlam`` (what passing the KPI adds to them). ``shift`` holds ``case_post`` and
    ``case_risk`` for the shift. The effects are expectations over the action's draws. ``A``: the
    client's ``ACTIONS``.
    """
    a = A["worked"]
    q = a["q"]
    kpi_effect = q * float(worked["case_risk"][worked["case_post"]].mean())
    rr = worked["resp_risk"] & worked["resp_post"]
    gain = np.broadcast_to(np.asarray(worked["gain"], dtype=float), worked["m_cf"].shape)[rr]
    on = _mix(b.scale.stats, worked["m_cf"][rr] + gain, worked["lam_cf"][rr] + worked["dlam"], b.cost)
    off = _mix(b.scale.stats, worked["m_cf"][rr], worked["lam_cf"][rr], b.cost)
    n_post = int(worked["resp_post"].sum())
    diff = q * (on - off).sum(axis=0) / max(n_post, 1)
    head = b.scale.head_key
    unit = "NPS points" if b.scale.kind == "nps" else "score points"
    actions = [{
        "id": a["id"], "kind": "worked", "chain": a["chain"], "kpi": a["kpi"], "unit": "share", "start": a["start"],
        "pilot": a["pilot"], "mechanism": a["mechanism"], "probability": q,
        "true_effect_on_kpi": _r(kpi_effect),
        "true_effect_on_result": {"score": _r(diff[0]), head: _r(diff[1]),
                                  "in_result_points": _r(diff[1] if b.scale.kind == "nps" else diff[0]),
                                  "unit": unit},
        "expected_verdict": "worked",
        "note": "effects over the pilot's cases closed from the start's month on (KPI) and the answers "
                "about them (result KPI), against the same cases without the action; what a "
                "pilot-against-the-rest comparison estimates",
        "n_cases_pilot_after": int(worked["case_post"].sum()), "n_responses_pilot_after": n_post,
    }]
    for key, verdict_ in (("null", "no measurable effect"), ("recent", "too early to tell")):
        x = A[key]
        actions.append({"id": x["id"], "kind": "no effect" if key == "null" else "too recent", "chain": x["chain"],
                        "kpi": x["kpi"], "start": x["start"], "pilot": None,
                        "mechanism": "none: the data are generated as if the action had not been taken",
                        "true_effect_on_kpi": 0.0,
                        "true_effect_on_result": {"score": 0.0, head: 0.0, "in_result_points": 0.0, "unit": unit},
                        "expected_verdict": verdict_})
    s = A["shift"]
    change = -s["p"] * float(shift["case_risk"][shift["case_post"]].mean())
    level_shift = {"chain": s["chain"], "kpi": s["kpi"], "month": s["month"], "probability": s["p"],
                   "change": _r(change), "unit": "share", "mechanism": s["mechanism"],
                   "note": "change of the KPI's share over the chain's cases closed from that month on (expected)"}
    return {"actions": actions, "level_shift": level_shift}
