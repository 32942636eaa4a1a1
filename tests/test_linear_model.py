"""scaleml.linear_model against scikit-learn: same objective, same coefficients.

In memory, on Dask arrays with threads, on a real LocalCluster (blocks kept on
the workers, or read again every pass), and from Parquet files.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.linear_model as sk
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from scaleml.exceptions import DataError
from scaleml.linear_model import LinearRegression, LogisticRegression, Ridge, from_sklearn
from scaleml.planning import Route  # noqa: E402

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(300)

RTOL = 1e-4  # the acceptance: coefficients within 1e-4 relative of scikit-learn's

X_BIN, Y_BIN = make_classification(n_samples=6_000, n_features=12, n_informative=6, random_state=0)
X_REG, Y_REG = make_regression(n_samples=4_000, n_features=10, noise=5.0, random_state=0)
X_REG = X_REG + 50.0  # offsets far from zero: the merge of centred sums must stay exact


def _relative(ours, theirs):
    return np.max(np.abs(np.asarray(ours) - theirs)) / np.max(np.abs(theirs))


def _reference(**params):
    """scikit-learn converged tightly: the optimum both should reach."""
    return sk.LogisticRegression(tol=1e-10, max_iter=10_000, **params)


def _lazy(X, y, rows):
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=rows)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            yield client


# -- logistic regression ---------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"C": 0.05}, {"fit_intercept": False}], ids=["default", "C", "no-intercept"])
@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_binary_matches_sklearn_in_memory(params, solver):
    reference = _reference(**params).fit(X_BIN, Y_BIN)
    tol = 1e-4 if solver == "newton" else 1e-9  # L-BFGS stops nearer only when asked to
    model = LogisticRegression(solver=solver, tol=tol, max_iter=1000, **params).fit(X_BIN, Y_BIN)
    assert _relative(model.coef_, reference.coef_) < RTOL
    if params.get("fit_intercept", True):
        assert _relative(model.intercept_, reference.intercept_) < RTOL
    assert model.coef_.shape == reference.coef_.shape and model.intercept_.shape == reference.intercept_.shape
    assert_array_equal(model.predict(X_BIN), reference.predict(X_BIN))
    assert_allclose(model.predict_proba(X_BIN), reference.predict_proba(X_BIN), atol=1e-6)


@pytest.mark.parametrize("loader", [load_iris, load_digits], ids=["iris", "digits"])
def test_multinomial_matches_sklearn(loader):
    X, y = loader(return_X_y=True)
    X = X / X.max()
    reference = _reference().fit(X, y)
    model = LogisticRegression(solver="newton").fit(X, y)
    assert _relative(model.coef_, reference.coef_) < RTOL
    assert _relative(model.intercept_, reference.intercept_) < RTOL  # both sum to zero
    assert_array_equal(model.predict(X), reference.predict(X))


def test_no_penalty_matches_sklearn():
    X = X_BIN + np.random.default_rng(0).normal(scale=3.0, size=X_BIN.shape)  # not separable
    reference = _reference(C=np.inf).fit(X, Y_BIN)
    model = LogisticRegression(C=np.inf).fit(X, Y_BIN)
    assert _relative(model.coef_, reference.coef_) < RTOL


def test_string_labels_and_their_order():
    labels = np.array(["spam", "ham"])[Y_BIN]
    model = LogisticRegression().fit(*_lazy(X_BIN, labels, 1_000))
    reference = _reference().fit(X_BIN, labels)
    assert_array_equal(model.classes_, ["ham", "spam"])
    assert _relative(model.coef_, reference.coef_) < RTOL
    assert_array_equal(model.predict(X_BIN), reference.predict(X_BIN))


def test_dask_arrays_on_threads_match_in_memory():
    in_memory = LogisticRegression().fit(X_BIN, Y_BIN)
    lazy = LogisticRegression().fit(*_lazy(X_BIN, Y_BIN, 700))
    assert_allclose(lazy.coef_, in_memory.coef_, rtol=1e-9)
    assert lazy.n_iter_[0] == in_memory.n_iter_[0]
    # every step is one pass; the first also validated the blocks
    assert lazy.n_passes_ == in_memory.n_iter_[0] + 1


def test_local_cluster_keeps_blocks_on_workers_and_matches(client, capsys):
    reference = _reference().fit(X_BIN, Y_BIN)
    model = LogisticRegression(verbose=1).fit(*_lazy(X_BIN, Y_BIN, 1_000))
    assert _relative(model.coef_, reference.coef_) < RTOL
    assert "kept on the Dask workers" in capsys.readouterr().out
    predicted = model.predict(da.from_array(X_BIN, chunks=(1_000, 12)))
    assert isinstance(predicted, da.Array)  # lazy in, lazy out
    assert_array_equal(predicted.compute(), reference.predict(X_BIN))


def test_persist_false_reads_the_source_every_pass(client, capsys):
    """Blocks not kept are read again on each pass, and give the same model."""
    Xd, yd = _lazy(X_BIN, Y_BIN, 1_000)
    streamed = LogisticRegression(persist=False, verbose=1).fit(Xd, yd)
    assert "read from the source on every pass (persist=False)" in capsys.readouterr().out
    kept = LogisticRegression().fit(Xd, yd)
    assert_allclose(streamed.coef_, kept.coef_, rtol=1e-9)


def test_memory_budget_decides_persisting(client, monkeypatch, capsys):
    from scaleml.data import Blocks

    monkeypatch.setattr(Blocks, "memory_budget", lambda self: 1_000)
    LogisticRegression(verbose=1).fit(*_lazy(X_BIN, Y_BIN, 1_000))
    assert re.search(r"read from the source on every pass: 1 MiB exceeds the 0 MiB budget", capsys.readouterr().out)


def test_parquet_files_with_a_target_column(tmp_path):
    for i in range(3):
        rows = slice(i * 2_000, (i + 1) * 2_000)
        frame = pd.DataFrame(X_BIN[rows], columns=[f"f{j}" for j in range(12)])
        frame["label"] = Y_BIN[rows]
        frame.to_parquet(tmp_path / f"part-{i}.parquet")
    path = str(tmp_path / "*.parquet")
    model = LogisticRegression().fit(path, "label")
    assert _relative(model.coef_, _reference().fit(X_BIN, Y_BIN).coef_) < RTOL
    # The same column arguments as fit: the target column is left out of the features.
    assert_array_equal(model.predict(path).compute(), model.predict(X_BIN))
    assert model.score(path, "label") == pytest.approx(model.score(X_BIN, Y_BIN))
    ridge = Ridge().fit(path, "label")
    assert ridge.score(path, "label") == pytest.approx(ridge.score(X_BIN, Y_BIN))
    with pytest.raises(DataError, match="needs y"):
        model.score(path)


def test_an_in_memory_refit_forgets_the_lazy_fits_target_column():
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    from scaleml.linear_model import LinearRegression

    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3, "t": np.arange(20.0) * 2})
    model = LinearRegression().fit(dd.from_pandas(frame, npartitions=2), "t")
    assert model.target_column_ == "t"
    model.fit(frame.to_numpy(), frame["t"].to_numpy())
    assert model.target_column_ is None and model.predict(frame.to_numpy()).shape == (20,)


def test_to_sklearn_predicts_the_same():
    model = LogisticRegression().fit(X_BIN, Y_BIN)
    plain = model.to_sklearn()
    assert type(plain) is sk.LogisticRegression
    assert_array_equal(plain.predict(X_BIN), model.predict(X_BIN))
    assert_allclose(plain.predict_proba(X_BIN), model.predict_proba(X_BIN))


def test_not_converging_warns_like_sklearn():
    with pytest.warns(ConvergenceWarning, match="failed to converge after 1 iteration.*max_iter"):
        LogisticRegression(max_iter=1, solver="lbfgs").fit(X_BIN, Y_BIN)


# -- least squares ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ours, theirs",
    [(LinearRegression(), sk.LinearRegression()), (Ridge(alpha=30.0), sk.Ridge(alpha=30.0)),
     (Ridge(fit_intercept=False), sk.Ridge(fit_intercept=False))],
    ids=["ols", "ridge", "ridge-no-intercept"],
)
@pytest.mark.parametrize("form", ["numpy", "dask"])
def test_least_squares_match_sklearn(ours, theirs, form):
    reference = theirs.fit(X_REG, Y_REG)
    data = (X_REG, Y_REG) if form == "numpy" else _lazy(X_REG, Y_REG, 600)
    model = ours.fit(*data)
    assert _relative(model.coef_, reference.coef_) < 1e-9
    assert model.intercept_ == pytest.approx(reference.intercept_, rel=1e-9, abs=1e-9)
    assert model.n_passes_ == 1


def test_least_squares_several_targets_in_memory():
    Y = np.column_stack([Y_REG, 2 * Y_REG + 1])
    reference = sk.Ridge(alpha=3.0).fit(X_REG, Y)
    model = Ridge(alpha=3.0).fit(X_REG, Y)
    assert model.coef_.shape == reference.coef_.shape
    assert_allclose(model.coef_, reference.coef_, rtol=1e-9)
    assert_allclose(model.intercept_, reference.intercept_, rtol=1e-9)


def test_least_squares_on_the_cluster(client):
    model = Ridge(alpha=2.0).fit(*_lazy(X_REG, Y_REG, 500))
    assert_allclose(model.coef_, sk.Ridge(alpha=2.0).fit(X_REG, Y_REG).coef_, rtol=1e-9)
    assert_allclose(model.predict(da.from_array(X_REG, chunks=(500, 10))).compute(), model.predict(X_REG))


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator, message",
    [
        (LogisticRegression(C=0), r"'C' parameter of LogisticRegression must be a float in the range \(0, inf\]"),
        (LogisticRegression(solver="sag"), r"'solver' parameter .* must be a str among \{'auto', 'lbfgs', 'newton'\}. Got 'sag'"),
        (LogisticRegression(max_iter=0), "'max_iter' parameter"),
        (LogisticRegression(persist="yes"), r"'persist' parameter .* must be a bool or a str among \{'auto'\}"),
        (Ridge(alpha=-1), "'alpha' parameter of Ridge"),
    ],
)
def test_bad_parameters_are_named(estimator, message):
    with pytest.raises(ValueError, match=message):
        estimator.fit(X_BIN, Y_BIN)


def test_nan_in_one_lazy_block_gets_sklearns_message():
    X = X_BIN.copy()
    X[4_500, 3] = np.nan
    for estimator in (LogisticRegression(), LinearRegression()):
        with pytest.raises(ValueError, match="Input X contains NaN"):
            estimator.fit(*_lazy(X, Y_BIN, 1_000))


def test_one_class_and_two_d_targets_are_refused():
    with pytest.raises(ValueError, match=r"at least 2 classes.*only one class: np.int64\(1\)"):
        LogisticRegression().fit(*_lazy(X_BIN, np.ones(len(X_BIN), dtype=int), 1_000))
    with pytest.raises(ValueError, match="y must be 1-d"):
        Ridge().fit(da.from_array(X_REG, chunks=(500, 10)), da.from_array(np.column_stack([Y_REG, Y_REG])))


def test_wrong_number_of_features_at_predict():
    model = LogisticRegression().fit(X_BIN, Y_BIN)
    with pytest.raises(ValueError, match="X has 3 features, but LogisticRegression is expecting 12"):
        model.predict(da.from_array(X_BIN[:, :3]))


# -- scikit-learn twins ----------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator, twin",
    [
        (sk.LogisticRegression(C=3.0, tol=1e-6), LogisticRegression(C=3.0, tol=1e-6)),
        (sk.LinearRegression(fit_intercept=False), LinearRegression(fit_intercept=False)),
        (sk.Ridge(alpha=0.5), Ridge(alpha=0.5)),
        (sk.LogisticRegression(l1_ratio=1.0, solver="saga"), None),
        (sk.LogisticRegression(class_weight="balanced"), None),
        (sk.LogisticRegression(solver="liblinear"), None),  # penalizes the intercept too
        (sk.Ridge(positive=True), None),
    ],
)
def test_from_sklearn(estimator, twin):
    found = from_sklearn(estimator)
    if twin is None:
        assert found is None
    else:
        assert type(found) is type(twin) and found.get_params() == twin.get_params()


def test_unpenalized_sklearn_model_has_an_unpenalized_twin():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # penalty is deprecated in scikit-learn 1.8
        estimator = sk.LogisticRegression(penalty=None)
    assert from_sklearn(estimator).C == np.inf


@parametrize_with_checks([LogisticRegression(), LinearRegression(), Ridge()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_runs_on_the_active_backends_cluster_and_the_plan_says_so(capsys):
    from scaleml import Scaled

    Xd, yd = _lazy(X_BIN, Y_BIN, 1_500)
    model = Scaled(LogisticRegression(verbose=1), backend="dask").fit(Xd, yd)
    assert "kept on the Dask workers" in capsys.readouterr().out
    step = model.plan_[0]
    assert step.engine == "scaleml.linear_model" and step.route is Route.BLOCKED_ON_CLUSTER
    in_memory = Scaled(LogisticRegression(), backend="local").fit(X_BIN, Y_BIN)
    assert in_memory.plan_[0].parallelism == "1 process"
    assert_allclose(model.estimator_.coef_, in_memory.estimator_.coef_, rtol=1e-9)
