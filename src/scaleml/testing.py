"""The behaviours every backend keeps, as checks a backend's author runs.

Like scikit-learn's ``parametrize_with_checks`` for estimators: scaleml runs these
on each built-in backend in its own test suite, and a plug-in backend passes
them too. ``local`` is the oracle: same data, same estimator, the same results.

    from scaleml.testing import backend_checks, check_backend

    check_backend("mybackend")                 # all checks; AssertionError names the one that fails

    @pytest.mark.parametrize("check", backend_checks(MyBackend), ids=str)
    def test_mybackend(check):                 # one test per check
        check()

``backend`` is a registered name (or profile) or a ``Backend`` subclass (which
need not be registered). Options go to the backend; ``rtol`` is the relative
tolerance against ``local`` (0: equal; accelerators computing in float32 need more).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ._config import backend as backend_block
from .backends import Backend
from .planning import walk
from .scaled import Scaled, explain

__all__ = ["BackendCheck", "backend_checks", "check_backend"]


@dataclass(frozen=True)
class BackendCheck:
    """One check of one backend; call it to run it. ``str()`` is its name."""

    name: str
    run: Callable[[Any, float], None] = field(repr=False)
    backend: Any
    options: dict[str, Any]
    rtol: float

    def __call__(self) -> None:
        self.run(_Subject(self.backend, self.options), self.rtol)

    def __str__(self) -> str:
        label = self.backend if isinstance(self.backend, str) else self.backend.__name__
        return f"{label}-{self.name}"


def backend_checks(backend: str | type[Backend], *, rtol: float = 0.0, **options: Any) -> list[BackendCheck]:
    """Every check, ready to run (for ``pytest.mark.parametrize``)."""
    return [BackendCheck(name, run, backend, dict(options), rtol) for name, run in _CHECKS.items()]


def check_backend(backend: str | type[Backend], *, rtol: float = 0.0, **options: Any) -> None:
    """Run every check; raise ``AssertionError`` naming the first one that fails."""
    for check in backend_checks(backend, rtol=rtol, **options):
        try:
            check()
        except AssertionError as exc:
            raise AssertionError(f"backend check {check.name!r} failed for {check}: {exc}") from exc


# -- the subject: a backend by name, or a class given directly ----------------------------


class _Subject:
    def __init__(self, backend: Any, options: dict[str, Any]) -> None:
        self.backend, self.options = backend, options
        self.name = backend if isinstance(backend, str) else backend.name

    def scaled(self, estimator: Any) -> Scaled:
        if isinstance(self.backend, str):
            return Scaled(estimator, backend=self.backend, **self.options)
        return Scaled(estimator)  # runs inside the block of run()

    def run(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` where a class-given backend is active."""
        if isinstance(self.backend, str):
            return work()
        with self.backend(**self.options) as instance, backend_block(instance):
            return work()

    def explain(self, estimator: Any, X: Any, y: Any = None) -> Any:
        if isinstance(self.backend, str):
            return explain(estimator, backend=self.backend, X=X, y=y, **self.options)
        return explain(estimator, X=X, y=y)


def _data() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, y


def _close(got: Any, expected: Any, rtol: float, what: str) -> None:
    if rtol:
        assert_allclose(got, expected, rtol=rtol, atol=1e-9, err_msg=what)
    else:
        assert_array_equal(got, expected, err_msg=what)


def _pipeline() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


def _forest() -> Pipeline:
    # A forest sends its trees to joblib on every backend that spreads joblib work,
    # so where it runs is known before the fit (a model without parallel work would
    # run in process, and the plan would say so only after).
    return make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0))


def _nested() -> Pipeline:
    return Pipeline([("prep", make_pipeline(StandardScaler(), PCA(n_components=3))),
                     ("clf", RandomForestClassifier(n_estimators=10, random_state=0))])


# -- the checks ------------------------------------------------------------------------------


def _names_backend(plan: Any, name: str) -> bool:
    """The plan names the backend, or, for one that chooses another (``auto``), the
    one it chose, with the decision that says why."""
    if plan.backend == name:
        return True
    return plan.decision is not None and plan.decision.backend == plan.backend


def check_fit_matches_local(subject: _Subject, rtol: float) -> None:
    """Pipelines (one nested too) give local's predictions, and the plan names the backend and every step."""
    X, y = _data()
    for make in (_pipeline, _forest, _nested):
        model = subject.run(lambda: subject.scaled(make()).fit(X, y))
        oracle = Scaled(make(), backend="local").fit(X, y)
        _close(model.predict_proba(X), oracle.predict_proba(X), rtol, f"predict_proba of {make.__name__}")
        assert _names_backend(model.plan_, subject.name), f"plan_ names backend {model.plan_.backend!r}"
        assert [s.step for s in model.plan_] == [path for path, _ in walk(model.estimator)], (
            "plan_ must have one placement per step, in order: " + str([s.step for s in model.plan_])
        )


def check_fit_transform(subject: _Subject, rtol: float) -> None:
    """fit_transform returns local's output and writes the plan.

    Within rounding: a backend may compute it as fit, then transform (the
    default), which PCA computes differently from its own fit_transform.
    """
    X, y = _data()
    make = lambda: make_pipeline(StandardScaler(), PCA(n_components=2, svd_solver="full"))  # noqa: E731
    model = subject.scaled(make())
    got = subject.run(lambda: model.fit_transform(X, y))
    _close(np.abs(np.asarray(got)), np.abs(make().fit_transform(X, y)), max(rtol, 1e-10), "fit_transform")
    assert len(model.plan_) == 2, "fit_transform must write the plan as fit does"


