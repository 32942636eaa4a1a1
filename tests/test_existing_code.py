"""Existing code, unchanged: plain scripts without a main guard, `scaleml exec`, notebooks,
and the cluster behind `with scaleml.backend("dask")`."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("distributed")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

UNGUARDED = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV
    import scaleml

    with open(sys.argv[1], "a") as log:          # a module-level side effect
        log.write(f"{os.getpid()}\\n")
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(RandomForestClassifier(n_estimators=10, random_state=0), {"max_depth": [2, 4]}, cv=3)
    backend, options = sys.argv[2], {"n_jobs": -1} if sys.argv[2] == "local" else {}
    model = scaleml.Scaled(search, backend=backend, **options).fit(X, y)
    print(model.estimator_.best_params_, np.round(model.estimator_.best_score_, 6), model.score(X, y))
    """
)


def _python(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=240,
                          cwd=cwd, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("backend", ["dask", "dask-ml", "local"])
def test_unguarded_script_runs_once_with_the_guarded_results(backend, tmp_path):
    plain = tmp_path / "plain.py"
    plain.write_text(UNGUARDED)
    guarded = tmp_path / "guarded.py"
    guarded.write_text("if __name__ == '__main__':\n" + textwrap.indent(UNGUARDED, "    "))
    results = []
    for script in (plain, guarded):
        log = tmp_path / f"{script.stem}.log"
        done = _python(script, log, backend)
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(log.read_text().split()) == 1, "the module-level side effect ran more than once"
        results.append(done.stdout)
    assert results[0] == results[1] and "max_depth" in results[0]


SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    def pid_scorer(estimator, X, y):
        return os.getpid()

    if __name__ == "__main__":
        X, y = load_iris(return_X_y=True)
        pids = cross_val_score(RandomForestClassifier(n_estimators=5), X, y, cv=3, scoring=pid_scorer)
        LogisticRegression(max_iter=300).fit(X, y)
        print(json.dumps({"argv": sys.argv[1:], "fit_pids": sorted(set(int(p) for p in pids)), "me": os.getpid()}))
        if "--fail" in sys.argv:
            raise RuntimeError("the script's own error")
        sys.exit(int(sys.argv[1]))
    """
)


def _exec(*args, cwd=None, env=None):
    return _python("-m", "scaleml", "exec", *args, cwd=cwd, env=env)


def test_exec_runs_the_script_on_the_backend_with_its_argv_and_exit_status(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    done = _exec("--backend", "dask", "-v", script, "7", "--epochs", "3", cwd=tmp_path)
    assert done.returncode == 7, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["argv"] == ["7", "--epochs", "3"]
    assert result["me"] not in result["fit_pids"], "the cross-validation fits ran in the script's process"
    report = done.stderr
    assert "scaleml exec: backend 'dask' (--backend), 2 fits" in report
    assert "cross_val_score(RandomForestClassifier)" in report and "Dask: 3 tasks" in report
    assert "LogisticRegression" in report and "1 process" in report and "ignores LogisticRegression's n_jobs" in report


def test_exec_plain_run_and_environment_variable(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    local = _exec(script, "0", cwd=tmp_path)  # default: local, no n_jobs: everything in this process
    assert local.returncode == 0, local.stderr[-3000:]
    result = json.loads(local.stdout.strip().splitlines()[-1])
    assert result["fit_pids"] == [result["me"]]
    spread = _exec(script, "0", cwd=tmp_path, env={"SCALEML_BACKEND": "local"})
    assert spread.returncode == 0
    on_env = _exec("-o", "n_jobs=2", script, "0", cwd=tmp_path, env={"SCALEML_BACKEND": "local"})
    result = json.loads(on_env.stdout.strip().splitlines()[-1])
    assert result["me"] not in result["fit_pids"], "SCALEML_BACKEND with -o n_jobs=2 runs the folds in workers"


def test_exec_report_on_local_says_where_a_functions_fits_ran(tmp_path):
    """cross_val_score's folds ran in loky's workers under n_jobs=2: the report must not say
    "this process" (it did, found by a new user checking os.getpid() in each fit)."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    spread = _exec("-b", "local", "-o", "n_jobs=2", "-v", script, "0", cwd=tmp_path)
    result = json.loads(spread.stdout.strip().splitlines()[-1])
    assert result["me"] not in result["fit_pids"]
    line = next(line for line in spread.stderr.splitlines() if "cross_val_score(RandomForestClassifier)" in line)
    assert "joblib, up to 2 workers (n_jobs=None)" in line and "this process" not in line
    alone = _exec("-b", "local", "-v", script, "0", cwd=tmp_path)
    result = json.loads(alone.stdout.strip().splitlines()[-1])
    assert result["fit_pids"] == [result["me"]]
    line = next(line for line in alone.stderr.splitlines() if "cross_val_score(RandomForestClassifier)" in line)
    assert "this process (n_jobs=None means one worker)" in line


def test_exec_shows_the_scripts_own_exception(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    done = _exec(script, "0", "--fail", cwd=tmp_path)
    assert done.returncode == 1
    assert "RuntimeError: the script's own error" in done.stderr
    assert 'File "' + str(script) in done.stderr and "runpy" not in done.stderr and "runner.py" not in done.stderr


def test_exec_ends_on_ctrl_c_as_python_does(tmp_path):
    script = tmp_path / "interrupted.py"
    script.write_text("import atexit\natexit.register(print, 'the script cleaned up')\n"
                      "def train():\n    raise KeyboardInterrupt\n\ntrain()\n")
    plain = _python(script, cwd=tmp_path)
    done = _exec("-b", "local", script, cwd=tmp_path)
    assert done.returncode == plain.returncode == -signal.SIGINT  # a shell sees 130
    assert "Aborted!" not in done.stderr and "runner.py" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "KeyboardInterrupt" and "in train" in done.stderr
    assert "the script cleaned up" in plain.stdout and "the script cleaned up" in done.stdout  # atexit ran


def test_exec_a_module(tmp_path):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text(SCRIPT)
    done = _exec("-b", "local", "-o", "n_jobs=2", "-m", "mypkg.train", "5", cwd=tmp_path)
    assert done.returncode == 5, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["argv"] == ["5"] and result["me"] not in result["fit_pids"]


def test_exec_refuses_what_it_cannot_run(tmp_path):
    missing = _exec(tmp_path / "nope.py", cwd=tmp_path)
    assert missing.returncode != 0 and "No script at" in missing.stderr
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    unknown = _exec("-b", "dsk", script, "0", cwd=tmp_path)
    assert unknown.returncode != 0 and "Did you mean 'dask'" in unknown.stderr and "fit_pids" not in unknown.stdout
    # Found by a new user: each of these said something beside the point, or printed a traceback.
    from_env = _exec(script, "0", cwd=tmp_path, env={"SCALEML_BACKEND": "dsk"})
    assert from_env.returncode != 0 and "fit_pids" not in from_env.stdout
    assert "Did you mean 'dask'" in from_env.stderr and "environment variable SCALEML_BACKEND='dsk'" in from_env.stderr
    misspelled = _exec("--backnd", "dask", script, "0", cwd=tmp_path)
    assert misspelled.returncode == 2 and "No such option: --backnd. Did you mean '--backend'?" in misspelled.stderr
    no_module = _exec("-b", "local", "-m", "nosuch.mod", cwd=tmp_path)
    assert no_module.returncode == 1 and "No module named 'nosuch.mod'" in no_module.stderr
    assert "Traceback" not in no_module.stderr


def test_the_block_is_the_cluster():
    import dask.array as da
    import distributed

    import scaleml

    with scaleml.backend("dask") as instance:
        client = distributed.get_client()
        assert client is instance.cluster()
        with distributed.get_task_stream(client=client) as stream:
            total = da.ones((1_000, 10), chunks=(100, 10)).sum().compute()
        assert total == 10_000 and len(stream.data) >= 10, "the Dask collection computed on the block's cluster"
    with pytest.raises(ValueError):
        distributed.get_client()  # outside the block: no client was made the default


NOTEBOOK_CELLS = [
    "%load_ext scaleml",
    textwrap.dedent("""
        import json, os
        from sklearn.datasets import load_iris
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import cross_val_score
        X, y = load_iris(return_X_y=True)
        def pid_scorer(estimator, X, y):
            return os.getpid()
    """),
    textwrap.dedent("""
        %%scaleml dask
        import distributed
        pids = cross_val_score(RandomForestClassifier(n_estimators=5), X, y, cv=3, scoring=pid_scorer)
        workers = distributed.get_client().run(os.getpid)
        print(json.dumps({"fit_pids": sorted(set(int(p) for p in pids)), "workers": sorted(workers.values()),
                          "kernel": os.getpid()}))
    """).strip(),
    "%scaleml dask",
    textwrap.dedent("""
        import dask.array as da
        pids = cross_val_score(RandomForestClassifier(n_estimators=5), X, y, cv=3, scoring=pid_scorer)
        print(json.dumps({"session_fit_pids": sorted(set(int(p) for p in pids)),
                          "sum": float(da.ones((100, 10), chunks=(10, 10)).sum().compute())}))
    """),
    "%scaleml off",
]


def test_notebook_magics_run_cells_on_dask(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    nbclient.NotebookClient(notebook, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = ["".join(o.get("text", "") for o in cell.outputs) for cell in notebook.cells]
    cell = json.loads(outputs[2].strip().splitlines()[-1])
    assert cell["fit_pids"] and set(cell["fit_pids"]) <= set(cell["workers"]) and cell["kernel"] not in cell["fit_pids"]
    assert "active for the next cells" in outputs[3]
    session = json.loads(outputs[4].strip().splitlines()[-1])
    assert set(session["session_fit_pids"]) <= set(cell["workers"]) and session["sum"] == 1000.0
    assert "back to plain scikit-learn" in outputs[5]


def test_a_magic_cell_shows_its_value_once_and_a_mistake_in_one_line(tmp_path):
    """Found by a new user: a %%scaleml cell's value was shown twice, a failing cell's
    traceback twice, and a misspelled backend gave ~50 lines of scaleml's internals."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = ["%load_ext scaleml", "%%scaleml local\nx = 20\nx + 1", "%%scaleml local\nraise ValueError('the cell failed')",
             "%scaleml daks", "%%scaleml local -o n_jobz=2\nx", "%%scaleml local\nx + 2;",
             "%%scaleml local\nimport asyncio\nawait asyncio.sleep(0)", "%scaleml local",
             "import asyncio\nawait asyncio.sleep(0)\nw = x + 3", "w"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    value, failing, misspelled, bad_option, silenced, awaited, _, session_await, after = (
        cell.outputs for cell in notebook.cells[1:])
    assert silenced == []  # ";" silences the value, as without the magic
    # Top-level await cannot run inside a cell magic: the message says to use the line magic, which works.
    assert [o.output_type for o in awaited] == ["stream"] and "`%scaleml <backend>`" in awaited[0].text
    assert session_await == [] and [o.data["text/plain"] for o in after] == ["23"]
    assert [o.output_type for o in value] == ["execute_result"] and value[0].data["text/plain"] == "21"
    assert [(o.output_type, o.ename) for o in failing] == [("error", "ValueError")]
    assert any("raise ValueError('the cell failed')" in line for line in failing[0].traceback)
    for outputs, words in ((misspelled, "Did you mean 'dask'?"), (bad_option, "has no option 'n_jobz'")):
        # IPython prints a UsageError as its message alone, on stderr, and fails the cell.
        assert [(o.output_type, o.name) for o in outputs] == [("stream", "stderr")]
        assert outputs[0].text.startswith("UsageError: ") and words in outputs[0].text
        assert len(outputs[0].text.strip().splitlines()) == 1
    with pytest.raises(nbclient.exceptions.CellExecutionError):  # a notebook run stops at the mistake
        nbclient.NotebookClient(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells[::3]]),
                                timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()



WARNS_IN_FITS = textwrap.dedent("""
    import warnings
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.model_selection import cross_validate

    class Warns(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            warnings.warn("fitted on few rows", UserWarning)
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.full(len(X), self.classes_[0])

    X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    cross_validate(Warns(), X, y, cv=4, error_score="raise")
    print("finished")
""")


@pytest.mark.parametrize("backend", [["-b", "local", "-o", "n_jobs=-1"], ["-b", "dask", "-o", "n_workers=2"]],
                         ids=["local-n_jobs", "dask"])
def test_exec_takes_warning_filters_as_python_does(backend, tmp_path):
    """``scaleml exec -W`` as ``python -W``: a warning made an error in the workers' fits
    fails the script as it does plainly; without the option it finishes."""
    script = tmp_path / "warns.py"
    script.write_text(WARNS_IN_FITS)
    plain = _python("-W", "error::UserWarning", str(script))
    told = _exec(*backend, "-W", "error::UserWarning", str(script))
    assert plain.returncode == told.returncode == 1, told.stderr[-2000:]
    assert "UserWarning: fitted on few rows" in plain.stderr and "UserWarning: fitted on few rows" in told.stderr
    assert "finished" not in told.stdout
    quiet = _exec(*backend, "-W", "ignore::UserWarning", str(script))
    assert quiet.returncode == 0 and "finished" in quiet.stdout and "fitted on few rows" not in quiet.stderr


def test_exec_refuses_a_warning_filter_it_cannot_pass_on(tmp_path):
    script = tmp_path / "warns.py"
    script.write_text(WARNS_IN_FITS)
    done = _exec("-W", "error:a, b:UserWarning", str(script))
    assert done.returncode == 2 and "python -W ... -m scaleml exec" in done.stderr


def test_exec_with_warning_filters_leaves_no_marker_for_the_scripts_own_children(tmp_path):
    """The script run by ``scaleml exec -W`` starts with a clean environment: a
    ``scaleml exec -W`` it starts itself applies its own filters."""
    script = tmp_path / "env.py"
    script.write_text("import os, warnings\n"
                      "print(os.environ.get('SCALEML_EXEC_WARNINGS_APPLIED'), os.environ.get('PYTHONWARNINGS'))\n")
    done = _exec("-W", "ignore::UserWarning", str(script))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["None", "ignore::UserWarning"]
