"""The dask-ml backend's work on lazy data: fitting a step on blocks, lazy predictions.

The ways of fitting (``_ways``) call these. Each function writes what it did into
the plan record as it does it: blocks and ``partial_fit`` calls, bytes loaded, and
a fallback to the out-of-core twin with its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...data.blocks import Blocks, no_rows_error, score_blocks
from ...data.columns import has_column
from ...exceptions import DataError, OutOfMemoryBudgetError
from ...planning import Record, Route, walk
from .._twins import engine_of, twin_of

if TYPE_CHECKING:
    from ._ways import LazySettings


def stream_fit(settings: LazySettings, step: Any, before: list[Any], data: Blocks, final: bool, record: Record,
               path: str) -> None:
    """``partial_fit`` block by block, ``settings.epochs`` passes for the final step; the record
    written inside the loop that does the work."""
    from sklearn.base import is_classifier
    from sklearn.utils import check_random_state

    kwargs = {}
    if final and is_classifier(step):
        kwargs["classes"] = data.classes()
    passes = settings.epochs if final else 1
    rng = check_random_state(settings.random_state)
    rows = 0
    for epoch in range(passes):
        order = rng.permutation(len(data.parts)) if epoch and settings.shuffle else None
        for X_block, y_block in _transformed_stream(settings.window, before, data, order):
            if X_block.shape[0] == 0:
                continue  # an empty partition (a filtered file, say)
            step.partial_fit(X_block, y_block, **kwargs)
            rows += X_block.shape[0]
            record.observe(path, partial_fit_calls=1)
    if rows == 0:
        raise no_rows_error(data.description)
    record.observe(path, passes=passes, rows_per_pass=rows // passes)


# What fitting a step on its input loaded whole costs at its peak (RSS growth of a fresh
# process), as a multiple of that input counted as float64 (rows x columns x 8 bytes). It is
# more than the input: the blocks are held beside their concatenation, and the fit copies
# (validation to float64, centring, distances, a ColumnTransformer's parts and their stacked
# output). Measured by bench/out_of_core/peak_rss.py (the loaded-* fits) on Parquet files of
# 10 float64 columns (and a string column for the ColumnTransformer), the larger of two runs
# (1.6 M rows before this change's reading fixes; 2.4 M after): PCA 2.5 / 2.2, KMeans 4.6 / 3.2,
# ColumnTransformer(OneHotEncoder, StandardScaler) 6.3 / 5.6 (docs/guide/out-of-core-memory.md).
# Estimators not measured take the largest.
_LOAD_FACTORS = {"sklearn.decomposition.PCA": 2.5, "sklearn.cluster.KMeans": 4.6,
                 "sklearn.compose.ColumnTransformer": 6.3}
DEFAULT_LOAD_FACTOR = 6.3


def load_factor(step: Any) -> float:
    """The peak of fitting ``step`` on its input loaded whole, per byte of that input as float64."""
    for cls in type(step).__mro__:
        name = f"{cls.__module__.split('._')[0]}.{cls.__name__}"
        if name in _LOAD_FACTORS:
            return _LOAD_FACTORS[name]
    return DEFAULT_LOAD_FACTOR


def fit_in_memory(settings: LazySettings, path: str, step: Any, before: list[Any], data: Blocks,
                  record: Record) -> None:
    """Load the step's input whole and fit it; when the peak of that (the input as float64 x
    :func:`load_factor`) grows past the budget while loading, its twin (or refuse)."""
    loaded = _load_within(settings, path, step, before, data)
    if loaded is None:
        twin = twin_of(step)
        record.fallback(
            path,
            f"dask-ml backend: no partial_fit, and loading its input whole (as float64 x {load_factor(step):g}) "
            f"grew past max_in_memory_bytes ({settings.budget / 2**20:.0f} MiB) while loading, so fitted by "
            f"{engine_of(twin)}'s blocked implementation out of core; the result stored in the scikit-learn estimator",
            engine=engine_of(twin), parallelism="blocked, out of core", route=Route.BLOCKED,
        )
        return fit_twin(step, before, data, record, path)
    X_parts, y_parts, size = loaded
    if not X_parts or sum(len(p) for p in X_parts) == 0:
        raise no_rows_error(data.description)
    y_all = None if y_parts[0] is None else np.concatenate(y_parts)
    blocks = len(X_parts)
    X_all = _concatenate(X_parts)
    del X_parts[:]  # the blocks go as their concatenation is fitted
    step.fit(X_all, y_all)
    record.observe(path, loaded_mib=round(size / 2**20, 1), blocks=blocks)


def _load_within(settings: LazySettings, path: str, step: Any, before: list[Any],
                 data: Blocks) -> tuple[list, list, int] | None:
    """The step's input block by block, or None (what was read let go) once loading it would
    pass the budget; refused there when the step has no twin."""
    X_parts, y_parts, size, factor = [], [], 0, load_factor(step)
    stream = _transformed_stream(settings.window, before, data)
    try:
        for X_block, y_block in stream:
            size += _nbytes(X_block)
            if size * factor > settings.budget:
                if twin_of(step) is None:
                    raise _too_large(settings, path, step)
                return None
            X_parts.append(X_block)
            y_parts.append(y_block)
    finally:
        stream.close()  # the blocks read ahead are let go before the twin reads its own
    return X_parts, y_parts, size


def fit_blocks(model: Any, before: list[Any], data: Blocks, record: Record, path: str) -> None:
    """Fit a model made for blocks (``fit_blocks``) on the transformed blocks, where they are read."""
    # A copy: the steps fitted later join `before`, and lazy results (KMeans labels_) outlive this call.
    blocks = data.map(_transformed_part, tuple(before), n_features=None if before else data.n_features)
    if blocks.n_features is None:
        blocks.n_features = data.compute(blocks.parts[0])[0].shape[1]
    model.fit_blocks(blocks)
    # The model's own count where it keeps one: a model that streams the blocks (the
    # ColumnTransformer twin) passes over them without a reduction, which Blocks counts.
    record.observe(path, passes=getattr(model, "n_passes_", blocks.passes))


def fit_twin(step: Any, before: list[Any], data: Blocks, record: Record, path: str) -> None:
    """Fit ``step`` out of core with its twin, then store the result in ``step``.

    The fitted attributes are copied into the scikit-learn estimator, so the
    pipeline stays plain scikit-learn and predicts without dask or dask-ml.
    """
    twin = twin_of(step)
    if data.client is None and "persist" in twin.get_params():
        # The input is past this process's in-memory budget: keeping its blocks here
        # between passes would spend the memory the budget protects.
        twin.set_params(persist=False)
    fit_blocks(twin, before, data, record, path)
    if hasattr(twin, "export_to"):
        twin.export_to(step)  # a twin that knows how to make the step fitted (scaleml.cluster.KMeans)
        return
    for attr, value in vars(twin).items():
        if attr.endswith("_") and not attr.startswith("_"):
            setattr(step, attr, value)


# -- predictions on lazy data -------------------------------------------------------------


def lazy_apply(backend: Any, estimator: Any, method: str, X: Any, target: str | None = None) -> Any:
    """``estimator.<method>`` block by block: a lazy Dask array, one output row per input row.

    ``target``: a column of a DataFrame/files that is the target, not a feature (left out).
    """
    import dask

    data = backend.blocks(X, target if target is not None and has_column(X, target) else None, estimator=estimator)
    n_columns, dtype, sparse = _output_shape(estimator, method, data)
    # A sparse output (OneHotEncoder(sparse_output=True)) stays sparse: CSR blocks, a sparse meta.
    meta = _sparse_meta(n_columns, dtype) if sparse else None
    return data.map_to_array(_apply, dask.delayed(estimator), method, sparse, n_columns=n_columns, dtype=dtype, meta=meta)


def _sparse_meta(n_columns: int | None, dtype: Any) -> Any:
    import scipy.sparse

    return scipy.sparse.csr_matrix((0, n_columns or 1), dtype=dtype)


def lazy_score(backend: Any, estimator: Any, X: Any, y: Any = None, sample_weight: Any = None) -> float:
    from sklearn.base import is_classifier, is_regressor

    if not (is_classifier(estimator) or is_regressor(estimator)):
        raise DataError(f"score on lazy data supports classifiers and regressors, not {type(estimator).__name__}.")
    if sample_weight is not None:
        raise DataError("sample_weight is not supported with lazy data; score in-memory data to use it.")
    if y is None:
        raise DataError("score on lazy data needs y: the target column's name (files, DataFrames) or a Dask array.")
    return score_blocks(estimator, backend.blocks(X, y, estimator=estimator))


def _output_shape(estimator: Any, method: str, data: Blocks) -> tuple[int | None, Any, bool]:
    """Columns (None: 1-d), dtype and sparseness of ``method``'s output, from one row of the
    first non-empty block."""
    for part in data.parts:
        X_block = data.compute(part)[0] if data.lazy else part[0]
        if X_block.shape[0]:
            out = getattr(estimator, method)(X_block[:1])
            sparse = hasattr(out, "tocsr") and out.ndim == 2
            out = _dense(out)
            return (None if out.ndim == 1 else out.shape[1]), out.dtype, sparse
    raise no_rows_error(data.description)


# -- helpers --------------------------------------------------------------------------------


def _transformed_stream(window: int, before: list[Any], data: Blocks, order: Any = None):
    for X_block, y_block in data.stream(window, order):
        for step in before:
            X_block = step.transform(X_block)
        yield X_block, y_block


def selects_columns(estimator: Any) -> bool:
    """Whether the first step picks columns by name (a ColumnTransformer): it needs DataFrame blocks.

    Inside a search (one step of the plan, loaded whole), the searched estimator's first step.
    """
    from sklearn.compose import ColumnTransformer

    first = next(walk(estimator), (None, None))[1]
    searched = getattr(first, "estimator", None) if hasattr(first, "best_estimator_") or \
        hasattr(type(first), "_run_search") else None
    if searched is not None and not isinstance(first, ColumnTransformer):
        first = next(walk(searched), (None, None))[1]
    return isinstance(first, ColumnTransformer)


def _nbytes(X: Any) -> int:
    """A block's size as a fit holds it: numbers as float64 (8 bytes a value, whatever their
    dtype), a DataFrame's strings as pandas holds them, a sparse block's arrays."""
    if hasattr(X, "tocsr"):
        X = X.tocsr()
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    as_float64 = int(np.prod(X.shape)) * 8
    if hasattr(X, "memory_usage"):
        return max(as_float64, int(X.memory_usage(deep=True).sum()))  # a DataFrame block, strings counted
    return max(as_float64, X.nbytes)


def _concatenate(parts: list[Any]) -> Any:
    if hasattr(parts[0], "iloc"):
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)


def _transformed_part(part: tuple[Any, Any], before: list[Any]) -> tuple[Any, Any]:
    X_block = part[0]
    if not before and hasattr(X_block, "iloc"):
        return part  # a DataFrame block for a step that selects columns by name
    for step in before:
        X_block = step.transform(X_block)
    if hasattr(X_block, "tocsr"):
        return X_block.tocsr(), part[1]  # a sparse step output (OneHotEncoder): the blocked models take CSR
    X_block = np.asarray(X_block)
    # Numbers as float64 for the blocked solvers; strings (categories) as they are, for the encoders.
    return (X_block if X_block.dtype == object else X_block.astype(float, copy=False)), part[1]


def _apply(part: tuple[Any, Any], model: Any, method: str, sparse: bool = False) -> Any:
    out = getattr(model, method)(part[0])
    return out.tocsr() if sparse and hasattr(out, "tocsr") else _dense(out)


def _dense(out: Any) -> np.ndarray:
    """A block's output as a NumPy array: a sparse one densified (where the step's output is not
    sparse throughout: a ColumnTransformer may give either per block)."""
    return out.toarray() if hasattr(out, "toarray") else np.asarray(out)


def _too_large(settings: LazySettings, path: str, step: Any) -> OutOfMemoryBudgetError:
    budget = settings.budget
    return OutOfMemoryBudgetError(
        f"Step {path!r} ({type(step).__name__}) has no partial_fit, and fitting it on its input loaded whole "
        f"(as float64 x {load_factor(step):g}) would pass the in-memory budget of {budget / 2**20:.0f} MiB "
        "(max_in_memory_bytes). Use an estimator that learns "
        "incrementally (SGDClassifier/SGDRegressor, IncrementalPCA, MiniBatchKMeans, MultinomialNB, ...), "
        "fit on a sample, or raise max_in_memory_bytes."
    )
