"""Where RFECV's time goes on `dask` against `local n_jobs=-1`: the folds' timeline and each thread's CPU.

RFECV (bench/dask_backend/tiny_fits.py's workload: LogisticRegression on breast_cancer, step=2,
cv=5) is the one tiny-fits workload that stays over 1.15x `local`. This script
takes it apart, on one managed cluster, in two parts:

1. Interleaved rounds (``scaleml.bench.order.balanced``) of four arms: ``local``
   (loky, the floor), ``dask``, and both with RFECV's five calls sent as three
   batches (``batch_size=2`` on its ``Parallel``, so three tasks instead of five).
   Each fold is timed inside the process that runs it; per arm, medians of: the
   whole fit, its ``Parallel`` call, when the first and second folds start after
   the call, a fold's duration, and the last fold's end to the call's return.
2. ``--accounting`` runs (default 20) of ``local`` then ``dask``, reading every
   thread's ``/proc/<pid>/task/<tid>/schedstat`` and ``status`` before and after:
   CPU, time spent runnable but waiting for a core, and voluntary (a lock such as
   the GIL, or I/O) and involuntary (preempted) context switches, per run.

    python bench/dask_backend/rfecv_anatomy.py --rounds 30

Writes bench/results/rfecv-anatomy.json and prints both tables.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLD_LOG = os.path.join(tempfile.gettempdir(), f"scaleml-rfecv-folds-{os.getpid()}.log")


def _timed_fold(*args, **kwargs):
    """scikit-learn's RFE fold, timed where it runs (a loky or Dask worker): appends
    ``pid start end`` to FOLD_LOG. Defined in ``__main__``, so it travels by value."""
    from sklearn.feature_selection import _rfe

    original = getattr(_rfe, "_scaleml_untimed_fold", _rfe._rfe_single_fit)
    start = time.time()
    result = original(*args, **kwargs)
    with open(FOLD_LOG, "a") as log:
        log.write(f"{os.getpid()} {start} {time.time()}\n")
    return result


def _rfecv_data():
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _rfecv(X, y):
    from sklearn.feature_selection import RFECV
    from sklearn.linear_model import LogisticRegression

    return RFECV(LogisticRegression(max_iter=1000), step=2, cv=5).fit(X, y).n_features_


def _main_thread_names() -> dict[int, str]:
    return {thread.native_id: f"main process: {thread.name}" for thread in threading.enumerate()}


def _thread_stats(pids: list[int]) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    """Every thread of ``pids``: (CPU ns, run-queue wait ns, voluntary, involuntary switches)."""
    stats = {}
    for pid in pids:
        for task in glob.glob(f"/proc/{pid}/task/*"):
            try:
                cpu, wait, _ = map(int, Path(task, "schedstat").read_text().split())
                status = dict(line.split(":\t", 1) for line in Path(task, "status").read_text().splitlines()
                              if ":\t" in line)
            except (OSError, ValueError):
                continue  # the thread ended meanwhile
            stats[(pid, int(task.rsplit("/", 1)[1]))] = (
                cpu, wait, int(status["voluntary_ctxt_switches"]), int(status["nonvoluntary_ctxt_switches"]))
    return stats


def _account(run, pids: dict[int, str], names: dict[int, str], runs: int) -> list[dict]:
    """``runs`` calls of ``run``; per thread using over 0.5 ms of CPU per run, its counts per run.
    ``names`` names the threads it can (Python's, by native id); the main process's
    others are native pools, the other processes' are left unnamed."""
    before = _thread_stats(list(pids))
    for _ in range(runs):
        run()
    after = _thread_stats(list(pids))
    rows = []
    for key, now in after.items():
        if key not in before:
            continue
        cpu, wait, voluntary, involuntary = (n - b for n, b in zip(now, before[key]))
        if cpu / runs < 0.5e6:
            continue
        unnamed = "a native thread (BLAS/OpenMP pool)" if pids[key[0]] == "main" else "(a thread)"
        rows.append({"process": pids[key[0]], "thread": names.get(key[1], unnamed),
                     "cpu_ms": cpu / 1e6 / runs, "runqueue_wait_ms": wait / 1e6 / runs,
                     "voluntary_switches": voluntary / runs, "involuntary_switches": involuntary / runs})
    return sorted(rows, key=lambda row: -row["cpu_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--accounting", type=int, default=20, help="runs per backend for the per-thread counts")
    parser.add_argument("--out", default=str(HERE.parent / "results" / "rfecv-anatomy.json"))
    args = parser.parse_args()

    import psutil
    import sklearn.utils.parallel
    from sklearn.feature_selection import _rfe

    import scaleml
    from scaleml import machine
    from scaleml.bench.order import balanced
    from scaleml.bench.results import write_json

    _rfe._scaleml_untimed_fold = _rfe._rfe_single_fit
    _rfe._rfe_single_fit = _timed_fold
    calls: list[tuple[float, float]] = []
    batch_size = {"value": "auto"}
    parallel_class = sklearn.utils.parallel.Parallel
    original_init, original_call = parallel_class.__init__, parallel_class.__call__

    def init(self, *a, **k):
        original_init(self, *a, **k)
        self.batch_size = batch_size["value"]

    def call(self, iterable):
        start = time.time()
        try:
            return original_call(self, iterable)
        finally:
            calls.append((start, time.time()))

    parallel_class.__init__, parallel_class.__call__ = init, call

    X, y = _rfecv_data()
    dask_backend = scaleml.backends.create_backend("dask")
    client = dask_backend.cluster()
    arms = {"local n_jobs=-1": ("local", "auto"), "dask": ("dask", "auto"),
            "local, 3 batches": ("local", 2), "dask, 3 batches": ("dask", 2)}

    def context(kind: str):
        return scaleml.backend("local", n_jobs=-1) if kind == "local" else scaleml.backend(dask_backend)

    measures = ("fit_ms", "parallel_call_ms", "first_fold_starts_ms", "second_fold_starts_ms", "fold_ms",
                "last_fold_end_to_return_ms")
    timeline: dict[str, dict[str, list[float]]] = {arm: {m: [] for m in measures} for arm in arms}
    for round_ in range(args.rounds + 1):  # round 0 warms up, not counted
        for arm in balanced(list(arms), round_):
            kind, batch_size["value"] = arms[arm]
            if os.path.exists(FOLD_LOG):
                os.remove(FOLD_LOG)
            calls.clear()
            with context(kind):
                start = time.perf_counter()
                _rfecv(X, y)
                fit_s = time.perf_counter() - start
            lines = Path(FOLD_LOG).read_text().splitlines()
            folds = sorted((float(start), float(end)) for _, start, end in map(str.split, lines))
            (call_start, call_end), = calls
            if round_:
                row = timeline[arm]
                row["fit_ms"].append(1000 * fit_s)
                row["parallel_call_ms"].append(1000 * (call_end - call_start))
                row["first_fold_starts_ms"].append(1000 * (folds[0][0] - call_start))
                row["second_fold_starts_ms"].append(1000 * (folds[1][0] - call_start))
                row["fold_ms"].append(1000 * statistics.median(e - s for s, e in folds))
                row["last_fold_end_to_return_ms"].append(1000 * (call_end - max(e for _, e in folds)))
    batch_size["value"] = "auto"
    summary = {arm: {m: statistics.median(v) for m, v in row.items()} for arm, row in timeline.items()}
    print(f"\n{'median of ' + str(args.rounds) + ' rounds':<26}" + "".join(f"{m[:-3]:>30}" for m in measures))
    for arm, row in summary.items():
        print(f"{arm:<26}" + "".join(f"{row[m]:>30.1f}" for m in measures))

    me = os.getpid()
    accounting = {}
    with scaleml.backend("local", n_jobs=-1):
        _rfecv(X, y)  # loky's workers exist after this
        workers = [p.pid for p in psutil.Process(me).children(recursive=True)]
        pids = {me: "main", **{pid: "loky worker" for pid in workers}}
        accounting["local n_jobs=-1"] = _account(lambda: _rfecv(X, y), pids, _main_thread_names(), args.accounting)
    with scaleml.backend(dask_backend):
        _rfecv(X, y)
        workers = client.run(os.getpid)
        names = {}
        for threads in client.run(lambda: {t.native_id: t.name for t in threading.enumerate()}).values():
            names.update(threads)
        host = psutil.Process(next(iter(workers.values()))).parent().pid
        pids = {me: "main", host: "scheduler + nannies", **{pid: "dask worker" for pid in workers.values()}}
        accounting["dask"] = _account(lambda: _rfecv(X, y), pids, {**names, **_main_thread_names()}, args.accounting)
    for arm, rows in accounting.items():
        print(f"\n{arm}, per run ({args.accounting} runs): threads over 0.5 ms of CPU")
        for row in rows:
            print(f"  {row['process']:<20} {row['thread'][:44]:<44} CPU {row['cpu_ms']:6.1f} ms  waiting for a core "
                  f"{row['runqueue_wait_ms']:5.1f} ms  switches: voluntary {row['voluntary_switches']:5.1f}, "
                  f"involuntary {row['involuntary_switches']:5.1f}")
        print(f"  {'all':<65} CPU {sum(r['cpu_ms'] for r in rows):6.1f} ms")
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "rounds": args.rounds, "summary": summary, "timeline": timeline,
                          "accounting_runs": args.accounting, "accounting": accounting})
    print(f"wrote {args.out}")
    dask_backend.stop()
    parallel_class.__init__, parallel_class.__call__ = original_init, original_call


if __name__ == "__main__":
    main()
