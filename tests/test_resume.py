"""The resume journal (``resume=DIR``): a rerun after a crash fits only what was not finished.

Each search kind and cross-validation function is run three ways in this process
(``local``, joblib's one-job loop through the journal): plainly (the reference and the
count of fits), with a crash part-way (an exception that scikit-learn does not catch,
raised by the estimator itself once half the fits are done), and again with the same
folder. The witness of what was fitted is a file the estimator's ``fit`` (``predict``
for permutation importance) appends a line to. The SIGKILL tests, on ``local`` with
loky workers and on ``dask``, are in ``test_resume_killed.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.experimental import enable_halving_search_cv  # noqa: F401 - makes the halving searches importable
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    cross_val_predict,
    cross_val_score,
    cross_validate,
    learning_curve,
    permutation_test_score,
    validation_curve,
)

import scaleml
from scaleml.exceptions import JournalError


class Crash(BaseException):
    """What a killed process would do to a search: scikit-learn's error_score does not catch it."""


class Witness(ClassifierMixin, BaseEstimator):
    """LogisticRegression that writes a line to ``log`` per fit (and per predict), and
    crashes once ``log + '.crash'`` holds a count the log has reached."""

    def __init__(self, C=1.0, log=None):
        self.C = C
        self.log = log

    def _witness(self, what):
        with open(self.log, "a") as handle:
            handle.write(what + "\n")
        limit = Path(self.log + ".crash")
        if limit.exists() and _count(self.log, what) > int(limit.read_text()):
            raise Crash(f"crashed after {limit.read_text()} {what}s")

    def fit(self, X, y):
        self._witness("fit")
        self.model_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        self._witness("predict")
        return self.model_.predict(X)


def _count(log, what="fit"):
    path = Path(log)
    return path.read_text().split().count(what) if path.exists() else 0


def _without_times(result):
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if "time" not in k}
    return result


_GRID = {"C": [0.01, 0.1, 1.0, 10.0]}


def _search(kind):
    return lambda est: {
        "grid": lambda: GridSearchCV(est, _GRID, cv=3),
        "random": lambda: RandomizedSearchCV(est, _GRID, n_iter=3, cv=3, random_state=0),
        "halving_grid": lambda: HalvingGridSearchCV(est, _GRID, cv=3, factor=2, min_resources=40, random_state=0),
        "halving_random": lambda: HalvingRandomSearchCV(est, _GRID, cv=3, factor=2, n_candidates=4,
                                                        min_resources=40, random_state=0),
    }[kind]().fit(*_DATA).cv_results_


_DATA = make_classification(240, 6, random_state=0)
_X, _Y = _DATA

# kind -> (run(estimator) -> comparable result, what the witness counts, count per journal unit)
KINDS = {
    "GridSearchCV": (_search("grid"), "fit", 1),
    "RandomizedSearchCV": (_search("random"), "fit", 1),
    "HalvingGridSearchCV": (_search("halving_grid"), "fit", 1),
    "HalvingRandomSearchCV": (_search("halving_random"), "fit", 1),
    "cross_validate": (lambda est: cross_validate(est, _X, _Y, cv=6, return_train_score=True), "fit", 1),
    "cross_val_score": (lambda est: cross_val_score(est, _X, _Y, cv=6), "fit", 1),
    "cross_val_predict": (lambda est: cross_val_predict(est, _X, _Y, cv=6), "fit", 1),
    "learning_curve": (lambda est: learning_curve(est, _X, _Y, cv=3, train_sizes=[0.3, 0.6, 1.0])[:3],
                       "fit", 1),
    "validation_curve": (lambda est: validation_curve(est, _X, _Y, param_name="C", param_range=_GRID["C"],
                                                      cv=3), "fit", 1),
    "permutation_test_score": (lambda est: permutation_test_score(est, _X, _Y, cv=3, n_permutations=6,
                                                                  random_state=0), "fit", 3),
    "permutation_importance": (lambda est: dict(permutation_importance(est.fit(_X, _Y), _X, _Y, n_repeats=2,
                                                                       random_state=0)), "predict", 2),
}


def _units(folder):
    """The entry lines of the journal's logs that parse."""
    lines = [line for log in sorted(Path(folder).glob("journal-*.jsonl")) for line in log.read_text().splitlines()]
    return [line for line in lines if _parses(line)]


