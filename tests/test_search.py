"""Hyperband and successive halving: the schedule, and real searches on threads and Dask."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier

import scaleml
from scaleml.exceptions import DataError, InvalidParameterError
from scaleml.search import HyperbandSearchCV, SuccessiveHalvingSearchCV
from scaleml.search._schedule import halving_bracket, hyperband_brackets
from scaleml.planning import Route  # noqa: E402

pytestmark = pytest.mark.timeout(300)

X, y = make_classification(n_samples=3_000, n_features=20, n_informative=8, random_state=0)
SPACE = {
    "alpha": loguniform(1e-6, 1e-1),
    "loss": ["hinge", "log_loss", "modified_huber"],
    "penalty": ["l2", "l1"],
}


def _sgd():
    return SGDClassifier(tol=None, random_state=0)  # deterministic: equal runs give equal models


# -- the schedule ----------------------------------------------------------------------


def test_hyperband_brackets_follow_the_paper():
    """Li et al.'s table for R=81, eta=3: (n, r) = (81,1) (34,3) (15,9) (8,27) (5,81)."""
    brackets = hyperband_brackets(81, 3)
    assert [(b.counts[0], b.budgets[0]) for b in brackets] == [(81, 1), (34, 3), (15, 9), (8, 27), (5, 81)]
    assert brackets[0].counts == [81, 27, 9, 3, 1] and brackets[0].budgets == [1, 3, 9, 27, 81]
    assert brackets[1].counts == [34, 11, 3, 1]
    assert all(b.budgets[-1] == 81 for b in brackets)
    # planned cost of the most aggressive bracket: 81*1 + 27*2 + 9*6 + 3*18 + 1*54
    assert brackets[0].planned_calls == 81 + 54 + 54 + 54 + 54


def test_successive_halving_stops_at_one_model_or_the_cap():
    assert halving_bracket(10, 1, 3, None).counts == [10, 3, 1]
    capped = halving_bracket(30, 2, 3, 10)
    assert capped.budgets == [2, 6, 10] and capped.counts == [30, 10, 3]


def test_a_rung_promotes_the_best_and_never_a_failure():
    bracket = halving_bracket(4, 1, 2, None)  # counts 4, 2, 1
    bracket.start([0, 1, 2, 3])
    assert bracket.report(0, 0.5) is None
    assert bracket.report(1, float("nan")) is None
    assert bracket.report(2, 0.9) is None
    assert bracket.report(3, 0.5) == [2, 0]  # the tie goes to the model started first
    assert bracket.report(2, 0.1) is None
    assert bracket.report(0, 0.2) == [0]


# -- searches --------------------------------------------------------------------------


def _check_consistent(search, max_calls):
    results = search.cv_results_
    best = search.best_index_
    assert search.best_score_ == np.nanmax(results["test_score"]) == results["test_score"][best]
    assert search.best_params_ == results["params"][best]
    assert results["rank_test_score"][best] == 1
    assert results["partial_fit_calls"].max() <= max_calls
    assert search.metadata_["partial_fit_calls"] == results["partial_fit_calls"].sum()
    # the best model is exactly the candidate trained that many calls, no more
    calls = results["partial_fit_calls"][best]
    n_train = len(X) - int(np.ceil(0.15 * len(X)))
    assert search.best_estimator_.t_ == calls * n_train + 1
    assert search.score(X, y) == pytest.approx(search.best_estimator_.score(X, y))
    assert_array_equal(search.predict(X), search.best_estimator_.predict(X))


def test_hyperband_on_threads():
    search = HyperbandSearchCV(_sgd(), SPACE, max_iter=9, random_state=0, n_jobs=2).fit(X, y)
    assert search.metadata_["partial_fit_calls"] == search.metadata["planned_partial_fit_calls"]
    assert search.metadata_["n_models"] == len(search.cv_results_["params"]) == 9 + 5 + 3
    _check_consistent(search, 9)
    assert search.best_score_ > 0.8


def test_dask_futures_give_the_same_search_as_threads():
    local = HyperbandSearchCV(_sgd(), SPACE, max_iter=9, random_state=1, backend="local").fit(X, y)
    on_dask = HyperbandSearchCV(_sgd(), SPACE, max_iter=9, random_state=1, backend="dask").fit(X, y)
    assert on_dask.metadata_["where"].startswith("Dask cluster at tcp://")
    assert on_dask.best_params_ == local.best_params_
    assert_array_equal(on_dask.cv_results_["test_score"], local.cv_results_["test_score"])
    assert_array_equal(on_dask.cv_results_["partial_fit_calls"], local.cv_results_["partial_fit_calls"])
    _check_consistent(on_dask, 9)


def test_backend_block_is_followed():
    with scaleml.backend("dask"):
        search = SuccessiveHalvingSearchCV(_sgd(), SPACE, n_initial_parameters=6, random_state=0).fit(X, y)
    assert search.metadata_["where"].startswith("Dask cluster")
    _check_consistent(search, 9)


