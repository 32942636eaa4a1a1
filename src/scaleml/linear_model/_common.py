"""What the linear models share: parameter checks, input routing, block-wise prediction."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data

from ._passes import BlockedData, is_lazy


def check_param(estimator: Any, name: str, valid: bool, expected: str) -> None:
    """Raise scikit-learn's kind of error for a bad constructor parameter."""
    if not valid:
        value = getattr(estimator, name)
        raise ValueError(
            f"The {name!r} parameter of {type(estimator).__name__} must be {expected}. Got {value!r} instead."
        )


def is_real(value: Any, low: float = -np.inf, *, strict: bool = False) -> bool:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or np.isnan(value):
        return False
    return value > low if strict else value >= low


def is_positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def check_persist(estimator: Any) -> None:
    check_param(estimator, "persist", estimator.persist in (True, False, "auto"), "True, False or 'auto'")


def blocked_input(estimator: Any, X: Any, y: Any, classifier: bool) -> BlockedData:
    """``(X, y)`` as blocks: in memory after scikit-learn's validation, or lazy.

    Numeric input only (``dtype="numeric"``: strings are refused, as scikit-learn
    refuses them in its Array API mode, rather than parsed); float64 blocks.
    """
    if is_lazy(X):
        return BlockedData.from_input(X, y)
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    X, y = validate_data(
        estimator, X, y, accept_sparse="csr", dtype="numeric", y_numeric=not classifier,
        multi_output=not classifier,
    )
    return BlockedData.from_input(X.astype(np.float64, copy=False), y)


def apply_rows(estimator: Any, X: Any, fn: Any, n_outputs: int | None, dtype: Any) -> Any:
    """``fn`` on the rows of X: NumPy in, NumPy out; a Dask array in, a lazy Dask array out.

    ``n_outputs``: columns of the result (None: one value per row).
    """
    if not is_lazy(X):
        return fn(validate_data(estimator, X, accept_sparse="csr", dtype=np.float64, reset=False))
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(X, dd.DataFrame):
        X = X.to_dask_array()
    if not isinstance(X, da.Array) or X.ndim != 2:
        raise TypeError(
            f"{type(estimator).__name__} predicts on NumPy/pandas data or a 2-d Dask array, "
            f"not {type(X).__name__}; read files with dask.dataframe first."
        )
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    X = X.rechunk({1: -1})
    if n_outputs is None:
        return X.map_blocks(_rows, fn, drop_axis=1, dtype=dtype)
    return X.map_blocks(_rows, fn, chunks=(X.chunks[0], (n_outputs,)), dtype=dtype)


def _rows(block: np.ndarray, fn: Any) -> np.ndarray:
    return fn(np.asarray(block, dtype=np.float64))


def report_to(estimator: Any):
    """A progress printer when ``verbose`` is set, else None."""
    if not estimator.verbose:
        return None
    name = type(estimator).__name__

    def report(message: str) -> None:
        print(f"[{name}] {message}", flush=True)

    return report
