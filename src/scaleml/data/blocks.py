"""Data as ordered blocks of rows: one container for in-memory and lazy data.

Every engine scaleml drives reads data the same way: a list of *parts*, each an
``(X_block, y_block)`` pair of NumPy arrays (a ``dask.delayed`` one for lazy
data), in row order. :class:`Blocks` makes them from NumPy/pandas (one block),
Dask arrays and DataFrames, and Parquet/CSV paths, and offers the three ways
work uses them:

- :meth:`Blocks.stream` brings the blocks here in order, a few ahead (``partial_fit``);
- :meth:`Blocks.reduce` computes a summary per block where the block is and merges
  the summaries (one pass of a blocked solver);
- :meth:`Blocks.map_to_array` applies a function per block lazily (predictions).

Lazy work runs on ``client``'s Dask cluster, or on threads here without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..exceptions import DataError
from ._parts import align, checked_pair, frame_and_target, frame_part_to_xy, unique_targets
from ._running import compute, stream
from .forms import is_lazy, is_path

_FAN_IN = 8  # summaries merged per task in a reduction tree
# Blocks read and summarised at once on threads in this process (no cluster): one read
# while one is reduced. More only adds memory: decoding and BLAS use every core already
# (docs/guide/out-of-core-memory.md, bench/out_of_core/peak_rss.py).
LOCAL_BLOCKS_IN_FLIGHT = 1


class Blocks:
    """An ``(X, y)`` data set as ordered blocks of rows.

    Parameters
    ----------
    parts : list
        ``(X_block, y_block)`` pairs (in memory) or delayed ones (lazy), in order.
    lazy : bool
        Whether ``parts`` are ``dask.delayed`` objects.
    description : str
        For plans and messages (``"Dask DataFrame, 12 partitions"``).
    n_features : int or None
        Columns of X, when known without reading data.
    nbytes : int or None
        Size of X, when known without reading data.
    rows : list of int or None
        Rows per block, when known without reading data.
    n_rows : int or None
        Rows in all, when known without reading data (a Dask array's chunks,
        Parquet files' footers).
    y_column : str or None
        The target column taken from a DataFrame or files.
    y_unique : Dask collection or None
        Computes the distinct targets of lazy data (reading only that column
        where the format allows).
    y_ndim : int
        1 for one target per row, 2 for several.
    client : object or None
        The engine's handle where lazy work runs (Dask's ``Client`` interface:
        ``compute``, ``persist``, ``gather``, ``scheduler_info``; duck-typed, so the
        data layer imports no engine); None runs it on threads in this process.
    """

    def __init__(self, parts: list[Any], *, lazy: bool, description: str = "", n_features: int | None = None,
                 nbytes: int | None = None, rows: list[int] | None = None, y_column: str | None = None,
                 y_unique: Any = None, y_ndim: int = 1, client: Any = None, n_rows: int | None = None) -> None:
        self.parts = parts
        self.lazy = lazy
        self.description = description
        self.n_features = n_features
        self.nbytes = nbytes
        self.rows = rows
        self.n_rows = sum(rows) if n_rows is None and rows is not None else n_rows
        self.y_column = y_column
        self.y_unique = y_unique
        self.y_ndim = y_ndim
        self.client = client
        self.persisted = False
        self.passes = 0

    @classmethod
    def from_input(cls, X: Any, y: Any = None, *, block_bytes: int | str = "auto", client: Any = None,
                   frames: bool = False) -> Blocks:
        """Blocks of a Dask array/DataFrame or a Parquet/CSV path, or one block of in-memory data.

        ``y`` may be the name of a target column (DataFrames and files), a Dask
        array or Series aligned with a Dask ``X``, in-memory targets for
        in-memory ``X``, or None. ``frames``: a DataFrame's (or file's) blocks of X
        stay pandas DataFrames, column names and types included, for steps that
        select columns by name (ColumnTransformer); otherwise they are NumPy arrays.
        """
        if not is_lazy(X):
            nbytes = X.data.nbytes if hasattr(X, "tocsr") else getattr(X, "nbytes", None)
            return cls([(X, y)], lazy=False, description="in-memory arrays", nbytes=nbytes,
                       rows=[X.shape[0]], n_features=X.shape[1] if len(X.shape) == 2 else None, y_ndim=np.ndim(y))
        import dask.array as da
        import dask.dataframe as dd

        if is_path(X):
            from .files import parquet_rows, read_path

            n_rows = parquet_rows(X)
            blocks = cls._from_frame(read_path(X, block_bytes), y, client, frames)
            blocks.n_rows = n_rows
            return blocks
        if isinstance(X, dd.DataFrame):
            return cls._from_frame(X, y, client, frames)
        if isinstance(X, da.Array):
            return cls._from_array(X, y, client)
        raise DataError(f"Not a lazy input: {type(X).__name__}.")

    @classmethod
    def _from_frame(cls, X: Any, y: Any, client: Any, frames: bool = False) -> Blocks:
        import dask
        import dask.array as da
        import dask.dataframe as dd

        y_column = None
        if isinstance(y, str):
            if y not in X.columns:
                raise DataError(f"Target column {y!r} is not in the data; its columns are {list(X.columns)}.")
            y_column = y
        elif isinstance(y, (dd.Series, da.Array)):
            return cls._from_frame_and_target(X, y, client, frames)
        elif y is not None:
            raise DataError(_target_not_lazy(y))
        parts = [dask.delayed(frame_part_to_xy)(p, y_column, frames) for p in X.to_delayed()]
        return cls(
            parts, lazy=True, description=f"Dask DataFrame, {X.npartitions} partitions",
            n_features=len(X.columns) - (1 if y_column else 0), y_column=y_column,
            y_unique=X[y_column].unique() if y_column else None, client=client,
        )

    @classmethod
    def _from_frame_and_target(cls, X: Any, y: Any, client: Any, frames: bool = False) -> Blocks:
        """A Dask DataFrame with its targets apart, as users split them (``df[features], df["label"]``).

        Rows pair by position, as in scikit-learn. Partitions pair as they are when
        X and y have as many (no pass over the data; each pair's lengths are checked
        where it is read); otherwise the targets are re-blocked to X's rows, which
        costs one pass to learn the partitions' lengths.
        """
        import dask
        import dask.dataframe as dd

        x_parts = X.to_delayed()
        y_parts = y.to_delayed() if isinstance(y, dd.Series) else list(y.to_delayed().ravel())
        if y.ndim != 1 or len(y_parts) != len(x_parts):
            if frames:
                raise DataError(
                    f"X (a Dask DataFrame of {len(x_parts)} partitions) and y ({_partitions(y, y_parts)}) do not "
                    "pair block by block, and the first step selects columns by name, so X cannot become "
                    "an array to re-block. Take X and y from one DataFrame without repartitioning either "
                    "(X, y = df[features], df['label']), or pass the whole DataFrame and the target column's "
                    "name (fit(df, 'label'))."
                )
            return cls._from_array(X.to_dask_array(), y, client)
        parts = [dask.delayed(frame_and_target)(xp, yp, frames) for xp, yp in zip(x_parts, y_parts)]
        return cls(
            parts, lazy=True, description=f"Dask DataFrame, {len(parts)} partitions, targets apart",
            n_features=len(X.columns), y_unique=y.unique() if isinstance(y, dd.Series) else unique_targets(y),
            client=client,
        )

    @classmethod
    def _from_array(cls, X: Any, y: Any, client: Any) -> Blocks:
        import dask
        import dask.array as da
        import dask.dataframe as dd

        if X.ndim != 2:
            raise DataError(f"Expected a 2-d Dask array for X, got {X.ndim} dimensions.")
        X = X.rechunk({1: -1})
        if y is not None:
            if isinstance(y, dd.Series):
                y = y.to_dask_array()
            if isinstance(y, (np.ndarray, list)) or type(y).__module__.startswith("pandas"):
                y = da.from_array(np.asarray(y))  # in memory already: cut to X's blocks below
            if not isinstance(y, da.Array):
                raise DataError(f"With a Dask array X, y must be a Dask array or Series, or in memory "
                                f"(NumPy, pandas, a list), not {type(y).__name__}.")
            if y.ndim != 1 and (y.ndim != 2 or y.shape[1] != 1):
                raise DataError(
                    f"With lazy X, y must be 1-d (one target per row), or one column (n, 1); got shape {y.shape}. "
                    "Fit one model per target, or load the data in memory."
                )
            y = y.rechunk({1: -1}) if y.ndim == 2 else y
            unknown = any(math.isnan(c) for c in (*X.chunks[0], *y.chunks[0]))
            # Unknown lengths in as many blocks (both cut by the same filter, say): paired
            # as they are, each pair's lengths checked where it is read; else aligned.
            paired = unknown and len(X.chunks[0]) == len(y.chunks[0])
            if not paired and tuple(y.chunks[0]) != tuple(X.chunks[0]):
                X, y = align(X, y)
        x_parts = list(X.to_delayed().ravel())
        y_parts = [None] * len(x_parts) if y is None else list(y.to_delayed().ravel())
        parts = [dask.delayed(checked_pair)(xp, yp) for xp, yp in zip(x_parts, y_parts)]
        known = not any(math.isnan(c) for c in X.chunks[0])
        return cls(
            parts, lazy=True, description=f"Dask array, {len(parts)} blocks", n_features=X.shape[1],
            nbytes=int(X.nbytes) if known else None, rows=list(X.chunks[0]) if known else None,
            y_unique=da.unique(y) if y is not None else None, client=client, y_ndim=1 if y is None else y.ndim,
        )

    # -- derived data ----------------------------------------------------------------

    def map(self, fn: Callable, *args: Any, n_features: int | None = None) -> Blocks:
        """The same blocks passed through ``fn(part, *args) -> part`` (lazily for lazy data)."""
        if self.lazy:
            import dask

            parts = [dask.delayed(fn)(part, *args) for part in self.parts]
        else:
            parts = [fn(part, *args) for part in self.parts]
        return Blocks(parts, lazy=self.lazy, description=self.description, n_features=n_features,
                      rows=self.rows, y_column=self.y_column, y_unique=self.y_unique, y_ndim=self.y_ndim,
                      client=self.client, n_rows=self.n_rows)

    def map_to_array(self, fn: Callable, *args: Any, n_columns: int | None, dtype: Any, meta: Any = None) -> Any:
        """A lazy Dask array of ``fn(part, *args)`` per block, stacked in row order.

        ``n_columns`` is None for one value per row (a 1-d result); ``meta``: the blocks' kind
        when not NumPy (an empty ``scipy.sparse`` matrix for sparse blocks).
        """
        import dask
        import dask.array as da

        blocks = []
        for index, part in enumerate(self.parts):
            rows = self.rows[index] if self.rows is not None else np.nan
            shape = (rows,) if n_columns is None else (rows, n_columns)
            blocks.append(da.from_delayed(dask.delayed(fn)(part, *args), shape=shape, dtype=dtype, meta=meta))
        return da.concatenate(blocks) if blocks else da.empty((0,) if n_columns is None else (0, n_columns), dtype=dtype)

    def gather(self, fn: Callable, *args: Any) -> list[Any]:
        """``fn(part, *args)`` for every block, computed where the blocks are, in order."""
        if not self.lazy:
            return [fn(part, *args) for part in self.parts]
        import dask

        return list(self.compute([dask.delayed(fn)(part, *args) for part in self.parts]))

    # -- the three ways of using the blocks ------------------------------------------------

    def stream(self, window: int = 1, order: Any = None) -> Iterator[tuple[Any, Any]]:
        """Yield each block's ``(X, y)`` here, at most ``window`` read ahead; in row order,
        or in ``order`` (block indices)."""
        parts = self.parts if order is None else [self.parts[i] for i in order]
        if not self.lazy:
            yield from parts
            return
        yield from stream(parts, window, self.client)

    def reduce(self, fn: Callable, *args: Any, merge: Callable, indexed: bool = False) -> Any:
        """``merge`` of ``fn(part, *args)`` over every block: one pass over the data.

        On lazy data each ``fn`` runs where its block is, and the results are
        merged in a tree of tasks, so only the summaries travel. ``indexed``: pass
        each block's position as ``fn``'s last argument (to seed random draws per block).
        """
        self.passes += 1

        def arguments(index: int) -> tuple:
            return (*args, index) if indexed else args

        if not self.lazy:
            return merge(*(fn(part, *arguments(i)) for i, part in enumerate(self.parts)))
        import dask

        level = [dask.delayed(fn, pure=True)(part, *arguments(i)) for i, part in enumerate(self.parts)]
        if self.client is None and not self.persisted:
            # Threads here: Dask's threaded scheduler would read as many blocks at once as
            # there are cores (each several copies of itself while decoded); streaming the
            # summaries keeps LOCAL_BLOCKS_IN_FLIGHT blocks in memory. Merged in the same tree.
            level = list(stream(level, LOCAL_BLOCKS_IN_FLIGHT))
            while len(level) > 1:
                level = [merge(*level[i: i + _FAN_IN]) for i in range(0, len(level), _FAN_IN)]
            return level[0]
        while len(level) > 1:
            level = [dask.delayed(merge, pure=True)(*level[i: i + _FAN_IN]) for i in range(0, len(level), _FAN_IN)]
        return self.compute(level[0])

    def compute(self, collection: Any) -> Any:
        """Compute a Dask collection where this data's lazy work runs."""
        return compute(collection, self.client)

    def classes(self) -> np.ndarray:
        """The distinct targets, sorted."""
        if not self.lazy:
            return np.unique(self.parts[0][1])
        if self.y_unique is None:
            raise DataError("y is required: pass the targets (a Dask array or the target column's name).")
        return np.unique(np.asarray(self.compute(self.y_unique)))

    # -- keeping blocks in memory ------------------------------------------------------------

    def memory_budget(self) -> int:
        """Bytes the blocks may take when kept: half the workers' memory limits,
        or a quarter of this machine's available memory without a cluster."""
        if self.client is None:
            return local_memory_budget()
        limits = worker_memory_limits(self.client)
        if not limits or 0 in limits:
            return 2 * local_memory_budget()
        return sum(limits) // 2

    def persist(self, mode: bool | str, nbytes: int | None) -> str:
        """Keep the blocks in memory between passes when ``mode`` (or ``"auto"``) allows.

        Returns a sentence saying where the blocks live, and why.
        """
        if not self.lazy:
            return "in memory"
        if mode is False:
            return "read from the source on every pass (persist=False)"
        if mode == "auto":
            budget = self.memory_budget()
            if nbytes is None or math.isnan(nbytes) or nbytes > budget:
                return (
                    f"read from the source on every pass: {_mib(nbytes)} exceeds the "
                    f"{_mib(budget)} budget for keeping blocks (persist='auto')"
                )
        if self.client is not None:
            self.parts = self.client.persist(self.parts)
            where = "kept on the Dask workers"
        else:
            import dask

            self.parts = list(dask.persist(*self.parts, scheduler="threads"))
            where = "kept in this process"
        self.persisted = True
        return f"{where} ({_mib(nbytes)})"