def test_successive_halving_reports_rungs(capsys):
    search = SuccessiveHalvingSearchCV(_sgd(), SPACE, n_initial_parameters=9, n_initial_iter=2, random_state=0,
                                       verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "rung 0: 9 models at 2 partial_fit calls" in out and "rung 2: 1 models at 18" in out
    assert search.metadata_["partial_fit_calls"] == 9 * 2 + 3 * 4 + 1 * 12
    _check_consistent(search, 18)


def test_failing_candidates_score_error_score_and_are_not_promoted():
    space = {"alpha": [1e-4, -1.0], "loss": ["hinge"]}  # a negative alpha is refused by SGDClassifier
    with pytest.warns(FitFailedWarning, match="candidates failed.*alpha"):
        search = SuccessiveHalvingSearchCV(_sgd(), space, n_initial_parameters=2, random_state=0).fit(X, y)
    assert search.best_params_["alpha"] == 1e-4
    assert np.isnan(search.cv_results_["test_score"]).sum() == 1
    with pytest.raises(ValueError, match="alpha"):
        SuccessiveHalvingSearchCV(_sgd(), space, n_initial_parameters=2, error_score="raise").fit(X, y)


@pytest.mark.parametrize(
    "search, error, match",
    [
        (HyperbandSearchCV(LogisticRegression(), SPACE), InvalidParameterError, "does not have.*SGDClassifier"),
        (HyperbandSearchCV(_sgd(), SPACE, aggressiveness=1), InvalidParameterError,
         r"'aggressiveness' parameter of HyperbandSearchCV must be an int in the range \[2, inf\). Got 1"),
        (HyperbandSearchCV(_sgd(), SPACE, max_iter=-1), InvalidParameterError,
         r"'max_iter' parameter of HyperbandSearchCV must be an int in the range \[1, inf\). Got -1"),
        (HyperbandSearchCV(_sgd(), SPACE, test_size=1.5), InvalidParameterError,
         r"'test_size' parameter of HyperbandSearchCV must be a float in the range \(0, 1\)"),
        (SuccessiveHalvingSearchCV(_sgd(), SPACE, n_initial_iter=0), InvalidParameterError, "'n_initial_iter' parameter"),
        (SuccessiveHalvingSearchCV(_sgd(), SPACE, n_initial_iter=3, max_iter=2), InvalidParameterError,
         "'max_iter' parameter of SuccessiveHalvingSearchCV must be None or at least n_initial_iter=3"),
    ],
)
def test_bad_settings_are_named(search, error, match):
    with pytest.raises(error, match=match):
        search.fit(X, y)


def test_lazy_data_is_refused_with_the_way_forward():
    da = pytest.importorskip("dask.array")
    with pytest.raises(DataError, match="in-memory data.*search on a sample"):
        HyperbandSearchCV(_sgd(), SPACE).fit(da.from_array(X), da.from_array(y))


def test_clone_and_get_params_work():
    search = HyperbandSearchCV(_sgd(), SPACE, max_iter=27)
    assert clone(search).get_params()["max_iter"] == 27
    assert search.metadata["n_models"] == 27 + 12 + 6 + 4


def test_cnn_with_epochs_as_the_budget():
    pytest.importorskip("torch")
    from scaleml.nn import CNNClassifier

    digits_X, digits_y = load_digits(return_X_y=True)
    digits_X = (digits_X / 16.0).reshape(-1, 1, 8, 8)[:600]
    cnn = CNNClassifier(channels=(4,), batch_size=64, random_state=0)
    search = HyperbandSearchCV(cnn, {"learning_rate": [1e-3, 3e-3, 1e-2]}, max_iter=3, random_state=0)
    search.fit(digits_X, digits_y[:600])
    best = search.best_index_
    assert search.best_estimator_.n_epochs_ == search.cv_results_["partial_fit_calls"][best]
    assert search.cv_results_["partial_fit_calls"].max() == 3
    assert search.best_score_ > 0.5


def test_inside_scaled_it_runs_where_the_plan_says():
    """Scaled(search, backend="dask") trains the candidates on that cluster, and says so."""
    space = {"alpha": [1e-4, 1e-3, 1e-2]}
    model = scaleml.Scaled(HyperbandSearchCV(_sgd(), space, max_iter=3, random_state=0), backend="dask").fit(X, y)
    assert model.estimator_.metadata_["where"].startswith("Dask cluster")
    step = model.plan_[0]
    assert step.route is Route.ADAPTIVE_SEARCH_ON_CLUSTER and step.parallelism.startswith("Dask futures on a LocalCluster")
    assert "Dask futures" in step.reason
    local = scaleml.explain(HyperbandSearchCV(_sgd(), space, n_jobs=2), backend="local")[0]
    assert local.parallelism == "threads here (n_jobs=2)"


def test_estimators_without_targets():
    """MiniBatchKMeans learns with partial_fit(X); candidates are compared by its score."""
    from sklearn.cluster import MiniBatchKMeans

    for backend in ("local", "dask"):
        search = SuccessiveHalvingSearchCV(MiniBatchKMeans(n_init=1, random_state=0), {"n_clusters": [2, 4, 8, 16]},
                                           n_initial_parameters=4, random_state=0, backend=backend).fit(X)
        assert search.best_params_["n_clusters"] == 16  # the score (negative inertia) favours more clusters
        assert search.transform(X).shape == (len(X), 16)
