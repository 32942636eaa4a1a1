"""save/load: skops format, nothing executed on load, pickles only when trusted."""

import pickle

import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scaleml
from scaleml import Scaled
from scaleml.exceptions import ScaleMLError
from scaleml.exceptions import UntrustedModelError

X, y = load_iris(return_X_y=True)


def test_round_trip_of_a_scaled_pipeline(tmp_path):
    model = Scaled(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))).fit(X, y)
    path = scaleml.save(model, tmp_path / "model.skops")
    assert [p.name for p in tmp_path.iterdir()] == ["model.skops"]  # no temporary left behind
    loaded = scaleml.load(path)
    assert type(loaded).__name__ == "Pipeline"  # the plain fitted estimator
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_types_beyond_the_defaults_must_be_named(tmp_path):
    search = GridSearchCV(RandomForestClassifier(n_estimators=5, random_state=0), {"max_depth": [2, 3]}, cv=2)
    path = scaleml.save(search.fit(X, y), tmp_path / "search.skops")
    import skops.io as sio

    needed = sio.get_untrusted_types(file=path)
    with pytest.raises(UntrustedModelError, match=r"sklearn\.tree\._tree\.Tree") as err:
        scaleml.load(path)
    assert f"trusted={sorted(needed)!r}" in str(err.value)  # the message says exactly what to pass
    assert_array_equal(scaleml.load(path, trusted=needed).predict(X), search.predict(X))
    assert_array_equal(scaleml.load(path, trusted=True).predict(X), search.predict(X))


def test_pickles_need_explicit_trust(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression(max_iter=500).fit(X, y)))
    with pytest.raises(UntrustedModelError, match="runs code"):
        scaleml.load(path)
    assert scaleml.load(path, trusted=True).predict(X[:3]).shape == (3,)


def test_refusals(tmp_path):
    with pytest.raises(NotFittedError):
        scaleml.save(LogisticRegression(), tmp_path / "m.skops")
    with pytest.raises(ScaleMLError, match=r"\.skops files"):
        scaleml.save(LogisticRegression(max_iter=500).fit(X, y), tmp_path / "m.pkl")
    with pytest.raises(ScaleMLError, match="No model file"):
        scaleml.load(tmp_path / "missing.skops")


_LOAD_AND_PREDICT = """
import sys
import numpy as np
import scaleml
model = scaleml.load(sys.argv[1])  # no trusted=: scaleml's own types are trusted
np.save(sys.argv[3], model.predict(np.load(sys.argv[2])))
"""


def test_scaleml_nn_models_round_trip_through_skops_in_a_fresh_process(tmp_path):
    """Saved as NumPy weights, rebuilt on load: identical predictions, no pickle, no trust needed."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    import numpy as np
    from sklearn.datasets import load_digits

    from scaleml.nn import CNNClassifier, MLPClassifier, MLPRegressor

    digits, labels = load_digits(return_X_y=True)
    digits = digits / 16.0
    np.save(tmp_path / "X.npy", digits[:50])
    script = tmp_path / "load.py"
    script.write_text(_LOAD_AND_PREDICT)
    for model, target in [(CNNClassifier(epochs=1, image_shape=(8, 8), random_state=0), labels),
                          (MLPClassifier(epochs=1, random_state=0), labels),
                          (MLPRegressor(epochs=1, random_state=0), labels.astype(float))]:
        model.fit(digits, target)
        path = scaleml.save(Scaled(model).fit(digits, target) if isinstance(model, MLPClassifier) else model,
                            tmp_path / f"{type(model).__name__}.skops")
        out = tmp_path / f"{type(model).__name__}.npy"
        done = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / "X.npy"), str(out)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        saved = model if not isinstance(model, MLPClassifier) else scaleml.load(path)
        assert_array_equal(np.load(out), saved.predict(digits[:50]))


def test_a_custom_network_class_still_needs_trust(tmp_path):
    pytest.importorskip("torch")
    import numpy as np

    from scaleml.nn import MLPClassifier

    model = MLPClassifier(epochs=1, module=_TinyNet, random_state=0).fit(X, y)
    path = scaleml.save(model, tmp_path / "custom.skops")
    with pytest.raises(UntrustedModelError, match="_TinyNet"):
        scaleml.load(path)
    loaded = scaleml.load(path, trusted=[f"{__name__}._TinyNet"])
    assert_array_equal(loaded.predict(X), model.predict(X))
    assert np.isfinite(loaded.predict_proba(X)).all()


def _tiny_net(input_shape, n_outputs):
    import torch

    return torch.nn.Linear(input_shape[0], n_outputs)


class _TinyNet:
    """A module factory class, as users pass to module=."""

    def __new__(cls, input_shape, n_outputs):
        return _tiny_net(input_shape, n_outputs)


def test_a_file_naming_a_scaleml_function_is_refused_without_running_it(tmp_path):
    """Only scaleml's estimator classes are trusted by default, by exact name: a crafted file
    that names another scaleml callable (here scaleml.persistence.load on a pickle) runs nothing."""
    import io
    import json
    import os
    import zipfile

    import skops.io as sio

    marker = tmp_path / "ran.txt"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload()))
    benign = zipfile.ZipFile(io.BytesIO(sio.dumps({"a": 1})))
    schema = json.loads(benign.read("schema.json"))
    string = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "is_json": True,
              "content": json.dumps(str(tmp_path / "evil.pkl"))}
    true = {"__class__": "bool", "__module__": "builtins", "__loader__": "JsonNode", "is_json": True, "content": "true"}
    schema["content"]["a"] = {"__class__": "load", "__module__": "scaleml.persistence",
                              "__loader__": "ConstructorFromReduceNode",
                              "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                                          "content": [string, true]}}
    crafted = tmp_path / "model.skops"
    with zipfile.ZipFile(crafted, "w") as out:
        for name in benign.namelist():
            out.writestr(name, json.dumps(schema) if name == "schema.json" else benign.read(name))
    with pytest.raises(UntrustedModelError, match="scaleml.persistence.load"):
        scaleml.load(crafted)
    assert not marker.exists()
