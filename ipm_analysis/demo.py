"""Demo clients with a known ground truth.

Three realistic client folders that follow ``docs/data-contract.md``, generated from a
documented causal model, each with a ``truth.json`` that says which chain KPIs drive the
score, how strongly, in which order, and which do not matter at all. They serve the demo
reports and, above all, as a test bed: an engine that analyses them must find the truth.

=============  ==========================================  =====================================
client         chains (chain KPIs)                          what it exercises
=============  ==========================================  =====================================
``koffie``     installation (on_time, right_first_time,     NPS 0-10, linkage by case_id, event
               lead_time_days), supplies (delivered_on_     log with channels and links,
               time, complete_delivery), repair (fixed_     avoidable "Status call" contacts,
               first_visit, response_time_hours)           repeat visits, a skipped step
``woonstad``   repair request (appointment_kept, fixed_     1-5 star rating, linkage by
               first_time, days_to_repair), complaint       customer_id within window_days,
               (answered_in_time, acknowledged_in_2_days)   journeys from milestone columns
``webwinkel``  delivery (delivered_on_time, complete_       labelled answers ("very dissatisfied"
               order, days_to_delivery), returns            ... "very satisfied"), the client's
               (refund_days, refund_complete, label_in_box) own column names mapped in
                                                            ``tables.*.columns``, UTC offsets
=============  ==========================================  =====================================

The causal model
----------------
Every response is about one case (its *linked* case). Its answer is a rounded, clipped latent
normal::

    y*    = m + sigma * e,          e ~ N(0, 1)
    m     = mu_chain + segment main effects + chain-KPI effects + journey effects
            - contact_cost * N_contacts
    score = clip(round(y*), scale min, scale max)

The chain-KPI effects are mostly linear in the KPI's per-case value; the exceptions are
designed to test an engine:

* **non-linear lateness** (koffie installation): being 1 day late costs almost nothing, 2 days
  somewhat, 3 or more days a lot. The ``on_time`` KPI is the 0/1 flag; the days late are
  drawn independently of every other KPI so that the flag's effect stays clean (it equals
  the mean cost of the client's usual lateness). Hinges (woonstad ``days_to_repair``: no cost
  for the first 7 days; webwinkel ``refund_days``: none for the first 5) are the continuous
  kind. Hinge KPIs are independent of the other KPIs of their chain.
* **a segment that reacts differently**: new koffie customers react twice as strongly to
  lateness; woonstad tenants of 65+ twice as strongly to a missed appointment; first-time
  webwinkel buyers twice as strongly to an incomplete order.
* **journey deviations**: a skipped step costs score (koffie's appointment ``Confirm``,
  woonstad's ``Confirm``, webwinkel's ``Track & trace`` e-mail); a repeat visit / repeat
  delivery attempt costs score (in koffie and woonstad the repeat visit *is* the right-first-
  time KPI, in webwinkel a failed first delivery attempt is a separate deviation).
* **avoidable contacts** cost score per contact: koffie's ``Status call`` (more likely when
  a case is late and when the customer has no online account), webwinkel's ``Where is my
  order`` (more likely when late, less for app users). They *mediate* part of the lateness
  effect; the chain KPI's total effect includes the mediated part.
* **null drivers**: KPIs with no effect at all, drawn independently of everything that has
  one (koffie ``lead_time_days``, woonstad ``acknowledged_in_2_days``, webwinkel
  ``label_in_box``), so a sound engine does not rank them.

``generate_client(..., no_driver=True)`` zeroes every KPI, journey and contact effect and
gives all chains the same base level: the score depends on segment main effects and noise
only (the "no reliable driver found" case).

The ground truth (``truth.json``)
---------------------------------
Rounding and clipping attenuate latent effects, so the truth gives, per driver, both the
latent coefficient and the *average marginal effect on the observed score*, computed exactly
from the normal CDF over the generated population (no sampling noise from the latent draws):

* 0/1 KPIs: the mean over the chain's responses of ``E[score | KPI = 1] - E[score | KPI = 0]``
  with everything else of the response as generated; for the lateness flag the "late" state
  averages over the designed distribution of days late, and mediated contacts are integrated
  over their Poisson distribution.
* continuous KPIs: the mean over the chain's responses of ``d E[score] / d KPI`` (for hinges
  the left derivative, i.e. the effect of one unit *less*, sign as per +1 unit).
* for NPS the same in NPS points, for ratings in top-box percentage points.

It also gives the population least-squares target of an OLS of the observed score on the
chain's KPIs (``ols_target_per_unit``), the exact Shapley/LMG decomposition of that OLS's
R² within the chain, and the importance order at response level. See
``docs/demo-clients.md`` for the file format and every parameter.

All randomness comes from ``np.random.default_rng(seed)``: the same arguments give
byte-identical files. Generation is vectorised numpy; the event log is written in chunks so
that a client with 10 million events fits in memory comfortably.
"""

