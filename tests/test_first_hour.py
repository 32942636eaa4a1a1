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


RECIPE = """name: people
description: my own CSV
data: {source: csv, train: train.csv, test: test.csv, target: label}
pipeline:
  - sklearn.compose.ColumnTransformer: {transformers: [[numbers, passthrough, [age, income]]]}
  - sklearn.linear_model.LogisticRegression: {max_iter: 500}
search:
  kind: grid
  params: {logisticregression__C: [0.1, 1.0]}
  cv: 3
metric: accuracy
"""


@pytest.mark.slow
def test_a_recipe_on_your_own_csv_runs_on_every_backend(tmp_path, monkeypatch):
    """A ColumnTransformer by column names in a search, on CSV files: every row gets the data in
    the form it needs (DataFrames read once for in-memory rows, the files for dask-ml)."""
    rng = np.random.default_rng(0)
    for name, rows in (("train", 60), ("test", 30)):
        frame = pd.DataFrame({"age": rng.integers(18, 80, rows), "income": rng.normal(50, 10, rows),
                              "city": rng.choice(["a", "b"], rows)})
        frame["label"] = (frame["income"] > 50).astype(int)
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "people.yaml").write_text(RECIPE)
    monkeypatch.chdir(tmp_path)
    backends = ["sklearn", "local:n_jobs=-1", "dask", "dask-ml", "auto"]
    result = CliRunner().invoke(main, ["bench", "people.yaml", "--backends", ",".join(backends), "--repeat", "1",
                                       "--warmup", "0", "--no-memory", "--out", "out"])
    assert result.exit_code == 0, result.output
    run = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    scores = {m["backend"]: m["score"] for m in run["measurements"]}
    assert set(scores) == set(backends) and len(set(scores.values())) == 1, scores
    train, test = pd.read_csv(tmp_path / "train.csv"), pd.read_csv(tmp_path / "test.csv")
    from sklearn.compose import ColumnTransformer
    from sklearn.model_selection import GridSearchCV

    plain = GridSearchCV(make_pipeline(ColumnTransformer([("numbers", "passthrough", ["age", "income"])]),
                                       LogisticRegression(max_iter=500)), {"logisticregression__C": [0.1, 1.0]}, cv=3)
    expected = plain.fit(train.drop(columns="label"), train["label"]).score(test.drop(columns="label"), test["label"])
    assert scores["sklearn"] == pytest.approx(expected)


def test_a_failure_shows_the_first_non_empty_line_of_its_message():
    from scaleml.bench.runner import failure_line

    assert failure_line(ValueError("\nSpecifying the columns\nmore")) == "failed: ValueError: Specifying the columns"
    assert failure_line(KeyError()) == "failed: KeyError"


def test_no_chart_says_why():
    from scaleml._cli_bench import _no_chart_reason
    from scaleml.bench.results import BenchRun

    assert _no_chart_reason(BenchRun("c", "d", "accuracy", ["dask-ml"])) == "(no chart: no backend finished a timed fit)"


def test_run_reads_your_csv_into_memory_for_an_in_memory_backend(tmp_path, monkeypatch):
    """`scaleml run` agrees with `scaleml bench`: files for local are read into pandas once
    (it refused them, naming dask-ml, while bench ran the same recipe)."""
    rng = np.random.default_rng(1)
    for name in ("train", "test"):
        frame = pd.DataFrame({"age": rng.integers(18, 80, 40), "income": rng.normal(50, 10, 40)})
        frame["label"] = (frame["income"] > 50).astype(int)
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "people.yaml").write_text(RECIPE)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", "people.yaml", "--backend", "local"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "backend 'local'" in result.output


def test_a_recipe_with_an_estimator_inside_a_column_transformer_is_refused_before_running(tmp_path):
    from scaleml.exceptions import RecipeError
    from scaleml.recipes import load_recipe

    nested = RECIPE.replace("[[numbers, passthrough, [age, income]]]",
                            "[[numbers, {sklearn.preprocessing.StandardScaler: {}}, [age, income]]]")
    (tmp_path / "nested.yaml").write_text(nested)
    with pytest.raises(RecipeError, match=r"transformers\[0\]: got .*estimators inside estimators cannot be written"):
        load_recipe(tmp_path / "nested.yaml")


# -- after review ------------------------------------------------------------------------------


def test_without_dask_installed_no_dask_config_is_read(monkeypatch):
    import sys

    from scaleml.engines.dask.cluster import ClusterSpec

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.delenv("SCALEML_DASK_ADDRESS", raising=False)
    monkeypatch.setitem(sys.modules, "dask.config", None)  # as if dask were not installed
    assert ClusterSpec().address_and_source()[0] is None  # backend="auto" asked this and crashed


def test_a_step_planned_refused_is_refused_before_any_step_reads_the_data():
    da = pytest.importorskip("dask.array")
    from sklearn.svm import SVC

    from scaleml.exceptions import OutOfMemoryBudgetError

    X = da.from_array(np.random.default_rng(0).normal(size=(4000, 10)), chunks=500)
    y = (X[:, 0] > 0).astype(int)
    model = Scaled(make_pipeline(StandardScaler(), SVC()), backend="dask-ml", max_in_memory_bytes=100_000)
    with pytest.raises(OutOfMemoryBudgetError, match="'svc'"):
        model.fit(X, y)
    assert not hasattr(model.estimator[0], "n_samples_seen_")  # the scaler never streamed a block


def test_local_leaves_dask_collections_to_the_estimator_as_plainly():
    da = pytest.importorskip("dask.array")

    X = da.from_array(np.random.default_rng(0).normal(size=(200, 3)), chunks=50)
    fitted = Scaled(StandardScaler(), backend="local").fit(X).estimator_
    np.testing.assert_allclose(fitted.mean_, StandardScaler().fit(X).mean_)


def test_a_route_given_by_value_is_the_route():
    from scaleml.planning import Placement, Route

    assert Placement("s", "E", "cpu", "e", "1 process", "NumPy", "why", "in-process").route is Route.IN_PROCESS
    with pytest.raises(ValueError):
        Placement("s", "E", "cpu", "e", "1 process", "NumPy", "why", "nowhere")


def test_bench_reads_files_for_a_profile_of_an_out_of_core_backend(monkeypatch):
    from pathlib import Path

    from scaleml.bench.runner import BackendSpec, reads_files

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the shipped profiles in ./backends
    assert reads_files(BackendSpec("dask-ml-out-of-core")) and not reads_files(BackendSpec("local-all-cores"))


def test_estimator_packages_read_after_a_plain_import_in_a_fresh_process():
    """``import scaleml`` then ``scaleml.cluster.KMeans`` (as the docs write it) works; a new
    user's first line raised AttributeError: the subpackages were never imported."""
    import subprocess
    import sys

    code = ("import scaleml; print(scaleml.cluster.KMeans.__name__, scaleml.decomposition.PCA.__name__, "
            "scaleml.preprocessing.Categorizer.__name__, scaleml.linear_model.PoissonRegressor.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["KMeans", "PCA", "Categorizer", "PoissonRegressor"]