def score_blocks(model: Any, data: Blocks) -> float:
    """``model``'s accuracy (a classifier) or R² (a regressor) over lazy blocks, each
    predicted where it is; only the targets and predictions travel."""
    import dask
    from sklearn.base import is_classifier
    from sklearn.metrics import accuracy_score, r2_score

    pairs = data.gather(_truth_and_prediction, dask.delayed(model) if data.lazy else model)
    truth = np.concatenate([t for t, _ in pairs])
    predicted = np.concatenate([p for _, p in pairs])
    return float(accuracy_score(truth, predicted) if is_classifier(model) else r2_score(truth, predicted))


def _truth_and_prediction(part: tuple[Any, Any], model: Any) -> tuple[Any, Any]:
    return part[1], np.asarray(model.predict(part[0]))


def local_memory_budget() -> int:
    """What data may take in this process by default: a quarter of the memory available now."""
    import psutil

    return psutil.virtual_memory().available // 4


def no_rows_error(description: str) -> ValueError:
    """scikit-learn's message for empty input, naming the lazy data it came from."""
    return ValueError(f"Found array with 0 sample(s) ({description}) while a minimum of 1 is required.")


def worker_memory_limits(client: Any) -> list[int]:
    """Every worker's memory limit in bytes (0 where it has none), asked of ``client``.

    ``client`` is duck-typed (Dask's ``Client`` interface): the data layer imports no
    engine. Asked of the scheduler for every worker: ``scheduler_info()`` lists only
    five by default since distributed 2025.4.
    """
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before 2025.4 lists every worker and takes no count
        info = client.scheduler_info()
    return [w.get("memory_limit") or 0 for w in info["workers"].values()]


