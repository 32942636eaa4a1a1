"""Splitting data that does not fit in memory: block by block, seeded, without a global shuffle.

Every block of rows is split on its own: a generator seeded by ``(seed, split,
block index)`` picks the block's test rows (a ``test_size`` fraction of them,
rounded up as scikit-learn rounds) or its folds, and every array split in one
call uses the same choice, so ``X`` and ``y`` stay paired. Nothing is read
until the result is computed; each result is a lazy collection of the input's
kind with unknown block lengths. Within a block the rows keep their order.

In-memory inputs go to scikit-learn's functions unchanged.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import sklearn.model_selection as sk
from sklearn.utils import check_random_state

from ..data.files import read_path
from ..data.forms import is_lazy, is_path
from ..exceptions import DataError, InvalidParameterError


def train_test_split(*arrays: Any, test_size: float | None = None, train_size: float | None = None,
                     random_state: Any = None, shuffle: bool = True, stratify: Any = None,
                     block_bytes: int | str = "auto") -> list[Any]:
    """Split arrays into train and test subsets: scikit-learn's for in-memory data,
    block by block for Dask arrays, DataFrames, Series and Parquet/CSV paths.

    Parameters are scikit-learn's. On lazy data ``test_size`` and ``train_size``
    are fractions (default test 0.25), taken from every block; ``shuffle`` must be
    True and ``stratify`` None (each block's rows are drawn at random, not by class).
    A path is read as a Dask DataFrame (``block_bytes`` per block) and split as one.

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``, as scikit-learn's.

    Examples
    --------
    >>> X_train, X_test = train_test_split("data/*.parquet", test_size=0.2, random_state=0)  # doctest: +SKIP
    >>> model = Scaled(SGDClassifier(), backend="dask-ml").fit(X_train, "label")  # doctest: +SKIP
    """
    if not arrays:
        raise ValueError("At least one array required as input.")
    lazy = _lazy_inputs(arrays, block_bytes)
    if lazy is None:
        return sk.train_test_split(*arrays, test_size=test_size, train_size=train_size, random_state=random_state,
                                   shuffle=shuffle, stratify=stratify)
    if not shuffle:
        raise InvalidParameterError(
            "shuffle=False on lazy data would take the last rows of every block, not of the data. "
            "Select a time range yourself (e.g. frame[frame.date < cutoff]) or keep shuffle=True."
        )
    if stratify is not None:
        raise InvalidParameterError(
            "stratify is not supported on lazy data: every block's rows are drawn at random. "
            "Load the data in memory to stratify, or pass stratify=None."
        )
    test, train = _fractions(test_size, train_size)
    return _split_all(lazy, _block_split, _seed(random_state), 0, test, train)


class KFold(sk.KFold):
    """scikit-learn's KFold, and :meth:`split_arrays` for lazy data as well.

    ``split`` yields scikit-learn's index arrays (in-memory data). ``split_arrays``
    yields ``[X_train, X_test, y_train, y_test, ...]`` per fold, for in-memory or
    lazy inputs; on lazy data the folds are drawn within each block (each block's
    rows dealt evenly to the folds, at random when ``shuffle``, else in order).
    """

    def split_arrays(self, *arrays: Any, block_bytes: int | str = "auto"):
        lazy = _lazy_inputs(arrays, block_bytes)
        if lazy is None:
            yield from _index_splits(self, arrays)
            return
        seed = _seed(self.random_state) if self.shuffle else 0
        for fold in range(self.n_splits):
            yield _split_all(lazy, _block_fold, seed, fold, self.n_splits, self.shuffle)


class ShuffleSplit(sk.ShuffleSplit):
    """scikit-learn's ShuffleSplit, and :meth:`split_arrays` for lazy data as well.

    ``split_arrays`` yields ``[X_train, X_test, ...]`` per split: on lazy data each
    split is :func:`train_test_split` of every block with its own seed.
    """

    def split_arrays(self, *arrays: Any, block_bytes: int | str = "auto"):
        lazy = _lazy_inputs(arrays, block_bytes)
        if lazy is None:
            yield from _index_splits(self, arrays)
            return
        # scikit-learn's default: a tenth for the test when neither size is given
        test_size = self.test_size if self.test_size is not None or self.train_size is not None else 0.1
        test, train = _fractions(test_size, self.train_size)
        seed = _seed(self.random_state)
        for split in range(self.n_splits):
            yield _split_all(lazy, _block_split, seed, split + 1, test, train)


# -- helpers ----------------------------------------------------------------------------------


def _index_splits(splitter: Any, arrays: tuple) -> Any:
    from sklearn.utils import _safe_indexing

    for train, test in splitter.split(arrays[0]):
        out = []
        for array in arrays:
            out.extend([_safe_indexing(array, train), _safe_indexing(array, test)])
        yield out


def _lazy_inputs(arrays: tuple, block_bytes: int | str) -> list[Any] | None:
    """The inputs as Dask collections (paths read), checked to be blocked alike; None if all in memory."""
    lazy = [is_lazy(a) for a in arrays]
    if not any(lazy):
        return None
    if not all(lazy):
        kinds = ", ".join(type(a).__name__ for a in arrays)
        raise DataError(
            f"Split lazy and in-memory arrays together? Got {kinds}. Pass X and y both lazy "
            "(a Dask array or Series for y), or name the target column and split the DataFrame alone."
        )
    collections = [read_path(a, block_bytes) if is_path(a) else a for a in arrays]
    blocks = [_row_blocks(c) for c in collections]
    if len(set(blocks)) > 1:
        raise DataError(
            f"The arrays have different numbers of row blocks ({', '.join(map(str, blocks))}); every block is "
            "split on its own, so they must be blocked alike: rechunk y to X's rows "
            "(y.rechunk(X.chunks[0])), or take X and y from one DataFrame."
        )
    return collections


def _split_all(collections: list[Any], rows_of: Any, seed: int, split: int, *rest: Any) -> list[Any]:
    """``[a_train, a_test, b_train, b_test, ...]``: the same rows of every block of every input.

    DataFrames and Series are split as one DataFrame (a Series joined as a column) and
    taken apart after: Dask may cut a column read on its own into other partitions than
    the whole frame (Parquet row groups are grouped by the bytes read), so splitting
    them one by one could pick different rows for X and for y.
    """
    if not hasattr(collections[0], "map_partitions"):
        out = []
        for array in collections:
            out.extend(_select(array, rows_of, seed, split, *rest, which) for which in ("train", "test"))
        return out
    joined, columns = _joined(collections)
    sides = [_select(joined, rows_of, seed, split, *rest, which) for which in ("train", "test")]
    out = []
    for collection, column in zip(collections, columns):
        for side in sides:
            out.append(side[list(collection.columns)] if column is None else side[column].rename(collection.name))
    return out


def _joined(collections: list[Any]) -> tuple[Any, list[str | None]]:
    import dask.dataframe as dd

    first, rest = collections[0], collections[1:]
    if isinstance(first, dd.Series):
        first = first.to_frame(name="__scaleml_split_0")
        columns = ["__scaleml_split_0"]
    else:
        columns = [None]
    for index, series in enumerate(rest, start=1):
        if not isinstance(series, dd.Series):
            raise DataError(
                "Split one Dask DataFrame with its targets as Series (X, y = df[features], df['label']), "
                f"or the DataFrame alone with the target as a column; got a {type(series).__name__} after the first."
            )
        name = f"__scaleml_split_{index}"
        first = first.assign(**{name: series})
        columns.append(name)
    return first, columns


def _row_blocks(collection: Any) -> int:
    return collection.npartitions if hasattr(collection, "npartitions") else collection.numblocks[0]


def _fractions(test_size: Any, train_size: Any) -> tuple[float, float | None]:
    if test_size is None and train_size is None:
        test_size = 0.25
    for name, value in (("test_size", test_size), ("train_size", train_size)):
        if value is not None and (isinstance(value, Integral) or not isinstance(value, Real) or not 0 < value < 1):
            raise InvalidParameterError(
                f"{name}={value!r}: on lazy data it must be a fraction in (0, 1); the number of rows "
                "is not known before reading (a count would need a pass over the data)."
            )
    if test_size is None:
        test_size = 1.0 - train_size
    if train_size is not None and test_size + train_size > 1:
        raise InvalidParameterError(f"test_size + train_size = {test_size + train_size} exceeds 1.")
    return float(test_size), None if train_size is None else float(train_size)


def _seed(random_state: Any) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _block_split(n: int, seed: int, split: int, index: int, test: float, train: float | None, which: str) -> np.ndarray:
    """Rows of a block of ``n`` in one side of a random split."""
    n_test = min(n, math.ceil(test * n))
    n_train = n - n_test if train is None else min(n - n_test, math.floor(train * n))
    order = np.random.default_rng([seed, split, index]).permutation(n)
    chosen = order[:n_test] if which == "test" else order[n_test:n_test + n_train]
    return np.sort(chosen)


def _block_fold(n: int, seed: int, fold: int, index: int, n_splits: int, shuffle: bool, which: str) -> np.ndarray:
    """Rows of a block of ``n`` in (``which="test"``) or out of fold ``fold``."""
    folds = np.arange(n) * n_splits // max(n, 1)
    if shuffle:
        folds = np.random.default_rng([seed, 0, index]).permutation(folds)
    return np.flatnonzero(folds == fold if which == "test" else folds != fold)


def _count(rows_of: Any, n: float, split: int, *rest: Any) -> float:
    """How many rows of a block of ``n`` ``rows_of`` picks (the same for every seed); nan if unknown."""
    if math.isnan(n):
        return math.nan
    n = int(n)
    which = rest[-1]
    if rows_of is _block_split:
        test, train = rest[0], rest[1]
        n_test = min(n, math.ceil(test * n))
        return n_test if which == "test" else (n - n_test if train is None else min(n - n_test, math.floor(train * n)))
    if rows_of is _block_fold:
        fold, n_splits = split, rest[0]
        # Row i is in fold f when f <= i * n_splits / n < f + 1.
        in_fold = -(-(fold + 1) * n // n_splits) - -(-fold * n // n_splits)
        return in_fold if which == "test" else n - in_fold
    return math.nan


def _select(collection: Any, rows_of: Any, seed: int, split: int, *rest: Any) -> Any:
    """``collection`` with, in every block, the rows ``rows_of(n, seed, split, index, *rest)`` picks."""
    if hasattr(collection, "map_partitions"):
        return collection.map_partitions(_frame_rows, rows_of, seed, split, rest, meta=collection._meta)
    # Each block's share is known from its length alone (no draw), so known chunks stay known.
    rows = tuple(_count(rows_of, n, split, *rest) for n in collection.chunks[0])
    chunks = (rows,) + collection.chunks[1:]
    return collection.map_blocks(_array_rows, rows_of, seed, split, rest, chunks=chunks, dtype=collection.dtype)


def _frame_rows(part: Any, rows_of: Any, seed: int, split: int, rest: tuple, partition_info: Any = None) -> Any:
    index = partition_info["number"] if partition_info else 0
    return part.iloc[rows_of(len(part), seed, split, index, *rest)]


def _array_rows(block: np.ndarray, rows_of: Any, seed: int, split: int, rest: tuple, block_info: Any = None) -> np.ndarray:
    index = block_info[0]["chunk-location"][0] if block_info else 0
    return block[rows_of(len(block), seed, split, index, *rest)]