def check_predict_like_methods(subject: _Subject, rtol: float) -> None:
    """Every predict-like method agrees with the fitted estimator_'s own on in-memory data."""
    X, y = _data()
    model = subject.run(lambda: subject.scaled(_pipeline()).fit(X, y))
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        got = subject.run(lambda: getattr(model, method)(X))
        _close(got, getattr(model.estimator_, method)(X), rtol, method)
    score = subject.run(lambda: model.score(X, y))
    assert abs(score - model.estimator_.score(X, y)) <= max(rtol, 1e-12), "score"


def check_search(subject: _Subject, rtol: float) -> None:
    """A GridSearchCV chooses what local chooses."""
    X, y = _data()
    make = lambda: GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 1.0]}, cv=3)  # noqa: E731
    model = subject.run(lambda: subject.scaled(make()).fit(X, y))
    assert model.estimator_.best_params_ == make().fit(X, y).best_params_, "best_params_"


def check_clone_and_pickle(subject: _Subject, rtol: float) -> None:
    """Options survive clone; a fitted model survives pickling and predicts the same, here."""
    X, y = _data()
    unfitted = subject.scaled(_pipeline())
    options = {k: v for k, v in unfitted.get_params(deep=False).items() if k != "estimator"}
    cloned = {k: v for k, v in clone(unfitted).get_params(deep=False).items() if k != "estimator"}
    assert cloned == options, f"clone keeps the backend and its options: {cloned} != {options}"
    model = subject.run(lambda: unfitted.fit(X, y))
    loaded = pickle.loads(pickle.dumps(model))
    assert loaded.plan_ == model.plan_, "the plan survives pickling"
    _close(subject.run(lambda: loaded.predict_proba(X)), model.predict_proba(X), 0.0, "predict after pickling")


def check_bad_input_like_sklearn(subject: _Subject, rtol: float) -> None:
    """Malformed input gets the bare estimator's own error, word for word."""
    X, y = _data()
    bad = X.copy()
    bad[0, 0] = np.nan
    for args in ((bad, y), (X, None), (X[:, :0], y)):
        expected = None
        try:
            LogisticRegression().fit(*args)
        except (ValueError, TypeError) as exc:
            expected = exc
        assert expected is not None, "the check's own premise: scikit-learn refuses this input"
        try:
            subject.run(lambda: subject.scaled(LogisticRegression()).fit(*args))
        except (ValueError, TypeError) as exc:
            assert type(exc) is type(expected) and str(exc) == str(expected), f"{exc!r} instead of {expected!r}"
        else:
            raise AssertionError(f"no error where scikit-learn raises {expected!r}")


class _CountingClassifier(ClassifierMixin, BaseEstimator):
    """Counts its fits, to see that a dry run fits nothing."""

    fits = 0

    def fit(self, X: Any, y: Any) -> _CountingClassifier:
        type(self).fits += 1
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.classes_[0])


def check_plan_is_a_record(subject: _Subject, rtol: float) -> None:
    """explain is a dry run of the fit: it fits nothing, and equals the fit's plan_."""
    X, y = _data()
    before = _CountingClassifier.fits
    dry = subject.run(lambda: subject.explain(make_pipeline(StandardScaler(), _CountingClassifier()), X))
    assert _CountingClassifier.fits == before, "explain must not fit anything"
    assert dry.dry_run and all(not step.observed for step in dry), "a dry run observes nothing"
    for make in (_forest, _nested):
        plan = subject.run(lambda: subject.explain(make(), X, y))
        model = subject.run(lambda: subject.scaled(make()).fit(X, y))
        assert plan == model.plan_, f"explain differs from the fit's plan_:\n{plan}\n---\n{model.plan_}"
        assert not model.plan_.dry_run


def check_lifecycle(subject: _Subject, rtol: float) -> None:
    """start and stop are idempotent, and a stopped backend starts again for the next fit."""
    from .backends import create_backend

    X, y = _data()
    instance = create_backend(subject.backend, **subject.options) if isinstance(subject.backend, str) \
        else subject.backend(**subject.options)
    with instance:
        instance.start()  # twice: no error, nothing opened twice
    instance.stop()
    instance.stop()
    for _ in range(2):  # a stopped backend works again
        with backend_block(instance):
            model = Scaled(_forest()).fit(X, y)
        instance.stop()
        assert _names_backend(model.plan_, subject.name) and model.score(X, y) > 0.9, "a fit after stop()"
    assert isinstance(instance.activity(), dict), "activity() is a dict of counts"


_CHECKS: dict[str, Callable[[_Subject, float], None]] = {
    "fit_matches_local": check_fit_matches_local,
    "fit_transform": check_fit_transform,
    "predict_like_methods": check_predict_like_methods,
    "search": check_search,
    "clone_and_pickle": check_clone_and_pickle,
    "bad_input_like_sklearn": check_bad_input_like_sklearn,
    "plan_is_a_record": check_plan_is_a_record,
    "lifecycle": check_lifecycle,
}
