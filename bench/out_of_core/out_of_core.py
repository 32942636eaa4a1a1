"""Out-of-core partial_fit on Parquet: scaleml dask-ml vs the plain loop vs dask-ml.

Each variant runs in its own subprocess; the parent samples the peak RSS of that
subprocess and every process it starts (Dask scheduler and workers included),
and the variants' repeats are interleaved. Data: N Parquet files of 250,000 x 50
float32 rows plus an int8 label (row groups of 50,000), and one held-out file.

    python bench/out_of_core/out_of_core.py --sizes 30,120 --repeat 2 --data /tmp/scaleml-ooc

Writes bench/results/out-of-core.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROWS, FEATURES = 250_000, 50
VARIANTS = ("plain-loop", "scaleml-dask-ml", "dask-ml-incremental")


def _write(path: Path, rng, weights) -> None:
    import pandas as pd

    X = rng.standard_normal((ROWS, FEATURES), dtype="float32")
    y = ((X @ weights + rng.standard_normal(ROWS, dtype="float32")) > 0).astype("int8")
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(FEATURES)])
    frame["label"] = y
    frame.to_parquet(path, row_group_size=50_000)


def generate(root: Path, files: int) -> Path:
    """``root/<files>/train/*.parquet`` and ``root/holdout.parquet`` (made once)."""
    import numpy as np

    rng = np.random.default_rng(0)
    weights = rng.standard_normal(FEATURES).astype("float32")
    holdout = root / "holdout.parquet"
    root.mkdir(parents=True, exist_ok=True)
    if not holdout.exists():
        _write(holdout, np.random.default_rng(12345), weights)
    train = root / str(files) / "train"
    train.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        path = train / f"part-{i:04d}.parquet"
        if not path.exists():
            _write(path, np.random.default_rng(i), weights)
    return train


def run_variant(variant: str, train: Path, holdout: Path, worker_memory: str) -> dict:
    """In the subprocess: fit on ``train``, report rows/s and held-out accuracy."""
    import pandas as pd
    from sklearn.linear_model import SGDClassifier

    paths = sorted(train.glob("*.parquet"))
    rows = ROWS * len(paths)
    start = time.perf_counter()
    if variant == "plain-loop":
        model = SGDClassifier(random_state=0)
        for path in paths:
            frame = pd.read_parquet(path)
            model.partial_fit(frame.drop(columns="label").to_numpy(), frame["label"].to_numpy(), classes=[0, 1])
    elif variant == "scaleml-dask-ml":
        from scaleml import Scaled

        model = Scaled(
            SGDClassifier(random_state=0), backend="dask-ml", n_workers=2, memory_limit=worker_memory,
            block_bytes=os.environ.get("OOC_BLOCK_BYTES", "32MiB"),
        ).fit(str(train / "*.parquet"), "label")
    else:
        import dask.dataframe as dd
        from dask_ml.wrappers import Incremental
        from distributed import Client, LocalCluster

        with LocalCluster(
            n_workers=2, threads_per_worker=1, memory_limit=worker_memory, dashboard_address=None
        ) as cluster, Client(cluster):
            frame = dd.read_parquet(str(train / "*.parquet"))
            Xd = frame.drop(columns="label").to_dask_array(lengths=True)
            yd = frame["label"].to_dask_array(lengths=True)
            model = Incremental(SGDClassifier(random_state=0)).fit(Xd, yd, classes=[0, 1]).estimator_
    seconds = time.perf_counter() - start
    test = pd.read_parquet(holdout)
    accuracy = model.score(test.drop(columns="label").to_numpy(), test["label"].to_numpy())
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "accuracy": float(accuracy)}


def measure(variant: str, train: Path, holdout: Path, worker_memory: str, timeout: float) -> dict:
    """Run one variant in a subprocess, sampling its process tree's peak RSS."""
    from scaleml.bench.memory import run_measured

    command = [sys.executable, __file__, "--child", variant, str(train), str(holdout), worker_memory]
    result, _ = run_measured(command, timeout)
    return {"variant": variant, **result}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        variant, train, holdout, worker_memory = sys.argv[2:6]
        print(json.dumps(run_variant(variant, Path(train), Path(holdout), worker_memory)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30,120", help="numbers of training files")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--data", default="/tmp/scaleml-ooc")
    parser.add_argument("--worker-memory", default="300MiB")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", default="bench/results/out-of-core.json")
    args = parser.parse_args()

    from scaleml import machine
    from scaleml.bench.results import write_json

    root = Path(args.data)
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = args.variants.split(",")
    trains = {n: generate(root, n) for n in sizes}
    runs = []
    for repeat in range(args.repeat):
        for n in sizes:
            for variant in variants:
                result = measure(variant, trains[n], root / "holdout.parquet", args.worker_memory, args.timeout)
                result.update(files=n, repeat=repeat, gb_on_disk=sum(p.stat().st_size for p in trains[n].iterdir()) / 1e9)
                runs.append(result)
                shown = f"{result['rows_per_s'] / 1e6:.2f} M rows/s, accuracy {result['accuracy']:.4f}" if "rows_per_s" in result else f"FAILED: {result['error']}"
                print(f"[{repeat + 1}/{args.repeat}] {n:4d} files {variant:<20} peak {result['peak_rss_mb']:7.0f} MB  {shown}", flush=True)
    summary = []
    for n in sizes:
        for variant in variants:
            rows = [r for r in runs if r["files"] == n and r["variant"] == variant]
            ok = [r for r in rows if "rows_per_s" in r]
            summary.append({
                "files": n, "variant": variant, "runs": len(rows), "failed": len(rows) - len(ok),
                "rows_per_s_median": statistics.median(r["rows_per_s"] for r in ok) if ok else None,
                "peak_rss_mb_max": max(r["peak_rss_mb"] for r in rows),
                "accuracy": statistics.median(r["accuracy"] for r in ok) if ok else None,
            })
    print(f"\n{'files':>5}  {'variant':<20} {'M rows/s':>9} {'peak RSS MB':>12} {'accuracy':>9}")
    for s in summary:
        rate = f"{s['rows_per_s_median'] / 1e6:.2f}" if s["rows_per_s_median"] else "failed"
        acc = f"{s['accuracy']:.4f}" if s["accuracy"] is not None else "-"
        print(f"{s['files']:>5}  {s['variant']:<20} {rate:>9} {s['peak_rss_mb_max']:>12.0f} {acc:>9}")
    record = {
        "what": "out-of-core SGDClassifier partial_fit on Parquet; peak RSS of the whole process tree",
        **machine.provenance(machine.script_command("bench/out_of_core/out_of_core.py")),
        "worker_memory_limit": args.worker_memory,
        "rows_per_file": ROWS, "features": FEATURES,
        "summary": summary, "runs": runs,
    }
    print(f"wrote {write_json(args.out, record)}")


if __name__ == "__main__":
    main()
