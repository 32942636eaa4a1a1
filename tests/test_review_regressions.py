"""Regressions found in review: each a path a user takes."""

import io
import pickle
import textwrap

import numpy as np
import pytest


class TwoArgError(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


def test_a_task_error_that_pickles_but_cannot_be_rebuilt_still_arrives_as_itself(monkeypatch):
    import copyreg

    from scaleml.backends.dask._tasks import _Raised

    # Importing distributed registers every exception class defined by then with copyreg
    # (tblib's pickling support), which rebuilds them without calling __init__: once this
    # module is imported before distributed, TwoArgError would travel whole. A class
    # imported later, as a user's module is on a worker, is not registered.
    monkeypatch.delitem(copyreg.dispatch_table, TwoArgError, raising=False)
    try:
        raise TwoArgError(1, 2)
    except TwoArgError as exc:
        raised = pickle.loads(pickle.dumps(_Raised(exc)))
    # Rebuilt without __init__ (scaleml.backends._sendable.portable_exception): the same type
    # and words, as scikit-learn's UnsetMetadataPassedError (keyword-only arguments) needs.
    with pytest.raises(TwoArgError, match="^1 and 2$") as error:
        raised.reraise()
    assert "test_a_task_error_that_pickles" in str(error.value.__cause__)  # the worker's traceback


def test_a_failing_cell_under_the_magic_fails():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    assert shell.run_cell("%load_ext scaleml").success
    assert not shell.run_cell("%%scaleml local\nraise ValueError('the cell failed')").success
    assert shell.run_cell("%%scaleml local\nx = 1").success


def test_the_fit_log_never_breaks_a_script(tmp_path):
    """An estimator whose get_params fails: the script runs under -v as it runs without."""
    from scaleml.runner import run

    script = tmp_path / "odd.py"
    script.write_text(textwrap.dedent("""
        from sklearn.base import BaseEstimator
        class Odd(BaseEstimator):
            def __init__(self, alpha=1.0):
                self._alpha = alpha  # not stored under its own name: get_params fails
            def fit(self, X, y=None):
                return self
        Odd().fit([[1.0]])
        print("fit ok")
    """))
    report = io.StringIO()
    assert run(str(script), verbose=True, report=report) == 0
    assert "1 fit" in report.getvalue() and "Odd" in report.getvalue()


def test_an_in_memory_refit_forgets_the_lazy_fits_target_column():
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    from scaleml.linear_model import LinearRegression

    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3, "t": np.arange(20.0) * 2})
    model = LinearRegression().fit(dd.from_pandas(frame, npartitions=2), "t")
    assert model.target_column_ == "t"
    model.fit(frame.to_numpy(), frame["t"].to_numpy())
    assert model.target_column_ is None and model.predict(frame.to_numpy()).shape == (20,)
