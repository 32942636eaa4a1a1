"""Scaled on the local backend behaves exactly like the estimator it wraps."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scaleml import Scaled
from scaleml.exceptions import BackendOptionError


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y  # pixel values 0..16; scaled so solvers converge fast


@pytest.mark.parametrize(
    "estimator, methods",
    [
        (LogisticRegression(max_iter=2000), ["predict", "predict_proba", "decision_function"]),
        (make_pipeline(StandardScaler(), LogisticRegression()), ["predict", "predict_proba"]),
        (RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=2), ["predict", "predict_proba"]),
        (PCA(n_components=5, random_state=0), ["transform"]),
        (KMeans(n_clusters=10, n_init=2, random_state=0), ["predict", "transform"]),
    ],
    ids=["logreg", "pipeline", "forest", "pca", "kmeans"],
)
def test_same_results_as_bare_estimator(digits, estimator, methods):
    X, y = digits
    bare = clone(estimator).fit(X, y)
    scaled = Scaled(estimator, backend="local").fit(X, y)
    for method in methods:
        assert_array_equal(getattr(scaled, method)(X), getattr(bare, method)(X), err_msg=method)
    # The wrapped estimator is untouched; estimator_ is a plain fitted estimator.
    assert not hasattr(estimator, "n_features_in_")
    assert type(scaled.estimator_) is type(estimator)
    for method in methods:
        assert_array_equal(getattr(scaled.estimator_, method)(X), getattr(bare, method)(X))


def test_regressor_and_score():
    X, y = load_diabetes(return_X_y=True)
    scaled = Scaled(Ridge(alpha=0.5)).fit(X, y)
    bare = Ridge(alpha=0.5).fit(X, y)
    assert is_regressor(scaled) and not is_classifier(scaled)
    assert scaled.score(X, y) == pytest.approx(bare.score(X, y), rel=0, abs=0)
    assert not hasattr(scaled, "predict_proba")


def test_classifier_attributes(digits):
    X, y = digits
    scaled = Scaled(LogisticRegression(max_iter=2000))
    assert is_classifier(scaled)
    assert not hasattr(scaled, "classes_")
    scaled.fit(X, y)
    assert_array_equal(scaled.classes_, np.arange(10))
    assert scaled.n_features_in_ == 64


def test_fit_transform_matches_bare(digits):
    X, _ = digits
    assert_allclose(
        Scaled(PCA(n_components=3, random_state=0)).fit_transform(X),
        PCA(n_components=3, random_state=0).fit_transform(X),
    )


def test_fit_predict_for_clusterers(digits):
    X, _ = digits
    km = KMeans(n_clusters=5, n_init=2, random_state=0)
    assert_array_equal(Scaled(km).fit_predict(X), clone(km).fit_predict(X))


def test_feature_names_follow_pandas_input():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    scaled = Scaled(StandardScaler()).fit(X, y)
    assert_array_equal(scaled.feature_names_in_, X.columns)
    assert_array_equal(scaled.get_feature_names_out(), X.columns)
    assert isinstance(X, pd.DataFrame)


def test_unfitted_raises_not_fitted(digits):
    X, _ = digits
    with pytest.raises(NotFittedError):
        Scaled(LogisticRegression()).predict(X)


def test_fit_params_reach_the_estimator(digits):
    X, y = digits
    weights = np.where(y == 3, 10.0, 1.0)
    bare = LogisticRegression(max_iter=2000).fit(X, y, sample_weight=weights)
    scaled = Scaled(LogisticRegression(max_iter=2000)).fit(X, y, sample_weight=weights)
    assert_array_equal(scaled.predict_proba(X), bare.predict_proba(X))


def test_backend_options_are_parameters():
    model = Scaled(LogisticRegression(), backend="local", n_jobs=2)
    assert model.get_params()["n_jobs"] == 2
    cloned = clone(model)
    assert cloned.get_params(deep=False) == {
        "estimator": cloned.estimator,
        "backend": "local",
        "n_jobs": 2,
    }
    cloned.set_params(n_jobs=-1, estimator__C=0.5)
    assert cloned.get_params()["n_jobs"] == -1 and cloned.estimator.C == 0.5
    assert model.get_params()["n_jobs"] == 2  # the original is untouched
    assert "n_jobs=2" in repr(model)


def test_bad_backend_option_fails_at_fit_not_init(digits):
    X, y = digits
    model = Scaled(LogisticRegression(), backend="local", n_job=2)  # typo: no error yet
    with pytest.raises(BackendOptionError, match=r"no option 'n_job'.*n_jobs"):
        model.fit(X, y)
    assert not hasattr(model, "estimator_")


def test_grid_search_over_scaled():
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(
        Scaled(LogisticRegression(max_iter=1000), backend="local"),
        {"estimator__C": [0.01, 1.0], "n_jobs": [1, 2]},
        cv=3,
    ).fit(X, y)
    bare = GridSearchCV(LogisticRegression(max_iter=1000), {"C": [0.01, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_["estimator__C"] == bare.best_params_["C"]
    assert search.best_score_ == pytest.approx(bare.best_score_)
    assert search.best_estimator_.plan_.backend_options["n_jobs"] in (1, 2)


def test_pickle_roundtrip_and_estimator_usable_alone(digits):
    X, y = digits
    scaled = Scaled(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))).fit(X, y)
    restored = pickle.loads(pickle.dumps(scaled))
    assert_array_equal(restored.predict(X), scaled.predict(X))
    inner = pickle.loads(pickle.dumps(scaled.estimator_))
    assert_array_equal(inner.predict(X), scaled.predict(X))


def test_plan_records_the_fit(digits):
    X, y = digits
    scaled = Scaled(
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5)), n_jobs=2
    ).fit(X, y)
    plan = scaled.plan_
    assert plan.backend == "local" and plan.backend_source == "default"
    assert [s.step for s in plan] == ["standardscaler", "randomforestclassifier"]
    assert plan[0].data_form == "NumPy float64 (1797, 64)"
    assert plan[1].parallelism == "joblib, up to 2 workers"


def test_cross_val_score_of_scaled_matches_bare(digits):
    X, y = digits
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    assert_allclose(
        cross_val_score(Scaled(est), X, y, cv=3), cross_val_score(est, X, y, cv=3)
    )


def test_set_output_pandas_inside_a_pipeline():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    pipe = make_pipeline(Scaled(StandardScaler()), PCA(n_components=2)).set_output(transform="pandas")
    out = pipe.fit(X, y).transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["pca0", "pca1"]
    scaled = Scaled(StandardScaler()).fit(X)
    assert isinstance(scaled.set_output(transform="pandas").transform(X), pd.DataFrame)
    assert not hasattr(Scaled(LogisticRegression()), "set_output")
