"""Plans say, per step, where it runs, on which data form, and why; and the plan is a
record: written by the code that runs each step, equal to explain's dry run.

Each configuration is fitted for real and explained without fitting; the two
plans must be equal. Spy estimators then check the plan against what happened:
the partial_fit calls a step received, the array type it was given, the
process it ran in.
"""

import json
import os

import joblib
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris, make_classification
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import scaleml
from scaleml import Scaled, explain
from scaleml.planning import Route, walk

try:
    import dask.array as da
except ImportError:  # the record's tests skip (below), the explain tests run
    da = None

X_iris, y_iris = load_iris(return_X_y=True)


def test_nested_pipeline_paths_and_passthrough():
    inner = Pipeline([("scale", StandardScaler()), ("skip", "passthrough"), ("pca", PCA(2))])
    outer = Pipeline([("prep", inner), ("none", None), ("clf", LogisticRegression())])
    assert [path for path, _ in walk(outer)] == ["prep/scale", "prep/pca", "clf"]
    assert [path for path, _ in walk(LogisticRegression())] == ["LogisticRegression"]


def test_column_transformer_and_search_are_single_steps():
    ct = ColumnTransformer([("s", StandardScaler(), [0, 1])])
    search = GridSearchCV(RandomForestClassifier(), {"max_depth": [2]})
    steps = list(walk(make_pipeline(ct, search)))
    assert [type(e).__name__ for _, e in steps] == ["ColumnTransformer", "GridSearchCV"]
    plan = explain(make_pipeline(ct, search))
    assert plan[1].estimator == "GridSearchCV(RandomForestClassifier)"


def test_explain_reports_data_form_and_parallelism():
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_jobs=-1))
    plan = explain(pipe, X=X_iris)
    assert plan.backend == "local" and plan.backend_source == "default"
    assert plan.data == "NumPy float64 (150, 4)"
    first, second = plan
    assert first.device == second.device == "cpu"
    assert first.parallelism == "1 process" and "has no n_jobs" in first.reason
    workers = joblib.effective_n_jobs(-1)
    assert second.parallelism == (f"joblib, up to {workers} workers" if workers > 1 else "1 process")
    assert second.data_form == "output of standardscaler"
    assert "n_jobs=-1" in second.reason
    assert plan.devices == {"cpu"}


def test_backend_n_jobs_option_shows_in_plan():
    plan = explain(RandomForestClassifier(), n_jobs=2)
    assert plan[0].parallelism == "joblib, up to 2 workers"
    assert "backend option n_jobs=2" in plan[0].reason
    single = explain(RandomForestClassifier())
    assert single[0].parallelism == "1 process" and "n_jobs=-1" in single[0].reason


def test_local_n_jobs_leaves_a_step_whose_n_jobs_scikit_learn_ignores_alone():
    """scikit-learn 1.8+ ignores LogisticRegression's n_jobs and warns when it is set: the
    backend option must not set it, and the plan must not promise workers for it."""
    import warnings

    import sklearn

    if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) < (1, 8):
        pytest.skip("scikit-learn before 1.8 reads LogisticRegression's n_jobs")
    model = Scaled(make_pipeline(StandardScaler(), LogisticRegression()), backend="local", n_jobs=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        model.fit(X_iris, y_iris)
    step = model.plan_[1]
    assert step.parallelism == "1 process"
    assert "ignores LogisticRegression's n_jobs since 1.8" in step.reason

    class MyLogisticRegression(LogisticRegression):
        pass

    with warnings.catch_warnings():  # a subclass is ignored the same way
        warnings.simplefilter("error", FutureWarning)
        Scaled(MyLogisticRegression(), backend="local", n_jobs=-1).fit(X_iris, y_iris)


def test_explain_a_scaled_uses_its_backend_and_options():
    plan = explain(Scaled(RandomForestClassifier(), backend="local", n_jobs=2))
    assert plan.backend_source == "argument" and plan.backend_options == {"n_jobs": 2}


def test_explain_of_a_class_name_says_to_pass_an_instance():
    from scaleml.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"got the string 'LogisticRegression'\. Pass an instance"):
        explain("LogisticRegression")  # it returned a plan of one step named 'str'
    with pytest.raises(InvalidParameterError, match="got the class LogisticRegression"):
        explain(LogisticRegression)


def test_explain_follows_the_context():
    with scaleml.backend("local", n_jobs=2):
        assert explain(LogisticRegression()).backend_source == "context"


