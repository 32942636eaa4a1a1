"""Every snippet of the docs site (docs/**/*.md) runs, so the docs cannot drift from the code.

The machinery is shared with tests/test_readme.py (the README's snippets):

- python blocks run in order; a plain block runs on its own, with only the data the
  docs call yours (X, y, a pipeline, Parquet files, ...): copied from the page, it
  must run as written, its imports included. A block of IPython magics runs on an
  IPython shell, one session per page, as a notebook's cells do;
- every command line of the bash blocks runs in a folder with the files it names
  (each distinct command once, wherever it appears);
- yaml blocks are read as what they show: a recipe with scaleml's own loader, a
  profile checked against its backend's options, a fragment as YAML;
- text blocks are output, shown and not run.

A snippet that cannot run here (a remote scheduler, minutes of benchmarking,
gigabytes of data) is listed in NOT_RUN with the reason. A snippet neither run nor
listed fails the test. The schema tables of the recipes and profiles pages are
checked against the code, so a new key or option must be documented.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))

# Snippets not run here, each found by a piece of its text, with the reason.
NOT_RUN = {
    "--resume runs/search1 search.py": "names the user's own script; scaleml exec --resume is run on a real "
                                       "script by test_resume.py::test_exec_resume_reads_back_what_a_first_run_wrote",
    "make demo": "the Quick start's main job (minutes); CI runs `make test` itself",
    "python bench/out_of_core/peak_rss.py run --rows 3200000": "generates 0.7 GB of Parquet and fits in ten processes "
                                                              "(minutes); test_out_of_core_memory.py runs its fits",
    "make test": "the Quick start's test job: this test runs inside it",
    'address="tcp://scheduler:8786").fit': "names a remote scheduler; by-address fits are tested on real "
                                           "scheduler/worker processes in test_dask_backend.py",
    "scaleml bench recipes/rf_gridsearch.yaml --repeat 5": "minutes of benchmarking; bench recipes are tested small in test_recipes.py",
    "scaleml bench recipes/sgd_out_of_core.yaml --scale 10": "writes 5.7 GB of generated data",
    "scaleml bench --compare old.json new.json": "needs two earlier result files; --compare is tested in test_recipes.py",
    "scaleml bench --case digits-forest-search --backends": "minutes of benchmarking; the bench CLI is tested small in test_cli.py",
    "scaleml calibrate --refine": "names the file of a bench run of minutes (its date in the name); --refine is "
                                  "tested on a real bench run in test_calibration_refine.py",
    "[project.entry-points": "packaging metadata, not code; entry-point plug-ins are tested in test_registry.py",
    "make sklearn-suite": "scikit-learn's five test files three ways (tens of minutes on 2 cores); test_sklearn_suite.py "
                          "runs a bounded selection with the plugin in CI",
    "slurm-cpu": "names the reader's profile file and SLURM cluster; kind: slurm's dry run, cluster up, a "
                 "search, status and down run on a single-host SLURM in test_cluster_slurm.py",
    "--profile dask-gpu-nodes": "names backends/ of the repository; the GPU profile's dry run is tested in "
                                "test_cluster_slurm.py",
    "pytest -p scaleml.pytest_plugin": "whole test suites inside a backend (tens of minutes); the plugin runs a "
                                       "bounded selection of scikit-learn's tests in test_sklearn_suite.py",
    "--profile team-": "starts a cluster on servers, queues or a Kubernetes cluster this machine lacks; scaleml cluster "
                       "is tested for real in test_cluster_ssh.py (sshd on simulated hosts) and test_cluster_profiles.py",
    "-b team-ssh": "uses a cluster on servers this machine lacks; a run through a kind: ssh profile is tested in "
                   "test_cluster_ssh.py",
}

SCRIPT = """
import sys
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
X, y = load_iris(return_X_y=True)
print(sys.argv[1:], cross_val_score(RandomForestClassifier(n_estimators=5, random_state=0), X, y, cv=3).mean())
"""

KINDS = ("python", "bash", "text", "yaml")


def blocks(path):
    """The fenced blocks of a page: (language, body), in order."""
    return re.findall(r"```(\w*)\n(.*?)```", Path(path).read_text(), re.S)


def not_run(text):
    return next((reason for key, reason in NOT_RUN.items() if key in text), None)


def command_lines(paths):
    """Each distinct command line of the bash blocks of ``paths``, in order of appearance."""
    seen = {}
    for path in paths:
        for lang, body in blocks(path):
            if lang != "bash":
                continue
            for line in body.splitlines():
                command = line.split("  #")[0].split(" # ")[0].strip()
                if command and not command.startswith("#"):
                    seen.setdefault(command, None)
    return list(seen)


def make_folder(here):
    """A working folder with the files the snippets name."""
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import make_classification

    (here / "train.py").write_text(SCRIPT)
    (here / "mypackage").mkdir()
    (here / "mypackage" / "__init__.py").write_text("")
    (here / "mypackage" / "train.py").write_text(SCRIPT)
    (here / "recipes").symlink_to(ROOT / "recipes")
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):  # an image folder: one subfolder per class
        (here / "photos" / label).mkdir(parents=True)
        for k in range(12):
            pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(here / "photos" / label / f"{k:02d}.png")
    X, y = make_classification(n_samples=4_000, n_features=10, random_state=0)
    for name, rows in (("data", slice(0, 3_000)), ("holdout", slice(3_000, 4_000))):
        (here / name).mkdir()
        frame = pd.DataFrame(X[rows], columns=[f"f{i}" for i in range(10)])
        frame["label"] = y[rows]
        half = len(frame) // 2
        for part, chunk in enumerate((frame.iloc[:half], frame.iloc[half:])):
            chunk.to_parquet(here / name / f"part-{part}.parquet")
    return here


def namespace():
    """What the snippets call yours: data, a pipeline and its grid, a plug-in backend."""
    import dask.array as da
    from sklearn.datasets import load_digits, load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scaleml.backends import Backend, Placement

    class MyBackend(Backend):
        """The smallest honest plug-in: everything in this process, and the plan says so."""

        name = "mybackend"

        def fit(self, estimator, X, y, record, **fit_params):
            self.place_steps(estimator, X, record, lambda path, step, form: Placement(
                path, type(step).__name__, "cpu", "scikit-learn", "1 process", form, "mybackend: here"))
            return estimator if record.dry_run else estimator.fit(X, y, **fit_params)

        def call(self, estimator, method, X, *args, **kwargs):
            return getattr(estimator, method)(X, *args, **kwargs)

    X, y = load_iris(return_X_y=True)
    digits, labels = load_digits(return_X_y=True)
    grid = {"randomforestclassifier__max_depth": [2, 4]}
    return {
        "X": X, "y": y, "X_train": digits / 16.0, "y_train": labels,
        "X_dask": da.from_array(X, chunks=(50, 4)), "y_dask": da.from_array((y > 0).astype(int), chunks=50),
        "pipe": make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0)),
        "grid": grid, "search": GridSearchCV(RandomForestClassifier(n_estimators=10), {"max_depth": [2, 4]}),
        "MyBackend": MyBackend,
    }


def run_python_blocks(path, skip=()):
    """Run the python blocks of one page (IPython blocks on one shell); how many ran."""
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(user_ns=namespace())
    ran = 0
    for lang, body in blocks(path):
        if lang != "python" or not_run(body) or body in skip:
            continue
        if body.lstrip().startswith("%"):
            result = shell.run_cell(body)
            assert result.success, f"{path.name} snippet failed on IPython:\n{body}\n{result.error_in_exec!r}"
        else:
            exec(compile(body, f"{path.name} snippet", "exec"), namespace())  # noqa: S102 - our own docs
        ran += 1
    if "scaleml" in shell.magics_manager.magics["line"]:  # the page's session backend ends with the page
        shell.run_cell("%scaleml off")
    return ran


def run_command(command, folder):
    reason = not_run(command)
    if reason:
        pytest.skip(f"not run here: {reason}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    words = shlex.split(command)
    assignments = {}
    while words and re.match(r"^[A-Z_]+=", words[0]):
        key, _, value = words.pop(0).partition("=")
        assignments[key] = value
    done = subprocess.run(words, cwd=folder, env={**env, **assignments}, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def check_kinds(path):
    """Every fenced block is one of KINDS, or listed as not run."""
    for lang, body in blocks(path):
        assert lang in KINDS or not_run(body), f"{path.name}: a block of kind {lang!r}:\n{body}"


# --- the docs site's own tests (the README's are in test_readme.py) -------------------------

# Blocks the README has too run there, once; IPython blocks run on every page that has
# them, since a page's later cells need its earlier ones (%load_ext scaleml).
README_PYTHON = {body for lang, body in blocks(README) if lang == "python" and not body.lstrip().startswith("%")}
README_COMMANDS = set(command_lines([README]))
PAGES_WITH_PYTHON = [p for p in PAGES if any(lang == "python" and body not in README_PYTHON
                                             for lang, body in blocks(p))]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("docs"))


@pytest.mark.parametrize("page", PAGES_WITH_PYTHON, ids=lambda p: str(p.relative_to(ROOT / "docs")))
def test_every_python_snippet_runs(page, folder, monkeypatch):
    monkeypatch.chdir(folder)
    run_python_blocks(page, skip=README_PYTHON)


@pytest.mark.parametrize("command", [c for c in command_lines(PAGES) if c not in README_COMMANDS])
def test_every_command_runs(command, folder):
    run_command(command, folder)


def test_every_yaml_block_is_what_it_shows(tmp_path):
    import yaml

    from scaleml.backends import get_backend_class
    from scaleml.recipes import load_recipe

    checked = 0
    for page in PAGES:
        for lang, body in blocks(page):
            if lang != "yaml" or not_run(body):
                continue
            data = yaml.safe_load(body)
            assert isinstance(data, dict), f"{page.name}: a yaml block that is no mapping:\n{body}"
            if {"data", "pipeline"} <= set(data):  # a whole recipe: scaleml's loader reads it
                (tmp_path / "recipe.yaml").write_text(body)
                load_recipe(tmp_path / "recipe.yaml")
            elif "cluster" in data:  # a profile that starts a cluster: loaded, its arguments checked
                _check_cluster_profile(tmp_path, body)
            elif "backend" in data:  # a profile: its keys, and its backend's options
                assert set(data) <= {"backend", "options", "description"}, body
                unknown = set(data.get("options") or {}) - set(get_backend_class(data["backend"]).options)
                assert not unknown, f"{page.name}: a profile with options its backend lacks: {unknown}"
            checked += 1
    assert checked >= 3


def _check_cluster_profile(folder, body):
    """Load a profile with a cluster: section as scaleml does, and check its arguments against
    the kind's class where its package is installed (nothing is started)."""
    from scaleml.backends._profiles import load
    from scaleml.exceptions import BackendUnavailableError

    (folder / "cluster-profile.yaml").write_text(body)
    profile = load(folder / "cluster-profile.yaml")
    try:
        profile.cluster.check()
    except BackendUnavailableError:
        pass  # the kind's package is an extra not installed here; its loading was checked


