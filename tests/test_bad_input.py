"""Bad input gets scikit-learn's own error, identical to the bare estimator's."""

import traceback
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scaleml
from scaleml import Scaled

SCALEML_DIR = Path(scaleml.__file__).resolve().parent

X, y = load_iris(return_X_y=True)
X_nan = X.copy()
X_nan[3, 1] = np.nan
X_inf = X.copy()
X_inf[0, 0] = np.inf

BAD_FITS = {
    "nan": (X_nan, y),
    "inf": (X_inf, y),
    "1d X": (X[:, 0], y),
    "3d X": (X.reshape(150, 2, 2), y),
    "mismatched lengths": (X, y[:-1]),
    "empty X": (np.empty((0, 4)), np.empty(0)),
    "no features": (np.empty((150, 0)), y),
    "one class": (X, np.zeros(150)),
    "strings in X": (np.array([["a", "b"]] * 10), np.arange(10) % 2),
    "y is None": (X, None),
}

ESTIMATORS = {
    "logreg": LogisticRegression(max_iter=1000),
    "ridge": Ridge(),
    "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
}


def _error(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - comparing whatever is raised
        return exc
    return None


@pytest.mark.parametrize("estimator_name", ESTIMATORS)
@pytest.mark.parametrize("case", BAD_FITS)
def test_fit_error_is_sklearns(estimator_name, case):
    estimator = ESTIMATORS[estimator_name]
    Xb, yb = BAD_FITS[case]
    bare = _error(lambda: clone(estimator).fit(Xb, yb))
    scaled = _error(lambda: Scaled(clone(estimator)).fit(Xb, yb))
    if bare is None:
        # e.g. Ridge fits one class fine: then so must Scaled.
        assert scaled is None
        return
    assert type(scaled) is type(bare)
    assert str(scaled) == str(bare)
    # Raised inside scikit-learn (or NumPy), not by scaleml's own code.
    origin = Path(traceback.extract_tb(scaled.__traceback__)[-1].filename).resolve()
    assert not origin.is_relative_to(SCALEML_DIR), origin


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_predict_on_wrong_width_is_sklearns(method):
    bare = LogisticRegression(max_iter=1000).fit(X, y)
    scaled = Scaled(LogisticRegression(max_iter=1000)).fit(X, y)
    args = (X[:, :3], y) if method == "score" else (X[:, :3],)
    expected = _error(lambda: getattr(bare, method)(*args))
    got = _error(lambda: getattr(scaled, method)(*args))
    assert type(got) is type(expected) is ValueError
    assert str(got) == str(expected)
    assert "X has 3 features, but LogisticRegression is expecting 4" in str(got)


def test_failed_fit_leaves_previous_model_usable():
    scaled = Scaled(LogisticRegression(max_iter=1000)).fit(X, y)
    before = scaled.predict(X)
    with pytest.raises(ValueError):
        scaled.fit(X_nan, y)
    np.testing.assert_array_equal(scaled.predict(X), before)
