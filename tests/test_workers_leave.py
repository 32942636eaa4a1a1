"""Workers told to leave mid-search (``client.retire_workers``, SIGTERM to a `dask worker`):
the search finishes on the others with the same ``cv_results_`` as ``local``, no
``KilledWorker``, no unit lost.

Each fit sleeps 0.3 s, so that the worker leaves while the search runs (a file every fit
writes, with its process id, witnesses how far it had gone), and sleeping costs this
shared machine no CPU.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import scaleml  # noqa: E402
from scaleml.engines.dask.cluster import close_all  # noqa: E402

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

# 3.2 MB of X: sent once to every worker and held there (engines/dask/spread.py), as the
# fold indices are, so a worker that leaves has copies to hand over or drop.
X, y = make_classification(n_samples=20_000, n_features=20, random_state=0)
GRID = {"C": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]}  # x 5 folds: 40 fits


def _slow_model(log):
    """A LogisticRegression whose fit takes 0.3 s more and appends its process id to ``log``.

    Defined here so that cloudpickle sends the class by value: workers started by the
    test cannot import this module.
    """
    from sklearn.linear_model import LogisticRegression

    class SlowLogisticRegression(LogisticRegression):
        def __init__(self, C=1.0, max_iter=200, log=None):
            super().__init__(C=C, max_iter=max_iter)
            self.log = log

        def fit(self, X, y, sample_weight=None):
            time.sleep(0.3)
            fitted = super().fit(X, y, sample_weight)
            with open(self.log, "a") as out:
                out.write(f"{os.getpid()}\n")
            return fitted

    return SlowLogisticRegression(log=str(log))


@pytest.fixture(scope="module")
def local_search(tmp_path_factory):
    log = tmp_path_factory.mktemp("local") / "fits.log"
    return GridSearchCV(_slow_model(log), GRID, cv=5).fit(X, y)


def _fits(log):
    return log.read_text().split() if log.exists() else []


def _same_cv_results(got, expected):
    """Every column of ``cv_results_`` equal, apart from timings."""
    assert set(got.cv_results_) == set(expected.cv_results_)
    for key, value in expected.cv_results_.items():
        if "time" in key:
            continue
        if key == "params":
            assert got.cv_results_[key] == value
        else:
            np.testing.assert_array_equal(np.asarray(got.cv_results_[key]), np.asarray(value), err_msg=key)
    assert got.best_params_ == expected.best_params_


def _search_in_thread(address, log):
    outcome = {}

    def run():
        try:
            with scaleml.backend("dask", address=address):
                outcome["result"] = GridSearchCV(_slow_model(log), GRID, cv=5, n_jobs=-1).fit(X, y)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's assert
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_for_fits(log, thread, count, limit=180):
    """Until ``count`` fits have finished; the search must still be running then."""
    deadline = time.monotonic() + limit
    while len(_fits(log)) < count and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    done = len(_fits(log))
    assert thread.is_alive() and count <= done < 40, f"the search was not mid-way: {done} of 40 fits done"
    return done


def _finished(thread, outcome):
    thread.join(timeout=300)
    assert not thread.is_alive(), "the search hung after the worker left"
    error = outcome.get("error")
    assert error is None, f"{error!r}: {error}"  # no KilledWorker, no lost data
    return outcome["result"]


def test_worker_retired_mid_search_on_a_local_cluster(local_search, tmp_path):
    log = tmp_path / "fits.log"
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        address = cluster.scheduler_address
        pids = client.run(os.getpid)
        try:
            thread, outcome = _search_in_thread(address, log)
            _wait_for_fits(log, thread, 6)
            victim = sorted(pids)[0]
            retired = client.retire_workers([victim], close_workers=True)
            assert victim in retired and victim not in client.scheduler_info(n_workers=-1)["workers"]
            got = _finished(thread, outcome)
        finally:
            close_all(address)  # scaleml's shared connection, before the cluster goes
    _same_cv_results(got, local_search)
    ran = _fits(log)
    assert len(ran) >= 40 and str(pids[victim]) in ran  # the retired worker had run fits of this search


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def three_dask_workers(tmp_path):
    """A `dask scheduler` and three `dask worker` processes (one worker of one thread
    each), so that one can be stopped alone; yields the address, a client and the
    worker processes."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    logs = (tmp_path / "cluster.log").open("w")
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], stdout=logs, stderr=subprocess.STDOUT, env=env, start_new_session=True)]
    workers = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard",
         "--memory-limit", "2GiB", "--name", f"w{i}"], stdout=logs, stderr=subprocess.STDOUT, env=env,
        start_new_session=True) for i in range(3)]
    client = distributed.Client(address, timeout=60, set_as_default=False)
    try:
        client.wait_for_workers(3, timeout=120)
        yield address, client, workers
    finally:
        close_all(address)
        client.close()
        for proc in [*workers, *procs]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*workers, *procs]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_a_running_fit(client, thread, limit=180):
    """Until a fit runs on a worker: the data and the folds' indices are still being
    copied to the workers then (a worker that left then was a KeyError, or data lost)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and thread.is_alive():
        if any(key.startswith("fit-and-score") for keys in client.processing().values() for key in keys):
            return
        time.sleep(0.01)
    raise AssertionError("no fit started")


@pytest.mark.parametrize("when", ["mid-search", "at-the-first-fit"])
def test_dask_worker_stopped_by_sigterm_mid_search(three_dask_workers, local_search, tmp_path, when):
    address, client, workers = three_dask_workers
    log = tmp_path / "fits.log"
    by_name = {info["name"]: addr for addr, info in client.scheduler_info(n_workers=-1)["workers"].items()}
    victim_pid = client.run(os.getpid, workers=[by_name["w0"]])[by_name["w0"]]
    thread, outcome = _search_in_thread(address, log)
    if when == "mid-search":
        _wait_for_fits(log, thread, 6)
    else:
        _wait_for_a_running_fit(client, thread)
    os.kill(workers[0].pid, signal.SIGTERM)  # the `dask worker` command, as a batch system stops it
    workers[0].wait(timeout=60)
    deadline = time.monotonic() + 30
    while _alive(victim_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(victim_pid)  # the worker's own process is gone too
    got = _finished(thread, outcome)
    _same_cv_results(got, local_search)
    assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2
    assert len(_fits(log)) >= 40
    if when == "mid-search":
        assert str(victim_pid) in _fits(log)  # it had run fits of this search