def test_plan_is_data_and_text():
    plan = explain(make_pipeline(StandardScaler(), LogisticRegression()), X=X_iris)
    data = json.loads(json.dumps(plan.to_dict()))
    assert [s["step"] for s in data["steps"]] == ["standardscaler", "logisticregression"]
    assert set(data["steps"][0]) == {
        "step", "estimator", "device", "engine", "parallelism", "data_form", "reason", "route", "observed",
    }
    assert [s["route"] for s in data["steps"]] == ["in-process", "in-process"]
    assert data["dry_run"] is True and data["steps"][0]["observed"] == {}
    text = str(plan)
    assert text.startswith("Plan (dry run, nothing ran): backend 'local' (the default)")
    for step in plan:
        assert step.step in text and step.reason in text


@pytest.mark.parametrize(
    "data, expected",
    [
        (X_iris.astype("float32"), "NumPy float32 (150, 4)"),
        (X_iris.tolist(), "Python list of 150 items"),
    ],
)
def test_data_description(data, expected):
    assert explain(LogisticRegression(), X=data).data == expected


def test_a_path_is_described_and_local_explains_its_refusal():
    from scaleml.data.forms import describe_data
    from scaleml.exceptions import DataError

    assert describe_data("data/train.parquet") == "path data/train.parquet"
    # explain is the fit's dry run: the local backend refuses a path before anything is placed, as its fit does
    with pytest.raises(DataError, match="backend='dask-ml'"):
        explain(LogisticRegression(), X="data/train.parquet")


def test_data_description_pandas_and_sparse():
    pd = pytest.importorskip("pandas")
    from scipy import sparse

    assert explain(LogisticRegression(), X=pd.DataFrame(X_iris)).data == "pandas DataFrame (150, 4)"
    assert explain(LogisticRegression(), X=sparse.csr_matrix(X_iris)).data == "SciPy sparse csr float64 (150, 4)"


# -- the plan is a record ---------------------------------------------------------------------


def _record_test(test):
    """What these tests had as a module of their own: skipped without dask.array, 300 s each."""
    test = pytest.mark.timeout(300)(test)
    return pytest.mark.skipif(da is None, reason="could not import 'dask.array'")(test)


X, y = make_classification(n_samples=1_200, n_features=8, random_state=0)
CHUNK = 300


def _lazy():
    return da.from_array(X, chunks=(CHUNK, 8)), da.from_array(y, chunks=CHUNK)


def _forest():
    return RandomForestClassifier(n_estimators=8, random_state=0)


def _sgd():
    return SGDClassifier(random_state=0)


def _scaleml_logreg():
    from scaleml.linear_model import LogisticRegression

    return LogisticRegression()


CONFIGS = {
    # name: (backend, estimator factory, lazy input)
    "local-lone": ("local", _forest, False),
    "local-nested": ("local", lambda: Pipeline([("prep", make_pipeline(StandardScaler())), ("clf", _forest())]), False),
    "dask-pipeline": ("dask", lambda: make_pipeline(StandardScaler(), _forest()), False),
    "dask-search": ("dask", lambda: GridSearchCV(_forest(), {"max_depth": [2, 4]}, cv=3), False),
    "dask-blocked-lazy": ("dask", _scaleml_logreg, True),
    "dask-ml-lone-lazy": ("dask-ml", _sgd, True),
    "dask-ml-pipeline-lazy": ("dask-ml", lambda: make_pipeline(StandardScaler(), _sgd()), True),
    "dask-ml-nested-lazy": ("dask-ml", lambda: Pipeline([("prep", make_pipeline(StandardScaler())), ("clf", _sgd())]), True),
    "dask-ml-search": ("dask-ml", lambda: GridSearchCV(_forest(), {"max_depth": [2, 4]}, cv=3), False),
    "torch-nested": ("torch", lambda: Pipeline([("prep", make_pipeline(StandardScaler())), ("clf", _forest())]), False),
}


@_record_test
@pytest.mark.parametrize("name", CONFIGS)
def test_explain_equals_the_plan_of_the_fit(name):
    backend, make, lazy = CONFIGS[name]
    if not any(b.name == backend and b.available for b in scaleml.backends.available()):
        pytest.skip(f"{backend} cannot run here")
    data = _lazy() if lazy else (X, y)
    planned = explain(make(), backend=backend, X=data[0])
    model = Scaled(make(), backend=backend).fit(*data)
    assert planned == model.plan_, f"\n{planned}\n---\n{model.plan_}"
    assert planned.dry_run and not model.plan_.dry_run
    assert len(model.plan_) >= 1 and all(not step.observed for step in planned)


# -- spies: estimators that remember what they received ---------------------------------


class CountingSGD(SGDClassifier):
    """Counts its partial_fit calls and rows (kept on the instance, which the fit fills in place)."""

    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        self.calls_seen_ = getattr(self, "calls_seen_", 0) + 1
        self.rows_seen_ = getattr(self, "rows_seen_", 0) + len(X)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


class TypeRecordingScaler(StandardScaler):
    """Remembers the array type its fit received."""

    def fit(self, X, y=None, sample_weight=None):
        self.received_ = f"{type(X).__module__.split('.')[0]}.{type(X).__name__}"
        return super().fit(X, y, sample_weight=sample_weight)


