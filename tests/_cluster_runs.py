"""What the cluster-profile tests share: the CLI as a user runs it, a search and its oracle."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

REPO = Path(__file__).resolve().parents[1]
GRID = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
X, y = load_iris(return_X_y=True)


def scaleml_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``scaleml ...`` as a user runs it (this checkout's scaleml, the test's environment)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "scaleml", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def search(backend: str) -> GridSearchCV:
    """The same grid search of an SVC on iris, inside ``scaleml.backend(backend)``."""
    import scaleml

    with scaleml.backend(backend):
        return GridSearchCV(SVC(), GRID, cv=3, n_jobs=-1).fit(X, y)


def same_results(a: GridSearchCV, b: GridSearchCV) -> None:
    for key in ("params", "mean_test_score", "std_test_score", "rank_test_score"):
        assert np.array_equal(np.asarray(a.cv_results_[key], dtype=object),
                              np.asarray(b.cv_results_[key], dtype=object)), key


def wait_until(ready, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.5)
    return ready()
