"""The client's ``summary.json``: one typed schema, written and read through it.

Each report notebook adds its section (``overview``, ``kpi_structure``, ``drivers``,
``journeys``, ``actions``) with :func:`update_summary`, which validates the section against its
model before it writes; the batch adds ``changes`` (what moved since the client's previous
report) when it writes the report. Readers (the first screen of the report, the portfolio index,
``actions.xlsx``) call :func:`load` or :func:`parse` and get a :class:`Summary`: every key is
checked, unknown keys are refused, and a file that does not follow the schema gives one message
naming the file and the field.

The JSON Schema of the file is ``docs/summary.schema.json``
(``python -m ipm_analysis.dev summary-schema`` rewrites it from these models).

The section builders (:func:`overview_section`, :func:`kpi_structure_section`,
:func:`drivers_section`, :func:`journeys_section`, :func:`actions_section`) turn the analysis
results of a notebook into its typed section, so a notebook cell is one call.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from .errors import IpmError

SUMMARY_NAME = "summary.json"
SCHEMA_VERSION = 1
SECTIONS = ("overview", "kpi_structure", "drivers", "journeys", "actions", "changes")


class SummaryError(IpmError):
    """A summary.json (or one section of it) does not follow the schema."""


class _Model(BaseModel):
    """Unknown keys refused; assignments validated (a notebook may add a field it computes later)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


Num = float | None


# -- overview ----------------------------------------------------------------------------------

class Chain(_Model):
    name: str
    owner: str | None = None


class ResultKpi(_Model):
    """The result KPI over all answers, with its 95 % interval (``value`` is the NPS in points,
    or the mean score on the rating scale)."""

    name: str
    scale: Literal["nps", "rating", "labels"]
    measure: Literal["nps", "share", "top_box", "mean"]
    n: int
    value: float
    ci_low: float
    ci_high: float
    promoters: Num = None
    passives: Num = None
    detractors: Num = None
    top_box: Num = None
    bottom_box: Num = None
    top_box_ci_low: Num = None
    top_box_ci_high: Num = None
    top_label: str | None = None
    sentence: str | None = None

    def top_box_known(self) -> bool:
        return self.top_box is not None and self.top_box_ci_low is not None and self.top_box_ci_high is not None


class Linkage(_Model):
    responses: int = 0
    linked: int = 0
    rate: Num = None
    by: str | None = None


class ChainKpi(_Model):
    chain: str
    kpi: str
    kpi_name: str
    link: str | None = None
    unit: str | None = None
    direction: str | None = None
    n: int | None = None
    value: Num = None
    ci_low: Num = None
    ci_high: Num = None
    target: Num = None
    status: str | None = None

    @property
    def off_target(self) -> bool:
        return self.status == "below target"


class DataPeriod(_Model):
    """First and last date of the data the report rests on (answers and cases)."""

    first: dt.date | None = None
    last: dt.date | None = None


class Overview(_Model):
    client: str
    title: str
    language: Literal["en", "nl"] = "en"  # the report's language (client.yaml's reporting.language)
    report_date: dt.date | None = None
    data_period: DataPeriod = Field(default_factory=DataPeriod)
    chains: dict[str, Chain] = Field(default_factory=dict)
    result_kpi: ResultKpi | None = None
    linkage: Linkage = Field(default_factory=Linkage)
    chain_kpis: list[ChainKpi] = Field(default_factory=list)

    @property
    def has_survey(self) -> bool:
        return self.result_kpi is not None or bool(self.linkage.responses)

    def chain(self, chain_id: str) -> Chain:
        """The chain by its id (its id as name when the overview does not list it)."""
        return self.chains[chain_id] if chain_id in self.chains else Chain(name=chain_id)


# -- kpi_structure -----------------------------------------------------------------------------

class LinkRow(_Model):
    link: str | None = None
    n_kpis: int
    n_below_target: int
    summary: str


class Trend(_Model):
    chain: str
    kpi: str
    slope: Num = None
    ci_low: Num = None
    ci_high: Num = None
    reading: str | None = None


class RecentChange(_Model):
    """The result KPI of the last months against the months before (``after - before``), in
    ``unit``; numbers are None when too few answers allow no comparison."""

    sentence: str
    before_months: str | None = None
    after_months: str | None = None
    before: Num = None
    after: Num = None
    diff: Num = None
    ci_low: Num = None
    ci_high: Num = None
    p_value: Num = None
    unit: str | None = None


class KpiStructure(_Model):
    links: list[LinkRow] = Field(default_factory=list)
    trends: list[Trend] = Field(default_factory=list)
    recent_change: RecentChange | None = None
    partial_period: str | None = None


# -- drivers -----------------------------------------------------------------------------------

