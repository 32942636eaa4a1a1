"""scaleml.linear_model.PoissonRegressor against scikit-learn's: in memory, Dask and files."""

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn import linear_model as sk

from scaleml import Scaled
from scaleml.linear_model import PoissonRegressor

RNG = np.random.RandomState(0)
X = RNG.normal(size=(3000, 6))
Y = RNG.poisson(np.exp(X @ np.array([0.3, -0.2, 0.1, 0.0, 0.5, -0.4]) + 0.2)).astype(float)


def _reference(**params):
    # scikit-learn's Newton solver to a tight tolerance: its optimum, not where its default tol stops.
    return sk.PoissonRegressor(solver="newton-cholesky", tol=1e-12, max_iter=1000, **params).fit(X, Y)


def _relative(model, reference):
    ours = np.r_[model.coef_, model.intercept_]
    theirs = np.r_[reference.coef_, reference.intercept_]
    return np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
@pytest.mark.parametrize("alpha, fit_intercept", [(1.0, True), (0.01, True), (0.0, False)])
def test_coefficients_as_sklearn_in_memory_and_dask(solver, alpha, fit_intercept):
    reference = _reference(alpha=alpha, fit_intercept=fit_intercept)
    params = dict(alpha=alpha, fit_intercept=fit_intercept, solver=solver, tol=1e-8, max_iter=500)
    eager = PoissonRegressor(**params).fit(X, Y)
    lazy = PoissonRegressor(**params).fit(da.from_array(X, chunks=700), da.from_array(Y, chunks=700))
    assert _relative(eager, reference) < 1e-4
    assert _relative(lazy, reference) < 1e-4
    assert lazy.n_passes_ >= 2  # validation pass + solver passes, each over every block
    np.testing.assert_allclose(lazy.predict(da.from_array(X, chunks=700)).compute(), reference.predict(X), rtol=1e-4)
    assert eager.score(X, Y) == pytest.approx(reference.score(X, Y), rel=1e-6)


def test_default_settings_within_1e4_of_sklearns_defaults():
    ours, theirs = PoissonRegressor().fit(X, Y), sk.PoissonRegressor().fit(X, Y)
    assert _relative(ours, theirs) < 1e-4


def test_parquet_files_and_the_dask_ml_backend(tmp_path):
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(count=Y)
    dd.from_pandas(frame, npartitions=4).to_parquet(tmp_path / "data")
    reference = _reference()
    model = PoissonRegressor(tol=1e-8).fit(str(tmp_path / "data"), "count")
    assert _relative(model, reference) < 1e-4
    # The dask-ml backend fits scikit-learn's PoissonRegressor with it past the budget and leaves it scikit-learn's.
    scaled = Scaled(sk.PoissonRegressor(tol=1e-8), backend="dask-ml", max_in_memory_bytes=2**12)
    scaled.fit(da.from_array(X, chunks=500), da.from_array(Y, chunks=500))
    assert scaled.plan_[0].engine == "scaleml.linear_model"
    assert isinstance(scaled.estimator_, sk.PoissonRegressor)
    np.testing.assert_allclose(scaled.estimator_.predict(X[:50]), reference.predict(X[:50]), rtol=1e-4)


def test_bad_input_gets_sklearns_errors():
    nan_block = X.copy()
    nan_block[2500, 3] = np.nan  # in the last block only
    with pytest.raises(ValueError, match="Input X contains NaN") as sklearn_error:
        sk.PoissonRegressor().fit(nan_block, Y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        PoissonRegressor().fit(da.from_array(nan_block, chunks=700), da.from_array(Y, chunks=700))
    assert "Input X contains NaN" in str(sklearn_error.value)
    negative = Y.copy()
    negative[10] = -1.0
    for fit in (sk.PoissonRegressor().fit, PoissonRegressor().fit):
        with pytest.raises(ValueError, match="out of the valid range of the loss 'HalfPoissonLoss'"):
            fit(X, negative)
    with pytest.raises(ValueError, match="out of the valid range"):
        PoissonRegressor().fit(da.from_array(X, chunks=700), da.from_array(negative, chunks=700))


def test_an_empty_block_is_skipped():
    chunks = ((0, 1000, 2000), (6,))
    model = PoissonRegressor(tol=1e-8).fit(da.from_array(X, chunks=chunks), da.from_array(Y, chunks=(chunks[0],)))
    assert _relative(model, _reference()) < 1e-4


def test_score_on_lazy_data_names_the_way():
    from scaleml.exceptions import DataError

    model = PoissonRegressor().fit(X, Y)
    with pytest.raises(DataError, match="d2_tweedie_score"):
        model.score(da.from_array(X, chunks=700), da.from_array(Y, chunks=700))


def test_passes_sklearns_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    failed = [r for r in check_estimator(PoissonRegressor(), on_fail=None) if r["status"] == "failed"]
    assert failed == []
