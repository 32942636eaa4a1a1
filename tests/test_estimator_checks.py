"""Scaled passes scikit-learn's own estimator checks for each kind it wraps.

No check is expected to fail: the array-API checks that scikit-learn itself skips
without SCIPY_ARRAY_API / array_api_strict are skipped here for the same reason.
"""

from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from scaleml import Scaled


@parametrize_with_checks(
    [
        Scaled(LogisticRegression()),
        Scaled(Ridge()),
        Scaled(StandardScaler()),
        Scaled(make_pipeline(StandardScaler(), LogisticRegression())),
        # Backend options are parameters too: clone/set_params must carry them.
        Scaled(LogisticRegression(), backend="local", n_jobs=2),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
