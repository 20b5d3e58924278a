"""Each speed-up of the driver analysis gives the numbers of the route it replaced: the HC3 fit
against statsmodels, the QR-based collinearity check against the SVD of the whole design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from ipm_analysis.effects import _collinear_sets, _HC3


def _design(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"const": 1.0, "a": rng.normal(size=n), "b": (rng.random(n) < 0.3).astype(float),
                      "c": rng.poisson(2, n).astype(float)})
    y = 1 + 0.5 * X["a"] - 2 * X["b"] + 0.1 * X["c"] + rng.standard_t(3, n) * (1 + X["b"])
    return X, y.to_numpy()


def test_hc3_fit_matches_statsmodels():
    X, y = _design()
    ours, ref = _HC3(y, X), sm.OLS(y, X).fit(cov_type="HC3")
    np.testing.assert_allclose(ours.params, ref.params, rtol=1e-10)
    np.testing.assert_allclose(ours.bse, ref.bse, rtol=1e-8)
    np.testing.assert_allclose(ours.pvalues, ref.pvalues, rtol=1e-6, atol=1e-300)
    np.testing.assert_allclose(ours.conf_int(0.1), np.asarray(ref.conf_int(0.1)), rtol=1e-8)
    L = np.array([0.0, 1.0, 0.0, 2.5])
    a, b = ours.t_test(L), ref.t_test(L)
    assert float(np.ravel(a.effect)[0]) == pytest.approx(float(np.ravel(b.effect)[0]), rel=1e-10)
    np.testing.assert_allclose(np.ravel(a.conf_int(0.05)), np.ravel(b.conf_int(0.05)), rtol=1e-8)
    assert float(np.ravel(a.pvalue)[0]) == pytest.approx(float(np.ravel(b.pvalue)[0]), rel=1e-6)
    R = np.array([[0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    wa, wb = ours.wald_test(R), ref.wald_test(R, use_f=False, scalar=True)
    assert wa.statistic == pytest.approx(float(wb.statistic), rel=1e-8)
    assert wa.pvalue == pytest.approx(float(wb.pvalue), rel=1e-6)


def test_hc3_falls_back_to_statsmodels_without_full_rank():
    X, y = _design()
    X["d"] = 2 * X["a"]
    fit = _HC3(y, X)
    assert not isinstance(fit, _HC3) and np.isfinite(fit.params).all()


def test_collinearity_check_matches_the_full_svd():
    X, _ = _design(500)
    assert _collinear_sets(X) == []
    X["d"] = X["a"] - 3 * X["c"]
    assert _collinear_sets(X) == ["a", "c", "d"]
    A = X.to_numpy() / np.linalg.norm(X.to_numpy(), axis=0)
    _, sv, _ = np.linalg.svd(A, full_matrices=False)
    R = np.linalg.qr(A, mode="r")
    np.testing.assert_allclose(np.linalg.svd(R, compute_uv=False), sv, atol=1e-10)


def test_ordinal_fit_on_distinct_rows_matches_the_fit_on_every_row():
    from ipm_analysis.modelframe import frame_from_data
    from ipm_analysis.effects import _OrderedLogit, fit_ordinal

    rng = np.random.default_rng(4)
    n = 6000
    d = pd.DataFrame({"on_time": (rng.random(n) < 0.8).astype(float), "days": rng.poisson(2, n).astype(float)})
    eta = 0.9 * d["on_time"] - 0.3 * d["days"]
    d["score"] = np.clip(np.round(7 + 2 * eta + rng.logistic(size=n)), 0, 10)
    mf = frame_from_data(d, ["on_time", "days"], units={"on_time": "share", "days": "days"})
    fast = fit_ordinal(mf)
    assert fast.model.freq_weights is not None and len(fast.model.exog) < n / 10  # fitted on distinct rows
    levels = np.sort(d["score"].unique())
    y = pd.Series(pd.Categorical(d["score"], categories=levels, ordered=True))
    full = _OrderedLogit(y, d[["on_time", "days"]], distr="logit").fit(method="bfgs", disp=False, maxiter=3000)
    se = np.sqrt(np.diag(full.cov_params()))
    # the same maximum up to the optimiser's tolerance: within a hundredth of a standard error
    assert (np.abs(np.asarray(fast.params) - np.asarray(full.params)) < 0.01 * se).all()
    np.testing.assert_allclose(np.sqrt(np.diag(fast.cov_params())), se, rtol=1e-2)
    assert fast.model.loglike(np.asarray(fast.params)) == pytest.approx(full.llf, rel=1e-7)


def test_vif_from_the_inverse_correlation_matches_statsmodels():
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    from ipm_analysis.modelframe import frame_from_data
    from ipm_analysis.effects import collinearity

    rng = np.random.default_rng(7)
    n = 2000
    a = rng.normal(size=n)
    d = pd.DataFrame({"a": a, "b": 0.8 * a + 0.6 * rng.normal(size=n), "c": rng.poisson(3, n).astype(float),
                      "score": rng.integers(0, 11, n).astype(float)})
    mf = frame_from_data(d, ["a", "b", "c"])
    X = sm.add_constant(d[["a", "b", "c"]]).to_numpy()
    ref = [variance_inflation_factor(X, j) for j in (1, 2, 3)]
    np.testing.assert_allclose(collinearity(mf).vif["vif"], ref, rtol=1e-8)


def test_box_logits_on_distinct_rows_match_statsmodels_and_the_full_sandwich():
    from ipm_analysis.modelframe import frame_from_data
    from ipm_analysis.effects import _boxes, design_matrix, fit_box_logits

    rng = np.random.default_rng(8)
    n = 8000
    d = pd.DataFrame({"on_time": (rng.random(n) < 0.8).astype(float), "days": rng.poisson(2, n).astype(float)})
    eta = 0.9 * d["on_time"] - 0.3 * d["days"]
    d["score"] = np.clip(np.round(7 + 2 * eta + rng.logistic(size=n)), 0, 10)
    mf = frame_from_data(d, ["on_time", "days"], units={"on_time": "share", "days": "days"})
    fast = fit_box_logits(mf)
    X = design_matrix(mf)
    top, bottom = _boxes(mf)
    ref_t = sm.Logit(top, X).fit(disp=False, method="newton")
    ref_b = sm.Logit(bottom, X).fit(disp=False, method="newton")
    np.testing.assert_allclose(fast.top.params, ref_t.params, rtol=1e-7)
    np.testing.assert_allclose(fast.bottom.params, ref_b.params, rtol=1e-7)
    # the joint HC0 sandwich on every row, as before
    Xa = X.to_numpy()
    blocks, scores = [], []
    for res, y in ((ref_t, top), (ref_b, bottom)):
        p = res.predict(Xa)
        blocks.append(np.linalg.pinv((Xa * (p * (1 - p))[:, None]).T @ Xa))
        scores.append(Xa * (y - p)[:, None])
    k = Xa.shape[1]
    ainv = np.zeros((2 * k, 2 * k))
    ainv[:k, :k], ainv[k:, k:] = blocks
    S = np.hstack(scores)
    np.testing.assert_allclose(fast.cov, ainv @ (S.T @ S) @ ainv, rtol=1e-6)


def test_distinct_rows_and_counts_match_numpy_unique():
    from ipm_analysis.drivers import distinct_rows as _distinct_rows

    rng = np.random.default_rng(9)
    A = np.column_stack([rng.integers(0, 3, 20000), rng.random(20000) < 0.2, rng.poisson(1, 20000)]).astype(float)
    U, c = _distinct_rows(A)
    u_ref, c_ref = np.unique(A, axis=0, return_counts=True)
    order = np.lexsort(U.T[::-1])
    np.testing.assert_array_equal(U[order], u_ref)
    np.testing.assert_array_equal(c[order], c_ref)
    cont = rng.normal(size=(5000, 2))
    assert _distinct_rows(cont)[1] is None  # continuous rows are left as they are


def test_bootstrap_over_distinct_rows_has_the_row_bootstrap_distribution(monkeypatch):
    from ipm_analysis import drivers

    rng = np.random.default_rng(10)
    n = 20000
    X = np.column_stack([rng.random(n) < 0.8, rng.poisson(2, n), rng.integers(0, 11, n)]).astype(float)
    fast = drivers._bootstrap_covs(X, None, 400, np.random.default_rng(1))
    monkeypatch.setattr(drivers, "distinct_rows", lambda A: (A, None))  # the route over every row
    rows = drivers._bootstrap_covs(X, None, 400, np.random.default_rng(1))
    mc = 5 * rows.std(axis=0) * np.sqrt(2 / 400)  # five Monte Carlo standard errors of the difference
    assert (np.abs(fast.mean(axis=0) - rows.mean(axis=0)) <= mc).all()
    np.testing.assert_allclose(fast.std(axis=0), rows.std(axis=0), rtol=0.2)
