"""The event contract of client.yaml on small hand-made logs: activity from several columns, the
event filter, event-derived case columns (in KPIs and as milestones), declared contacts and
unknown links; every mistake gives one readable message naming the key, file or column."""

from __future__ import annotations

import pandas as pd
import pytest

import ipm_analysis as ipm
from ipm_analysis import journeys
from ipm_analysis.config import parse_config
from ipm_analysis.errors import ConfigError, ValidationError

from .conftest import write_client

EVENTS = """case_id,name,status,timestamp,channel,link
c1,Order,done,2023-12-01 10:00:00,web,Planning
c1,Order,open,2023-12-01 09:00:00,web,Planning
c1,Plan,done,2023-12-02 10:00:00,phone,Planning
c1,Status call,done,2023-12-03 10:00:00,phone,Service
c1,Install,done,2023-12-05 22:00:00,,Warehouse
c2,Order,done,2023-12-02 10:00:00,phone,Planning
c2,Status call,done,2023-12-02 12:00:00,phone,Service
c2,Status call,done,2023-12-04 12:00:00,phone,Service
c3,Plan,done,2024-01-02 10:00:00,web,Planning
"""


def _config(base_config, **events):
    cfg = base_config
    cfg["tables"]["events"] = {"file": "events.csv", "activity": ["name", "status"], "activity_separator": " ",
                               **events}
    cfg["chains"][0]["journey"] = {"steps": ["Order done", "Plan done", "Install done"]}
    return cfg


def test_activity_filter_case_columns_and_kpis(tmp_path, base_config):
    cfg = _config(base_config, filter={"keep": "status = 'done'", "leave_out": ["Status.*"]},
                  case_columns={"planned": {"reached": "Plan done"},
                                "installed": {"first": "Install done"},
                                "hours_to_plan": {"between": ["Order done", "Plan done"]},
                                "n_orders": {"count": ["Order done", "Order open"]}})
    cfg["chains"][0]["kpis"][0]["expression"] = "planned"
    cfg["chains"][0]["kpis"][1]["expression"] = "hours_to_plan"
    cfg["chains"][0]["journey"]["milestones"] = {"Install done": "installed"}
    client = ipm.load_client(write_client(tmp_path / "c", cfg, events_csv=EVENTS))
    assert client.event_filter["left_out"] == 4  # one open order, three status calls
    assert client.event_filter["left_out_by_keep"] == 1 and client.event_filter["left_out_by_pattern"] == 3
    assert client.event_filter["activities_left_out"] == ["Status call done"]
    cases = client.cases.set_index("case_id")
    assert cases["planned"].to_dict() == {"c1": True, "c2": False, "c3": True}
    assert cases.loc["c1", "hours_to_plan"] == 24.0 and pd.isna(cases.loc["c2", "hours_to_plan"])
    assert pd.isna(cases.loc["c3", "hours_to_plan"])  # plan without an order first
    assert cases["n_orders"].to_dict() == {"c1": 1, "c2": 1, "c3": 0}  # the open order was filtered out
    assert cases.loc["c1", "installed"] == pd.Timestamp("2023-12-05 22:00:00")
    kpis = client.case_kpis.set_index("case_id")
    assert kpis["on_time"].to_dict() == {"c1": 1.0, "c2": 0.0, "c3": 1.0}
    assert kpis.loc["c1", "lead_time"] == 24.0
    # the milestone from an event-derived column is an event of the journey like any other
    ev = client.events
    assert set(ev["activity"]) == {"Order done", "Plan done", "Install done"}
    assert (ev["activity"] == "Install done").sum() == 2  # the file's event and the milestone's


def test_unknown_links_warn_and_declared_contacts_count(tmp_path, base_config):
    cfg = _config(base_config)
    cfg["contacts"] = {"channels": ["PHONE"], "activities": ["Install done"]}
    client = ipm.load_client(write_client(tmp_path / "c", cfg, events_csv=EVENTS))
    warned = [p for p in client.warnings if p.column == "link"]
    assert len(warned) == 1 and "'Warehouse'" in warned[0].message and warned[0].rows == (5,)
    feats = journeys.chain_journey_features(client, "installation").set_index("case_id")
    # c1: plan (phone), status call (phone), install (declared activity); c2: three phone events
    assert feats["n_contacts"].to_dict() == {"c1": 3, "c2": 3, "c3": 0}


@pytest.mark.parametrize("events, match", [
    ({"activity": ["name", "nope"]}, "column 'nope'"),
    ({"filter": {"keep": "nope = 1"}}, "nope"),
    ({"filter": {"keep": "status = 'never'"}}, "leaves none of the 9 events"),
    ({"case_columns": {"opened_at": {"reached": "Plan done"}}}, "also columns of the cases"),
])
def test_event_contract_mistakes_are_one_readable_message(tmp_path, base_config, events, match):
    cfg = _config(base_config, **events)
    with pytest.raises(ValidationError, match=match):
        ipm.load_client(write_client(tmp_path / "c", cfg, events_csv=EVENTS))


@pytest.mark.parametrize("events, match", [
    ({"filter": {"leave_out": ["(unclosed"]}}, "not a valid regular expression"),
    ({"case_columns": {"x": {"reached": "a", "count": "a"}}}, "exactly one of"),
    ({"case_columns": {"x": {"between": ["a"]}}}, "two different activities"),
    ({"columns": {"activity": "name"}}, "not both"),
    ({"case_columns": {"x y": {"reached": "a"}}}, "letters, digits"),
])
def test_event_contract_schema_errors(base_config, events, match):
    cfg = _config(base_config, **events)
    with pytest.raises(ConfigError, match=match):
        parse_config(cfg)


def test_contacts_schema(base_config):
    base_config["contacts"] = {"activity_pattern": "[bad"}
    with pytest.raises(ConfigError, match="activity_pattern"):
        parse_config(base_config)
    base_config["contacts"] = {}
    assert not parse_config(base_config).contacts.declared
    base_config["contacts"] = {"channels": "any"}
    assert parse_config(base_config).contacts.declared
