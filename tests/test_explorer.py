"""The what-if explorer: its functions on the fixture client, and its widgets without a front end."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import ipm_analysis as ipm
from ipm_analysis import explorer as ex
from ipm_analysis.agenda import improvement_agenda, what_if, what_if_scenario
from ipm_analysis.errors import AnalysisError
from ipm_analysis.modelframe import model_frame

from .conftest import BASE_CONFIG, FIXTURE_CLIENT, write_client


@pytest.fixture(scope="module")
def client():
    return ipm.load_client(FIXTURE_CLIENT)


@pytest.fixture(scope="module")
def agenda(client):
    return improvement_agenda(client, n_boot=50, seed=0)


@pytest.fixture
def box(client, agenda):
    return ex.build_explorer(client, agenda, plot=False)


# -- whatif_curve ---------------------------------------------------------------------------------


def test_whatif_curve_is_monotone_for_a_positive_driver(agenda):
    # on the fixture, "installed on the promised day" is a reliable positive driver of NPS
    values = np.linspace(0.5, 1.0, 6)
    c = ex.whatif_curve(agenda, "installation", "on_time", values)
    assert list(c.columns[:4]) == ["value", "predicted", "ci_low", "ci_high"]
    assert np.allclose(c["value"], values)
    assert (np.diff(c["predicted"]) > 0).all()
    assert c["predicted"].iloc[-1] - c["predicted"].iloc[0] > 10  # NPS points: a clear effect
    assert (c["ci_low"] <= c["predicted"] + 1e-9).all() and (c["predicted"] <= c["ci_high"] + 1e-9).all()
    assert np.allclose(c["predicted"] - c["change"], c.attrs["kpi_now"])
    assert c.attrs["is_nps"] and c.attrs["result_name"] == "NPS" and c.attrs["mode"] == "flip"


def test_whatif_curve_falls_for_a_lower_is_better_driver(agenda):
    r = ex.kpi_range(agenda, "repair", "response_time_hours")
    c = ex.whatif_curve(agenda, "repair", "response_time_hours", np.linspace(r["min"], r["max"], 5))
    assert (np.diff(c["predicted"]) < 0).all()
    assert c.attrs["mode"] == "shift"


def test_whatif_curve_is_zero_change_at_the_current_value_and_matches_what_if(agenda):
    r = ex.kpi_range(agenda, "installation", "on_time")
    c = ex.whatif_curve(agenda, "installation", "on_time", [r["current"], 0.9])
    assert c["change"].iloc[0] == pytest.approx(0, abs=1e-9)
    assert c["ci_low"].iloc[0] == pytest.approx(c["ci_high"].iloc[0], abs=1e-6)
    dm = agenda.models["installation"]
    w = what_if(dm.frame, "on_time", to=0.9, model=dm)
    assert c["predicted"].iloc[1] == pytest.approx(w.kpi_expected)
    assert c["ci_low"].iloc[1] == pytest.approx(w.kpi_expected_ci_low)
    assert c["ci_high"].iloc[1] == pytest.approx(w.kpi_expected_ci_high)


def test_whatif_curve_accepts_a_client_a_model_frame_or_driver_models(client, agenda):
    values = [0.6, 0.9]
    ref = ex.whatif_curve(agenda, "installation", "on_time", values)
    for source in (client, model_frame(client, "installation"), agenda.models["installation"]):
        c = ex.whatif_curve(source, "installation", "on_time", values)
        assert np.allclose(c["predicted"], ref["predicted"], atol=1e-6)
        assert np.allclose(c["ci_high"], ref["ci_high"], atol=1e-4)


@pytest.mark.parametrize("chain, kpi, values, match", [
    ("installation", "nope", [0.5], "not a driver"),
    ("installation", "on_time", [], "empty"),
    ("installation", "on_time", [float("nan")], "finite numbers"),
    ("installation", "on_time", [1.5], "between 0 and 1"),
    ("nope", "on_time", [0.5], "no driver model"),
])
def test_whatif_curve_says_what_is_wrong(agenda, chain, kpi, values, match):
    with pytest.raises(AnalysisError, match=match):
        ex.whatif_curve(agenda, chain, kpi, values)


def test_a_model_frame_of_another_chain_is_refused(client):
    with pytest.raises(AnalysisError, match="not 'repair'"):
        ex.whatif_curve(model_frame(client, "installation"), "repair", "on_time", [0.5])


# -- ranges and the plain table -------------------------------------------------------------------


def test_kpi_range_of_a_share_and_of_a_time(agenda):
    r = ex.kpi_range(agenda, "installation", "on_time")
    assert (r["min"], r["max"], r["step"]) == (0.0, 1.0, 0.001)
    assert r["target"] == 0.9 and 0 < r["current"] < 1
    t = ex.kpi_range(agenda, "repair", "response_time_hours")
    assert 0 <= t["min"] <= min(t["current"], t["target"]) <= max(t["current"], t["target"]) <= t["max"]
    assert t["step"] > 0 and 100 <= (t["max"] - t["min"]) / t["step"] <= 500  # a smooth slider
    assert t["unit"] == "hours" and t["name"] == "Report to first visit"


def test_default_values_and_format_curve(agenda):
    vals = ex.default_values(agenda, "installation", "on_time")
    assert vals == sorted(vals) and 0.0 in vals and 1.0 in vals and 0.9 in vals and len(vals) == 7
    text = ex.format_curve(ex.whatif_curve(agenda, "installation", "on_time", vals))
    assert "Install a coffee machine: Installed on the promised day" in text
    assert "now" in text and "target" in text and "90%" in text and "expected NPS" in text
    assert "-0.0" not in text


def test_chain_driver_table_has_importance_and_effect(agenda):
    t = ex.chain_driver_table(agenda, "installation")
    assert list(t["kpi"]) == ["on_time", "right_first_time", "lead_time_days"]
    assert t["share"].sum() == pytest.approx(1.0)
    assert (t["share_ci_low"] <= t["share"]).all() and (t["share"] <= t["share_ci_high"]).all()
    on_time = t.set_index("kpi").loc["on_time"]
    assert on_time["effect"] > 0 and on_time["effect_ci_low"] > 0 and on_time["change_label"] == "+10 pp"
    assert on_time["status"] == "action" and on_time["quadrant"] == "fix first"


# -- the widgets ----------------------------------------------------------------------------------


def test_explorer_starts_on_the_top_action_with_every_kpi_at_its_current_value(box, agenda):
    top = agenda.actions.iloc[0]
    assert (box.chain.value, box.kpi.value) == (top["chain"], top["kpi"])
    mf = agenda.models[box.chain.value].frame
    assert list(box.sliders) == list(mf.kpi_drivers)  # one slider per chain KPI
    for kpi, s in box.sliders.items():
        r = ex.kpi_range(agenda, box.chain.value, kpi)
        assert (s.min, s.max, s.step) == (r["min"], r["max"], r["step"])
        assert s.value == pytest.approx(r["current"], abs=r["step"] / 2)  # on the slider's grid
    assert box.slider is box.sliders[box.kpi.value]
    assert box.result.gain == 0 and box.result.kpi_expected == box.result.kpi_now
    assert box.slider.readout_format == ".1%"
    assert "Every chain KPI at today's value: expected NPS" in box.prediction.value
    assert "share of explained variance" in box.details.value
    assert "What-if explorer" in repr(box)


def test_moving_the_slider_changes_the_prediction(box):
    assert (box.chain.value, box.kpi.value) == ("installation", "on_time")
    before_html, before = box.prediction.value, box.result.kpi_expected
    box.slider.value = 0.95  # what a slider move in JupyterLab does: the observer runs
    moved = box.result.moves.set_index("driver")
    assert moved.loc["on_time", "to"] == pytest.approx(0.95)
    assert box.result.kpi_expected > before + 5
    assert box.prediction.value != before_html
    assert "<b>95%</b>" in box.prediction.value
    assert f"{box.result.kpi_expected:+.1f}" in box.prediction.value
    box.slider.value = 0.5
    assert box.result.kpi_expected < before
    assert f"{box.result.kpi_expected:+.1f}" in box.prediction.value
    box.reset.click()
    assert box.result.gain == 0 and box.slider.value == box._start["on_time"]


def test_two_sliders_move_together_as_one_scenario(box, agenda):
    dm = agenda.models["installation"]
    box.sliders["on_time"].value = 0.9
    one = box.result.gain
    box.sliders["right_first_time"].value = 0.95
    both = box.result
    mf = dm.frame
    ref = what_if_scenario(mf, {"on_time": 0.9, "right_first_time": 0.95,
                                "lead_time_days": float(mf.frame["lead_time_days"].mean())}, model=dm)
    assert (both.gain, both.gain_ci_low, both.gain_ci_high) == pytest.approx(
        (ref.gain, ref.gain_ci_low, ref.gain_ci_high), rel=1e-12)
    assert both.gain > one > 0
    assert "Installed on the promised day at <b>90%</b> and Installed at the first visit at <b>95%</b>" \
        in box.prediction.value
    assert box.update(0.8, kpi="on_time") is box.result and box.sliders["on_time"].value == 0.8
    with pytest.raises(AnalysisError, match="no what-if slider"):
        box.update(1.0, kpi="nope")


def test_picking_another_kpi_keeps_the_sliders_and_another_chain_renews_them(box, agenda):
    box.sliders["on_time"].value = 0.9
    gain = box.result.gain
    box.kpi.value = "lead_time_days"
    assert box.slider is box.sliders["lead_time_days"] and box.sliders["on_time"].value == 0.9
    assert box.result.gain == gain  # the selected KPI picks the details and the curve, not the scenario
    assert "<tr style" in box.details.value and "Order to installation" in box.details.value
    box.chain.value = "repair"
    assert [v for _, v in box.kpi.options] == ["fixed_first_visit", "response_time_hours"]
    assert list(box.sliders) == ["fixed_first_visit", "response_time_hours"]
    assert box.result.chain == "repair" and box.result.gain == 0
    box.sliders["response_time_hours"].value = box.sliders["response_time_hours"].min
    assert box.result.gain > 0  # a faster first visit goes with a better NPS on the fixture


def test_explorer_draws_the_curve_as_an_image_whatever_the_backend(client, agenda):
    b = ex.build_explorer(client, agenda, plot=True, curve_points=5)
    assert len(b.curve) == 5 and b.curve.attrs["kpi"] == b.kpi.value
    png = b.curve_image.value
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    b.kpi.value = "lead_time_days"
    assert b.curve.attrs["kpi"] == "lead_time_days" and b.curve_image.value != png


def test_explorer_needs_a_survey(tmp_path):
    cfg = copy.deepcopy(BASE_CONFIG)
    del cfg["tables"]["responses"]
    cfg.pop("result_kpi")
    cfg["segments"] = [s for s in cfg["segments"] if s["table"] != "responses"]
    c = ipm.load_client(write_client(tmp_path / "c", cfg, responses_csv=None))
    with pytest.raises(AnalysisError, match="no survey"):
        ex.build_explorer(c)


# -- client and segment pickers -------------------------------------------------------------------


def _half_client(folder, flag: int = 300):
    """A second client: the fixture with the first 1,000 responses only and a higher flag base."""
    import shutil

    import yaml

    shutil.copytree(FIXTURE_CLIENT, folder)
    cfg = yaml.safe_load((folder / "client.yaml").read_text(encoding="utf-8"))
    cfg.update(id="half", title="Half the fixture")
    cfg["reporting"]["min_base_flag"] = flag
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    lines = (folder / "responses.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "responses.csv").write_text("".join(lines[:1001]), encoding="utf-8")
    return folder


def _linked_in_chain(client, chain, mask=None):
    lk = client.linked
    ok = lk["linked"] & lk["score"].notna() & (lk["chain"] == chain)
    return int((ok & mask).sum()) if mask is not None else int(ok.sum())


def test_picking_a_segment_recomputes_the_agenda_on_its_respondents(client, agenda):
    import statsmodels.api as sm

    b = ex.build_explorer(client, agenda, plot=False, n_boot=20)
    labels = dict((v, label) for label, v in b.segment.options)
    assert labels[None].startswith("All respondents (2,000)")
    assert ("tenure", "new") in labels and "453 responses" in labels[("tenure", "new")]
    b.segment.value = ("tenure", "new")
    assert b.agenda is not agenda and b.view is not client
    new = client.linked["tenure"] == "new"
    dm = b.agenda.models["installation"]
    assert dm.frame.n == _linked_in_chain(client, "installation", new)
    assert "in segment Customer tenure: new" in b.header.value and "453 responses" in b.header.value
    # second route: OLS on the segment's rows of the whole client's model frame
    full = model_frame(client, "installation")
    rows = full.frame.loc[full.frame["tenure"] == "new"]
    X = sm.add_constant(rows[list(full.drivers)].astype(float))
    ref = sm.OLS(rows["score"].astype(float), X).fit()
    assert np.allclose(dm.ols.params[list(full.drivers)], ref.params[list(full.drivers)], atol=1e-9)
    # the prediction follows the segment's model
    b.chain.value = "installation"
    b.sliders["on_time"].value = 0.95
    assert b.result.n == dm.frame.n
    b.segment.value = None
    assert b.agenda is agenda  # kept, not computed again


def test_picking_another_client_and_one_without_a_survey(tmp_path, client, agenda):
    half = _half_client(tmp_path / "half")
    cfg = copy.deepcopy(BASE_CONFIG)
    del cfg["tables"]["responses"]
    cfg.pop("result_kpi")
    cfg["segments"] = [s for s in cfg["segments"] if s["table"] != "responses"]
    nosurvey = write_client(tmp_path / "nosurvey", cfg, responses_csv=None)
    b = ex.build_explorer(client, agenda, clients=[half, nosurvey, FIXTURE_CLIENT], plot=False, n_boot=20)
    assert [label for label, _ in b.client_picker.options] == [
        f"{client.config.title} (fixture)", "Half the fixture (half)",
        "Tiny test client (007)"]  # the fixture itself is not offered twice
    b.client_picker.value = 1
    assert b.client.config.id == "half" and b.segment.value is None
    assert b.agenda.models["installation"].frame.n == _linked_in_chain(b.client, "installation")
    assert b.agenda.models["installation"].frame.n < agenda.models["installation"].frame.n
    assert "1,000 responses" in b.header.value
    new = [label for label, v in b.segment.options if v == ("tenure", "new")][0]
    assert "small base" in new  # under the half client's flag base of 300
    b.client_picker.value = 2
    assert "no survey" in b.status.value and b.agenda is None
    assert b.chain.options == () and b.sliders == {} and b.reset.disabled
    b.client_picker.value = 0
    assert b.agenda is agenda and not b.reset.disabled and b.status.value == ""
    assert list(b.sliders) == list(agenda.models[b.chain.value].frame.kpi_drivers)


def test_a_segment_too_small_for_a_model_says_so(tmp_path):
    import yaml

    folder = _half_client(tmp_path / "half")
    cfg = yaml.safe_load((folder / "client.yaml").read_text(encoding="utf-8"))
    cfg["segments"].append({"id": "veteran", "name": "Veteran", "table": "responses",
                            "expression": "CASE WHEN customer_years >= 15.5 THEN 'yes' ELSE 'no' END"})
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    half = ipm.load_client(folder)
    n_vet = int(half.segment_groups("veteran")["yes"])
    assert 10 <= n_vet < 30  # offered (at least the suppress base), flagged, too few for any chain model
    label = [lab for lab, v in ex.segment_options(half) if v == ("veteran", "yes")][0]
    assert f"({n_vet} responses, small base)" in label
    b = ex.build_explorer(half, plot=False, n_boot=20)
    b.segment.value = ("veteran", "yes")
    assert b.agenda is None and "No driver analysis in segment Veteran: yes" in b.status.value
    assert b.chain.options == () and b.sliders == {} and b.prediction.value == ""
    assert f"{n_vet} responses" in b.header.value and "small base" in b.header.value
    b.segment.value = None
    assert b.agenda is not None and b.chain.value in b.agenda.models


def test_find_clients(tmp_path):
    a = write_client(tmp_path / "clients" / "a")
    b = write_client(tmp_path / "clients" / "b")
    (tmp_path / "clients" / "not_a_client").mkdir()
    found = ex.find_clients(tmp_path / "clients" / "b", str(tmp_path / "clients" / "*"), tmp_path / "missing")
    assert found == [b, a]


def test_segment_options_of_a_tiny_client_offer_everyone_only(tiny_client):
    c = ipm.load_client(tiny_client)
    assert ex.segment_options(c) == [("All respondents (3)", None)]


def test_slider_labels_carry_the_unit_of_times(box):
    labels = {k: s.description for k, s in box.sliders.items()}
    assert labels["lead_time_days"] == "Order to installation (days)"
    assert labels["on_time"] == "Installed on the promised day"  # a share reads out in %
