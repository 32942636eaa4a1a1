"""Every snippet in README.md runs, so the README cannot drift from the code.

Python blocks run in order in one namespace holding the data they assume (X, y,
a pipeline, Parquet files, ...); blocks of IPython magics run on an IPython
shell; every command line of the bash blocks runs in a folder with the files it
names. A snippet that cannot run here (a remote scheduler, minutes of
benchmarking, gigabytes of data) is listed in NOT_RUN with the reason. A snippet
neither run nor listed fails the test.
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
README = (ROOT / "README.md").read_text()

# Snippets not run here, each found by a piece of its text, with the reason.
NOT_RUN = {
    "make demo": "the Quick start's main job (minutes); CI runs `make test` itself",
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
}

SCRIPT = """
import sys
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
X, y = load_iris(return_X_y=True)
print(sys.argv[1:], cross_val_score(RandomForestClassifier(n_estimators=5, random_state=0), X, y, cv=3).mean())
"""


def _blocks():
    return [(lang, body) for lang, body in re.findall(r"```(\w*)\n(.*?)```", README, re.S)]


def _not_run(text):
    return next((reason for key, reason in NOT_RUN.items() if key in text), None)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A working folder with the files the snippets name."""
    import pandas as pd
    from sklearn.datasets import make_classification

    here = tmp_path_factory.mktemp("readme")
    (here / "train.py").write_text(SCRIPT)
    (here / "mypackage").mkdir()
    (here / "mypackage" / "__init__.py").write_text("")
    (here / "mypackage" / "train.py").write_text(SCRIPT)
    (here / "recipes").symlink_to(ROOT / "recipes")
    from PIL import Image

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


def _namespace():
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


def test_every_python_snippet_runs(folder, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(folder)
    # IPython blocks share one session, as a notebook's cells do; each plain block runs on its
    # own, with only the data the README calls yours (X, y, pipe, ...): copied from the README,
    # it must run as written, its imports included.
    shell = InteractiveShell.instance(user_ns=_namespace())
    ran = 0
    for lang, body in _blocks():
        if lang != "python" or _not_run(body):
            continue
        if body.lstrip().startswith("%"):
            result = shell.run_cell(body)
            assert result.success, f"README snippet failed on IPython:\n{body}\n{result.error_in_exec!r}"
        else:
            exec(compile(body, "README.md snippet", "exec"), _namespace())  # noqa: S102 - our own README
        ran += 1
    assert ran >= 10


def _command_lines():
    for lang, body in _blocks():
        if lang != "bash":
            continue
        for line in body.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                yield command


@pytest.mark.parametrize("command", list(_command_lines()))
def test_every_command_runs(command, folder):
    reason = _not_run(command)
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


def test_nothing_is_left_unaccounted():
    """Every fenced block is python, bash, text (output shown, not code) or listed as not run."""
    for lang, body in _blocks():
        assert lang in ("python", "bash", "text") or _not_run(body), f"README block of kind {lang!r}:\n{body}"