class TopDriver(_Model):
    """A top driver: ``share`` is its share of the explained variance within its chain; ``gain``
    the expected gain on the overall result KPI of its agenda action."""

    chain: str
    kpi: str
    kpi_name: str
    link: str | None = None
    share: Num = None
    ci_low: Num = None
    ci_high: Num = None
    gain: Num = None
    gain_ci_low: Num = None
    gain_ci_high: Num = None


class ChainReliability(_Model):
    reliable: bool
    r2: Num = None
    p_drivers: Num = None
    n: int | None = None


class Reliability(_Model):
    reliable: bool
    sentence: str | None = None
    chains: dict[str, ChainReliability] = Field(default_factory=dict)


class AgendaAction(_Model):
    """One improvement action of the agenda, ranked by expected gain on the overall result KPI."""

    rank: int
    chain: str
    chain_name: str | None = None
    owner: str | None = None
    kpi: str
    name: str
    link: str | None = None
    unit: str | None = None
    current: Num = None
    target: Num = None
    current_label: str | None = None
    target_label: str | None = None
    gain: Num = None
    gain_ci_low: Num = None
    gain_ci_high: Num = None
    gain_overall: Num = None
    gain_overall_ci_low: Num = None
    gain_overall_ci_high: Num = None
    share: Num = None
    share_ci_low: Num = None
    share_ci_high: Num = None
    p_holm: Num = None
    n: int | None = None
    sentence: str | None = None


class AgendaChain(_Model):
    chain: str
    n: int | None = None
    r2: Num = None
    reliable: bool = False
    collinearity_warning: str | None = None
    note: str | None = None


class Agenda(_Model):
    result_kpi: str | None = None
    kpi_unit: str = "points"
    ci: Num = None
    reliable: bool = False
    sentence: str | None = None
    method: str | None = None
    actions: list[AgendaAction] = Field(default_factory=list)
    chains: list[AgendaChain] = Field(default_factory=list)


class Effect(_Model):
    chain: str
    kpi_unit: str | None = None
    driver: str
    name: str
    unit: str | None = None
    change: Num = None
    change_label: str | None = None
    effect_kpi: Num = None
    effect_kpi_ci_low: Num = None
    effect_kpi_ci_high: Num = None
    p_value_kpi: Num = None
    effect_score: Num = None
    effect_score_ci_low: Num = None
    effect_score_ci_high: Num = None
    p_value: Num = None
    effect_kpi_ordinal: Num = None
    effect_kpi_ordinal_ci_low: Num = None
    effect_kpi_ordinal_ci_high: Num = None
    vif: Num = None
    reliable: bool | None = None
    reading: str | None = None


class MatrixRow(_Model):
    chain: str
    driver: str
    name: str
    link: str | None = None
    share: Num = None
    share_ci_low: Num = None
    share_ci_high: Num = None
    quadrant: str | None = None
    position: str | None = None
    reliable: bool | None = None


class CurveBin(_Model):
    bin: str
    x_low: Num = None
    x_high: Num = None
    n: int | None = None
    kpi: Num = None
    kpi_ci_low: Num = None
    kpi_ci_high: Num = None
    kpi_vs_ref: Num = None
    kpi_vs_ref_ci_low: Num = None
    kpi_vs_ref_ci_high: Num = None
    small_base: bool | None = None


class AdjustedThreshold(_Model):
    found: bool | None = None
    knot: Num = None
    p_adjusted: Num = None


class Threshold(_Model):
    chain: str
    driver: str
    name: str
    unit: str | None = None
    kpi_unit: str | None = None
    reading: str | None = None
    found: bool | None = None
    knot: Num = None
    knot_ci_low: Num = None
    knot_ci_high: Num = None
    p_adjusted: Num = None
    n_candidates: int | None = None
    n: int | None = None
    slope_before: Num = None
    slope_before_ci_low: Num = None
    slope_before_ci_high: Num = None
    slope_after: Num = None
    slope_after_ci_low: Num = None
    slope_after_ci_high: Num = None
    step: Num = None
    step_ci_low: Num = None
    step_ci_high: Num = None
    cost_at: Num = None
    cost: Num = None
    cost_ci_low: Num = None
    cost_ci_high: Num = None
    adjusted_for_other_kpis: AdjustedThreshold | None = None
    curve: list[CurveBin] | None = None


class SegmentDifference(_Model):
    chain: str
    chain_name: str | None = None
    segment: str
    segment_name: str | None = None
    driver: str
    name: str
    p_value: Num = None
    differs: bool
    slopes: dict[str, Num] = Field(default_factory=dict)
    reading: str | None = None


class Drivers(_Model):
    top: list[TopDriver] = Field(default_factory=list)
    note: str | None = None
    reliability: Reliability | None = None
    agenda: Agenda | None = None
    effects: list[Effect] = Field(default_factory=list)
    matrix: list[MatrixRow] = Field(default_factory=list)
    thresholds: list[Threshold] | None = None
    segment_differences: list[SegmentDifference] | None = None


