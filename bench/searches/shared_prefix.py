"""A grid over a pipeline's last step: scaleml's shared prefix against loky, joblib-on-dask and dask-ml.

The pipeline has an expensive first part (StandardScaler, then an exact PCA of
300 features to 60) and a cheap last step (LogisticRegression); the grid holds
8 values of C, 5-fold CV: 40 fits and the refit. scikit-learn refits the
scaler and PCA for every candidate; scaleml's ``local`` and ``dask`` backends fit
them once per fold (``share_prefix``), as dask-ml's GridSearchCV did.

Every variant runs in a fresh process on the same 2 cores; clusters are started
before the clock (a 2-worker LocalCluster, 1 thread each), loky's workers are
not (both loky variants start them in the fit). Rounds go A B C ... A B C ...;
medians of the rounds. Each variant's ``cv_results_`` test scores are compared
with loky's (scikit-learn's) exactly.

    python bench/searches/shared_prefix.py --rounds 3

Writes bench/results/shared-prefix.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ["loky", "joblib-dask", "dask-ml", "scaleml local", "scaleml dask", "scaleml local, share_prefix=False"]
CANDIDATES, FOLDS = 8, 5


def _data():
    from sklearn.datasets import make_classification

    return make_classification(20_000, 300, n_informative=30, random_state=0)


def _pipe():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), PCA(60, svd_solver="full"), LogisticRegression(max_iter=300))


def _grid():
    import numpy as np

    return {"logisticregression__C": np.logspace(-3, 2, CANDIDATES)}


def run_one(variant: str) -> dict:
    """In this (fresh) process: one search, timed from fit to fitted."""
    import warnings

    import joblib
    from sklearn.model_selection import GridSearchCV

    warnings.simplefilter("ignore")
    X, y = _data()
    search = GridSearchCV(_pipe(), _grid(), cv=FOLDS, n_jobs=2)
    if variant in ("loky",):
        start = time.perf_counter()
        search.fit(X, y)
    elif variant in ("joblib-dask", "dask-ml"):
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, Client(cluster):
            if variant == "dask-ml":
                from dask_ml.model_selection import GridSearchCV as DaskMLGridSearchCV

                search = DaskMLGridSearchCV(_pipe(), _grid(), cv=FOLDS)
                start = time.perf_counter()
                search.fit(X, y)
            else:
                start = time.perf_counter()
                with joblib.parallel_config(backend="dask"):
                    search.fit(X, y)
            seconds = time.perf_counter() - start
        return _result(search, seconds)
    else:
        import scaleml

        options = {"share_prefix": False} if variant.endswith("share_prefix=False") else {}
        if variant == "scaleml dask":
            with scaleml.backend("dask", n_workers=2):  # the cluster starts here, before the clock
                model = scaleml.Scaled(search, backend="dask")
                start = time.perf_counter()
                model.fit(X, y)
                seconds = time.perf_counter() - start
            return _result(model.estimator_, seconds, model.plan_[0].observed.get("prefix_fits"))
        model = scaleml.Scaled(search, backend="local", **options)
        start = time.perf_counter()
        model.fit(X, y)
        return _result(model.estimator_, time.perf_counter() - start, model.plan_[0].observed.get("prefix_fits"))
    return _result(search, time.perf_counter() - start)


def _result(search, seconds: float, prefix_fits: int | None = None) -> dict:
    return {"seconds": seconds, "prefix_fits": prefix_fits,
            "mean_test_score": [float(s) for s in search.cv_results_["mean_test_score"]],
            "split_scores": [[float(s) for s in search.cv_results_[f"split{i}_test_score"]] for i in range(FOLDS)]}


def step_costs() -> dict:
    """One fold's prefix (scaler + PCA) and last step, timed here: what sharing can save at most."""
    from sklearn.base import clone

    X, y = _data()
    train = slice(0, len(X) * (FOLDS - 1) // FOLDS)
    pipe = _pipe()
    start = time.perf_counter()
    Xt = clone(pipe[:-1]).fit_transform(X[train], y[train])
    prefix = time.perf_counter() - start
    start = time.perf_counter()
    clone(pipe[-1]).fit(Xt, y[train])
    last = time.perf_counter() - start
    # Per fold: scikit-learn fits prefix + last for every candidate; sharing, the prefix once.
    bound = CANDIDATES * (prefix + last) / (prefix + CANDIDATES * last)
    return {"prefix_s": prefix, "last_step_s": last, "ideal_speedup": bound}


def _fresh(variant: str, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"SCIPY_ARRAY_API": "1"}
    done = subprocess.run([sys.executable, __file__, "--run", variant], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if done.returncode != 0:
        return {"seconds": None, "error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1][:200]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE.parent / "results" / "shared-prefix.json"))
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run)))
        return
    from scaleml import machine
    from scaleml.bench.results import write_json

    costs = step_costs()
    runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    for round_ in range(args.rounds):
        for variant in VARIANTS:
            result = _fresh(variant, timeout=900)
            runs[variant].append(result)
            print(f"round {round_ + 1} {variant}: {result.get('seconds') or result.get('error')}", flush=True)
    summary = _summary(runs)
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "workload": {"rows": 20_000, "features": 300, "pipeline": "StandardScaler, PCA(60, full), "
                                       "LogisticRegression(max_iter=300)", "candidates": CANDIDATES, "folds": FOLDS},
                          "step_costs": costs, "summary": summary, "runs": runs})
    _print(summary, costs)


def _summary(runs: dict) -> dict:
    reference = next((r for r in runs["loky"] if r.get("seconds")), None)
    summary = {}
    for variant, results in runs.items():
        times = [r["seconds"] for r in results if r.get("seconds")]
        summary[variant] = {
            "median_s": statistics.median(times) if times else None,
            "min_s": min(times) if times else None, "max_s": max(times) if times else None,
            "same_scores_as_sklearn": bool(reference) and all(
                r.get("split_scores") == reference["split_scores"] for r in results if r.get("seconds")),
            "prefix_fits": next((r.get("prefix_fits") for r in results if r.get("prefix_fits") is not None), None),
            "errors": [r["error"] for r in results if r.get("error")],
        }
    return summary


def _print(summary: dict, costs: dict) -> None:
    loky = summary["loky"]["median_s"]
    print(f"\none fold: prefix {costs['prefix_s']:.3f} s, last step {costs['last_step_s']:.3f} s; "
          f"ideal speed-up from sharing {costs['ideal_speedup']:.2f}x")
    print("| variant | median s | min s | max s | loky / variant | scores = scikit-learn's | prefix fits |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for variant, row in summary.items():
        if row["median_s"] is None:
            print(f"| {variant} | failed: {row['errors'][:1]} | | | | | |")
            continue
        print(f"| {variant} | {row['median_s']:.2f} | {row['min_s']:.2f} | {row['max_s']:.2f} | "
              f"{loky / row['median_s']:.2f}x | {'yes' if row['same_scores_as_sklearn'] else 'NO'} | "
              f"{row['prefix_fits'] if row['prefix_fits'] is not None else '-'} |")


if __name__ == "__main__":
    main()
