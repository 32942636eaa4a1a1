"""KMeans and PCA on a persisted Dask array: scaleml vs scikit-learn in memory (and dask-ml).

Issue #32's targets, on one machine: ``scaleml.cluster.KMeans(8, n_init=1)`` within
1.5x scikit-learn's ``KMeans(8, n_init=1)`` wall time, ``scaleml.decomposition.PCA(5)``
within 1.5x scikit-learn's default ``PCA(5)`` (its covariance eigen-solver for tall
data), scaleml's input a Dask array persisted in this process (threads) before the
clock starts; scikit-learn's the same rows as one NumPy array.

Every run is a subprocess of its own (the data loaded from a cached ``.npy``, a fit on
a few rows to pay imports and first calls, the data made a persisted Dask array for
scaleml and dask-ml, then the fit alone timed), so peak RSS is the run's own (the
kernel's high-water mark, ``peak MiB``, and the fit's growth over the memory resident
just before it, ``fit +MiB``); wall and CPU seconds (every thread of the run) are
measured around the fit. Rounds interleave the variants in a balanced order
(``scaleml.bench.order.balanced``: what ran just before a run matters on a small
machine); round 0 warms the page cache and is not counted; medians of the rest,
and the bootstrap interval of scikit-learn's median over each variant's
(``scaleml.bench.stats.ratio_interval``, > 1 means the variant is slower). Results
are compared with scikit-learn's (inertia, explained variance).

    python bench/out_of_core/kmeans_pca.py                 # 500k x 20 and 1M x 20, both workloads
    python bench/out_of_core/kmeans_pca.py --scale         # and 5M x 20 (PCA also 5M x 50)
    python bench/out_of_core/kmeans_pca.py --files --no-dask-ml --sizes 500000x20 --scale  # and Parquet files

``--files`` adds the variant ``scaleml-files``: the same rows written as Parquet files
(files of ``--rows-per-chunk`` rows, row groups of a quarter of that) and fitted from
the folder's path, never loaded whole; its peak RSS against the rows shows whether
memory stays flat as the data grow (the files are written by the parent, not counted).
    python bench/out_of_core/kmeans_pca.py --sizes 20000x20 --rounds 1 --no-save   # a smoke run

Writes bench/results/kmeans-pca.json (unless --no-save) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
WORKLOADS = ("kmeans", "pca")


# -- one run, in a subprocess of its own ----------------------------------------------------------------------


def _fit(workload: str, variant: str, X, rows_per_chunk: int):
    """The fit to time for ``variant``, as a function of no arguments, and its input."""
    if variant == "sklearn":
        import sklearn.cluster
        import sklearn.decomposition

        if workload == "kmeans":
            return lambda: sklearn.cluster.KMeans(8, n_init=1, random_state=0).fit(X)
        return lambda: sklearn.decomposition.PCA(5).fit(X)
    import dask
    import dask.array as da

    # Persisted here, before timing: what the issue measures ("data persisted as a Dask array").
    (Xd,) = dask.persist(da.from_array(X, chunks=(rows_per_chunk, -1)), scheduler="threads")
    if variant == "scaleml":
        from scaleml.cluster import KMeans
        from scaleml.decomposition import PCA

        model = KMeans(8, n_init=1, random_state=0) if workload == "kmeans" else PCA(5)
    else:
        import dask_ml.cluster
        import dask_ml.decomposition

        model = (dask_ml.cluster.KMeans(8, random_state=0) if workload == "kmeans"
                 else dask_ml.decomposition.PCA(5))
    return lambda: model.fit(Xd)


def _result(workload: str, model) -> dict:
    if workload == "kmeans":
        return {"inertia": float(model.inertia_)}
    return {"explained_variance": [float(v) for v in model.explained_variance_]}


def _fit_files(workload: str, folder: str):
    """scaleml's fit on the Parquet files in ``folder``, read block by block."""
    from scaleml.cluster import KMeans
    from scaleml.decomposition import PCA

    model = KMeans(8, n_init=1, random_state=0) if workload == "kmeans" else PCA(5)
    return lambda: model.fit(folder)


