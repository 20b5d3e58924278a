"""Chain KPIs over time: monthly trends and the lagged association of a chain KPI with the result
KPI, with Newey-West (HAC) standard errors. They describe association, never cause.

Part of :mod:`ipm_analysis.kpis`; the conventions are in its docstring.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .. import present
from ..checks import check_ci
from ..errors import AnalysisError
from ..messages import Message, Num, current_language, render
from .intervals import holm, _fmt, _frame, _month, _numeric, _require
from .tables import _table_by_cols


def _text(reading):
    """A reading as a frame holds it: its text in the report's language (``messages.use_language``)."""
    return render(reading, current_language()) if isinstance(reading, Message) else reading

__all__ = [
    "kpi_trend",
    "lagged_association",
    "hac_maxlags",
]


def hac_maxlags(n: int) -> int:
    """Number of lags for Newey-West (HAC) standard errors on ``n`` monthly points.

    The rule of thumb of Stock and Watson (*Introduction to Econometrics*):
    ``floor(0.75 * n ** (1/3))``, at least 1. It gives 1 lag up to 18 months, 2 for 19-63
    and 3 for 64-151.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AnalysisError(f"n must be a positive whole number of months, got {n!r}")
    return max(1, int(math.floor(0.75 * n ** (1 / 3) + 1e-9)))


def _hac_fit(y: np.ndarray, X: np.ndarray, ci: float, conservative: bool) -> dict[str, float]:
    """OLS of ``y`` on ``X``; inference on the coefficient of column 1.

    Newey-West covariance from statsmodels (Bartlett kernel, ``hac_maxlags(n)`` lags, small-sample
    factor ``n / (n - k)``), t distribution with ``n - k`` degrees of freedom. With
    ``conservative`` the standard error used is the larger of the HAC and the classical OLS one.
    """
    import statsmodels.api as sm

    lags = hac_maxlags(len(y))
    model = sm.OLS(y, X)
    hac = model.fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True)
    se_hac = float(hac.bse[1])
    se_ols = float(model.fit().bse[1])
    se = max(se_hac, se_ols) if conservative else se_hac
    coef = float(hac.params[1])
    df = float(hac.df_resid)
    q = float(stats.t.ppf(0.5 + ci / 2, df))
    if se > 0:
        p = float(2 * stats.t.sf(abs(coef / se), df))
    else:  # an exact fit
        p = 0.0 if coef != 0 else 1.0
    return {"coef": coef, "se": se, "se_hac": se_hac, "se_ols": se_ols, "ci_low": coef - q * se,
            "ci_high": coef + q * se, "p_value": p, "maxlags": lags}


def _month_number(periods: pd.Series) -> np.ndarray:
    ts = pd.to_datetime(periods)
    return (ts.dt.year * 12 + ts.dt.month).to_numpy(dtype=int)


def kpi_trend(table: pd.DataFrame, min_months: int = 8, ci: float = 0.95,
              conservative_se: bool = True) -> pd.DataFrame:
    """Linear trend per month of each chain KPI over its monthly values.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`chain_kpi_table` with a period column (its ``"all"`` rows are
        ignored; segment columns are kept as groups).
    min_months : int, default 8
        Fewer monthly values than this give a row saying so instead of numbers.
    ci : float, default 0.95
    conservative_se : bool, default True
        Use the larger of the HAC and the classical standard error (see
        :func:`lagged_association`).

    Returns
    -------
    DataFrame
        One row per KPI (and segment): ``chain, kpi, kpi_name, unit, direction, <by...>,
        n_months, first_period, last_period, slope, se, ci_low, ci_high, p_value, maxlags,
        reading``. ``slope`` is the change per month in the KPI's unit (shares: fraction per
        month). OLS of the monthly value on the month number (calendar months, so suppressed
        months leave a gap) with Newey-West standard errors as in :func:`lagged_association`.
        ``reading`` is ``"improving"``, ``"worsening"`` (in the KPI's direction), ``"no clear
        trend"``, ``"the same value every month"`` (no slope is estimated) or ``"too few months
        ..."``. Months are weighted equally, whatever their base.
    """
    table = _frame(table, "table")
    ci = check_ci(ci)
    if isinstance(min_months, bool) or not isinstance(min_months, (int, np.integer)) or min_months < 3:
        raise AnalysisError(f"min_months must be a whole number of at least 3, got {min_months!r}")
    _require(table, ["chain", "kpi", "kpi_name", "unit", "direction", "period", "value"], "table")
    by_cols = _table_by_cols(table)
    monthly = table.loc[table["period"].astype(str) != "all"]
    rows = []
    keys = ["chain", "kpi", *by_cols]
    for key, sub in monthly.groupby(keys, dropna=False, sort=False):
        sub = sub.dropna(subset=["value"])
        try:
            months = _month_number(sub["period"])
        except (TypeError, ValueError) as exc:
            raise AnalysisError("table periods must be dates (month starts) or 'all'") from exc
        order = np.argsort(months, kind="stable")
        months, y = months[order], sub["value"].to_numpy(dtype=float)[order]
        first = sub.iloc[0]
        row = dict(zip(keys, key, strict=True))
        row.update(kpi_name=first["kpi_name"], unit=first["unit"], direction=first["direction"],
                   n_months=len(y),
                   first_period=pd.Timestamp(sub["period"].iloc[order[0]]) if len(y) else pd.NaT,
                   last_period=pd.Timestamp(sub["period"].iloc[order[-1]]) if len(y) else pd.NaT)
        if len(y) < min_months:
            row.update(slope=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan,
                       p_value=math.nan, maxlags=pd.NA,
                       reading=Message("trend.too_few", n=len(y), need=min_months))
        elif np.ptp(y) == 0:  # the same every month (e.g. 100 %): no slope to estimate, nothing to test
            row.update(slope=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan,
                       p_value=math.nan, maxlags=pd.NA, reading=Message("trend.constant"))
        else:
            X = np.column_stack([np.ones(len(y)), months - months[0]])
            fit = _hac_fit(y, X, ci, conservative_se)
            p, slope = fit["p_value"], fit["coef"]
            if p < 1 - ci and slope != 0:
                better = (slope > 0) == (first["direction"] == "higher")
                reading = Message("trend.improving" if better else "trend.worsening")
            else:
                reading = Message("trend.none")
            row.update(slope=slope, se=fit["se"], ci_low=fit["ci_low"], ci_high=fit["ci_high"],
                       p_value=p, maxlags=fit["maxlags"], reading=reading)
        rows.append(row)
    cols = ["chain", "kpi", "kpi_name", "unit", "direction", *by_cols, "n_months", "first_period",
            "last_period", "slope", "se", "ci_low", "ci_high", "p_value", "maxlags", "reading"]
    for row in rows:  # a frame keeps text, not messages: the reading in the report's language
        if "reading" in row:
            row["reading"] = _text(row["reading"])
    out = pd.DataFrame(rows, columns=cols)
    out["maxlags"] = out["maxlags"].astype("Int64")
    out.attrs.update(ci=ci)
    return out


# --------------------------------------------------------------------------------------------
# association over time
# --------------------------------------------------------------------------------------------


def _monthly_series(monthly: pd.DataFrame, cols: list[str], period_col: str | None) -> pd.DataFrame:
    if period_col is None:
        return monthly[cols].reset_index(drop=True)
    if period_col in monthly.columns:
        periods = monthly[period_col]
    elif isinstance(monthly.index, (pd.DatetimeIndex, pd.PeriodIndex)):
        periods = monthly.index.to_series()
    else:
        raise AnalysisError(f"monthly needs a period column '{period_col}' (or a date index) to "
                            f"line months up; it has columns {list(monthly.columns)}. Pass "
                            f"period_col=None if its rows are consecutive months in order.")
    months = _month(pd.Series(periods.to_numpy()))
    if not pd.api.types.is_datetime64_any_dtype(months.dtype):
        raise AnalysisError(f"period column '{period_col}' must hold dates, got {months.dtype}")
    if months.isna().any():
        raise AnalysisError(f"period column '{period_col}' has missing dates")
    if months.duplicated().any():
        raise AnalysisError(f"monthly must hold one row per month; months repeat: "
                            f"{_fmt([str(m.date()) for m in months[months.duplicated()].unique()])}")
    data = pd.DataFrame({c: monthly[c].to_numpy() for c in cols}, index=pd.DatetimeIndex(months))
    full = pd.date_range(months.min(), months.max(), freq="MS")
    return data.sort_index().reindex(full)  # gaps become missing months, so lags stay calendar lags


def lagged_association(monthly: pd.DataFrame, result_col: str, kpi_col: str, max_lag: int = 3,
                       period_col: str | None = "period", min_months: int = 8, ci: float = 0.95,
                       trend: bool = False, conservative_se: bool = True) -> pd.DataFrame:
    """How the monthly result KPI moves with a chain KPI some months earlier.

    For each lag ``k = 0..max_lag`` a separate regression
    ``result[t] = a + b * kpi[t - k] (+ c * t) + e[t]`` is fitted by OLS with Newey-West (HAC)
    standard errors: statsmodels ``cov_type="HAC"``, Bartlett kernel, ``maxlags`` from
    :func:`hac_maxlags` on the months used (Stock-Watson rule ``floor(0.75 * n ** (1/3))``),
    small-sample factor ``n / (n - k)`` (``use_correction=True``) and a t distribution with
    ``n - k`` degrees of freedom.

    Parameters
    ----------
    monthly : DataFrame
        One row per month with the result KPI (e.g. NPS in points) and the chain KPI
        (e.g. on-time share).
    result_col, kpi_col : str
        The two columns.
    max_lag : int, default 3
        Largest lag in months.
    period_col : str or None, default "period"
        Column of month dates used to line months up by the calendar (missing months are gaps,
        not skipped over). If absent, a date index is used. None: the rows are consecutive
        months in order.
    min_months : int, default 8
        A lag with fewer usable months gives a row saying so instead of numbers.
    ci : float, default 0.95
    trend : bool, default False
        Add a linear month term, so that two series that merely both drift over time are not
        read as associated.
    conservative_se : bool, default True
        Use the larger of the HAC and the classical OLS standard error (Angrist and Pischke's
        guard against the downward bias of robust errors in small samples). With 12-36 months
        and no true association, plain HAC rejects at a nominal 5 % in about 10-17 % of samples
        (more when both series are autocorrelated); the guard brings that to about 4-10 %.
        False gives statsmodels' HAC inference unchanged.

    Returns
    -------
    DataFrame
        One row per lag: ``lag, n_months, coef, se, se_hac, se_ols, ci_low, ci_high, p_value,
        p_holm, maxlags, reading``. ``se`` is the standard error used for the interval and the
        p-value; ``se_hac`` and ``se_ols`` are the two candidates. ``coef`` is the change in
        the result KPI per unit of the chain KPI (for a share, per 1.0 = 100 pp). ``p_holm``
        is Holm-adjusted over the lags fitted, and the ``reading`` uses it: it starts with
        ``"associated"``, ``"no reliable association"`` or ``"too few months"``. Association
        over time is not proof of cause: other things may move both series, and a persistent
        chain KPI is associated at neighbouring lags too (compare the lags, strongest first).
    """
    monthly = _frame(monthly, "monthly")
    ci = check_ci(ci)
    for name, v, low in (("max_lag", max_lag, 0), ("min_months", min_months, 4)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise AnalysisError(f"{name} must be a whole number of at least {low}, got {v!r}")
    if not (isinstance(result_col, str) and isinstance(kpi_col, str)) or result_col == kpi_col:
        raise AnalysisError(f"result_col and kpi_col must be two different column names, got "
                            f"{result_col!r} and {kpi_col!r}")
    _require(monthly, [result_col, kpi_col], "monthly")
    data = _monthly_series(monthly, [result_col, kpi_col], period_col)
    y_all = _numeric(data[result_col], f"column '{result_col}'")
    x_all = _numeric(data[kpi_col], f"column '{kpi_col}'")
    if not (np.isfinite(y_all[~np.isnan(y_all)]).all() and np.isfinite(x_all[~np.isnan(x_all)]).all()):
        raise AnalysisError("monthly values must be finite numbers; got infinity")
    t_all = np.arange(len(y_all), dtype=float)

    rows = []
    for k in range(int(max_lag) + 1):
        x = np.full_like(x_all, np.nan)
        x[k:] = x_all[: len(x_all) - k] if k else x_all
        use = ~np.isnan(y_all) & ~np.isnan(x)
        n = int(use.sum())
        row = {"lag": k, "n_months": n}
        need = max(int(min_months), 4 if trend else 3)
        if n < need:
            row.update(coef=math.nan, se=math.nan, se_hac=math.nan, se_ols=math.nan,
                       ci_low=math.nan, ci_high=math.nan, p_value=math.nan, maxlags=pd.NA,
                       reading=Message("association.too_few", n=n, need=need))
        elif np.ptp(x[use]) == 0:
            row.update(coef=math.nan, se=math.nan, se_hac=math.nan, se_ols=math.nan,
                       ci_low=math.nan, ci_high=math.nan, p_value=math.nan, maxlags=pd.NA,
                       reading=Message("association.constant"))
        else:
            cols = [np.ones(n), x[use]] + ([t_all[use]] if trend else [])
            row.update(_hac_fit(y_all[use], np.column_stack(cols), ci, conservative_se))
        rows.append(row)

    for row in rows:
        if "reading" in row:
            row["reading"] = _text(row["reading"])
    out = pd.DataFrame(rows, columns=["lag", "n_months", "coef", "se", "se_hac", "se_ols", "ci_low",
                                      "ci_high", "p_value", "maxlags", "reading"])
    out.insert(out.columns.get_loc("p_value") + 1, "p_holm", math.nan)
    fitted = out["p_value"].notna().to_numpy()
    if fitted.any():
        out.loc[fitted, "p_holm"] = holm(out.loc[fitted, "p_value"])
    alpha = 1 - ci
    readings = out["reading"].astype(object).tolist()
    for i in np.flatnonzero(fitted):
        k, coef, p = int(out.at[i, "lag"]), out.at[i, "coef"], out.at[i, "p_holm"]
        if p < alpha:
            when = Message("association.same_month") if k == 0 else \
                Message("association.months_later" if k > 1 else "association.month_later", k=k)
            way = Message("word.higher" if coef > 0 else "word.lower")
            readings[i] = Message("association.found", kpi=kpi_col, result=result_col, way=way, when=when,
                                  coef=Num(coef, present.decimals(coef, 2), True))
        elif out.at[i, "p_value"] >= alpha:
            readings[i] = Message("association.none")
        else:
            readings[i] = Message("association.none_after_holm", n=int(fitted.sum()))
    out["reading"] = pd.Series([_text(r) for r in readings], dtype=object)
    out["maxlags"] = out["maxlags"].astype("Int64")
    out.attrs.update(ci=ci, result_col=result_col, kpi_col=kpi_col, trend=trend,
                     maxlags_rule="floor(0.75 * n_months ** (1/3)), at least 1")
    return out
