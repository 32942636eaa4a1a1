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
from scaleml.persistence import UntrustedModelError

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
