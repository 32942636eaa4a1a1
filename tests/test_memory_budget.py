"""The dask backend's memory check, before any data is sent: refused with the sizes and the
fixes when the data does not fit on the workers, the fits per worker lowered (and the plan
saying so) when only fewer fit at once."""

import os
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import scaleml  # noqa: E402
from scaleml.engines.dask.memory import plan_budget  # noqa: E402
from scaleml.exceptions import OutOfMemoryBudgetError  # noqa: E402

pytestmark = pytest.mark.timeout(300)

MiB = 2**20


def _workers(limit, in_use=100 * MiB, threads=4, count=2):
    """Workers as ``Client.scheduler_info()["workers"]`` describes them."""
    return {f"tcp://10.0.0.{i}:1": {"memory_limit": limit, "nthreads": threads, "metrics": {"memory": in_use}}
            for i in range(count)}


def test_budget_keeps_the_threads_when_every_fit_fits():
    budget = plan_budget(_workers(4096 * MiB), data_bytes=100 * MiB, per_fit_bytes=200 * MiB)
    assert budget.fits_per_worker == 4 and not budget.lowered


def test_budget_lowers_the_fits_per_worker_to_what_fits():
    # usable: 0.8 * 1000 MiB - 100 in use - 100 of data = 600 MiB: two fits of 250 MiB
    budget = plan_budget(_workers(1000 * MiB), data_bytes=100 * MiB, per_fit_bytes=250 * MiB)
    assert budget.fits_per_worker == 2 and budget.lowered
    assert "lowered from 4 threads" in budget.describe()


def test_budget_refuses_when_one_fit_does_not_fit():
    with pytest.raises(OutOfMemoryBudgetError) as caught:
        plan_budget(_workers(1000 * MiB), data_bytes=100 * MiB, per_fit_bytes=700 * MiB)
    message = str(caught.value)
    assert "100 MiB of data" in message and "700 MiB per fit" in message and "1,000 MiB (memory_limit)" in message
    assert "smaller n_jobs does not help" in message and "dask-ml" in message


def test_workers_without_a_limit_are_not_checked():
    assert plan_budget(_workers(0), data_bytes=10**12, per_fit_bytes=10**12) is None


def test_tightest_worker_decides():
    workers = {**_workers(4096 * MiB), "tcp://10.0.0.9:1": {"memory_limit": 300 * MiB, "nthreads": 1,
                                                            "metrics": {"memory": 200 * MiB}}}
    with pytest.raises(OutOfMemoryBudgetError, match="300 MiB"):
        plan_budget(workers, data_bytes=50 * MiB, per_fit_bytes=0)


# -- on a LocalCluster ---------------------------------------------------------------------

# 400 MB of X whose pages were never written: this process and the test machine never
# hold them, but every measure of X says 400 MB.
BIG_X = np.zeros((500_000, 100))
BIG_Y = np.arange(500_000) % 2


def _prefixes(client):
    """Every task prefix the scheduler has seen (kept after the tasks are forgotten)."""
    return client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))


def _keys_held(client):
    return sum(client.run(lambda dask_worker: len(dask_worker.data)).values())


def test_data_larger_than_the_workers_is_refused_before_sending():
    """Both forms, on one cluster of 300 MiB workers (a second such cluster started right
    after the first never got its workers in a full test run)."""
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, n_jobs=-1)
    with scaleml.backend("dask", n_workers=2, threads_per_worker=1, memory_limit="300MiB"):
        client = distributed.get_client()
        client.wait_for_workers(2, timeout=60)
        client.run(lambda: __import__("sklearn"))  # as warm as the fit makes them, so only the fit counts
        for form in ("block", "Scaled"):
            seen = _prefixes(client)
            started = time.monotonic()
            with pytest.raises(OutOfMemoryBudgetError) as caught:
                if form == "block":
                    search.fit(BIG_X, BIG_Y)
                else:
                    scaleml.Scaled(search).fit(BIG_X, BIG_Y)
            seconds = time.monotonic() - started
            # Witnesses that nothing was sent: no new task of any kind reached the scheduler
            # (a scatter, a holder, a fit), and the workers hold no data.
            assert _prefixes(client) == seen and _keys_held(client) == 0
            assert isinstance(caught.value, MemoryError)
            message = str(caught.value)
            x_mib = f"{BIG_X.nbytes / MiB:,.0f} MiB"
            assert "nothing was sent" in message and "300 MiB (memory_limit)" in message
            assert (x_mib in message) if form == "block" else ("of data" in message)
            assert "dask-ml" in message and "memory_limit" in message
            assert seconds < 60, f"refused after {seconds:.0f} s"  # before: workers died one by one, minutes later


def _hungry_model(log):
    """A LogisticRegression whose fit also fills a 16 KB-per-row buffer (320 MB at 20,000
    rows), sleeps 0.2 s and appends (pid, start, end) to ``log``: the probe sees the
    buffer grow with the rows, and the log shows how many fits ran at once."""

    class HungryLogisticRegression(LogisticRegression):
        def __init__(self, C=1.0, log=None):
            super().__init__(C=C)
            self.log = log

        def fit(self, X, y, sample_weight=None):
            start = time.time()
            buffer = np.ones((len(X), 2000))
            buffer[:, 0].sum()
            time.sleep(0.2)
            del buffer
            fitted = super().fit(X, y, sample_weight)
            if self.log:
                with open(self.log, "a") as out:
                    out.write(f"{os.getpid()} {start} {time.time()}\n")
            return fitted

    return HungryLogisticRegression(log=log)


def _most_at_once(log):
    spans = [line.split() for line in log.read_text().splitlines()]
    most = 0
    for pid, start, _ in spans:
        running = sum(1 for p, s, e in spans if p == pid and float(s) <= float(start) < float(e))
        most = max(most, running)
    return most


@pytest.mark.slow
def test_fits_per_worker_lowered_to_fit_and_the_plan_says_so(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 10))
    y = (X[:, 0] > 0).astype(int)
    grid = {"C": [0.1, 1.0, 10.0]}
    expected = GridSearchCV(_hungry_model(None), grid, cv=2).fit(X, y)
    log = tmp_path / "fits.log"
    # One worker of 2 threads and 900 MiB: 720 usable, less what the process uses (~200):
    # room for one fit of ~330 MiB at a time, not two.
    model = scaleml.Scaled(GridSearchCV(_hungry_model(str(log)), grid, cv=2, n_jobs=-1), backend="dask",
                           n_workers=1, threads_per_worker=2, memory_limit="900MiB").fit(X, y)
    check = model.plan_.observed["memory_check"]
    assert "1 fit(s) at once per worker, lowered from 2 threads" in check, check
    assert _most_at_once(log) == 1  # the witness: never two fits at once in the worker
    np.testing.assert_array_equal(model.estimator_.cv_results_["mean_test_score"],
                                  expected.cv_results_["mean_test_score"])
