"""The contract every backend keeps, with `local` as the oracle (DESIGN principle 7), and
scaleml.testing, the kit that checks it on every built-in backend and on plug-ins.

Same estimator, same in-memory data: the same predictions on every backend that
can run here. Tolerance: none for local, dask and dask-ml (they change where the
work runs, not the arithmetic); 1e-7 relative for torch on the CPU in float64
(PyTorch's linear algebra rounds differently from NumPy's); 1e-3 on a GPU, where
the torch backend computes in float32.

The kit must pass for each backend that runs here, and must fail for backends
that break the contract (a plan that lies, predictions from elsewhere, a dry run
that fits), naming the check.
"""

import importlib.util
import warnings
from dataclasses import replace

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scaleml
from scaleml import Scaled
from scaleml.backends import Backend, Placement, Record, Route
from scaleml.data.device import available_devices
from scaleml.testing import backend_checks, check_backend


# Tolerance against local: torch runs float64 on the CPU (PyTorch's linear algebra
# rounds differently from NumPy's); on a GPU the torch and cupy backends compute in float32.
ON_GPU = importlib.util.find_spec("torch") is not None and any(d.startswith("cuda") for d in available_devices())
RTOL = {"torch": 1e-3, "cupy": 1e-3} if ON_GPU else {"torch": 1e-7}
AVAILABLE = [b.name for b in scaleml.backends.available() if b.available]
CHECKS = [check for name in AVAILABLE for check in backend_checks(name, rtol=RTOL.get(name, 0.0))]


# -- the contract: the same results as local -----------------------------------------------

X, y = load_digits(return_X_y=True)
X = X / 16.0

CASES = {
    "pipeline": (make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), ["predict", "predict_proba"]),
    "forest": (RandomForestClassifier(n_estimators=20, random_state=0), ["predict_proba"]),
    "search": (GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3), ["predict"]),
    "pca": (PCA(n_components=5, svd_solver="full"), ["transform"]),
}


@pytest.fixture(scope="module")
def oracle():
    return {name: Scaled(clone(est), backend="local").fit(X, y) for name, (est, _) in CASES.items()}


@pytest.mark.parametrize("backend", AVAILABLE)
@pytest.mark.parametrize("case", CASES)
def test_same_results_as_local(backend, case, oracle):
    estimator, methods = CASES[case]
    model = Scaled(clone(estimator), backend=backend).fit(X, y)
    for method in methods:
        got, expected = getattr(model, method)(X), getattr(oracle[case], method)(X)
        if backend == "torch":
            on_gpu = any(step.device != "cpu" for step in model.plan_)
            assert_allclose(got, expected, rtol=1e-3 if on_gpu else 1e-7, atol=1e-9, err_msg=f"{backend} {method}")
        else:
            assert_array_equal(got, expected, err_msg=f"{backend} {method}")
    if backend == "auto":  # the plan names the backend auto chose, and says why
        assert model.plan_.backend in AVAILABLE and model.plan_.decision is not None
    else:
        assert model.plan_.backend == backend
    assert len(model.plan_) == len(oracle[case].plan_)


