"""Least squares over blocks of rows: one pass for a small summary, a small solve here."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._blocks import SCALE_ABOVE, gram_sums, merge_gram, merge_qr, qr_sums
from ..data.blocks import Blocks, no_rows_error
from .._blocked import NON_NEGATIVE, BlockedModel, apply_rows, blocked_input, report_to


class _LeastSquares(BlockedModel, RegressorMixin, BaseEstimator):
    """Shared fit: one pass summarizing the centred, scaled data; subclasses solve."""

    _parameter_constraints = {"fit_intercept": ["boolean"], "verbose": ["verbose"]}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags

    def _scaled_solution(self, data: Blocks, center: bool) -> tuple:
        """``(n, scale_X, scale_y, mean_X, mean_y, v)``: v solves the problem in X/scale_X, y/scale_y."""
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _LeastSquares:
        """Fit on NumPy/pandas data, a Dask array/DataFrame, or a Parquet/CSV path.

        One pass over the data, which also validates lazy blocks. With a DataFrame
        or a path, ``y`` is the name of the target column.
        """
        self._validate_params()
        return self.fit_blocks(blocked_input(self, X, y, classifier=False))

    def fit_blocks(self, data: Blocks) -> _LeastSquares:
        """Fit on prepared blocks (what :meth:`fit` does after reading its input)."""
        self._validate_params()
        report = report_to(self)
        center = bool(self.fit_intercept)
        n, scale_X, scale_y, mean_X, mean_y, v = self._scaled_solution(data, center)
        if data.lazy:
            if n == 0:
                raise no_rows_error(data.description)
            self.n_features_in_ = len(scale_X)
        if report is not None:
            report(f"{n} rows, {data.description}: summarized in {data.passes} pass")
        coef = v * scale_y / scale_X[:, None]  # back from the scaled columns
        intercept = scale_y * (mean_y - mean_X @ v) if center else np.zeros(coef.shape[1])
        single_target = data.y_ndim == 1
        self.coef_ = coef.T[0] if single_target else coef.T
        self.intercept_ = float(intercept[0]) if single_target else intercept
        self.n_passes_ = data.passes
        return self

    def predict(self, X: Any) -> Any:
        check_is_fitted(self)
        coef, intercept = self.coef_, self.intercept_
        n_outputs = None if np.ndim(coef) == 1 else coef.shape[0]

        def values(block: np.ndarray) -> np.ndarray:
            return block @ coef.T + intercept

        return apply_rows(self, X, values, n_outputs, np.float64)

    def to_sklearn(self) -> Any:
        """The fitted model as the scikit-learn estimator of the same name."""
        import sklearn.linear_model

        from ._twins import copy_fitted

        check_is_fitted(self)
        model = getattr(sklearn.linear_model, type(self).__name__)(**self._sklearn_params())
        copy_fitted(self, model)
        return model


def _summary(data: Blocks, sums: Any, merge: Any, center: bool) -> tuple:
    """One pass of ``sums``; one more with huge columns scaled if the first overflowed."""
    summary = data.reduce(sums, center, data.lazy, np.inf, merge=merge)
    if all(np.all(np.isfinite(part)) for part in summary[3:]):
        return summary
    return data.reduce(sums, center, False, SCALE_ABOVE, merge=merge)


class LinearRegression(_LeastSquares):
    """Ordinary least squares on in-memory or Dask data, in one pass.

    Each block is reduced to the triangular factor R of its centred ``[X, y]``
    (a QR decomposition, where the block is); the factors are merged on the
    workers (TSQR) and the small triangular system is solved here, minimum-norm
    for rank-deficient X like scikit-learn's. Unlike the normal equations this
    keeps X's condition number. Where values near the float64 limit overflow,
    the pass is redone with those columns scaled by powers of two.

    Parameters
    ----------
    fit_intercept : bool, default=True
    verbose : int, default=0
    """

    def __init__(self, *, fit_intercept=True, verbose=0):
        self.fit_intercept = fit_intercept
        self.verbose = verbose

    def _sklearn_params(self) -> dict:
        return {"fit_intercept": self.fit_intercept}

    def _scaled_solution(self, data: Blocks, center: bool) -> tuple:
        n, scale_X, scale_y, mean_X, mean_y, R = _summary(data, qr_sums, merge_qr, center)
        p = len(scale_X)
        v = scipy.linalg.lstsq(R[:p, :p], R[:p, p:], check_finite=False)[0]
        return n, scale_X, scale_y, mean_X, mean_y, v


class Ridge(_LeastSquares):
    """L2-penalized least squares (scikit-learn's objective) on in-memory or Dask data, in one pass.

    Minimizes ``||y - Xw - b||^2 + alpha ||w||^2`` like ``sklearn.linear_model.Ridge``:
    one pass for the centred cross-products ``X'X``, ``X'y`` (merged exactly
    across blocks), then a Cholesky solve here, as scikit-learn's default solver.

    Parameters
    ----------
    alpha : float, default=1.0
    fit_intercept : bool, default=True
    verbose : int, default=0
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, verbose=0):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.verbose = verbose

    _parameter_constraints = {**_LeastSquares._parameter_constraints, "alpha": [NON_NEGATIVE]}

    def _sklearn_params(self) -> dict:
        return {"alpha": self.alpha, "fit_intercept": self.fit_intercept}

    def _scaled_solution(self, data: Blocks, center: bool) -> tuple:
        n, scale_X, scale_y, mean_X, mean_y, XtX, Xty = _summary(data, gram_sums, merge_gram, center)
        # In the scaled columns the penalty alpha ||w||^2 is alpha ||v / scale_X||^2.
        with np.errstate(over="ignore", divide="ignore"):
            ridge = np.minimum(self.alpha / scale_X**2, np.finfo(np.float64).max)
        A = XtX + np.diag(ridge)
        if self.alpha > 0:
            try:
                return n, scale_X, scale_y, mean_X, mean_y, scipy.linalg.solve(A, Xty, assume_a="pos")
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
                pass  # singular in floating point: least squares below
        return n, scale_X, scale_y, mean_X, mean_y, scipy.linalg.lstsq(A, Xty)[0]
