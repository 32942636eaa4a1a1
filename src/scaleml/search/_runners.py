"""Where a search's training tasks run: threads here, or futures on a Dask cluster.

Both runners take the same calls: ``put`` the data once, ``submit`` a training
task (its model may be the previous task's result, left where it is), wait for
any score, and ``fetch`` a finished model.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import math
import time
import warnings
from typing import Any

from sklearn.base import clone
from sklearn.metrics import check_scoring

from ..engines.dask.cluster import workers_of
from ..engines.dask.spread import Spread


def advance(
    previous: Any, estimator: Any, params: dict, calls: int, data: tuple, fit_params: dict,
    scoring: Any, error_score: Any,
) -> dict:
    """Train a model ``calls`` more partial_fit calls, then score it on the validation set.

    ``previous``: the last task's record (its model is copied, never changed, so
    a task re-run after a lost worker starts from the same state), or None to
    start ``estimator`` with ``params``.
    """
    X, y, X_val, y_val = data
    model = clone(estimator).set_params(**params) if previous is None else copy.deepcopy(previous["model"])
    start = time.perf_counter()
    try:
        for _ in range(calls):
            model.partial_fit(X, y, **fit_params)
        fitted = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. ill-defined precision early in training
            score = float(check_scoring(model, scoring)(model, X_val, y_val))
    except Exception as exc:  # noqa: BLE001 - a failed candidate is recorded, as GridSearchCV does
        if error_score == "raise":
            raise
        return {"model": None, "score": float(error_score), "fit_time": time.perf_counter() - start,
                "score_time": 0.0, "error": f"{type(exc).__name__}: {exc}"}
    return {"model": model, "score": score, "fit_time": fitted - start,
            "score_time": time.perf_counter() - fitted, "error": None}


def _score_of(record: dict) -> tuple[float, float, float, Any]:
    return record["score"], record["fit_time"], record["score_time"], record["error"]


class LocalRunner:
    """Training tasks on a pool of threads in this process (partial_fit releases the GIL
    in scikit-learn's SGD and in PyTorch)."""

    where = "this process"

    def __init__(self, n_jobs: int) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="scaleml-search")
        self.where = f"this process, {n_jobs} thread{'s' if n_jobs > 1 else ''}"

    def put(self, data: tuple) -> tuple:
        return data

    def submit(self, previous: Any, *args: Any) -> tuple[Any, Any]:
        record = self.pool.submit(advance, None if previous is None else previous.result(), *args)
        return record, record

    def wait_any(self, score_futures: list[Any]) -> set[Any]:
        done, _ = concurrent.futures.wait(score_futures, return_when=concurrent.futures.FIRST_COMPLETED)
        return done

    @staticmethod
    def score(score_future: Any) -> tuple[float, float, float, Any]:
        return _score_of(score_future.result())

    @staticmethod
    def fetch(record: Any) -> dict:
        return record.result()

    def release(self, record: Any) -> None:
        pass

    def guard(self) -> Any:
        return contextlib.nullcontext()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner:
    """Training tasks as futures on a ``distributed.Client``.

    The data goes to every worker once and stays there until the search ends
    (:class:`scaleml.engines.dask.spread.Spread`); each model stays on the worker that
    trained it, its next task chained to it; only scores travel here until the
    best model is fetched. A worker lost mid-search costs the tasks it held: the
    scheduler re-runs them from their inputs elsewhere.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        workers = len(workers_of(client))
        self.where = f"Dask cluster at {client.scheduler.address} ({workers} workers)"
        self.spread = Spread(client)

    def put(self, data: tuple) -> tuple:
        return tuple(None if part is None else self.spread.put(part) for part in data)

    def submit(self, previous: Any, *args: Any) -> tuple[Any, Any]:
        record = self.client.submit(advance, previous, *args, pure=False)
        return record, self.client.submit(_score_of, record, pure=False)

    def wait_any(self, score_futures: list[Any]) -> set[Any]:
        from distributed import wait

        with self.client.as_current():  # our clients are not made the process default
            done, _ = wait(score_futures, return_when="FIRST_COMPLETED")
        return set(done)

    @staticmethod
    def score(score_future: Any) -> tuple[float, float, float, Any]:
        return score_future.result()

    @staticmethod
    def fetch(record: Any) -> dict:
        return record.result()

    def release(self, record: Any) -> None:
        record.release()

    def guard(self) -> Any:
        """The scheduler lost mid-search becomes one clear ClusterConnectionError."""
        from ..engines.dask.cluster import scheduler_loss_as_error

        return scheduler_loss_as_error(self.client)

    def close(self) -> None:
        self.spread.release()


def make_runner(client: Any, n_jobs: int | None) -> Any:
    """A Dask runner on ``client`` (a backend's cluster), threads here when it is None."""
    if client is not None:
        return DaskRunner(client)
    import os

    workers = 1 if n_jobs is None else (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    return LocalRunner(max(1, math.floor(workers)))
