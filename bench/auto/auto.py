"""backend="auto" against every fixed backend, workload by workload, each fit in a fresh process.

Ten workloads written as users write them (searches with ``n_jobs=-1``, small and large, a forest
left at ``n_jobs=None``, a Parquet set, an Array-API pipeline, a CNN) are fitted
with ``Scaled(estimator, backend=B)`` for B in local, local with ``n_jobs=-1``,
dask, dask-ml, torch and auto. Every fit runs in a fresh Python process, as a
script would: the time is the ``fit`` call alone (imports and data generation
before it are not counted), so it includes what each backend starts (loky
workers, a LocalCluster, PyTorch) and, for auto, its own decision. Rounds go
workload by workload, backend by backend, in an order that changes each round
(``scaleml.bench.order.balanced``: what a run leaves behind falls on every backend in
turn), each fit in a session of its own, the next starting only when every process of
the last has exited (a loky worker may still run a moment after its parent); medians
of the rounds.

    python bench/auto/auto.py --rounds 3            # all workloads
    python bench/auto/auto.py --only svc-grid-iris  # one

Uses the machine's calibration (``scaleml calibrate``; run it first). Writes
bench/results/auto.json and prints the table (auto / best fixed, worst fixed / auto,
predicted / measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from scaleml.bench.order import balanced

HERE = Path(__file__).resolve().parent
BACKENDS = {
    "local": {"backend": "local"},
    "local n_jobs=-1": {"backend": "local", "n_jobs": -1},
    "dask": {"backend": "dask"},
    "dask-ml": {"backend": "dask-ml"},
    "torch": {"backend": "torch"},
    "auto": {"backend": "auto"},
}


def _iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype("float32"), y


def _synthetic(rows, features=20):
    from sklearn.datasets import make_classification

    return make_classification(rows, features, n_informative=10, random_state=0)


def tiny_logreg():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500), *_iris()


def svc_grid_iris():
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    grid = {"C": np.logspace(-2, 4, 13), "gamma": np.logspace(-5, 1, 13)}
    return GridSearchCV(SVC(), grid, cv=5, n_jobs=-1), *_iris()


def small_grid_iris():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    return GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1, 10]}, cv=5, n_jobs=-1), *_iris()


def svc_grid_digits():
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    grid = {"C": [0.1, 1, 10, 100], "gamma": [1e-3, 1e-2, 0.1]}
    return GridSearchCV(SVC(), grid, cv=5, n_jobs=-1), *_digits()


def forest_grid():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    grid = {"max_depth": [8, None], "max_features": ["sqrt", 0.5], "min_samples_leaf": [1, 5]}
    return GridSearchCV(RandomForestClassifier(60, random_state=0), grid, cv=3, n_jobs=-1), *_synthetic(4000)


def single_forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(120, random_state=0), *_synthetic(20000)


def small_extra_trees():
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(50, n_jobs=-1, random_state=0), *_synthetic(1000)


def parquet_sgd():
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scaleml.bench.datasets import synthetic_parquet

    train, _ = synthetic_parquet(files=8, rows_per_file=100_000, features=20)
    return make_pipeline(StandardScaler(), SGDClassifier(random_state=0)), str(train / "*.parquet"), "label"


def array_api_pipeline():
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    X, y = _synthetic(20000, 200)
    return make_pipeline(PCA(n_components=30, svd_solver="full"), LinearDiscriminantAnalysis()), X, y


def cnn_digits():
    from scaleml.nn import CNNClassifier

    X, y = _digits()
    return CNNClassifier(image_shape=(8, 8), epochs=4, batch_size=64, random_state=0), X, y


# Sub-second fits in a fresh process vary by a third from run to run: these get
# QUICK_ROUNDS times the rounds (they cost little).
QUICK = {"tiny-logreg", "small-grid-iris", "small-extra-trees", "array-api-pipeline"}
QUICK_ROUNDS = 3
WORKLOADS = {f.__name__.replace("_", "-"): f for f in (
    tiny_logreg, small_grid_iris, svc_grid_iris, svc_grid_digits, forest_grid, single_forest, small_extra_trees,
    parquet_sgd, array_api_pipeline, cnn_digits)}


def run_one(workload: str, label: str) -> dict:
    """In this (fresh) process: build the workload, then time one fit on one backend."""
    import warnings

    from scaleml import Scaled

    warnings.simplefilter("ignore")
    estimator, X, y = WORKLOADS[workload]()
    spec = dict(BACKENDS[label])
    model = Scaled(estimator, backend=spec.pop("backend"), **spec)
    start = time.perf_counter()
    try:
        model.fit(X, y)
    except Exception as exc:  # noqa: BLE001 - a backend that refuses the workload is a result too
        return {"seconds": None, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
    seconds = time.perf_counter() - start
    decision = model.plan_.decision
    return {
        "seconds": seconds,
        "plan": f"{model.plan_.backend} {model.plan_.backend_options or ''}".strip(),
        "predicted": decision.predicted_seconds if decision else None,
        "decision_s": decision.decision_seconds if decision else None,
        "reason": decision.reason if decision else None,
    }


def _fresh(workload: str, label: str, timeout: float) -> dict:
    """One fit in a fresh process of its own session; returns once every process the fit
    started has exited too (a loky worker was seen still running up to 0.26 s after its
    parent had exited; a fit started then would share the machine with it)."""
    # As a user's installation runs: byte code cached (this environment may turn it off).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"SCIPY_ARRAY_API": "1"}
    process = subprocess.Popen([sys.executable, __file__, "--run", workload, label], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_session(process.pid)
        process.communicate()
        return {"seconds": None, "error": f"timed out after {timeout:g} s"}
    except BaseException:  # Ctrl-C reaches this process only: the fit's session has its own
        _kill_session(process.pid)
        raise
    finally:
        settle_s = _wait_for_session(process.pid)
    if process.returncode != 0:
        return {"seconds": None, "error": f"exit {process.returncode}: {err.strip().splitlines()[-1][:160]}"}
    return json.loads(out.strip().splitlines()[-1]) | {"settle_s": settle_s}


def _session(session: int) -> list:
    """The live processes of ``session`` (zombies are dead: they wait for a parent to reap them)."""
    import psutil

    left = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == session and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return left


def _kill_session(session: int) -> None:
    for proc in _session(session):
        try:
            proc.kill()
        except Exception:  # noqa: BLE001 - gone already
            continue


def _wait_for_session(session: int, limit: float = 30.0) -> float:
    """Seconds until no live process of ``session`` is left; past ``limit`` the rest are
    killed, and past ``limit`` + 5 s the wait gives up with a warning."""
    start = time.perf_counter()
    while _session(session):
        waited = time.perf_counter() - start
        if waited > limit + 5:
            print(f"warning: processes of session {session} outlived a kill; going on", file=sys.stderr)
            break
        if waited > limit:
            _kill_session(session)
        time.sleep(0.02)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", action="append", choices=list(WORKLOADS))
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--run", nargs=2, metavar=("WORKLOAD", "BACKEND"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE.parent / "results" / "auto.json"))
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(*args.run)))
        return

    from scaleml import machine
    from scaleml.backends.auto import _calibration
    from scaleml.bench.results import write_json

    constants = _calibration.load()
    workloads = args.only or list(WORKLOADS)
    runs: dict[str, dict[str, list[dict]]] = {w: {b: [] for b in BACKENDS} for w in workloads}
    for round_ in range(1, args.rounds * QUICK_ROUNDS + 1):
        for workload in workloads:
            if round_ > args.rounds and workload not in QUICK:
                continue
            for label in balanced(list(BACKENDS), round_):
                runs[workload][label].append(_fresh(workload, label, args.timeout))
            print(f"round {round_} {workload}: " + ", ".join(
                f"{b} {r[-1]['seconds']:.2f}" if r[-1]["seconds"] is not None else f"{b} -"
                for b, r in runs[workload].items()), flush=True)
    summary = {}
    for workload, by_backend in runs.items():
        medians = {b: (statistics.median(r["seconds"] for r in rs) if all(r["seconds"] is not None for r in rs)
                       else None) for b, rs in by_backend.items()}
        fixed = {b: m for b, m in medians.items() if b != "auto" and m is not None}
        best = min(fixed, key=fixed.get)
        auto = medians["auto"]
        autos = by_backend["auto"]
        predicted = [r["predicted"] for r in autos if r.get("predicted") is not None]
        summary[workload] = {
            "medians": medians, "best_fixed": best, "auto_over_best": auto / fixed[best],
            "worst_over_auto": {b: m / auto for b, m in fixed.items()},
            "refused": {b: rs[0]["error"] for b, rs in by_backend.items() if rs[0]["seconds"] is None},
            "auto_chose": sorted({r["plan"] for r in autos}),
            "auto_decision_s": statistics.median(r["decision_s"] for r in autos),
            "predicted_s": statistics.median(predicted) if predicted else None,
            "predicted_over_measured": statistics.median(predicted) / auto if predicted else None,
            "reason": autos[0]["reason"],
        }
    _print(summary)
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "calibration": dataclasses.asdict(constants), "rounds": args.rounds,
                          "summary": summary, "runs": runs})
    print(f"wrote {args.out}")


def _print(summary: dict) -> None:
    labels = list(BACKENDS)
    print(f"\n{'workload':<20} " + " ".join(f"{b:>15}" for b in labels) + f" {'auto/best':>9} {'pred/meas':>9}  auto chose")
    for workload, s in summary.items():
        cells = " ".join(f"{s['medians'][b]:>15.3f}" if s["medians"][b] is not None else f"{'refused':>15}"
                         for b in labels)
        ratio = f"{s['predicted_over_measured']:.2f}" if s["predicted_over_measured"] else "-"
        print(f"{workload:<20} {cells} {s['auto_over_best']:>9.2f} {ratio:>9}  {', '.join(s['auto_chose'])}")
    worst = {b: max((s["worst_over_auto"].get(b, 0.0) for s in summary.values()), default=0.0)
             for b in labels if b != "auto"}
    print("each fixed backend's worst ratio to auto: " + ", ".join(f"{b} {w:.2f}x" for b, w in worst.items())
          + " (refusals count as worse)")


if __name__ == "__main__":
    main()
