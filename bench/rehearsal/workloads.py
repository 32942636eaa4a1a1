"""Workloads run as the client of a rehearsal cluster (in the client's namespace).

    python -m rehearsal.workloads grid --address tcp://10.213.0.2:8786 --mb 200
    python -m rehearsal.workloads blocked --source files --address ... --blocks 16
    python -m rehearsal.workloads hyperband --address ... --mb 50 --max-iter 9

``grid``: GridSearchCV(RidgeClassifier) on the dask backend; ``blocked``: scaleml's
LogisticRegression over row blocks (sent from here, or read from Parquet files every
pass); ``hyperband``: HyperbandSearchCV(SGDClassifier). With ``--constants`` each first
measures its scaling model's constants on the cluster (bench/rehearsal/model.py).

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
    if args.broadcast_min_bytes is not None:
        options["broadcast_min_bytes"] = args.broadcast_min_bytes
    model = scaleml.Scaled(search, backend="dask", address=args.address, **options)
    result = _timed(client, lambda: model.fit(X, y), nbytes=X.nbytes + y.nbytes, tasks=args.candidates * args.folds)
    result["plan"] = str(model.plan_)
    result["constants"] = constants
    # Each call's own seconds on its worker (fit and score), as scikit-learn timed them.
    cv = model.estimator_.cv_results_
    result["call_seconds_mean"] = float(np.mean(cv["mean_fit_time"] + cv["mean_score_time"]))
    return result


def _grid_constants(client: Any, X: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict[str, float]:
    """The scaling model's constants, measured on this cluster before the fit (off its clock):
    the link's rate, a fit's fixed cost, one call's compute on a worker alone and with as
    many at once as the fit runs (joblib keeps ``2 * n_jobs`` tasks out, and Dask runs
    them on as many workers: the workers share this machine's cores), and the refit."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    import scaleml

    small = slice(0, 2000)
    tiny = GridSearchCV(RidgeClassifier(), {"alpha": np.logspace(-3, 3, args.candidates)}, cv=args.folds)
    fixed = _seconds(lambda: scaleml.Scaled(tiny, backend="dask", address=args.address).fit(X[small], y[small]), 3)
    folds = list(StratifiedKFold(args.folds).split(X, y))
    train, test = folds[0]
    at_once = min(2 * args.n_jobs, len(client.nthreads()), args.candidates * args.folds)
    # Every fold's indices held too, as the fit holds them: each held object keeps a
    # waiting thread on every worker, which the workers' profiler samples (SCALING.md).
    others = tuple(part for fold in folds[1:] for part in fold)
    alone, together, slowest = _at_once(client, at_once, _one_call, X, y, train, test, spread=others)
    refit = _seconds(lambda: RidgeClassifier().fit(X, y), 2)
    return {"link_bytes_per_s": _link_rate(client), "fixed_s": fixed, "call_s": alone,
            "call_at_once_s": together, "call_slowest_s": slowest, "at_once": at_once, "refit_s": refit}


def _one_call(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """What one call of the search does on a worker (split, fit, score); its seconds there."""
    from sklearn.linear_model import RidgeClassifier

    start = time.perf_counter()
    RidgeClassifier().fit(X[train], y[train]).score(X[test], y[test])
    return time.perf_counter() - start


def _seconds(call: Any, repeat: int) -> float:
    import statistics

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _link_rate(client: Any) -> float:
    """One link's rate in bytes/s: a 20 MB transfer to one worker, median of three."""
    probe = np.ones(int(20e6 / 8))
    workers = sorted(client.nthreads())
    return probe.nbytes / _seconds(
        lambda: client.cancel(client.scatter(probe, workers=workers[:1], direct=True, hash=False)), 3)


def _at_once(client: Any, at_once: int, task: Any, *args: Any,
             spread: tuple | None = None) -> tuple[float, float, float]:
    """``task(*args)``'s seconds as it reports them: on one worker alone; then, ``at_once`` run
    at once on as many workers (which share this machine's cores), their mean and the
    slowest; medians of five rounds. Each worker gets its own copy of the arrays first,
    under a key of its own: one key on several workers has its extra copies dropped by
    the scheduler's memory manager, and fetching them again would run beside the timed
    calls. ``spread`` (a tuple, maybe empty): the arrays, and those in ``spread``, go to
    every worker instead, as the fit sends them (scaleml's Spread, the copies held), so
    the calls run with each worker holding what it holds in the fit."""
    import statistics

    from distributed import Future

    from scaleml.engines.dask.spread import Spread

    workers = sorted(client.nthreads())[:at_once]
    holder = Spread(client) if spread is not None else None
    if holder is not None:
        shared = [holder.put(a) if isinstance(a, np.ndarray) else a for a in args]
        for extra in spread:
            holder.put(extra)
        copies = {w: shared for w in workers}
    else:
        copies = {w: [client.scatter(a, workers=[w], direct=True, hash=False) if isinstance(a, np.ndarray) else a
                      for a in args] for w in workers}
    first = workers[0]
    alone = statistics.median(
        client.submit(task, *copies[first], workers=[first], pure=False).result() for _ in range(5))
    rounds = [client.gather([client.submit(task, *copies[w], workers=[w], pure=False) for w in workers])
              for _ in range(5)]
    if holder is not None:
        holder.release()
    else:
        client.cancel([f for fs in copies.values() for f in fs if isinstance(f, Future)])
    return (alone, statistics.median(statistics.mean(r) for r in rounds),
            statistics.median(max(r) for r in rounds))


def _sent(client: Any, X: np.ndarray, y: np.ndarray, blocks: int) -> tuple[Any, Any]:
    """``X`` and ``y`` as Dask arrays of ``blocks`` row blocks, sent from here, each block to
    one worker, and kept there."""
    import dask.array as da
    import distributed

    rows = -(-len(X) // blocks)
    data, target = client.persist([da.from_array(X, chunks=(rows, -1)), da.from_array(y, chunks=rows)])
    distributed.wait([data, target])
    return data, target


def _write_files(X: np.ndarray, y: np.ndarray, blocks: int, folder: str) -> None:
    """One Parquet file per block: the data on storage every worker reads (here, this machine's disk)."""
    import pandas as pd

    rows = -(-len(X) // blocks)
    for i, start in enumerate(range(0, len(X), rows)):
        frame = pd.DataFrame(X[start:start + rows], columns=[f"x{j}" for j in range(X.shape[1])])
        frame["y"] = y[start:start + rows]
        frame.to_parquet(f"{folder}/part-{i:04d}.parquet", index=False)


def blocked(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    """scaleml.linear_model.LogisticRegression (Newton: one pass over the blocks per step,
    each block's sums merged in a tree) on ``--mb`` MB in ``--blocks`` row blocks: sent from
    here once and kept on the workers (``--source memory``), or read from Parquet files by
    the workers on every pass (``--source files``, persist=False: the out-of-core path)."""
    import tempfile

    from scaleml.linear_model import LogisticRegression

    X, y = _data(args.mb, args.features)
    with tempfile.TemporaryDirectory(prefix="rehearsal-files-") as folder:
        files = folder if args.source == "files" else None
        if files:
            _write_files(X, y, args.blocks, files)
        constants = _blocked_constants(client, X, y, args, files) if args.constants else {}

        def fit() -> Any:
            # Sending the blocks is part of the fit (timed); the files are in place already.
            data, target = (files, "y") if files else _sent(client, X, y, args.blocks)
            return LogisticRegression(solver="newton", persist=not files).fit(data, target)

        holder: dict[str, Any] = {}
        result = _timed(client, lambda: holder.setdefault("model", fit()),
                        nbytes=X.nbytes + y.nbytes, tasks=args.blocks)
    model = holder["model"]
    result.update(passes=int(model.n_passes_), iterations=int(model.n_iter_[0]), blocks=args.blocks,
                  source=args.source, summary_bytes=8 * (X.shape[1] + 1) * (X.shape[1] + 2),
                  constants=constants)
    return result


def _blocked_constants(client: Any, X: np.ndarray, y: np.ndarray, args: argparse.Namespace,
                       files: str | None) -> dict[str, float]:
    """The blocked model's constants on this cluster, off the fit's clock, each from fits of
    the same source (Dask arrays kept on the workers, or files) whose data is in place first:

    - a pass's cost whatever its data, and the rest of a fit: two fits of ``--blocks`` tiny
      blocks (200 rows) differing only in their steps;
    - a block's share of a pass: a fit of one real block less the same fit of one tiny
      block, per pass; and with as many blocks at once as a pass runs, that times how much
      slower one block's work runs beside the others (on as many workers, sharing this
      machine's cores) than alone: on average, and the slowest of them.
    """
    rows = -(-len(X) // args.blocks)
    tiny = 200
    t1, p1 = _blocked_fit_seconds(client, X[:tiny * args.blocks], y[:tiny * args.blocks], args.blocks, 1, bool(files))
    t6, p6 = _blocked_fit_seconds(client, X[:tiny * args.blocks], y[:tiny * args.blocks], args.blocks, 6, bool(files))
    pass_s = max(0.0, (t6 - t1) / max(p6 - p1, 1))
    real, passes = _blocked_fit_seconds(client, X[:rows], y[:rows], 1, 6, bool(files))
    small, _ = _blocked_fit_seconds(client, X[:tiny], y[:tiny], 1, 6, bool(files))
    block_s = max(0.0, (real - small) / passes)
    # A pass computes every block at once, one per worker while there are workers free.
    at_once = min(len(client.nthreads()), args.blocks)
    if files:
        first = sorted(os.listdir(files))[0]
        alone, together, slowest = _at_once(client, at_once, _one_block_pass, f"{files}/{first}", None)
    else:
        alone, together, slowest = _at_once(client, at_once, _one_block_pass, X[:rows], y[:rows])
    return {"link_bytes_per_s": _link_rate(client), "block_s": block_s,
            "block_at_once_s": block_s * together / alone, "block_slowest_s": block_s * slowest / alone,
            "at_once": at_once, "pass_s": pass_s, "fixed_s": max(0.0, t1 - p1 * pass_s)}


def _blocked_fit_seconds(client: Any, X: np.ndarray, y: np.ndarray, blocks: int, steps: int,
                         files: bool) -> tuple[float, int]:
    """A Newton fit of exactly ``steps`` steps on ``X`` cut in ``blocks`` blocks, its data
    put in place first (on the workers, or in files): median seconds of three, and its passes."""
    import tempfile

    from scaleml.linear_model import LogisticRegression

    with tempfile.TemporaryDirectory(prefix="rehearsal-constants-") as folder:
        if files:
            _write_files(X, y, blocks, folder)
            data, target = folder, "y"
        else:
            data, target = _sent(client, X, y, blocks)
        passes = [0]

        def fit() -> None:
            model = LogisticRegression(solver="newton", max_iter=steps, tol=0.0, persist=not files).fit(data, target)
            passes[0] = model.n_passes_

        seconds = _seconds(fit, 3)
    return seconds, passes[0]


def _one_block_pass(X: Any, y: Any) -> float:
    """One block's share of a Newton fit's pass, on a worker: its sums, computed by fitting
    the block alone divided by that fit's passes; plus reading it, when ``X`` is its file's
    path (persist=False reads every block on every pass)."""
    import pandas as pd

    from scaleml.linear_model import LogisticRegression

    start = time.perf_counter()
    if isinstance(X, str):
        frame = pd.read_parquet(X)
        X, y = frame.drop(columns="y").to_numpy(), frame["y"].to_numpy()
    read = time.perf_counter() - start
    start = time.perf_counter()
    model = LogisticRegression(solver="newton").fit(X, y)
    return read + (time.perf_counter() - start) / model.n_passes_


def hyperband(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    """scaleml.search.HyperbandSearchCV over SGDClassifier on ``--mb`` MB (``--max-iter``
    partial_fit calls for the most-trained model, aggressiveness 3) on the ``dask`` backend:
    the data spread to every worker as for a grid search, then the brackets' tasks."""
    from sklearn.linear_model import SGDClassifier

    import scaleml
    from scaleml.search import HyperbandSearchCV

    X, y = _data(args.mb, args.features)
    search = HyperbandSearchCV(SGDClassifier(tol=None), {"alpha": np.logspace(-6, -1, 30).tolist()},
                               max_iter=args.max_iter, aggressiveness=3, random_state=0)
    constants = _hyperband_constants(client, X, y, search, args) if args.constants else {}

    def fit() -> None:
        with scaleml.backend("dask", address=args.address):
            search.fit(X, y)

    brackets = [(list(b.counts), list(b.budgets)) for b in search._brackets()]
    result = _timed(client, fit, nbytes=X.nbytes + y.nbytes,
                    tasks=sum(sum(counts) for counts, _ in brackets))
    result.update(brackets=brackets, constants=constants,
                  tasks_run=len(search.history_), calls_run=sum(h["calls_added"] for h in search.history_))
    return result


def _hyperband_constants(client: Any, X: np.ndarray, y: np.ndarray, search: Any,
                         args: argparse.Namespace) -> dict[str, float]:
    """Hyperband's constants on this cluster, off the search's clock: the link's rate, one
    partial_fit call on the training share on a worker (alone, and with as many at once as
    the first rungs start), the validation score, and the same search's cost on 2,000 rows."""
    from sklearn.base import clone

    import scaleml

    train = int(len(X) * (1 - search.test_size))
    first_rungs = sum(b.counts[0] for b in search._brackets())
    at_once = min(len(client.nthreads()), first_rungs)
    parts = (X[:train], y[:train], X[train:], y[train:])
    alone, together, _ = _at_once(client, at_once, _one_partial_fit, *parts, False)
    score, _, _ = _at_once(client, 1, _one_partial_fit, *parts, True)
    tiny = clone(search)
    small = slice(0, 2000)

    def tiny_fit() -> None:
        with scaleml.backend("dask", address=args.address):
            tiny.fit(X[small], y[small])

    return {"link_bytes_per_s": _link_rate(client), "call_s": alone, "call_at_once_s": together,
            "at_once": at_once, "score_s": score, "fixed_s": _seconds(tiny_fit, 3)}


def _one_partial_fit(X: Any, y: Any, X_val: Any, y_val: Any, score: bool) -> float:
    """One SGDClassifier partial_fit call on a worker (or, ``score``, the validation score
    after it): its seconds there."""
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(tol=None)
    start = time.perf_counter()
    model.partial_fit(X, y, classes=np.unique(y))
    fitted = time.perf_counter()
    if not score:
        return fitted - start
    model.score(X_val, y_val)
    return time.perf_counter() - fitted


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


WORKLOADS = {"grid": grid, "blocked": blocked, "hyperband": hyperband}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--address", required=True)
    parser.add_argument("--mb", type=float, default=200.0)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=16, help="blocked: row blocks")
    parser.add_argument("--source", choices=("memory", "files"), default="memory",
                        help="blocked: sent from here and kept on the workers, or read from files every pass")
    parser.add_argument("--max-iter", type=int, default=9, help="hyperband: the most-trained model's calls")
    parser.add_argument("--movement", default=None, help="the dask backend's data_movement option")
    parser.add_argument("--broadcast-min-bytes", type=int, default=None, help="the dask backend's option")
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
