"""Peak RSS growth of out-of-core fits on Parquet files against the data's size (issue #36).

Each fit runs in a fresh process (peak RSS minus RSS after imports, just before the
fit: ``scaleml.bench.memory.peak_growth``), and the data are generated in another::

    python bench/out_of_core/peak_rss.py run --rows 3200000 --root /tmp/peak-rss   # the table
    python bench/out_of_core/peak_rss.py run --rows 40000 --root /tmp/peak-rss-smoke # a smoke run
    python bench/out_of_core/peak_rss.py generate ROOT --rows 2400000   # numeric/, mixed/, holdout.parquet
    python bench/out_of_core/peak_rss.py fit pca ROOT --budget 16777216 # one fit, one JSON line

``tests/test_out_of_core_memory.py`` runs the ``generate`` and ``fit`` commands.

Data are generated in one process and fitted in another, so the generation's
memory never counts. The fits (:data:`WORKLOADS`) are the three of issue #36:
``Scaled(PCA(3), backend="dask-ml")`` and ``scaleml.cluster.KMeans(4)`` on 10
float64 columns (four separated blobs), and a ``ColumnTransformer`` (one-hot
colour, scaled numbers, by name) + ``SGDClassifier`` pipeline on the mixed files;
``sklearn-*`` are scikit-learn's fits of the same rows read whole with pandas (the
peer); ``loaded-*`` load the input whole through the ``dask-ml`` backend (a budget
that fits), which measures the factor of loading whole.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

FEATURES = [f"f{j}" for j in range(10)]
COLORS = ("red", "green", "blue", "amber", "violet")
FILES = 8


def _numeric(rng: Any, rows: int, centres: Any) -> Any:
    import numpy as np
    import pandas as pd

    X = centres[rng.integers(0, len(centres), rows)] + rng.standard_normal((rows, len(FEATURES)))
    return pd.DataFrame(X.astype(np.float64), columns=FEATURES)


def _mixed(rng: Any, rows: int) -> Any:
    import numpy as np
    import pandas as pd

    X = rng.standard_normal((rows, len(FEATURES)))
    frame = pd.DataFrame(X, columns=FEATURES)
    codes = rng.integers(0, len(COLORS), rows)
    frame["color"] = np.array(COLORS)[codes]
    frame["label"] = (X[:, 0] + X[:, 1] + (codes == 0) + 0.3 * rng.standard_normal(rows) > 0.5).astype("int64")
    return frame


def generate(root: Path, rows: int, mixed_rows: int | None = None) -> dict:
    """``root/numeric`` (``rows`` rows in all) and ``root/mixed`` (``mixed_rows``, default
    ``rows``), :data:`FILES` files each with row groups of 25,000 and 50,000 rows, and
    ``root/holdout.parquet``; returns and writes ``root/sizes.json``: each set's bytes
    as pandas holds it in memory."""
    import numpy as np

    mixed_rows = mixed_rows or rows
    sizes = {"numeric": 0, "mixed": 0, "rows": rows, "mixed_rows": mixed_rows}
    centres = np.random.default_rng(0).normal(scale=8.0, size=(4, len(FEATURES)))
    for name in ("numeric", "mixed"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(FILES):
        rng = np.random.default_rng(i + 1)
        numeric = _numeric(rng, rows // FILES, centres)
        numeric.to_parquet(root / "numeric" / f"part-{i}.parquet", row_group_size=25_000)
        sizes["numeric"] += int(numeric.memory_usage(deep=True, index=False).sum())
        del numeric
        mixed = _mixed(rng, mixed_rows // FILES)
        mixed.to_parquet(root / "mixed" / f"part-{i}.parquet", row_group_size=50_000)
        sizes["mixed"] += int(mixed.memory_usage(deep=True, index=False).sum())
    _mixed(np.random.default_rng(10_000), 50_000).to_parquet(root / "holdout.parquet")
    (root / "sizes.json").write_text(json.dumps(sizes))
    return sizes


def _pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer([("color", OneHotEncoder(), ["color"]), ("numbers", StandardScaler(), FEATURES)])
    return make_pipeline(columns, SGDClassifier(random_state=0))


def _scaled(estimator: Any, budget: int | None) -> Any:
    from scaleml import Scaled  # noqa: PLC0415

    return Scaled(estimator, backend="dask-ml", max_in_memory_bytes=budget)


def _summary(workload: str, model: Any, root: Path) -> dict:
    """What the fit found, to compare with scikit-learn's in memory."""
    fitted = getattr(model, "estimator_", model)
    if workload == "loaded-ct":
        return {}
    if workload.endswith("pca"):
        return {"components": fitted.components_.tolist()}
    if workload.endswith("kmeans"):
        return {"inertia": float(fitted.inertia_)}
    import pandas as pd

    holdout = pd.read_parquet(root / "holdout.parquet")
    return {"score": float(model.score(holdout.drop(columns=["label"]), holdout["label"]))}