class PidForest(RandomForestClassifier):
    """Remembers the processes its trees were fitted in."""

    def fit(self, X, y, sample_weight=None):
        self.fit_pid_ = os.getpid()
        return super().fit(X, y, sample_weight=sample_weight)


@_record_test
def test_streamed_steps_record_the_partial_fit_calls_they_received():
    """The nested pipeline dask-ml used to refuse (MemoryError) streams; the counts in the plan are the real ones."""
    Xd, yd = _lazy()
    pipe = Pipeline([("prep", make_pipeline(StandardScaler())), ("clf", CountingSGD(random_state=0))])
    model = Scaled(pipe, backend="dask-ml", epochs=3, shuffle=False).fit(Xd, yd)
    clf = model.estimator_.named_steps["clf"]
    scaler_step, clf_step = model.plan_
    assert scaler_step.step == "prep/standardscaler" and clf_step.step == "clf"
    assert clf_step.route is Route.STREAMED and "3 passes over the blocks;" in clf_step.reason
    assert clf_step.observed["partial_fit_calls"] == clf.calls_seen_ == 3 * len(X) // CHUNK
    assert clf_step.observed["rows_per_pass"] * 3 == clf.rows_seen_ == 3 * len(X)
    assert scaler_step.observed["partial_fit_calls"] == len(X) // CHUNK
    # The same model as the loop a user would write by hand.
    scaler, reference = StandardScaler(), SGDClassifier(random_state=0)
    for start in range(0, len(X), CHUNK):
        scaler.partial_fit(X[start:start + CHUNK])
    for _ in range(3):
        for start in range(0, len(X), CHUNK):
            reference.partial_fit(scaler.transform(X[start:start + CHUNK]), y[start:start + CHUNK], classes=[0, 1])
    assert_allclose(clf.coef_, reference.coef_, rtol=1e-12)


@_record_test
def test_array_api_steps_record_the_array_type_they_received():
    if not any(b.name == "torch" and b.available for b in scaleml.backends.available()):
        pytest.skip("torch cannot run here")
    model = Scaled(make_pipeline(TypeRecordingScaler(), _forest()), backend="torch", device="cpu").fit(X, y)
    scaler_step, forest_step = model.plan_
    assert model.estimator_[0].received_ == "torch.Tensor"
    assert scaler_step.route is Route.ARRAY_API
    assert scaler_step.observed["input"] == "torch.Tensor on cpu"
    assert forest_step.route is Route.IN_PROCESS and forest_step.observed["input"] == "numpy.ndarray"


@_record_test
def test_dask_steps_ran_where_the_plan_says():
    search = GridSearchCV(PidForest(n_estimators=4, random_state=0), {"max_depth": [2, 3]}, cv=2, refit=False)
    model = Scaled(search, backend="dask").fit(X, y)
    step = model.plan_[0]
    assert step.route.on_cluster and step.parallelism.startswith("Dask (a LocalCluster")
    assert step.observed["dask_tasks"] >= 1 and step.observed["joblib_calls"] >= 4
    # A model with nothing for joblib to do ran here, and the record says so.
    alone = Scaled(make_pipeline(StandardScaler(), SGDClassifier()), backend="dask").fit(X, y)
    assert alone.plan_[1].parallelism == "1 process" and "sent no work to joblib" in alone.plan_[1].reason
    assert alone.plan_.observed["dask_tasks"] == 0


@_record_test
def test_fit_transform_on_a_dask_array_is_lazy_and_streamed():
    Xd, yd = _lazy()
    model = Scaled(StandardScaler(), backend="dask-ml")
    out = model.fit_transform(Xd)
    assert isinstance(out, da.Array) and out.chunks[0] == Xd.chunks[0]
    assert_allclose(out.compute(), StandardScaler().fit_transform(X), rtol=1e-10, atol=1e-12)
    assert model.plan_[0].observed["partial_fit_calls"] == len(X) // CHUNK
    predicted = Scaled(make_pipeline(StandardScaler(), _sgd()), backend="dask-ml").fit(Xd, yd)
    lazy = predicted.predict(Xd)
    assert isinstance(lazy, da.Array)
    assert_array_equal(lazy.compute(), predicted.estimator_.predict(X))
    proba = predicted.decision_function(Xd)
    assert proba.shape[0] == len(X) and isinstance(proba, da.Array)


# -- found in review: each a path a user takes ------------------------------------------------