# -- journeys ----------------------------------------------------------------------------------

class DeviationClass(_Model):
    class_: str = Field(alias="class")
    cases: int
    share: Num = None


class JourneyDifference(_Model):
    """Result KPI of deviating journeys minus journeys as designed, in the result KPI's unit."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: Num = None


class JourneyChain(_Model):
    cases: int
    as_designed: Num = None
    mean_fitness: Num = None
    headline: str | None = None
    deviation_classes: list[DeviationClass] = Field(default_factory=list)
    top_extra: list[str] = Field(default_factory=list)
    events_left_out: int | None = None
    deviating_minus_designed: JourneyDifference | None = None


Journeys = dict[str, JourneyChain]


# -- actions -----------------------------------------------------------------------------------

class ActionReviewRow(_Model):
    """One measurement of an improvement action of client.yaml, as the report's table shows it
    (numbers already written in their unit). New measurements are new optional fields."""

    action: str
    owner: str | None = None
    measured_on: str = Field(alias="measured on")
    design: str
    change: str | None = None
    interval: str | None = Field(default=None, alias="95% interval")
    smallest_visible_change: str | None = Field(default=None, alias="smallest visible change")
    periods_after_start: int | None = Field(default=None, alias="periods after start")
    verdict: str | None = None


class Signal(_Model):
    """A control-chart signal of a chain KPI in one of the last months charted."""

    chain_kpi: str = Field(alias="chain KPI")
    link: str | None = None
    month: str
    signal: str


class GainRow(_Model):
    """An action's result-KPI gain as the agenda predicted it from the answers before its start,
    against the gain realised, each with its 95% interval, in the result KPI's unit."""

    action: str | None = None
    kpi: str | None = None
    prediction_basis: str | None = Field(default=None, alias="prediction basis")
    kpi_from: Num = Field(default=None, alias="kpi from")
    kpi_to: Num = Field(default=None, alias="kpi to")
    answers_before_start: int | None = Field(default=None, alias="answers before start")
    predicted_gain: Num = Field(default=None, alias="predicted gain")
    predicted_ci_low: Num = Field(default=None, alias="predicted 95% low")
    predicted_ci_high: Num = Field(default=None, alias="predicted 95% high")
    realised_gain: Num = Field(default=None, alias="realised gain")
    realised_ci_low: Num = Field(default=None, alias="realised 95% low")
    realised_ci_high: Num = Field(default=None, alias="realised 95% high")
    difference: Num = None
    difference_ci_low: Num = Field(default=None, alias="difference 95% low")
    difference_ci_high: Num = Field(default=None, alias="difference 95% high")
    agreement: str | None = None
    unit: str | None = None
    note: str | None = None


class MoneyRow(_Model):
    """Money next to score for one action: contacts saved per month and their cost, and the value
    of its result-KPI gain (prices from client.yaml), each with its 95% interval."""

    action: str | None = None
    kpi: str | None = None
    kpi_change: Num = Field(default=None, alias="kpi change")
    cases_per_month_touched: Num = Field(default=None, alias="cases per month touched")
    contacts_saved_per_month: Num = Field(default=None, alias="contacts saved per month")
    contacts_saved_ci_low: Num = Field(default=None, alias="contacts saved 95% low")
    contacts_saved_ci_high: Num = Field(default=None, alias="contacts saved 95% high")
    cost_saved_per_month: Num = Field(default=None, alias="cost saved per month")
    cost_saved_ci_low: Num = Field(default=None, alias="cost saved 95% low")
    cost_saved_ci_high: Num = Field(default=None, alias="cost saved 95% high")
    overall_result_gain: Num = Field(default=None, alias="overall result gain")
    overall_result_gain_ci_low: Num = Field(default=None, alias="overall result gain 95% low")
    overall_result_gain_ci_high: Num = Field(default=None, alias="overall result gain 95% high")
    value: Num = None
    value_ci_low: Num = Field(default=None, alias="value 95% low")
    value_ci_high: Num = Field(default=None, alias="value 95% high")
    currency: str | None = None
    note: str | None = None


