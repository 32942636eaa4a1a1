"""Recipes: safe loading with clear errors, `scaleml run`, `scaleml bench RECIPE`, --compare."""

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scaleml.cli import main
from scaleml.recipes import RecipeError, load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

TINY = """\
name: tiny
description: iris + scaler + logistic regression
data: {source: sklearn, name: iris}
pipeline:
  - sklearn.preprocessing.StandardScaler: {}
  - sklearn.linear_model.LogisticRegression: {max_iter: 500}
search: {kind: grid, params: {logisticregression__C: [0.1, 1.0]}, cv: 3}
metric: accuracy
backends: [sklearn, local]
"""


def _write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_validate(path):
    recipe = load_recipe(path)
    assert recipe.description and recipe.backends
    assert hasattr(recipe.make_estimator(), "fit")


@pytest.mark.parametrize(
    "text, match",
    [
        (TINY.replace("metric: accuracy", "metrc: accuracy"), r"recipe: unknown key\(s\) \['metrc'\]"),
        (TINY.replace("{source: sklearn, name: iris}", "{source: sklearn, name: mnist}"), "data.name: expected one of"),
        (TINY.replace("{source: sklearn, name: iris}", "{source: ftp}"), "data.source: expected one of"),
        (TINY.replace("{max_iter: 500}", "[500]"), "parameters must be a mapping"),
        (TINY.replace("{max_iter: 500}", "{max_iterations: 500}"), "bad parameters"),
        (TINY.replace("sklearn.preprocessing.StandardScaler", "os.system"), "outside the allowed packages"),
        (TINY.replace("sklearn.preprocessing.StandardScaler", "subprocess.Popen"), "--allow-any-import"),
        (TINY.replace("sklearn.preprocessing.StandardScaler", "sklearn.preprocessing.NoSuchScaler"), "cannot import"),
        (TINY.replace("sklearn.preprocessing.StandardScaler", "sklearn.preprocessing.StandardScalar"),
         r"has no 'StandardScalar'; did you mean sklearn\.preprocessing\.StandardScaler\?"),
        (TINY.replace("pipeline:", "pipeline:\n  -: [oops", 1), r"(?s)not valid YAML \(.*\.yaml.*line \d+"),
        (TINY.replace("sklearn.preprocessing.StandardScaler", "sklearn.clone"), "not an estimator class"),
        (TINY.replace("kind: grid", "kind: bayes"), "search.kind"),
        (TINY.replace("logisticregression__C:", "logisticregression__CC:"),
         r"search.params.logisticregression__CC: the pipeline has no parameter .*did you mean 'logisticregression__C'\?"),
        (TINY.replace("metric: accuracy", "metric: happiness"), "scorer name"),
        (TINY.replace("backends: [sklearn, local]", "backends: local"), "backends: expected a list"),
        ("data: {source: sklearn, name: iris}\n", "pipeline: missing"),
        ("- just a list\n", "recipe: expected a mapping"),
        ("!!python/object/apply:os.system ['touch /tmp/scaleml-pwned']\n", "not plain YAML data"),
    ],
)
def test_bad_recipes_name_file_key_and_fix(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(RecipeError, match=match) as err:
        load_recipe(path)
    assert str(path) in str(err.value)
    assert not Path("/tmp/scaleml-pwned").exists()


def test_missing_file():
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe("does/not/exist.yaml")


def test_opt_in_allows_other_packages(tmp_path):
    text = TINY.replace("sklearn.preprocessing.StandardScaler", "tests_helpers_not_allowed.Scaler")
    with pytest.raises(RecipeError, match="outside the allowed packages"):
        load_recipe(_write(tmp_path, text))
    # With the opt-in, the import is attempted (and fails here: no such module).
    with pytest.raises(RecipeError, match="cannot import"):
        load_recipe(_write(tmp_path, text), allow_any_import=True)


def test_run_command_and_save(tmp_path):
    import scaleml

    model_path = tmp_path / "tiny.skops"
    result = CliRunner().invoke(main, ["run", str(_write(tmp_path, TINY)), "-b", "local", "--save", str(model_path)])
    assert result.exit_code == 0, result.output
    assert "Plan: backend 'local'" in result.output and "GridSearchCV" in result.output
    assert "tiny: fit" in result.output and "accuracy 0.9" in result.output
    search = scaleml.load(model_path, trusted=True)
    assert search.best_params_["logisticregression__C"] in (0.1, 1.0)
    # The output says how to load it: the types to trust, which are enough.
    line = next(line for line in result.output.splitlines() if line.startswith("load it with scaleml.load("))
    trusted = ast.literal_eval(line.split("trusted=", 1)[1].split(")", 1)[0])
    assert trusted and all(isinstance(name, str) for name in trusted)
    assert scaleml.load(model_path, trusted=trusted).best_params_ == search.best_params_
    assert "(chosen by argument)" in result.output
    from_recipe = CliRunner().invoke(main, ["run", str(_write(tmp_path, TINY))])
    assert from_recipe.exit_code == 0 and "(the recipe's first backend)" in from_recipe.output


def test_bench_recipe_and_compare(tmp_path):
    recipe = _write(tmp_path, TINY)
    runner = CliRunner()
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}"
        result = runner.invoke(main, ["bench", str(recipe), "--repeat", "1", "--warmup", "0", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "speed-up vs sklearn" in result.output
        outs.append(next(out.glob("*.json")))
    data = json.loads(outs[0].read_text())
    assert data["case"] == "tiny" and [m["backend"] for m in data["measurements"]] == ["sklearn", "local"]
    assert data["provenance"]["command"].startswith(f"scaleml bench {recipe}")
    compared = runner.invoke(main, ["bench", "--compare", str(outs[0]), str(outs[1])])
    assert compared.exit_code == 0, compared.output
    assert "B/A" in compared.output and "local" in compared.output
    assert "different data sizes" not in compared.output
    # Found by a new user: runs of other sizes were compared without a word; a CSV gave a bare JSON error.
    bigger = json.loads(outs[1].read_text())
    bigger["provenance"]["scale"] = 3.0
    outs[1].write_text(json.dumps(bigger))
    compared = runner.invoke(main, ["bench", "--compare", str(outs[0]), str(outs[1])])
    assert "note: different data sizes (--scale 1.0 vs 3.0)" in compared.output
    csv_file = next(outs[0].parent.glob("*.csv"))
    refused = runner.invoke(main, ["bench", "--compare", str(csv_file), str(outs[1])])
    assert refused.exit_code != 0 and f"{csv_file} is not a result file `scaleml bench` wrote" in refused.output
    assert "give the .json file" in refused.output


def test_failing_backend_is_reported_not_fatal(tmp_path):
    """A backend whose fit raises is listed as failed; the others still run."""
    text = TINY.replace("search: {kind: grid, params: {logisticregression__C: [0.1, 1.0]}, cv: 3}\n", "")
    recipe = _write(tmp_path, text)
    refused = CliRunner().invoke(
        main, ["bench", str(recipe), "--backends", "sklearn,local,dask-ml:epochs=0", "--out", str(tmp_path / "o")],
    )
    assert refused.exit_code != 0 and "'epochs' option of backend 'dask-ml'" in refused.output  # before any work
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(
        main, ["bench", str(recipe), "--backends", "sklearn,local,dask:address=tcp://127.0.0.1:9:timeout=1",
               "--repeat", "2", "--warmup", "0", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 1, result.output  # the run is incomplete, and the status says so
    assert "dask:address=tcp://127.0.0.1:9:timeout=1: skipped: failed: ClusterConnectionError" in result.output
    assert "the run is incomplete: dask:address=tcp://127.0.0.1:9:timeout=1 failed" in result.output
    data = json.loads(next((tmp_path / "o").glob("*.json")).read_text())
    assert [m["backend"] for m in data["measurements"]] == ["sklearn", "local", "local", "sklearn"]  # balanced order


def test_synthetic_parquet_recipe_runs_out_of_core(tmp_path, monkeypatch):
    pytest.importorskip("dask_ml")
    monkeypatch.setenv("SCALEML_CACHE", str(tmp_path / "cache"))
    text = (RECIPES / "sgd_out_of_core.yaml").read_text().replace("rows_per_file: 250000", "rows_per_file: 2000")
    recipe = _write(tmp_path, text)
    result = CliRunner().invoke(main, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "scikit-learn partial_fit" in result.output and "score 0.9" in result.output
    assert len(list((tmp_path / "cache").rglob("part-*.parquet"))) == 8
    # An in-memory backend gets the files read into pandas once, as scaleml bench gives them.
    in_memory = CliRunner().invoke(main, ["run", str(recipe), "-b", "local"])
    assert in_memory.exit_code == 0, in_memory.output
    assert "backend 'local'" in in_memory.output and "score 0.9" in in_memory.output


def test_blocked_logistic_regression_recipe_runs_on_parquet(tmp_path, monkeypatch):
    pytest.importorskip("dask_ml")
    monkeypatch.setenv("SCALEML_CACHE", str(tmp_path / "cache"))
    text = (RECIPES / "logreg_out_of_core.yaml").read_text().replace("rows_per_file: 250000", "rows_per_file: 2000")
    result = CliRunner().invoke(main, ["run", str(_write(tmp_path, text))])
    assert result.exit_code == 0, result.output
    assert "scaleml.linear_model" in result.output and "score 0.9" in result.output


def test_run_keeps_the_options_of_the_recipes_first_backend_and_of_the_argument(tmp_path):
    """``backends: [sklearn, "local:n_jobs=2"]``: ``scaleml run`` fits on local with
    n_jobs=2, as bench does (it ran with n_jobs=None); ``-b local:n_jobs=2`` was refused."""
    recipe = _write(tmp_path, TINY.replace("backends: [sklearn, local]", 'backends: [sklearn, "local:n_jobs=2"]'))
    from_recipe = CliRunner().invoke(main, ["run", str(recipe)])
    assert from_recipe.exit_code == 0, from_recipe.output
    assert "options n_jobs=2" in from_recipe.output and "(the recipe's first backend)" in from_recipe.output
    by_argument = CliRunner().invoke(main, ["run", str(recipe), "-b", "local:n_jobs=2"])
    assert by_argument.exit_code == 0, by_argument.output
    assert "options n_jobs=2" in by_argument.output and "(chosen by argument)" in by_argument.output
