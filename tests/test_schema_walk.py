"""Every key client.yaml accepts takes effect, or is refused with what to write instead.

The test walks the pydantic schema of :class:`ipm_analysis.config.ClientConfig` and finds every
key a user can write. Each key must appear in ``EFFECTS`` (a change of its value changes the
loaded client: its tables, or what the report shows of it) or in ``REFUSED`` (a value that would
do nothing is refused, and the message says what to write instead). A key added to the schema
without either fails :func:`test_every_key_is_covered`: no setting can be silently ignored.
"""

from __future__ import annotations

import copy
import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

import ipm_analysis as ipm
from ipm_analysis import actions, journeys, modelframe, overview, periods, report, value
from ipm_analysis.config import ClientConfig
from ipm_analysis.errors import IpmError

RESPONSES = """response_id,responded_at,nps,nps2,sat,case_id,years,cust
r01,2024-01-05,9,7,satisfied,c1,0.5,k1
r02,2024-01-06,3,8,neutral,c2,2,k2
r03,2024-01-20,10,9,satisfied,c3,3,k3
r04,2024-02-07,7,2,dissatisfied,c4,1,k4
r05,2024-02-08,8,10,satisfied,c5,0.2,k5
r06,2024-02-09,2,6,dissatisfied,c6,4,k6
r07,2024-02-10,9,9,neutral,c7,5,k7
r08,2024-02-11,6,5,satisfied,c8,0.1,k8
"""

CASES = """case_id,chain,opened_at,closed_at,promised_at,installed_at,region,cust
c1,installation,2023-12-01,2024-01-01,2023-12-10,2023-12-09,north,k1
c2,installation,2023-12-02,2024-01-02,2023-12-10,2023-12-15,south,k2
c3,installation,2023-12-05,2024-01-15,2023-12-12,2023-12-11,north,k3
c4,installation,2024-01-02,2024-02-01,2024-01-10,2024-01-20,south,k4
c5,installation,2024-01-03,2024-02-02,2024-01-10,2024-01-09,north,k5
c6,repair,2024-01-04,2024-01-05,,,south,k6
c7,repair,2024-01-05,2024-01-08,,,north,k7
c8,repair,2024-01-06,2024-01-06,,,south,k8
"""

EVENTS = """case_id,activity,timestamp,channel,medium
c1,Order,2023-12-01 10:00:00,web,online
c1,Call,2023-12-02 10:00:00,phone,voice
c1,Call,2023-12-03 10:00:00,phone,voice
c2,Order,2023-12-02 10:00:00,phone,voice
c2,Call,2023-12-04 10:00:00,phone,voice
c2,Call,2023-12-30 10:00:00,phone,voice
c3,Order,2023-12-05 10:00:00,web,online
c4,Order,2024-01-02 10:00:00,web,online
c5,Order,2024-01-03 10:00:00,web,online
c6,Report,2024-01-04 10:00:00,phone,voice
c7,Report,2024-01-05 10:00:00,phone,voice
c8,Report,2024-01-06 10:00:00,web,online
"""

BASE = {
    "id": "walk",
    "title": "Schema walk",
    "result_kpi": {"name": "NPS", "scale": "nps"},
    "tables": {
        "responses": {"file": "responses.csv", "columns": {"score": "nps"}},
        "cases": {"file": "cases.csv"},
        "events": {"file": "events.csv"},
    },
    "linkage": {"by": "case_id"},
    "chains": [
        {"id": "installation", "name": "Install", "need": "a working machine", "owner": "Head of Service",
         "links": ["Planning", "Service"],
         "kpis": [
             {"id": "on_time", "name": "On time", "expression": "installed_at::DATE <= promised_at::DATE",
              "unit": "share", "direction": "higher", "target": 0.9, "link": "Planning"},
             {"id": "lead_time", "name": "Lead time", "expression": "date_diff('day', opened_at, installed_at)",
              "unit": "days", "direction": "lower", "target": 10, "link": "Service"},
         ],
         "journey": {"steps": ["Order", "Call", "Install"], "milestones": {"Install": "installed_at"}}},
        {"id": "repair", "name": "Repair", "owner": "Head of Repairs", "links": ["Service"],
         "kpis": [{"id": "fix_hours", "name": "Hours to fix", "expression": "date_diff('hour', opened_at, closed_at)",
                   "unit": "hours", "direction": "lower", "target": 24, "link": "Service"}]},
    ],
    "segments": [
        {"id": "tenure", "name": "Tenure", "table": "responses",
         "expression": "CASE WHEN years < 1 THEN 'new' ELSE 'existing' END"},
        {"id": "area", "name": "Region", "table": "cases", "column": "region"},
    ],
    "contacts": {"avoidable": ["Call"], "repeat_within_days": 7},
    "reporting": {"period": "month", "min_base_flag": 3, "min_base_suppress": 1},
}

