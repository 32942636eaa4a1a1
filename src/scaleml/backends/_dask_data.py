"""Turning inputs into blocks on a Dask cluster, and streaming them back in order.

Inputs: NumPy/pandas (in memory), Dask arrays and DataFrames, and paths to Parquet
or CSV files (read lazily with ``dask.dataframe``). A lazy input becomes a list of
*parts*, each a delayed ``(X_block, y_block)`` of NumPy arrays; :func:`stream`
computes them in order with a bounded window, so at most ``window`` blocks are in
memory and the next blocks are read while the current one is fitted.
"""

from __future__ import annotations

import glob
import math
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..exceptions import ScaleMLError


class DataError(ScaleMLError, ValueError):
    """An input the dask-ml backend cannot read, with what would work instead."""


@dataclass
class LazyData:
    """A lazy data set as parts of ``(X_block, y_block)``.

    Attributes
    ----------
    parts : list of dask.delayed.Delayed
        One per partition/chunk, in order.
    description : str
        For plans and errors.
    n_features : int or None
        When known without reading data.
    nbytes : int or None
        Estimated size of X, when known without reading data.
    y_column : str or None
        The target column taken from a DataFrame.
    y_unique : dask collection or None
        Computes the distinct labels, reading only the target where the format
        allows (Parquet column projection).
    """

    parts: list[Any]
    description: str
    n_features: int | None
    nbytes: int | None
    y_column: str | None = None
    y_unique: Any = None


def is_path(X: Any) -> bool:
    return isinstance(X, (str, os.PathLike))


def is_lazy(X: Any) -> bool:
    """Whether ``X`` is a Dask collection or a file path (read lazily)."""
    return is_path(X) or type(X).__module__.split(".")[0] in ("dask", "dask_expr")


def _read_path(path: Any, block_bytes: int | str) -> Any:
    import dask.dataframe as dd

    text = os.fspath(path)
    matches = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
    if not matches or not all(os.path.exists(m) for m in matches):
        raise DataError(f"No file or folder at {text!r}. Give a Parquet/CSV file, a folder of Parquet files, or a glob.")
    first = matches[0]
    if text.endswith(".csv") or first.endswith(".csv"):
        return dd.read_csv(text, blocksize=block_bytes)
    if os.path.isdir(first) or first.endswith((".parquet", ".pq")):
        # Split files by row groups into blocks of about block_bytes, so a worker
        # never has to hold a whole large file.
        return dd.read_parquet(
            text if len(matches) == 1 else matches, split_row_groups="adaptive", blocksize=block_bytes
        )
    raise DataError(f"Cannot tell the format of {text!r}: name files *.parquet or *.csv, or give a Parquet folder.")


def _frame_part_to_xy(part: Any, y_column: str | None) -> tuple[Any, Any]:
    """On a worker: one pandas partition to NumPy ``(X, y)``."""
    y = part[y_column].to_numpy() if y_column is not None else None
    X = part.drop(columns=[y_column]) if y_column is not None else part
    return X.to_numpy(), y


def _array_part(x: Any, y: Any) -> tuple[Any, Any]:
    return x, y


def to_lazy(X: Any, y: Any = None, block_bytes: int | str = "32MiB") -> LazyData:
    """Describe a lazy input as ordered parts of ``(X_block, y_block)``.

    ``y`` may be a column name of a (Dask) DataFrame or of the files at a path, a
    Dask array/Series aligned with ``X``, or None. Files are read in blocks of
    about ``block_bytes``.
    """
    import dask
    import dask.array as da
    import dask.dataframe as dd

    if is_path(X):
        X = _read_path(X, block_bytes)
    if isinstance(X, dd.DataFrame):
        y_column = None
        if isinstance(y, str):
            if y not in X.columns:
                raise DataError(f"Target column {y!r} is not in the data; its columns are {list(X.columns)}.")
            y_column = y
        elif y is not None:
            raise DataError(
                "With a DataFrame or a path, pass y as the name of the target column "
                "(e.g. fit('data/*.parquet', y='label'))."
            )
        n_features = len(X.columns) - (1 if y_column else 0)
        parts = [dask.delayed(_frame_part_to_xy)(p, y_column) for p in X.to_delayed()]
        y_unique = X[y_column].unique() if y_column else None
        return LazyData(parts, f"Dask DataFrame, {X.npartitions} partitions", n_features, None, y_column, y_unique)
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise DataError(f"Expected a 2-d Dask array for X, got {X.ndim} dimensions.")
        X = X.rechunk({1: -1})
        x_parts = list(X.to_delayed().ravel())
        if y is None:
            y_parts = [None] * len(x_parts)
        else:
            if isinstance(y, dd.Series):
                y = y.to_dask_array()
            if not isinstance(y, da.Array):
                raise DataError(f"With a Dask array X, y must be a Dask array or Series, not {type(y).__name__}.")
            if y.chunks[0] != X.chunks[0]:
                X, y = _align(X, y)
                x_parts = list(X.to_delayed().ravel())
            y_parts = list(y.to_delayed().ravel())
        parts = [dask.delayed(_array_part)(xp, yp) for xp, yp in zip(x_parts, y_parts)]
        nbytes = None if math.isnan(X.shape[0]) else int(X.nbytes)
        y_unique = da.unique(y) if y is not None else None
        return LazyData(parts, f"Dask array, {len(parts)} blocks", X.shape[1], nbytes, None, y_unique)
    raise DataError(f"Not a lazy input: {type(X).__name__}.")


def _align(X: Any, y: Any) -> tuple[Any, Any]:
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
    return X, y.rechunk((X.chunks[0],))


def compute(collection: Any, client: Any = None) -> Any:
    """Compute a Dask collection on ``client``'s cluster, or on threads here without one."""
    if client is not None:
        return client.compute(collection).result()
    import dask

    return dask.compute(collection, scheduler="threads")[0]


def stream(parts: list[Any], window: int = 2, client: Any = None) -> Iterator[tuple[Any, Any]]:
    """Yield each part's ``(X_block, y_block)`` in order, at most ``window`` ahead.

    With a ``client`` the parts are computed on the cluster's workers and sent
    here; without one, by a pool of ``window`` threads in this process (file
    decoding releases the GIL, so reading overlaps the fit and nothing is copied
    between processes).
    """
    if client is not None:
        submit = client.compute
    else:
        import dask
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="scaleml-read")

        def submit(part: Any) -> Any:
            return pool.submit(lambda: dask.compute(part, scheduler="sync")[0])

    pending: deque = deque()
    remaining = iter(parts)

    def submit_next() -> None:
        part = next(remaining, None)
        if part is not None:
            pending.append(submit(part))

    try:
        for _ in range(window):
            submit_next()
        while pending:
            future = pending.popleft()
            block = future.result()
            if client is not None:
                future.release()
            submit_next()
            yield block
    finally:
        for future in pending:
            future.cancel()
        if client is None:
            pool.shutdown(wait=True)
