"""The backend registry: names, availability with reasons, errors, plug-ins."""

import textwrap

import pytest

import scaleml
from scaleml.backends import (
    Backend,
    available,
    create_backend,
    get_backend_class,
    names,
)
from scaleml.backends.local import LocalBackend
from scaleml.exceptions import BackendOptionError, BackendUnavailableError, UnknownBackendError

BUILTINS = ["local", "dask", "dask-ml", "torch", "cupy", "auto"]


def test_every_builtin_is_listed_with_availability():
    infos = {info.name: info for info in available()}
    assert list(infos)[: len(BUILTINS)] == BUILTINS
    assert infos["local"].available and infos["local"].reason == ""
    for info in infos.values():
        # Every unavailable backend says why.
        assert info.available or info.reason
        assert info.summary


def test_unknown_name_lists_valid_names_and_suggests():
    with pytest.raises(UnknownBackendError) as err:
        create_backend("dsak")
    message = str(err.value)
    for name in BUILTINS:
        assert name in message
    assert "Did you mean 'dask'" in message
    assert isinstance(err.value, ValueError)


def test_non_string_name_is_refused_clearly():
    with pytest.raises(UnknownBackendError, match="must be a string"):
        create_backend(3)


def test_name_normalisation():
    assert isinstance(create_backend(" Local "), LocalBackend)


@pytest.mark.parametrize("name", [n for n in BUILTINS if n != "local"])
def test_unavailable_backend_raises_import_error_with_reason(name):
    info = {i.name: i for i in available()}[name]
    if info.available:
        pytest.skip(f"{name} runs here")
    with pytest.raises(BackendUnavailableError) as err:
        get_backend_class(name)
    assert isinstance(err.value, ImportError)
    assert info.reason in str(err.value)


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(BackendOptionError, match=r"no option 'n_job'.*n_jobs"):
        create_backend("local", n_job=2)


@pytest.mark.parametrize("bad", [0, 1.5, "2", True])
def test_bad_option_value(bad):
    with pytest.raises(BackendOptionError, match="n_jobs"):
        create_backend("local", n_jobs=bad)


def test_missing_engine_reason_names_the_extra():
    class NeedsEngine(Backend):
        name = "needs-engine"
        requires = ("an_engine_that_is_not_installed",)
        extra = "someextra"

        def fit(self, estimator, X, y, record, **fit_params):
            raise AssertionError("never called")

        call = fit

    status = NeedsEngine.availability()
    assert not status
    assert "an_engine_that_is_not_installed not installed" in status.reason
    assert "pip install 'scaleml[someextra]'" in status.reason


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A real installed distribution (dist-info on sys.path) exposing backends."""
    (tmp_path / "scaleml_test_plugin.py").write_text(
        textwrap.dedent(
            """
            from scaleml.backends import Backend, Placement

            class EchoBackend(Backend):
                name = "echo"
                summary = "fits in process and counts fits"
                fits = 0

                def fit(self, estimator, X, y, record, **fit_params):
                    self.place_steps(estimator, X, record, lambda path, step, form: Placement(
                        path, type(step).__name__, "cpu", "scikit-learn", "1 process", form, "echo: here"))
                    if record.dry_run:
                        return estimator
                    type(self).fits += 1
                    return estimator.fit(X, y, **fit_params)

                def call(self, estimator, method, X, *args, **kwargs):
                    return getattr(estimator, method)(X, *args, **kwargs)

            class NotABackend:
                pass
            """
        )
    )
    dist = tmp_path / "scaleml_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: scaleml-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[scaleml.backends]\n"
        "echo = scaleml_test_plugin:EchoBackend\n"
        "wrong-type = scaleml_test_plugin:NotABackend\n"
        "broken = scaleml_test_plugin_missing:Nothing\n"
        "local = scaleml_test_plugin:EchoBackend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    import sys

    sys.modules.pop("scaleml_test_plugin", None)


def test_plugin_backend_via_entry_point(plugin_dist):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    with pytest.warns(RuntimeWarning, match="built-in backend"):
        listed = names()
    assert {"echo", "wrong-type", "broken"} <= set(listed)
    with pytest.warns(RuntimeWarning):
        infos = {i.name: i for i in available()}
    assert infos["echo"].available and infos["echo"].origin == "plug-in scaleml-test-plugin"
    assert not infos["wrong-type"].available and "not a scaleml.backends.Backend" in infos["wrong-type"].reason
    assert not infos["broken"].available and "failed to import" in infos["broken"].reason
    # The built-in keeps its name.
    assert infos["local"].origin == "built-in"

    X, y = load_iris(return_X_y=True)
    with pytest.warns(RuntimeWarning):
        model = scaleml.Scaled(LogisticRegression(max_iter=500), backend="echo").fit(X, y)
    import scaleml_test_plugin

    assert scaleml_test_plugin.EchoBackend.fits == 1
    assert model.plan_.backend == "echo"