def _fit(workload: str, root: Path, budget: int | None) -> Any:
    """The fit of ``workload`` as a function of no arguments."""
    import pandas as pd
    import sklearn.cluster
    import sklearn.decomposition

    import scaleml.cluster

    numeric, mixed = str(root / "numeric"), str(root / "mixed")
    if workload == "pca":
        return lambda: _scaled(sklearn.decomposition.PCA(3), budget).fit(numeric)
    if workload == "kmeans":
        return lambda: scaleml.cluster.KMeans(4, random_state=0).fit(numeric)
    if workload == "sgd":
        return lambda: _scaled(_pipeline(), budget).fit(mixed, "label")
    if workload == "loaded-pca":
        return lambda: _scaled(sklearn.decomposition.PCA(3), 2**50).fit(numeric)
    if workload == "loaded-kmeans":
        return lambda: _scaled(sklearn.cluster.KMeans(4, random_state=0, n_init=1), 2**50).fit(numeric)
    if workload == "loaded-ct":
        return lambda: _scaled(_pipeline()[0], 2**50).fit(mixed, "label")
    if workload == "sklearn-pca":
        return lambda: sklearn.decomposition.PCA(3).fit(pd.read_parquet(numeric).to_numpy())
    if workload == "sklearn-kmeans":
        return lambda: sklearn.cluster.KMeans(4, random_state=0, n_init=1).fit(pd.read_parquet(numeric).to_numpy())
    if workload == "sklearn-sgd":
        def fit() -> Any:
            frame = pd.read_parquet(mixed)
            return _pipeline().fit(frame.drop(columns=["label"]), frame["label"])
        return fit
    raise SystemExit(f"unknown workload {workload!r}; one of {', '.join(WORKLOADS)}")


WORKLOADS = ("pca", "kmeans", "sgd", "loaded-pca", "loaded-kmeans", "loaded-ct",
             "sklearn-pca", "sklearn-kmeans", "sklearn-sgd")


def fit(workload: str, root: Path, budget: int | None) -> dict:
    """In a fresh process: the fit's peak RSS growth, the data's size and what it found."""
    import time

    from scaleml.bench.memory import peak_growth

    import dask.dataframe  # noqa: F401  imports paid before the baseline, as a script pays them
    import pyarrow.parquet  # noqa: F401
    import sklearn.compose  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import scaleml.backends.dask_ml.backend  # noqa: F401

    sizes = json.loads((root / "sizes.json").read_text())
    run = _fit(workload, root, budget)
    start = time.perf_counter()
    model, growth = peak_growth(run)
    seconds = time.perf_counter() - start
    mixed = workload.endswith(("sgd", "ct"))
    data, rows = (sizes["mixed"], sizes.get("mixed_rows", sizes["rows"])) if mixed else (sizes["numeric"], sizes["rows"])
    plan = getattr(model, "plan_", None)
    return {"workload": workload, "growth_mib": growth / 2**20, "data_mib": data / 2**20,
            "ratio": growth / data, "float64_mib": rows * (len(FEATURES) + mixed) * 8 / 2**20, "seconds": seconds,
            "routes": [(p.step, p.engine, p.route.name) for p in plan] if plan else None,
            **_summary(workload, model, root)}


TABLE = (("pca", "sklearn-pca"), ("kmeans", "sklearn-kmeans"), ("sgd", "sklearn-sgd"))
FACTORS = ("loaded-pca", "loaded-kmeans", "loaded-ct")


def _child(*args: str) -> dict:
    import subprocess

    run = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if run.returncode:
        return {"error": (run.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def run_all(root: Path, rows: int, budget: int, factors: bool) -> None:
    """Generate (once per size), then every fit in a process of its own; print the table."""
    if not (root / "sizes.json").exists() or json.loads((root / "sizes.json").read_text())["rows"] != rows:
        _child("generate", str(root), "--rows", str(rows))
    print(f"{'fit':<16}{'data MiB':>10}{'peak growth MiB':>17}{'x data':>8}  peer (scikit-learn in memory)")
    for ours, peer in TABLE:
        a, b = _child("fit", ours, str(root), "--budget", str(budget)), _child("fit", peer, str(root))
        if "error" in a or "error" in b:
            print(f"{ours:<16} failed: {a.get('error') or b.get('error')}")
            continue
        print(f"{ours:<16}{a['data_mib']:>10.0f}{a['growth_mib']:>17.0f}{a['ratio']:>8.2f}  "
              f"{b['growth_mib']:.0f} MiB ({b['ratio']:.2f}x)")
    if factors:  # the factor of loading whole: growth per MiB of the input as float64
        for name in FACTORS:
            result = _child("fit", name, str(root))
            print(f"{name:<16} growth {result.get('growth_mib', 0):.0f} MiB = "
                  f"{result.get('growth_mib', 0) / result.get('float64_mib', 1):.2f} x the input as float64")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    table = commands.add_parser("run", help="generate, then every fit and its peer; print the table")
    table.add_argument("--root", type=Path, default=Path("/tmp/scaleml-peak-rss"))
    table.add_argument("--rows", type=int, default=3_200_000)
    table.add_argument("--budget", type=int, default=2**24, help="max_in_memory_bytes of the dask-ml fits")
    table.add_argument("--factors", action="store_true", help="also the factor of loading whole per estimator")
    make = commands.add_parser("generate", help="write the Parquet files")
    make.add_argument("root", type=Path)
    make.add_argument("--rows", type=int, default=2_400_000)
    make.add_argument("--mixed-rows", type=int, default=None, help="rows of the mixed files (default: --rows)")
    run = commands.add_parser("fit", help="one fit, its peak RSS growth as one JSON line")
    run.add_argument("workload", choices=WORKLOADS)
    run.add_argument("root", type=Path)
    run.add_argument("--budget", type=int, default=None, help="max_in_memory_bytes (default: the backend's)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run_all(args.root, args.rows, args.budget, args.factors)
    elif args.command == "generate":
        print(json.dumps(generate(args.root, args.rows, args.mixed_rows)))
    else:
        print(json.dumps(fit(args.workload, args.root, args.budget)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
