"""The per-block functions that turn a lazy input into ``(X_block, y_block)`` parts.

They run where the blocks are read (Dask workers or threads here) and check,
block by block, what cannot be checked before reading: that X and y pair up.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exceptions import DataError


def frame_part_to_xy(part: Any, y_column: str | None, frames: bool = False) -> tuple[Any, Any]:
    """On a worker: one pandas partition to ``(X, y)``, X as NumPy (or the DataFrame with ``frames``)."""
    y = part[y_column].to_numpy() if y_column is not None else None
    X = part.drop(columns=[y_column]) if y_column is not None else part
    return (X if frames else X.to_numpy()), y


def frame_and_target(part: Any, target: Any, frames: bool = False) -> tuple[Any, Any]:
    """On a worker: one partition and its targets to NumPy ``(X, y)``, checked to pair up."""
    y = np.asarray(target)
    if len(y) != len(part):
        raise DataError(
            f"A partition of X has {len(part)} rows but its targets have {len(y)}: X and y have as many "
            "partitions but different row boundaries. Take both from one DataFrame "
            "(X, y = df[features], df['label']), or pass y as the target column's name."
        )
    return (part if frames else part.to_numpy()), y


def unique_targets(y: Any) -> Any:
    import dask.array as da

    return da.unique(y)


def checked_pair(x: Any, y: Any) -> tuple[Any, Any]:
    """On a worker: a block of X and its targets, checked to have as many rows."""
    if y is not None and len(y) != len(x):
        raise DataError(
            f"A block of X has {len(x)} rows but its targets have {len(y)}: X and y must be cut alike "
            "(split them together, e.g. with scaleml.model_selection.train_test_split(X, y))."
        )
    return x, y


def align(X: Any, y: Any) -> tuple[Any, Any]:
    """Rechunk ``y`` to ``X``'s row blocks, learning unknown block sizes if needed.

    Unknown sizes (arrays made from DataFrames) cost one pass over the data to
    learn; the alternative is refusing an input users make every day.
    """
    if any(math.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if any(math.isnan(c) for c in y.chunks[0]):
        y = y.compute_chunk_sizes()
    if X.shape[0] != y.shape[0]:
        raise DataError(f"X has {X.shape[0]} rows but y has {y.shape[0]}; they must match.")
    return X, y.rechunk((X.chunks[0],) + y.chunks[1:])
