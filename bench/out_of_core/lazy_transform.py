"""fit_transform on a Dask array larger than a memory budget: streamed and lazy, or loaded whole?

``Scaled(StandardScaler(), backend="dask-ml").fit_transform(X)`` on a Dask array
of ``--data-gib`` GiB (generated block by block, never held whole) returns a lazy
Dask array; the variant then consumes it block by block (column sums). The floor
it is compared with is what the backend did before: compute X into one NumPy
array and run scikit-learn on it. Each variant runs in its own subprocess, whose
process tree's peak RSS is sampled; repeats are interleaved.

    python bench/out_of_core/lazy_transform.py --data-gib 3 --budget-gib 1 --repeat 2

Writes bench/results/lazy-transform.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FEATURES, CHUNK_ROWS = 64, 250_000  # 122 MiB blocks
VARIANTS = ("scaleml-dask-ml", "compute-then-sklearn")


def _data(gib: float):
    import dask.array as da

    rows = int(gib * 2**30 / (FEATURES * 8))
    return da.random.RandomState(0).standard_normal((rows, FEATURES), chunks=(CHUNK_ROWS, FEATURES))


def run_variant(variant: str, gib: float) -> dict:
    """In the subprocess: fit_transform, then consume the result; report time and a checksum."""
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    X = _data(gib)
    start = time.perf_counter()
    if variant == "scaleml-dask-ml":
        from scaleml import Scaled

        out = Scaled(StandardScaler(), backend="dask-ml").fit_transform(X)
        lazy = type(out).__module__.startswith("dask")
        checksum = out.sum(axis=0).compute(scheduler="threads")
    else:
        out = StandardScaler().fit_transform(X.compute(scheduler="threads"))
        lazy = False
        checksum = out.sum(axis=0)
    return {"seconds": time.perf_counter() - start, "lazy_result": lazy,
            "checksum": float(np.abs(checksum).max()), "rows": int(X.shape[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-gib", type=float, default=3.0)
    parser.add_argument("--budget-gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # the subprocess's own run
    parser.add_argument("--out", default=str(HERE.parent / "results" / "lazy-transform.json"))
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.data_gib)))
        return

    from scaleml import machine
    from scaleml.bench.memory import run_measured
    from scaleml.bench.results import write_json

    variants = args.variants.split(",")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for _ in range(args.repeat):  # interleaved: A B A B ...
        for variant in variants:
            command = [sys.executable, __file__, "--variant", variant, "--data-gib", str(args.data_gib)]
            result, _ = run_measured(command, timeout=3600)
            runs[variant].append(result)
            print(f"  {variant}: {result}", flush=True)
    budget_mb = args.budget_gib * 1024
    print(f"\n{args.data_gib:g} GiB of float64 data, memory budget {budget_mb:.0f} MB")
    print(f"{'variant':<22} {'median s':>9} {'peak RSS MB':>12} {'peak / budget':>14} {'lazy result':>12}")
    summary = {}
    for variant, results in runs.items():
        ok = [r for r in results if r["exit_code"] == 0]
        if not ok:
            print(f"{variant:<22} failed: {results[-1].get('error')}")
            continue
        peak = max(r["peak_rss_mb"] for r in ok)
        summary[variant] = {"median_s": statistics.median(r["seconds"] for r in ok), "peak_rss_mb": peak,
                            "peak_over_budget": peak / budget_mb, "lazy_result": ok[0]["lazy_result"],
                            "checksum": ok[0]["checksum"]}
        s = summary[variant]
        print(f"{variant:<22} {s['median_s']:>9.2f} {peak:>12.0f} {s['peak_over_budget']:>14.2f} {str(s['lazy_result']):>12}")
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "data_gib": args.data_gib, "budget_gib": args.budget_gib, "summary": summary, "runs": runs})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
