"""Logistic regression over blocks of rows: scikit-learn's objective, fitted pass by pass."""

from __future__ import annotations

import warnings
from numbers import Real
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._blocks import SCALE_ABOVE, _largest, logistic_sums, merge_logistic, scale_for
from .._validation import Interval, StrOptions
from ..data.blocks import Blocks, no_rows_error
from .._blocked import NON_NEGATIVE, PERSIST, POSITIVE_INT, BlockedModel, apply_rows, blocked_input, report_to
from ._solvers import lbfgs, newton

# Above this many coefficients "auto" prefers L-BFGS: a Newton pass costs
# n * params**2 (the Hessian) against L-BFGS's n * params per evaluation.
NEWTON_MAX_PARAMS = 256


class LogisticRegression(BlockedModel, ClassifierMixin, BaseEstimator):
    """L2-penalized logistic regression on in-memory or Dask data, one pass per step.

    Minimizes scikit-learn's objective, ``C * sum(log_loss) + ||coef||^2 / 2`` (the
    intercept not penalized; multinomial for more than two classes), so the
    coefficients match ``sklearn.linear_model.LogisticRegression`` with the same
    ``C``. On Dask arrays, DataFrames or Parquet/CSV paths every solver step is one
    pass over the blocks: each block's loss, gradient (and Hessian) is computed where
    the block is, and only those sums travel, reduced on the workers.

    Parameters
    ----------
    C : float, default=1.0
        Inverse of the regularization strength; ``np.inf`` for no penalty.
    fit_intercept : bool, default=True
    tol : float, default=1e-4
        Stop when the largest entry of the mean loss's gradient is at most ``tol``
        (scikit-learn's criterion).
    max_iter : int, default=100
        Solver iterations (Newton steps or L-BFGS iterations).
    solver : {"auto", "newton", "lbfgs"}, default="auto"
        ``newton`` needs few passes (each computes the Hessian, ``params**2`` per
        row); ``lbfgs`` more, cheaper ones. ``auto``: Newton up to 256 coefficients.
    persist : {"auto", True, False}, default="auto"
        Keep lazy blocks in (cluster) memory between passes. ``auto``: when they
        fit half the workers' memory (a quarter of this machine's without a
        cluster); otherwise every pass reads them again from the source, so data
        larger than memory is fitted too, more slowly.
    verbose : int, default=0
        Print where the blocks live and each iteration's loss.

    Attributes
    ----------
    classes_, coef_, intercept_, n_iter_, n_features_in_ : as scikit-learn's.
    n_passes_ : int
        Passes over the data the fit made (validation included).

    Examples
    --------
    >>> import dask.array as da  # doctest: +SKIP
    >>> X = da.random.random((1_000_000, 30), chunks=(100_000, 30))  # doctest: +SKIP
    >>> y = (X[:, 0] > 0.5).astype(int)  # doctest: +SKIP
    >>> LogisticRegression().fit(X, y).coef_.shape  # doctest: +SKIP
    (1, 30)
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, float("inf"), closed="right")],
        "fit_intercept": ["boolean"],
        "tol": [NON_NEGATIVE],
        "max_iter": [POSITIVE_INT],
        "solver": [StrOptions({"auto", "newton", "lbfgs"})],
        "persist": PERSIST,
        "verbose": ["verbose"],
    }

    def __init__(self, *, C=1.0, fit_intercept=True, tol=1e-4, max_iter=100, solver="auto", persist="auto", verbose=0):
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.persist = persist
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(self, X: Any, y: Any) -> LogisticRegression:
        """Fit on NumPy/pandas data, a Dask array/DataFrame, or a Parquet/CSV path.

        With a DataFrame or a path, ``y`` is the name of the target column.
        """
        self._validate_params()
        return self.fit_blocks(blocked_input(self, X, y, classifier=True))

    def fit_blocks(self, data: Blocks) -> LogisticRegression:
        """Fit on prepared blocks (what :meth:`fit` does after reading its input)."""
        self._validate_params()
        report = report_to(self)
        where = self._learn_classes(data)
        n_classes = 1 if len(self.classes_) == 2 else len(self.classes_)
        width = self.n_features_in_ + int(bool(self.fit_intercept))
        w0 = np.zeros(n_classes * width)
        solver = self.solver
        if solver == "auto":
            solver = "newton" if len(w0) <= NEWTON_MAX_PARAMS else "lbfgs"
        first, n_rows, column_scale = self._first_pass(data, w0, 2 if solver == "newton" else 1)
        if data.lazy and not data.persisted and data.nbytes is None:
            where = data.persist(self.persist, n_rows * self.n_features_in_ * 8)
        if report is not None:
            report(f"{n_rows} rows, {data.description}, blocks {where}; solver {solver}")
        objective = self._objective(data, n_rows, n_classes, width, first, column_scale)
        if solver == "newton":
            singular = n_classes > 1 and bool(self.fit_intercept)
            solution = newton(objective, w0, self.tol, self.max_iter, singular=singular, report=report)
        else:
            solution = lbfgs(objective, w0, self.tol, self.max_iter, report=report)
        if not solution.converged:
            warnings.warn(
                f"{solver} failed to converge after {solution.n_iter} iteration(s) (max_iter="
                f"{self.max_iter}). Increase max_iter, scale the data, or raise tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._set_coefficients(solution.w, n_classes, width, column_scale)
        self.n_iter_ = np.array([solution.n_iter], dtype=np.int32)
        self.n_passes_ = data.passes
        return self

    def _learn_classes(self, data: Blocks) -> str:
        """Set ``classes_`` (and, for lazy blocks, ``n_features_in_``); return where the blocks live.

        Raises
        ------
        ValueError
            Fewer than two classes, in scikit-learn's words.
        """
        if data.lazy:
            self.classes_ = data.classes()
            self.n_features_in_ = data.n_features
            where = data.persist(self.persist, data.nbytes)
        else:
            check_classification_targets(data.parts[0][1])
            self.classes_ = np.unique(data.parts[0][1])
            where = "in memory"
        if len(self.classes_) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {self.classes_[0]!r}"
            )
        return where

    def _first_pass(self, data: Blocks, w0: np.ndarray, order: int) -> tuple[tuple, int, Any]:
        """The sums at zero coefficients, the number of rows, and the column scale (None: unscaled).

        The first pass also validates lazy blocks, counts the rows and measures the
        columns. Where its sums overflow (values near the float64 limit), the fit is
        solved in columns scaled by powers of two instead, at the cost of one more pass.

        Raises
        ------
        ValueError
            The data have no rows.
        """
        first = data.reduce(
            logistic_sums, w0, self.classes_, bool(self.fit_intercept), order,
            self.n_features_in_ if data.lazy else None, merge=merge_logistic,
        )
        n_rows = first[3]
        if n_rows == 0:
            raise no_rows_error(data.description)
        column_scale = None
        if not all(part is None or np.all(np.isfinite(part)) for part in first[:3]):
            largest = first[4] if first[4] is not None else _largest(data.parts[0][0])
            column_scale = scale_for(largest, SCALE_ABOVE)
            first = data.reduce(
                logistic_sums, w0, self.classes_, bool(self.fit_intercept), order, None, column_scale,
                merge=merge_logistic,
            )
        return first, n_rows, column_scale

    def _set_coefficients(self, w: np.ndarray, n_classes: int, width: int, column_scale: Any) -> None:
        """``coef_`` and ``intercept_`` from the solver's flat ``w``, in the data's own columns."""
        W = w.reshape(n_classes, width)
        self.coef_ = W[:, : self.n_features_in_].copy()
        if column_scale is not None:
            self.coef_ /= column_scale  # back from the scaled columns
        self.intercept_ = W[:, -1].copy() if self.fit_intercept else np.zeros(n_classes)
        if n_classes > 1:
            # Softmax ignores a shift shared by all intercepts; report the one
            # scikit-learn reports (summing to zero).
            self.intercept_ -= self.intercept_.mean()

    def _objective(self, data: Any, n_rows: int, n_classes: int, width: int, first: tuple, column_scale: Any):
        """Mean log-loss plus ``||coef||^2 / (2 C n)``: scikit-learn's objective over n.

        ``first``: the sums at zero coefficients, already computed. With
        ``column_scale`` the coefficients are those of the scaled columns, whose
        penalty is ``(coef / scale)**2``.
        """
        classes, fit_intercept = self.classes_, bool(self.fit_intercept)
        alpha = 0.0 if np.isinf(self.C) else 1.0 / (self.C * n_rows)
        penalized = np.ones((n_classes, width))
        if column_scale is not None:
            with np.errstate(over="ignore", under="ignore"):  # huge scales: a penalty of ~0
                penalized[:, : len(column_scale)] = 1.0 / column_scale**2
        if fit_intercept:
            penalized[:, -1] = 0.0
        penalized = penalized.ravel()

        def objective(w: np.ndarray, order: int) -> tuple:
            if not w.any() and (order < 2 or first[2] is not None):
                loss, grad, hess = first[:3]
            else:
                loss, grad, hess = data.reduce(
                    logistic_sums, w, classes, fit_intercept, order, None, column_scale, merge=merge_logistic
                )[:3]
            f = loss / n_rows + 0.5 * alpha * float(np.sum(penalized * w * w))
            g = None if grad is None else grad / n_rows + alpha * penalized * w
            H = None if hess is None else hess / n_rows + np.diag(alpha * penalized)
            return f, g, H

        return objective

    # -- prediction ---------------------------------------------------------------

    def decision_function(self, X: Any) -> Any:
        """Scores per class (one column for two classes, returned 1-d)."""
        check_is_fitted(self)
        coef, intercept = self.coef_, self.intercept_
        binary = len(self.classes_) == 2

        def scores(block: np.ndarray) -> np.ndarray:
            values = block @ coef.T + intercept
            return values[:, 0] if binary else values

        return apply_rows(self, X, scores, None if binary else len(self.classes_), np.float64)

    def predict_proba(self, X: Any) -> Any:
        check_is_fitted(self)
        coef, intercept = self.coef_, self.intercept_

        def proba(block: np.ndarray) -> np.ndarray:
            values = block @ coef.T + intercept
            if values.shape[1] == 1:
                positive = expit(values[:, 0])
                return np.column_stack([1.0 - positive, positive])
            return softmax(values, axis=1)

        return apply_rows(self, X, proba, len(self.classes_), np.float64)

    def predict_log_proba(self, X: Any) -> Any:
        return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> Any:
        check_is_fitted(self)
        coef, intercept, classes = self.coef_, self.intercept_, self.classes_

        def labels(block: np.ndarray) -> np.ndarray:
            values = block @ coef.T + intercept
            index = (values[:, 0] > 0).astype(int) if values.shape[1] == 1 else values.argmax(axis=1)
            return classes[index]

        return apply_rows(self, X, labels, None, classes.dtype)

    def to_sklearn(self) -> Any:
        """The fitted model as ``sklearn.linear_model.LogisticRegression`` (same predictions)."""
        from sklearn.linear_model import LogisticRegression as SkLogisticRegression

        from ._twins import copy_fitted

        check_is_fitted(self)
        model = SkLogisticRegression(C=self.C, fit_intercept=self.fit_intercept, tol=self.tol, max_iter=self.max_iter)
        copy_fitted(self, model)
        return model