LABELS = {"name": "Satisfaction", "scale": "labels", "labels": ["dissatisfied", "neutral", "satisfied"],
          "top_box": ["satisfied"], "bottom_box": ["dissatisfied"]}
RATING = {"name": "Recommend", "scale": "rating", "min": 0, "max": 10, "top_box": [9, 10],
          "bottom_box": [1, 2, 3, 4, 5, 6]}


def _set(cfg: dict, path: str, value) -> dict:
    """Set a dotted path; list items by index (``chains.0.name``)."""
    keys = path.split(".")
    node = cfg
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return cfg


def _labels_base(cfg: dict) -> dict:
    cfg["result_kpi"] = copy.deepcopy(LABELS)
    cfg["tables"]["responses"]["columns"] = {"score": "sat"}
    return cfg


def _rating_base(cfg: dict) -> dict:
    cfg["result_kpi"] = copy.deepcopy(RATING)
    return cfg


def _by_customer(cfg: dict) -> dict:
    cfg["linkage"] = {"by": "customer_id", "window_days": 60}
    cfg["tables"]["responses"]["columns"]["customer_id"] = "cust"
    cfg["tables"]["cases"]["columns"] = {"customer_id": "cust"}
    return cfg


def _derived(cfg: dict) -> dict:
    """Cases derived from the event log, KPIs that hold for any derived case."""
    cfg["tables"]["cases"] = {"from": "events", "chain": "installation"}
    cfg["chains"] = [copy.deepcopy(BASE["chains"][0])]
    cfg["chains"][0]["kpis"] = [{"id": "one", "name": "One", "expression": "1", "unit": "count",
                                 "direction": "lower", "link": "Service"}]
    del cfg["chains"][0]["journey"]
    cfg["segments"] = cfg["segments"][:1]
    return cfg


def _with_companion(cfg: dict) -> dict:
    return _set(cfg, "chains.0.kpis.0.companion", {"days_late": "date_diff('day', promised_at, installed_at)"})


def _activity_from_columns(cfg: dict) -> dict:
    """Activity built from two columns of a log whose own activity column is called ``step``."""
    _set(cfg, "tables.events.file", "events_steps.csv")
    return _set(cfg, "tables.events.activity", ["step", "medium"])


def _with_action(cfg: dict) -> dict:
    cfg["actions"] = [{"id": "call_back", "name": "Call back", "owner": "Planning", "kpis": ["on_time"],
                       "start": "2023-12-15"}]
    return cfg


def _with_pilot(cfg: dict) -> dict:
    _with_action(cfg)["actions"][0]["pilot"] = {"segment": "area", "group": "north"}
    return cfg


def _xlsx(table: str, text: str, changed: str):
    """A workbook of two sheets: the table's data as the first, a changed copy as the second."""
    import csv
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, body in (("First", text), ("Second", changed)):
        ws = wb.create_sheet(name)
        for row in csv.reader(io.StringIO(body)):
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _in_excel(table: str):
    def before(cfg: dict) -> dict:
        cfg["tables"][table]["file"] = f"{table}.xlsx"
        return cfg
    return before


