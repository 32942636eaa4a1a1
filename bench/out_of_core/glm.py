"""Blocked LogisticRegression and Ridge vs scikit-learn, dask-ml, and beyond memory.

Three measurements, one run:

1. In memory (``--rows`` x ``--features``, make_classification): scikit-learn's
   lbfgs and newton-cholesky, scaleml on NumPy, scaleml on a Dask array kept on a
   2-worker LocalCluster (and including sending it there). Repeats interleaved
   (A B C ... A B C ...), medians. Also Ridge: scikit-learn vs scaleml.
2. dask-ml's LogisticRegression on the same Dask array (once: it is slow).
3. Out of core: ``--ooc-rows`` rows generated block by block on a LocalCluster
   whose workers together have less memory than the data; peak RSS of the whole
   process tree; coefficients compared with scikit-learn fitted in memory.

    python bench/out_of_core/glm.py --rows 200000 --features 30 --repeat 5

Writes bench/results/glm.json and prints tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _log_loss(model, X, y) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, model.predict_proba(X)))


def in_memory(args) -> dict:
    import dask.array as da
    import sklearn.linear_model as sk
    from distributed import Client, LocalCluster
    from sklearn.datasets import make_classification, make_regression

    import scaleml.linear_model as sl

    X, y = make_classification(args.rows, args.features, n_informative=args.features // 2, random_state=0)
    Xr, yr = make_regression(args.rows, args.features, noise=10.0, random_state=0)
    reference = sk.LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    chunk = args.rows // 8
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
        Xd = client.persist(da.from_array(X, chunks=(chunk, args.features)))
        yd = client.persist(da.from_array(y, chunks=chunk))
        Xrd = client.persist(da.from_array(Xr, chunks=(chunk, args.features)))
        yrd = client.persist(da.from_array(yr, chunks=chunk))
        variants = {
            "sklearn lbfgs": lambda: sk.LogisticRegression().fit(X, y),
            "sklearn newton-cholesky": lambda: sk.LogisticRegression(solver="newton-cholesky").fit(X, y),
            "scaleml numpy": lambda: sl.LogisticRegression().fit(X, y),
            "scaleml dask (data on workers)": lambda: sl.LogisticRegression().fit(Xd, yd),
            "scaleml dask (incl. sending data)": lambda: sl.LogisticRegression().fit(
                da.from_array(X, chunks=(chunk, args.features)), da.from_array(y, chunks=chunk)),
            "sklearn Ridge": lambda: sk.Ridge(alpha=1.0).fit(Xr, yr),
            "scaleml Ridge numpy": lambda: sl.Ridge(alpha=1.0).fit(Xr, yr),
            "scaleml Ridge dask (data on workers)": lambda: sl.Ridge(alpha=1.0).fit(Xrd, yrd),
        }
        times = {name: [] for name in variants}
        fitted = {}
        for name, fit in variants.items():  # warm-up: imports, worker caches
            fitted[name] = fit()
        for _ in range(args.repeat):
            for name, fit in variants.items():
                start = time.perf_counter()
                fit()
                times[name].append(time.perf_counter() - start)
        dask_ml = None
        if not args.skip_dask_ml:
            dask_ml = _dask_ml_once(client, Xd, yd, X, y, reference, args.dask_ml_timeout)
    ridge_ref = sk.Ridge(alpha=1.0).fit(Xr, yr)
    rows = []
    for name, seconds in times.items():
        model = fitted[name]
        ridge = "Ridge" in name
        row = {"variant": name, "seconds_median": statistics.median(seconds), "seconds": seconds,
               "coef_rel_diff": _relative(model.coef_, (ridge_ref if ridge else reference).coef_)}
        if not ridge:
            row["log_loss"] = _log_loss(model, X, y)
            row["passes"] = getattr(model, "n_passes_", None)
        rows.append(row)
    for row in rows:
        peer = "sklearn Ridge" if "Ridge" in row["variant"] else "sklearn lbfgs"
        row["vs_sklearn"] = row["seconds_median"] / next(r["seconds_median"] for r in rows if r["variant"] == peer)
    return {"rows": rows, "dask_ml": dask_ml}


def _dask_ml_once(client, Xd, yd, X, y, reference, timeout: float) -> dict:
    """dask-ml's LogisticRegression (default solver) once, abandoned after ``timeout`` s."""
    import threading

    from dask_ml.linear_model import LogisticRegression as DaskMLLogisticRegression

    outcome: dict = {}

    def fit() -> None:
        start = time.perf_counter()
        try:
            model = DaskMLLogisticRegression().fit(Xd, yd)
            outcome.update(seconds=time.perf_counter() - start, model=model)
        except Exception as exc:  # noqa: BLE001 - recorded as the peer's result
            outcome.update(error=f"{type(exc).__name__}: {exc}"[:300])

    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return {"error": f"not finished after {timeout:.0f} s"}
    if "error" in outcome:
        return {"error": outcome["error"]}
    model = outcome["model"]
    coef = np.asarray(model.coef_).reshape(1, -1)
    proba = np.asarray(model.predict_proba(X))
    from sklearn.metrics import log_loss

    return {"seconds": outcome["seconds"], "coef_rel_diff": _relative(coef, reference.coef_),
            "log_loss": float(log_loss(y, proba))}


