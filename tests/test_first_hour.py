"""What a new user hit in the first hour (issue: the first hour, third pass), each kept fixed."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scaleml
from scaleml import Scaled
from scaleml.cli import main
from scaleml.exceptions import BackendOptionError, DataError


@pytest.fixture
def people_csv(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 80, 40), "income": rng.normal(50, 10, 40)})
    frame["label"] = (frame["income"] > 50).astype(int)
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_local_refuses_a_path_before_fitting_naming_dask_ml_and_how_to_read_it(people_csv):
    model = Scaled(make_pipeline(StandardScaler(), LogisticRegression()), backend="local")
    with pytest.raises(DataError) as err:
        model.fit(people_csv, "label")
    message = str(err.value)
    assert people_csv in message and "backend='dask-ml'" in message and "pandas.read_csv" in message
    assert not hasattr(model, "estimator_")  # refused before anything was fitted


def test_local_still_fits_the_same_data_read_into_memory(people_csv):
    frame = pd.read_csv(people_csv)
    model = Scaled(make_pipeline(StandardScaler(), LogisticRegression()), backend="local")
    assert model.fit(frame[["age", "income"]], frame["label"]).score(frame[["age", "income"]], frame["label"]) > 0.8


@pytest.mark.parametrize("backend, typo, nearest", [("dask", "n_wrkers", "n_workers"), ("local", "njobs", "n_jobs")])
def test_a_misspelled_option_is_one_line_naming_the_nearest(backend, typo, nearest):
    with pytest.raises(BackendOptionError) as err:
        scaleml.backends.create_backend(backend, **{typo: 2})
    message = str(err.value)
    assert "\n" not in message and f"did you mean {nearest!r}?" in message
    assert f"scaleml info {backend}" in message and len(message) < 200


def test_n_jobs_copied_to_dask_says_every_worker_is_used():
    with pytest.raises(BackendOptionError, match="every worker is used; n_jobs stays the estimator's own"):
        scaleml.backends.create_backend("dask", n_jobs=-1)


def test_scaleml_info_backend_lists_every_option_with_its_default():
    result = CliRunner().invoke(main, ["info", "dask", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    cls = scaleml.backends.get_backend_class("dask")
    assert [o["name"] for o in data["options"]] == list(cls.options)
    assert data["available"] is True
    text = CliRunner().invoke(main, ["info", "local"]).output
    assert all(f"  {name} " in text for name in scaleml.backends.get_backend_class("local").options)
    unknown = CliRunner().invoke(main, ["info", "daks"])
    assert unknown.exit_code != 0 and "Did you mean 'dask'?" in unknown.output


def test_explain_on_a_dask_array_past_the_budget_says_what_the_fit_will_do():
    """A later step's input size is known from the first's (same rows, a scaler keeps the width):
    explain named scikit-learn for LogisticRegression while the fit switched to scaleml.linear_model."""
    da = pytest.importorskip("dask.array")
    from scaleml.planning import Route

    X = da.from_array(np.random.default_rng(0).normal(size=(4000, 10)), chunks=500)
    y = (X[:, 0] > 0).astype(int)
    model = Scaled(make_pipeline(StandardScaler(), LogisticRegression()), backend="dask-ml",
                   max_in_memory_bytes=100_000)  # the 320 kB input is past it
    planned = scaleml.explain(model, X=X)
    assert [step.route for step in planned] == [Route.STREAMED, Route.BLOCKED]
    assert planned == model.fit(X, y).plan_
    assert "grew past" not in model.plan_[1].reason  # no fallback: it was planned so
