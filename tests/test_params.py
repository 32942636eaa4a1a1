"""One parameter-validation style: every scaleml estimator and backend option names the
parameter, the value and what is allowed, in one error type (InvalidParameterError)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

import scaleml
from scaleml.exceptions import BackendOptionError, InvalidParameterError
from scaleml.linear_model import LinearRegression, LogisticRegression, Ridge
from scaleml.search import HyperbandSearchCV, SuccessiveHalvingSearchCV

X, y = load_digits(return_X_y=True)
X, y = X[:200] / 16.0, y[:200]


def _nn():
    pytest.importorskip("torch")
    from scaleml.nn import CNNClassifier, MLPClassifier, MLPRegressor

    return [CNNClassifier(epochs=1), MLPClassifier(epochs=1), MLPRegressor(epochs=1)]


def _estimators():
    space = {"alpha": [1e-4, 1e-3]}
    return [LogisticRegression(), LinearRegression(), Ridge(),
            HyperbandSearchCV(SGDClassifier(), space, max_iter=3),
            SuccessiveHalvingSearchCV(SGDClassifier(), space, n_initial_parameters=2), *_nn()]


@pytest.mark.parametrize(
    "make, fit, match",
    [
        (lambda: _nn()[0].set_params(batch_size=0), True,
         r"The 'batch_size' parameter of CNNClassifier must be an int in the range \[1, inf\)\. Got 0 instead\."),
        (lambda: HyperbandSearchCV(SGDClassifier(), {"alpha": [1e-4]}, max_iter=-1), True,
         r"The 'max_iter' parameter of HyperbandSearchCV must be an int in the range \[1, inf\)\. Got -1 instead\."),
        (lambda: LogisticRegression(C=-1), True,
         r"The 'C' parameter of LogisticRegression must be a float in the range \(0, inf\]\. Got -1 instead\."),
        (lambda: scaleml.Scaled(LogisticRegression(), backend="dask-ml", window=0), True,
         r"The 'window' option of backend 'dask-ml' must be an int in the range \[1, inf\)\. Got 0 instead\."),
    ],
    ids=["cnn-batch_size", "hyperband-max_iter", "logreg-C", "backend-option"],
)
def test_the_issues_examples_raise_one_error_type(make, fit, match):
    with pytest.raises(InvalidParameterError, match=match):
        make().fit(X, y)


def test_backend_option_errors_are_invalid_parameter_errors():
    assert issubclass(BackendOptionError, InvalidParameterError)
    with pytest.raises(InvalidParameterError, match="'n_jobs' option of backend 'local' must be a non-zero int"):
        scaleml.backends.create_backend("local", n_jobs=0)


class _BadType:
    def __repr__(self):
        return "<BadType>"


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_every_parameter_is_checked_at_fit(estimator):
    """As scikit-learn's check_param_validation: a value of no valid type is refused, by name."""
    constraints = type(estimator)._parameter_constraints
    params = estimator.get_params(deep=False)
    assert set(constraints) == set(params), "every parameter has constraints"
    for name, allowed in constraints.items():
        if allowed == "no_validation":
            continue
        bad = clone(estimator).set_params(**{name: _BadType()})
        with pytest.raises(InvalidParameterError, match=rf"The '{name}' parameter of {type(estimator).__name__} must be .* Got <BadType> instead\."):
            bad.fit(X, y)


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_defaults_are_valid(estimator):
    estimator._validate_params()  # the defaults meet their own constraints


def test_bools_are_not_ints_and_nan_is_not_a_number():
    with pytest.raises(InvalidParameterError, match="'max_iter'"):
        LogisticRegression(max_iter=True).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'alpha'"):
        Ridge(alpha=np.nan).fit(X, y)
