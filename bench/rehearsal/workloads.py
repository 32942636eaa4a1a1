"""Workloads run as the client of a rehearsal cluster (in the client's namespace).

    python -m rehearsal.workloads grid --address tcp://10.213.0.2:8786 --mb 200

Each connects, warms the workers (imports, a first task) outside the clock, then times
one fit and prints one JSON line: the fit's wall time, the bytes every node sent and
received during it (read from the links' counters), where the tasks ran, and what the
plan said about the data.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from typing import Any

import numpy as np


def _counters() -> dict[str, dict[str, int]]:
    from rehearsal.network import Node

    nodes = json.loads(os.environ["REHEARSAL_NODES"])
    return {name: Node(name, ns, "", "").counters() for name, ns in nodes.items()}


def _warm(client: Any) -> None:
    def imports() -> None:
        import sklearn.linear_model  # noqa: F401
        import sklearn.model_selection  # noqa: F401

    client.run(imports)


def _data(mb: float, features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rows = int(mb * 1e6 / (8 * features))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    y = (X[:, 0] + 0.5 * rng.standard_normal(rows) > 0).astype(np.int64)
    return X, y


def grid(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    """A grid search over a cheap model on ``--mb`` MB: the data's movement dominates."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import GridSearchCV

    import scaleml

    X, y = _data(args.mb, args.features)
    # n_jobs: as many calls at once as this machine has cores, whatever the number of
    # simulated workers (16 at once on 2 cores measure the oversubscription, not the cluster).
    search = GridSearchCV(RidgeClassifier(), {"alpha": np.logspace(-3, 3, args.candidates)}, cv=args.folds,
                          n_jobs=args.n_jobs)
    constants = _grid_constants(client, X, y, args) if args.constants else {}
    options = {} if args.movement is None else {"data_movement": args.movement}
    model = scaleml.Scaled(search, backend="dask", address=args.address, **options)
    result = _timed(client, lambda: model.fit(X, y), nbytes=X.nbytes + y.nbytes, tasks=args.candidates * args.folds)
    result["plan"] = str(model.plan_)
    result["constants"] = constants
    return result


def _grid_constants(client: Any, X: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict[str, float]:
    """The scaling model's constants, measured on this cluster before the fit (off its clock):
    the link's rate, a fit's fixed cost, and one call's compute on a worker, alone and
    while a second runs on another worker (the workers share this machine's cores)."""
    import statistics

    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    import scaleml

    def seconds(call: Any, repeat: int) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    probe = np.ones(int(20e6 / 8))
    workers = sorted(client.nthreads())
    link = seconds(lambda: client.cancel(client.scatter(probe, workers=workers[:1], direct=True, hash=False)), 3)
    small = slice(0, 2000)
    tiny = GridSearchCV(RidgeClassifier(), {"alpha": np.logspace(-3, 3, args.candidates)}, cv=args.folds)
    fixed = seconds(lambda: scaleml.Scaled(tiny, backend="dask", address=args.address).fit(X[small], y[small]), 3)
    train, test = next(StratifiedKFold(args.folds).split(X, y))
    pair = workers[:2]
    data = client.scatter([X, y], workers=pair, broadcast=True, direct=True, hash=False)
    alone = statistics.median(client.submit(_one_call, *data, train, test, workers=pair[:1], pure=False).result()
                              for _ in range(3))
    together = statistics.median(max(client.gather([
        client.submit(_one_call, *data, train, test, workers=[w], pure=False) for w in pair])) for _ in range(3))
    client.cancel(data)
    refit = seconds(lambda: RidgeClassifier().fit(X, y), 2)
    return {"link_bytes_per_s": probe.nbytes / link, "fixed_s": fixed, "call_s": alone,
            "call_two_at_once_s": together, "refit_s": refit}


def _one_call(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """What one call of the search does on a worker (split, fit, score); its seconds there."""
    from sklearn.linear_model import RidgeClassifier

    start = time.perf_counter()
    RidgeClassifier().fit(X[train], y[train]).score(X[test], y[test])
    return time.perf_counter() - start


def _noop(i: int) -> int:
    return i


def _timed(client: Any, fit: Any, nbytes: int, tasks: int) -> dict[str, Any]:
    from distributed import get_task_stream

    before = _counters()
    start, wall_start = time.perf_counter(), time.time()
    with get_task_stream(client) as stream:
        fit()
    seconds = time.perf_counter() - start
    after = _counters()
    work = [t for t in stream.data if not str(t["key"]).startswith("scaleml-hold")]
    placed = Counter(task["worker"] for task in work)
    computes = [ss for t in work for ss in t["startstops"] if ss["action"] == "compute"]
    return {
        "fit_s": seconds,
        # Phases on the workers' clocks (this machine's): before the first task ran (the
        # data reaching the workers), the tasks, and after the last (the refit here).
        "first_task_s": min((c["start"] for c in computes), default=wall_start) - wall_start,
        "last_task_s": max((c["stop"] for c in computes), default=wall_start) - wall_start,
        "compute_s": sum(c["stop"] - c["start"] for c in computes),
        "data_bytes": nbytes,
        "tasks": tasks,
        "bytes": {n: {k: after[n][k] - before[n][k] for k in after[n]} for n in after},
        "tasks_per_worker": dict(placed),
    }


WORKLOADS = {"grid": grid}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--address", required=True)
    parser.add_argument("--mb", type=float, default=200.0)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--movement", default=None, help="the dask backend's data_movement option")
    parser.add_argument("--constants", action="store_true", help="measure the scaling model's constants first")
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1, help="calls at once (default: cores here)")
    args = parser.parse_args(argv)
    import distributed

    with distributed.Client(args.address, timeout=60) as client:
        _warm(client)
        result = WORKLOADS[args.workload](args, client)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