def run_one(workload: str, variant: str, path: str, rows_per_chunk: int) -> dict:
    """Load, prepare, then time one fit: wall and CPU seconds, peak RSS (MiB), the result."""
    if variant == "scaleml-files":
        return _timed(workload, _fit_files(workload, str(Path(path).with_suffix("") / "small")),
                      _fit_files(workload, str(Path(path).with_suffix("") / "all")))
    X = np.load(path)
    # A fit on a few rows first, untimed: imports and first-call costs are not what is compared.
    small = min(len(X), 4 * max(1_000, rows_per_chunk // 100))
    warm_up = _fit(workload, variant, X[:small].copy(), max(1, small // 4))
    return _timed(workload, warm_up, _fit(workload, variant, X, rows_per_chunk))


def _timed(workload: str, warm_up, fit) -> dict:
    """``warm_up()`` untimed, then ``fit()`` timed, with the process's peak RSS.

    The peak is the kernel's high-water mark of this process (``VmHWM``, which starts
    afresh at ``exec``; ``ru_maxrss`` would carry the parent's peak across it):
    loading and the warm-up up to the fit, then the fit's own growth on top of the
    resident memory just before it (``scaleml.bench.memory.peak_growth``).
    """
    from scaleml.bench.memory import peak_growth, resident

    warm_up()
    before, peak_before = resident()
    cpu, wall = time.process_time(), time.perf_counter()
    model, growth = peak_growth(fit)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = max(peak_before, before + growth)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": peak / 2**20, "rss_before_fit_mib": before / 2**20,
            "fit_growth_mib": growth / 2**20, **_result(workload, model)}


# -- the parent: data, interleaved rounds, summary --------------------------------------------------------------


def make_data(workload: str, rows: int, features: int, folder: Path) -> str:
    """Generate once, cache as .npy (each run loads it)."""
    path = folder / f"{workload}-{rows}x{features}.npy"
    if not path.exists():
        if workload == "kmeans":
            from sklearn.datasets import make_blobs

            X = make_blobs(rows, features, centers=8, cluster_std=2.0, random_state=0)[0]
        else:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((rows, features)) * np.linspace(1.0, 5.0, features)
        np.save(path, X)
    return str(path)


def write_files(path: str, rows_per_chunk: int) -> None:
    """The rows of ``path`` (.npy) as Parquet files beside it: ``all/`` (files of
    ``rows_per_chunk`` rows) and ``small/`` (the first file's first rows, the warm-up)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(path).with_suffix("")
    if (folder / "all").exists():
        return
    X = np.load(path, mmap_mode="r")
    names = [f"f{j}" for j in range(X.shape[1])]
    (folder / "all").mkdir(parents=True)
    (folder / "small").mkdir()
    for number, start in enumerate(range(0, len(X), rows_per_chunk)):
        block = np.ascontiguousarray(X[start:start + rows_per_chunk])
        table = pa.table({name: block[:, j] for j, name in enumerate(names)})
        pq.write_table(table, folder / "all" / f"part-{number:04d}.parquet", row_group_size=max(1, rows_per_chunk // 4))
        if number == 0:
            small = min(len(block), 4 * max(1_000, rows_per_chunk // 100))
            pq.write_table(table.slice(0, small), folder / "small" / "part-0000.parquet")


def _spawn(workload: str, variant: str, path: str, rows_per_chunk: int) -> dict:
    command = [sys.executable, __file__, "--one", workload, variant, path, str(rows_per_chunk)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{workload} {variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(workload: str, path: str, variants: list[str], rounds: int, rows_per_chunk: int) -> dict:
    """``rounds`` counted rounds (after one warm-up), variants in a balanced order each round."""
    from scaleml.bench.order import balanced

    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for round_ in range(rounds + 1):
        for variant in balanced(list(variants), round_):
            result = _spawn(workload, variant, path, rows_per_chunk)
            if round_:
                runs[variant].append(result)
            print(f"  round {round_}{' (warm-up)' if not round_ else ''}: {variant:<13} "
                  f"{result['wall_s']:.3f} s wall, {result['cpu_s']:.3f} s CPU", flush=True)
    return runs


def summarize(workload: str, runs: dict[str, list[dict]]) -> dict:
    """Medians per variant, the ratio to scikit-learn with its interval, and the results' agreement."""
    from scaleml.bench.stats import ratio_interval

    reference = runs["sklearn"]
    summary = {}
    for variant, results in runs.items():
        walls = [r["wall_s"] for r in results]
        low, high = ratio_interval(walls, [r["wall_s"] for r in reference])
        summary[variant] = {
            "wall_s": statistics.median(walls), "cpu_s": statistics.median(r["cpu_s"] for r in results),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
            "fit_growth_mib": max(r["fit_growth_mib"] for r in results),
            "wall_over_sklearn": statistics.median(walls) / statistics.median(r["wall_s"] for r in reference),
            "wall_over_sklearn_interval": [low, high], "agreement": _agreement(workload, results[-1], reference[-1]),
        }
    return summary


def _agreement(workload: str, result: dict, reference: dict) -> float:
    """Inertia / scikit-learn's (KMeans), or the largest relative explained-variance gap (PCA)."""
    if workload == "kmeans":
        return result["inertia"] / reference["inertia"]
    ours, theirs = np.asarray(result["explained_variance"]), np.asarray(reference["explained_variance"])
    return float(np.max(np.abs(ours - theirs) / theirs))


def _sizes(args) -> list[tuple[int, int]]:
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    if args.scale:
        sizes.append((5_000_000, 20))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["500000x20", "1000000x20"], help="ROWSxFEATURES")
    parser.add_argument("--scale", action="store_true", help="also 5M x 20 (and 5M x 50 for PCA)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows-per-chunk", type=int, default=100_000)
    parser.add_argument("--no-dask-ml", action="store_true", help="leave dask-ml out (it is slow at 5M rows)")
    parser.add_argument("--out", default=str(RESULTS / "kmeans-pca.json"))
    parser.add_argument("--files", action="store_true", help="also scaleml on Parquet files (variant scaleml-files)")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--one", nargs=4, metavar=("WORKLOAD", "VARIANT", "PATH", "ROWS_PER_CHUNK"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        workload, variant, path, rows_per_chunk = args.one
        print(json.dumps(run_one(workload, variant, path, int(rows_per_chunk))))
        return
    run_all(args)


def _variants() -> list[str]:
    try:
        import dask_ml  # noqa: F401
    except ImportError:
        return ["sklearn", "scaleml"]
    return ["sklearn", "scaleml", "dask-ml"]


def run_all(args) -> None:
    variants = ["sklearn", "scaleml"] if args.no_dask_ml else _variants()
    if args.files:
        variants.append("scaleml-files")
    cases = [(w, rows, features) for rows, features in _sizes(args) for w in args.workloads]
    if args.scale and "pca" in args.workloads:
        cases.append(("pca", 5_000_000, 50))
    report = {}
    with tempfile.TemporaryDirectory(prefix="scaleml-kmeans-pca-") as folder:
        for workload, rows, features in cases:
            name = f"{workload} {rows}x{features}"
            print(f"{name}: {', '.join(variants)}", flush=True)
            path = make_data(workload, rows, features, Path(folder))
            if "scaleml-files" in variants:
                write_files(path, args.rows_per_chunk)
            runs = measure(workload, path, variants, args.rounds, args.rows_per_chunk)
            report[name] = {"summary": summarize(workload, runs), "runs": runs}
    _print_table(report)
    if not args.no_save:
        from scaleml import machine
        from scaleml.bench.results import write_json

        write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                              "rounds": args.rounds, "rows_per_chunk": args.rows_per_chunk, "cases": report})
        print(f"wrote {args.out}")


def _print_table(report: dict) -> None:
    print(f"\n{'case':<22} {'variant':<13} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'fit +MiB':>9} {'x sklearn':>10} "
          f"{'interval':>15} {'agreement':>10}")
    for name, case in report.items():
        for variant, s in case["summary"].items():
            low, high = s["wall_over_sklearn_interval"]
            print(f"{name:<22} {variant:<13} {s['wall_s']:>8.3f} {s['cpu_s']:>8.3f} {s['peak_rss_mib']:>9.0f} "
                  f"{s['fit_growth_mib']:>9.0f} {s['wall_over_sklearn']:>10.2f} {f'{low:.2f}-{high:.2f}':>15} {s['agreement']:>10.4g}")


if __name__ == "__main__":
    main()