# -- out of core ------------------------------------------------------------------


def _generated(rows: int, features: int, chunk: int):
    """A seeded Dask data set computed block by block (never whole in one place)."""
    import dask.array as da

    state = da.random.RandomState(0)
    X = state.standard_normal((rows, features), chunks=(chunk, features))
    weights = np.random.default_rng(0).standard_normal(features)
    y = ((X @ weights + state.standard_normal(rows, chunks=chunk)) > 0).astype("int8")
    return X, y


def ooc_child(variant: str, rows: int, features: int, worker_memory: str) -> dict:
    import dask
    from distributed import Client, LocalCluster

    chunk = 250_000
    if variant == "sklearn-in-memory":
        import sklearn.linear_model as sk

        X, y = _generated(rows, features, chunk)
        X, y = dask.compute(X, y, scheduler="threads")
        start = time.perf_counter()
        model = sk.LogisticRegression(solver="newton-cholesky", tol=1e-8).fit(X, y)
        return {"seconds": time.perf_counter() - start, "coef": model.coef_.ravel().tolist()}
    from scaleml.linear_model import LogisticRegression

    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=worker_memory, dashboard_address=None) as cluster, \
            Client(cluster):
        X, y = _generated(rows, features, chunk)
        start = time.perf_counter()
        model = LogisticRegression(verbose=1).fit(X, y)
        return {"seconds": time.perf_counter() - start, "coef": model.coef_.ravel().tolist(),
                "passes": model.n_passes_, "data_gb": X.nbytes / 1e9}


def out_of_core(args) -> list[dict]:
    from scaleml.bench.memory import run_measured

    results = []
    for variant in ("scaleml-dask-out-of-core", "sklearn-in-memory"):
        command = [sys.executable, __file__, "--child", variant, str(args.ooc_rows), str(args.features), args.ooc_worker_memory]
        record, out = run_measured(command, args.ooc_timeout)
        record.update(variant=variant,
                      report=[line for line in out.splitlines() if line.startswith("[LogisticRegression]")][:1])
        results.append(record)
        shown = f"{record['seconds']:8.1f} s" if "seconds" in record else f"FAILED: {record['error']}"
        print(f"  {variant:<26} {shown}  peak {record['peak_rss_mb']:7.0f} MB", flush=True)
    if all("coef" in r for r in results):
        results[0]["coef_rel_diff_vs_sklearn"] = _relative(results[0]["coef"], results[1]["coef"])
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        variant, rows, features, memory = sys.argv[2:6]
        print(json.dumps(ooc_child(variant, int(rows), int(features), memory)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-dask-ml", action="store_true")
    parser.add_argument("--dask-ml-timeout", type=float, default=400)
    parser.add_argument("--ooc-rows", type=int, default=8_000_000)
    parser.add_argument("--ooc-worker-memory", default="512MiB")
    parser.add_argument("--ooc-timeout", type=float, default=1200)
    parser.add_argument("--skip-ooc", action="store_true")
    parser.add_argument("--out", default="bench/results/glm.json")
    args = parser.parse_args()

    from scaleml import machine
    from scaleml.bench.results import write_json

    print(f"in memory: {args.rows} x {args.features}, {args.repeat} interleaved repeats", flush=True)
    memory = in_memory(args)
    print(f"{'variant':<38} {'median s':>9} {'x sklearn':>9} {'coef rel diff':>14} {'log-loss':>9} {'passes':>6}")
    for row in memory["rows"]:
        loss = f"{row['log_loss']:.6f}" if "log_loss" in row else "-"
        print(f"{row['variant']:<38} {row['seconds_median']:9.3f} {row['vs_sklearn']:9.2f} "
              f"{row['coef_rel_diff']:14.2e} {loss:>9} {row.get('passes') or '-':>6}")
    if memory["dask_ml"] is not None:
        print(f"dask-ml LogisticRegression (once): {memory['dask_ml']}")
    ooc = None
    if not args.skip_ooc:
        print(f"out of core: {args.ooc_rows} x {args.features} float64, workers {args.ooc_worker_memory} each", flush=True)
        ooc = out_of_core(args)
        print(f"  coefficient rel diff vs scikit-learn: {ooc[0].get('coef_rel_diff_vs_sklearn')}")
        for r in ooc:
            r.pop("coef", None)
    record = {
        "what": "blocked LogisticRegression/Ridge vs scikit-learn and dask-ml; out of core",
        **machine.provenance(machine.script_command("bench/out_of_core/glm.py")),
        "in_memory": memory, "out_of_core": ooc,
    }
    print(f"wrote {write_json(args.out, record)}")


if __name__ == "__main__":
    main()
