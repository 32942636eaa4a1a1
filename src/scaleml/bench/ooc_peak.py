"""Peak memory of out-of-core fits on Parquet files, each fit in a fresh process.

Used by ``bench/out_of_core/peak_rss.py`` and ``tests/test_out_of_core_memory.py``::

    python -m scaleml.bench.ooc_peak generate ROOT --rows 2400000     # numeric/, mixed/, holdout.parquet
    python -m scaleml.bench.ooc_peak fit pca ROOT --budget 16777216   # one JSON line

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


def generate(root: Path, rows: int) -> dict:
    """``root/numeric`` and ``root/mixed`` (:data:`FILES` files each, ``rows`` rows in all;
    row groups of 25,000 and 50,000 rows) and ``root/holdout.parquet``; returns and writes
    ``root/sizes.json``: each set's bytes as pandas holds it in memory."""
    import numpy as np

    sizes = {"numeric": 0, "mixed": 0, "rows": rows}
    centres = np.random.default_rng(0).normal(scale=8.0, size=(4, len(FEATURES)))
    for name in ("numeric", "mixed"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(FILES):
        rng = np.random.default_rng(i + 1)
        numeric = _numeric(rng, rows // FILES, centres)
        numeric.to_parquet(root / "numeric" / f"part-{i}.parquet", row_group_size=25_000)
        sizes["numeric"] += int(numeric.memory_usage(deep=True, index=False).sum())
        del numeric
        mixed = _mixed(rng, rows // FILES)
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
    from scaleml import Scaled

    return Scaled(estimator, backend="dask-ml", max_in_memory_bytes=budget)


def _summary(workload: str, model: Any, root: Path) -> dict:
    """What the fit found, to compare with scikit-learn's in memory."""
    fitted = getattr(model, "estimator_", model)
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

    from .memory import peak_growth

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
    data = sizes["mixed" if workload.endswith(("sgd", "ct")) else "numeric"]
    plan = getattr(model, "plan_", None)
    return {"workload": workload, "growth_mib": growth / 2**20, "data_mib": data / 2**20,
            "ratio": growth / data, "float64_mib": sizes["rows"] * (len(FEATURES) + workload.endswith(("sgd", "ct")))
            * 8 / 2**20, "seconds": seconds,
            "routes": [(p.step, p.engine, p.route.name) for p in plan] if plan else None,
            **_summary(workload, model, root)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scaleml.bench.ooc_peak", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("generate", help="write the Parquet files")
    make.add_argument("root", type=Path)
    make.add_argument("--rows", type=int, default=2_400_000)
    run = commands.add_parser("fit", help="one fit, its peak RSS growth as one JSON line")
    run.add_argument("workload", choices=WORKLOADS)
    run.add_argument("root", type=Path)
    run.add_argument("--budget", type=int, default=None, help="max_in_memory_bytes (default: the backend's)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        print(json.dumps(generate(args.root, args.rows)))
    else:
        print(json.dumps(fit(args.workload, args.root, args.budget)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