def _mib(nbytes: float | None) -> str:
    return "unknown size" if nbytes is None or math.isnan(nbytes) else f"{nbytes / 2**20:.0f} MiB"


def _target_not_lazy(y: Any) -> str:
    """The error for a target that cannot pair with a Dask DataFrame's rows, with the fix."""
    kind = f"{type(y).__module__.split('.')[0]}.{type(y).__name__}"
    if not hasattr(y, "dask"):
        fix = (f"y ({kind}) is in memory while X is lazy, so their rows cannot be paired block by block. "
               "Take y from the same Dask DataFrame as X (X, y = df[features], df['label']).")
    elif getattr(y, "ndim", 1) == 2 and hasattr(y, "columns"):
        fix = (f"y is a DataFrame of {len(y.columns)} column(s) ({kind}); pass the target as one column, "
               "a Series: df['label'], not df[['label']].")
    else:
        fix = f"got {kind}."
    return ("With a Dask DataFrame or a path, y must be the name of the target column "
            "(fit(df, 'label'), fit('data/*.parquet', y='label')), or a Dask Series/array with X's rows: " + fix)


def _partitions(y: Any, parts: list) -> str:
    """How ``y`` (a Dask Series or array) is cut, for the error of :meth:`Blocks._from_frame_and_target`."""
    if getattr(y, "ndim", 1) != 1:
        return f"a {y.ndim}-d Dask array: pass a 1-d target, the Series df['label'] or y[:, 0]"
    return f"{len(parts)} {'partitions' if hasattr(y, 'npartitions') else 'chunks'}"
