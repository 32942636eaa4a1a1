"""What scikit-learn's callbacks cost from Dask workers on other hosts (root only).

A grid search with a ``ScoringMonitor`` (one message per solver iteration, each
acknowledged) on 2 workers each on a simulated host of their own (:mod:`rehearsal.hosts`:
own network namespace and ``/tmp``), the callbacks' messages carried by scaleml's relay
(``relay``: plain TCP to this process) or through the Dask scheduler (``scheduler``: the
relay put out of the workers' reach with ``callback_address="127.0.0.1"``, as behind a
firewall), against the same search without callbacks (``none``, the floor). The monitor
also scores the model at every iteration, which costs as much wherever it runs: so the
same pair on this host's loky workers (``local`` and ``local none``, scikit-learn's own
local socket) says what that part costs. Rounds are interleaved in balanced orders; the
first is a warm-up. Prints each variant's median fit time and the cost per message over
its floor (``none``, ``local none``).

    sudo python bench/rehearsal/callbacks.py --rounds 5
    sudo python bench/rehearsal/callbacks.py --rounds 1 --candidates 2 --samples 300   # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _search(candidates: int, samples: int, monitor: bool):
    """The fit and the number of messages its monitor received (0 without one)."""
    from sklearn.callback import ScoringMonitor
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, y = make_classification(n_samples=samples, n_features=20, random_state=0)
    estimator = LogisticRegression(max_iter=100)
    scorer = None
    if monitor:
        scorer = ScoringMonitor(scoring="accuracy")
        estimator.set_callbacks(scorer)
    grid = {"C": [10.0 ** k for k in range(-2, -2 + candidates)]}
    GridSearchCV(estimator, grid, cv=5, n_jobs=-1).fit(X, y)
    return len(scorer.get_logs(select="most_recent").data) if scorer is not None else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--out", default=str(HERE.parent / "results" / "remote-callbacks.json"))
    args = parser.parse_args()

    import scaleml
    from rehearsal.hosts import WorkersElsewhere, why_not
    from scaleml import machine
    from scaleml.bench.order import balanced
    from scaleml.bench.results import write_json

    reason = why_not("cbk-")
    if reason:
        raise SystemExit(f"cannot rehearse here: {reason}")
    variants = {"none": ("dask", {}, False), "relay": ("dask", {}, True),
                "scheduler": ("dask", {"callback_address": "127.0.0.1"}, True),
                "local none": ("local", {"n_jobs": 2}, False), "local": ("local", {"n_jobs": 2}, True)}
    floors = {"relay": "none", "scheduler": "none", "local": "local none"}
    times: dict[str, list[float]] = {v: [] for v in variants}
    messages: dict[str, int] = {}
    with WorkersElsewhere(2, Path(tempfile.mkdtemp(prefix="callbacks-bench-")), threads=1) as cluster:
        import distributed

        with distributed.Client(cluster.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        for round_ in range(args.rounds + 1):  # round 0 warms up, not counted
            for label in balanced(list(variants), round_):
                backend, options, monitor = variants[label]
                where = {"address": cluster.address} if backend == "dask" else {}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the scheduler variant's relay warning, ConvergenceWarnings
                    with scaleml.backend(backend, **where, **options):
                        start = time.perf_counter()
                        messages[label] = _search(args.candidates, args.samples, monitor)
                        seconds = time.perf_counter() - start
                if round_:
                    times[label].append(seconds)
            print(f"round {round_}: " + ", ".join(f"{v} {times[v][-1]:.3f} s" for v in variants if round_), flush=True)
        from scaleml.engines.dask.cluster import close_all

        close_all(cluster.address)
    medians = {v: statistics.median(t) for v, t in times.items()}
    per_message = {v: (medians[v] - medians[f]) / messages[v] * 1e3 for v, f in floors.items() if messages[v]}
    for v in variants:
        extra = (f", {per_message[v]:.2f} ms per message over {floors[v]} ({messages[v]} messages)"
                 if v in per_message else "")
        print(f"{v:>10}: median {medians[v]:.3f} s{extra}")
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)), "rounds": args.rounds,
                          "candidates": args.candidates, "samples": args.samples, "medians": medians,
                          "messages": messages, "ms_per_message": per_message, "times": times})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