from __future__ import annotations

import copy
import json
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
import yaml
from scipy.special import ndtr

__all__ = [
    "DEFAULT_SEEDS",
    "DEMO_CLIENTS",
    "PARAMETERS",
    "DemoClient",
    "generate_client",
    "write_demo_clients",
    "write_fixture",
]

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

# ---------------------------------------------------------------------------------------
# the causal parameters (latent scale), documented in docs/demo-clients.md
# ---------------------------------------------------------------------------------------

PARAMETERS: dict[str, dict[str, Any]] = {
    "koffie": {
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
    },
    "woonstad": {
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
    },
    "webwinkel": {
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
    },
}

_NULL_KEYS = {
    "koffie": ["rft_gain", "skip_confirm_cost", "supplies_on_time", "supplies_complete", "repair_ffv",
               "repair_hours", "status_cost"],
    "woonstad": ["kept_gain", "ftf_gain", "skip_confirm_cost", "answered_gain"],
    "webwinkel": ["on_time_gain", "complete_gain", "days_to_delivery", "failed_attempt_cost", "skip_track_cost",
                  "wismo_cost", "refund_complete_gain"],
}


def _params(kind: str, no_driver: bool) -> dict[str, Any]:
    p = copy.deepcopy(PARAMETERS[kind])
    if no_driver:
        for k in _NULL_KEYS[kind]:
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
# public API
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoClient:
    """What :func:`generate_client` wrote.

    Attributes
    ----------
    client_id, kind
        The client's id (folder name) and which generator made it.
    path
        The client folder.
    n_responses, n_cases, n_events
        Rows written per table (``n_events`` is 0 without an event log).
    truth
        The contents of ``truth.json``.
    """

    client_id: str
    kind: str
    path: Path
    n_responses: int
    n_cases: int
    n_events: int
    truth: dict = field(repr=False)

    def __fspath__(self) -> str:
        return str(self.path)


