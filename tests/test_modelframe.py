"""Tests for ipm_analysis.modelframe: the response-level frame and its missing-value policy."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from ipm_analysis.config import RatingScale
from ipm_analysis.data import load_client
from ipm_analysis.errors import AnalysisError, IpmError
from ipm_analysis.modelframe import ModelFrame, frame_from_data, model_frame
from tests.conftest import BASE_CONFIG, write_client

N_CASES = 60


def _two_chain_config() -> dict:
    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["chains"].append({
        "id": "repair",
        "name": "Repair",
        "owner": "Head of Repairs",
        "links": ["Service"],
        "kpis": [
            {"id": "fixed_first", "name": "Fixed first time", "expression": "fixed_flag",
             "unit": "share", "direction": "higher", "target": 0.8, "link": "Service"},
            {"id": "always_one", "name": "Always one", "expression": "1",
             "unit": "count", "direction": "lower", "link": "Service"},
        ],
    })
    return cfg


def _files(seed: int = 0) -> dict[str, str]:
    """60 cases (40 installation, 20 repair), one response each, a few values missing."""
    rng = np.random.default_rng(seed)
    cases = ["case_id,chain,opened_at,closed_at,promised_at,installed_at,region,fixed_flag"]
    resp = ["response_id,responded_at,nps,case_id,years"]
    for i in range(N_CASES):
        cid = f"c{i:03d}"
        region = "north" if i % 3 else "south"
        if i < 40:
            lead = int(rng.integers(3, 15))
            late = int(rng.integers(-2, 3))
            installed = "" if i in (5, 6) else f"2024-01-{1 + lead + late:02d}"
            promised = f"2024-01-{1 + lead:02d}"
            cases.append(f"{cid},installation,2024-01-01,2024-02-01,{promised},{installed},{region},")
        else:
            fixed = "" if i == 45 else str(int(rng.random() < 0.7)).lower()
            cases.append(f"{cid},repair,2024-01-01,2024-02-01,,,{region},{fixed}")
        resp.append(f"r{i:03d},2024-02-05,{int(rng.integers(0, 11))},{cid},{rng.uniform(0, 3):.1f}")
    return {"responses_csv": "\n".join(resp) + "\n", "cases_csv": "\n".join(cases) + "\n"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = write_client(tmp_path_factory.mktemp("mf") / "client", _two_chain_config(), **_files())
    return load_client(folder)


# --------------------------------------------------------------------------------------
# from a client
# --------------------------------------------------------------------------------------


def test_frame_holds_the_chain_responses_with_their_kpis(client):
    mf = model_frame(client, "installation")
    assert isinstance(mf, ModelFrame)
    assert mf.chain == "installation" and mf.owner == "Head of Service" and mf.chain_name == "Install"
    assert mf.drivers == ("on_time", "lead_time")
    assert mf.n_chain == 40 and mf.n_responses == N_CASES
    # cases 5 and 6 have no installation date: both KPIs are missing -> left out listwise
    assert mf.n == 38
    assert mf.n_dropped == {"missing on_time": 2}
    assert mf.n_missing == {"on_time": 2, "lead_time": 2}
    assert set(mf.frame["on_time"].unique()) <= {0.0, 1.0}
    assert mf.specs["on_time"].unit == "share" and mf.specs["on_time"].link == "Planning"
    assert mf.specs["lead_time"].target == 10
    assert {"tenure", "region"} <= set(mf.frame.columns) and mf.segments == ("tenure", "region")
    assert not mf.frame[["score", "on_time", "lead_time"]].isna().any().any()
    # the KPI values are the client's per-case values
    merged = mf.frame.merge(client.case_kpis, on="case_id", suffixes=("", "_case"))
    assert np.allclose(merged["lead_time"], merged["lead_time_case"])
    assert "listwise deletion" in mf.policy and "38 are used" in mf.policy and "on_time 2" in mf.policy
    assert mf.min_base_flag == 30 and mf.min_base_suppress == 10


def test_indicator_policy_fills_with_the_mean_and_flags(client):
    mf = model_frame(client, "installation", missing="indicator")
    assert mf.n == 40 and mf.n_dropped == {}
    assert "on_time_missing" in mf.controls and "lead_time_missing" in mf.controls
    obs = client.linked.loc[client.linked["chain"] == "installation", "lead_time"].dropna()
    filled = mf.frame.loc[mf.frame["lead_time_missing"] == 1, "lead_time"]
    assert len(filled) == 2 and np.allclose(filled, obs.mean())
    assert "filled with the mean" in mf.policy and "lead_time_missing" in mf.policy


def test_constant_driver_is_dropped_with_its_reason(client):
    mf = model_frame(client, "repair")
    assert mf.drivers == ("fixed_first",)
    assert "always_one" in mf.dropped_drivers
    assert "does not vary" in mf.dropped_drivers["always_one"]
    assert "always_one is left out" in mf.policy
    assert mf.n == 19 and mf.n_dropped == {"missing fixed_first": 1}


def test_features_join_by_case_and_become_drivers(client):
    ids = client.case_kpis.loc[client.case_kpis["chain"] == "installation", "case_id"]
    feats = pd.DataFrame({"case_id": ids, "n_contacts": np.arange(len(ids)) % 4,
                          "skipped_confirm": (np.arange(len(ids)) % 2).astype(bool)})
    mf = model_frame(client, "installation", features=feats.iloc[:-1])  # one case has no feature row
    assert mf.drivers == ("on_time", "lead_time", "n_contacts", "skipped_confirm")
    assert mf.kpi_drivers == ("on_time", "lead_time")
    assert mf.specs["n_contacts"].source == "feature" and mf.specs["n_contacts"].unit == "number"
    assert mf.specs["skipped_confirm"].unit == "share"
    assert mf.n_missing.get("n_contacts") == 1
    # keyed by the index works too
    mf2 = model_frame(client, "installation", features=feats.set_index("case_id"))
    assert mf2.n == 38


def test_feature_errors_name_the_problem(client):
    ids = client.case_kpis["case_id"]
    with pytest.raises(AnalysisError, match="case_id"):
        model_frame(client, "installation", features=pd.DataFrame({"x": [1, 2]}))
    dup = pd.DataFrame({"case_id": list(ids[:2]) * 2, "x": [1, 2, 3, 4]})
    with pytest.raises(AnalysisError, match="repeats"):
        model_frame(client, "installation", features=dup)
    bad = pd.DataFrame({"case_id": ids, "channel": "phone"})
    with pytest.raises(AnalysisError, match="'channel'"):
        model_frame(client, "installation", features=bad)
    clash = pd.DataFrame({"case_id": ids, "on_time": 1.0})
    with pytest.raises(AnalysisError, match="clash"):
        model_frame(client, "installation", features=clash)


def test_categorical_controls_become_dummies(client):
    mf = model_frame(client, "installation", controls=["tenure"])
    assert mf.controls == ("tenure[new]",)
    assert set(mf.frame["tenure[new]"].unique()) <= {0.0, 1.0}
    num = model_frame(client, "installation", controls=["years"])
    assert num.controls == ("years",)


def test_boundary_errors_name_the_column_or_chain(client):
    with pytest.raises(AnalysisError, match="several chains"):
        model_frame(client)
    with pytest.raises(AnalysisError, match="'nope'"):
        model_frame(client, "nope")
    with pytest.raises(AnalysisError, match="no_such_column"):
        model_frame(client, "installation", controls=["no_such_column"])
    with pytest.raises(AnalysisError, match="missing must be one of"):
        model_frame(client, "installation", missing="impute")
    with pytest.raises(IpmError):
        model_frame("not a client")


def test_single_chain_client_needs_no_chain_argument(tiny_client):
    mf = model_frame(load_client(tiny_client))
    assert mf.chain == "installation" and mf.n == 2


# --------------------------------------------------------------------------------------
# from plain data
# --------------------------------------------------------------------------------------


def test_frame_from_data_defaults_and_checks():
    df = pd.DataFrame({"score": [1, 5, 3, 4, 2, 5], "flag": [0, 1, 1, 0, 1, 1], "days": [1.0, 2, np.nan, 4, 5, 6],
                       "seg": list("aabbab")})
    mf = frame_from_data(df, ["flag", "days"], scale=RatingScale(min=1, max=5, top_box=[5], bottom_box=[1, 2]),
                         units={"days": "days"}, segments=["seg"])
    assert mf.specs["flag"].unit == "share" and mf.specs["days"].unit == "days"
    assert mf.n == 5 and not mf.is_nps and mf.result_name == "score"
    with pytest.raises(AnalysisError, match="'score'"):
        frame_from_data(df.assign(score=[1, 5, 3, 4, 2, 6]), ["flag"], scale={"min": 1, "max": 5, "top_box": [5],
                                                                           "bottom_box": [1]})
    with pytest.raises(AnalysisError, match=r"\['nope'\]"):
        frame_from_data(df, ["nope"])
    with pytest.raises(AnalysisError, match="'seg'"):
        frame_from_data(df, ["seg"])
    with pytest.raises(AnalysisError, match="units must be one of"):
        frame_from_data(df, ["flag"], units={"flag": "percent"})
    with pytest.raises(AnalysisError, match="share"):
        frame_from_data(df.assign(flag=[0, 2, 1, 0, 1, 1]), ["flag"], units={"flag": "share"})


def test_subset_and_with_drivers_keep_bookkeeping():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"score": rng.integers(0, 11, 50), "a": rng.normal(size=50), "b": rng.normal(size=50),
                       "seg": rng.choice(["x", "y"], 50)})
    mf = frame_from_data(df, ["a", "b"], segments=["seg"])
    sub = mf.subset(mf.frame["seg"] == "x")
    assert sub.n == int((df["seg"] == "x").sum()) and sub.policy == mf.policy
    only_a = mf.with_drivers(["a"])
    assert only_a.drivers == ("a",) and set(only_a.specs) == {"a"}
    with pytest.raises(AnalysisError, match="not in the model frame"):
        mf.with_drivers(["c"])
