"""backend="auto": the choice, its reason in the plan, the cost model's guards, and calibration files."""

import dataclasses
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import scaleml
from scaleml import Scaled
from scaleml.backends.auto import _calibration, _cost
from scaleml.engines.dask.cluster import CONNECTIONS
from scaleml.exceptions import CalibrationWarning
from scaleml.machine import usable_cores

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
TINY_GRID = {"C": [0.1, 1.0, 10.0, 100.0], "gamma": [0.01, 0.1, 1.0]}


def _calibration_file(tmp_path, **figures):
    """A calibration file for this machine with ``figures`` laid over the defaults."""
    constants = dataclasses.replace(_calibration.defaults(), **figures)
    return str(_calibration.save(constants, {"date": "test"}, tmp_path / "calibration.json"))


def test_tiny_search_stays_in_process_whatever_its_n_jobs_and_says_why():
    # No cluster left open by an earlier test: a running one costs nothing to start, and
    # then auto may rightly predict it cheaper (it did after tests/test_readme.py).
    CONNECTIONS.close()
    model = Scaled(GridSearchCV(SVC(), TINY_GRID, n_jobs=-1), backend="auto").fit(X_IRIS, Y_IRIS)
    plan = model.plan_
    assert plan.backend == "local" and plan.backend_options == {"in_process": True}
    decision = plan.decision
    assert decision.reason.startswith("local: predicted")
    assert "60 independent fits (12 candidates x 5 folds)" in decision.work
    predicted = {e.backend: e.seconds for e in decision.estimates}
    assert predicted["local"] < predicted["local n_jobs=-1"] and predicted["local"] < predicted["dask"]
    assert plan.steps[0].parallelism == "1 process" and "whatever its n_jobs=-1" in plan.steps[0].reason
    assert "Chosen by auto: local: predicted" in str(plan) and "picked by 'auto'" in str(plan)
    plain = GridSearchCV(SVC(), TINY_GRID).fit(X_IRIS, Y_IRIS)
    assert model.estimator_.best_params_ == plain.best_params_
    assert_array_equal(model.estimator_.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"])


def test_sub_second_work_never_starts_a_cluster_even_when_dask_looks_cheapest(tmp_path):
    # A calibration under which Dask is predicted fastest: free to start, perfect
    # scaling, while loky is dear. The work is predicted under a second, so the
    # guard must still keep it off a cluster.
    path = _calibration_file(tmp_path, dask_start_s=1e-4, dask_task_s=1e-6, dask_efficiency=1.0,
                             loky_start_s=50.0, dask_mb_per_s=1e6)
    CONNECTIONS.close()
    model = Scaled(GridSearchCV(SVC(), TINY_GRID, n_jobs=-1), backend="auto", calibration=path).fit(X_IRIS, Y_IRIS)
    predicted = {e.backend: e.seconds for e in model.plan_.decision.estimates}
    assert predicted["dask"] < predicted["local"] < scaleml.backends.auto.backend.NEVER_START_BELOW_S
    assert model.plan_.backend == "local"
    assert CONNECTIONS.running() == [], "auto started a cluster for sub-second work"


def test_work_that_pays_goes_to_every_core_and_the_fitted_model_is_unchanged(tmp_path):
    if usable_cores() < 2:
        pytest.skip("one core: nothing to spread")
    # Threads start at once: with perfect scaling a forest of 200 trees on 4,000 rows
    # (~1 s in this process) is clearly faster spread.
    path = _calibration_file(tmp_path, efficiency=1.0)
    X, y = make_classification(4000, 20, random_state=0)
    model = Scaled(RandomForestClassifier(200, random_state=0), backend="auto", calibration=path).fit(X, y)
    assert model.plan_.backend == "local" and model.plan_.backend_options == {"n_jobs": -1}, str(model.plan_)
    assert "200 independent trees" in model.plan_.decision.reason
    assert model.estimator_.n_jobs is None  # the user's parameter, as given
    plain = RandomForestClassifier(200, random_state=0).fit(X, y)
    assert_array_equal(model.predict_proba(X), plain.predict_proba(X))


def test_local_n_jobs_option_reaches_forests_that_prefer_threads(capfd):
    if usable_cores() < 2:
        pytest.skip("one core")
    X, y = make_classification(500, 10, random_state=0)
    Scaled(RandomForestClassifier(8, verbose=1), backend="local", n_jobs=2).fit(X, y)
    assert "with 2 concurrent workers" in capfd.readouterr().err


def test_one_serial_fit_is_not_timed_and_runs_as_written():
    model = Scaled(make_pipeline(StandardScaler(), LogisticRegression()), backend="auto").fit(X_IRIS, Y_IRIS)
    decision = model.plan_.decision
    assert model.plan_.backend == "local" and model.plan_.backend_options == {}
    assert "no joblib work to spread" in decision.reason and decision.predicted_seconds is None


def test_lazy_data_goes_to_dask_ml():
    da = pytest.importorskip("dask.array")
    X = da.from_array(X_IRIS, chunks=50)
    y = da.from_array(Y_IRIS, chunks=50)
    model = Scaled(SGDClassifier(random_state=0), backend="auto").fit(X, y)
    assert model.plan_.backend == "dask-ml" and "streams it block by block" in model.plan_.decision.reason
    assert model.plan_.steps[0].engine.startswith("scikit-learn partial_fit")


def test_estimators_that_place_themselves_run_here():
    from scaleml.linear_model import LogisticRegression as BlockedLogisticRegression

    model = Scaled(BlockedLogisticRegression(), backend="auto").fit(X_IRIS, Y_IRIS)
    assert model.plan_.backend == "local" and "decides its own placement" in model.plan_.decision.reason


def test_explain_shows_the_choice_without_fitting():
    estimator = GridSearchCV(SVC(), TINY_GRID, n_jobs=-1)
    plan = scaleml.explain(estimator, backend="auto", X=X_IRIS, y=Y_IRIS)
    assert plan.dry_run and plan.decision is not None and plan.backend == "local"
    assert not hasattr(estimator, "best_params_")
    fitted = Scaled(estimator, backend="auto").fit(X_IRIS, Y_IRIS)
    assert plan == fitted.plan_  # same backend, options and steps (predictions are timings: not compared)
    without_data = scaleml.explain(estimator, backend="auto")
    assert without_data.backend == "local" and "no data given" in without_data.decision.reason


def test_auto_block_decides_for_each_scaled_fit():
    with scaleml.backend("auto"):
        tiny = Scaled(GridSearchCV(SVC(), TINY_GRID, n_jobs=-1)).fit(X_IRIS, Y_IRIS)
        serial = Scaled(LogisticRegression()).fit(X_IRIS, Y_IRIS)
    assert tiny.plan_.backend_source == "context" and tiny.plan_.backend_options == {"in_process": True}
    assert serial.plan_.backend_options == {}


def test_sizing_grows_with_the_rows():
    X, y = make_classification(20000, 20, random_state=0)
    small = _cost.size_work(GridSearchCV(SVC(), {"C": [1.0, 2.0]}, cv=3, n_jobs=-1), X[:1000], y[:1000])
    large = _cost.size_work(GridSearchCV(SVC(), {"C": [1.0, 2.0]}, cv=3, n_jobs=-1), X, y)
    assert small.units == large.units == 6
    # Probing stops once it costs a twentieth of the work: early for small work, later for large.
    assert "mean of 2 candidates" in small.how and "mean of 2 candidates" in large.how
    assert "grown in proportion" in small.how and " and " in large.how, (small.how, large.how)
    assert large.unit_seconds > 3 * small.unit_seconds  # 20x the rows: SVC grows at least linearly


# -- calibration files ------------------------------------------------------------------------


def test_calibration_round_trip(tmp_path):
    constants = dataclasses.replace(_calibration.defaults(), loky_start_s=0.7)
    path = _calibration.save(constants, {"date": "2026-01-02"}, tmp_path / "c.json")
    loaded = _calibration.load(path)
    assert loaded.loky_start_s == 0.7 and "calibrated 2026-01-02" in loaded.source


@pytest.mark.parametrize("damage, words", [
    (lambda doc: "{not json", "Expecting property name"),
    (lambda doc: {**doc, "format": "other"}, "not a scaleml calibration"),
    (lambda doc: {**doc, "version": 99}, "format version 99"),
    (lambda doc: {**doc, "constants": {**doc["constants"], "loky_start_s": -1}}, "'loky_start_s' must be a positive number"),
    (lambda doc: {**doc, "constants": {**doc["constants"], "efficiency": "fast"}}, "'efficiency' must be a positive number"),
    (lambda doc: {**doc, "constants": {**doc["constants"], "efficiency": 7.0}}, "fraction of perfect scaling"),
    (lambda doc: {**doc, "constants": {**doc["constants"], "cores": usable_cores() + 1}}, "usable cores"),
])
def test_a_damaged_calibration_is_refused_with_a_warning_and_defaults_are_used(tmp_path, damage, words):
    path = _calibration.save(_calibration.defaults(), {"date": "x"}, tmp_path / "c.json")
    damaged = damage(json.loads(path.read_text()))
    path.write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    with pytest.warns(CalibrationWarning, match=words) as record:
        constants = _calibration.load(path)
    assert "scaleml calibrate" in str(record[0].message)
    assert constants == _calibration.defaults()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        model = Scaled(GridSearchCV(SVC(), TINY_GRID, n_jobs=-1), backend="auto", calibration=str(path))
        model.fit(X_IRIS, Y_IRIS)
    assert model.plan_.decision.constants.startswith("defaults")


def test_the_users_calibration_is_read_from_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEML_CONFIG_DIR", str(tmp_path))
    assert _calibration.load() == _calibration.defaults()  # none yet
    _calibration.save(dataclasses.replace(_calibration.defaults(), loky_start_s=0.9), {"date": "d"})
    assert (tmp_path / "calibration.json").exists() and _calibration.load().loky_start_s == 0.9


@pytest.mark.slow
def test_scaleml_calibrate_measures_and_stores(tmp_path):
    target = tmp_path / "calibration.json"
    done = subprocess.run([sys.executable, "-m", "scaleml", "calibrate", "--no-dask", "--output", str(target)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    document = json.loads(target.read_text())
    constants = _calibration.parse(document, str(target))
    assert constants.cores == usable_cores() and constants.dask_start_s is None
    assert 0 < constants.efficiency <= 1 and constants.loky_start_s > 0
    assert document["provenance"]["machine"]["cores_usable"] == usable_cores()
    assert "loky_cold_s" in document["provenance"]["probes"]
    shown = subprocess.run([sys.executable, "-m", "scaleml", "calibrate", "--show", "--output", str(target)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and f"calibrated {document['provenance']['date']}" in shown.stdout
    assert np.isclose(float(shown.stdout.split("loky_start_s")[1].split()[0]), constants.loky_start_s, rtol=1e-3)


def test_a_small_forest_goes_to_threads_untimed():
    if usable_cores() < 2:
        pytest.skip("one core")
    from sklearn.ensemble import ExtraTreesClassifier

    X, y = make_classification(1000, 20, random_state=0)
    model = Scaled(ExtraTreesClassifier(50, random_state=0), backend="auto").fit(X, y)
    decision = model.plan_.decision
    assert model.plan_.backend_options == {"n_jobs": -1} and "without timing" in decision.reason
    assert decision.decision_seconds < 0.01  # no probe fit: deciding costs next to nothing


WARM_LOKY = """
import json, os, sys
import joblib
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV
import scaleml
from scaleml.backends.auto.backend import loky_workers_running

X, y = load_digits(return_X_y=True)
search = GridSearchCV(RandomForestClassifier(n_estimators=20, random_state=0), {"max_depth": [4, 8]}, cv=3)
def loky_note():
    plan = scaleml.explain(search, backend="auto", X=X, y=y, calibration=sys.argv[1])
    return next(e.note for e in plan.decision.estimates if e.backend == "local n_jobs=-1")
cold = (loky_workers_running(), loky_note())
joblib.Parallel(n_jobs=-1)(joblib.delayed(os.getpid)() for _ in range(8))  # not auto: the user's own call
warm = (loky_workers_running(), loky_note())
print(json.dumps({"cold": cold, "warm": warm}))
"""


def test_loky_workers_started_by_anyone_are_counted_as_up(tmp_path):
    """auto counted loky's start-up unless a fit auto itself sent there had started them:
    in `make demo` (loky warm from the n_jobs=-1 row) it stayed in this process, 0.93x,
    where every core gave 1.88x."""
    if usable_cores() < 2:
        pytest.skip("one core: nothing to spread")
    script = tmp_path / "warm.py"
    script.write_text(WARM_LOKY)
    path = _calibration_file(tmp_path, loky_start_s=1.5)
    done = subprocess.run([sys.executable, str(script), path], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (cold_workers, cold_note), (warm_workers, warm_note) = result["cold"], result["warm"]
    assert cold_workers == 0 and cold_note.startswith("start 1.5 s")
    import joblib

    assert warm_workers >= min(usable_cores(), joblib.cpu_count()) and warm_note.startswith("start 0 ms")
