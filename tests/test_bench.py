"""The bench runner: interleaved repeats, skipped backends, results with provenance."""

import json
from pathlib import Path

import numpy as np
import pytest

from scaleml.bench.cases import CASES, Case, get_case
from scaleml.bench.memory import PeakTreeRSS
from scaleml.bench.report import format_table, write_chart
from scaleml.bench.results import BenchRun
from scaleml.bench.runner import BackendSpec, run_bench
from scaleml.exceptions import ScaleMLError


def _tiny_case():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    def load(scale):
        X, y = load_iris(return_X_y=True)
        return tuple(train_test_split(X, y, random_state=0))

    return Case("tiny", "iris + LogisticRegression", load, lambda: LogisticRegression(max_iter=500), "accuracy")


def test_backend_spec_parsing():
    assert BackendSpec.parse("local:n_jobs=-1") == BackendSpec("local", {"n_jobs": -1})
    assert BackendSpec.parse("Dask_ML") == BackendSpec("dask-ml", {})
    assert BackendSpec.parse("local:flag=true:x=none:f=0.5:s=abc").options == {
        "flag": True, "x": None, "f": 0.5, "s": "abc",
    }
    assert BackendSpec("local", {"n_jobs": -1}).label == "local:n_jobs=-1"
    assert BackendSpec.parse("dask:address=tcp://h:8786:timeout=5").options == {
        "address": "tcp://h:8786", "timeout": 5,
    }
    with pytest.raises(ScaleMLError, match="not key=value"):
        BackendSpec.parse("local:n_jobs")


def test_run_interleaves_and_measures_memory_apart():
    lines = []
    case = get_case("synthetic-logreg")
    run = run_bench(case, [BackendSpec("sklearn"), BackendSpec("local")], repeat=2, warmup=1, scale=0.01,
                    progress=lines.append)
    # Rounds alternate the order, so neither backend always runs right after the other.
    assert [m.backend for m in run.measurements] == ["sklearn", "local", "local", "sklearn"]
    assert [m.repeat for m in run.measurements] == [0, 0, 1, 1]
    assert any("warm-up" in line for line in lines)
    # Same algorithm, same data: same score on both.
    scores = {m.backend: m.score for m in run.measurements}
    assert scores["sklearn"] == scores["local"]
    summaries = run.summaries()
    assert [s.backend for s in summaries] == ["sklearn", "local"]
    assert summaries[0].speedup == 1.0 and summaries[1].speedup_low <= summaries[1].speedup <= summaries[1].speedup_high
    # Each row's memory: one fit in a process of its own, not a running maximum of this one.
    assert set(run.memory) == {"sklearn", "local"} and all(s.peak_rss_mb > 10 for s in summaries)
    assert all(m.peak_rss_mb is None for m in run.measurements)
    prov = run.provenance
    assert prov["repeat"] == 2 and prov["machine"]["cores_logical"] >= 1
    assert prov["machine"]["packages"]["scikit-learn"]


def test_balanced_order_gives_each_backend_each_neighbour_in_turn():
    from itertools import permutations

    from scaleml.bench.order import balanced

    three = ["a", "b", "c"]
    six = [tuple(balanced(three, r)) for r in range(6)]
    assert sorted(six) == sorted(permutations(three))
    # Over those rounds each backend runs right after each other one equally often.
    follows = [(order[i - 1], order[i]) for order in six for i in range(1, 3)]
    assert {pair: follows.count(pair) for pair in set(follows)} == {pair: 2 for pair in permutations(three, 2)}
    assert [balanced(["x", "y"], r) for r in range(4)] == [["x", "y"], ["y", "x"], ["y", "x"], ["x", "y"]]
    assert three == ["a", "b", "c"]  # the caller's list is left alone


def test_a_run_whose_every_backend_fails_reports_it_and_ends():
    case = _tiny_case()
    from sklearn.linear_model import LogisticRegression

    failing = Case(case.name, case.description, case.load, lambda: LogisticRegression(C=-1.0), "accuracy")
    lines = []
    run = run_bench(failing, [BackendSpec("local")], repeat=3, memory=False, progress=lines.append)
    assert run.measurements == [] and run.skipped["local"].startswith("failed: InvalidParameterError")
    assert "failed: InvalidParameterError" in format_table(run)


def test_a_name_that_is_no_backend_stops_the_run_before_any_work():
    from scaleml.exceptions import InvalidParameterError, UnknownBackendError

    fits = []
    case = _tiny_case()
    counting = Case(case.name, case.description, case.load, lambda: fits.append(1) or case.make_estimator(), "accuracy")
    with pytest.raises(UnknownBackendError, match="Did you mean 'dask'"):
        run_bench(counting, [BackendSpec("local"), BackendSpec("dsak")], progress=lambda _: None)
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        run_bench(counting, [BackendSpec("local"), BackendSpec("local", {"n_jobs": 0})], progress=lambda _: None)
    assert fits == []


