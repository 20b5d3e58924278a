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

The package: one module per client (``koffie``, ``woonstad``, ``webwinkel``: its spec, i.e. its
causal ``PARAMETERS``, ``NULL_KEYS`` and ``ACTIONS``, and its generator ``build``), the shared
``template`` (result scale, truth bookkeeping, table writing, actions) and ``generate`` (the
public functions below).
"""

from .generate import DemoClient, generate_client, write_demo_clients, write_fixture
from .template import (ACTION_STREAM, CHUNK_CASES, DEFAULT_RESPONSE_RATE, DEFAULT_SEEDS, DEMO_CLIENTS, FIXTURE, LARGE,
                       NO_DRIVER_SEED_OFFSET, SIZES)
from . import koffie, webwinkel, woonstad
from .generate import _BUILDERS  # noqa: F401 - the generator of each client, by kind

# each client's spec, by kind
PARAMETERS: dict[str, dict] = {kind: m.PARAMETERS for kind, m in
                               (("koffie", koffie), ("woonstad", woonstad), ("webwinkel", webwinkel))}
ACTIONS: dict[str, dict] = {kind: m.ACTIONS for kind, m in
                            (("koffie", koffie), ("woonstad", woonstad), ("webwinkel", webwinkel))}

__all__ = [
    "ACTIONS",
    "ACTION_STREAM",
    "CHUNK_CASES",
    "DEFAULT_RESPONSE_RATE",
    "DEFAULT_SEEDS",
    "DEMO_CLIENTS",
    "FIXTURE",
    "LARGE",
    "NO_DRIVER_SEED_OFFSET",
    "PARAMETERS",
    "SIZES",
    "DemoClient",
    "generate_client",
    "write_demo_clients",
    "write_fixture",
]