class TargetMoneyRow(_Model):
    """Money next to score for one chain KPI below its target: what reaching the target saves in
    avoidable contacts and gains in the result KPI, each with its 95% interval."""

    chain: str | None = None
    kpi: str | None = None
    name: str | None = None
    unit: str | None = None
    current: Num = None
    target: Num = None
    contacts_per_case_difference: Num = Field(default=None, alias="contacts per case difference")
    difference_ci_low: Num = Field(default=None, alias="difference 95% low")
    difference_ci_high: Num = Field(default=None, alias="difference 95% high")
    cases_per_month: Num = Field(default=None, alias="cases per month")
    contacts_saved_per_month: Num = Field(default=None, alias="contacts saved per month")
    contacts_saved_ci_low: Num = Field(default=None, alias="contacts saved 95% low")
    contacts_saved_ci_high: Num = Field(default=None, alias="contacts saved 95% high")
    cost_saved_per_month: Num = Field(default=None, alias="cost saved per month")
    cost_saved_ci_low: Num = Field(default=None, alias="cost saved 95% low")
    cost_saved_ci_high: Num = Field(default=None, alias="cost saved 95% high")
    result_gain_in_the_chain: Num = Field(default=None, alias="result gain in the chain")
    result_gain_in_the_chain_ci_low: Num = Field(default=None, alias="result gain in the chain 95% low")
    result_gain_in_the_chain_ci_high: Num = Field(default=None, alias="result gain in the chain 95% high")
    overall_result_gain: Num = Field(default=None, alias="overall result gain")
    overall_result_gain_ci_low: Num = Field(default=None, alias="overall result gain 95% low")
    overall_result_gain_ci_high: Num = Field(default=None, alias="overall result gain 95% high")
    value: Num = None
    value_ci_low: Num = Field(default=None, alias="value 95% low")
    value_ci_high: Num = Field(default=None, alias="value 95% high")
    currency: str | None = None


class Actions(_Model):
    reviews: list[ActionReviewRow] = Field(default_factory=list)
    sentences: list[str] = Field(default_factory=list)
    signals: list[Signal] = Field(default_factory=list)
    note: str | None = None
    gains: list[GainRow] = Field(default_factory=list)
    gain_sentences: list[str] = Field(default_factory=list)
    money: list[MoneyRow] = Field(default_factory=list)
    target_money: list[TargetMoneyRow] = Field(default_factory=list)
    value_note: str | None = None
    currency: str | None = None
    cost_per_contact: Num = None
    value_per_point: Num = None


# -- changes since the previous report ---------------------------------------------------------

