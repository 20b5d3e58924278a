"""client.yaml → a typed client configuration.

The schema is the one documented in ``docs/data-contract.md``. Unknown keys are errors, so a
misspelled ``taget:`` is reported instead of silently dropping a target. YAML is read with the
safe loader only; very large files and alias-heavy documents are refused before parsing.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, Problem

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

    @model_validator(mode="after")
    def _check(self) -> "ResultKPI":
        self.scale_spec  # noqa: B018 - validates the combination
        if self.steer_on is not None and self.scale == "nps":
            raise ValueError("steer_on is for a rating or labels scale; the NPS is steered on itself")
        return self

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


class TableSpec(_Model):
    file: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    chain: str | None = None  # a constant chain id when the table has no chain column
    from_: Literal["events", "responses"] | None = Field(default=None, alias="from")

    @model_validator(mode="after")
    def _check(self) -> "TableSpec":
        if self.file is None and self.from_ is None:
            raise ValueError("give either file: or from:")
        if self.file is not None and self.from_ is not None:
            raise ValueError("give file: or from:, not both")
        if self.file is not None:
            _check_relative_file(self.file)
        sources: dict[str, list[str]] = {}
        for contract, theirs in self.columns.items():
            sources.setdefault(theirs, []).append(contract)
        twice = {theirs: names for theirs, names in sources.items() if len(names) > 1}
        if twice:
            theirs, names = next(iter(twice.items()))
            raise ValueError(f"columns maps the file's column '{theirs}' onto several columns ({', '.join(names)}); "
                             "map each column once")
        return self


def _check_relative_file(name: str) -> None:
    p = Path(name)
    if p.is_absolute() or ".." in p.parts or name.startswith("~"):
        raise ValueError(f"file '{name}' must be a plain name inside the client folder")
    if p.suffix.lower() not in {".csv", ".parquet"}:
        raise ValueError(f"file '{name}' must end in .csv or .parquet")


class Tables(_Model):
    responses: TableSpec | None = None
    cases: TableSpec | None = None
    events: TableSpec | None = None

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
        return self


class Linkage(_Model):
    by: Literal["case_id", "customer_id"] = "case_id"
    window_days: int = Field(default=60, ge=0, le=3650)


class ChainKPI(_Model):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    expression: str = Field(min_length=1, max_length=2000)
    unit: Literal["share", "days", "hours", "count", "number"]
    direction: Literal["higher", "lower"]
    target: float | None = None
    link: str = Field(min_length=1, max_length=100)
    chain: str = ""  # filled in from the parent chain
    # a share's continuous companion, {id: expression} (e.g. lateness: date_diff('day', ...)), for thresholds
    companion: dict[Identifier, Annotated[str, Field(min_length=1, max_length=2000)]] | None = None
    companion_unit: Literal["days", "hours", "count"] = "days"

    @model_validator(mode="after")
    def _check(self) -> "ChainKPI":
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
    avoidable: list[str] = Field(default_factory=list)
    repeat_within_days: int = Field(default=7, ge=0, le=365)


class Reporting(_Model):
    period: Literal["month", "quarter", "week"] = "month"
    min_base_flag: int = Field(default=30, ge=1)
    min_base_suppress: int = Field(default=10, ge=1)
    as_of: date | None = None  # data complete up to this day; later (partial) periods are left out of trends

    @model_validator(mode="after")
    def _check(self) -> "Reporting":
        if self.min_base_suppress > self.min_base_flag:
            raise ValueError("min_base_suppress must not exceed min_base_flag")
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

    @model_validator(mode="after")
    def _check(self) -> "ClientConfig":
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
        for t in (self.tables.cases, self.tables.events):
            if t is not None and t.chain is not None and t.chain not in ids:
                raise ValueError(f"tables name chain '{t.chain}', which is not declared under chains ({ids})")
        return self

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


def read_yaml(path: Path) -> Any:
    """Read a YAML file safely: size-limited, no object construction, aliases limited."""
    path = Path(path)
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