def generate_client(
    kind: str,
    out_dir: str | Path,
    n_responses: int = 20_000,
    seed: int | None = None,
    scale: float = 1.0,
    *,
    response_rate: float | None = None,
    no_driver: bool = False,
    file_format: str = "csv",
    client_id: str | None = None,
    actions: bool | None = None,
) -> DemoClient:
    """Generate one demo client folder with its ground truth.

    Parameters
    ----------
    kind
        ``"koffie"``, ``"woonstad"`` or ``"webwinkel"``.
    out_dir
        The client folder to write (created; files in it are overwritten).
    n_responses
        Survey responses before ``scale``; cases are ``n_responses / response_rate``.
    seed
        Seed of ``np.random.default_rng``; ``None`` takes the kind's default seed (plus
        ``NO_DRIVER_SEED_OFFSET`` for a no-driver client). The same arguments give
        byte-identical files.
    scale
        Multiplies ``n_responses`` (and so cases and events), e.g. ``scale=50`` for a
        benchmark client.
    response_rate
        Share of cases that carry a survey response (default 0.2, i.e. five cases per
        response; an event log of about six events per case).
    no_driver
        When true the score is independent of every chain KPI, journey deviation and contact
        (segment main effects and noise only).
    file_format
        ``"csv"`` or ``"parquet"`` for the tables (``client.yaml`` names the files).
    client_id
        The id written to ``client.yaml`` (default: ``kind``, plus ``_no_driver`` when
        ``no_driver``).
    actions
        Improvement actions with known effects and a level shift of one chain KPI (see
        :data:`ACTIONS`), drawn from their own random stream ``default_rng([seed, ACTION_STREAM])``
        so that everything else is drawn as without them; ``client.yaml`` gets ``actions:`` and
        ``truth.json`` their true effects. Default: on, except for a no-driver client.

    Returns
    -------
    DemoClient
        Paths, row counts and the truth.
    """
    if kind not in _BUILDERS:
        raise ValueError(f"kind must be one of {sorted(_BUILDERS)}, got {kind!r}")
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be 'csv' or 'parquet', got {file_format!r}")
    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    n_resp = round(n_responses * scale)
    if n_resp < 50:
        raise ValueError(f"at least 50 responses are needed, got n_responses * scale = {n_resp}")
    rate = DEFAULT_RESPONSE_RATE if response_rate is None else float(response_rate)
    if not 0 < rate <= 0.7:
        raise ValueError(f"response_rate must lie in (0, 0.7], got {response_rate!r}")
    if seed is None:  # a no-driver client gets its own stream, not the normal client's noise
        seed = DEFAULT_SEEDS[kind] + (NO_DRIVER_SEED_OFFSET if no_driver else 0)
    seed = int(seed)
    cid = client_id or (kind + ("_no_driver" if no_driver else ""))
    n_cases = math.ceil(n_resp / rate)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    with_actions = (not no_driver) if actions is None else bool(actions)
    arng = np.random.default_rng([seed, ACTION_STREAM]) if with_actions else None
    built = _BUILDERS[kind](rng, n_cases, n_resp, no_driver, arng)
    ext = "." + file_format
    config = built.config(cid, ext)
    truth = _finish_truth(built, cid, seed, no_driver)

    _write_table(out / ("responses" + ext), [built.responses], file_format, built.offsets)
    _write_table(out / ("cases" + ext), [built.cases], file_format, built.offsets)
    n_events = 0
    if built.events is not None:
        chunks = (
            built.events(a, min(a + CHUNK_CASES, n_cases), np.random.default_rng([seed, 97, a // CHUNK_CASES]))
            for a in range(0, n_cases, CHUNK_CASES)
        )
        n_events = _write_table(out / ("events" + ext), chunks, file_format, built.offsets)
    truth["n_events"] = n_events
    (out / "client.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return DemoClient(cid, kind, out, n_resp, n_cases, n_events, truth)


def write_demo_clients(out_root: str | Path = "data/demo", size: str = "default") -> list[Path]:
    """Write the three demo clients into ``<out_root>/<client_id>/``.

    Parameters
    ----------
    out_root
        Parent folder (``data/demo`` is git-ignored).
    size
        ``"small"`` (2,000 responses each, for tests), ``"default"`` (about 20k responses,
        100k cases and 600k events per client) or ``"large"`` (koffie with 1M responses and
        about 10M events, in Parquet, for benchmarks; the others at default size, Parquet).

    Returns
    -------
    list of Path
        The client folders, in the order of :data:`DEMO_CLIENTS`.
    """
    if size not in ("small", "default", "large"):
        raise ValueError(f"size must be 'small', 'default' or 'large', got {size!r}")
    root = Path(out_root)
    dirs = []
    for kind in DEMO_CLIENTS:
        kwargs: dict[str, Any] = {"n_responses": SIZES.get(size, SIZES["default"])}
        if size == "large":
            kwargs["file_format"] = "parquet"
            if kind == LARGE["client"]:
                kwargs.update(n_responses=LARGE["n_responses"], response_rate=LARGE["response_rate"])
        dirs.append(generate_client(kind, root / kind, **kwargs).path)
    return dirs


def write_fixture(out_dir: str | Path = "tests/fixtures/clients/fixture") -> DemoClient:
    """(Re)write the committed test fixture: a small koffie copy with id ``fixture``."""
    f = dict(FIXTURE)
    return generate_client(f.pop("kind"), out_dir, **f, actions=False)


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

# Per client: a pilot that worked (a 0/1 chain KPI moved for a share ``q`` of the pilot's cases that
# would have failed it, from ``start`` on), an action with no effect, one started too recently to
# judge, and a level shift of one chain KPI for the control charts (a share ``p`` of the cases from
# ``month`` on that would have met the KPI fail it).
ACTIONS: dict[str, dict[str, Any]] = {
    "koffie": {
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
    },
    "woonstad": {
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
    },
    "webwinkel": {
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
    },
}


def _day(date: str) -> int:
    """Day index since 2025-01-01 of an ISO date."""
    return int((np.datetime64(date, "D") - np.datetime64("2025-01-01", "D")).astype(np.int64))


def _month_of(t: np.ndarray) -> np.ndarray:
    """Month (numpy datetime64[M]) of seconds since 2025-01-01; NaT-free input assumed."""
    return (np.asarray(t, dtype=np.int64) // 86_400 + _BASE_DAY).astype("datetime64[D]").astype("datetime64[M]")


def _action_config(kind: str) -> list[dict]:
    """The ``actions:`` of a demo client's client.yaml."""
    A = ACTIONS[kind]
    out = []
    for key in ("worked", "null", "recent"):
        a = A[key]
        d = {"id": a["id"], "name": a["name"], "owner": a["owner"], "kpis": [a["kpi"]], "start": a["start"]}
        if "pilot" in a:
            d["pilot"] = dict(a["pilot"])
        out.append(d)
    return out


def _actions_truth(b: "_Built", kind: str, worked: dict, shift: dict) -> dict:
    """The truth of a client's actions and level shift.

    ``worked`` holds, for the pilot: ``case_post`` (cases of the chain in the pilot whose period, the
    month they closed, is on or after the start's month, KPI known), ``case_risk`` (those treated that
    would have failed the KPI), ``resp_post`` / ``resp_risk`` (the same over responses, by the month
    their case closed, as the review counts them), ``m_cf``/``lam_cf`` (latent mean and contact rate per response had the action not
    run), ``gain``/``dlam`` (what passing the KPI adds to them). ``shift`` holds ``case_post`` and
    ``case_risk`` for the shift. The effects are expectations over the action's draws.
    """
    A = ACTIONS[kind]
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


# ---------------------------------------------------------------------------------------
# koffie: coffee-machine installer, NPS, linkage by case, event log
# ---------------------------------------------------------------------------------------


def _build_koffie(rng: np.random.Generator, n_cases: int, n_resp: int, no_driver: bool,
                  arng: np.random.Generator | None = None) -> _Built:
    P = _params("koffie", no_driver)
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
    AK = ACTIONS["koffie"]
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
    closed_ok = (closed_t >= 0) & (closed_t <= _CUTOFF)

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
        seg = {}
        for level, sel in (("new", new_i), ("existing", ~new_i)):
            e = _contrast(built, dv.on, dv.off, sel)
            seg[level] = {"latent_multiplier": P["new_late_multiplier"] if level == "new" else 1.0,
                          "effect_on_score_per_unit": _r(e["score"]),
                          "effect_on_nps_points_per_unit": _r(e["head"]),
                          "n_responses": int(sel.sum())}
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
        e_skip = _contrast(built, [(1.0, mi - P["skip_confirm_cost"] * (1 - sk), li)],
                           [(1.0, mi + P["skip_confirm_cost"] * sk, li)])
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
            out = _actions_truth(built, "koffie", {
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

    def ts(a):
        a = np.asarray(a)
        return ("ts", a, (a >= 0) & (a <= _CUTOFF))

    inst_ok = (E["installed"] >= 0) & (E["installed"] <= _CUTOFF)
    deliv_ok = (E["deliv"] >= 0) & (E["deliv"] <= _CUTOFF)
    close_ok = (E["close"] >= 0) & (E["close"] <= _CUTOFF)
    built.cases = {
        "case_id": ("id", case_ids, None),
        "chain": ("cat", (chain, chains), None),
        "customer_id": ("id", cust_ids[cust], None),
        "opened_at": ("ts", open_t, None),
        "closed_at": ts(closed_t),
        "ordered_at": ts(E["order"]),
        "promised_at": ("date", promised_day, promised_day >= 0),
        "machine_delivered_at": ts(E["mdeliv"]),
        "installed_at": ts(E["installed"]),
        "install_visits": ("int", I_int["visits"], inst_ok),
        "delivered_at": ts(E["deliv"]),
        "items_ordered": ("int", I_int["items"], I_int["items"] >= 0),
        "items_delivered": ("int", I_int["items_deliv"], deliv_ok),
        "reported_at": ("ts", np.where(chain == 2, open_t, -1), chain == 2),
        "first_visit_at": ts(E["fv"]),
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
        to = np.where((sl["status_to"] >= 0) & (sl["status_to"] <= _CUTOFF), sl["status_to"], _CUTOFF)
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
            cfg["actions"] = _action_config("koffie")
            # prices, so that the report states money next to score
            cfg["contacts"]["cost_per_contact"] = ACTIONS["koffie"]["prices"]["cost_per_contact"]
            cfg["result_kpi"]["value_per_point"] = ACTIONS["koffie"]["prices"]["value_per_point"]
            cfg["reporting"]["currency"] = "EUR"
        return cfg

    built.config = config
    return built


# ---------------------------------------------------------------------------------------
# woonstad: housing corporation, 1-5 stars, linkage by customer within a window, milestones
# ---------------------------------------------------------------------------------------

_WINDOW_DAYS = 30


def _build_woonstad(rng: np.random.Generator, n_cases: int, n_resp: int, no_driver: bool,
                    arng: np.random.Generator | None = None) -> _Built:
    P = _params("woonstad", no_driver)
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
    AW = ACTIONS["woonstad"]
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
    closed_ok = (closed >= 0) & (closed <= _CUTOFF)

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
        levels = {}
        for level, sel in (("65+", sen), ("under 65", ~sen)):
            e = _contrast(built, dv.on, dv.off, sel)
            levels[level] = {"latent_multiplier": P["senior_kept_multiplier"] if level == "65+" else 1.0,
                             "effect_on_score_per_unit": _r(e["score"]),
                             "effect_on_top_box_pp_per_unit": _r(e["head"]), "n_responses": int(sel.sum())}
        xs = [7, 10, 14, 21, 28, 40]
        base = mR - h(R_r[isR])
        table = {}
        for x in xs:
            e = _contrast(built, [(1.0, base + h(x), lR)], [(1.0, base, lR)])
            table[str(x)] = {"latent_effect_vs_7_days": _r(float(h(x))), "effect_on_score_vs_7_days": _r(e["score"]),
                             "effect_on_top_box_pp_vs_7_days": _r(e["head"])}
        sk = skip_r[isR]
        e_skip = _contrast(built, [(1.0, mR - P["skip_confirm_cost"] * (1 - sk), lR)],
                           [(1.0, mR + P["skip_confirm_cost"] * sk, lR)])
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
            return _actions_truth(built, "woonstad", {
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

    def ts(a):
        a = np.asarray(a)
        return ("ts", a, (a >= 0) & (a <= _CUTOFF))

    isRep = chain == 0
    built.cases = {
        "case_id": ("id", case_ids, None),
        "chain": ("cat", (chain, chains), None),
        "customer_id": ("id", cust_ids[cust], None),
        "opened_at": ("ts", opened_t, None),
        "closed_at": ts(closed),
        "reported_at": ("ts", np.where(isRep, rep_t, -1), isRep),
        "planned_at": ts(T["planned"]),
        "appointment_at": ts(T["appointment"]),
        "confirmed_at": ts(T["confirmed"]),
        "visited_at": ts(T["visited"]),
        "visits": ("int", visits_all, closed_ok & isRep),
        "contractor": ("cat", (np.maximum(contractor, 0), contractors), isRep),
        "received_at": ("ts", np.where(~isRep, rep_t, -1), ~isRep),
        "acknowledged_at": ts(T["acknowledged"]),
        "answered_at": ts(T["answered"]),
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
            cfg["actions"] = _action_config("woonstad")
        return cfg

    built.config = config
    return built


# ---------------------------------------------------------------------------------------
# webwinkel: webshop, labelled satisfaction, the client's own column names, UTC offsets
# ---------------------------------------------------------------------------------------

_WW_LABELS = ("very dissatisfied", "dissatisfied", "neutral", "satisfied", "very satisfied")


def _build_webwinkel(rng: np.random.Generator, n_cases: int, n_resp: int, no_driver: bool,
                     arng: np.random.Generator | None = None) -> _Built:
    P = _params("webwinkel", no_driver)
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
    AWW = ACTIONS["webwinkel"]
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
        levels = {}
        for level, sel in (("yes", fo), ("no", ~fo)):
            e = _contrast(built, dv.on, dv.off, sel)
            levels[level] = {"latent_multiplier": P["first_order_complete_multiplier"] if level == "yes" else 1.0,
                             "effect_on_score_per_unit": _r(e["score"]),
                             "effect_on_top_box_pp_per_unit": _r(e["head"]), "n_responses": int(sel.sum())}
        base = mRt - h(F[ri][isRt])
        table = {}
        for x in (5, 7, 10, 14, 20):
            e = _contrast(built, [(1.0, base + h(x), lRt)], [(1.0, base, lRt)])
            table[str(x)] = {"latent_effect_vs_5_days": _r(float(h(x))), "effect_on_score_vs_5_days": _r(e["score"]),
                             "effect_on_top_box_pp_vs_5_days": _r(e["head"])}
        fl = failed[di][isD]
        tk = track_skip[di][isD]
        e_fail = _contrast(built, [(1.0, mD - P["failed_attempt_cost"] * (1 - fl), lD)],
                           [(1.0, mD + P["failed_attempt_cost"] * fl, lD)])
        e_track = _contrast(built, [(1.0, mD - P["skip_track_cost"] * (1 - tk), lD)],
                            [(1.0, mD + P["skip_track_cost"] * tk, lD)])
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
            return _actions_truth(built, "webwinkel", {
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
    def ok(a):
        return (np.asarray(a) >= 0) & (np.asarray(a) <= _CUTOFF)

    od_day = put(o_day)
    built.cases = {
        "dossier_nr": ("id", case_ids, None),
        "process": ("cat", (chain, chains), None),
        "klant_nr": ("id", cust_ids[cust], None),
        "created": ("ts", open_t, None),
        "completed": ("ts", completed, complete_ok),
        "order_date": ("date", od_day, od_day >= 0),
        "promised_date": ("date", put(o_day + Pd), isD_all),
        "shipped_ts": ("ts", put(ship_t), ok(put(ship_t))),
        "delivered_ts": ("ts", put(deliv_t), ok(put(deliv_t)) & isD_all),
        "delivery_attempts": ("int", put(1 + failed), ok(put(deliv_t)) & isD_all),
        "items_ordered": ("int", put(items), isD_all),
        "items_delivered": ("int", put(items_deliv), ok(put(deliv_t)) & isD_all),
        "carrier": ("cat", (put(carrier, fill=0), carriers), isD_all),
        "original_order": ("id", case_ids[inv[np.r_[np.zeros(nd, dtype=np.int64), ret_of]]][perm], ~isD_all),
        "return_received_ts": ("ts", put(None, recv_t), ok(put(None, recv_t))),
        "refund_ts": ("ts", put(None, refund_t), ok(put(None, refund_t))),
        "return_value": ("float", put(None, value_c, 0) / 100.0, ~isD_all),
        "refund_amount": ("float", put(None, refund_c, 0) / 100.0, ok(put(None, refund_t))),
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
            cfg["actions"] = _action_config("webwinkel")
        return cfg

    built.config = config
    return built


_BUILDERS: dict[str, Callable[..., _Built]] = {
    "koffie": _build_koffie,
    "woonstad": _build_woonstad,
    "webwinkel": _build_webwinkel,
}