@_record_test
def test_scaleml_nn_on_lazy_data(tmp_path):
    """scaleml.nn on lazy data: streamed with partial_fit on dask-ml (on its own device), refused on dask."""
    pytest.importorskip("torch")
    from scaleml.exceptions import DataError
    from scaleml.nn import MLPClassifier

    Xd, yd = _lazy()
    model = Scaled(MLPClassifier(epochs=2, random_state=0), backend="dask-ml").fit(Xd, yd)
    step = model.plan_[0]
    assert step.engine == "PyTorch (scaleml.nn)" and step.route is Route.STREAMED
    assert step.observed["partial_fit_calls"] == len(X) // CHUNK == model.estimator_.n_epochs_
    with pytest.raises(DataError, match="backend='dask-ml'"):
        Scaled(MLPClassifier(epochs=1), backend="dask").fit(Xd, yd)


@_record_test
def test_parquet_with_a_target_column_fit_transform_predict_and_score(tmp_path):
    import pandas as pd

    from scaleml.exceptions import DataError

    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    frame["label"] = y
    for i in range(4):
        frame.iloc[i * CHUNK:(i + 1) * CHUNK].to_parquet(tmp_path / f"part-{i}.parquet")
    path = str(tmp_path / "*.parquet")
    scaler = Scaled(StandardScaler(), backend="dask-ml")
    out = scaler.fit_transform(path, "label")
    assert_allclose(out.compute(), StandardScaler().fit_transform(X), rtol=1e-10, atol=1e-12)
    model = Scaled(make_pipeline(StandardScaler(), _sgd()), backend="dask-ml").fit(path, "label")
    assert model.target_column_ == "label"
    assert_array_equal(model.predict(path).compute(), model.estimator_.predict(X))  # label left out
    assert model.score(path, "label") == pytest.approx(model.estimator_.score(X, y))
    with pytest.raises(DataError, match="needs y"):
        model.score(path)


@_record_test
def test_a_block_reconnects_after_its_connection_is_closed():
    from scaleml.engines.dask.cluster import close_all

    with scaleml.backend("dask"):
        first = Scaled(_forest()).fit(X, y)
        close_all()
        second = Scaled(_forest()).fit(X, y)
    assert second.plan_.observed["dask_tasks"] >= 1
    assert_array_equal(first.predict(X), second.predict(X))


@_record_test
def test_the_readme_pipeline_plan_equals_explain_on_dask():
    """LogisticRegression's n_jobs does nothing in scikit-learn 1.8+: planned and recorded in process."""
    from sklearn.linear_model import LogisticRegression

    make = lambda: make_pipeline(StandardScaler(), LogisticRegression())  # noqa: E731
    for backend in ("dask", "dask-ml"):
        model = Scaled(make(), backend=backend).fit(X, y)
        assert explain(make(), backend=backend, X=X) == model.plan_
        assert model.plan_[1].parallelism == "1 process" and "ignores" in model.plan_[1].reason


@_record_test
def test_fit_predict_of_a_clusterer_without_predict():
    from sklearn.cluster import DBSCAN

    labels = Scaled(DBSCAN(eps=3.0), backend="local").fit_predict(X)
    assert_array_equal(labels, DBSCAN(eps=3.0).fit_predict(X))


@_record_test
def test_inverse_transform_goes_back_through_every_step_on_torch():
    if not any(b.name == "torch" and b.available for b in scaleml.backends.available()):
        pytest.skip("torch cannot run here")
    from sklearn.decomposition import PCA

    make = lambda: make_pipeline(StandardScaler(), PCA(n_components=3, svd_solver="full"))  # noqa: E731
    model = Scaled(make(), backend="torch", device="cpu").fit(X)
    Z = model.transform(X)
    assert_allclose(model.inverse_transform(Z), make().fit(X).inverse_transform(Z), rtol=1e-6, atol=1e-9)


@_record_test
def test_passes_after_the_first_visit_the_blocks_in_a_seeded_shuffled_order():
    Xd, yd = _lazy()
    seen = []

    class OrderSpy(CountingSGD):
        def partial_fit(self, X, y=None, classes=None, sample_weight=None):
            seen.append(float(X[0, 0]))
            return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    def fit(seed):
        seen.clear()
        model = Scaled(OrderSpy(random_state=0), backend="dask-ml", epochs=4, random_state=seed).fit(Xd, yd)
        firsts = [X[i * CHUNK, 0] for i in range(len(X) // CHUNK)]
        return model, [[firsts.index(v) for v in seen[p * 4:(p + 1) * 4]] for p in range(4)]

    model, orders = fit(0)
    assert orders[0] == [0, 1, 2, 3] and all(sorted(o) == [0, 1, 2, 3] for o in orders)
    assert any(o != [0, 1, 2, 3] for o in orders[1:]), orders
    assert "4 passes over the blocks, the blocks shuffled after the first pass" in model.plan_[0].reason
    assert model.plan_[0].observed["passes"] == 4
    assert fit(0)[1] == orders and fit(1)[1] != orders  # seeded
