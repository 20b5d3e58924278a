"""Every sentence and table the report prints, in the reader's unit and by the one rounding rule.

The texts come from the package functions the notebooks call (overview, result KPI by month and
by segment, recent change, chain KPIs, agenda, effects, thresholds, segment differences,
journeys, the one-screen summary), so the test runs in seconds. Each text is checked with
:func:`ipm_analysis.present.zero_artifacts` (no ``0.0``/``+0.0``/``-0.0`` for a non-zero value,
no "3.6 against 3.6"), for the unit words of the client's scale, and for the loader's
``true``/``false`` in place of the data's labels. The headline numbers are checked against a
computation by hand from the client's own files.

Clients: generated ones with known answers for each scale (NPS, rating 1-5, two labels, three
labels) and the public slices of ``tests/data/real``.
"""

from __future__ import annotations

import csv
import html
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ipm_analysis import journeys, load_client, overview, present, report
from ipm_analysis import summary as summary_json
from ipm_analysis.agenda import agenda_summary, improvement_agenda
from ipm_analysis.demo import generate_client
from ipm_analysis.summary_page import summary_html

REAL = Path(__file__).resolve().parent / "data" / "real"


# ---------------------------------------------------------------------------------------------
# every text a report prints, from the package's functions
# ---------------------------------------------------------------------------------------------


def _rows(frame: pd.DataFrame) -> list[str]:
    """A printed table: its header, then its rows (cells split by " | ")."""
    return [" | ".join(map(str, frame.columns)), *(" | ".join(map(str, r)) for r in frame.itertuples(index=False))]


def report_texts(client, n_boot: int = 50) -> dict[str, list[str]]:
    """What the notebooks print for ``client``, by section (sentences and table rows)."""
    out: dict[str, list[str]] = {}
    overall = report.result_kpi_overall(client)
    out["result"] = [report.result_kpi_sentence(client, overall)]
    chain_table = report.chain_kpis(client)
    out["chain KPIs"] = [report.chain_kpi_sentence(chain_table), *_rows(report.chain_kpi_display(chain_table))]
    out["periods"] = [report.partial_period_sentence(client)]
    out["missing values"] = _rows(overview.missing_values_display(client))
    if report.has_case_dates(client):
        monthly = report.chain_kpis_monthly(client)
        out["trends"] = _rows(report.trends_display(report.chain_kpi_trends(client, monthly)))
        assoc = report.monthly_association(client, monthly=monthly)
        out["monthly association"] = _rows(report.association_display(assoc)) if len(assoc) else []
    if overall is not None and report.has_answer_dates(client):
        out["result by month"] = _rows(report.result_kpi_display(client, report.result_kpi_monthly(client),
                                                                 ["period"]))
        note = report.result_kpi_monthly_note(client)
        out["periods"] += [note] if note else []
    change = report.recent_change(client)
    out["recent change"] = [report.change_sentence(client, change)]
    seg = report.segment_result_kpi(client)
    if len(seg):
        out["result by segment"] = _rows(report.result_kpi_display(client, report.in_reader_unit(client, seg),
                                                                   ["segment", "group"]))
    summary = {"overview": summary_json.overview_section(client, overall, chain_table),
               "kpi_structure": {"recent_change": {"sentence": out["recent change"][0]}}}
    if overall is not None:
        agenda = improvement_agenda(client, n_boot=n_boot)
        out["agenda"] = [agenda.sentence, *agenda.chain_notes.values(), *agenda.actions["sentence"],
                         *_rows(report.agenda_table(agenda)), *_rows(report.matrix_display(agenda.matrix))]
        out["effects"] = []
        for models in agenda.models.values():
            out["effects"] += [*models.effects["reading"], *_rows(report.effects_table(models))]
        out["thresholds"] = [t["reading"] for t in report.threshold_analyses(client, agenda)]
        out["segment differences"] = report.segment_differences_text(client, agenda).splitlines()
        summary["drivers"] = report.drivers_summary(agenda)
    journey_texts = []
    for chain in client.config.chains:
        if chain.journey is None or journeys.chain_events(client, chain.id).empty:
            continue
        sec = journeys.journey_section(client, chain.id)
        shares = ["done_share", "skipped_share", "repeated_share", "out_of_order_share"]
        if len(sec.step_deviation):
            journey_texts += _rows(present.table(sec.step_deviation[["step", "n_cases", *shares]], percent=shares))
        if len(sec.funnel):
            journey_texts += _rows(present.table(sec.funnel[["step", "n_reached", "n_cases", "share"]], percent=["share"]))
        cost = journeys.journey_cost(client, chain.id)
        journey_texts.append(journeys.journey_cost_sentence(client, cost))
        for key in ("by_fit", "by_deviation", "by_avoidable"):
            t = cost[key]
            if len(t):
                journey_texts += _rows(report.result_kpi_display(client, report.in_reader_unit(client, t),
                                                                 [t.columns[0]]))
    out["journeys"] = journey_texts
    page = html.unescape(re.sub(r"<style>.*?</style>", " ", summary_html(summary), flags=re.S))
    out["summary page"] = [s for s in re.split(r"<[^>]+>", page) if s.strip()]
    return out


