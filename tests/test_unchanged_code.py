"""Unchanged code behaves as it did plainly (issue 31): what ran sequentially can be sent
to workers (generator cv, classes and lambdas defined inside functions), a thing that
cannot be sent is named, and ``Scaled`` is a one-word swap whose fitted attributes read
through. Each result is compared with the same code run plainly, in this process."""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import scaleml
from scaleml import Scaled
from scaleml.backends import create_backend
from scaleml.backends._sendable import dumps
from scaleml.exceptions import InvalidParameterError

pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(300)

GRID = {"C": [0.1, 1.0, 10.0]}


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=150, n_features=6, random_state=0)


@pytest.fixture(scope="module", params=["dask", "local"])
def workers(request):
    """A backend that runs n_jobs=None work in worker processes: dask, or local n_jobs=-1."""
    options = {"n_workers": 2} if request.param == "dask" else {"n_jobs": -1}
    instance = create_backend(request.param, **options)
    yield instance
    instance.stop()


def _search_results(search):
    return search.best_params_, search.cv_results_["mean_test_score"]


def _make_local_classifier():
    """A classifier class defined inside a function: pickle cannot find it by name."""

    class LocalClassifier(ClassifierMixin, BaseEstimator):
        def __init__(self, C=1.0):
            self.C = C

        def fit(self, X, y):
            self.model_ = LogisticRegression(C=self.C).fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)

    return LocalClassifier


def _run(instance, work):
    """``work()`` inside the backend; checks that the dask backend did send tasks."""
    before = instance.activity().get("dask_tasks", 0)
    with scaleml.backend(instance):
        result = work()
    if instance.name == "dask":
        assert instance.activity()["dask_tasks"] > before, "the work ran in this process, not on the workers"
    return result


def test_generator_cv_is_sent_as_it_ran(workers, data):
    X, y = data

    def search():
        return _search_results(GridSearchCV(LogisticRegression(), GRID, cv=KFold(3).split(X, y)).fit(X, y))

    def validate():
        return cross_validate(LogisticRegression(), X, y, cv=KFold(3).split(X, y))["test_score"]

    plain_params, plain_scores = search()
    params, scores = _run(workers, search)
    assert params == plain_params
    assert_allclose(scores, plain_scores)
    assert_allclose(_run(workers, validate), validate())


def test_classes_and_lambdas_defined_in_functions_are_sent(workers, data):
    X, y = data
    local_classifier = _make_local_classifier()

    def local_class():
        return _search_results(GridSearchCV(local_classifier(), GRID, cv=3).fit(X, y))

    def with_lambda():
        pipe = make_pipeline(FunctionTransformer(lambda a: a * 2.0), LogisticRegression())
        return _search_results(GridSearchCV(pipe, {"logisticregression__C": GRID["C"]}, cv=3).fit(X, y))

    for work in (local_class, with_lambda):
        plain_params, plain_scores = work()
        params, scores = _run(workers, work)
        assert params == plain_params
        assert_allclose(scores, plain_scores)


@pytest.mark.filterwarnings("ignore:.*does not support callbacks")
def test_local_class_with_scikit_learn_callbacks(workers, data):
    callback = pytest.importorskip("sklearn.callback")
    X, y = data
    local_classifier = _make_local_classifier()

    def monitored():
        search = GridSearchCV(local_classifier(), GRID, cv=3)
        search.set_callbacks(callback.ScoringMonitor(scoring="accuracy"))
        return _search_results(search.fit(X, y))

    plain_params, plain_scores = monitored()
    params, scores = _run(workers, monitored)
    assert params == plain_params
    assert_allclose(scores, plain_scores)


def test_callbacks_report_local_class_instances_back(workers, data):
    """scikit-learn's callbacks send what they record (estimators included) from the workers
    to this process over a multiprocessing connection: a class defined in a function
    must travel back too."""
    recording = pytest.importorskip("sklearn.callback.tests._utils")
    X, y = data
    local_classifier = _make_local_classifier()

    def recorded():
        callback = recording.RecordingCallback()
        search = GridSearchCV(local_classifier(), {"C": [0.1, 1.0]}, cv=2, refit=False).set_callbacks(callback)
        search.fit(X, y)
        return [callback.count_hooks(hook) for hook in ("on_fit_task_begin", "on_fit_task_end")]

    assert _run(workers, recorded) == recorded()


