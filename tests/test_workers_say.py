"""What a fit says in a worker reaches the user as it would plainly (issue #31, DESIGN.md
principle 12): warnings under the user's filters, printed output in each task's order.

Each test runs the same code plainly (the oracle) and under a backend that sends it to
other processes: ``local`` with ``n_jobs=-1`` (loky), ``dask`` on its managed
LocalCluster, and ``dask`` on a cluster reached by address (real ``dask scheduler`` and
``dask worker`` processes), and compares.
"""

from __future__ import annotations

import contextlib
import re
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate

import scaleml

X, Y = make_classification(n_samples=120, n_features=6, random_state=0)


@pytest.fixture(params=[
    "local n_jobs=-1",
    "dask",
    pytest.param("dask by address", marks=pytest.mark.slow),
])
def engine(request):
    """A function giving a fresh ``scaleml.backend(...)`` block that runs joblib work elsewhere."""
    if request.param == "local n_jobs=-1":
        return lambda: scaleml.backend("local", n_jobs=-1)
    if request.param == "dask":
        return lambda: scaleml.backend("dask")
    address, _ = request.getfixturevalue("external_cluster")
    return lambda: scaleml.backend("dask", address=address)


def both(engine, run):
    """``run()`` plainly, then inside the backend: the two results."""
    plain = run()
    with engine():
        return plain, run()


def _caught(run, *filters):
    """The warnings ``run`` gave under ``warnings.catch_warnings(record=True)`` and ``filters``."""
    with warnings.catch_warnings(record=True) as caught:
        for action, kwargs in filters:
            warnings.filterwarnings(action, **kwargs)
        run()
    return [(w.category, str(w.message), w.filename, w.lineno) for w in caught]


def _unconverged():
    cross_validate(LogisticRegression(max_iter=2), X, Y, cv=4)


def _warn(i):
    warnings.warn(f"call {i % 2}", UserWarning)
    return i


def _joblib_calls():
    return joblib.Parallel()(joblib.delayed(_warn)(i) for i in range(6))


@pytest.mark.parametrize("action", ["always", "default", "once", "module"])
def test_warnings_from_fits_are_recorded_as_plainly(engine, action):
    plain, there = both(engine, lambda: _caught(_unconverged, (action, {})))
    assert there == plain
    assert any(category is ConvergenceWarning for category, *_ in plain)


@pytest.mark.parametrize("action", ["always", "default", "once"])
def test_warnings_from_plain_joblib_calls_are_recorded_as_plainly(engine, action):
    plain, there = both(engine, lambda: _caught(_joblib_calls, (action, {})))
    assert sorted(there) == sorted(plain)  # the order in which calls end may differ
    assert plain


def test_the_registry_of_the_caller_dedupes_as_plainly(engine):
    """Under "default", a warning already shown from the same line is not shown again,
    across calls and workers: the caller's registry decides, not each worker's.
    (scikit-learn's own calls each clear the registries plainly; the test above.)"""
    def twice():
        _joblib_calls()
        _joblib_calls()

    plain, there = both(engine, lambda: _caught(twice, ("default", {})))
    assert sorted(there) == sorted(plain)
    assert len(plain) == 2  # "call 0" and "call 1", once each


def test_a_category_filtered_ignore_stays_ignored(engine):
    run = lambda: _caught(_unconverged, ("always", {}), ("ignore", {"category": ConvergenceWarning}))  # noqa: E731
    plain, there = both(engine, run)
    assert there == plain == []


def test_pytest_warns_sees_them(engine):
    with engine(), pytest.warns(ConvergenceWarning):
        _unconverged()


def _outcome(run):
    try:
        return ("returned", run())
    except BaseException as exc:  # noqa: BLE001 - what was raised is what is compared
        # Which of several failing parallel calls raises first depends on which ends first.
        return ("raised", type(exc), re.sub(r"call \d", "call N", str(exc).splitlines()[0]))


@pytest.mark.parametrize("run", [
    lambda: cross_validate(LogisticRegression(max_iter=2), X, Y, cv=4)["test_score"].tolist(),
    lambda: GridSearchCV(LogisticRegression(max_iter=2), {"C": [0.1, 1.0]}, cv=2).fit(X, Y).best_score_,
    lambda: GridSearchCV(LogisticRegression(max_iter=2), {"C": [0.1, 1.0]}, cv=2,
                         error_score=np.nan).fit(X, Y).cv_results_["mean_test_score"].tolist(),
    _joblib_calls,
], ids=["cross_validate", "search", "search error_score=nan", "joblib"])
def test_simplefilter_error_behaves_as_plainly(engine, run):
    """The warning raises inside the fit as it would plainly (scikit-learn then records the
    fit as failed), and what the caller then warns or raises is the same."""
    def strict():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return _outcome(run)

    plain, there = both(engine, strict)
    assert there == plain
    assert plain[0] == "raised"


