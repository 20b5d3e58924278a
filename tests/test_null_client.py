"""A client whose scores are independent of every chain KPI gets a full report that says no
reliable driver was found, lists no action, labels no driver "fix first", and draws every figure
even when a bootstrap interval does not contain its estimate."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from ipm_analysis import load_client, plots, present  # noqa: E402
from ipm_analysis.agenda import QUADRANTS, agenda_summary, improvement_agenda  # noqa: E402
from ipm_analysis.batch import REPORT_HTML, report_notebooks, run_client  # noqa: E402
from ipm_analysis.demo import generate_client  # noqa: E402

from .test_summary import check_report_summary  # noqa: E402

# koffie seed 2 gives importance shares outside their own bootstrap interval (the case that
# crashed the importance figure); the other seeds and kinds vary the noise. At 95 % about one null
# client in twenty shows a chance association (webwinkel seed 3 does): these seeds do not.
NULL_CLIENTS = [("koffie", 2), ("koffie", 5), ("woonstad", 1), ("webwinkel", 4)]


@pytest.fixture(scope="module", params=NULL_CLIENTS, ids=[f"{k}-{s}" for k, s in NULL_CLIENTS])
def null_client(request, tmp_path_factory):
    kind, seed = request.param
    made = generate_client(kind, tmp_path_factory.mktemp(f"null_{kind}_{seed}") / kind, n_responses=1500,
                           seed=seed, no_driver=True)
    return made


def test_null_agenda_has_no_action_and_no_quadrant(null_client):
    agenda = improvement_agenda(load_client(null_client.path), n_boot=100, seed=0)
    assert not agenda.reliable and agenda.actions.empty
    assert agenda.sentence.startswith("No reliable driver was found")
    m = agenda.matrix
    # no driver gets a priority label when none is reliable, but each keeps its place in the matrix
    assert not set(m["quadrant"]) & set(QUADRANTS), set(m["quadrant"])
    assert set(m["position"]) <= set(QUADRANTS) | {"no target"}
    assert not (set(agenda.considered["quadrant"].dropna()) & set(QUADRANTS))
    assert json.loads(json.dumps(agenda_summary(agenda)))["actions"] == []
    for text in [agenda.sentence, *agenda.chain_notes.values()]:  # R² near 0 never reads "0.0 %"
        assert not present.zero_artifacts(text), text
    plots.importance_performance(m)  # draws even with estimates outside their intervals
    matplotlib.pyplot.close("all")


def test_interval_plots_do_not_assume_the_estimate_inside_its_interval():
    # the share of the call-centre export: 0.98 with interval 0.0005 to 0.957
    matrix = pd.DataFrame({"share": [0.98, 0.02], "share_ci_low": [0.0005, 0.0], "share_ci_high": [0.957, 0.9],
                           "gap_relative": [-0.1, 0.2], "quadrant": ["no reliable association"] * 2,
                           "name": ["a", "b"], "link": ["x", "y"]})
    ax = plots.importance_performance(matrix)
    segs = [s for c in ax.collections for s in getattr(c, "get_segments", lambda: [])()]
    spans = sorted((round(min(s[:, 1]), 2), round(max(s[:, 1]), 2)) for s in segs if len(s))
    assert (0.05, 95.7) in spans and (0.0, 90.0) in spans  # the interval drawn as it is, not clipped
    curve = pd.DataFrame({"bin": ["0", "1"], "kpi": [5.0, 1.0], "kpi_ci_low": [np.nan, 2.0],
                          "kpi_ci_high": [np.nan, 3.0], "small_base": [False, True]})
    plots.response_curve(curve)
    matplotlib.pyplot.close("all")


def test_guarded_figure_failure_does_not_stop_the_report(capsys):
    with plots.guarded("test figure"):
        raise ValueError("'yerr' must not contain negative values")
    assert "test figure not drawn: ValueError" in capsys.readouterr().out


@pytest.mark.parametrize("fault", [NameError("name 'seg_plot' is not defined"), AttributeError("no attribute 'x'"),
                                   ModuleNotFoundError("No module named 'x'")])
def test_a_fault_in_the_code_of_a_figure_is_raised_not_hidden(fault, capsys):
    with pytest.raises(type(fault)), plots.guarded("test figure"):
        raise fault
    assert "not drawn" not in capsys.readouterr().out


# the whole report for the seed that crashed the figure and for each other kind (a second koffie seed
# adds nothing the agenda test above does not check)
FULL_REPORT = [c for c in NULL_CLIENTS if c != ("koffie", 5)]


@pytest.mark.slow
@pytest.mark.parametrize("null_client", FULL_REPORT, ids=[f"{k}-{s}" for k, s in FULL_REPORT], indirect=True)
def test_null_client_full_report_says_no_reliable_driver(null_client, tmp_path):
    run = run_client(null_client.path, tmp_path / "reports", report_notebooks())
    assert run.status == "ok", run.message
    html = (run.report_dir / REPORT_HTML).read_text()
    summary = json.loads((run.report_dir / "summary.json").read_text())
    check_report_summary(run.report_dir)  # every demo kind's summary.json follows the schema
    assert summary["drivers"]["agenda"]["actions"] == [] and summary["drivers"]["top"] == []
    assert summary["drivers"]["agenda"]["reliable"] is False
    first_screen = html[: html.index("Improvement actions") + 2000]
    assert "No reliable driver was found" in first_screen
    assert "biggest improvement actions" not in html
    assert "fix first" not in html.lower().replace("<em>fix first</em>", "")  # only the rule's definition
    assert "not drawn" not in html
