"""Rehearse the ``dask`` backend past one machine: a real scheduler and N workers, each in
its own network namespace on a shaped link (bench/rehearsal), the client in its own.
The search runs as many calls at once as this machine has cores (n_jobs), whatever the
number of simulated workers, so that what grows with N is the data's movement alone.

For each cluster size, one cluster is started (not timed); then rounds go data movement
by data movement (A B A B ...), each fit in a fresh client process: the fit's wall time,
the bytes every link carried, where the tasks ran. The first round also measures the
scaling model's constants (link rate, one task, per-task overhead, the refit), and each
size's prediction is set beside what was measured.

    sudo python bench/rehearse.py --workers 2,4,8,16 --mbit 1000 --mb 200 --rounds 2

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
sys.path.insert(0, str(HERE))

from rehearsal import model, network  # noqa: E402
from rehearsal.cluster import Rehearsal  # noqa: E402

MOVEMENTS = ("broadcast", "peers")


def _fit(rehearsal: Rehearsal, args: argparse.Namespace, movement: str, constants: bool) -> dict:
    """One fit in a fresh client; a fit past ``--fit-timeout`` is stopped and recorded as such."""
    command = [sys.executable, "-m", "rehearsal.workloads", "grid", "--address", rehearsal.address,
               "--mb", str(args.mb), "--features", str(args.features), "--candidates", str(args.candidates),
               "--folds", str(args.folds), "--movement", movement]
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
    parser.add_argument("--workers", default="2,4,8,16")
    parser.add_argument("--mbit", type=float, default=1000.0)
    parser.add_argument("--mb", type=float, default=200.0)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--movements", default=",".join(MOVEMENTS))
    parser.add_argument("--fit-timeout", type=float, default=300.0, help="seconds before a fit is stopped")
    parser.add_argument("--out", default=str(HERE / "results" / "rehearsal.json"))
    args = parser.parse_args()
    from scaleml import machine
    from scaleml.bench.results import write_json

    network.sweep()  # what an earlier run killed outright left
    movements = args.movements.split(",")
    sizes: dict[str, dict] = {}
    for workers in [int(n) for n in args.workers.split(",")]:
        runs: dict[str, list[dict]] = {m: [] for m in movements}
        constants = None
        with Rehearsal(workers=workers, mbit=args.mbit) as rehearsal:
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
            k = model.Constants(cores=os.cpu_count() or 1, **constants)
            size.update(constants=constants, predicted=model.grid_fit(data_bytes, workers,
                                                                      args.candidates * args.folds, k))
        sizes[str(workers)] = size
        # Written after each size: a long run stopped later keeps what it measured.
        write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                              "workload": {"mb": args.mb, "features": args.features, "candidates": args.candidates,
                                           "folds": args.folds, "mbit": args.mbit, "estimator": "RidgeClassifier",
                                           "fit_timeout_s": args.fit_timeout},
                              "sizes": sizes})
    _print(sizes, movements)


def _print(sizes: dict, movements: list[str]) -> None:
    print(f"\n{'N':>3} {'movement':>10} {'fit s':>7} {'model s':>8} {'client x':>9} {'sched x':>8} "
          f"{'max recv x':>10} {'max sent x':>10}")
    for workers, size in sizes.items():
        for movement in movements:
            s = size["summary"][movement]
            modelled = f"{size['predicted']['seconds']:.2f}" if movement == "peers" and "predicted" in size else ""
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