class Talker(ClassifierMixin, BaseEstimator):
    """Says three lines on stdout and one on stderr per fit, numbered by its ``name``."""

    def __init__(self, name=0):
        self.name = name

    def fit(self, X, y):
        import sys

        for step in range(3):
            print(f"talker {self.name} step {step}")
        print(f"talker {self.name} done", file=sys.stderr)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def _said(capsys, run):
    run()
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err.splitlines()


def test_print_in_a_custom_estimator_reaches_capsys_in_each_tasks_order(engine, capsys):
    run = lambda: GridSearchCV(Talker(), {"name": list(range(6))}, cv=2).fit(X, Y)  # noqa: E731
    (plain_out, plain_err), (out, err) = both(engine, lambda: _said(capsys, run))
    assert sorted(out) == sorted(plain_out) and sorted(err) == sorted(plain_err)
    assert len(out) == 3 * (6 * 2 + 1)  # six candidates on two folds, and the refit
    for name in range(6):  # each fit's lines in the order it printed them
        lines = [line for line in out if line.startswith(f"talker {name} ")]
        assert lines == [f"talker {name} step {step}" for step in range(3)] * (len(lines) // 3)


def test_verbose_search_lines_are_printed_as_plainly(engine, capsys):
    run = lambda: GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=3, verbose=3).fit(X, Y)  # noqa: E731
    (plain_out, _), (out, _) = both(engine, lambda: _said(capsys, run))

    def lines(printed):  # the fit times differ from run to run
        return sorted(re.sub(r"total time=\s*[\d.]+s", "", line) for line in printed)

    assert lines(out) == lines(plain_out)
    assert sum(line.startswith("[CV ") for line in out) == 9
    assert out[0] == plain_out[0]  # "Fitting 3 folds ...", printed here before any task


def test_scoring_monitor_logs_as_plainly(engine):
    """scikit-learn's callbacks send their messages to this process themselves (a local
    socket), not through the workers' output: their logs come out the same."""
    callback = pytest.importorskip("sklearn.callback")

    def logged():
        monitor = callback.ScoringMonitor(scoring="accuracy")
        search = GridSearchCV(LogisticRegression(max_iter=20).set_callbacks(monitor), {"C": [0.1, 1.0]}, cv=2)
        search.fit(X, Y)
        data = monitor.get_logs(select="most_recent").data
        return sorted(str(sorted(row.items())) for row in data) if isinstance(data, list) else sorted(map(str, data))

    plain, there = both(engine, logged)
    assert there == plain and plain


def test_the_oracle_adds_nothing():
    """``local`` without n_jobs forwards nothing: loky's workers stay silent, as plainly."""
    def run():
        return _caught(lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(_warn)(i) for i in range(4)), ("always", {}))

    plain = run()
    with scaleml.backend("local"):
        assert run() == plain == []


@pytest.mark.parametrize("backend, options", [("local", {"n_jobs": -1}), ("dask", {})], ids=["local n_jobs=-1", "dask"])
def test_workers_say_false_leaves_it_in_the_workers_as_joblib_does(backend, options, capsys):
    """The switch that measures what telling costs (bench/BENCHMARKS.md): off, the
    caller sees none of the workers' warnings and output, and results are unchanged."""
    run = lambda: GridSearchCV(Talker(), {"name": list(range(4))}, cv=2).fit(X, Y)  # noqa: E731
    with scaleml.backend(backend, **options):
        told = _caught(_unconverged, ("always", {}))
        told_out, _ = _said(capsys, run)
    with scaleml.backend(backend, workers_say=False, **options):
        quiet = _caught(_unconverged, ("always", {}))
        quiet_out, _ = _said(capsys, run)
        scores = cross_validate(LogisticRegression(max_iter=2), X, Y, cv=4)["test_score"]
    assert any(category is ConvergenceWarning for category, *_ in told)
    assert len(told_out) == 3 * (4 * 2 + 1)  # four candidates on two folds, and the refit
    assert quiet == [] and len(quiet_out) == 3  # only the refit's, which runs here
    np.testing.assert_array_equal(scores, cross_validate(LogisticRegression(max_iter=2), X, Y, cv=4)["test_score"])


@pytest.mark.slow
def test_progress_bar_on_workers_with_several_threads(capsys, monkeypatch):
    """scikit-learn shares one connection per worker process and listener among the
    process's threads: two fits sending at once read each other's acknowledgements, and
    the fits fail (8 runs in 10 of this search, before). A task that reports to a
    callback runs alone among such tasks of its worker process: the same bars as plainly."""
    callback = pytest.importorskip("sklearn.callback")
    monkeypatch.setenv("COLUMNS", "200")  # rich's width: every bar's line whole

    def bars():
        with warnings.catch_warnings():
            warnings.simplefilter("error", category=FitFailedWarning)
            GridSearchCV(LogisticRegression(max_iter=20), {"C": [0.1, 1.0, 3.0]}, cv=3).set_callbacks(
                callback.ProgressBar()).fit(X, Y)
        return sorted(re.sub(r"\d+:\d\d:\d\d", "T", capsys.readouterr().out).splitlines())

    plain = bars()
    with scaleml.backend("dask", n_workers=1, threads_per_worker=2):
        assert [bars() for _ in range(3)] == [plain] * 3