def _parses(line):
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_rerun_after_a_crash_fits_only_what_was_not_finished(kind, tmp_path):
    run, counted, per_unit = KINDS[kind]
    log, journal = str(tmp_path / "fits.log"), tmp_path / "journal"
    reference = _without_times(run(Witness(log=log)))
    plain = _count(log, counted)
    os.remove(log)
    Path(log + ".crash").write_text(str(plain // 2))
    with pytest.raises(Crash), scaleml.backend("local", resume=str(journal)):
        run(Witness(log=log))
    kept = len(_units(journal))
    assert 0 < kept < plain // per_unit
    os.remove(log + ".crash")
    os.remove(log)
    with scaleml.backend("local", resume=str(journal)):
        resumed = _without_times(run(Witness(log=log)))
    np.testing.assert_equal(resumed, reference)
    # Exactly the units the journal did not hold were fitted again (and what is never a
    # unit: a search's refit, the unpermuted score, the fit before permutation_importance).
    assert _count(log, counted) == plain - kept * per_unit


def test_a_scaled_fit_says_in_its_plan_what_it_reused_and_fitted(tmp_path):
    log, journal = str(tmp_path / "fits.log"), str(tmp_path / "journal")
    search = GridSearchCV(Witness(log=log), _GRID, cv=3)
    first = scaleml.Scaled(search, backend="local", resume=journal).fit(_X, _Y)
    assert (first.plan_.observed["journal_reused"], first.plan_.observed["journal_fitted"]) == (0, 12)
    second = scaleml.Scaled(search, backend="local", resume=journal, n_jobs=2).fit(_X, _Y)
    assert (second.plan_.observed["journal_reused"], second.plan_.observed["journal_fitted"]) == (12, 0)
    assert _count(log) == 12 + 1 + 1  # the second run fitted only its refit
    np.testing.assert_equal(_without_times(second.estimator_.cv_results_), _without_times(first.estimator_.cv_results_))


def _grid(log, journal, X=_X, y=_Y):
    model = scaleml.Scaled(GridSearchCV(Witness(log=log), _GRID, cv=3), backend="local", resume=str(journal))
    return model.fit(X, y)


def test_a_truncated_or_damaged_entry_is_refitted_never_used(tmp_path):
    log, journal = str(tmp_path / "fits.log"), tmp_path / "journal"
    reference = _without_times(_grid(log, journal).estimator_.cv_results_)
    (path,) = Path(journal).glob("journal-*.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace("0x1.", "0x1.8", 1)  # a score edited: its checksum no longer matches
    lines[-1] = lines[-1][: len(lines[-1]) // 2]  # the last write cut short by a kill
    path.write_text("".join(lines))
    os.remove(log)
    model = _grid(log, journal)
    assert model.plan_.observed["journal_damaged"] == 2
    assert model.plan_.observed["journal_reused"] == 10
    assert _count(log) == 2 + 1
    np.testing.assert_equal(_without_times(model.estimator_.cv_results_), reference)


def test_an_entry_from_other_data_is_not_used(tmp_path):
    log, journal = str(tmp_path / "fits.log"), tmp_path / "journal"
    _grid(log, journal)
    other_X = _X.copy()
    other_X[0, 0] += 1e-9  # one value differs: another fingerprint
    os.remove(log)
    model = _grid(log, journal, X=other_X)
    assert model.plan_.observed["journal_reused"] == 0
    assert _count(log) == 12 + 1
    plain = GridSearchCV(Witness(log=str(tmp_path / "plain.log")), _GRID, cv=3).fit(other_X, _Y)
    np.testing.assert_equal(_without_times(model.estimator_.cv_results_), _without_times(plain.cv_results_))


def test_foreign_files_in_the_folder_are_never_read(tmp_path):
    log, journal = str(tmp_path / "fits.log"), tmp_path / "journal"
    journal.mkdir()
    (journal / "notes.txt").write_text("mine")
    (journal / "journal-theirs.jsonl").write_text('{"key": "not one of ours"}\nnot json\n')
    (journal / "journal-sub.jsonl").mkdir()
    reference = _without_times(_grid(log, journal).estimator_.cv_results_)
    os.remove(log)
    model = _grid(log, journal)
    assert (model.plan_.observed["journal_reused"], _count(log)) == (12, 1)
    np.testing.assert_equal(_without_times(model.estimator_.cv_results_), reference)
    assert (journal / "notes.txt").read_text() == "mine"


def test_a_folder_that_cannot_be_written_is_refused_before_any_fit(tmp_path):
    log = str(tmp_path / "fits.log")
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    with pytest.raises(JournalError, match="cannot be written.*nothing was fitted.*give resume= a folder"):
        _grid(log, not_a_folder)
    with pytest.raises(JournalError, match=str(not_a_folder)), \
            scaleml.backend("local", n_jobs=2, resume=str(not_a_folder)):
        pass
    assert _count(log) == 0


def test_a_read_only_folder_is_refused_before_any_fit(tmp_path):
    """As a user without write permission (root writes anywhere: the check runs as nobody)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    tmp_path.chmod(0o755)
    code = ("import scaleml, sys\nfrom sklearn.linear_model import LogisticRegression\n"
            "from sklearn.model_selection import GridSearchCV\n"
            "try:\n    scaleml.Scaled(GridSearchCV(LogisticRegression(), {'C': [1.0]}), resume=sys.argv[1]).fit([[0], [1]] * 5, [0, 1] * 5)\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    command = [sys.executable, "-c", code, str(folder)]
    if os.geteuid() == 0:
        if not Path("/usr/bin/setpriv").exists():
            pytest.skip("running as root and no setpriv to drop privileges: a read-only folder is writable to root")
        command = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "HOME": str(folder)}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.startswith("JournalError"), out.stdout + out.stderr
    assert str(folder) in out.stdout and "Permission denied" in out.stdout
    assert list(folder.iterdir()) == []


def test_units_whose_results_are_not_plain_data_are_run_every_time(tmp_path):
    log, journal = str(tmp_path / "fits.log"), str(tmp_path / "journal")
    for _ in range(2):
        with scaleml.backend("local", resume=journal):
            cross_validate(Witness(log=log), _X, _Y, cv=3, return_estimator=True)
    assert _count(log) == 6  # fitted models are not kept: nothing read back
    assert _units(journal) == []


def test_exec_resume_reads_back_what_a_first_run_wrote(tmp_path):
    script = tmp_path / "search.py"
    script.write_text("from sklearn.datasets import make_classification\n"
                      "from sklearn.linear_model import LogisticRegression\n"
                      "from sklearn.model_selection import cross_val_score\n"
                      "X, y = make_classification(120, 5, random_state=0)\n"
                      "print(list(cross_val_score(LogisticRegression(), X, y, cv=4)))\n")
    journal = str(tmp_path / "journal")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [subprocess.run([sys.executable, "-m", "scaleml", "exec", "--resume", journal, str(script)], env=env,
                           capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert "0 units read back, 4 fitted and written" in runs[0].stderr
    assert "4 units read back, 0 fitted and written" in runs[1].stderr
    assert runs[0].stdout == runs[1].stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["dask", "dask-ml"])
def test_the_dask_backends_read_back_what_a_first_fit_wrote(backend, tmp_path):
    pytest.importorskip("distributed")
    journal = str(tmp_path / "journal")
    search = GridSearchCV(LogisticRegression(), _GRID, cv=3, n_jobs=-1)
    first = scaleml.Scaled(search, backend=backend, resume=journal, n_workers=2).fit(_X, _Y)
    second = scaleml.Scaled(search, backend=backend, resume=journal, n_workers=2).fit(_X, _Y)
    assert (first.plan_.observed["journal_reused"], first.plan_.observed["journal_fitted"]) == (0, 12)
    assert (second.plan_.observed["journal_reused"], second.plan_.observed["journal_fitted"]) == (12, 0)
    np.testing.assert_equal(_without_times(second.estimator_.cv_results_), _without_times(first.estimator_.cv_results_))


def test_results_come_back_with_their_exact_types_and_nothing_else_is_loaded():
    from scaleml.backends._journal_codec import NotJournaled, decode, encode

    value = {"test_scores": {"a": np.float64(0.1 + 0.2), "b": np.nan}, "n_test_samples": 7, "fit_error": None,
             "ok": True, "fit_time": 1e-300, "preds": [np.arange(6, dtype=np.int32).reshape(2, 3), ("x", 2.5)]}
    back = decode(json.loads(json.dumps(encode(value))))
    np.testing.assert_equal(back, value)
    assert type(back["test_scores"]["a"]) is np.float64 and back["preds"][0].dtype == np.int32
    assert type(back["n_test_samples"]) is int and type(back["preds"][1]) is tuple
    for unkept in (np.array([object()]), LogisticRegression(), {1: 2}, {"a": {1, 2}}):
        with pytest.raises(NotJournaled):
            encode(unkept)
    with pytest.raises(ValueError, match="dtype"):  # an object array would unpickle: refused when read
        decode({"array": "|O", "shape": [1], "b64": ""})


def test_a_units_key_is_the_same_in_another_process_whatever_its_hash_seed(tmp_path):
    code = textwrap.dedent(f"""
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import check_scoring
        from sklearn.model_selection._validation import _fit_and_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer
        from scaleml.backends._journal import Journal, unit_name
        X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
        est = make_pipeline(FunctionTransformer(kw_args={{"tags": {{"alpha", "beta", "gamma", "delta"}}}}),
                            LogisticRegression())
        kwargs = dict(scorer=check_scoring(est), train=np.arange(10), test=np.arange(10, 20), verbose=0,
                      parameters={{"logisticregression__C": 0.5}}, fit_params=None, score_params=None)
        print(Journal({str(tmp_path)!r}).key(unit_name(_fit_and_score), _fit_and_score, (est, X, y), kwargs))
    """)
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.pathsep.join(sys.path)}
                           ).stdout.strip() for seed in ("1", "2", "3")}
    assert len(keys) == 1 and len(keys.pop()) == 64