class _Handle:
    """Works in this process (clone keeps it), cannot be pickled: a live connection, say."""

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise TypeError("cannot pickle '_Handle' object")


class _WithHandle(ClassifierMixin, BaseEstimator):
    def __init__(self, handle=None):
        self.handle = handle

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_joblib_generators_work_inside_the_backends(workers):
    """joblib's generator outputs (``generator``, and ``generator_unordered``, which yields
    as calls finish) work inside the backends, as plainly."""
    import joblib

    with scaleml.backend(workers):
        unordered = list(joblib.Parallel(return_as="generator_unordered")(
            joblib.delayed(abs)(-i) for i in range(8)))
        ordered = list(joblib.Parallel(return_as="generator")(joblib.delayed(abs)(-i) for i in range(8)))
    assert sorted(unordered) == ordered == list(range(8))


def _fails_later_the_earlier_it_comes(i, n, tag=""):
    """Call ``i`` of ``n`` fails after (n - i) * 50 ms: in time, the last fails first."""
    import time

    time.sleep((n - i) * 0.05)
    raise ValueError(f"{tag}call {i} failed")


def _succeeds_or_fails_by_parity(i):
    import time

    time.sleep(0.01 * (i % 3))
    if i % 2:
        raise ValueError(f"inner call {i} failed")
    return i


def _nested_call(i):
    """A Parallel call inside a batch: the inner call's own first error, or its results."""
    import joblib

    calls = [joblib.delayed(_succeeds_or_fails_by_parity)(j) for j in range(i, i + 4)]
    try:
        return joblib.Parallel()(calls)
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize("return_as", ["list", "generator"])
def test_the_first_error_in_input_order_is_raised_as_plainly(workers, return_as):
    """Several calls fail: the one raised is the first in input order, which a
    sequential run raises, not the first to fail in time (joblib's own backends)."""
    import joblib

    calls = [joblib.delayed(_fails_later_the_earlier_it_comes)(i, 6) for i in range(6)]
    with pytest.raises(ValueError, match="call 0 failed"):
        list(joblib.Parallel(return_as=return_as)(calls))  # plainly: sequential
    for _ in range(2):
        with scaleml.backend(workers), pytest.raises(ValueError, match="call 0 failed"):
            list(joblib.Parallel(return_as=return_as)(calls))


def _slow_first_then_fails(i):
    import time

    if i == 0:
        time.sleep(1.0)
    raise ValueError(f"call {i} failed")


def test_a_slow_first_error_wins_with_every_batch_sent_at_once(workers):
    """``pre_dispatch="all"`` sends every batch before any returns: twenty quick failures
    wait for the slow first one, which is raised, as sequentially."""
    import joblib

    calls = [joblib.delayed(_slow_first_then_fails)(i) for i in range(20)]
    with scaleml.backend(workers), pytest.raises(ValueError, match="call 0 failed"):
        joblib.Parallel(pre_dispatch="all")(calls)


def _fails_at_2950(i, _argument=None):
    if i == 2950:
        raise ValueError(f"call {i} failed")
    return i


def test_an_earlier_error_wins_over_a_later_argument_that_cannot_be_sent(workers):
    """On dask the calls at the end of the input go out as a few tasks: one that cannot be
    sent must not hand its error to the earlier calls sent with it. (On local, loky sends
    joblib's batches as they are, and a batch holding both calls fails as a whole.)"""
    import threading

    import joblib

    if workers.name != "dask":
        pytest.skip("loky cannot send part of a joblib batch")
    lock = threading.Lock()  # not picklable
    calls = [joblib.delayed(_fails_at_2950)(i, lock if i == 2995 else None) for i in range(3000)]
    with pytest.raises(ValueError, match="call 2950 failed"):
        joblib.Parallel(n_jobs=1)(calls)  # sequentially
    with scaleml.backend(workers), pytest.raises(ValueError, match="call 2950 failed"):
        joblib.Parallel()(calls)


