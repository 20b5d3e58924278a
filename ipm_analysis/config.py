"""client.yaml → a typed client configuration.

The schema is the one documented in ``docs/data-contract.md``. Unknown keys are errors, so a
misspelled ``taget:`` is reported instead of silently dropping a target. YAML is read with the
safe loader only; very large files and alias-heavy documents are refused before parsing.
"""

from __future__ import annotations

import datetime
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, Problem
from .units import UNITS

MAX_CONFIG_BYTES = 1_000_000
MAX_ALIASES = 20
MAX_DEPTH = 50
MAX_NODES = 20_000
MAX_PROBLEMS = 50  # schema problems listed; the rest are counted
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CONFIG_NAME = "client.yaml"
# columns of the loaded tables that a segment id (which also becomes a column) must not shadow
_RESERVED_COLUMNS = frozenset({"response_id", "responded_at", "score", "case_id", "chain", "period", "linked",
                               "customer_id"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Identifier = Annotated[str, Field(pattern=ID_PATTERN.pattern)]


class NPSScale(_Model):
    type: Literal["nps"] = "nps"
    min: int = 0
    max: int = 10

    @property
    def top_box(self) -> list[int]:
        return [9, 10]

    @property
    def bottom_box(self) -> list[int]:
        return list(range(0, 7))


class RatingScale(_Model):
    type: Literal["rating"] = "rating"
    min: int
    max: int
    top_box: list[int]
    bottom_box: list[int]

    @model_validator(mode="after")
    def _check(self) -> "RatingScale":
        if self.min >= self.max:
            raise ValueError(f"scale min ({self.min}) must be below max ({self.max})")
        for name in ("top_box", "bottom_box"):
            bad = [v for v in getattr(self, name) if not self.min <= v <= self.max]
            if bad:
                raise ValueError(f"{name} values {bad} lie outside the scale {self.min}-{self.max}")
        _check_boxes(self.top_box, self.bottom_box)
        return self


def _check_boxes(top: list, bottom: list) -> None:
    if not top or not bottom:
        raise ValueError("top_box and bottom_box must each name at least one value")
    both = [v for v in top if v in bottom]
    if both:
        raise ValueError(f"top_box and bottom_box must not share values; both hold {both}")


class LabelScale(_Model):
    """Labelled answers, ordered worst to best; mapped onto 1..k."""

    type: Literal["labels"] = "labels"
    labels: list[str] = Field(min_length=2)
    top_box: list[str]
    bottom_box: list[str]

    @model_validator(mode="after")
    def _check(self) -> "LabelScale":
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        for name in ("top_box", "bottom_box"):
            bad = [v for v in getattr(self, name) if v not in self.labels]
            if bad:
                raise ValueError(f"{name} names labels {bad} that are not in labels {self.labels}")
        _check_boxes(self.top_box, self.bottom_box)
        return self

    @property
    def min(self) -> int:
        return 1

    @property
    def max(self) -> int:
        return len(self.labels)

    def code(self, label: str) -> int:
        return self.labels.index(label) + 1

    def as_rating(self) -> RatingScale:
        return RatingScale(
            min=1,
            max=len(self.labels),
            top_box=[self.code(v) for v in self.top_box],
            bottom_box=[self.code(v) for v in self.bottom_box],
        )


class ResultKPI(_Model):
    name: str = Field(min_length=1, max_length=200)
    scale: Literal["nps", "rating", "labels"]
    min: int | None = None
    max: int | None = None
    top_box: list[Any] | None = None
    bottom_box: list[Any] | None = None
    labels: list[str] | None = None
    steer_on: Literal["mean", "top_box"] | None = None  # what the agenda steers on (rating / 3+ labels)
    top_box_name: str | None = Field(default=None, min_length=1, max_length=100)  # "stayed": "85.5 % stayed"
    # what one point of the result KPI (an NPS point, or a point of the mean score) is worth to the
    # client, in its currency (reporting.currency): money next to the agenda's and the actions' gains
    value_per_point: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> "ResultKPI":
        self.scale_spec  # noqa: B018 - validates the combination
        if self.steer_on is not None and self.scale == "nps":
            raise ValueError("steer_on is for a rating or labels scale; the NPS is steered on itself")
        if self.top_box_name is not None and self.scale == "nps":
            raise ValueError("top_box_name is for a rating or labels scale; the NPS has no top box")
        return self

    @property
    def top_words(self) -> str | None:
        """How the top box reads in a sentence ("satisfied", "stayed"): ``top_box_name``, else the
        top-box labels of a labels scale; None for a rating without a name, and for the NPS."""
        if self.top_box_name:
            return self.top_box_name
        if self.scale == "labels" and self.top_box:
            return ", ".join(str(v) for v in self.top_box)
        return None

    @property
    def scale_spec(self) -> NPSScale | RatingScale | LabelScale:
        if self.scale == "nps":
            extra = [k for k in ("min", "max", "top_box", "bottom_box", "labels") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"the nps scale is fixed at 0-10; remove {', '.join(extra)}")
            return NPSScale()
        if self.scale == "rating":
            if self.labels is not None:
                raise ValueError("a rating scale takes min/max, not labels (use scale: labels)")
            missing = [k for k in ("min", "max", "top_box", "bottom_box") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a rating scale needs {', '.join(missing)}")
            return RatingScale(min=self.min, max=self.max, top_box=self.top_box, bottom_box=self.bottom_box)
        missing = [k for k in ("labels", "top_box", "bottom_box") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a labels scale needs {', '.join(missing)}")
        return LabelScale(labels=self.labels, top_box=self.top_box, bottom_box=self.bottom_box)

    @property
    def rating_scale(self) -> NPSScale | RatingScale:
        """The numeric scale the scores are analysed on (labels mapped to 1..k)."""
        spec = self.scale_spec
        return spec.as_rating() if isinstance(spec, LabelScale) else spec


    @property
    def measure(self) -> str:
        """How the result KPI is read: ``"nps"``, ``"share"`` (two levels: % in the top one),
        ``"top_box"`` (``steer_on: top_box``) or ``"mean"`` (as :attr:`ModelFrame.measure`)."""
        if self.scale == "nps":
            return "nps"
        spec = self.rating_scale
        if spec.max - spec.min == 1:
            return "share"
        return "top_box" if self.steer_on == "top_box" else "mean"

    @property
    def kpi_scale(self) -> dict:
        """The scale as the KPI functions take it (labels mapped to 1..k)."""
        spec = self.rating_scale
        if spec.type == "nps":
            return {"type": "nps"}
        return {"type": "rating", "min": spec.min, "max": spec.max,
                "top_box": list(spec.top_box), "bottom_box": list(spec.bottom_box)}


class TableSpec(_Model):
    file: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    chain: str | None = None  # a constant chain id when the table has no chain column
    from_: Literal["events", "responses"] | None = Field(default=None, alias="from")
    sheet: str | None = Field(default=None, min_length=1, max_length=200)  # of an .xlsx file; default the first

    @model_validator(mode="after")
    def _check(self) -> "TableSpec":
        if self.file is None and self.from_ is None:
            raise ValueError("give either file: or from:")
        if self.file is not None and self.from_ is not None:
            raise ValueError("give file: or from:, not both")
        if self.file is not None:
            _check_relative_file(self.file)
        if self.sheet is not None and (self.file is None or not self.file.lower().endswith(".xlsx")):
            raise ValueError("sheet: applies to an Excel file (.xlsx) only; remove sheet:")
        sources: dict[str, list[str]] = {}
        for contract, theirs in self.columns.items():
            sources.setdefault(theirs, []).append(contract)
        twice = {theirs: names for theirs, names in sources.items() if len(names) > 1}
        if twice:
            theirs, names = next(iter(twice.items()))
            raise ValueError(f"columns maps the file's column '{theirs}' onto several columns ({', '.join(names)}); "
                             "map each column once")
        return self


class EventCaseColumn(_Model):
    """A case column computed from each case's events (``tables.events.case_columns``).

    Exactly one of: ``reached`` (true when the case has an event of the activity), ``first`` /
    ``last`` (the timestamp of its first / last such event), ``count`` (how many such events),
    ``between`` (two activities: the time from the first event of the one to the first event of
    the other at or after it, in ``unit``). Activities are one name or a list of names.
    """

    reached: str | list[str] | None = None
    first: str | list[str] | None = None
    last: str | list[str] | None = None
    count: str | list[str] | None = None
    between: list[str] | None = None
    unit: Literal["minutes", "hours", "days"] = "hours"

    @model_validator(mode="after")
    def _check(self) -> "EventCaseColumn":
        given = [k for k in ("reached", "first", "last", "count", "between") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of reached:, first:, last:, count: or between: "
                             f"(got {', '.join(given) or 'none'})")
        if self.between is not None and (len(self.between) != 2 or len(set(self.between)) != 2):
            raise ValueError("between: takes two different activities, [from, to]")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("reached", "first", "last", "count", "between") if getattr(self, k) is not None)

    @property
    def activities(self) -> list[str]:
        v = getattr(self, self.kind)
        return [v] if isinstance(v, str) else list(v)


def _check_patterns(patterns: list[str], key: str) -> None:
    for p in patterns:
        try:
            re.compile(p)
        except re.error as e:
            raise ValueError(f"{key}: '{p}' is not a valid regular expression ({e})") from None


class EventFilter(_Model):
    """Which events of the log the analysis sees (``tables.events.filter``).

    ``keep``: a DuckDB condition over the event columns (text), e.g.
    ``"\"lifecycle:transition\" = 'complete'"``; events where it is false or NULL are left out.
    ``leave_out``: regular expressions; events whose activity matches one in full are left out.
    """

    keep: str | None = Field(default=None, min_length=1, max_length=2000)
    leave_out: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "EventFilter":
        _check_patterns(self.leave_out, "leave_out")
        return self


class EventsSpec(TableSpec):
    """The events table: a file, its column mapping and what real logs need on top.

    ``activity``: the activity built from one or several columns, joined with
    ``activity_separator`` (instead of mapping one column onto ``activity``). ``filter``: the
    events the analysis sees. ``case_columns``: case columns computed from the events.
    """

    activity: str | list[str] | None = None
    activity_separator: str = Field(default=" | ", max_length=20)
    filter: EventFilter | None = None
    case_columns: dict[str, EventCaseColumn] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_events(self) -> "EventsSpec":
        if self.activity is not None:
            cols = self.activity_columns
            if not cols or len(set(cols)) != len(cols):
                raise ValueError("activity: name one column or a list of different columns")
            if "activity" in self.columns:
                raise ValueError("give activity: or map a column onto activity under columns:, not both")
        bad = [k for k in self.case_columns if not ID_PATTERN.match(k)]
        if bad:
            raise ValueError(f"case_columns names {bad} must use letters, digits, '_' and '-'")
        return self

    @property
    def activity_columns(self) -> list[str]:
        if self.activity is None:
            return []
        return [self.activity] if isinstance(self.activity, str) else list(self.activity)


def _check_relative_file(name: str) -> None:
    p = Path(name)
    if p.is_absolute() or ".." in p.parts or name.startswith("~"):
        raise ValueError(f"file '{name}' must be a plain name inside the client folder")
    if p.suffix.lower() not in {".csv", ".parquet", ".xlsx"}:
        raise ValueError(f"file '{name}' must end in .csv, .parquet or .xlsx")


class Tables(_Model):
    responses: TableSpec | None = None
    cases: TableSpec | None = None
    events: EventsSpec | None = None

    @model_validator(mode="after")
    def _check(self) -> "Tables":
        if self.responses is not None and self.responses.from_ is not None:
            raise ValueError("responses must come from a file")
        if self.events is not None and self.events.from_ is not None:
            raise ValueError("events must come from a file")
        if self.cases is None and self.events is None:
            raise ValueError("a client needs a cases table or an event log (tables.cases or tables.events)")
        if self.cases is not None and self.cases.from_ == "events" and self.events is None:
            raise ValueError("cases: {from: events} needs an events table")
        if self.cases is not None and self.cases.from_ == "responses" and self.responses is None:
            raise ValueError("cases: {from: responses} needs a responses table")
        # keys that would otherwise be accepted and do nothing: refused, saying what to write instead
        if self.responses is not None and self.responses.chain is not None:
            raise ValueError("responses take no chain: (a response's chain is its case's); set chain: under "
                             "tables.cases, or under tables.events for cases from the event log")
        if self.cases is not None and self.cases.from_ == "events" and self.cases.columns:
            raise ValueError("tables.cases.columns does nothing with cases: {from: events} (the case columns come "
                             "from the event log); map the log's columns under tables.events.columns")
        return self


class Linkage(_Model):
    by: Literal["case_id", "customer_id"] = "case_id"
    window_days: int = Field(default=60, ge=0, le=3650)

    @model_validator(mode="after")
    def _check(self) -> "Linkage":
        if self.by == "case_id" and "window_days" in self.model_fields_set:
            raise ValueError("window_days applies only to by: customer_id (a case id links directly); remove "
                             "window_days, or write by: customer_id")
        return self


class ChainKPI(_Model):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    expression: str = Field(min_length=1, max_length=2000)
    unit: Literal[UNITS]  # type: ignore[valid-type] - the one list, in units.py
    direction: Literal["higher", "lower"]
    target: float | None = None
    link: str = Field(min_length=1, max_length=100)
    chain: str = ""  # filled in from the parent chain
    # a share's continuous companion, {id: expression} (e.g. lateness: date_diff('day', ...)), for thresholds
    companion: dict[Identifier, Annotated[str, Field(min_length=1, max_length=2000)]] | None = None
    companion_unit: Literal["days", "hours", "count"] = "days"

    @model_validator(mode="after")
    def _check(self) -> "ChainKPI":
        if "chain" in self.model_fields_set and self.chain:
            raise ValueError(f"KPI '{self.id}': a KPI's chain is the chain it is listed under; remove chain: "
                             "(or move the KPI under that chain)")
        if self.unit == "share" and self.target is not None and not 0 <= self.target <= 1:
            raise ValueError(f"a share target is a fraction between 0 and 1, got {self.target}")
        if self.companion is not None and len(self.companion) != 1:
            raise ValueError("companion names one measure: {id: expression}")
        return self

    @property
    def companion_id(self) -> str | None:
        return next(iter(self.companion)) if self.companion else None


class Journey(_Model):
    steps: list[str] = Field(min_length=1)
    milestones: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "Journey":
        if len(set(self.steps)) != len(self.steps):
            raise ValueError("journey steps must be unique")
        unknown = [s for s in self.milestones if s not in self.steps]
        if unknown:
            raise ValueError(f"milestones name steps {unknown} that are not in the journey steps {self.steps}")
        return self


class Chain(_Model):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    need: str = ""
    owner: str = Field(min_length=1, max_length=200)
    links: list[str] = Field(min_length=1)
    kpis: list[ChainKPI] = Field(min_length=1)
    journey: Journey | None = None

    @model_validator(mode="after")
    def _check(self) -> "Chain":
        if len(set(self.links)) != len(self.links):
            raise ValueError("links must be unique within a chain")
        ids = [k.id for k in self.kpis]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"KPI ids {dup} occur more than once")
        for k in self.kpis:
            if k.link not in self.links:
                raise ValueError(f"KPI '{k.id}' is owned by link '{k.link}', which is not one of the chain's links {self.links}")
        # give each KPI its chain id (frozen models: rebuild)
        object.__setattr__(self, "kpis", [k.model_copy(update={"chain": self.id}) for k in self.kpis])
        return self


class Segment(_Model):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    table: Literal["responses", "cases"] = "responses"
    expression: str | None = Field(default=None, max_length=2000)
    column: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "Segment":
        if (self.expression is None) == (self.column is None):
            raise ValueError("give exactly one of expression: or column:")
        return self

    @property
    def sql(self) -> str:
        if self.expression is not None:
            return self.expression
        return '"' + self.column.replace('"', '""') + '"'


class Contacts(_Model):
    """Which events are customer contacts. Only declared ones are: events on one of ``channels``
    (``any``: every event with a channel), of one of ``activities``, whose activity matches
    ``activity_pattern`` in full, or an ``avoidable`` activity. With none declared, contacts are
    not counted."""

    avoidable: list[str] = Field(default_factory=list)
    repeat_within_days: int = Field(default=7, ge=0, le=365)
    channels: list[str] | Literal["any"] = Field(default_factory=list)
    activities: list[str] = Field(default_factory=list)
    activity_pattern: str | None = Field(default=None, min_length=1, max_length=500)
    # what one avoidable contact costs, in the client's currency (reporting.currency)
    cost_per_contact: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> "Contacts":
        if self.activity_pattern is not None:
            _check_patterns([self.activity_pattern], "activity_pattern")
        if self.cost_per_contact is not None and not self.avoidable:
            raise ValueError("cost_per_contact prices avoidable contacts, and none are declared: list them under "
                             "contacts.avoidable, or remove cost_per_contact")
        return self

    @property
    def declared(self) -> bool:
        return bool(self.channels or self.activities or self.activity_pattern or self.avoidable)


class Reporting(_Model):
    period: Literal["month", "quarter"] = "month"  # reports are by month (or quarter); weeks are not
    min_base_flag: int = Field(default=30, ge=1)
    min_base_suppress: int = Field(default=10, ge=1)
    as_of: date | None = None  # data complete up to this day; later (partial) periods are left out of trends
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")  # ISO 4217 code of the money amounts
    language: Literal["en", "nl"] = "en"  # the language of the report's sentences, numbers and dates

    @model_validator(mode="after")
    def _check(self) -> "Reporting":
        if self.min_base_suppress > self.min_base_flag:
            raise ValueError("min_base_suppress must not exceed min_base_flag")
        return self


class Pilot(_Model):
    """Where an action ran: one group of a segment (the rest is the comparison group)."""

    segment: Identifier
    group: str = Field(min_length=1, max_length=200)


class Action(_Model):
    """An improvement action taken, to be measured against what happened before and elsewhere."""

    id: Identifier
    name: str = Field(min_length=1, max_length=300)
    owner: str = Field(default="", max_length=200)
    kpis: list[Identifier] = Field(min_length=1)
    start: datetime.date
    end: datetime.date | None = None
    pilot: Pilot | None = None

    @model_validator(mode="after")
    def _check(self) -> "Action":
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"action '{self.id}': end ({self.end}) must come after start ({self.start})")
        return self


class ClientConfig(_Model):
    id: Identifier
    title: str = Field(min_length=1, max_length=300)
    result_kpi: ResultKPI | None = None
    tables: Tables
    linkage: Linkage = Field(default_factory=Linkage)
    chains: list[Chain] = Field(min_length=1)
    segments: list[Segment] = Field(default_factory=list)
    contacts: Contacts = Field(default_factory=Contacts)
    reporting: Reporting = Field(default_factory=Reporting)
    actions: list[Action] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "ClientConfig":
        self._check_actions()
        ids = [c.id for c in self.chains]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"chain ids {dup} occur more than once")
        seg = [s.id for s in self.segments]
        dup = sorted({i for i in seg if seg.count(i) > 1})
        if dup:
            raise ValueError(f"segment ids {dup} occur more than once")
        kpi_ids = {k.id for c in self.chains for k in c.kpis}
        comp = [k.companion_id for c in self.chains for k in c.kpis if k.companion_id]
        clash = sorted(i for i in comp if i in kpi_ids or i in seg or i in _RESERVED_COLUMNS or comp.count(i) > 1)
        if clash:
            raise ValueError(f"companion ids {clash} are also KPI or segment ids, used twice, or names the "
                             "analysis uses; give them other ids")
        taken = sorted(i for i in seg if i in kpi_ids or i in _RESERVED_COLUMNS)
        if taken:
            raise ValueError(f"segment ids {taken} are also KPI ids or names the analysis uses "
                             f"({', '.join(sorted(_RESERVED_COLUMNS))}); give the segments other ids")
        if self.tables.responses is not None and self.result_kpi is None:
            raise ValueError("a responses table needs a result_kpi")
        if self.result_kpi is not None and self.tables.responses is None:
            raise ValueError("result_kpi needs a responses table (tables.responses) to take the scores from; "
                             "add one, or remove result_kpi")
        if (self.tables.cases is not None and self.tables.cases.from_ == "responses"
                and self.linkage.by == "customer_id"):
            raise ValueError("linkage by customer_id does nothing with cases: {from: responses} (each response is "
                             "its own case); remove linkage")
        if self.contacts.cost_per_contact is not None and self.tables.events is None:
            raise ValueError("contacts.cost_per_contact prices avoidable contacts counted in the event log, and "
                             "there is none (tables.events): add one, or remove cost_per_contact")
        for t in (self.tables.cases, self.tables.events):
            if t is not None and t.chain is not None and t.chain not in ids:
                raise ValueError(f"tables name chain '{t.chain}', which is not declared under chains ({ids})")
        return self

    def _check_actions(self) -> None:
        ids = [a.id for a in self.actions]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"action ids {dup} occur more than once")
        kpi_ids = {k.id for c in self.chains for k in c.kpis}
        seg_ids = {s.id for s in self.segments}
        for a in self.actions:
            unknown = [k for k in a.kpis if k not in kpi_ids]
            if unknown:
                raise ValueError(f"action '{a.id}' targets unknown chain KPIs {unknown}; known: {sorted(kpi_ids)}")
            if a.pilot is not None and a.pilot.segment not in seg_ids:
                raise ValueError(f"action '{a.id}': pilot segment '{a.pilot.segment}' is not declared under "
                                 f"segments ({sorted(seg_ids)})")

    # -- convenience -------------------------------------------------------------------------
    @property
    def kpis(self) -> list[ChainKPI]:
        return [k for c in self.chains for k in c.kpis]

    def chain(self, chain_id: str) -> Chain:
        for c in self.chains:
            if c.id == chain_id:
                return c
        raise KeyError(chain_id)

    def kpi(self, chain_id: str, kpi_id: str) -> ChainKPI:
        for k in self.chain(chain_id).kpis:
            if k.id == kpi_id:
                return k
        raise KeyError(f"{chain_id}.{kpi_id}")

    @property
    def has_survey(self) -> bool:
        return self.tables.responses is not None


