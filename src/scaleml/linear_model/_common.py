"""What the linear models share: parameters, placement, input routing, block-wise prediction."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data

from .._validation import Interval, StrOptions, ValidatedParams
from ..data.blocks import Blocks
from ..data.cluster import current_client
from ..data.forms import is_lazy
from ..exceptions import DataError
from ..planning import Placement, PlacementRequest

NON_NEGATIVE = Interval(Real, 0, None, closed="left")
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
PERSIST = ["boolean", StrOptions({"auto"})]


class BlockedModel(ValidatedParams):
    """Mixin of the blocked linear models: they say where they run (``__scaleml_placement__``)."""

    def __scaleml_placement__(self, request: PlacementRequest) -> Placement:
        name = type(self).__name__
        if not request.lazy:
            return Placement(request.step, name, "cpu", "scaleml.linear_model", "1 process", request.data_form,
                             f"{request.backend} backend: in-memory data, fitted as one block in this process")
        where = f"Dask ({request.cluster})" if request.cluster else "threads in this process"
        return Placement(
            request.step, name, "cpu", "scaleml.linear_model", where, request.data_form,
            f"{request.backend} backend: one pass over the blocks per solver step, each block's sums computed "
            + ("where it is and reduced on the workers" if request.cluster else "on threads here (no cluster)"),
        )


def blocked_input(estimator: Any, X: Any, y: Any, classifier: bool) -> Blocks:
    """``(X, y)`` as blocks: in memory after scikit-learn's validation, or lazy.

    Numeric input only (``dtype="numeric"``: strings are refused, as scikit-learn
    refuses them in its Array API mode, rather than parsed); float64 blocks.
    """
    if is_lazy(X):
        return Blocks.from_input(X, y, client=current_client())
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    X, y = validate_data(
        estimator, X, y, accept_sparse="csr", dtype="numeric", y_numeric=not classifier,
        multi_output=not classifier,
    )
    return Blocks.from_input(X.astype(np.float64, copy=False), y)


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
        raise DataError(
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
