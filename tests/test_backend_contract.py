"""The contract every backend keeps, with `local` as the oracle (DESIGN principle 7).

Same estimator, same in-memory data: the same predictions on every backend that
can run here. Tolerance: none for local, dask and dask-ml (they change where the
work runs, not the arithmetic); 1e-7 relative for torch on the CPU in float64
(PyTorch's linear algebra rounds differently from NumPy's); 1e-3 on a GPU, where
the torch backend computes in float32.
"""

import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scaleml
from scaleml import Scaled

BACKENDS = [b.name for b in scaleml.backends.available() if b.available]

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


@pytest.mark.parametrize("backend", BACKENDS)
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
        assert model.plan_.backend in BACKENDS and model.plan_.decision is not None
    else:
        assert model.plan_.backend == backend
    assert len(model.plan_) == len(oracle[case].plan_)
