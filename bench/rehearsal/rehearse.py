"""Rehearse the ``dask`` backend past one machine: a real scheduler and N workers, each in
its own network namespace on a shaped link (bench/rehearsal), the client in its own.

Workloads (``--workload``): ``grid``, a grid search on the ``dask`` backend (as many calls
at once as joblib keeps out, ``2 * n_jobs`` with n_jobs this machine's cores, whatever
the number of simulated workers, so that what grows with N is the data's movement);
``blocked``, scaleml.linear_model's LogisticRegression on Dask arrays sent from the client;
``files``, the same read from Parquet files on every pass (the out-of-core path);
``hyperband``, HyperbandSearchCV over SGDClassifier on the ``dask`` backend.

For each cluster size, one cluster is started (not timed); then rounds go fit by fit
(data movements A B A B ... for ``grid``), each fit in a fresh client process: the fit's
wall time, the bytes every link carried, where the tasks ran. The first fit also
measures the scaling model's constants on that cluster (bench/rehearsal/workloads.py
says which), and each size's prediction is set beside what was measured.

    sudo python bench/rehearsal/rehearse.py --workers 2,4,8,16 --mbit 1000 --mb 200 --rounds 2
    sudo python bench/rehearsal/rehearse.py --workload hyperband --workers 2,4,8,16 --mb 50

Needs root (network namespaces). Writes bench/results/rehearsal.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bench/: this script lives inside the rehearsal package

from rehearsal import model, network  # noqa: E402
from rehearsal.cluster import Rehearsal  # noqa: E402

MOVEMENTS = ("broadcast", "peers")
# grid: GridSearchCV(RidgeClassifier) on the dask backend; blocked: scaleml.linear_model's
# LogisticRegression on Dask arrays sent from the client; files: the same read from
# Parquet files every pass (out of core); hyperband: HyperbandSearchCV(SGDClassifier).
WORKLOADS = ("grid", "blocked", "files", "hyperband")


def _fit(rehearsal: Rehearsal, args: argparse.Namespace, movement: str, constants: bool) -> dict:
    """One fit in a fresh client; a fit past ``--fit-timeout`` is stopped and recorded as such."""
    command = [sys.executable, "-m", "rehearsal.workloads", args.workload, "--address", rehearsal.address,
               "--mb", str(args.mb), "--features", str(args.features), "--candidates", str(args.candidates),
               "--folds", str(args.folds), "--blocks", str(args.blocks), "--max-iter", str(args.max_iter)]
    if args.workload == "grid":
        command += ["--movement", movement]
    elif args.workload in ("blocked", "files"):
        command[3] = "blocked"
        command += ["--source", "files" if args.workload == "files" else "memory"]
    result = rehearsal.run_client(command + (["--constants"] if constants else []), timeout=args.fit_timeout)
    if result.get("timed_out"):
        # Wait for the cluster to let go of the stopped client's data before the next fit.
        time.sleep(5)
    return result


def _summary(runs: list[dict], data_bytes: int) -> dict:
    done = [r for r in runs if not r.get("timed_out")]
    stopped = [r for r in runs if r.get("timed_out")]
    summary = {"runs": len(runs), "timed_out": len(stopped),
               "fit_median_s": statistics.median(r["fit_s"] for r in done) if done else None,
               "fits_s": [r.get("fit_s") for r in runs]}
    if stopped:
        # Bytes the stopped fits moved in their time (a whole client process's, warm-up included).
        summary["stopped_after_s"] = stopped[0]["wall_s"]
        summary["stopped_worker_received_x_data"] = statistics.median(
            max(v["received"] for k, v in r["process_bytes"].items() if k.startswith("w")) / data_bytes
            for r in stopped)
    if done:
        summary.update({
            "client_sent_x_data": statistics.median(r["bytes"]["client"]["sent"] / data_bytes for r in done),
            "scheduler_sent_x_data": statistics.median(r["bytes"]["scheduler"]["sent"] / data_bytes for r in done),
            "most_received_by_a_worker_x_data": statistics.median(
                max(v["received"] for k, v in r["bytes"].items() if k.startswith("w")) / data_bytes for r in done),
            "most_sent_by_a_worker_x_data": statistics.median(
                max(v["sent"] for k, v in r["bytes"].items() if k.startswith("w")) / data_bytes for r in done),
            "first_task_median_s": statistics.median(r["first_task_s"] for r in done),
            "last_task_median_s": statistics.median(r["last_task_s"] for r in done),
        })
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=WORKLOADS, default="grid")
    parser.add_argument("--workers", default="2,4,8,16")
    parser.add_argument("--mbit", type=float, default=1000.0)
    parser.add_argument("--mb", type=float, default=200.0)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=16, help="blocked, files: row blocks")
    parser.add_argument("--max-iter", type=int, default=9, help="hyperband: the most-trained model's calls")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--movements", default=",".join(MOVEMENTS))
    parser.add_argument("--fit-timeout", type=float, default=300.0, help="seconds before a fit is stopped")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for the scheduler and workers (Dask settings), repeatable")
    parser.add_argument("--out", default=str(HERE.parent / "results" / "rehearsal.json"))
    parser.add_argument("--repredict", metavar="FILE", help="recompute FILE's predictions with the model as it is "
                        "now, from the constants and runs it recorded (no cluster is started)")
    args = parser.parse_args()
    from scaleml import machine

    if args.repredict:
        _repredict(args.repredict)
        return
    from scaleml.bench.results import write_json

    if any("=" not in item for item in args.worker_env):
        parser.error("--worker-env takes NAME=VALUE, e.g. DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False")
    env = dict(item.split("=", 1) for item in args.worker_env)
    network.sweep()  # what an earlier run killed outright left
    movements = args.movements.split(",") if args.workload == "grid" else [args.workload]
    sizes: dict[str, dict] = {}
    for workers in [int(n) for n in args.workers.split(",")]:
        runs: dict[str, list[dict]] = {m: [] for m in movements}
        constants = None
        with Rehearsal(workers=workers, mbit=args.mbit, env=env) as rehearsal:
            for round_ in range(args.rounds):
                for movement in movements:
                    result = _fit(rehearsal, args, movement, constants=constants is None)
                    if not result.get("timed_out"):
                        constants = constants or result["constants"]
                    runs[movement].append(result)
                    said = ("stopped after {:.0f} s".format(result["wall_s"]) if result.get("timed_out") else
                            f"fit {result['fit_s']:.2f} s, client sent "
                            f"{result['bytes']['client']['sent'] / result['data_bytes']:.2f}x the data")
                    print(f"N={workers} round {round_ + 1} {movement}: {said}", flush=True)
        data_bytes = int(args.mb * 1e6 / (8 * args.features)) * (8 * args.features + 8)  # X and y
        size = {"summary": {m: _summary(r, data_bytes) for m, r in runs.items()}, "runs": runs}
        if constants:
            done = [r for rs in runs.values() for r in rs if not r.get("timed_out")]
            size.update(constants=constants, predicted=_predict(args, constants, done, data_bytes, workers))
        sizes[str(workers)] = size
        # Written after each size: a long run stopped later keeps what it measured.
        write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                              "workload": {"name": args.workload, "blocks": args.blocks, "max_iter": args.max_iter,
                                           "mb": args.mb, "features": args.features, "candidates": args.candidates,
                                           "folds": args.folds, "mbit": args.mbit, "worker_env": env,
                                           "fit_timeout_s": args.fit_timeout},
                              "sizes": sizes})
    _print(sizes, movements)


def _predict(args: argparse.Namespace, constants: dict, runs: list[dict], data_bytes: int, workers: int) -> dict:
    """The model's prediction for this cluster, from its constants (and, for the blocked fits,
    the passes the fits made, and for Hyperband its brackets: properties of the algorithm
    and the data, not of the cluster)."""
    cores = os.cpu_count() or 1
    if args.workload == "grid":
        k = model.Constants(cores=cores, **constants)
        return model.grid_fit(data_bytes, workers, args.candidates * args.folds, k)
    if args.workload == "hyperband":
        brackets = [tuple(b) for b in runs[0]["brackets"]]
        return model.hyperband_fit(data_bytes, brackets, workers, model.TaskConstants(cores=cores, **constants))
    passes = statistics.median(r["passes"] for r in runs)
    k = model.PassConstants(cores=cores, **constants)
    return model.blocked_fit(data_bytes, args.blocks, round(passes), workers, k,
                             sent_from_client=args.workload == "blocked", summary_bytes=runs[0]["summary_bytes"])


def _repredict(path: str) -> None:
    """Rewrite a result file's predictions with the current model (its measurements untouched)."""
    import json

    from scaleml import machine
    from scaleml.bench.results import write_json

    results = json.loads(Path(path).read_text())
    workload = results["workload"]
    args = argparse.Namespace(workload=workload.get("name", "grid"), candidates=workload["candidates"],
                              folds=workload["folds"], blocks=workload.get("blocks"))
    for workers, size in results["sizes"].items():
        done = [r for rs in size["runs"].values() for r in rs if not r.get("timed_out")]
        if size.get("constants") and done:
            size["predicted"] = _predict(args, size["constants"], done, done[0]["data_bytes"], int(workers))
    results["repredicted"] = machine.provenance(machine.script_command(__file__))
    write_json(path, results)
    _print(results["sizes"], list(next(iter(results["sizes"].values()))["summary"]))


def _print(sizes: dict, movements: list[str]) -> None:
    print(f"\n{'N':>3} {'movement':>10} {'fit s':>7} {'model s':>8} {'client x':>9} {'sched x':>8} "
          f"{'max recv x':>10} {'max sent x':>10}")
    for workers, size in sizes.items():
        for movement in movements:
            s = size["summary"][movement]
            modelled = f"{size['predicted']['seconds']:.2f}" if movement != "broadcast" and "predicted" in size else ""
            if s["fit_median_s"] is None:
                print(f"{workers:>3} {movement:>10}  none finished in {s['stopped_after_s']:.0f} s; a worker received "
                      f"{s['stopped_worker_received_x_data']:.1f}x the data meanwhile")
                continue
            print(f"{workers:>3} {movement:>10} {s['fit_median_s']:>7.2f} {modelled:>8} {s['client_sent_x_data']:>9.2f} "
                  f"{s['scheduler_sent_x_data']:>8.2f} {s['most_received_by_a_worker_x_data']:>10.2f} "
                  f"{s['most_sent_by_a_worker_x_data']:>10.2f}" + (f"  ({s['timed_out']} of {s['runs']} stopped)"
                                                                   if s["timed_out"] else ""))


if __name__ == "__main__":
    main()
