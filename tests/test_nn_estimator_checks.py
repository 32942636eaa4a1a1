"""scaleml.nn estimators pass scikit-learn's estimator checks."""

import pytest

pytest.importorskip("torch")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from scaleml.nn import CNNClassifier, MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.timeout(600)


@parametrize_with_checks([CNNClassifier(), MLPClassifier(), MLPRegressor()])
def test_sklearn_compatible(estimator, check):
    check(estimator)
