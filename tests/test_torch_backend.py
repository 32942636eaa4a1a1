"""The torch backend: Array API steps on torch tensors, the rest on NumPy, as local within tolerance."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

pytest.importorskip("torch")

import scaleml  # noqa: E402
from scaleml import Scaled  # noqa: E402
from scaleml.exceptions import BackendUnavailableError  # noqa: E402
from scaleml.planning import Route  # noqa: E402

if not {b.name: b for b in scaleml.backends.available()}["torch"].available:
    pytest.skip("the torch backend needs SCIPY_ARRAY_API=1 (make test sets it)", allow_module_level=True)

from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import RandomForestRegressor  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

X, y = make_regression(1500, 20, random_state=0)
Xc, yc = make_classification(1500, 20, random_state=0)


# These compare float64 results to within 1e-7: on the CPU whatever the machine has
# (tests/test_gpu.py checks a GPU, in float32).
def test_array_api_pipeline_equals_local_and_stays_plain_sklearn():
    pipe = make_pipeline(StandardScaler(), PCA(5), Ridge(solver="svd"))
    torch_model = Scaled(pipe, backend="torch", device="cpu").fit(X, y)
    local = Scaled(pipe, backend="local").fit(X, y)
    assert_allclose(torch_model.predict(X), local.predict(X), rtol=1e-7, atol=1e-9)
    assert [s.engine for s in torch_model.plan_] == ["scikit-learn Array API on PyTorch"] * 3
    # The fitted model holds NumPy arrays: usable without torch or array dispatch.
    assert isinstance(torch_model.estimator_[1].components_, np.ndarray)
    assert_allclose(torch_model.estimator_.predict(X), local.predict(X), rtol=1e-7, atol=1e-9)


def test_steps_without_array_api_run_on_numpy():
    pipe = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=10, random_state=0))
    model = Scaled(pipe, backend="torch", device="cpu").fit(X, y)
    first, second = model.plan_
    assert first.route is Route.ARRAY_API
    assert second.device == "cpu" and "does not cover it" in second.reason
    assert_allclose(model.predict(X), Scaled(pipe).fit(X, y).predict(X), rtol=1e-7)


def test_classifier_labels_and_probabilities():
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    model = Scaled(pipe, backend="torch", device="cpu").fit(Xc, yc)
    local = Scaled(pipe).fit(Xc, yc)
    assert list(model.classes_) == [0, 1]
    assert_allclose(model.predict_proba(Xc), local.predict_proba(Xc), rtol=1e-6, atol=1e-9)
    assert model.score(Xc, yc) == pytest.approx(local.score(Xc, yc))


def test_explicit_absent_device_fails_loudly():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(BackendUnavailableError, match="PyTorch sees: cpu"):
        Scaled(Ridge(), backend="torch", device="cuda").fit(X, y)


def test_unavailable_without_scipy_array_api():
    env = {k: v for k, v in os.environ.items() if k != "SCIPY_ARRAY_API"}
    code = "import scaleml; print({b.name: b.reason for b in scaleml.backends.available()}['torch'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "SCIPY_ARRAY_API=1" in out.stdout


def test_cupy_falls_back_to_numpy_with_a_warning():
    import importlib.util

    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    pipe = make_pipeline(StandardScaler(), PCA(5), Ridge(solver="svd"))
    with pytest.warns(RuntimeWarning, match="runs on NumPy here: CuPy is not installed"):
        model = Scaled(pipe, backend="cupy").fit(X, y)
    np.testing.assert_array_equal(model.predict(X), Scaled(pipe).fit(X, y).predict(X))
    assert all(step.device == "cpu" and "CuPy is not installed" in step.reason for step in model.plan_)


def test_input_the_torch_path_refuses_runs_on_numpy_and_says_so():
    huge = X.copy()
    huge[0, 0] = 1e200  # squares overflow: the column's variance is inf in NumPy
    model = Scaled(StandardScaler(), backend="torch").fit(huge)
    assert model.plan_[0].device == "cpu" and "overflow when squared" in model.plan_[0].reason
    np.testing.assert_array_equal(model.transform(huge), StandardScaler().fit(huge).transform(huge))
