"""Backend precedence: explicit argument > scaleml.backend(...) > SCALEML_BACKEND > local."""

import os
import threading

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier

import scaleml
from scaleml import Scaled
from scaleml._config import active_backend, resolve_backend
from scaleml.backends.local import LocalBackend
from scaleml.exceptions import BackendOptionError, BackendUnavailableError, UnknownBackendError

X, y = load_iris(return_X_y=True)


def _pid_scorer(estimator, X, y):
    return os.getpid()


def test_default_is_local():
    resolved = resolve_backend()
    assert resolved.backend.name == "local" and resolved.source == "default"


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("SCALEML_BACKEND", "local")
    assert resolve_backend().source == "environment"


def test_bad_environment_variable_says_where_it_came_from(monkeypatch):
    monkeypatch.setenv("SCALEML_BACKEND", "dsak")
    with pytest.raises(UnknownBackendError, match="SCALEML_BACKEND='dsak'"):
        Scaled(LogisticRegression()).fit(X, y)


def test_context_beats_environment_and_argument_beats_context(monkeypatch):
    monkeypatch.setenv("SCALEML_BACKEND", "dsak")  # would fail if consulted
    with scaleml.backend("local", n_jobs=2) as active:
        resolved = resolve_backend()
        assert resolved.source == "context" and resolved.backend is active
        model = Scaled(LogisticRegression(max_iter=500)).fit(X, y)
        assert model.plan_.backend_source == "context"
        assert model.plan_.backend_options == {"n_jobs": 2}
        explicit = Scaled(LogisticRegression(max_iter=500), backend="local").fit(X, y)
        assert explicit.plan_.backend_source == "argument"
        # Options given to Scaled are laid over the context's.
        over = Scaled(LogisticRegression(max_iter=500), n_jobs=1).fit(X, y)
        assert over.plan_.backend_options == {"n_jobs": 1}


def test_contexts_nest_and_unwind():
    assert active_backend() is None
    with scaleml.backend("local", n_jobs=2) as outer:
        with scaleml.backend("local", n_jobs=1) as inner:
            assert active_backend() is inner
        assert active_backend() is outer
    assert active_backend() is None


def test_context_unwinds_on_error():
    with pytest.raises(RuntimeError):
        with scaleml.backend("local"):
            raise RuntimeError("boom")
    assert active_backend() is None


def test_context_is_thread_local():
    seen = {}

    def worker():
        seen["backend"] = active_backend()
        seen["n_jobs"] = joblib.effective_n_jobs(None)

    with scaleml.backend("local", n_jobs=2):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert active_backend() is not None
    assert seen == {"backend": None, "n_jobs": 1}


def test_explicit_requests_fail_loudly_at_enter():
    with pytest.raises(UnknownBackendError):
        with scaleml.backend("nope"):
            pass
    with pytest.raises(BackendOptionError):
        with scaleml.backend("local", n_jobs=0):
            pass
    assert active_backend() is None


def test_unavailable_backend_fails_at_enter():
    unavailable = [b.name for b in scaleml.backends.available() if not b.available]
    if not unavailable:
        pytest.skip("every backend runs here")
    with pytest.raises(BackendUnavailableError):
        with scaleml.backend(unavailable[0]):
            pass


def test_context_drives_unchanged_sklearn_n_jobs_code():
    # cross_val_score with n_jobs left at None runs in this process by default ...
    pids = cross_val_score(DecisionTreeClassifier(), X, y, cv=4, scoring=_pid_scorer)
    assert set(pids) == {os.getpid()}
    # ... and in joblib worker processes inside a local block with n_jobs=2.
    with scaleml.backend("local", n_jobs=2):
        pids = cross_val_score(DecisionTreeClassifier(), X, y, cv=4, scoring=_pid_scorer)
    assert os.getpid() not in set(pids)


def test_context_stops_what_it_started(monkeypatch):
    closed = []

    class Closing(LocalBackend):
        def stop(self):
            closed.append(self)

    from scaleml import _config

    instance = Closing()
    monkeypatch.setattr(_config, "create_backend", lambda name, **options: instance)
    with scaleml.backend("local"):
        # Scaled inside the block uses the block's backend and does not close it.
        model = Scaled(DecisionTreeClassifier()).fit(X, y)
        assert closed == [] and model.plan_.backend_source == "context"
    assert closed == [instance]