class ResultKpiMove(_Model):
    """The result KPI of this report minus the one of the previous report (``unit``), with a 95 %
    interval from the two reports' intervals as independent samples: where the two reports share
    answers the true interval is narrower, so "beyond noise" is a safe call."""

    name: str
    unit: str
    previous: float
    current: float
    diff: float
    ci_low: float
    ci_high: float

    @property
    def reliable(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


class TargetCrossing(_Model):
    chain: str
    kpi: str
    kpi_name: str
    link: str | None = None
    unit: str | None = None
    previous: Num = None
    previous_ci_low: Num = None
    previous_ci_high: Num = None
    current: Num = None
    current_ci_low: Num = None
    current_ci_high: Num = None
    target: Num = None
    previous_target: Num = None
    now: Literal["on target", "below target"]


class Changes(_Model):
    """What moved since the client's previous report (same client, earlier run)."""

    previous_report_date: dt.date | None = None
    previous_data_period: DataPeriod = Field(default_factory=DataPeriod)
    result_kpi: ResultKpiMove | None = None
    result_kpi_note: str | None = None
    crossed_target: list[TargetCrossing] = Field(default_factory=list)
    new_signals: list[Signal] = Field(default_factory=list)


# -- the file ----------------------------------------------------------------------------------

class Summary(_Model):
    """The whole ``summary.json``; each section is absent until its notebook ran."""

    schema_version: Literal[1] = SCHEMA_VERSION
    overview: Overview | None = None
    kpi_structure: KpiStructure | None = None
    drivers: Drivers | None = None
    journeys: Journeys | None = None
    actions: Actions | None = None
    changes: Changes | None = None


_SECTION_MODELS: dict[str, Any] = {name: Summary.model_fields[name].annotation for name in SECTIONS}


def json_schema() -> dict:
    """The JSON Schema of ``summary.json`` (what ``docs/summary.schema.json`` holds)."""
    schema = Summary.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ipm-analysis summary.json"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


# -- reading and writing -----------------------------------------------------------------------

def jsonable(value: Any) -> Any:
    """Numpy scalars to Python, NaN and infinities to None, timestamps to ISO text, models to dicts,
    readings of the catalogue to their text in the report's language."""
    import pandas as pd

    from .messages import Message, current_language, render

    if isinstance(value, Message):  # a reading: in the report's language (messages.use_language)
        return render(value, current_language())
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    return value


def _where(err: PydanticValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = len(err.errors()) - 1
    tail = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
    return f"field '{loc}': {first['msg']}{tail}"


def parse(data: Any, source: str = "summary.json") -> Summary:
    """A :class:`Summary` from a dict (or a Summary); :class:`SummaryError` names ``source`` and
    the first field that does not follow the schema."""
    if isinstance(data, Summary):
        return data
    try:
        return Summary.model_validate(jsonable(data))
    except PydanticValidationError as e:
        raise SummaryError(f"{source}: does not follow the summary schema, {_where(e)}") from None


def section(name: str, content: Any, source: str = "summary.json") -> Any:
    """One section validated against its model."""
    if name not in _SECTION_MODELS:
        raise SummaryError(f"{source}: unknown section '{name}' (known: {', '.join(SECTIONS)})")
    try:
        return Summary.model_validate({name: jsonable(content)}).__dict__[name]
    except PydanticValidationError as e:
        raise SummaryError(f"{source}: section '{name}' does not follow the summary schema, {_where(e)}") from None


def load(path: str | Path) -> Summary:
    """Read and validate a client's ``summary.json``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SummaryError(f"{path}: cannot be read ({e.strerror or e})") from None
    except ValueError as e:
        raise SummaryError(f"{path}: is not JSON ({e})") from None
    return parse(data, str(path))


def dumps(summary: Summary | dict) -> str:
    """The JSON text of a summary (validated), as it is written to disk."""
    return json.dumps(_data(parse(summary)), indent=2, ensure_ascii=False)


def _data(summary: Summary) -> dict:
    """The file's content: sections not written yet stay out, so merging the notebooks' files keeps them."""
    data = summary.model_dump(mode="json", by_alias=True)
    return {k: v for k, v in data.items() if v is not None or k == "schema_version"}


def update_summary(output_dir: str | Path, name: str, content: Any) -> Path:
    """Add or replace one section of the client's ``summary.json`` (validated, written atomically)."""
    path = Path(output_dir) / SUMMARY_NAME
    typed = section(name, content, str(path))
    current = load(path) if path.exists() else Summary()
    setattr(current, name, typed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(dumps(current), encoding="utf-8")
    os.replace(tmp, path)
    return path


# -- the sections, built from a client and its analysis results (one call per notebook) ------------

def data_period(client) -> DataPeriod:
    """First and last date of the answers and cases the report rests on."""
    import pandas as pd

    dates = []
    if client.responses is not None and "responded_at" in client.responses:
        dates.append(pd.to_datetime(client.responses["responded_at"]))
    if client.cases is not None:
        for col in ("opened_at", "closed_at"):
            if col in client.cases:
                dates.append(pd.to_datetime(client.cases[col]))
    lows, highs = [], []
    for d in dates:
        d = d.dropna()
        if len(d):
            if getattr(d.dt, "tz", None) is not None:
                d = d.dt.tz_localize(None)
            lows.append(d.min())
            highs.append(d.max())
    if not lows:
        return DataPeriod()
    return DataPeriod(first=min(lows).date(), last=max(highs).date())


def result_kpi_summary(client, overall) -> ResultKpi | None:
    """The result KPI as it goes into summary.json; None below the minimum base."""
    from .report import result_sentence, result_measure, top_label

    if overall is None or overall.n < client.config.reporting.min_base_suppress:
        return None
    d = {"name": client.config.result_kpi.name, "scale": client.config.result_kpi.scale, "n": overall.n}
    if client.config.result_kpi.scale == "nps":
        from .kpis import share_ci

        # the top box of the 0-10 scale (promoters, 9-10) with its Wilson interval: the common
        # scale on which the portfolio compares clients
        n_eff = getattr(overall, "n_eff", None) or overall.n
        pro_lo, pro_hi = share_ci(overall.promoters * n_eff, n_eff)
        d.update(value=overall.value, ci_low=overall.ci_low, ci_high=overall.ci_high,
                 promoters=overall.promoters, passives=overall.passives, detractors=overall.detractors,
                 top_box=overall.promoters, top_box_ci_low=pro_lo, top_box_ci_high=pro_hi,
                 top_label="promoters (9-10)")
    else:
        d.update(value=overall.mean, ci_low=overall.mean_ci_low, ci_high=overall.mean_ci_high,
                 top_box=overall.top_box, bottom_box=overall.bottom_box,
                 top_box_ci_low=overall.top_box_ci_low, top_box_ci_high=overall.top_box_ci_high,
                 top_label=top_label(client))
    d["measure"] = result_measure(client)
    d["sentence"] = result_sentence(client, overall)
    return ResultKpi.model_validate(jsonable(d))


def overview_section(client, overall, chain_table, report_date: dt.date | None = None) -> Overview:
    """Section ``overview`` (notebook 01): the client, run date and data period, the result KPI,
    the linkage of answers to cases and every chain KPI against its target."""
    from .overview import linkage

    cols = ["chain", "kpi", "kpi_name", "link", "unit", "direction", "n", "value", "ci_low", "ci_high", "target",
            "status"]
    return Overview(
        client=client.id, title=client.config.title, language=client.config.reporting.language,
        report_date=report_date or dt.datetime.now(dt.timezone.utc).date(),
        data_period=data_period(client),
        chains={c.id: Chain(name=c.name, owner=c.owner) for c in client.config.chains},
        result_kpi=result_kpi_summary(client, overall),
        linkage=Linkage.model_validate(jsonable(linkage(client))),
        chain_kpis=[ChainKpi.model_validate(jsonable(r)) for r in chain_table[cols].to_dict("records")],
    )


def recent_change_summary(client) -> RecentChange | None:
    """The recent change of the result KPI with its numbers (None without a survey)."""
    from . import report

    if client.linked is None:
        return None
    change = report.recent_change(client)
    out = {"sentence": report.change_sentence(client, change)}
    if change is not None:
        res = change["result"]
        measure = report.result_measure(client)
        unit = {"nps": "points", "share": "percentage points", "top_box": "percentage points"}.get(
            measure, "points on the scale")
        out.update(before_months=change["before_months"], after_months=change["after_months"], before=res.before,
                   after=res.after, diff=res.diff, ci_low=res.ci_low, ci_high=res.ci_high, p_value=res.p_value,
                   unit=unit)
    return RecentChange.model_validate(jsonable(out))


def kpi_structure_section(client, links, trends) -> KpiStructure:
    """Section ``kpi_structure`` (notebook 02): links and what they own, trends of the chain
    KPIs, the recent change of the result KPI and the note on an incomplete last period."""
    from . import report

    return KpiStructure(
        links=[LinkRow.model_validate(jsonable(r))
               for r in links[["link", "n_kpis", "n_below_target", "summary"]].to_dict("records")],
        trends=[Trend.model_validate(jsonable(r))
                for r in trends[["chain", "kpi", "slope", "ci_low", "ci_high", "reading"]].to_dict("records")],
        recent_change=recent_change_summary(client),
        partial_period=report.partial_period_sentence(client),
    )


def _threshold_summary(t: dict) -> dict:
    th = t["threshold"]
    d = {"chain": t["chain"], "driver": t["driver"], "name": t["name"], "unit": t["unit"],
         "kpi_unit": t["kpi_unit"], "reading": t["reading"], "found": None}
    if th is None:
        return d
    d.update(found=th.found, knot=th.knot, knot_ci_low=th.knot_ci_low, knot_ci_high=th.knot_ci_high,
             p_adjusted=th.p_adjusted, n_candidates=th.n_candidates, n=th.n,
             slope_before=th.slope_before, slope_before_ci_low=th.slope_before_ci_low,
             slope_before_ci_high=th.slope_before_ci_high, slope_after=th.slope_after,
             slope_after_ci_low=th.slope_after_ci_low, slope_after_ci_high=th.slope_after_ci_high,
             step=th.step, step_ci_low=th.step_ci_low, step_ci_high=th.step_ci_high,
             cost_at=th.at, cost=th.cost, cost_ci_low=th.cost_ci_low, cost_ci_high=th.cost_ci_high,
             adjusted_for_other_kpis=None if th.adjusted is None else
             {"found": th.adjusted.found, "knot": th.adjusted.knot, "p_adjusted": th.adjusted.p_adjusted})
    if t["curve"] is not None:
        d["curve"] = t["curve"][["bin", "x_low", "x_high", "n", "kpi", "kpi_ci_low", "kpi_ci_high", "kpi_vs_ref",
                                 "kpi_vs_ref_ci_low", "kpi_vs_ref_ci_high", "small_base"]].to_dict("records")
    return d


def drivers_summary(agenda, top_n: int = 3, thresholds: list[dict] | None = None,
                    segments: list[dict] | None = None) -> Drivers:
    """The driver results as the portfolio and other tools read them (section ``drivers``): the
    reliability verdict, the agenda, the effects per chain, the importance matrix, and (when
    given) the thresholds and segment differences the report states."""
    from .agenda import agenda_summary

    top = []
    m = agenda.matrix
    if agenda.reliable and len(agenda.actions):
        for r in agenda.actions.head(top_n).itertuples():
            top.append({"chain": r.chain, "kpi": r.kpi, "kpi_name": r.name, "link": r.link, "share": r.share,
                        "ci_low": r.share_ci_low, "ci_high": r.share_ci_high, "gain": r.gain_overall,
                        "gain_ci_low": r.gain_overall_ci_low, "gain_ci_high": r.gain_overall_ci_high})
    effects = []
    for chain_id, models in agenda.models.items():
        cols = ["driver", "name", "unit", "change", "change_label", "effect_kpi", "effect_kpi_ci_low",
                "effect_kpi_ci_high", "p_value_kpi", "effect_score", "effect_score_ci_low", "effect_score_ci_high",
                "p_value", "effect_kpi_ordinal", "effect_kpi_ordinal_ci_low", "effect_kpi_ordinal_ci_high", "vif",
                "reliable", "reading"]
        for r in models.effects[cols].to_dict("records"):
            effects.append({"chain": chain_id, "kpi_unit": models.kpi_unit, **r})
    verdict = {"reliable": bool(agenda.reliable), "sentence": agenda.sentence,
               "chains": {k: {"reliable": bool(mm.reliable), "r2": mm.r2, "p_drivers": mm.p_drivers, "n": mm.n}
                          for k, mm in agenda.models.items()}}
    cols = ["chain", "driver", "name", "link", "share", "share_ci_low", "share_ci_high", "quadrant"]
    cols += [c for c in ("position", "reliable") if c in m.columns]
    out = {"top": top, "note": agenda.sentence, "reliability": verdict, "agenda": agenda_summary(agenda),
           "effects": effects, "matrix": m[cols].to_dict("records") if len(m) else []}
    if thresholds is not None:
        out["thresholds"] = [_threshold_summary(t) for t in thresholds]
    if segments is not None:
        out["segment_differences"] = segments
    return section("drivers", out)


def drivers_section(agenda, thresholds: list[dict] | None = None, segments: list[dict] | None = None) -> Drivers:
    """Section ``drivers`` (notebook 03); without an agenda (no survey) a note says why."""
    if agenda is None:
        return Drivers(note="No survey: no driver analysis.")
    return drivers_summary(agenda, thresholds=thresholds, segments=segments)


def journeys_section(client, sections: dict, costs: dict | None = None) -> dict[str, JourneyChain]:
    """Section ``journeys`` (notebook 04): per chain with a designed journey, how many cases
    followed it, the deviations and the extra activities; with ``costs`` (per chain, what
    :func:`ipm_analysis.journeys.journey_cost` returned) the result KPI of deviating journeys
    minus journeys as designed (``deviating_minus_designed``, with its 95 % interval), where the
    comparison was made."""
    flt = client.event_filter
    costs = costs or {}
    out = {}
    for chain_id, s in sections.items():
        diff = (costs.get(chain_id) or {}).get("difference")
        out[chain_id] = JourneyChain.model_validate(jsonable({
            "cases": s.n_cases, "as_designed": s.as_designed, "mean_fitness": s.mean_fitness,
            "headline": s.headline,
            "deviation_classes": s.deviation_classes[["class", "cases", "share"]].to_dict("records")
            if len(s.deviation_classes) else [],
            "top_extra": s.extra_activities["activity"].head(3).tolist() if len(s.extra_activities) else [],
            "events_left_out": flt["left_out"] if flt else None,
            "deviating_minus_designed": None if diff is None else {
                "diff": diff.diff, "ci_low": diff.ci_low, "ci_high": diff.ci_high, "p_value": diff.p_value},
        }))
    return out


def actions_section(section_: Any) -> Actions:
    """Section ``actions`` (notebook 05) from :func:`ipm_analysis.actions.actions_section`: the
    reviews, their sentences, the control-chart signals, predicted against realised gains and,
    with prices in client.yaml, money next to score."""

    def records(frame: Any) -> list[dict]:
        return [] if frame is None or not len(frame) else frame.to_dict("records")

    return Actions.model_validate(jsonable({
        "reviews": records(section_.table), "sentences": list(section_.sentences),
        "signals": records(section_.signals), "note": section_.note,
        "gains": records(section_.gains), "gain_sentences": list(section_.gain_sentences),
        "money": records(section_.money), "target_money": records(section_.target_money),
        "value_note": section_.value_note, "currency": section_.currency,
        "cost_per_contact": section_.cost_per_contact, "value_per_point": section_.value_per_point,
    }))


def agenda_money_from_summary(agenda_actions: list, actions_section: Any) -> list[dict]:
    """Money next to each agenda action as summary.json holds them: the contacts saved per month by
    reaching the KPI's target (``actions.target_money``, matched by chain and KPI) and the value of
    the expected overall gain (``gain_overall`` times ``actions.value_per_point``), each with its
    interval; ``{}`` for an action without either. Used where only summary.json is at hand.

    ``agenda_actions`` are the agenda's actions and ``actions_section`` the ``actions`` section,
    as models of this module or as the plain dicts of the file (the money of a loaded client:
    :func:`ipm_analysis.value.agenda_money`)."""
    section = actions_section if isinstance(actions_section, Actions) else Actions.model_validate(actions_section)
    by_kpi = {(r.chain, r.kpi): r for r in section.target_money}
    vpp = section.value_per_point
    out = []
    for a in agenda_actions:
        a = a if isinstance(a, dict) else a.model_dump()
        gain, lo, hi = (a.get(k) for k in ("gain_overall", "gain_overall_ci_low", "gain_overall_ci_high"))
        row: dict = {}
        t = by_kpi.get((a.get("chain"), a.get("kpi")))
        if t is not None:
            row.update({k: v for k, v in t.model_dump(by_alias=True).items()
                        if k.startswith(("contacts saved", "cost saved"))})
        if vpp is not None and gain is not None:
            row.update({"value": gain * vpp, "value 95% low": (math.nan if lo is None else lo) * vpp,
                        "value 95% high": (math.nan if hi is None else hi) * vpp})
        out.append(row)
    return out


# -- what changed since the previous report ----------------------------------------------------

_Z95 = 1.959963984540054


def result_kpi_reading(r: ResultKpi) -> tuple[float, float, float, str]:
    """The result KPI as the report reads it: (value, 95 % low, 95 % high, unit of a difference).

    An NPS in points; a share or top-box measure as the percentage in the top box; a mean on
    its scale."""
    if r.measure in ("share", "top_box") and r.top_box_known():
        return 100 * r.top_box, 100 * r.top_box_ci_low, 100 * r.top_box_ci_high, "percentage points"
    if r.scale == "nps":
        return r.value, r.ci_low, r.ci_high, "points"
    return r.value, r.ci_low, r.ci_high, "points on the scale"


def result_kpi_move(previous: ResultKpi, current: ResultKpi) -> ResultKpiMove | None:
    """The result KPI of ``current`` minus ``previous`` with a 95 % interval, or None when the two
    are not read on the same scale.

    Each report's interval gives its standard error (half-width / 1.96); the difference's
    standard error is the root of the sum of squares, as for independent samples. Two reports of
    one client usually share most answers (the later one adds the newest months), which makes the
    true standard error smaller: the interval is conservative, and a difference called beyond
    noise is one.
    """
    if (previous.name, previous.scale, previous.measure) != (current.name, current.scale, current.measure):
        return None
    p, p_lo, p_hi, unit = result_kpi_reading(previous)
    c, c_lo, c_hi, _ = result_kpi_reading(current)
    se = math.hypot((p_hi - p_lo) / (2 * _Z95), (c_hi - c_lo) / (2 * _Z95))
    diff = c - p
    return ResultKpiMove(name=current.name, unit=unit, previous=p, current=c, diff=diff, ci_low=diff - _Z95 * se,
                         ci_high=diff + _Z95 * se)


def compare(previous: Summary, current: Summary) -> Changes | None:
    """What moved between ``previous`` and ``current``, two reports of the same client; None when
    either lacks its overview or they are of different clients.

    - the result KPI (see :func:`result_kpi_move`);
    - chain KPIs that crossed their target, either way (on target in one report, below in the
      other, also when the target itself changed; a KPI without a target, or missing from one
      report, crosses nothing);
    - control-chart signals in ``current`` that ``previous`` did not show (same KPI, link, month
      and rule).
    """
    if previous.overview is None or current.overview is None or previous.overview.client != current.overview.client:
        return None
    before, now = previous.overview, current.overview
    out = Changes(previous_report_date=before.report_date, previous_data_period=before.data_period)
    if before.result_kpi is not None and now.result_kpi is not None:
        out.result_kpi = result_kpi_move(before.result_kpi, now.result_kpi)
        if out.result_kpi is None:
            out.result_kpi_note = (f"The result KPI is read differently than in the previous report "
                                   f"({before.result_kpi.name}, {before.result_kpi.measure} against "
                                   f"{now.result_kpi.name}, {now.result_kpi.measure}): not compared.")
    elif now.result_kpi is not None or before.result_kpi is not None:
        out.result_kpi_note = ("The result KPI is reported in only one of the two reports (too few responses in "
                               "the other): not compared.")
    old = {(k.chain, k.kpi): k for k in before.chain_kpis}
    statuses = ("on target", "below target")
    for k in now.chain_kpis:
        o = old.get((k.chain, k.kpi))
        if o is None or k.status not in statuses or o.status not in statuses or o.status == k.status:
            continue
        out.crossed_target.append(TargetCrossing(
            chain=k.chain, kpi=k.kpi, kpi_name=k.kpi_name, link=k.link, unit=k.unit, previous=o.value,
            previous_ci_low=o.ci_low, previous_ci_high=o.ci_high, current=k.value, current_ci_low=k.ci_low,
            current_ci_high=k.ci_high, target=k.target, previous_target=o.target, now=k.status))
    seen = {(s.chain_kpi, s.link, s.month, s.signal) for s in (previous.actions.signals if previous.actions else [])}
    if current.actions is not None:
        out.new_signals = [s for s in current.actions.signals if (s.chain_kpi, s.link, s.month, s.signal) not in seen]
    return out


def with_changes(current_text: str | bytes, previous_path: Path) -> Summary | None:
    """``current_text`` (a summary.json just made) with its ``changes`` against the summary.json
    at ``previous_path``; None when there is no usable previous report (none, another client,
    or one that does not follow this schema, such as a report of an older version)."""
    if not previous_path.is_file():
        return None
    try:
        previous = load(previous_path)
    except SummaryError:
        return None
    current = parse(json.loads(current_text))
    changes = compare(previous, current)
    if changes is None:
        return None
    current.changes = changes
    return current
