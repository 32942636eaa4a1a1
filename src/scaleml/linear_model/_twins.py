"""scaleml's blocked twin of a scikit-learn linear model, when the objectives are the same."""

from __future__ import annotations

from typing import Any

import numpy as np

# LogisticRegression solvers minimizing C * sum(loss) + ||coef||^2 / 2 with the
# intercept unpenalized (liblinear penalizes the intercept too).
_SAME_OBJECTIVE_SOLVERS = {"lbfgs", "newton-cg", "newton-cholesky", "sag", "saga"}


def from_sklearn(estimator: Any) -> Any:
    """The unfitted scaleml model with ``estimator``'s objective, or None.

    Covers ``LogisticRegression`` (L2 or no penalty, no class weights),
    ``LinearRegression`` and ``Ridge`` (scalar alpha), none constrained to
    positive coefficients, and ``PoissonRegressor``; anything else has no blocked twin.
    """
    import sklearn.linear_model as sk

    from ._least_squares import LinearRegression, Ridge
    from ._logistic import LogisticRegression
    from ._poisson import PoissonRegressor

    params = estimator.get_params(deep=False)
    kind = type(estimator)
    if kind is sk.LogisticRegression:
        penalty = params.get("penalty", "deprecated")
        l1_ratio = params.get("l1_ratio")
        if penalty not in ("deprecated", "l2", None) or l1_ratio not in (0, 0.0, None):
            return None
        if params["class_weight"] is not None or params["dual"] or params["solver"] not in _SAME_OBJECTIVE_SOLVERS:
            return None
        C = np.inf if penalty is None else params["C"]
        return LogisticRegression(C=C, fit_intercept=params["fit_intercept"], tol=params["tol"], max_iter=params["max_iter"])
    if kind is sk.LinearRegression and not params["positive"]:
        return LinearRegression(fit_intercept=params["fit_intercept"])
    if kind is sk.PoissonRegressor:
        return PoissonRegressor(alpha=params["alpha"], fit_intercept=params["fit_intercept"],
                                solver=params["solver"], max_iter=params["max_iter"], tol=params["tol"])
    if kind is sk.Ridge and not params["positive"] and np.ndim(params["alpha"]) == 0:
        return Ridge(alpha=params["alpha"], fit_intercept=params["fit_intercept"])
    return None


def copy_fitted(source: Any, target: Any) -> None:
    """Copy the fitted attributes scikit-learn's linear models predict from."""
    for name in ("classes_", "coef_", "intercept_", "n_iter_", "n_features_in_", "feature_names_in_"):
        if hasattr(source, name):
            setattr(target, name, getattr(source, name))
