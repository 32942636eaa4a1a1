"""Managed Dask workers with and without distributed's malloc trim threshold.

distributed sets ``MALLOC_TRIM_THRESHOLD_=65536`` for every worker a Nanny starts
(``distributed.nanny.pre-spawn-environ``); scaleml's managed LocalCluster leaves it
out, as loky's workers do. This measures both on the dask backend, each variant in a
fresh process with its own managed cluster (the threshold is read when workers
start), rounds interleaved in a balanced order (A B, B A, B A, A B, ...: ``scaleml.bench.order``): fit time and the workers' peak RSS
(sampled every 50 ms) for three workloads of ``bench/dask_backend/tiny_fits.py``.
The "with" variant sets the threshold to 65537 in a Dask config file (a value the
user chose is kept; 65536 itself is what scaleml removes): the same allocator
behaviour as distributed's default.

    python bench/dask_backend/worker_allocator.py --rounds 3

Writes bench/results/worker-allocator.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = ["learning_curve_nb", "forest_permutation_importance", "repeated_cv_grid"]


def _one_process() -> None:
    """Run in a fresh process: each workload once on the managed cluster (after one warm-up)."""
    import threading
    import time

    import psutil

    sys.path.insert(0, str(HERE))
    import tiny_fits

    import scaleml

    backend = scaleml.backends.create_backend("dask")
    client = backend.cluster()
    workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
    out = {"worker_env": sorted(set(map(str, client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values())))}
    with scaleml.backend(backend):
        tiny_fits.learning_curve_nb()  # warm-up: imports on the workers
    for name in WORKLOADS:
        peak, stop = [0], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], sum(w.memory_info().rss for w in workers))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        with scaleml.backend(backend):
            start = time.perf_counter()
            getattr(tiny_fits, name)()
            seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
        out[name] = {"fit_s": seconds, "workers_peak_rss_mb": peak[0] / 2**20}
    print(json.dumps(out))
    backend.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(HERE.parent / "results" / "worker-allocator.json"))
    args = parser.parse_args()

    from scaleml import machine
    from scaleml.bench.order import balanced
    from scaleml.bench.results import write_json

    with tempfile.TemporaryDirectory() as config_dir:
        Path(config_dir, "trim.yaml").write_text(
            "distributed:\n  nanny:\n    pre-spawn-environ:\n      MALLOC_TRIM_THRESHOLD_: 65537\n")
        variants = {"glibc default (scaleml)": {}, "trim threshold 64 KiB (distributed's)": {"DASK_CONFIG": config_dir}}
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        for round_ in range(args.rounds):
            for label in balanced(list(variants), round_):
                env = variants[label]
                done = subprocess.run([sys.executable, __file__, "--one-process"], env={**os.environ, **env},
                                      capture_output=True, text=True, check=True)
                runs[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"round {round_ + 1}: {label}: " + ", ".join(
                    f"{w} {runs[label][-1][w]['fit_s']:.2f} s" for w in WORKLOADS), flush=True)
    summary = {w: {label: {key: statistics.median(r[w][key] for r in runs[label])
                           for key in ("fit_s", "workers_peak_rss_mb")} for label in variants} for w in WORKLOADS}
    labels = list(variants)
    print(f"\n{'workload':<32} " + " ".join(f"{lab[:24]:>26} {'peak MB':>8}" for lab in labels) + f" {'ratio':>6}")
    for w, by in summary.items():
        print(f"{w:<32} " + " ".join(f"{by[lab]['fit_s']:>26.3f} {by[lab]['workers_peak_rss_mb']:>8.0f}" for lab in labels)
              + f" {by[labels[1]]['fit_s'] / by[labels[0]]['fit_s']:>6.2f}")
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)), "rounds": args.rounds,
                          "summary": summary, "runs": runs})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if "--one-process" in sys.argv:
        _one_process()
    else:
        main()
