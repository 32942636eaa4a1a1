"""A search SIGKILLed mid-way (its whole process group) resumes from its journal.

A script runs a grid search of 40 candidate-folds (8 candidates x 5 folds) under
``local`` with loky workers, or ``dask`` with a LocalCluster, with ``resume=DIR``. The
test kills its process group once half the units are in the journal, runs it again
with the same folder, and counts the fits the rerun performed (a line per fit, written
by the estimator: a witness independent of scaleml): at most the units the journal
lacked, plus the refit. The results equal a run without a journal, timings aside.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

UNITS = 40

SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    import scaleml

    class Witness(ClassifierMixin, BaseEstimator):
        def __init__(self, C=1.0, log=None):
            self.C, self.log = C, log

        def fit(self, X, y):
            with open(self.log, "a") as handle:
                handle.write("fit\\n")
            time.sleep(0.1)  # long enough to be killed part-way
            self.model_ = LogisticRegression(C=self.C).fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)

    if __name__ == "__main__":
        backend, journal, log, out = sys.argv[1:5]
        X, y = make_classification(300, 8, random_state=0)
        grid = {"C": [0.001, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0]}
        options = {"n_jobs": 2} if backend == "local" else {"n_workers": 2, "threads_per_worker": 1}
        if journal != "-":
            options["resume"] = journal
        with scaleml.backend(backend, **options):
            search = GridSearchCV(Witness(log=log), grid, cv=5, n_jobs=-1).fit(X, y)
        kept = {k: [None if v != v else v for v in search.cv_results_[k].tolist()]
                for k in search.cv_results_ if "time" not in k and k != "params"}
        with open(out, "w") as handle:
            json.dump(kept, handle)
''')


def _run(script, tmp_path, backend, journal, log, name):
    out = tmp_path / f"{name}.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script), backend, journal, log, str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stderr


def _fits(log):
    return Path(log).read_text().split().count("fit") if Path(log).exists() else 0


def _kill_when_half_done(script, backend, journal, log, out):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, str(script), backend, journal, log, out], env=env,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while _entries(journal) < UNITS // 2:
            assert process.poll() is None, "the search ended before half its units were journaled"
            assert time.monotonic() < deadline, "half the units were not journaled in 240 s"
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the script and its loky workers
        process.wait()
    _until_quiet(log)
    return _entries(journal)


def _entries(journal):
    """Entry lines in the journal's logs (a line cut by the kill does not count)."""
    count = 0
    for path in Path(journal).glob("journal-*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                json.loads(line)
            except ValueError:
                continue
            count += 1
    return count


def _until_quiet(log, quiet=3.0, limit=60.0):
    """Wait until no fit has started for ``quiet`` seconds: a managed LocalCluster runs in a
    session of its own and closes when the killed script's pipe does, its workers finishing
    the tasks they hold first (their fits are not the rerun's)."""
    deadline = time.monotonic() + limit
    last = (-1, time.monotonic())
    while time.monotonic() < deadline:
        count = _fits(log)
        if count != last[0]:
            last = (count, time.monotonic())
        elif time.monotonic() - last[1] > quiet:
            return
        time.sleep(0.1)


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_a_search_killed_half_way_resumes_with_only_the_rest_fitted(backend, tmp_path):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    journal, log = str(tmp_path / "journal"), str(tmp_path / "fits.log")
    kept = _kill_when_half_done(script, backend, journal, log, str(tmp_path / "killed.json"))
    assert UNITS // 2 <= kept < UNITS
    os.remove(log)
    resumed, said = _run(script, tmp_path, backend, journal, log, "resumed")
    assert 1 <= _fits(log) <= UNITS - kept + 1  # the units the journal lacked, and the refit
    assert f"{kept} units read back" in said
    plain, _ = _run(script, tmp_path, backend, "-", str(tmp_path / "plain.log"), "plain")
    assert resumed == plain
    assert _fits(str(tmp_path / "plain.log")) == UNITS + 1
