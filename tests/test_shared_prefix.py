"""Searches over a pipeline fit the steps before the last once per fold and shared setting.

scikit-learn's cv_results_ scores exactly, on the local backend (loky), the
dask backend (a real LocalCluster), and a dry run's plan that says so.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from numpy.testing import assert_array_equal
from scipy.stats import loguniform
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from scaleml import Scaled, explain
from scaleml.backends._shared_prefix import FoldCache, sharing_of

pytestmark = pytest.mark.timeout(300)

X, y = load_digits(return_X_y=True)
X, y = X[:900], y[:900]
GRID = {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}


def _pipe():
    return make_pipeline(StandardScaler(), PCA(20, svd_solver="full"), LogisticRegression(max_iter=300))


def _scores(search):
    return {key: value for key, value in search.cv_results_.items() if "score" in key and "time" not in key}


def _assert_same_results(ours, theirs):
    for key, value in _scores(theirs).items():
        assert_array_equal(ours.cv_results_[key], value, err_msg=key)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    assert ours.best_params_ == theirs.best_params_
    assert_array_equal(ours.predict(X), theirs.predict(X))


def _leftovers():
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("scaleml-prefix-")}


@pytest.mark.parametrize("backend, options", [("local", {"n_jobs": 2}), ("dask", {"n_workers": 2})],
                         ids=["local-loky", "dask-localcluster"])
def test_grid_over_the_last_step_fits_the_prefix_once_per_fold(backend, options):
    before = _leftovers()
    theirs = GridSearchCV(_pipe(), GRID, cv=3, n_jobs=2).fit(X, y)
    model = Scaled(GridSearchCV(_pipe(), GRID, cv=3, n_jobs=2), backend=backend, **options).fit(X, y)
    _assert_same_results(model.estimator_, theirs)
    step = model.plan_[0]
    assert "fitted once per fold for each of one setting, shared by 4 candidates" in step.reason
    # 3 folds x 2 prefix steps, plus the refit's 2: not 4 candidates x 3 folds x 2 + 2 = 26
    assert step.observed["prefix_fits"] == 3 * 2 + 2
    fitted = model.estimator_
    assert fitted.estimator.memory is None and fitted.best_estimator_.memory is None
    assert _leftovers() == before  # the cache folder is gone


def test_a_grid_over_the_prefix_too_shares_each_setting():
    grid = {"pca__n_components": [10, 20], "logisticregression__C": [0.1, 1.0, 10.0]}
    theirs = GridSearchCV(_pipe(), grid, cv=3).fit(X, y)
    model = Scaled(GridSearchCV(_pipe(), grid, cv=3), backend="local").fit(X, y)
    _assert_same_results(model.estimator_, theirs)
    assert "for each of 2 settings, shared by 6 candidates" in model.plan_[0].reason
    # the scaler: one setting (3 folds); PCA: 2 settings x 3 folds; the refit 2
    assert model.plan_[0].observed["prefix_fits"] == 3 + 2 * 3 + 2


def test_nothing_shared_is_left_alone_and_the_plan_says_nothing():
    grid = {"pca__n_components": [10, 20]}  # every candidate a new prefix
    assert sharing_of(GridSearchCV(_pipe(), grid)) is None
    assert sharing_of(RandomizedSearchCV(_pipe(), {"logisticregression__C": loguniform(0.01, 10)}, n_iter=3)) \
        is not None
    assert sharing_of(RandomizedSearchCV(_pipe(), {"pca__n_components": range(5, 30)}, n_iter=3)) is None
    assert sharing_of(GridSearchCV(Pipeline([("pca", _pipe()[1]), ("lr", _pipe()[2])], memory="somewhere"), GRID)) \
        is None  # the user's own cache is theirs
    model = Scaled(GridSearchCV(_pipe(), grid, cv=2), backend="local").fit(X, y)
    assert "prefix_fits" not in model.plan_[0].observed and "shared" not in model.plan_[0].reason


def test_switched_off_it_refits_as_scikit_learn_does():
    model = Scaled(GridSearchCV(_pipe(), GRID, cv=2), backend="local", share_prefix=False).fit(X, y)
    assert "prefix_fits" not in model.plan_[0].observed
    assert "shared by" not in model.plan_[0].reason


def test_explain_says_it_before_fitting_and_equals_the_fit():
    model = Scaled(GridSearchCV(_pipe(), GRID, cv=2), backend="local")
    planned = explain(model, X=X, y=y)
    assert "shared by 4 candidates" in planned[0].reason
    assert planned == model.fit(X, y).plan_


def test_a_prefix_the_cache_cannot_hash_is_fitted_as_usual():
    pipe = Pipeline([("double", FunctionTransformer(lambda a: a * 2)), ("lr", LogisticRegression(max_iter=300))])
    grid = {"lr__C": [0.1, 1.0]}
    theirs = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    model = Scaled(GridSearchCV(pipe, grid, cv=2), backend="local").fit(X, y)
    _assert_same_results(model.estimator_, theirs)
    assert model.plan_[0].observed["prefix_fits"] == 0  # nothing could be stored: every fit computed


def test_a_remote_scheduler_address_shares_nothing_and_says_why():
    model = Scaled(GridSearchCV(_pipe(), GRID), backend="dask", address="tcp://scheduler.example:8786")
    assert "the workers are on other machines" in explain(model, X=X, y=y)[0].reason


def test_a_halving_search_shares_within_each_round():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    grid = {"logisticregression__C": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]}
    theirs = HalvingGridSearchCV(_pipe(), grid, cv=3, random_state=0).fit(X, y)
    model = Scaled(HalvingGridSearchCV(_pipe(), grid, cv=3, random_state=0), backend="local").fit(X, y)
    _assert_same_results(model.estimator_, theirs)
    # each round fits the prefix once per fold on its own rows: 2 rounds x 3 folds x 2 steps + the refit's 2
    assert model.plan_[0].observed["prefix_fits"] == theirs.n_iterations_ * 3 * 2 + 2


def _slow_double(x, seen):
    seen.append(x)
    time.sleep(0.5)
    return 2 * x


def test_a_fit_under_way_elsewhere_is_waited_for_not_repeated(tmp_path):
    """Two candidates on one fold may start at once on two workers (the flake that showed
    10 prefix fits for 8): the second waits for the first's result instead of fitting too."""
    cache = FoldCache(str(tmp_path))
    seen: list = []
    cached = cache.cache(_slow_double, ignore=["seen"])
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(cached(21, seen))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42, 42, 42] and seen == [21] and cache.fits() == 1
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".fitting")]


def test_a_claim_left_by_a_dead_process_does_not_hold_the_fit(tmp_path):
    cache = FoldCache(str(tmp_path))
    seen: list = []
    cached = cache.cache(_slow_double, ignore=["seen"])
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claim = tmp_path / f"{cached._key((5, seen), {})}.joblib.fitting"
    claim.write_text(gone.stdout.strip())
    assert cached(5, seen) == 10 and seen == [5]
    assert not claim.exists()  # removed, not left for the next fit to wait on


def _slow_unstorable(x, seen):
    seen.append(("start", x))
    time.sleep(0.5)
    seen.append(("end", x))
    return lambda: x  # pickle cannot store it


def test_a_result_that_cannot_be_stored_lets_the_waiting_fits_go_on(tmp_path):
    cache = FoldCache(str(tmp_path))
    seen: list = []
    cached = cache.cache(_slow_unstorable, ignore=["seen"])
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(cached(7, seen)())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [7, 7, 7]
    # Each fits (nothing to share): the first alone, then the two that waited for it at
    # once, not one after the other.
    assert [event for event, _ in seen] == ["start", "end", "start", "start", "end", "end"]