def _slow(i):
    import time

    time.sleep(0.5)
    return i


def _bad(i):
    raise ValueError(f"inner {i}")


@pytest.mark.timeout(120)
def test_a_failing_call_does_not_cancel_another_calls_tasks(workers):
    """A generator consumed around a failing inner call on the same backend: joblib aborts
    the inner call, and the outer one still gets every result (on dask it waited forever
    when the abort cancelled every task of the backend)."""
    import joblib

    if workers.name != "dask":
        pytest.skip("loky's abort stops its shared pool: a joblib behaviour, not this backend's")
    got = []
    with scaleml.backend(workers):
        for value in joblib.Parallel(return_as="generator")(joblib.delayed(_slow)(i) for i in range(8)):
            got.append(value)
            if value == 0:
                with pytest.raises(ValueError, match="inner 0"):
                    joblib.Parallel()(joblib.delayed(_bad)(i) for i in range(4))
    assert got == list(range(8))


def test_errors_in_order_on_local_without_the_telling():
    """``workers_say=False`` leaves the workers' words where they were said, not the order
    of errors."""
    import joblib

    calls = [joblib.delayed(_fails_later_the_earlier_it_comes)(i, 6) for i in range(6)]
    with scaleml.backend("local", n_jobs=-1, workers_say=False), pytest.raises(ValueError, match="call 0 failed"):
        joblib.Parallel()(calls)


def test_errors_in_order_inside_nested_and_concurrent_calls(workers):
    """Each Parallel call orders its own errors: calls nested in batches, and calls made
    from two threads at once on one backend, raise what they raise sequentially.

    On ``local`` the two threads take turns: loky's pool is one per process and joblib
    stops it when a call fails, so failing calls at once from two threads break each
    other on joblib's loky plainly too."""
    import concurrent.futures

    import joblib

    def nested(start):
        return joblib.Parallel()(joblib.delayed(_nested_call)(i) for i in range(start, start + 4))

    def failing(tag):
        calls = [joblib.delayed(_fails_later_the_earlier_it_comes)(i, 6, tag) for i in range(6)]
        try:
            joblib.Parallel()(calls)
        except ValueError as exc:
            return str(exc)

    def both(tag):
        return nested(10 * len(tag)), failing(tag)

    def both_scaled(tag):
        with scaleml.backend(workers):  # a block is per thread
            return both(tag)

    plainly = [both(tag) for tag in ("a", "bb")]
    assert plainly[0][1] == "acall 0 failed"
    with concurrent.futures.ThreadPoolExecutor(2 if workers.name == "dask" else 1) as threads:
        scaled = list(threads.map(both_scaled, ("a", "bb")))
    assert scaled == plainly


def test_many_batches_that_cannot_be_sent_raise_once(workers):
    """Three thousand calls whose argument cannot be pickled: the first one's error, not
    a recursion through joblib's dispatch nor a wait."""
    import threading

    import joblib

    lock = threading.Lock()  # not picklable
    with scaleml.backend(workers), pytest.raises(Exception) as raised:
        joblib.Parallel()(joblib.delayed(id)(lock) for _ in range(3000))
    assert not isinstance(raised.value, RecursionError)
    assert "lock" in (str(raised.value) + str(raised.value.__cause__)).lower()


def test_what_cannot_be_sent_is_named(workers, data):
    X, y = data
    search = GridSearchCV(_WithHandle(_Handle()), {"handle": [_Handle()]}, cv=2)
    search.fit(X, y)  # plainly it runs
    with pytest.raises(pickle.PicklingError) as raised:
        with scaleml.backend(workers):
            search.fit(X, y)
    # loky puts its own "Could not pickle the task" on top; scaleml's words are the cause.
    text = str(raised.value) + str(raised.value.__cause__)
    assert "Cannot send an object of type test_unchanged_code._Handle" in text
    assert "at .handle" in text and "Make it picklable" in text


def test_a_live_generator_is_named_with_its_source():
    def batches():
        yield from range(3)

    live = batches()
    with pytest.raises(pickle.PicklingError, match=r"generator .*batches \(.*test_unchanged_code.py:\d+\).*list\(\.\.\.\)"):
        dumps({"cv": live})
    assert list(live) == [0, 1, 2]  # not consumed by the attempt
    assert list(pickle.loads(dumps(live))) == []  # spent now: sent as the empty iterator it is


