"""`scaleml calibrate --refine`: bench results of the user's own work refine auto's constants."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from scaleml.backends.auto import _calibration, _cost
from scaleml.bench.refine import derive, refine
from scaleml.bench.results import BenchRun, Measurement
from scaleml.cli import main
from scaleml.exceptions import ScaleMLError
from scaleml.machine import usable_cores

# Dispatch and data free, so the arithmetic below is the model's alone.
CHEAP_TASKS = dict(loky_task_s=1e-9, loky_mb_per_s=1e9, dask_task_s=1e-9, dask_mb_per_s=1e9)


def _run(times: dict[str, float], case: str = "digits-forest-search", description: str | None = None,
         **provenance) -> BenchRun:
    from scaleml.bench.cases import CASES

    described = description or (CASES[case].description if case in CASES else "a recipe")
    run = BenchRun(case, described, "accuracy", list(times))
    run.provenance = {"machine": {"cores_usable": usable_cores()}, "scale": 1.0, "warmup": 1,
                      "dask_address_from_environment": None, **provenance}
    for repeat in range(3):
        run.measurements += [Measurement(b, repeat, t * (1 + 0.01 * (repeat - 1)), 0, 1, None) for b, t in times.items()]
    return run


@pytest.fixture
def two_cores(monkeypatch):
    """This machine as two cores, whatever runs the test: the figures below are for two workers."""
    monkeypatch.setattr("scaleml.machine.usable_cores", lambda: 2)
    return dataclasses.replace(_calibration.defaults(), cores=2, **CHEAP_TASKS)


def test_the_efficiency_solves_the_cost_model_for_the_measured_time(two_cores):
    constants = two_cores
    # digits-forest-search: 4 candidates x 3 folds on 1,347 rows (folds of 898), then the
    # refit on all 1,347 (1.5 units): 13.5 s in one process is 1 s a unit.
    (found,) = derive(_run({"sklearn": 13.5, "local:n_jobs=-1": 8.0}, machine={"cores_usable": 2}), constants)
    assert found.constant == "efficiency" and found.backend == "local:n_jobs=-1"
    # 12 units over 2 workers: 6 waves of 1 s / efficiency, plus the refit's 1.5 s here.
    assert found.value == pytest.approx(6 / (8.0 - 1.5))
    measured = _run({"sklearn": 13.5, "local:n_jobs=-1": 8.0}, machine={"cores_usable": 2})
    refined, provenance, _, _ = refine(constants, {"date": "d"}, [("r.json", measured), ("r.json", measured)])
    work = _cost.Work(12, 1.0, 1.5, 1, "")
    predicted = {e.backend: e.seconds for e in _cost.predict(work, refined, loky_warm=True)}
    assert predicted["local n_jobs=-1"] == pytest.approx(8.0, rel=1e-3)  # the model now predicts what was measured
    (change,) = provenance["refined"][0]["changes"]
    assert change["was"] == constants.efficiency and change["now"] == refined.efficiency
    assert [r["results"] for r in change["from"]] == ["r.json"]  # the file given twice counts once
    assert provenance["date"] == "d"


def test_several_runs_give_the_median_and_dask_rows_refine_dasks_figure():
    constants = dataclasses.replace(_calibration.defaults(), **CHEAP_TASKS)
    runs = [(f"r{i}.json", _run({"sklearn": 13.5, "local:n_jobs=-1": t, "dask": t + 1})) for i, t in enumerate((8.0, 9.0, 12.0))]
    refined, _, found, notes = refine(constants, {}, runs)
    assert sorted(r.constant for r in found) == ["dask_efficiency"] * 3 + ["efficiency"] * 3 and notes == []
    middle = derive(runs[1][1], constants)
    assert refined.efficiency == pytest.approx(next(r.value for r in middle if r.constant == "efficiency"))
    assert refined.dask_efficiency < refined.efficiency  # the dask rows were slower
    assert refined.loky_start_s == constants.loky_start_s  # nothing else moves
    # A dask row that ran on a cluster named by the environment says nothing of this machine's workers.
    remote = _run({"sklearn": 13.5, "local:n_jobs=-1": 9.0, "dask": 5.0}, dask_address_from_environment="tcp://h:8786")
    _, _, found, notes = refine(constants, {}, [("remote.json", remote)])
    assert [r.constant for r in found] == ["efficiency"] and "tcp://h:8786" in notes[0]


@pytest.mark.parametrize("run, words", [
    (_run({"local:n_jobs=-1": 8.0}), "no 'sklearn' row"),
    (_run({"sklearn": 13.5}), "nothing ran in parallel"),
    (_run({"sklearn": 13.5, "local:n_jobs=-1": 8.0}, partial="interrupted after 2 timed fits"), "partial"),
    (_run({"sklearn": 13.5, "local:n_jobs=-1": 8.0}, machine={"cores_usable": usable_cores() + 1}),
     f"{usable_cores() + 1} usable cores"),
    (_run({"sklearn": 13.5, "local:n_jobs=-1": 8.0}, warmup=0), "--warmup 0"),
    (_run({"sklearn": 13.5, "local:n_jobs=-1": 8.0}, description="my recipe"), "not the built-in one"),
    (_run({"sklearn": 3.0, "local:n_jobs=-1": 1.0}, case="synthetic-logreg", scale=0.01), "one fit with no search"),
    (_run({"sklearn": 13.5, "local:n_jobs=-1": 8.0}, case="my-recipe"), "not built in"),
    # Faster than two workers can be: the rows are not comparable, nothing is stored.
    (_run({"sklearn": 13.5, "local:n_jobs=-1": 2.0}), "not comparable"),
])
def test_runs_that_cannot_refine_are_refused_with_the_fix(run, words):
    constants = dataclasses.replace(_calibration.defaults(), **CHEAP_TASKS)
    with pytest.raises(ScaleMLError, match=words):
        derive(run, constants, "r.json")


def test_scaleml_calibrate_refine_with_a_real_bench_run(tmp_path):
    from scaleml.bench.cases import get_case
    from scaleml.bench.runner import BackendSpec, run_bench

    target = tmp_path / "calibration.json"
    runner = CliRunner()
    no_file = runner.invoke(main, ["calibrate", "--output", str(target), "--refine", str(target.parent)])
    assert no_file.exit_code != 0  # a folder is no results file
    (tmp_path / "other.json").write_text('{"not": "a bench run"}')
    results = tmp_path / "run.json"
    run = run_bench(get_case("digits-forest-search"), [BackendSpec("sklearn"), BackendSpec("local", {"n_jobs": -1})],
                    repeat=2, warmup=1, memory=False, progress=lambda _: None)
    run.write_json(results)
    run = BenchRun.read_json(results)
    missing = runner.invoke(main, ["calibrate", "--output", str(target), "--refine", str(results)])
    assert missing.exit_code != 0 and "run `scaleml calibrate` first" in missing.output

    before = dataclasses.replace(_calibration.defaults(), loky_task_s=0.001, loky_mb_per_s=500.0, efficiency=0.5)
    _calibration.save(before, {"date": "2026-01-02", "command": "scaleml calibrate"}, target)
    stored = target.read_bytes()
    foreign = runner.invoke(main, ["calibrate", "--output", str(target), "--refine", str(tmp_path / "other.json")])
    assert foreign.exit_code != 0 and "is not a result file `scaleml bench` wrote" in foreign.output
    mixed = runner.invoke(main, ["calibrate", "--output", str(target), "--refine", str(results), "--show"])
    assert mixed.exit_code == 2 and "without --show" in mixed.output
    unusable = tmp_path / "no-reference.json"
    run.measurements = [m for m in run.measurements if m.backend != "sklearn"]
    run.write_json(unusable)
    refused = runner.invoke(main, ["calibrate", "--output", str(target), "--refine", str(unusable)])
    assert refused.exit_code != 0 and "no 'sklearn' row" in refused.output
    assert target.read_bytes() == stored  # refused: the calibration is left as it was
    done = runner.invoke(main, ["calibrate", "--output", str(target), "--refine", str(results)])
    assert done.exit_code == 0, done.output
    expected = derive(BenchRun.read_json(results), before, str(results))[0].value
    assert f"efficiency: 0.500 -> {expected:.3f}" in done.output
    document = json.loads(target.read_text())
    assert document["constants"]["efficiency"] == pytest.approx(expected)
    assert document["provenance"]["date"] == "2026-01-02"  # the probes' record is kept beside the refinement
    assert document["provenance"]["refined"][0]["changes"][0]["from"][0]["case"] == "digits-forest-search"
    loaded = _calibration.load(target)
    assert loaded.efficiency == pytest.approx(expected) and "refined" in loaded.source


def test_a_calibration_whose_refinement_record_is_damaged_still_loads(tmp_path):
    path = _calibration.save(_calibration.defaults(), {"date": "d", "refined": ["not a record"]}, tmp_path / "c.json")
    assert _calibration.load(path).source.startswith("calibrated d (")
    document = json.loads(path.read_text())
    document["provenance"] = None
    assert _calibration.parse(document, "c.json").efficiency == _calibration.defaults().efficiency
