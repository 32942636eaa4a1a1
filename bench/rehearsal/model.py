"""The scaling model of the ``dask`` backend's fit of in-memory data (bench/SCALING.md).

A fit of ``S`` bytes on ``N`` workers, links of ``B`` bytes/s, ``T`` calls of ``c``
seconds each, on ``P`` cores in all, then a refit of ``r`` seconds in the client:

    time   = f                        the fit's fixed cost (connecting, planning, the search's own work)
           + S/B                      client -> scheduler (the one copy the client sends)
           + S/B                      scheduler -> first worker
           + rounds(N) * S/B          copies among the workers, in rounds that double the holders
           + ceil(T / p) * c          the calls, p at once (2 x n_jobs, at most N), c each on average
           + r                        the best candidate refitted on all the data, in the client
    client bytes    = S (whatever N)
    scheduler bytes = S in, S out
    worker bytes    = S in each; S * (N - 1) out in all

The blocked linear models (:func:`blocked_fit`, data sent from the client or read from
files every pass) and Hyperband (:func:`hyperband_fit`, the same spread, then
:func:`schedule`) have their own formulas; :func:`blocked_real` and
:func:`hyperband_real` extrapolate them to clusters of real nodes.

``rounds(N)`` is the sum over rounds of the busiest holder's copies: each round as many
workers as hold the data fetch it, each from a holder picked at random, so some holders
serve two or more; it is simulated as it happens (mean of many draws): 1, 2.5, 4.6, 7.2
transfer times for N = 2, 4, 8, 16 (17 for 100, 32 for 1,000), where a tree whose
holders each served one worker per round would take log2(N) = 1, 2, 3, 4 (7, 10).
"""

from __future__ import annotations

import math
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
    call_at_once_s: float  # the same, on average, with `at_once` running on as many workers (shared cores)
    at_once: int  # calls the fit runs at once: joblib keeps 2 x n_jobs tasks out, Dask runs them all
    refit_s: float  # the final refit in the client
    cores: int  # this machine's cores
    # The slowest of `at_once` started together: recorded, not used. A wave's calls are
    # predicted by their mean: the slowest, inflated by their start's skew, overshot (bench/SCALING.md).
    call_slowest_s: float | None = None


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
        parallel = min(k.at_once, workers)
        call = k.call_s if parallel == 1 else k.call_at_once_s
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


@dataclass(frozen=True)
class PassConstants:
    """A blocked fit's constants, measured on the cluster the model speaks for."""

    link_bytes_per_s: float
    fixed_s: float  # the fit's cost outside its passes (planning, reading the classes, ...)
    pass_s: float  # one pass's cost whatever its blocks' size: the graph, the scheduler, the merges
    block_s: float  # one block's share of a pass, computed on a worker alone
    block_at_once_s: float  # the same, on average, with `at_once` computed at once on as many workers
    at_once: int  # blocks a pass computes at once: one per worker, at most the blocks
    cores: int
    block_slowest_s: float | None = None  # recorded, not used (as Constants.call_slowest_s)