def test_nothing_is_left_unaccounted():
    for page in PAGES:
        check_kinds(page)


def test_every_backend_option_is_documented():
    """The options tables of the profiles page list every option of every built-in backend, with its default."""
    from scaleml.backends import get_backend_class, names

    page = (ROOT / "docs" / "guide" / "profiles.md").read_text()
    for name in names():
        section = page.split(f"### Options of `{name}`\n", 1)
        assert len(section) == 2, f"profiles.md has no options table of {name!r}"
        table = section[1].split("\n### ", 1)[0]
        for key, option in get_backend_class(name).options.items():
            assert f"| `{key}` | `{option.default!r}` |" in table, f"profiles.md: {name}'s option {key!r} is missing"


def test_every_recipe_key_is_documented():
    """The recipes page's tables name every key a recipe may hold."""
    from scaleml import recipes

    keys = {name: getattr(recipes, name, None) for name in ("_TOP_KEYS", "_DATA_KEYS", "_SEARCH_KEYS")}
    if None in keys.values():
        pytest.skip("recipes.py keeps its schema under other names now: update this test to read them")
    page = (ROOT / "docs" / "guide" / "recipes.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", page, re.M))
    wanted = keys["_TOP_KEYS"] | keys["_SEARCH_KEYS"] | set().union(*keys["_DATA_KEYS"].values())
    assert wanted - {"source"} <= documented, f"recipes.md lacks {sorted(wanted - {'source'} - documented)}"
    for source in keys["_DATA_KEYS"]:
        assert f"source: {source}" in page, f"recipes.md does not describe data source {source!r}"