_SHEETS = {
    "responses": _xlsx("responses", RESPONSES, RESPONSES.replace("r01,2024-01-05,9", "r01,2024-01-05,0")),
    "cases": _xlsx("cases", CASES, CASES.replace("2023-12-09,north", "2023-12-29,north")),
    "events": _xlsx("events", EVENTS, EVENTS.replace("c1,Call,2023-12-03", "c1,Call,2023-12-23")),
}


def _same(cfg: dict) -> dict:
    return cfg


# key -> (how the "before" config differs from BASE, how "after" differs from "before", files changed
# for "after"). Each pair must load, and the loaded clients must differ.
EFFECTS = {
    "id": (_same, lambda c: _set(c, "id", "walk2"), {}),
    "title": (_same, lambda c: _set(c, "title", "Another title"), {}),
    "result_kpi.name": (_same, lambda c: _set(c, "result_kpi.name", "Likelihood to recommend"), {}),
    "result_kpi.scale": (_same, lambda c: _set(c, "result_kpi", copy.deepcopy(RATING)), {}),
    "result_kpi.min": (_rating_base, lambda c: _set(c, "result_kpi.min", 1), {}),
    "result_kpi.max": (_rating_base, lambda c: _set(c, "result_kpi.max", 11), {}),
    "result_kpi.top_box": (_rating_base, lambda c: _set(c, "result_kpi.top_box", [10]), {}),
    "result_kpi.bottom_box": (_rating_base, lambda c: _set(c, "result_kpi.bottom_box", [1, 2, 3]), {}),
    "result_kpi.labels": (_labels_base, lambda c: _set(c, "result_kpi.labels", ["neutral", "dissatisfied", "satisfied"]),
                          {}),
    "tables.responses.file": (_same, lambda c: _set(c, "tables.responses.file", "responses2.csv"),
                              {"responses2.csv": RESPONSES.replace("r01,2024-01-05,9", "r01,2024-01-05,0")}),
    "tables.responses.columns": (_same, lambda c: _set(c, "tables.responses.columns", {"score": "nps2"}), {}),
    "tables.cases.file": (_same, lambda c: _set(c, "tables.cases.file", "cases2.csv"),
                          {"cases2.csv": CASES.replace("2023-12-09,north", "2023-12-29,north")}),
    "tables.cases.columns": (_same, lambda c: _set(c, "tables.cases.columns", {"zone": "region"}), {}),
    "tables.cases.chain": (_same, lambda c: _set(c, "tables.cases.chain", "installation"), {}),
    "tables.cases.from": (_derived, lambda c: _set(c, "tables.cases.from", "responses"), {}),
    "tables.events.file": (_same, lambda c: _set(c, "tables.events.file", "events2.csv"),
                           {"events2.csv": EVENTS.replace("c1,Call,2023-12-03", "c1,Call,2023-12-23")}),
    "tables.events.columns": (_same, lambda c: _set(c, "tables.events.columns", {"link": "medium"}), {}),
    "tables.responses.sheet": (_in_excel("responses"), lambda c: _set(c, "tables.responses.sheet", "Second"), {}),
    "tables.cases.sheet": (_in_excel("cases"), lambda c: _set(c, "tables.cases.sheet", "Second"), {}),
    "tables.events.sheet": (_in_excel("events"), lambda c: _set(c, "tables.events.sheet", "Second"), {}),
    "tables.events.chain": (_same, lambda c: _set(c, "tables.events.chain", "installation"), {}),
    "linkage.by": (_same, _by_customer, {}),
    "linkage.window_days": (_by_customer, lambda c: _set(c, "linkage.window_days", 15), {}),
    "chains.id": (_same, lambda c: _set(c, "chains.1.id", "fix"), {"cases.csv": CASES.replace(",repair,", ",fix,")}),
    "chains.name": (_same, lambda c: _set(c, "chains.0.name", "Installation"), {}),
    "chains.need": (_same, lambda c: _set(c, "chains.0.need", "coffee at work"), {}),
    "chains.owner": (_same, lambda c: _set(c, "chains.0.owner", "COO"), {}),
    "chains.links": (_same, lambda c: _set(c, "chains.1.links", ["Service", "Finance"]), {}),
    "chains.kpis.id": (_same, lambda c: _set(c, "chains.0.kpis.0.id", "punctual"), {}),
    "chains.kpis.name": (_same, lambda c: _set(c, "chains.0.kpis.0.name", "Punctual"), {}),
    "chains.kpis.expression": (_same, lambda c: _set(c, "chains.0.kpis.0.expression",
                                                     "installed_at::DATE <= opened_at::DATE + 7"), {}),
    "chains.kpis.unit": (_same, lambda c: _set(c, "chains.1.kpis.0.unit", "minutes"), {}),
    "chains.kpis.direction": (_same, lambda c: _set(c, "chains.0.kpis.0.direction", "lower"), {}),
    "chains.kpis.target": (_same, lambda c: _set(c, "chains.0.kpis.0.target", 0.5), {}),
    "chains.kpis.link": (_same, lambda c: _set(c, "chains.0.kpis.0.link", "Service"), {}),
    "chains.journey.steps": (_same, lambda c: _set(c, "chains.0.journey.steps", ["Order", "Install"]), {}),
    "chains.journey.milestones": (_same, lambda c: _set(c, "chains.0.journey.milestones", {}), {}),
    "segments.id": (_same, lambda c: _set(c, "segments.0.id", "seniority"), {}),
    "segments.name": (_same, lambda c: _set(c, "segments.0.name", "Seniority"), {}),
    "segments.table": (_same, lambda c: _set(c, "segments.1", {"id": "area", "name": "Region", "table": "responses",
                                                               "column": "cust"}), {}),
    "segments.expression": (_same, lambda c: _set(c, "segments.0.expression",
                                                  "CASE WHEN years < 2 THEN 'new' ELSE 'existing' END"), {}),
    "segments.column": (_same, lambda c: _set(c, "segments.1.column", "cust"), {}),
    "contacts.avoidable": (_same, lambda c: _set(c, "contacts.avoidable", []), {}),
    "contacts.repeat_within_days": (_same, lambda c: _set(c, "contacts.repeat_within_days", 30), {}),
    "reporting.period": (_same, lambda c: _set(c, "reporting.period", "quarter"), {}),
    "reporting.min_base_flag": (_same, lambda c: _set(c, "reporting.min_base_flag", 1), {}),
    "reporting.min_base_suppress": (_same, lambda c: _set(c, "reporting.min_base_suppress", 3), {}),
    "reporting.as_of": (_same, lambda c: _set(c, "reporting.as_of", "2024-01-20"), {}),
    "contacts.cost_per_contact": (_same, lambda c: _set(c, "contacts.cost_per_contact", 6.5), {}),
    "result_kpi.value_per_point": (_same, lambda c: _set(c, "result_kpi.value_per_point", 15000), {}),
    "reporting.currency": (lambda c: _set(c, "contacts.cost_per_contact", 6.5),
                           lambda c: _set(c, "reporting.currency", "EUR"), {}),
    "reporting.language": (_same, lambda c: _set(c, "reporting.language", "nl"), {}),
    "result_kpi.steer_on": (_rating_base, lambda c: _set(c, "result_kpi.steer_on", "top_box"), {}),
    "result_kpi.top_box_name": (_labels_base, lambda c: _set(c, "result_kpi.top_box_name", "content"), {}),
    "chains.kpis.companion": (_same, lambda c: _set(c, "chains.0.kpis.0.companion",
                                                    {"days_late": "date_diff('day', promised_at, installed_at)"}), {}),
    "chains.kpis.companion_unit": (_with_companion, lambda c: _set(c, "chains.0.kpis.0.companion_unit", "count"),
                                   {}),
    "tables.events.activity": (_same, _activity_from_columns, {}),
    "tables.events.activity_separator": (_activity_from_columns,
                                         lambda c: _set(c, "tables.events.activity_separator", " / "), {}),
    "tables.events.filter.keep": (_same, lambda c: _set(c, "tables.events.filter", {"keep": "channel = 'web'"}), {}),
    "tables.events.filter.leave_out": (_same, lambda c: _set(c, "tables.events.filter", {"leave_out": ["Ca.*"]}),
                                       {}),
    "tables.events.case_columns": (_same, lambda c: _set(c, "tables.events.case_columns",
                                                         {"n_calls": {"count": "Call"}}), {}),
    "contacts.channels": (_same, lambda c: _set(c, "contacts.channels", ["phone"]), {}),
    "contacts.activities": (_same, lambda c: _set(c, "contacts.activities", ["Order"]), {}),
    "contacts.activity_pattern": (_same, lambda c: _set(c, "contacts.activity_pattern", "Or.*"), {}),
    "actions.id": (_with_action, lambda c: _set(c, "actions.0.id", "other"), {}),
    "actions.name": (_with_action, lambda c: _set(c, "actions.0.name", "Another action"), {}),
    "actions.owner": (_with_action, lambda c: _set(c, "actions.0.owner", "COO"), {}),
    "actions.kpis": (_with_action, lambda c: _set(c, "actions.0.kpis", ["lead_time"]), {}),
    "actions.start": (_with_action, lambda c: _set(c, "actions.0.start", "2024-01-01"), {}),
    "actions.end": (_with_action, lambda c: _set(c, "actions.0.end", "2024-01-31"), {}),
    "actions.pilot.segment": (_with_pilot, lambda c: _set(c, "actions.0.pilot.segment", "tenure"), {}),
    "actions.pilot.group": (_with_pilot, lambda c: _set(c, "actions.0.pilot.group", "south"), {}),
}

