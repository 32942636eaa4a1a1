"""What scaleml's blocked estimators share: parameters, placement, input routing, block-wise output.

The blocked estimators (``scaleml.linear_model``, ``scaleml.decomposition``,
``scaleml.cluster``) fit by passes over :class:`~scaleml.data.blocks.Blocks`:
in memory as one block, on Dask collections or Parquet/CSV paths block by block
where the blocks are.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data

from ._validation import Interval, StrOptions, ValidatedParams
from .data.blocks import Blocks, score_blocks
from .data.columns import has_column
from .engines.dask.current import current_client
from .data.forms import is_lazy
from .exceptions import DataError
from .planning import Placement, PlacementRequest, Route

NON_NEGATIVE = Interval(Real, 0, None, closed="left")
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
PERSIST = ["boolean", StrOptions({"auto"})]


class BlockedEstimator(ValidatedParams):
    """Base of the blocked estimators: they say where they run (``__scaleml_placement__``)."""

    def __scaleml_placement__(self, request: PlacementRequest) -> Placement:
        name, engine = type(self).__name__, engine_name(self)
        if not request.lazy:
            return Placement(request.step, name, "cpu", engine, "1 process", request.data_form,
                             f"{request.backend} backend: in-memory data, fitted as one block in this process",
                             Route.IN_PROCESS)
        where = f"Dask ({request.cluster})" if request.cluster else "threads in this process"
        return Placement(
            request.step, name, "cpu", engine, where, request.data_form,
            f"{request.backend} backend: one pass over the blocks per solver step, each block's sums computed "
            + ("where it is and reduced on the workers" if request.cluster else "on threads here (no cluster)"),
            Route.BLOCKED_ON_CLUSTER if request.cluster else Route.BLOCKED,
        )


class BlockedModel(BlockedEstimator):
    """A blocked classifier or regressor: also scores lazy data block by block."""

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Accuracy (classifiers) or R² (regressors); on lazy X, y is the target column's name
        or a Dask array, and the blocks are scored where they are."""
        if is_lazy(X):
            if sample_weight is not None:
                raise DataError("sample_weight is not supported with lazy data; score in-memory data to use it.")
            return lazy_score(self, X, y)
        return super().score(X, y, sample_weight=sample_weight)


def check_rows(X: Any, n_features: int | None) -> Any:
    """One block of X validated as scikit-learn validates a whole input (dense or CSR, float64).

    The messages are scikit-learn's (``check_array``), so a lazy input fails as an
    in-memory one would; ``n_features``: the columns the first block had (None: unknown).
    Runs where the block is.
    """
    from sklearn.utils import check_array

    X = check_array(X, accept_sparse="csr", dtype=np.float64, ensure_min_samples=0, input_name="X")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features in one block but {n_features} in the first.")
    return X


def engine_name(estimator: Any) -> str:
    """The scaleml package an estimator comes from (``"scaleml.cluster"``), for plans."""
    return type(estimator).__module__.split("._")[0]


def blocked_input(estimator: Any, X: Any, y: Any, classifier: bool) -> Blocks:
    """``(X, y)`` as blocks: in memory after scikit-learn's validation, or lazy.

    Numeric input only (``dtype="numeric"``: strings are refused, as scikit-learn
    refuses them in its Array API mode, rather than parsed); float64 blocks.
    """
    # The target named as a column of lazy data is left out of the features again in predict.
    estimator.target_column_ = y if is_lazy(X) and isinstance(y, str) else None
    if is_lazy(X):
        if classifier and getattr(y, "ndim", 1) == 2 and y.shape[1] == 1:
            y = _column_vector(y)
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


def _column_vector(y: Any) -> Any:
    """A lazy ``(n, 1)`` target of a classifier, as scikit-learn takes one: warned, then raveled."""
    import warnings

    from sklearn.exceptions import DataConversionWarning

    warnings.warn(
        "A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
        "(n_samples, ), for example using ravel().", DataConversionWarning, stacklevel=3,
    )
    return y[:, 0]


def unsupervised_input(estimator: Any, X: Any, y: Any = None, *, min_features: int = 1) -> Blocks:
    """``X`` as blocks for an estimator that learns from X alone: in memory after
    scikit-learn's validation (dense or CSR, float64), or lazy (validated block by block).

    ``y`` is ignored, as scikit-learn ignores it, except that a target column named
    by lazy data is left out of the features (here and in later transforms).
    """
    target = y if is_lazy(X) and isinstance(y, str) else None
    estimator.target_column_ = target
    if is_lazy(X):
        return Blocks.from_input(X, target, client=current_client())
    X = validate_data(estimator, X, accept_sparse="csr", dtype=np.float64, ensure_min_features=min_features)
    return Blocks.from_input(X, None)


def apply_rows(estimator: Any, X: Any, fn: Any, n_outputs: int | None, dtype: Any) -> Any:
    """``fn`` on the rows of X: NumPy in, NumPy out; lazy in (a Dask array or DataFrame,
    Parquet/CSV files), a lazy Dask array out, computed block by block.

    ``n_outputs``: columns of the result (None: one value per row). The target
    column the model was fitted with (``target_column_``) is left out of lazy X.
    """
    if not is_lazy(X):
        return fn(validate_data(estimator, X, accept_sparse="csr", dtype=np.float64, reset=False))
    data = _lazy_features(estimator, X)
    if data.n_features is not None and data.n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {data.n_features} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return data.map_to_array(_rows, fn, n_columns=n_outputs, dtype=dtype)


def _lazy_features(estimator: Any, X: Any, y: Any = None) -> Blocks:
    target = estimator.__dict__.get("target_column_")
    if y is None and target is not None and has_column(X, target):
        y = target
    return Blocks.from_input(X, y, client=current_client())


def _rows(part: tuple[Any, Any], fn: Any) -> np.ndarray:
    return fn(np.asarray(part[0], dtype=np.float64))


def lazy_score(estimator: Any, X: Any, y: Any) -> float:
    """The estimator's accuracy (classifiers) or R² (regressors) on lazy X and y, block by block."""
    if y is None:
        raise DataError("score on lazy data needs y: the target column's name (files, DataFrames) or a Dask array.")
    return score_blocks(estimator, _lazy_features(estimator, X, y))


def report_to(estimator: Any):
    """A progress printer when ``verbose`` is set, else None."""
    if not estimator.verbose:
        return None
    name = type(estimator).__name__

    def report(message: str) -> None:
        print(f"[{name}] {message}", flush=True)

    return report
