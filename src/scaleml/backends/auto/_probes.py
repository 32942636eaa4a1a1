"""The probes of ``scaleml calibrate``, run in a fresh process: ``python -m scaleml.backends._probes``.

Prints one JSON line: the constants of :class:`scaleml.backends._calibration.Constants`
(without ``source``) and ``raw``, every timing they were derived from. A fresh
process matters: loky's workers and a LocalCluster must start cold here, as they
do in a user's script.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import numpy as np

# Enough fits that the cold call is busy while its workers come up: the first tasks
# start on the first worker ready, so a fit pays less than a bare call's start-up.
PROBE_FITS_PER_CORE = 16
NOOP_TASKS = 200
ARRAY_MB = 32


def fit_tree(X: Any, y: Any) -> float:
    """One CPU-bound scikit-learn fit, the unit the efficiency probes repeat."""
    from sklearn.tree import DecisionTreeClassifier

    start = time.perf_counter()
    DecisionTreeClassifier(random_state=0).fit(X, y)
    return time.perf_counter() - start


def noop() -> None:
    """A task with no work: what remains is the task's own cost."""


def touch(array: Any) -> float:
    """Read the array a task received (so it is really there)."""
    return float(array[::4096].sum())


def _timed(function: Any) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=3000, n_features=20, n_informative=10, random_state=0)


def loky_probes(cores: int, raw: dict[str, Any]) -> dict[str, float]:
    from joblib import Parallel, delayed

    X, y = _data()
    fits = PROBE_FITS_PER_CORE * cores
    fit_tree(X, y)  # warm this process's imports and caches
    serial = _timed(lambda: [fit_tree(X, y) for _ in range(fits)])

    def parallel_fits() -> None:
        Parallel(n_jobs=cores)(delayed(fit_tree)(X, y) for _ in range(fits))

    cold = _timed(parallel_fits)
    warm = min(_timed(parallel_fits) for _ in range(2))
    tasks = min(_timed(lambda: Parallel(n_jobs=cores, batch_size=1)(delayed(noop)() for _ in range(NOOP_TASKS)))
                for _ in range(2))
    array = np.ones(ARRAY_MB * 2**20 // 8)
    send = min(_timed(lambda: Parallel(n_jobs=cores)(delayed(touch)(array) for _ in range(cores))) for _ in range(2))
    raw.update(serial_fits_s=serial, fits=fits, loky_cold_s=cold, loky_warm_s=warm, loky_noop_tasks_s=tasks,
               loky_send_s=send)
    return {
        "loky_start_s": max(0.05, cold - warm),
        "loky_task_s": max(1e-5, tasks / NOOP_TASKS),
        "loky_mb_per_s": ARRAY_MB / max(send, 1e-3),
        "efficiency": min(1.0, serial / (warm * cores)),
        "_serial": serial,
    }


def dask_probes(cores: int, serial: float, raw: dict[str, Any]) -> dict[str, float | None]:
    from ...engines.dask.cluster import CONNECTIONS, ClusterSpec, workers_of

    X, y = _data()
    start = time.perf_counter()
    connection = CONNECTIONS.acquire(ClusterSpec())
    connection.warm()
    started = time.perf_counter() - start
    client = connection.client
    try:
        workers = len(workers_of(client))
        tasks = min(_timed(lambda: client.gather(client.map(noop_numbered, range(NOOP_TASKS), pure=False)))
                    for _ in range(2))
        array = np.ones(ARRAY_MB * 2**20 // 8)
        broadcast = _timed(lambda: client.scatter(array, broadcast=True, hash=False).result())
        Xf, yf = client.scatter([X, y], broadcast=True, hash=False)
        fits = PROBE_FITS_PER_CORE * cores
        client.gather(client.map(fit_tree_numbered, range(workers), X=Xf, y=yf, pure=False))  # warm
        parallel = min(_timed(lambda: client.gather(client.map(fit_tree_numbered, range(fits), X=Xf, y=yf, pure=False)))
                       for _ in range(2))
    finally:
        CONNECTIONS.release(connection)
        CONNECTIONS.close()
    raw.update(dask_start_s=started, dask_workers=workers, dask_noop_tasks_s=tasks, dask_broadcast_s=broadcast,
               dask_fits_s=parallel)
    return {
        "dask_start_s": started,
        "dask_task_s": max(1e-5, tasks / NOOP_TASKS),
        "dask_mb_per_s": ARRAY_MB * workers / max(broadcast, 1e-3),
        "dask_efficiency": min(1.0, serial / (parallel * workers)),
    }


def noop_numbered(_: int) -> None:
    """:func:`noop` for ``client.map``."""


def fit_tree_numbered(_: int, X: Any, y: Any) -> float:
    """:func:`fit_tree` for ``client.map``."""
    return fit_tree(X, y)


def main(argv: list[str]) -> int:
    from ...machine import usable_cores

    cores = usable_cores()
    raw: dict[str, Any] = {}
    figures: dict[str, Any] = {"cores": cores, **loky_probes(cores, raw)}
    serial = figures.pop("_serial")
    dask = {"dask_start_s": None, "dask_task_s": None, "dask_mb_per_s": None, "dask_efficiency": None}
    if "--no-dask" not in argv:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raw["dask"] = "not installed"
        else:
            dask = dask_probes(cores, serial, raw)
    figures.update(dask)
    raw["median_fit_s"] = statistics.median([fit_tree(*_data()) for _ in range(3)])
    print(json.dumps({**figures, "raw": raw}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