def blocked_fit(data_bytes: float, blocks: int, passes: int, workers: int, k: PassConstants,
                sent_from_client: bool, summary_bytes: float = 0.0, cores_per_worker: int | None = None) -> dict:
    """Predicted seconds and bytes of a blocked linear model's fit (scaleml.linear_model) on Dask.

    The blocks are spread over the workers, one copy each (sent from the client once
    through the scheduler, ``sent_from_client``; or read by the workers from storage
    they share, every pass); each pass computes every block's sums where the block is
    and merges them in a tree, so only ``summary_bytes`` per block travel:

        time  = 2 S/B [sent from the client]  + f
              + passes * (ceil(blocks / p) * b + l)
        bytes: client S (or nothing), each worker S/N in; passes * blocks * summary among workers
    """
    if cores_per_worker is None:
        parallel = min(k.at_once, workers)
        block = k.block_s if parallel == 1 else k.block_at_once_s
    else:
        parallel, block = workers * cores_per_worker, k.block_s
    waves = -(-blocks // parallel)
    per_pass = max(waves * block, blocks * SCHEDULER_S_PER_TASK) + k.pass_s
    per_copy = data_bytes / k.link_bytes_per_s
    parts = {
        "client_to_scheduler_s": per_copy if sent_from_client else 0.0,
        "scheduler_to_workers_s": per_copy if sent_from_client else 0.0,
        "fixed_s": k.fixed_s,
        "passes_s": passes * per_pass,
    }
    return {
        "seconds": sum(parts.values()),
        "parts": parts,
        "per_pass_s": per_pass,
        "client_sent_bytes": data_bytes if sent_from_client else 0.0,
        "worker_received_bytes": data_bytes / workers if sent_from_client else 0.0,
        "summaries_bytes": passes * blocks * summary_bytes,
    }


@dataclass(frozen=True)
class TaskConstants:
    """Hyperband's constants, measured on the cluster the model speaks for."""

    link_bytes_per_s: float
    fixed_s: float  # the search's cost whatever its data
    call_s: float  # one partial_fit call on the training data, on a worker alone
    call_at_once_s: float  # the same with `at_once` running on as many workers
    at_once: int  # tasks the first rungs start at once (one per worker)
    score_s: float  # scoring a model on the validation data, after its calls
    cores: int


def schedule(brackets: list[tuple[list[int], list[int]]], call_s: float, score_s: float, slots: int,
             throughput: float) -> float:
    """Seconds until the last task of a Hyperband search ends, simulated.

    ``brackets``: each bracket's models per rung and partial_fit calls per rung (cumulative),
    as ``scaleml.search`` plans them. Every bracket's first rung is submitted at once, in
    bracket order; a rung's survivors are submitted when its last score arrives. Tasks
    start first come, first served, one per slot (worker); a task is ``calls * call_s +
    score_s`` of work, and ``k`` tasks running share the machine: each advances at
    ``min(1, throughput / k)`` (``throughput``: how many tasks' worth of work the machine
    does at once, measured; the slots' own cores on a real cluster).
    """
    queue: list[tuple[int, float]] = []  # (bracket, work) in submission order
    for b, (counts, budgets) in enumerate(brackets):
        queue += [(b, budgets[0] * call_s + score_s)] * counts[0]
    rung = [0] * len(brackets)
    unfinished = [counts[0] for counts, _ in brackets]
    running: list[list] = []  # [work left, bracket]
    now = 0.0
    while queue or running:
        while queue and len(running) < slots:
            b, work = queue.pop(0)
            running.append([work, b])
        rate = min(1.0, throughput / len(running))
        step = min(task[0] for task in running) / rate
        now += step
        for task in running:
            task[0] -= step * rate
        for task in [t for t in running if t[0] <= 1e-9]:
            running.remove(task)
            b = task[1]
            unfinished[b] -= 1
            counts, budgets = brackets[b]
            if unfinished[b] == 0 and rung[b] + 1 < len(counts):
                rung[b] += 1
                unfinished[b] = counts[rung[b]]
                added = budgets[rung[b]] - budgets[rung[b] - 1]
                queue += [(b, added * call_s + score_s)] * counts[rung[b]]
    return now


def hyperband_fit(data_bytes: float, brackets: list[tuple[list[int], list[int]]], workers: int,
                  k: TaskConstants, cores_per_worker: int | None = None) -> dict:
    """Predicted seconds and bytes of a ``HyperbandSearchCV`` fit on the ``dask`` backend:
    the data spread as for a grid search (sent once, copied among the workers in doubling
    rounds), then the brackets' tasks scheduled on the workers (:func:`schedule`)."""
    if cores_per_worker is None:
        # The workers share this machine: at_once tasks took call_at_once_s each.
        slots, throughput = workers, k.at_once * k.call_s / k.call_at_once_s
    else:
        slots = throughput = workers * cores_per_worker
    per_copy = data_bytes / k.link_bytes_per_s
    parts = {
        "fixed_s": k.fixed_s,
        "client_to_scheduler_s": per_copy,
        "scheduler_to_worker_s": per_copy,
        "copies_among_workers_s": copy_rounds(workers) * per_copy,
        "tasks_s": schedule(brackets, k.call_s, k.score_s, slots, throughput),
    }
    return {"seconds": sum(parts.values()), "parts": parts, "client_sent_bytes": data_bytes,
            "workers_received_bytes": data_bytes * workers}


def bottleneck(parts: dict) -> str:
    """The part that takes longest, in words."""
    names = {"fixed_s": "fixed cost", "client_to_scheduler_s": "client's link",
             "scheduler_to_worker_s": "scheduler's link", "copies_among_workers_s": "copy rounds among workers",
             "calls_s": "compute (or the scheduler's task rate)", "refit_s": "refit in the client"}
    return names[max(parts, key=parts.get)]


def real_link(rehearsal_bytes_per_s: float, gbit: float) -> float:
    """A real link of ``gbit`` Gbit/s in bytes/s, at the share of nominal the rehearsal's
    1 Gbit/s links reached."""
    return gbit * 125e6 * rehearsal_bytes_per_s / 125e6


def extrapolate(k: Constants, data_bytes: float, calls: int, workers: list[int], gbit: float,
                cores_per_worker: int) -> list[dict]:
    """Predictions for real clusters: every worker on its own ``cores_per_worker`` cores,
    links of ``gbit`` Gbit/s at the rate the rehearsal's links reached of theirs."""
    real = Constants(link_bytes_per_s=real_link(k.link_bytes_per_s, gbit), fixed_s=k.fixed_s, call_s=k.call_s,
                     call_at_once_s=k.call_s, at_once=1, refit_s=k.refit_s, cores=cores_per_worker)
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


FAN_IN = 8  # summaries merged per task (scaleml.data.blocks)


def blocked_real(k: PassConstants, data_bytes: float, passes: int, workers: int, gbit: float, cores_per_worker: int,
                 files: bool, rehearsal_block_bytes: float, block_bytes: float = 128e6,
                 latency_s: float = 5e-4) -> dict:
    """A blocked fit on a real cluster: blocks of ``block_bytes``, each block's compute scaled
    from the rehearsal's by its size; ``files``: every block read over the worker's own link
    on every pass (object storage), else sent once from the client. Per pass, the scheduler's
    task rate bounds the blocks' waves, and the merge tree adds a hop of ``latency_s`` per
    level (not measured here: the rehearsal has no latency to inject)."""
    link = real_link(k.link_bytes_per_s, gbit)
    blocks = max(1, math.ceil(data_bytes / block_bytes))
    compute = k.block_s * block_bytes / rehearsal_block_bytes + (block_bytes / link if files else 0.0)
    waves = math.ceil(blocks / (workers * cores_per_worker))
    depth = max(1, math.ceil(math.log(blocks, FAN_IN))) if blocks > 1 else 0
    tasks = blocks + sum(math.ceil(blocks / FAN_IN ** d) for d in range(1, depth + 1))
    parts = {
        "send_s": 0.0 if files else 2 * data_bytes / link,
        "fixed_s": k.fixed_s,
        "compute_s": passes * waves * compute,
        "scheduler_s": passes * tasks * SCHEDULER_S_PER_TASK,
        "pass_overhead_s": passes * (k.pass_s + depth * latency_s),
    }
    names = {"send_s": "client's link (the data sent once)", "fixed_s": "fixed cost", "compute_s": "compute"
             + (" and reading the blocks over each worker's link" if files else ""),
             "scheduler_s": "the scheduler's task rate", "pass_overhead_s": "per-pass round trips (latency)"}
    return {"workers": workers, "seconds": sum(parts.values()), "parts": parts,
            "bottleneck": names[max(parts, key=parts.get)], "blocks": blocks}


def hyperband_real(k: TaskConstants, data_bytes: float, brackets: list, workers: int, gbit: float,
                   cores_per_worker: int, rehearsal_bytes: float) -> dict:
    """A Hyperband search on a real cluster: the data spread as for a grid search, each
    partial_fit call's and score's cost scaled from the rehearsal's by the data's size."""
    scale = data_bytes / rehearsal_bytes
    link = real_link(k.link_bytes_per_s, gbit)
    slots = workers * cores_per_worker
    tasks = sum(sum(counts) for counts, _ in brackets)
    parts = {
        "fixed_s": k.fixed_s,
        "send_s": 2 * data_bytes / link,
        "copies_among_workers_s": copy_rounds(workers) * data_bytes / link,
        "tasks_s": max(schedule(brackets, k.call_s * scale, k.score_s * scale, slots, slots),
                       tasks * SCHEDULER_S_PER_TASK),
    }
    unlimited = schedule(brackets, k.call_s * scale, k.score_s * scale, 10**6, 10**6)
    names = {"fixed_s": "fixed cost", "send_s": "client's and scheduler's links",
             "copies_among_workers_s": "copy rounds among workers",
             "tasks_s": "the rungs' chain (more workers do not shorten it)"
             if parts["tasks_s"] <= 1.05 * unlimited else "compute"}
    return {"workers": workers, "seconds": sum(parts.values()), "parts": parts,
            "bottleneck": names[max(parts, key=parts.get)]}


def main(argv: list[str] | None = None) -> None:
    """Print the model's extrapolation from a rehearsal's measured constants.

    python -m rehearsal.model bench/results/rehearsal-peers-8-16.json --gb 5 --gbit 10
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(description="a rehearsed workload (grid, blocked, files, hyperband), extrapolated")
    parser.add_argument("results", help="a bench/rehearsal/rehearse.py result file (its constants are used)")
    parser.add_argument("--gb", type=float, default=5.0, help="data size")
    parser.add_argument("--gbit", type=float, default=10.0, help="each link's bandwidth")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--call-s", type=float, default=None, help="one call's seconds (default: measured)")
    parser.add_argument("--cores-per-worker", type=int, default=8)
    parser.add_argument("--workers", default="2,16,100,1000")
    parser.add_argument("--max-iter", type=int, default=81, help="hyperband: the most-trained model's calls")
    args = parser.parse_args(argv)
    results = json.load(open(args.results))
    sizes, workload = results["sizes"], results.get("workload", {})
    measured = next(size["constants"] for size in sizes.values() if "constants" in size)
    counts = [int(n) for n in args.workers.split(",")]
    name = workload.get("name", "grid")
    if name in ("blocked", "files"):
        k = PassConstants(cores=1, **measured)
        runs = next(size["runs"] for size in sizes.values() if "runs" in size)
        passes = next(iter(runs.values()))[0]["passes"]
        rehearsal_block = workload["mb"] * 1e6 / workload["blocks"]
        print(f"{args.gb:g} GB in 128 MB blocks, {passes} passes, {args.cores_per_worker} cores per worker, "
              f"{args.gbit:g} Gbit/s links" + (", read from storage every pass" if name == "files" else ""))
        print(f"{'workers':>8} {'seconds':>9} {'compute s':>10} {'sched s':>8} {'passes s':>9}  bottleneck")
        for n in counts:
            row = blocked_real(k, args.gb * 1e9, passes, n, args.gbit, args.cores_per_worker, name == "files",
                               rehearsal_block)
            parts = row["parts"]
            print(f"{n:>8} {row['seconds']:>9.1f} {parts['compute_s']:>10.1f} {parts['scheduler_s']:>8.1f} "
                  f"{parts['pass_overhead_s']:>9.2f}  {row['bottleneck']}")
        return
    if name == "hyperband":
        from scaleml.search._schedule import hyperband_brackets

        k = TaskConstants(cores=1, **measured)
        brackets = [(list(b.counts), list(b.budgets)) for b in hyperband_brackets(args.max_iter, 3)]
        print(f"{args.gb:g} GB, Hyperband max_iter={args.max_iter} ({sum(sum(c) for c, _ in brackets)} tasks), "
              f"{args.cores_per_worker} cores per worker, {args.gbit:g} Gbit/s links")
        print(f"{'workers':>8} {'seconds':>9} {'copies s':>9} {'tasks s':>8}  bottleneck")
        for n in counts:
            row = hyperband_real(k, args.gb * 1e9, brackets, n, args.gbit, args.cores_per_worker,
                                 workload["mb"] * 1e6)
            print(f"{n:>8} {row['seconds']:>9.1f} {row['parts']['copies_among_workers_s']:>9.1f} "
                  f"{row['parts']['tasks_s']:>8.1f}  {row['bottleneck']}")
        return
    if "call_two_at_once_s" in measured:  # results written before the constants' at_once
        measured = {**{k: v for k, v in measured.items() if k != "call_two_at_once_s"},
                    "call_at_once_s": measured["call_two_at_once_s"], "at_once": 2}
    k = Constants(cores=1, **measured)
    if args.call_s:
        k = Constants(**{**k.__dict__, "call_s": args.call_s})
    rows = extrapolate(k, args.gb * 1e9, args.calls, counts, args.gbit, args.cores_per_worker)
    print(f"{args.gb:g} GB, {args.calls} calls of {k.call_s:.2f} s, {args.cores_per_worker} cores per worker, "
          f"{args.gbit:g} Gbit/s links")
    print(f"{'workers':>8} {'seconds':>9} {'copies s':>9} {'calls s':>8}  {'bottleneck':<40} on a subset")
    for row in rows:
        print(f"{row['workers']:>8} {row['seconds']:>9.1f} {row['parts']['copies_among_workers_s']:>9.1f} "
              f"{row['parts']['calls_s']:>8.1f}  {row['bottleneck']:<40} "
              f"{row['best_subset_seconds']:.1f} s on {row['best_subset']}")


if __name__ == "__main__":
    main()