# key -> (a config that writes it where it would do nothing, a fragment of the message that says
# what to write instead)
REFUSED = {
    "tables.responses.chain": (lambda c: _set(c, "tables.responses.chain", "installation"), "set chain: under"),
    "tables.responses.from": (lambda c: _set(c, "tables.responses", {"from": "events"}),
                              "responses must come from a file"),
    "tables.events.from": (lambda c: _set(c, "tables.events", {"from": "responses"}), "events must come from a file"),
    "chains.kpis.chain": (lambda c: _set(c, "chains.0.kpis.0.chain", "repair"), "listed under"),
}
# the same keys refused where they do nothing, though they take effect elsewhere
REFUSED_ELSEWHERE = {
    "cases columns with from events": (
        lambda c: _set(c, "tables.cases", {"from": "events", "columns": {"opened_at": "x"}}),
        "map the log's columns under tables.events.columns"),
    "window_days with case-id linkage": (lambda c: _set(c, "linkage.window_days", 30), "write by: customer_id"),
    "weekly period": (lambda c: _set(c, "reporting.period", "week"), "'month' or 'quarter'"),
    "a price for contacts none of which is avoidable": (
        lambda c: _set(c, "contacts", {"channels": "any", "cost_per_contact": 5}), "list them under contacts.avoidable"),
    "a language without a catalogue": (lambda c: _set(c, "reporting.language", "de"), "'en' or 'nl'"),
    "result KPI without a survey": (
        lambda c: (_set(c, "tables", {"cases": {"file": "cases.csv"}}), c)[1], "add one, or remove result_kpi"),
}


