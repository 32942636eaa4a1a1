"""Workers that leave, past one machine: a grid search on the ``dask`` backend over N
simulated nodes (network namespaces, shaped links: bench/rehearsal), once uninterrupted
and once with half the workers retired one by one (``client.retire_workers``, each worker
process then ending) while it runs. Records both times, the ratio, and whether the
scores are the same.

    sudo python bench/rehearsal/leave.py --workers 8 --mb 200 --rounds 2     # the lead's run
    sudo python bench/rehearsal/leave.py --workers 2 --mb 5 --rounds 1       # a smoke run

Each fit runs on a fresh cluster (retired workers do not come back). Namespaces are
named ``wl-<pid>-...`` and removed on exit, Ctrl-C or SIGTERM included. Needs root.
Writes bench/results/rehearsal_leave.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bench/: this script lives inside the rehearsal package

PREFIX = "wl-"


def _retire_during(client: Any, count: int, every: float, retired: list) -> threading.Thread:
    """Retire ``count`` workers, one every ``every`` seconds once the fit's tasks run."""

    def run() -> None:
        deadline = time.monotonic() + 120
        while not any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(count):
            time.sleep(every)
            workers = client.scheduler_info(n_workers=-1)["workers"]
            victim = max(workers, key=lambda address: str(workers[address].get("name")))
            started = time.monotonic()
            client.retire_workers([victim], close_workers=True)
            retired.append({"worker": str(workers[victim].get("name")), "retire_s": time.monotonic() - started})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def client_main(args: argparse.Namespace) -> None:
    """In the client's namespace: the grid search, retiring ``--retire`` workers meanwhile."""
    import distributed
    import numpy as np
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import GridSearchCV

    import scaleml
    from rehearsal.workloads import _data

    X, y = _data(args.mb, args.features)
    search = GridSearchCV(RidgeClassifier(), {"alpha": np.logspace(-3, 3, args.candidates)}, cv=args.folds,
                          n_jobs=-1)
    with distributed.Client(args.address, timeout=60) as client:
        retired: list = []
        thread = _retire_during(client, args.retire, args.every, retired) if args.retire else None
        started = time.perf_counter()
        model = scaleml.Scaled(search, backend="dask", address=args.address).fit(X, y)
        fit_s = time.perf_counter() - started
        if thread is not None:
            thread.join(timeout=5)
        left = len(client.scheduler_info(n_workers=-1)["workers"])
    print(json.dumps({"fit_s": fit_s, "retired": retired, "workers_left": left,
                      "mean_test_score": model.estimator_.cv_results_["mean_test_score"].tolist()}))


def _one_fit(args: argparse.Namespace, retire: int, every: float) -> dict:
    from rehearsal.cluster import Rehearsal

    command = [sys.executable, str(HERE / "leave.py"), "client", "--mb", str(args.mb), "--features",
               str(args.features), "--candidates", str(args.candidates), "--folds", str(args.folds),
               "--retire", str(retire), "--every", str(every)]
    with Rehearsal(workers=args.workers, mbit=args.mbit, prefix=PREFIX) as rehearsal:
        result = rehearsal.run_client([*command, "--address", rehearsal.address], timeout=args.fit_timeout,
                                      workers_may_exit=bool(retire))
    return result


def driver_main(args: argparse.Namespace) -> None:
    """As root: per round, the uninterrupted fit, then the fit with half the workers retired."""
    retire = args.workers // 2
    rounds = []
    for index in range(args.rounds):
        plain = _one_fit(args, 0, 0.0)
        # Retirements spread over the uninterrupted fit's time, the last before it would end.
        every = plain["fit_s"] / (retire + 1)
        left = _one_fit(args, retire, every)
        same = plain.get("mean_test_score") == left.get("mean_test_score")
        rounds.append({"uninterrupted_s": plain["fit_s"], "with_retirements_s": left["fit_s"],
                       "ratio": left["fit_s"] / plain["fit_s"], "same_scores": same,
                       "retired": left["retired"], "workers_left": left["workers_left"]})
        print(f"round {index + 1}: uninterrupted {plain['fit_s']:.2f} s, {len(left['retired'])} of "
              f"{args.workers} retired {left['fit_s']:.2f} s ({rounds[-1]['ratio']:.2f}x), same scores: {same}")
    summary = {"workers": args.workers, "retired": retire, "mb": args.mb, "mbit": args.mbit,
               "ratio_median": statistics.median(r["ratio"] for r in rounds),
               "all_same_scores": all(r["same_scores"] for r in rounds), "rounds": rounds,
               "command": " ".join(sys.argv)}
    out = HERE.parent / "results" / "rehearsal_leave.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"median {summary['ratio_median']:.2f}x the uninterrupted time; same scores every round: "
          f"{summary['all_same_scores']}; written to {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=("driver", "client"), default="driver")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--mbit", type=float, default=1000.0)
    parser.add_argument("--mb", type=float, default=200.0)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fit-timeout", type=float, default=900.0)
    parser.add_argument("--address", help="client mode: the scheduler")
    parser.add_argument("--retire", type=int, default=0, help="client mode: workers to retire")
    parser.add_argument("--every", type=float, default=1.0, help="client mode: seconds between retirements")
    args = parser.parse_args(argv)
    (client_main if args.mode == "client" else driver_main)(args)


if __name__ == "__main__":
    main()