class _LimitedLoader(yaml.SafeLoader):
    """Safe loader that refuses alias bombs (more than MAX_ALIASES aliases), deep nesting (more
    than MAX_DEPTH levels, which would exhaust Python's stack) and documents of more than
    MAX_NODES values (a client.yaml has hundreds; millions would take minutes to validate)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ConfigError(f"{CONFIG_NAME}: more than {MAX_ALIASES} YAML aliases; refused")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise ConfigError(f"{CONFIG_NAME}: more than {MAX_NODES:,} values; refused")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ConfigError(f"{CONFIG_NAME}: nested more than {MAX_DEPTH} levels deep; refused")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        """Refuse a key given twice in one mapping (YAML lets the last one win silently)."""
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in first:
                raise ConfigError(f"{CONFIG_NAME}: key '{key}' is given twice (lines {first[key]} and {line}); "
                                  "keep one")
            first[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """Read a YAML file safely: size-limited, no object construction, aliases limited."""
    path = Path(path)
    if path.exists() and not path.resolve().is_relative_to(path.parent.resolve()):
        raise ConfigError(f"{path.name}: a link that leads outside the client folder; refused")
    if not path.is_file():
        raise ConfigError(f"{path.name}: not found in {path.parent.name or '.'}")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path.name}: {size:,} bytes is larger than the {MAX_CONFIG_BYTES:,} allowed; refused")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte {e.start})") from None
    try:
        return yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path.name}: not valid YAML{where}: {problem}") from None
    except (ValueError, RecursionError) as e:  # e.g. an integer of thousands of digits
        raise ConfigError(f"{path.name}: not usable YAML: {str(e).splitlines()[0][:200]}") from None


def _format_pydantic(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p != "__root__")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelled?)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        out.append(f"{loc}: {msg}" if loc else msg)
    return out


def parse_config(raw: Any, source: str = CONFIG_NAME) -> ClientConfig:
    """Validate a parsed YAML document against the client contract."""
    if raw is None:
        raise ConfigError(f"{source}: the file is empty; see docs/data-contract.md for what it holds")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    try:
        return ClientConfig.model_validate(raw)
    except ValidationError as err:
        lines = _format_pydantic(err)
        if len(lines) > MAX_PROBLEMS:
            lines = lines[:MAX_PROBLEMS] + [f"... and {len(lines) - MAX_PROBLEMS:,} more problems"]
        raise ConfigError(f"{source}: " + "; ".join(lines)) from None


def config_problems(raw: Any, source: str = CONFIG_NAME) -> tuple[ClientConfig | None, list[Problem]]:
    """Like :func:`parse_config` but returns one :class:`Problem` per schema error."""
    if raw is None:
        return None, [Problem(source, "the file is empty; see docs/data-contract.md for what it holds")]
    if not isinstance(raw, dict):
        return None, [Problem(source, f"expected a mapping of keys at the top level, got {type(raw).__name__}")]
    try:
        return ClientConfig.model_validate(raw), []
    except ValidationError as err:
        lines = _format_pydantic(err)
        if len(lines) > MAX_PROBLEMS:
            lines = lines[:MAX_PROBLEMS] + [f"... and {len(lines) - MAX_PROBLEMS:,} more problems"]
        return None, [Problem(source, line) for line in lines]


def load_config(client_dir: str | Path) -> ClientConfig:
    """Read and validate ``client.yaml`` of a client folder."""
    path = Path(client_dir) / CONFIG_NAME
    return parse_config(read_yaml(path))


def check_client_id(client_id: str) -> str:
    """Refuse ids that could escape the reports folder (``..``, slashes, absolute paths)."""
    if not isinstance(client_id, str) or not ID_PATTERN.match(client_id):
        raise ConfigError(
            f"client id {client_id!r} is not allowed: use letters, digits, '_' and '-' (at most 64), "
            "starting with a letter or digit"
        )
    return client_id


__all__ = [
    "ClientConfig",
    "Chain",
    "ChainKPI",
    "Segment",
    "ResultKPI",
    "load_config",
    "parse_config",
    "config_problems",
    "read_yaml",
    "check_client_id",
]
