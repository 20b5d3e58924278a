"""Report figures: what a reader sees on the axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ipm_analysis import plots  # noqa: E402


def _monthly(n_months: int) -> pd.DataFrame:
    periods = pd.date_range("2025-01-01", periods=n_months, freq="MS")
    value = np.linspace(10, 20, n_months)
    return pd.DataFrame({"period": periods, "value": value, "ci_low": value - 2, "ci_high": value + 2,
                         "small_base": [False] * n_months})


def test_monthly_axis_is_labelled_at_its_months_as_year_month():
    for n, most in ((1, 7), (5, 7), (13, 7), (36, 7)):
        ax = plots.interval_line(_monthly(n), x="period", y="value", low="ci_low", high="ci_high", flag="small_base")
        ax.figure.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels[0] == "2025-01"
        assert 1 <= len(labels) <= most
        months = set(pd.date_range("2025-01-01", periods=n, freq="MS").strftime("%Y-%m"))
        assert set(labels) <= months, labels
        plt.close("all")


def test_kpi_months_small_multiples_share_the_month_labels():
    d = _monthly(13)
    table = pd.concat([d.assign(chain="c", kpi=k, kpi_name=k, link="Sales", unit="share", target=0.2)
                       for k in ("a", "b")], ignore_index=True)
    fig = plots.kpi_months(table)
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == ["2025-01", "2025-04", "2025-07", "2025-10", "2026-01"]
    plt.close("all")


def test_control_chart_draws_limits_baseline_and_signals():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from ipm_analysis import plots
    from ipm_analysis.monitoring import p_chart

    months = pd.date_range("2024-01-01", periods=12, freq="MS")
    chart = p_chart(pd.DataFrame({"period": months, "successes": [90] * 10 + [60, 91], "n": [100] * 12}), baseline=10)
    ax = plots.control_chart(chart.table, kind="p", title="On time", ylabel="% on time")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["baseline", "control limits", "centre (baseline)", "per period", "signal"]
    signal = ax.collections[-1].get_offsets()
    assert len(signal) == 1 and signal[0][1] == 60.0  # the one signalling month, drawn in %
    assert ax.get_ylabel() == "% on time" and ax.get_xticklabels()[0].get_text().startswith("2024-")