def test_intervals_say_when_there_is_no_measurable_difference():
    from scaleml.bench.results import Measurement

    run = BenchRun("c", "d", "accuracy", ["a", "same", "faster"])
    noise = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98]
    for i, t in enumerate(noise):
        run.measurements += [Measurement("a", i, t, 0, 1, None), Measurement("same", i, noise[(i + 3) % 7], 0, 1, None),
                             Measurement("faster", i, t / 2, 0, 1, None)]
    a, same, faster = run.summaries()
    assert same.verdict == "no measurable difference" and same.speedup_low < 1 < same.speedup_high
    assert faster.verdict == "faster" and faster.speedup_low > 1.5
    assert "no measurable difference" in format_table(run)
    from scaleml.bench.report import chart_labels

    labels = chart_labels(run)  # the chart's bars say what the table says, interval and verdict
    assert labels[0].endswith("1.00x (reference)")
    assert labels[1].endswith(f"{same.speedup:.2f}x [{same.speedup_low:.2f}-{same.speedup_high:.2f}] "
                              "no measurable difference")
    assert all(label.split(", ", 1)[1] in format_table(run) for label in labels)


def test_rows_that_do_the_same_work_as_local_are_marked():
    from scaleml.bench.runner import same_work_as_local

    logreg, forest = get_case("synthetic-logreg"), get_case("synthetic-forest-search")
    X_logreg, X_forest = logreg.load(0.01)[0], forest.load(0.01)[0]
    assert same_work_as_local(logreg, BackendSpec("dask"), X_logreg)  # LogisticRegression sends nothing to joblib
    assert not same_work_as_local(forest, BackendSpec("dask"), X_forest)  # the search's folds go to Dask
    assert not same_work_as_local(forest, BackendSpec("local"), X_forest)  # local itself is not marked


def test_ctrl_c_keeps_the_finished_repeats_marked_partial():
    from sklearn.linear_model import LogisticRegression

    class Interrupting(LogisticRegression):
        fits = 0

        def fit(self, X, y):
            type(self).fits += 1
            if type(self).fits == 5:
                raise KeyboardInterrupt
            return super().fit(X, y)

    case = _tiny_case()
    interrupted = Case("tiny", "d", case.load, lambda: Interrupting(max_iter=500), "accuracy")
    lines = []
    run = run_bench(interrupted, [BackendSpec("sklearn"), BackendSpec("local")], repeat=3, warmup=1,
                    progress=lines.append)
    assert run.provenance["partial"] == "interrupted after 2 timed fits" and len(run.measurements) == 2
    assert lines[-1].startswith("interrupted: keeping the 2 timed fits") and "PARTIAL" in format_table(run)


