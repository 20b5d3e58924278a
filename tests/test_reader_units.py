"""The result KPI in the reader's unit: a two-label KPI as a share with effects in percentage
points, a rating or 3+ label scale as mean and top-box share (``steer_on`` choosing what the
agenda steers on), and one rounding rule on every text the driver report prints."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
import yaml

from ipm_analysis import load_client, present, report
from ipm_analysis.agenda import improvement_agenda, what_if
from ipm_analysis.demo import generate_client
from ipm_analysis.modelframe import frame_from_data
from ipm_analysis.effects import driver_effects, find_threshold, response_curve_table


# ---------------------------------------------------------------------------------------------
# the rounding rule
# ---------------------------------------------------------------------------------------------


def test_precision_follows_the_size_of_the_number():
    assert present.num(0.04) == "0.04" and present.num(0.0004, signed=True) == "+0.0004"
    assert present.num(-0.03, signed=True) == "-0.03" and present.num(0.0) == "0"
    assert present.num(12.345) == "12.3" and present.num(3.6, 2) == "3.60"
    assert present.interval(2.0, -0.004, 4.1, signed=True) == ("+2.0", "-0.004", "+4.1")
    assert present.interval(-0.012, -0.0301, 0.004, signed=True) == ("-0.01", "-0.03", "+0.004")
    assert present.pair(3.61, 3.64) == ("3.61", "3.64") and present.pair(3.6, 3.6) == ("3.6", "3.6")
    assert present.pct(0.439) == "43.9 %" and present.pct(0.0004) == "0.04 %"
    for x in np.r_[np.geomspace(1e-5, 50, 60), -np.geomspace(1e-5, 50, 60)]:
        pairs = [(x, present.num(x)), (x, present.num(x, signed=True)),
                 *zip((x, x / 2, 2 * x), present.interval(x, x / 2, 2 * x, signed=True), strict=True)]
        for value, text in pairs:
            assert not present.zero_artifacts(text), (value, text)
            assert 0.5 <= float(text.replace(",", "")) / value <= 2, (value, text)  # sign and size kept
    assert present.zero_artifacts("gain +0.0 points, -0.0, 3.6 against 3.6") == ["+0.0", "-0.0", "3.6 against 3.6"]


# ---------------------------------------------------------------------------------------------
# effects in percentage points, against a computation by hand
# ---------------------------------------------------------------------------------------------


def _binary_sim(levels: tuple[int, int] | None, seed: int = 1, n: int = 4000) -> pd.DataFrame:
    """One 0/1 driver; P(top) = 0.35 without it, 0.55 with it (a 20-point difference)."""
    rng = np.random.default_rng(seed)
    x = (rng.random(n) < 0.6).astype(float)
    top = rng.random(n) < 0.35 + 0.20 * x
    if levels is None:  # a 1-5 rating: top box 4-5, the rest spread over 1-3
        score = np.where(top, rng.integers(4, 6, n), rng.integers(1, 4, n))
    else:
        score = np.where(top, levels[1], levels[0])
    return pd.DataFrame({"score": score.astype(float), "on_time": x})


def test_two_label_kpi_effects_are_percentage_points_of_the_share():
    d = _binary_sim((1, 2))
    mf = frame_from_data(d, ["on_time"], {"min": 1, "max": 2, "top_box": [2], "bottom_box": [1]},
                         units={"on_time": "share"}, directions={"on_time": "higher"}, targets={"on_time": 0.9},
                         names={"on_time": "On time"}, result_name="Satisfaction", top_label="satisfied")
    assert mf.measure == "share"
    dm = driver_effects(mf)
    e = dm.effects.iloc[0]
    # one 0/1 regressor: the logit's average effect is the difference of the shares, by hand
    by_hand = 100 * (d.loc[d.on_time == 1, "score"].eq(2).mean() - d.loc[d.on_time == 0, "score"].eq(2).mean()) * 0.1
    assert dm.kpi_unit == "percentage points"
    assert e["effect_kpi"] == pytest.approx(by_hand, rel=1e-4)
    assert e["effect_kpi_ci_low"] < 2.0 < e["effect_kpi_ci_high"]  # truth: 20 points per 100 pp
    assert "percentage points in % satisfied" in e["reading"] and "score points" not in e["reading"]
    wi = what_if(mf, "on_time", model=dm)
    # moving 60 % on time to 90 %: 30 % of the late cases become on time: +0.3 * 0.4 * 20 = ~2.4 pp
    assert wi.gain == pytest.approx(100 * 0.2 * (0.9 - d.on_time.mean()), abs=1.5)
    assert "% satisfied would be" in wi.sentence and " % instead of " in wi.sentence
    assert "percentage points" in wi.sentence
    curve = response_curve_table(frame_from_data(d.assign(days=np.round(d.on_time * 3 + np.arange(len(d)) % 4)),
                                           ["days"], {"min": 1, "max": 2, "top_box": [2], "bottom_box": [1]}),
                           "days")
    assert curve["kpi"].between(0, 100).all() and curve["kpi"].max() > 30  # shares in percent


@pytest.mark.parametrize("steer_on", ["mean", "top_box"])
def test_rating_scale_steers_on_mean_or_top_box(steer_on):
    d = _binary_sim(None, seed=2)
    mf = frame_from_data(d, ["on_time"], {"min": 1, "max": 5, "top_box": [4, 5], "bottom_box": [1, 2]},
                         units={"on_time": "share"}, steer_on=steer_on)
    e = driver_effects(mf).effects.iloc[0]
    on, off = d[d.on_time == 1], d[d.on_time == 0]
    if steer_on == "top_box":
        by_hand = 100 * (on.score.ge(4).mean() - off.score.ge(4).mean()) * 0.1
        assert mf.measure == "top_box" and e["effect_kpi"] == pytest.approx(by_hand, rel=1e-4)
        assert "percentage points" in e["reading"]
    else:
        by_hand = (on.score.mean() - off.score.mean()) * 0.1  # OLS with one 0/1 regressor
        assert mf.measure == "mean" and e["effect_kpi"] == pytest.approx(by_hand, rel=1e-6)
        assert "score points" in e["reading"]


# ---------------------------------------------------------------------------------------------
# whole clients: a two-label client, a labelled client steered on its top box, an NPS client
# ---------------------------------------------------------------------------------------------


def _driver_texts(client, agenda) -> list[str]:
    texts = [agenda.sentence, *agenda.chain_notes.values(), *agenda.actions["sentence"]]
    texts.append(report.result_kpi_sentence(client, report.result_kpi_overall(client)))
    texts.append(report.segment_differences_text(client, agenda))
    for models in agenda.models.values():
        texts += list(models.effects["reading"])
        texts += [" ".join(map(str, r)) for r in report.effects_table(models).itertuples(index=False)]
        mf = models.frame
        for d in mf.kpi_drivers:
            if mf.specs[d].unit in ("days", "hours", "count"):
                texts.append(find_threshold(mf, d).sentence)
            if mf.specs[d].target is not None:
                try:
                    texts.append(what_if(mf, d, model=models).sentence)
                except Exception:  # noqa: BLE001 - a target outside a share's range is not this test's matter
                    pass
    texts += [" ".join(map(str, r)) for r in report.agenda_table(agenda).itertuples(index=False)]
    return texts


@pytest.fixture(scope="module")
def webwinkel_dir(tmp_path_factory):
    return generate_client("webwinkel", tmp_path_factory.mktemp("ww") / "webwinkel", n_responses=3000).path


def _two_label_copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    cfg = yaml.safe_load((dst / "client.yaml").read_text())
    cfg["result_kpi"] = {"name": "Satisfaction", "scale": "labels",
                         "labels": ["neutral or dissatisfied", "satisfied"],
                         "top_box": ["satisfied"], "bottom_box": ["neutral or dissatisfied"]}
    (dst / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    rows = list(csv.reader((dst / "responses.csv").open(encoding="utf-8")))
    col = rows[0].index("satisfaction")
    for r in rows[1:]:
        r[col] = "satisfied" if r[col] in ("satisfied", "very satisfied") else "neutral or dissatisfied"
    with (dst / "responses.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return rows, col


def test_two_label_client_reads_as_a_share_everywhere(webwinkel_dir, tmp_path):
    rows, col = _two_label_copy(webwinkel_dir, tmp_path / "two")
    client = load_client(tmp_path / "two")
    share = np.mean([r[col] == "satisfied" for r in rows[1:]])
    text = report.result_kpi_sentence(client, report.result_kpi_overall(client))
    assert text.startswith(f"Satisfaction: {present.num(100 * share)} % satisfied (95 % interval ")
    agenda = improvement_agenda(client, n_boot=50)
    assert agenda.kpi_unit == "percentage points" and agenda.reliable
    texts = _driver_texts(client, agenda)
    for t in texts:
        assert not present.zero_artifacts(t), t
        assert "on average" not in t and "1-2 scale" not in t, t
    assert any("percentage points" in t for t in agenda.actions["sentence"])
    summary = report.result_kpi_summary(client, report.result_kpi_overall(client))
    assert summary["measure"] == "share" and summary["top_box"] == pytest.approx(share)


def test_labelled_client_steered_on_top_box(webwinkel_dir, tmp_path):
    import shutil

    shutil.copytree(webwinkel_dir, tmp_path / "tb")
    cfg = yaml.safe_load((tmp_path / "tb" / "client.yaml").read_text())
    cfg["result_kpi"]["steer_on"] = "top_box"
    (tmp_path / "tb" / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    client = load_client(tmp_path / "tb")
    text = report.result_kpi_sentence(client, report.result_kpi_overall(client))
    assert "% satisfied, very satisfied (95 % interval" in text and "averages" in text  # share and mean
    agenda = improvement_agenda(client, n_boot=50)
    assert agenda.kpi_unit == "percentage points"
    for t in _driver_texts(client, agenda):
        assert not present.zero_artifacts(t), t
    plain = load_client(webwinkel_dir)
    text = report.result_kpi_sentence(plain, report.result_kpi_overall(plain))
    assert "averages" in text and "% satisfied, very satisfied" in text
    assert improvement_agenda(plain, n_boot=50).kpi_unit == "points on the 1-5 scale"


def test_nps_client_texts_follow_the_rule_and_segments_read_yes_no():
    from tests.conftest import FIXTURE_CLIENT

    client = load_client(FIXTURE_CLIENT)
    assert set(client.linked["online_account"].dropna()) == {"Yes", "No"}  # the file says yes / no
    agenda = improvement_agenda(client, n_boot=50)
    for t in _driver_texts(client, agenda):
        assert not present.zero_artifacts(t), t
        assert "true" not in t.split() and "false" not in t.split()


def test_steer_on_is_for_rating_and_label_scales_only():
    import copy

    from pydantic import ValidationError as PydanticError

    from ipm_analysis.config import ClientConfig
    from tests.conftest import BASE_CONFIG

    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["result_kpi"] = {"name": "NPS", "scale": "nps", "steer_on": "top_box"}
    with pytest.raises(PydanticError, match="steer_on"):
        ClientConfig.model_validate(cfg)
    cfg["result_kpi"] = {"name": "Score", "scale": "rating", "min": 1, "max": 5, "top_box": [4, 5],
                         "bottom_box": [1, 2], "steer_on": "top_box"}
    assert ClientConfig.model_validate(cfg).result_kpi.steer_on == "top_box"
