"""The scaling model of the ``dask`` backend's fit of in-memory data (bench/SCALING.md).

A fit of ``S`` bytes on ``N`` workers, links of ``B`` bytes/s, ``T`` calls of ``c``
seconds each, on ``P`` cores in all, then a refit of ``r`` seconds in the client:

    time   = f                        the fit's fixed cost (connecting, planning, the search's own work)
           + S/B                      client -> scheduler (the one copy the client sends)
           + S/B                      scheduler -> first worker
           + rounds(N) * S/B          copies among the workers, in rounds that double the holders
           + ceil(T / p) * c          the calls, in waves of p = min(P, N) at once
           + r                        the best candidate refitted on all the data, in the client
    client bytes    = S (whatever N)
    scheduler bytes = S in, S out
    worker bytes    = S in each; S * (N - 1) out in all

``rounds(N)`` is the sum over rounds of the busiest holder's copies: each round as many
workers as hold the data fetch it, each from a holder picked at random, so some holders
serve two or more; it is simulated as it happens (mean of many draws): 1, 2.5, 4.6, 7.2
transfer times for N = 2, 4, 8, 16 (17 for 100, 32 for 1,000), where a tree whose
holders each served one worker per round would take log2(N) = 1, 2, 3, 4 (7, 10).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


def copy_rounds(workers: int, per_round: int = 1, draws: int = 2000, seed: int = 0) -> float:
    """Sum over copy rounds of the most copies one holder sends in the round (its link is
    shared by them), the mean of many random draws.

    Each round, ``per_round * holders`` workers without the data each fetch it from a
    holder picked at random: ``per_round=1`` is scaleml's ``peers`` movement (holders
    double), ``per_round=2`` Dask's own ``replicate`` (holders triple).
    """
    if workers <= 1:
        return 0.0
    rng = random.Random(seed)
    total = 0
    for _ in range(draws):
        holders, missing = 1, workers - 1
        while missing:
            copies = min(missing, per_round * holders)
            load: dict[int, int] = {}
            for _ in range(copies):
                source = rng.randrange(holders)
                load[source] = load.get(source, 0) + 1
            total += max(load.values())
            holders += copies
            missing -= copies
    return total / draws


@dataclass(frozen=True)
class Constants:
    """Measured on the cluster the model speaks for (bench/rehearsal/workloads.py)."""

    link_bytes_per_s: float  # one link, one direction, as a transfer achieves it
    fixed_s: float  # a fit's cost whatever its data: connecting, planning, the search's own work
    call_s: float  # one call's compute on a worker, alone
    call_two_at_once_s: float  # the same while another worker runs one (shared cores)
    refit_s: float  # the final refit in the client
    cores: int  # calls at once: the search's n_jobs (the rehearsal: this machine's cores)


# Dask's scheduler spends about this much on each task (its documentation says ~1 ms);
# it bounds how many tasks per second a cluster of any size can run.
SCHEDULER_S_PER_TASK = 1e-3


def grid_fit(data_bytes: float, workers: int, calls: int, k: Constants, cores_per_worker: int | None = None) -> dict:
    """Predicted seconds (by part) and bytes of a grid-search fit on the ``dask`` backend.

    ``cores_per_worker`` None: the workers share ``k.cores`` (the rehearsal); else each
    has its own (a real cluster), and a call takes ``k.call_s``.
    """
    per_copy = data_bytes / k.link_bytes_per_s
    if cores_per_worker is None:
        parallel = min(k.cores, workers)
        call = k.call_s if parallel == 1 else k.call_two_at_once_s
    else:
        parallel, call = workers * cores_per_worker, k.call_s
    waves = -(-calls // parallel)  # calls run in waves of `parallel`; the last may be partial
    calls_s = max(waves * call, calls * SCHEDULER_S_PER_TASK)  # the scheduler's rate bounds it too
    parts = {
        "fixed_s": k.fixed_s,
        "client_to_scheduler_s": per_copy,
        "scheduler_to_worker_s": per_copy,
        "copies_among_workers_s": copy_rounds(workers) * per_copy,
        "calls_s": calls_s,
        "refit_s": k.refit_s,
    }
    return {
        "seconds": sum(parts.values()),
        "parts": parts,
        "client_sent_bytes": data_bytes,
        "scheduler_sent_bytes": data_bytes,
        "workers_received_bytes": data_bytes * workers,
    }


def bottleneck(parts: dict) -> str:
    """The part that takes longest, in words."""
    names = {"fixed_s": "fixed cost", "client_to_scheduler_s": "client's link",
             "scheduler_to_worker_s": "scheduler's link", "copies_among_workers_s": "copy rounds among workers",
             "calls_s": "compute (or the scheduler's task rate)", "refit_s": "refit in the client"}
    return names[max(parts, key=parts.get)]


def extrapolate(k: Constants, data_bytes: float, calls: int, workers: list[int], gbit: float,
                cores_per_worker: int) -> list[dict]:
    """Predictions for real clusters: every worker on its own ``cores_per_worker`` cores,
    links of ``gbit`` Gbit/s at the rate the rehearsal's links reached of theirs."""
    efficiency = k.link_bytes_per_s / 125e6  # the rehearsal's links were 1 Gbit/s
    real = Constants(link_bytes_per_s=gbit * 125e6 * efficiency, fixed_s=k.fixed_s, call_s=k.call_s,
                     call_two_at_once_s=k.call_s, refit_s=k.refit_s, cores=cores_per_worker)
    rows = []
    for n in workers:
        predicted = grid_fit(data_bytes, n, calls, real, cores_per_worker=cores_per_worker)
        # Copying to fewer workers than there are, and running the calls only there:
        # what the copy rounds cost against what the extra workers save.
        subset = min((grid_fit(data_bytes, m, calls, real, cores_per_worker=cores_per_worker)["seconds"], m)
                     for m in sorted({2 ** i for i in range(n.bit_length())} | {n}))
        rows.append({"workers": n, "seconds": predicted["seconds"], "parts": predicted["parts"],
                     "bottleneck": bottleneck(predicted["parts"]), "best_subset": subset[1],
                     "best_subset_seconds": subset[0]})
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the model's extrapolation from a rehearsal's measured constants.

    python -m rehearsal.model bench/results/rehearsal-peers-8-16.json --gb 5 --gbit 10
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(description="the dask backend's grid search, extrapolated")
    parser.add_argument("results", help="a bench/rehearse.py result file (its constants are used)")
    parser.add_argument("--gb", type=float, default=5.0, help="data size")
    parser.add_argument("--gbit", type=float, default=10.0, help="each link's bandwidth")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--call-s", type=float, default=None, help="one call's seconds (default: measured)")
    parser.add_argument("--cores-per-worker", type=int, default=8)
    parser.add_argument("--workers", default="2,16,100,1000")
    args = parser.parse_args(argv)
    sizes = json.load(open(args.results))["sizes"]
    measured = next(size["constants"] for size in sizes.values() if "constants" in size)
    k = Constants(cores=1, **measured)
    if args.call_s:
        k = Constants(**{**k.__dict__, "call_s": args.call_s})
    rows = extrapolate(k, args.gb * 1e9, args.calls, [int(n) for n in args.workers.split(",")], args.gbit,
                       args.cores_per_worker)
    print(f"{args.gb:g} GB, {args.calls} calls of {k.call_s:.2f} s, {args.cores_per_worker} cores per worker, "
          f"{args.gbit:g} Gbit/s links")
    print(f"{'workers':>8} {'seconds':>9} {'copies s':>9} {'calls s':>8}  {'bottleneck':<40} on a subset")
    for row in rows:
        print(f"{row['workers']:>8} {row['seconds']:>9.1f} {row['parts']['copies_among_workers_s']:>9.1f} "
              f"{row['parts']['calls_s']:>8.1f}  {row['bottleneck']:<40} "
              f"{row['best_subset_seconds']:.1f} s on {row['best_subset']}")


if __name__ == "__main__":
    main()
