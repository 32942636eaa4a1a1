"""Poisson regression over blocks of rows: scikit-learn's objective, fitted pass by pass."""

from __future__ import annotations

import warnings
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from .._blocked import NON_NEGATIVE, PERSIST, POSITIVE_INT, BlockedModel, apply_rows, blocked_input, report_to
from .._validation import Interval, StrOptions
from ..data.blocks import Blocks, no_rows_error
from ..data.forms import is_lazy
from ..exceptions import DataError
from ._blocks import add_sums, poisson_sums
from ._solvers import lbfgs, newton

NEWTON_MAX_PARAMS = 256  # as LogisticRegression's "auto": above it, L-BFGS's cheaper passes


class PoissonRegressor(BlockedModel, RegressorMixin, BaseEstimator):
    """Poisson regression (log link) on in-memory or Dask data, one pass per solver step.

    Minimizes scikit-learn's objective, ``mean(half Poisson deviance) + alpha/2 ||coef||^2``
    (the intercept not penalized), so the coefficients match
    ``sklearn.linear_model.PoissonRegressor`` with the same ``alpha``. On Dask arrays,
    DataFrames or Parquet/CSV paths each step is one pass: every block's loss,
    gradient (and Hessian) is computed where the block is and only the sums travel.

    Parameters
    ----------
    alpha : float, default=1.0
        L2 penalty strength; 0 for none.
    fit_intercept : bool, default=True
    solver : {"auto", "newton", "lbfgs", "newton-cholesky"}, default="auto"
        ``newton`` (and scikit-learn's ``"newton-cholesky"``): few passes, each with the
        Hessian (``params**2`` per row); ``lbfgs``: more, cheaper passes. ``auto``: Newton
        up to 256 coefficients.
    max_iter : int, default=100
    tol : float, default=1e-4
        Stop when the largest entry of the objective's gradient is at most ``tol``.
    persist : {"auto", True, False}, default="auto"
        Keep lazy blocks in (cluster) memory between passes (as ``LogisticRegression``'s).
    verbose : int, default=0

    Attributes
    ----------
    coef_, intercept_, n_iter_, n_features_in_ : as scikit-learn's.
    n_passes_ : int
        Passes over the data the fit made.
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "newton", "lbfgs", "newton-cholesky"})],
        "max_iter": [POSITIVE_INT],
        "tol": [NON_NEGATIVE],
        "persist": PERSIST,
        "verbose": ["verbose"],
    }

    def __init__(self, *, alpha=1.0, fit_intercept=True, solver="auto", max_iter=100, tol=1e-4,
                 persist="auto", verbose=0):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.persist = persist
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.positive_only = True  # counts: scikit-learn's checks draw non-negative targets
        return tags

    def fit(self, X: Any, y: Any) -> PoissonRegressor:
        """Fit on NumPy/pandas data, a Dask array/DataFrame, or a Parquet/CSV path.

        With a DataFrame or a path, ``y`` is the name of the target column.
        """
        self._validate_params()
        if not is_lazy(X) and len(getattr(y, "shape", ())) == 2:
            from sklearn.utils.validation import column_or_1d

            y = column_or_1d(y, warn=True)  # one target, as scikit-learn's: (n, 1) warned and raveled
        data = blocked_input(self, X, y, classifier=False)
        if not data.lazy and (np.asarray(data.parts[0][1]) < 0).any():
            raise ValueError("Some value(s) of y are out of the valid range of the loss 'HalfPoissonLoss'.")
        return self.fit_blocks(data)

    def fit_blocks(self, data: Blocks) -> PoissonRegressor:
        """Fit on prepared blocks (what :meth:`fit` does after reading its input)."""
        self._validate_params()
        report = report_to(self)
        if data.lazy:
            self.n_features_in_ = data.n_features
        width = self.n_features_in_ + int(bool(self.fit_intercept))
        w0 = np.zeros(width)
        solver = {"auto": "newton" if width <= NEWTON_MAX_PARAMS else "lbfgs", "newton-cholesky": "newton"}.get(
            self.solver, self.solver)
        order = 2 if solver == "newton" else 1
        # The first pass validates lazy blocks (scikit-learn's messages) and counts the rows.
        first = data.reduce(poisson_sums, w0, bool(self.fit_intercept), order,
                            self.n_features_in_ if data.lazy else None, merge=add_sums)
        n_rows = first[3]
        if n_rows == 0:
            raise no_rows_error(data.description)
        if data.lazy and not data.persisted:
            data.persist(self.persist, n_rows * self.n_features_in_ * 8)
        if report is not None:
            report(f"{n_rows} rows, {data.description}; solver {solver}")
        objective = self._objective(data, n_rows, width, first)
        if solver == "newton":
            solution = newton(objective, w0, self.tol, self.max_iter, report=report)
        else:
            solution = lbfgs(objective, w0, self.tol, self.max_iter, report=report)
        if not solution.converged:
            warnings.warn(f"{solver} failed to converge after {solution.n_iter} iteration(s) (max_iter="
                          f"{self.max_iter}). Increase max_iter, scale the data, or raise tol.",
                          ConvergenceWarning, stacklevel=2)
        p = self.n_features_in_
        self.coef_ = solution.w[:p].copy()
        self.intercept_ = float(solution.w[p]) if self.fit_intercept else 0.0
        self.n_iter_ = int(solution.n_iter)
        self.n_passes_ = data.passes
        return self

    def _objective(self, data: Blocks, n_rows: int, width: int, first: tuple):
        """Mean Poisson loss plus ``alpha/2 ||coef||^2``; ``first``: the sums at zero, computed."""
        fit_intercept, alpha = bool(self.fit_intercept), float(self.alpha)
        penalized = np.ones(width)
        if fit_intercept:
            penalized[-1] = 0.0

        def objective(w: np.ndarray, order: int) -> tuple:
            if not w.any() and (order < 2 or first[2] is not None):
                loss, grad, hess = first[:3]
            else:
                loss, grad, hess = data.reduce(poisson_sums, w, fit_intercept, order, merge=add_sums)[:3]
            f = loss / n_rows + 0.5 * alpha * float(np.sum(penalized * w * w))
            g = None if grad is None else grad / n_rows + alpha * penalized * w
            H = None if hess is None else hess / n_rows + np.diag(alpha * penalized)
            return f, g, H

        return objective

    def predict(self, X: Any) -> Any:
        """The expected counts, ``exp(X coef + intercept)``: NumPy, or lazy for lazy input."""
        check_is_fitted(self)
        coef, intercept = self.coef_, self.intercept_
        return apply_rows(self, X, lambda block: np.exp(block @ coef + intercept), None, np.float64)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """D², the fraction of Poisson deviance explained (scikit-learn's score), on in-memory data."""
        from sklearn.metrics import d2_tweedie_score

        if is_lazy(X):
            raise DataError(
                "PoissonRegressor.score (D², the deviance explained) takes in-memory data; on lazy data compute "
                "sklearn.metrics.d2_tweedie_score(y, model.predict(X).compute(), power=1) on a sample."
            )
        return d2_tweedie_score(y, self.predict(X), sample_weight=sample_weight, power=1)

    def to_sklearn(self) -> Any:
        """The fitted model as ``sklearn.linear_model.PoissonRegressor`` (same predictions)."""
        from sklearn.linear_model import PoissonRegressor as SkPoissonRegressor

        check_is_fitted(self)
        model = SkPoissonRegressor(alpha=self.alpha, fit_intercept=self.fit_intercept, max_iter=self.max_iter,
                                   tol=self.tol)
        self.export_to(model)
        return model

    def export_to(self, step: Any) -> None:
        """Make scikit-learn's ``PoissonRegressor`` ``step`` fitted with these coefficients.

        scikit-learn predicts with a loss object its own ``fit`` sets, so the step is
        first fitted (its public ``fit``) on two stand-in rows, then given the coefficients.
        """
        check_is_fitted(self)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            step.fit(np.zeros((2, self.n_features_in_)), np.ones(2))
        step.coef_ = self.coef_.copy()
        step.intercept_ = self.intercept_
        step.n_iter_ = self.n_iter_
