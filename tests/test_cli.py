"""The scaleml command, end to end."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scaleml.cli import main


@pytest.fixture
def runner():
    return CliRunner()


def test_console_script_help():
    exe = shutil.which("scaleml", path=os.path.dirname(sys.executable)) or shutil.which("scaleml")
    command = [exe] if exe else [sys.executable, "-m", "scaleml"]
    out = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("bench", "explain", "info"):
        assert name in out


def test_version(runner):
    from scaleml import __version__

    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_info_json(runner):
    result = runner.invoke(main, ["info", "--json", "--no-torch"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["cores_logical"] >= 1 and data["memory_total_gib"] > 0
    names = [b["name"] for b in data["backends"]]
    assert names[:5] == ["local", "dask", "dask-ml", "torch", "cupy"]
    assert all(b["available"] or b["reason"] for b in data["backends"])
    assert "torch_devices" not in data


def test_info_text_mentions_gpus_and_backends(runner):
    result = runner.invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    assert "GPUs" in result.output and "Backends" in result.output
    assert "local" in result.output


def test_explain(runner):
    result = runner.invoke(main, ["explain", "StandardScaler", "RandomForestClassifier", "-o", "n_jobs=2"])
    assert result.exit_code == 0, result.output
    assert "randomforestclassifier" in result.output and "joblib, up to 2 workers" in result.output
    as_json = runner.invoke(main, ["explain", "sklearn.svm.SVC", "--json"])
    assert json.loads(as_json.output)["steps"][0]["estimator"] == "SVC"
    auto = runner.invoke(main, ["explain", "RandomForestClassifier", "-b", "auto"])
    assert auto.exit_code == 0 and "picked by 'auto'" in auto.output and "no data given" in auto.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["explain", "RandomForrest"], "Did you mean"),
        (["explain", "os.system"], "only classes from sklearn, scaleml"),
        (["explain", "sklearn.clone"], "not an importable estimator class"),
        (["explain", "SVC", "-b", "dsak"], "Did you mean 'dask'"),
        (["explain", "SVC", "-o", "n_jobs"], "not key=value"),
        (["explain", "SVC", "-o", "n_job=2"], "no option 'n_job'"),
        (["explain", "GridSearchCV"], "cannot be built with default parameters"),
        (["bench", "--case", "nope"], "Built-in cases"),
        (["bench", "--backends", "local:n_jobs"], "not key=value"),
    ],
)
def test_errors_say_what_to_do(runner, args, message):
    result = runner.invoke(main, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_bench_end_to_end(runner, tmp_path):
    result = runner.invoke(
        main,
        [
            "bench", "--case", "digits-logreg", "--backends", "sklearn,local",
            "--repeat", "2", "--warmup", "0", "--no-memory", "--out", str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "speed-up vs sklearn" in result.output
    assert "sklearn (a peer, without scaleml): the bare estimator" in result.output
    written = {p.suffix: p for p in Path(tmp_path).iterdir()}
    data = json.loads(written[".json"].read_text())
    assert [m["backend"] for m in data["measurements"]] == ["sklearn", "local", "local", "sklearn"]  # balanced order
    assert data["provenance"]["command"].startswith("scaleml ")
    assert written[".csv"].read_text().count("\n") == 5


def test_bench_typos_fail_before_any_work(runner, tmp_path):
    """An unknown backend or case name is an error with a suggestion: nothing runs, nothing is written."""
    typo = runner.invoke(main, ["bench", "--case", "digits-logreg", "--backends", "local,dsak", "--out", str(tmp_path)])
    assert typo.exit_code != 0 and "Did you mean 'dask'?" in typo.output and "[1/" not in typo.output
    case = runner.invoke(main, ["bench", "--case", "digits-logreg-x", "--out", str(tmp_path)])
    assert case.exit_code != 0 and "Did you mean 'digits-logreg'?" in case.output
    assert list(Path(tmp_path).iterdir()) == []


def test_bench_list_cases(runner):
    result = runner.invoke(main, ["bench", "--list-cases"])
    assert result.exit_code == 0 and "digits-forest-search" in result.output


def test_bench_says_when_it_closes_the_cluster_it_started(runner, tmp_path):
    """No silent pause at the end of a bench run: closing the managed cluster is announced."""
    pytest.importorskip("distributed")
    result = runner.invoke(main, ["bench", "--case", "synthetic-forest-search", "--backends", "dask", "--scale", "0.05",
                                  "--repeat", "1", "--warmup", "0", "--no-memory", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "closing the Dask cluster scaleml started" in result.output
