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


_TRAIN_WITH_CALLBACKS = """
import sys, warnings
import numpy as np
from sklearn.datasets import load_digits
import torch
import scaleml
from scaleml.nn import CNNClassifier, MLPClassifier
from scaleml.nn.callbacks import Callback, GradientClipping, LRScheduler


class PrintLR(Callback):  # a user's callback, defined in the script: __main__.PrintLR
    def on_epoch_end(self, training):
        print("lr", training.record["lr"])


def flip(batch):  # a user's augment function, __main__.flip
    return batch


class Net(torch.nn.Module):  # a user's network: predicting needs it
    def __init__(self, input_shape, n_outputs):
        super().__init__()
        self.layer = torch.nn.Linear(input_shape[0], n_outputs)

    def forward(self, x):
        return self.layer(x)


X, y = load_digits(return_X_y=True)
X = X[:300] / 16.0
y = y[:300]
np.save(sys.argv[1] + "/X.npy", X)
callbacks = [LRScheduler("StepLR", step_size=1, gamma=0.5), GradientClipping(1.0), PrintLR()]
cnn = CNNClassifier(epochs=2, image_shape=(8, 8), callbacks=callbacks, augment=flip, random_state=0).fit(X, y)
with warnings.catch_warnings():
    warnings.simplefilter("error")  # nothing of the script is needed to load it: no warning
    scaleml.save(cnn, sys.argv[1] + "/cnn.skops")
assert cnn.callbacks is callbacks and cnn.augment is flip  # the caller's model is unchanged
np.save(sys.argv[1] + "/cnn.npy", cnn.predict(X))
mlp = MLPClassifier(epochs=1, module=Net, random_state=0).fit(X, y)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scaleml.save(mlp, sys.argv[1] + "/net.skops")
print("SAVE WARNING:", " | ".join(str(w.message) for w in caught))
"""

_LOAD_IN_ANOTHER_PROCESS = """
import sys, warnings
import numpy as np
import scaleml
from scaleml.exceptions import ModelTypeNotFoundError, SavedWithoutWarning
from sklearn.base import clone

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    cnn = scaleml.load(sys.argv[1] + "/cnn.skops")  # no trusted=: nothing of the user's is in it
assert np.array_equal(cnn.predict(np.load(sys.argv[1] + "/X.npy")), np.load(sys.argv[1] + "/cnn.npy"))
assert cnn.get_params()["callbacks"] is None and cnn.get_params()["augment"] is None
clone(cnn)
print("LOAD WARNING:", " | ".join(f"{w.category.__name__}: {w.message}" for w in caught))
try:
    scaleml.load(sys.argv[1] + "/net.skops", trusted=True)
except ModelTypeNotFoundError as exc:
    print("LOAD ERROR:", exc)
"""


def test_a_cnn_trained_with_a_scripts_callbacks_loads_in_another_process(tmp_path):
    """The issue's case: callbacks (scaleml's and one of the script's own) and an augment function
    are training-only: left out of the file, so another process loads and predicts without trust.
    A class predicting needs (a network defined in the script) is named, with the fix."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    def run(code):
        script = tmp_path / "script.py"
        script.write_text(code)
        done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    trained = run(_TRAIN_WITH_CALLBACKS)
    assert "lr 0.0005" in trained  # the schedule ran: halved after the first epoch
    assert "needs __main__.Net, defined in the running script" in trained and "Move the class" in trained
    loaded = run(_LOAD_IN_ANOTHER_PROCESS)
    warning = loaded.split("LOAD WARNING:")[1].split("\n")[0]
    assert "SavedWithoutWarning" in warning and "PrintLR(" in warning and "__main__.flip" in warning
    assert "set_params(augment=..., callbacks=...)" in warning
    error = loaded.split("LOAD ERROR:")[1]
    assert "needs __main__.Net: Net was defined in the script that trained" in error and "Move the class" in error


def test_training_only_parameters_are_left_out_wherever_the_model_holds_them(tmp_path):
    """Inside a search (its estimator and best_estimator_) too; the caller's model keeps them;
    files holding scaleml's own callbacks (skops.io.dump of a model) load without trust."""
    pytest.importorskip("torch")
    import skops.io as sio
    from sklearn.utils.validation import check_is_fitted

    from scaleml.nn import MLPClassifier
    from scaleml.nn.callbacks import GradientClipping, LRScheduler

    callbacks = [GradientClipping(1.0)]
    search = GridSearchCV(MLPClassifier(epochs=1, callbacks=callbacks, random_state=0), {"batch_size": [32]}, cv=2)
    path = scaleml.save(search.fit(X, y), tmp_path / "search.skops")
    with pytest.warns(scaleml.exceptions.SavedWithoutWarning, match=r"MLPClassifier: callbacks=\[GradientClipping"):
        loaded = scaleml.load(path, trusted=scaleml.persistence.to_trust(path))  # scikit-learn's scorer, CV
    assert loaded.estimator.callbacks is None and loaded.best_estimator_.callbacks is None
    assert search.estimator.callbacks is callbacks  # unchanged
    from scaleml._training_only import without_training_only

    stripped = without_training_only(search.estimator)
    assert stripped.callbacks is None and search.estimator.callbacks is callbacks
    with pytest.raises(NotFittedError):
        check_is_fitted(stripped)  # the record of what was left out is not a fitted attribute
    assert_array_equal(loaded.predict(X), search.predict(X))
    model = MLPClassifier(epochs=1, callbacks=[LRScheduler("StepLR", step_size=1), GradientClipping(1.0)],
                          random_state=0).fit(X, y)
    sio.dump(model, tmp_path / "raw.skops")
    assert scaleml.persistence.to_trust(tmp_path / "raw.skops") == []
    assert_array_equal(scaleml.load(tmp_path / "raw.skops").predict(X), model.predict(X))


def test_a_type_from_a_module_not_on_the_path_is_named_before_trust(tmp_path):
    """A file naming a class of a module this process cannot import: the module and the fix, at once
    (trusting it could not help), and nothing imported."""
    import io
    import json
    import zipfile

    import skops.io as sio

    from scaleml.exceptions import ModelTypeNotFoundError

    benign = zipfile.ZipFile(io.BytesIO(sio.dumps({"a": 1})))
    schema = json.loads(benign.read("schema.json"))
    schema["content"]["a"] = {"__class__": "Net", "__module__": "my_parts_not_installed", "__loader__": "ObjectNode",
                              "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                                          "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                                                       "__loader__": "ListNode", "content": []}}}
    crafted = tmp_path / "model.skops"
    with zipfile.ZipFile(crafted, "w") as out:
        for name in benign.namelist():
            out.writestr(name, json.dumps(schema) if name == "schema.json" else benign.read(name))
    assert "my_parts_not_installed.Net" in sio.get_untrusted_types(file=crafted)
    with pytest.raises(ModelTypeNotFoundError, match=r"no module 'my_parts_not_installed'.*PYTHONPATH"):
        scaleml.load(crafted, trusted=True)