def _flat(texts: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(k, t) for k, ts in texts.items() for t in ts]


def check_rule(texts: dict[str, list[str]]) -> None:
    """The rounding rule and the data's own labels, on every text."""
    for section, t in _flat(texts):
        assert not present.zero_artifacts(t), (section, t)
        assert "= <" not in t, (section, t)  # "p < 0.001", never "p = < 0.001"
        words = re.findall(r"[A-Za-z]+", t)
        assert "true" not in words and "false" not in words, (section, t)
        doubled = re.findall(r"\b([a-z]{3,}) \1\b", t)
        assert not doubled, (section, t)


def all_text(texts: dict[str, list[str]]) -> str:
    return "\n".join(t for _, t in _flat(texts))


# ---------------------------------------------------------------------------------------------
# generated clients with known answers, one per scale
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("texts")
    return {"webwinkel": generate_client("webwinkel", root / "webwinkel", n_responses=3000).path,
            "woonstad": generate_client("woonstad", root / "woonstad", n_responses=3000).path,
            "koffie": generate_client("koffie", root / "koffie", n_responses=3000).path, "root": root}


def _relabel(src: Path, dst: Path, labels: list[str], top: list[str], bottom: list[str], mapping: dict) -> list:
    shutil.copytree(src, dst)
    cfg = yaml.safe_load((dst / "client.yaml").read_text())
    cfg["result_kpi"] = {"name": "Satisfaction", "scale": "labels", "labels": labels, "top_box": top,
                         "bottom_box": bottom}
    (dst / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    rows = list(csv.reader((dst / "responses.csv").open(encoding="utf-8")))
    col = rows[0].index("satisfaction")
    for r in rows[1:]:
        r[col] = mapping.get(r[col], r[col])
    with (dst / "responses.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return [r[col] for r in rows[1:] if r[col]]


def _responses(path: Path, column: str) -> pd.Series:
    return pd.read_csv(path / "responses.csv")[column].dropna()


def test_two_label_client_reads_as_a_share_in_every_text(made):
    mapping = {"very satisfied": "satisfied", "very dissatisfied": "neutral or dissatisfied",
               "dissatisfied": "neutral or dissatisfied", "neutral": "neutral or dissatisfied"}
    answers = _relabel(made["webwinkel"], made["root"] / "two", ["neutral or dissatisfied", "satisfied"],
                       ["satisfied"], ["neutral or dissatisfied"], mapping)
    client = load_client(made["root"] / "two")
    texts = report_texts(client)
    check_rule(texts)
    share = np.mean([a == "satisfied" for a in answers])  # by hand from the file
    assert texts["result"][0].startswith(f"Satisfaction: {present.num(100 * share)} % satisfied (95 % interval")
    text = all_text(texts)
    assert "on average" not in text and "1-2 scale" not in text and "averages" not in text
    assert "percentage points" in " ".join(texts["recent change"] + texts["agenda"] + texts["effects"])
    assert "% satisfied" in " ".join(texts["summary page"][1:4])  # after the title and the run date line
    header = texts["result by month"][0]
    assert "% satisfied" in header and "mean" not in header
    # by month: the share per complete month, by hand
    r = client.responses.assign(top=client.responses["score"] == 2)
    monthly = report.result_kpi_monthly(client)
    by_hand = 100 * r.groupby("period")["top"].mean()
    assert np.allclose(monthly["value"], by_hand.loc[monthly["period"]].to_numpy())


def test_three_label_client_reads_as_mean_and_top_box(made):
    mapping = {"very satisfied": "satisfied", "very dissatisfied": "dissatisfied"}
    answers = _relabel(made["webwinkel"], made["root"] / "three", ["dissatisfied", "neutral", "satisfied"],
                       ["satisfied"], ["dissatisfied"], mapping)
    client = load_client(made["root"] / "three")
    texts = report_texts(client)
    check_rule(texts)
    codes = pd.Series(answers).map({"dissatisfied": 1, "neutral": 2, "satisfied": 3})
    first = texts["result"][0]
    overall = report.result_kpi_overall(client)
    assert overall.mean == pytest.approx(codes.mean())
    m = present.interval(overall.mean, overall.mean_ci_low, overall.mean_ci_high, 2)[0]
    assert f"averages {m} on the 1-3 scale" in first
    assert f"{present.num(100 * (codes == 3).mean())} % satisfied" in first
    assert "points on the 1-3 scale" in " ".join(texts["agenda"] + texts["effects"])
    header = texts["result by month"][0]
    assert "mean" in header and "% satisfied" in header  # the mean and the top box by month


def test_rating_client_reads_as_mean_and_top_box(made):
    client = load_client(made["woonstad"])
    cfg = client.config.result_kpi
    texts = report_texts(client)
    check_rule(texts)
    raw = _responses(made["woonstad"], "score")
    overall = report.result_kpi_overall(client)
    assert overall.mean == pytest.approx(raw.mean())
    assert overall.top_box == pytest.approx(raw.isin(cfg.rating_scale.top_box).mean())
    m = present.interval(overall.mean, overall.mean_ci_low, overall.mean_ci_high, 2)[0]
    assert f"averages {m} on the 1-5 scale" in texts["result"][0]
    assert "points on the 1-5 scale" in " ".join(texts["agenda"] + texts["effects"] + texts["thresholds"])


def test_nps_client_reads_in_points(made):
    client = load_client(made["koffie"])
    texts = report_texts(client)
    check_rule(texts)
    s = client.responses["score"].dropna()
    nps = 100 * ((s >= 9).mean() - (s <= 6).mean())  # by hand
    assert report.result_kpi_overall(client).value == pytest.approx(nps)
    assert texts["result"][0].startswith(f"NPS is {present.num(nps, 0, signed=True)} points (95% interval")
    assert "NPS points" in " ".join(texts["agenda"] + texts["effects"])
    assert "percentage points" not in " ".join(texts["result"] + texts["effects"])


# ---------------------------------------------------------------------------------------------
# the public slices
# ---------------------------------------------------------------------------------------------


def test_airline_survey_two_labels_as_a_share():
    client = load_client(REAL / "airline_survey")
    texts = report_texts(client)
    check_rule(texts)
    raw = pd.read_csv(REAL / "airline_survey" / "AirlinePassengerSatisfaction.csv")
    share = (raw["satisfaction"] == "satisfied").mean()
    assert texts["result"][0].startswith(f"Satisfaction: {present.num(100 * share)} % satisfied (95 % interval")
    text = all_text(texts)
    assert "percentage points" in text and "on average" not in text and "1-2 scale" not in text
    seg = " ".join(texts["segment differences"])  # segments by the names client.yaml gives them
    assert "between Type of travel segments" in seg and "travel_type" not in seg and "travel_class" not in seg


def test_telecom_churn_labels_as_a_share():
    client = load_client(REAL / "telecom_churn")
    texts = report_texts(client)
    check_rule(texts)
    raw = pd.read_csv(REAL / "telecom_churn" / "churn-bigml-80.csv")
    stayed = (~raw["Churn"].astype(bool)).mean()
    assert texts["result"][0].startswith(f"Stayed a customer: {present.num(100 * stayed)} % stayed (95 % interval")
    assert "FALSE" not in all_text(texts)  # top_box_name: the churn flag's FALSE reads as "stayed"
    text = all_text(texts)
    assert "percentage points" in text and "1-2 scale" not in text and "on average" not in text


def test_call_centre_rating_without_a_reliable_driver():
    client = load_client(REAL / "call_centre")
    texts = report_texts(client)
    check_rule(texts)
    assert "no reliable driver" in texts["agenda"][0].lower()
    assert "on the 1-5 scale" in texts["result"][0]


def test_olist_rating_one_to_five():
    client = load_client(REAL / "olist")
    texts = report_texts(client)
    check_rule(texts)
    assert "on the 1-5 scale" in texts["result"][0]
    assert "% in the top box (5)" in texts["result"][0]
    # the incomplete last month (2018-10, one order) is left out of the result KPI by month, and said so
    months = [r.split(" | ")[0] for r in texts["result by month"][1:]]
    assert months[-1] == "2018-09" and "2018-10" not in months
    assert any(t.startswith("2018-10 is left out of the result KPI by month") for t in texts["periods"])
    assert "(2018-10 left out: incomplete)" in texts["recent change"][0]
    assert "points on the 1-5 scale" in " ".join(texts["agenda"] + texts["effects"])


def test_top_box_name_is_for_rating_and_label_scales():
    import copy

    from pydantic import ValidationError as PydanticError

    from ipm_analysis.config import ClientConfig
    from tests.conftest import BASE_CONFIG

    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["result_kpi"] = {"name": "NPS", "scale": "nps", "top_box_name": "promoters"}
    with pytest.raises(PydanticError, match="top_box_name"):
        ClientConfig.model_validate(cfg)
    cfg["result_kpi"] = {"name": "Stayed", "scale": "labels", "labels": ["TRUE", "FALSE"], "top_box": ["FALSE"],
                         "bottom_box": ["TRUE"], "top_box_name": "stayed"}
    assert ClientConfig.model_validate(cfg).result_kpi.top_words == "stayed"


def test_a_printed_table_follows_the_rule():
    t = pd.DataFrame({"step": ["a", "b", "c"], "share": [0.00025, 0.0, 0.5], "hours": [0.04, 12.345, 0.0],
                      "small_base": [True, False, False]})
    out = present.table(t, percent=["share"], numbers=["hours"])
    assert list(out["share"]) == [present.num(0.025), "0", "50.0"] and out["share"][0] != "0.0"
    assert list(out["hours"]) == ["0.04", "12.3", "0"] and list(out["small_base"]) == ["yes", "", ""]
    assert not present.zero_artifacts(out.to_string())
    assert present.zero_artifacts(t.round(3).to_string())  # what printing the frame rounded gave: 0.000


# ---------------------------------------------------------------------------------------------
# what the driver analysis leaves out, said in the report's language
# ---------------------------------------------------------------------------------------------


def test_a_chain_not_analysed_and_a_kpi_that_does_not_vary_are_said_in_english_and_dutch(tmp_path):
    """Real chain KPIs are often the same for every case (everything delivered; every visit within
    the hour): such a KPI cannot drive differences and is left out, and a chain left with none
    cannot be modelled. The drivers section says so for each (it used to drop them silently, and
    a Dutch report gave the reasons in English); a time KPI with two values has no threshold."""
    from ipm_analysis import messages
    from tests.conftest import FIXTURE_CLIENT

    folder = tmp_path / "edge"
    shutil.copytree(FIXTURE_CLIENT, folder)
    (folder / "truth.json").unlink()
    cfg = yaml.safe_load((folder / "client.yaml").read_text(encoding="utf-8"))
    kpis = {k["id"]: k for ch in cfg["chains"] for k in ch["kpis"]}
    kpis["delivered_on_time"]["expression"] = "items_ordered >= 0"  # every supplies case: 100 %
    kpis["complete_delivery"]["expression"] = "items_delivered >= 0"  # every supplies case: 100 %
    kpis["fixed_first_visit"]["expression"] = "repair_visits >= 0"  # every repair case: 100 %
    kpis["response_time_hours"]["expression"] = ("CASE WHEN date_diff('hour', reported_at, first_visit_at) > 24 "
                                                 "THEN 48 ELSE 12 END")  # two values only
    (folder / "client.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    client = load_client(folder)
    agenda = improvement_agenda(client, n_boot=20)
    assert set(agenda.models) == {"installation", "repair"}  # supplies: no KPI left to model

    notes = report.chain_model_notes(client, agenda)
    assert [messages.render(n, "en") for n in notes] == [
        "Deliver coffee supplies: not analysed: no driver left to model (Delivered on the promised day: it does "
        "not vary (every response has 100%); Everything ordered was delivered: it does not vary (every response "
        "has 100%)).",
        "Repair a broken machine: the model leaves out Fixed at the first visit: it does not vary (every response "
        "has 100%).",
    ]
    assert [messages.render(n, "nl") for n in notes] == [
        "Deliver coffee supplies: niet geanalyseerd: er is geen driver over om te modelleren (Delivered on the "
        "promised day: hij varieert niet (elk antwoord heeft 100%); Everything ordered was delivered: hij "
        "varieert niet (elk antwoord heeft 100%)).",
        "Repair a broken machine: Fixed at the first visit blijft buiten het model: hij varieert niet (elk "
        "antwoord heeft 100%).",
    ]
    # summary.json keeps the chain's note in the report's language
    messages.use_language("nl")
    try:
        chains = {c["chain"]: c["note"] for c in summary_json.jsonable(agenda_summary(agenda))["chains"]}
    finally:
        messages.use_language("en")
    assert chains["supplies"].startswith("niet geanalyseerd: er is geen driver over om te modelleren (")

    th = {t["driver"]: t["reading"] for t in report.threshold_analyses(client, agenda)}
    assert messages.render(th["response_time_hours"], "en") == (
        "Report to first visit: no threshold analysis (driver 'response_time_hours' has 2 distinct value(s); "
        "a response curve or threshold needs at least 4 (a 0/1 share has no shape to find)).")
    assert messages.render(th["response_time_hours"], "nl") == (
        "Report to first visit: geen drempelanalyse (driver 'response_time_hours' heeft 2 verschillende "
        "waarde(n); een responscurve of drempel vraagt er minstens 4 (een 0/1-aandeel heeft geen vorm om te "
        "vinden)).")