def test_an_exception_pickle_cannot_rebuild_comes_back_as_itself(monkeypatch):
    import copyreg

    from sklearn.exceptions import UnsetMetadataPassedError

    # distributed (tblib) registers the exception classes defined when it is imported; a
    # worker's own classes, imported later, are not.
    monkeypatch.delitem(copyreg.dispatch_table, UnsetMetadataPassedError, raising=False)
    error = UnsetMetadataPassedError(message="not requested", unrequested_params={"a": 1}, routed_params={})
    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(error))  # what pickle alone does with it
    back = pickle.loads(dumps(error))
    assert type(back) is UnsetMetadataPassedError and str(back) == "not requested"
    assert back.unrequested_params == {"a": 1}


# -- Scaled: the one-word swap --------------------------------------------------------------------


def test_one_word_swap_reads_the_search_through(data):
    X, y = data
    plain = GridSearchCV(LogisticRegression(), GRID, cv=3).fit(X, y)
    model = Scaled(GridSearchCV(LogisticRegression(), GRID, cv=3), backend="dask", n_workers=2)
    assert model.fit(X, y).best_params_ == plain.best_params_
    assert_allclose(model.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"])
    assert model.best_estimator_ is model.estimator_.best_estimator_
    assert model.plan_ is not None  # Scaled's own attributes come first


def test_fitted_attributes_are_read_only_and_not_there_before_fit(data):
    X, y = data
    model = Scaled(LogisticRegression(), backend="local")
    assert not hasattr(model, "coef_")
    with pytest.raises(NotFittedError, match="call 'fit' before reading 'coef_'"):
        model.coef_
    model.fit(X, y)
    assert_array_equal(model.coef_, model.estimator_.coef_)
    assert_array_equal(model.classes_, [0, 1])
    with pytest.raises(AttributeError, match=r"read-only.*model\.estimator_\.coef_ = "):
        model.coef_ = np.zeros((1, 6))
    with pytest.raises(AttributeError, match="LogisticRegression.*has none"):
        model.best_params_
    assert hasattr(model, "predict_log_proba")  # methods still follow the estimator


def test_set_params_names_the_estimator_form():
    model = Scaled(LogisticRegression(), backend="local")
    with pytest.raises(InvalidParameterError, match=r"'C'.*neither a parameter of Scaled.*'local' backend.*"
                                                     r"set_params\(estimator__C=\.\.\.\)"):
        model.set_params(C=2.0)
    model.set_params(n_jobs=2, estimator__C=2.0)  # a backend option, and the estimator's own
    assert model.get_params()["n_jobs"] == 2 and model.estimator.C == 2.0
    with pytest.raises(InvalidParameterError, match="'dask' backend"):
        Scaled(LogisticRegression(), backend="dask").set_params(n_jobs=2)
    Scaled(LogisticRegression()).set_params(backend="dask", n_workers=2)  # the new backend's option


# -- __main__: a script run with scaleml exec -------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import json
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, KFold

    def make():
        class Local(ClassifierMixin, BaseEstimator):
            def __init__(self, C=1.0):
                self.C = C

            def fit(self, X, y):
                self.model_ = LogisticRegression(C=self.C).fit(X, y)
                self.classes_ = self.model_.classes_
                return self

            def predict(self, X):
                return self.model_.predict(X)
        return Local

    X, y = make_classification(n_samples=150, n_features=6, random_state=0)
    search = GridSearchCV(make()(), {"C": [0.1, 1.0, 10.0]}, cv=KFold(3).split(X, y)).fit(X, y)
    print(json.dumps([search.best_params_, search.cv_results_["mean_test_score"].round(12).tolist()]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("args", [["-b", "dask", "-o", "n_workers=2"], ["-b", "local", "-o", "n_jobs=-1"]])
def test_main_script_local_class_and_generator_cv(args, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "SCALEML_BACKEND": ""}

    def run(*command):
        done = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=240,
                              cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    assert run("-m", "scaleml", "exec", *args, str(script)) == run(str(script))
