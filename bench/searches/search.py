"""Hyperband vs exhaustive grid search vs random search at equal compute.

One search space (SGDClassifier: alpha x loss x penalty x learning rate, a
grid of 144), one data set (make_classification, a held-out test set never
seen by any search), compute counted in passes over the training data
(partial_fit calls; epochs for GridSearchCV's fit(max_iter=R)):

- exhaustive grid: scikit-learn GridSearchCV, every candidate trained R epochs,
  one fixed validation split, n_jobs=2 (loky);
- Hyperband (scaleml.search, max_iter=R, aggressiveness=3) on threads here and
  on a 2-worker Dask LocalCluster;
- random search with as many passes as Hyperband spent;
- dask-ml's HyperbandSearchCV, attempted once.

Repeats over ``--seeds`` sampling seeds, methods interleaved per seed.

    python bench/searches/search.py --seeds 5 --max-iter 27

Writes bench/results/search.json (and search.png with matplotlib).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

SPACE = {
    "alpha": np.logspace(-7, -1, 6).tolist(),
    "loss": ["hinge", "log_loss", "modified_huber", "perceptron"],
    "penalty": ["l2", "l1", "elasticnet"],
    "learning_rate": ["optimal", "constant"],
}
GRID_SIZE = 6 * 4 * 3 * 2


def _data():
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(n_samples=40_000, n_features=40, n_informative=12, n_redundant=8, flip_y=0.05,
                               class_sep=0.7, random_state=0)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.2, random_state=0)


def _estimator():
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(tol=None, eta0=0.01, random_state=0)


def grid_search(X, y, max_iter: int, seed: int) -> dict:
    from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split

    # The same 85/15 split scaleml's searches use: one fixed validation set.
    idx_train, _ = train_test_split(np.arange(len(X)), test_size=0.15, random_state=seed, stratify=y)
    fold = np.zeros(len(X))
    fold[idx_train] = -1
    search = GridSearchCV(_estimator().set_params(max_iter=max_iter), SPACE, cv=PredefinedSplit(fold), n_jobs=2)
    search.fit(X, y)
    return {"model": search.best_estimator_, "calls": GRID_SIZE * max_iter, "val": float(search.best_score_)}


def hyperband(X, y, max_iter: int, seed: int, backend: str) -> dict:
    from scaleml.search import HyperbandSearchCV

    search = HyperbandSearchCV(_estimator(), SPACE, max_iter=max_iter, random_state=seed, backend=backend)
    search.fit(X, y)
    trace, calls, best = [], 0, -np.inf
    for event in search.history_:  # best score so far against passes spent, in completion order
        calls += event["calls_added"]
        best = max(best, event["score"])
        trace.append((calls, best))
    return {"model": search.best_estimator_, "calls": search.metadata_["partial_fit_calls"],
            "val": float(search.best_score_), "trace": trace}


def random_search(X, y, max_iter: int, seed: int, calls: int) -> dict:
    """As many fully trained random candidates as ``calls`` passes pay for."""
    from sklearn.base import clone
    from sklearn.model_selection import ParameterSampler, train_test_split

    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.15, random_state=seed, stratify=y)
    best = (-np.inf, None)
    n = max(1, calls // max_iter)
    for params in ParameterSampler(SPACE, n, random_state=seed):
        model = clone(_estimator()).set_params(max_iter=max_iter, **params).fit(X_train, y_train)
        score = model.score(X_val, y_val)
        if score > best[0]:
            best = (score, model)
    return {"model": best[1], "calls": n * max_iter, "val": float(best[0])}


def dask_ml_hyperband(X, y, max_iter: int) -> dict:
    import dask.array as da
    from dask_ml.model_selection import HyperbandSearchCV as DaskMLHyperband
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster):
        start = time.perf_counter()
        try:
            search = DaskMLHyperband(_estimator(), SPACE, max_iter=max_iter, random_state=0)
            search.fit(da.from_array(X, chunks=(len(X) // 4, X.shape[1])), da.from_array(y, chunks=len(y) // 4),
                       classes=[0, 1])
            return {"seconds": time.perf_counter() - start, "val": float(search.best_score_)}
        except Exception as exc:  # noqa: BLE001 - the peer's outcome, recorded
            return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=27)
    parser.add_argument("--skip-dask-ml", action="store_true")
    parser.add_argument("--out", default="bench/results/search.json")
    args = parser.parse_args()

    from scaleml import machine
    from scaleml.bench.results import write_json

    X, X_test, y, y_test = _data()
    methods = ["grid (GridSearchCV, loky n_jobs=2)", "hyperband (local, 1 thread)", "hyperband (dask, 2 workers)",
               "random search (equal passes)"]
    runs = []
    import scaleml

    with scaleml.backend("dask", n_workers=2):
        for seed in range(args.seeds):
            for method in methods:
                start = time.perf_counter()
                if method.startswith("grid"):
                    result = grid_search(X, y, args.max_iter, seed)
                elif method.startswith("hyperband"):
                    result = hyperband(X, y, args.max_iter, seed, "local" if "local" in method else None)
                else:
                    spent = next(r["calls"] for r in reversed(runs) if r["method"].startswith("hyperband"))
                    result = random_search(X, y, args.max_iter, seed, spent)
                seconds = time.perf_counter() - start
                test = float(result.pop("model").score(X_test, y_test))
                runs.append({"method": method, "seed": seed, "seconds": seconds, "test_accuracy": test, **result})
                print(f"seed {seed} {method:<36} {seconds:7.2f} s  {result['calls']:5d} passes  "
                      f"val {result['val']:.4f}  test {test:.4f}", flush=True)
    grid_calls = GRID_SIZE * args.max_iter
    summary = []
    for method in methods:
        rows = [r for r in runs if r["method"] == method]
        summary.append({
            "method": method,
            "passes_median": statistics.median(r["calls"] for r in rows),
            "passes_vs_grid": statistics.median(r["calls"] for r in rows) / grid_calls,
            "test_accuracy_median": statistics.median(r["test_accuracy"] for r in rows),
            "test_accuracy_min": min(r["test_accuracy"] for r in rows),
            "seconds_median": statistics.median(r["seconds"] for r in rows),
        })
    print(f"\n{'method':<36} {'passes':>7} {'x grid':>7} {'test acc (median, min)':>24} {'median s':>9}")
    for s in summary:
        print(f"{s['method']:<36} {s['passes_median']:7.0f} {s['passes_vs_grid']:7.3f} "
              f"{s['test_accuracy_median']:12.4f}, {s['test_accuracy_min']:.4f} {s['seconds_median']:9.2f}")
    peer = None if args.skip_dask_ml else dask_ml_hyperband(X, y, args.max_iter)
    if peer is not None:
        print(f"dask-ml HyperbandSearchCV: {peer}")
    record = {
        "what": "Hyperband vs exhaustive grid vs random search; passes = partial_fit calls / epochs",
        **machine.provenance(machine.script_command("bench/searches/search.py")),
        "grid_size": GRID_SIZE, "max_iter": args.max_iter, "space": SPACE,
        "summary": summary, "dask_ml_hyperband": peer,
        "runs": runs,
    }
    out = write_json(args.out, record)
    _chart(runs, grid_calls, out.with_suffix(".png"))
    print(f"wrote {out}")


def _chart(runs: list[dict], grid_calls: int, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in runs:
        if run["method"].startswith("hyperband (local") and run.get("trace"):
            calls, best = zip(*run["trace"])
            ax.step(calls, best, where="post", color="tab:blue", alpha=0.5,
                    label="Hyperband, best so far" if run["seed"] == 0 else None)
    for method, color in (("grid", "tab:red"), ("random", "tab:green")):
        points = [(r["calls"], r["val"]) for r in runs if r["method"].startswith(method)]
        ax.scatter(*zip(*points), color=color, label=method + " search (final)", zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("passes over the training data (partial_fit calls / epochs)")
    ax.set_ylabel("validation accuracy of the best model")
    ax.axvline(grid_calls, color="tab:red", linestyle=":", linewidth=1)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
