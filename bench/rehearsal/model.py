"""The scaling model of the ``dask`` backend's fit of in-memory data (bench/SCALING.md).

A fit of ``S`` bytes on ``N`` workers, links of ``B`` bytes/s, ``T`` tasks of ``c``
seconds each, on ``P`` cores in all, then a refit of ``r`` seconds in the client:

    time   = S/B                      client -> scheduler (the one copy the client sends)
           + S/B                      scheduler -> first worker
           + tree(N) * S/B            Dask's replicate: each holder serves two more per round
           + T * (c + o) / min(P, N)  the tasks, ``o`` the per-task cost of the scheduler and comms
           + r                        the best candidate refitted on all the data, in the client
    client bytes    = S (whatever N)
    scheduler bytes = S in, S out
    worker bytes    = S in each; S * (N - 1) out in all

``tree(N)`` is the sum over rounds of the busiest holder's copies: Dask's scheduler asks
up to ``2 * holders`` new workers per round to fetch from a holder picked at random, so
it is simulated as Dask does it (mean of many draws), not taken as log3(N).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


def replicate_rounds(workers: int, draws: int = 2000, seed: int = 0) -> float:
    """Mean, over random draws, of the sum over Dask's replicate rounds of the largest
    number of copies one holder sends in the round (a holder's link is shared by them)."""
    if workers <= 1:
        return 0.0
    rng = random.Random(seed)
    total = 0
    for _ in range(draws):
        holders, missing = 1, workers - 1
        while missing:
            copies = min(missing, 2 * holders)
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
    """Measured on the machine (or cluster) the model speaks for."""

    link_bytes_per_s: float  # one link, one direction, as a transfer achieves it
    task_s: float  # one task's compute
    task_overhead_s: float  # per task: scheduling, the task's messages, result back
    refit_s: float  # the final refit in the client
    cores: int  # cores the workers share in all (the rehearsal: this machine's)


def grid_fit(data_bytes: float, workers: int, tasks: int, k: Constants, cores_per_worker: int | None = None) -> dict:
    """Predicted seconds (by part) and bytes of a grid-search fit on the ``dask`` backend."""
    per_copy = data_bytes / k.link_bytes_per_s
    parallel = min(k.cores, workers) if cores_per_worker is None else workers * cores_per_worker
    parts = {
        "client_to_scheduler_s": per_copy,
        "scheduler_to_worker_s": per_copy,
        "copies_among_workers_s": replicate_rounds(workers) * per_copy,
        "tasks_s": tasks * (k.task_s + k.task_overhead_s) / parallel,
        "refit_s": k.refit_s,
    }
    return {
        "seconds": sum(parts.values()),
        "parts": parts,
        "client_sent_bytes": data_bytes,
        "scheduler_sent_bytes": data_bytes,
        "workers_received_bytes": data_bytes * workers,
    }