def _submodels(annotation) -> tuple[type[BaseModel] | None, bool]:
    """The pydantic model inside an annotation (Optional, list of ...), and whether it is a list."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if origin in (list, tuple):
        sub, _ = _submodels(typing.get_args(annotation)[0])
        return sub, True
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            sub, is_list = _submodels(arg)
            if sub is not None:
                return sub, is_list
    return None, False


def schema_keys(model: type[BaseModel] = ClientConfig, prefix: str = "") -> list[str]:
    """Every leaf key of the schema as a dotted path (list items without an index)."""
    out = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        sub, _ = _submodels(field.annotation)
        if sub is None:
            out.append(key)
        else:
            out += schema_keys(sub, key + ".")
    return out


def _fingerprint(c) -> dict[str, str]:
    """What a loaded client is made of and what the report shows of it."""
    fp = {"id": c.id, "title": c.config.title, "label": report.result_kpi_label(c),
          "overall": repr(report.result_kpi_overall(c))}
    for name in ("responses", "cases", "case_kpis", "events", "linked"):
        frame = getattr(c, name)
        fp[name] = "" if frame is None else frame.to_csv()
    fp["chains"] = overview.cases_by_chain(c).to_csv()
    fp["chain_kpis"] = report.chain_kpis(c).to_csv()
    fp["chain_kpi_display"] = report.chain_kpi_display(report.chain_kpis(c)).to_csv()
    fp["segments"] = report.segment_result_kpi(c).to_csv()
    fp["segment_kpis"] = report.segment_chain_kpis(c).to_csv()
    fp["by_period"] = report.result_kpi_by_period(c).to_csv()
    fp["partial period"] = repr(periods.partial_period(c))
    fp["actions"] = repr(actions.review_actions(c))
    fp["value"] = value.value_note(c)
    for chain in c.config.chains:
        try:
            mf = modelframe.model_frame(c, chain.id)
            fp[f"steer {chain.id}"] = f"{mf.steer_on} {mf.top_label}"
        except IpmError as e:
            fp[f"steer {chain.id}"] = str(e)
        fp[f"companions {chain.id}"] = repr([[(s.id, s.unit) for s in m.specs.values()]
                                             for m in modelframe.companion_frames(c, chain.id)])
    for chain in c.config.chains:
        if chain.journey is None:
            continue
        fp[f"conformance {chain.id}"] = journeys.chain_conformance(c, chain.id).to_csv()
        fp[f"features {chain.id}"] = journeys.chain_journey_features(c, chain.id).to_csv()
        fp[f"journey cost {chain.id}"] = journeys.journey_cost_sentence(c, journeys.journey_cost(c, chain.id))
    return fp


def _write(folder: Path, cfg: dict, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    contents = {"responses.csv": RESPONSES, "cases.csv": CASES, "events.csv": EVENTS,
                "events_steps.csv": EVENTS.replace("case_id,activity,", "case_id,step,", 1), **files}
    contents.update({f"{t}.xlsx": data for t, data in _SHEETS.items()})
    for name, text in contents.items():
        if isinstance(text, bytes):
            (folder / name).write_bytes(text)
        else:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_every_key_is_covered():
    keys = set(schema_keys())
    covered = set(EFFECTS) | set(REFUSED)
    assert keys - covered == set(), "keys of client.yaml without a proof that they take effect (add to EFFECTS)"
    assert covered - keys == set(), "EFFECTS/REFUSED name keys the schema no longer has"


def test_the_walk_finds_nested_keys():
    keys = schema_keys()
    # an independent spot check of the walk: keys written by hand from docs/data-contract.md
    for k in ("tables.cases.from", "chains.kpis.target", "chains.journey.milestones", "reporting.min_base_flag",
              "segments.column", "linkage.window_days"):
        assert k in keys


_BEFORE: dict[str, dict[str, str]] = {}


@pytest.mark.parametrize("key", sorted(EFFECTS))
def test_key_changes_the_loaded_client(key, tmp_path):
    before_fn, after_fn, files = EFFECTS[key]
    before = before_fn(copy.deepcopy(BASE))
    after = after_fn(copy.deepcopy(before))
    assert before != after
    key_before = yaml.safe_dump(before, sort_keys=True)
    if key_before not in _BEFORE:  # most keys start from BASE: load it once
        _BEFORE[key_before] = _fingerprint(ipm.load_client(_write(tmp_path / "before", before, {})))
    a = _BEFORE[key_before]
    b = _fingerprint(ipm.load_client(_write(tmp_path / "after", after, files)))
    changed = [k for k in a if a[k] != b.get(k)]
    assert changed, f"changing {key} left the loaded client as it was"


@pytest.mark.parametrize("key", sorted(REFUSED) + sorted(REFUSED_ELSEWHERE))
def test_key_that_would_do_nothing_is_refused(key, tmp_path):
    fn, fragment = {**REFUSED, **REFUSED_ELSEWHERE}[key]
    cfg = fn(copy.deepcopy(BASE))
    problems = ipm.validate_client(_write(tmp_path / "c", cfg, {}))
    errors = [str(p) for p in problems if p.severity == "error"]
    assert any(fragment in e for e in errors), errors