# -- the kit: scaleml.testing -------------------------------------------------------------


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_builtin_backends_keep_the_contract(check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cupy's "runs on NumPy here"
        check()


class InProcess(Backend):
    """The smallest honest plug-in: everything in this process, and the plan says so."""

    name = "in-process"

    def fit(self, estimator, X, y, record, **fit_params):
        self.place_steps(estimator, X, record, lambda path, step, form: Placement(
            path, type(step).__name__, "cpu", "scikit-learn", "1 process", form, "in-process backend: here"))
        if record.dry_run:
            return estimator
        return estimator.fit(X, y, **fit_params)

    def call(self, estimator, method, X, *args, **kwargs):
        return getattr(estimator, method)(X, *args, **kwargs)


def test_an_unregistered_plugin_class_passes():
    check_backend(InProcess)


class SkipsSteps(InProcess):
    """Writes one placement for the whole pipeline instead of one per step."""

    def fit(self, estimator, X, y, record, **fit_params):
        record.place(Placement("all", type(estimator).__name__, "cpu", "scikit-learn", "1 process", "?", "whole"))
        return estimator if record.dry_run else estimator.fit(X, y, **fit_params)


class FitsWhenDry(InProcess):
    def fit(self, estimator, X, y, record, **fit_params):
        super().fit(estimator, X, y, record, **fit_params)
        return estimator.fit(X, y, **fit_params)  # even in a dry run


class PlanDiffersFromExplain(InProcess):
    def fit(self, estimator, X, y, record, **fit_params):
        self.place_steps(estimator, X, record, lambda path, step, form: Placement(
            path, type(step).__name__, "cpu", "scikit-learn", "dry" if record.dry_run else "wet", form, "varies"))
        return estimator if record.dry_run else estimator.fit(X, y, **fit_params)


class PredictsElsewhere(InProcess):
    def call(self, estimator, method, X, *args, **kwargs):
        out = getattr(estimator, method)(X, *args, **kwargs)
        return out + 1e-3 if np.issubdtype(np.asarray(out).dtype, np.floating) else out


@pytest.mark.parametrize(
    "broken, failing",
    [
        (SkipsSteps, "fit_matches_local"),
        (FitsWhenDry, "plan_is_a_record"),
        (PlanDiffersFromExplain, "plan_is_a_record"),
        (PredictsElsewhere, "predict_like_methods"),
    ],
)
def test_the_kit_catches_broken_backends(broken, failing):
    checks = {check.name: check for check in backend_checks(broken)}
    with pytest.raises(AssertionError):
        checks[failing]()
    with pytest.raises(AssertionError, match="backend check '"):
        check_backend(broken)


class SkeletonInProcess(Backend):
    """A plug-in written to the fit skeleton: only its decision per step and its run."""

    name = "skeleton-in-process"

    def decide(self, path, step, data_form):
        return Placement(path, type(step).__name__, "cpu", "scikit-learn", "1 process", data_form,
                         "skeleton backend: here", Route.IN_PROCESS)

    def run_fit(self, estimator, X, y, record, planned, fit_params):
        record.observe(planned[-1].step, ran_here=True)
        return estimator.fit(X, y, **fit_params)

    def call(self, estimator, method, X, *args, **kwargs):
        return getattr(estimator, method)(X, *args, **kwargs)


def test_a_plugin_written_to_the_skeleton_passes_and_its_run_writes_the_record():
    check_backend(SkeletonInProcess)
    X, y = load_iris(return_X_y=True)
    record, dry = Record(), Record(dry_run=True)
    fitted = SkeletonInProcess().fit(make_pipeline(StandardScaler(), LogisticRegression()), X, y, record)
    assert fitted.score(X, y) > 0.9
    assert [step.route for step in record.steps] == [Route.IN_PROCESS, Route.IN_PROCESS]
    assert record.steps[-1].observed == {"ran_here": True}
    unfitted = make_pipeline(StandardScaler(), LogisticRegression())
    SkeletonInProcess().fit(unfitted, X, y, dry)
    assert dry.steps == record.steps and not hasattr(unfitted[-1], "coef_")


def test_a_backend_that_cannot_fit_is_refused_when_made_naming_both_ways():
    class CallsOnly(Backend):
        name = "calls-only"

        def call(self, estimator, method, X, *args, **kwargs):
            return getattr(estimator, method)(X, *args, **kwargs)

    with pytest.raises(TypeError, match=r"implement run\(.*or override fit\("):
        CallsOnly()


def test_the_route_counts_in_equality_and_the_prose_for_people_only():
    base = Placement("s", "E", "cpu", "scikit-learn", "1 process", "NumPy", "why", Route.IN_PROCESS)
    assert base != replace(base, route=Route.JOBLIB_WORKERS)
    assert base == replace(base, observed={"blocks": 3})
    assert Route.JOBLIB_ON_CLUSTER.on_cluster and not Route.JOBLIB_WORKERS.on_cluster