def test_results_round_trip_and_views(tmp_path):
    run = run_bench(_tiny_case(), [BackendSpec("sklearn"), BackendSpec("local")], repeat=1, warmup=0,
                    memory=False, progress=lambda _: None)
    path = run.write_json(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["schema"] == 2 and len(data["measurements"]) == 2
    again = BenchRun.read_json(path)
    assert again.measurements == run.measurements and again.summaries() == run.summaries()
    csv_lines = run.to_csv().splitlines()
    assert csv_lines[0].startswith("case,backend,repeat,fit_s") and len(csv_lines) == 3
    table = format_table(run)
    assert "speed-up vs sklearn" in table and "local" in table
    pytest.importorskip("matplotlib")
    png = write_chart(run, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments():
    with pytest.raises(ScaleMLError, match="repeat"):
        run_bench(_tiny_case(), [BackendSpec("local")], repeat=0)
    with pytest.raises(ScaleMLError, match="twice"):
        run_bench(_tiny_case(), [BackendSpec("local"), BackendSpec("local")])
    with pytest.raises(ScaleMLError, match="digits-forest-search"):
        get_case("nope")


@pytest.mark.parametrize("name", list(CASES))
def test_builtin_cases_load_and_build(name):
    case = CASES[name]
    X_train, X_test, y_train, y_test = case.load(0.05)
    assert len(X_train) == len(y_train) and len(X_test) == len(y_test)
    assert hasattr(case.make_estimator(), "fit")


def test_peak_rss_sees_an_allocation():
    with PeakTreeRSS(interval=0.005) as before:
        pass
    with PeakTreeRSS(interval=0.005) as during:
        block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
        block.sum()
        del block
    assert during.peak - before.peak > 250 * 2**20


def test_generated_data_says_where_it_is_cached(tmp_path, monkeypatch, capsys):
    from scaleml.bench.datasets import synthetic_parquet

    monkeypatch.setenv("SCALEML_CACHE", str(tmp_path / "cache"))
    synthetic_parquet(2, 1_000, 5)
    said = capsys.readouterr().err
    assert "generating data: file 2/2" in said and f"cached in {tmp_path / 'cache'}" in said and "delete the folder" in said
    synthetic_parquet(2, 1_000, 5)  # cached: nothing generated, nothing said
    assert capsys.readouterr().err == ""


def test_provenance_records_scalemls_commit_and_the_folders_separately(tmp_path, monkeypatch):
    """The issue: the folder's commit was recorded as if it were scaleml's (None outside a checkout)."""
    import subprocess

    from scaleml import machine
    from scaleml.bench.report import commits

    checkout = subprocess.run(["git", "-C", str(Path(machine.__file__).parent), "rev-parse", "HEAD"],
                              capture_output=True, text=True)
    if checkout.returncode != 0:
        pytest.skip("scaleml is not running from a git checkout here")
    monkeypatch.chdir(tmp_path)  # a folder outside any checkout
    found = machine.provenance("scaleml bench")
    assert found["scaleml_commit"] == machine.git_commit(Path(machine.__file__).parent)  # the package's checkout
    assert found["scaleml_commit"] is not None and found["user_commit"] is None
    assert "git_commit" not in found
    assert commits(found).startswith(f"scaleml {found['scaleml_commit']}, your folder's commit None")
    assert commits({"git_commit": "abc"}) == "commit abc (of the folder it ran in)"  # an older file
    # Installed, not a checkout: a package folder git does not track, even inside a repository.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    package = tmp_path / ".venv" / "site-packages" / "scaleml"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.setattr(machine, "__file__", str(package / "machine.py"))
    assert machine.scaleml_commit() is None
    installed = {"scaleml_commit": None, "user_commit": "abc", "machine": {"packages": {"scaleml": "0.9"}}}
    assert commits(installed) == "scaleml 0.9 (installed, not a checkout), your folder's commit abc"


def test_one_run_says_it_has_no_interval():
    """--repeat 1: the speed-up is two single times; the table and the chart say there is no interval."""
    from scaleml.bench.report import chart_labels
    from scaleml.bench.results import Measurement

    run = BenchRun("c", "d", "accuracy", ["a", "b"])
    run.measurements += [Measurement("a", 0, 1.0, 0, 1, None), Measurement("b", 0, 0.5, 0, 1, None)]
    a, b = run.summaries()
    assert b.speedup == 2.0 and b.speedup_low is None and b.verdict == "one run: no interval"
    assert "2.00x (one run: no interval)" in format_table(run)
    assert "faster" not in format_table(run) and "[" not in chart_labels(run)[1]
    assert chart_labels(run)[1].endswith("2.00x (one run: no interval)")


def test_a_child_does_not_inherit_its_parents_peak():
    """``resident()`` reads the child's own high-water mark: a child started by a parent
    holding 400 MiB reports far less (``ru_maxrss`` would report the parent's)."""
    import subprocess
    import sys

    held = np.ones(400 * 2**20 // 8)  # resident in this process
    code = "from scaleml.bench.memory import resident; print(resident()[1])"
    child_peak = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert held.sum() > 0
    assert child_peak < 300 * 2**20


def test_kmeans_pca_bench_runs_on_arrays_and_files(tmp_path):
    """The KMeans/PCA benchmark's smallest run, every variant but dask-ml: same results
    from the persisted array and from the Parquet files, and a peak for each."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "bench" / "out_of_core" / "kmeans_pca.py"
    out = tmp_path / "kmeans-pca.json"
    subprocess.run([sys.executable, str(script), "--sizes", "20000x5", "--rounds", "1", "--files", "--no-dask-ml",
                    "--rows-per-chunk", "5000", "--out", str(out)], check=True, capture_output=True, timeout=600)
    cases = json.loads(out.read_text())["cases"]
    assert set(cases) == {"kmeans 20000x5", "pca 20000x5"}
    for case in cases.values():
        summary = case["summary"]
        assert set(summary) == {"sklearn", "scaleml", "scaleml-files"}
        assert all(s["peak_rss_mib"] > 50 for s in summary.values())
    assert cases["kmeans 20000x5"]["summary"]["scaleml-files"]["agreement"] == pytest.approx(
        cases["kmeans 20000x5"]["summary"]["scaleml"]["agreement"], rel=1e-6)
    assert cases["pca 20000x5"]["summary"]["scaleml-files"]["agreement"] < 1e-8
