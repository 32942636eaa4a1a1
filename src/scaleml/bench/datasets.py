"""Generated data sets written to disk once, for out-of-core recipes and benchmarks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_CACHE = "SCALEML_CACHE"


def cache_dir() -> Path:
    """``$SCALEML_CACHE``, else ``~/.cache/scaleml``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "scaleml")


def _write(path: Path, rows: int, features: int, weights, seed: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features), dtype="float32")
    y = ((X @ weights + rng.standard_normal(rows, dtype="float32")) > 0).astype("int8")
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(features)])
    frame["label"] = y
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, row_group_size=min(rows, 50_000))
    tmp.replace(path)  # a half-written file never looks complete


def synthetic_parquet(files: int, rows_per_file: int, features: int, seed: int = 0) -> tuple[Path, Path]:
    """Parquet files of a linear classification problem: ``(train folder, test file)``.

    Written once under :func:`cache_dir` and reused; file ``i`` is the same for
    every ``files``, so a larger set extends a smaller one.
    """
    import numpy as np

    root = cache_dir() / f"linear-{rows_per_file}x{features}-seed{seed}"
    train = root / "train"
    train.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(seed).standard_normal(features).astype("float32")
    test = root / "test.parquet"
    if not test.exists():
        _write(test, rows_per_file, features, weights, seed + 1_000_003)
    for stale in train.glob("part-*.parquet"):
        if int(stale.stem.split("-")[1]) >= files:
            stale.unlink()  # keep exactly `files` files in the glob
    missing = [i for i in range(files) if not (train / f"part-{i:05d}.parquet").exists()]
    for n, i in enumerate(missing, 1):
        _write(train / f"part-{i:05d}.parquet", rows_per_file, features, weights, seed + i + 1)
        print(f"\rscaleml: generating data: file {n}/{len(missing)} in {root}", end="", file=sys.stderr, flush=True)
    if missing:
        size = sum(p.stat().st_size for p in root.rglob("*.parquet"))
        print(f"\nscaleml: {size / 2**30:.2f} GiB of generated data cached in {cache_dir()} (kept for the next "
              f"runs; delete the folder to free it, or set {ENV_CACHE} to keep it elsewhere)", file=sys.stderr, flush=True)
    return train, test
