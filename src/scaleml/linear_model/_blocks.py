"""What one block of rows contributes to a linear model's fit (NumPy only).

Each function takes one part ``(X_block, y_block)`` and returns sums that add up
across blocks, so a fit is one pass over the blocks followed by a reduction.
These run on Dask workers; they import nothing heavier than NumPy and SciPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax


def check_block(part: tuple[Any, Any], n_features: int | None, classes: Any = None) -> tuple[Any, Any]:
    """Validate one block as scikit-learn validates a whole input.

    The messages are scikit-learn's (``check_array``), so a lazy input fails as an
    in-memory one would; the block's position is added by the caller.
    """
    from sklearn.utils import check_array

    X, y = part
    X = check_array(X, dtype=np.float64, ensure_min_samples=0, input_name="X")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features in one block but {n_features} in the first.")
    if y is None:
        raise ValueError("y is required: pass the targets (a Dask array or the target column's name).")
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: [{X.shape[0]}, {y.shape[0]}]")
    if classes is None:
        y = check_array(y, dtype=np.float64, ensure_2d=False, ensure_min_samples=0, input_name="y")
    elif len(y) and not np.isin(y, classes).all():
        raise ValueError(f"y has labels {np.setdiff1d(y, classes)[:5].tolist()} not among the classes {classes.tolist()}.")
    return X, y


def _as_arrays(part: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    X, y = part
    return np.asarray(X, dtype=np.float64), np.asarray(y)


# -- logistic regression ----------------------------------------------------------


def logistic_sums(
    part: tuple[Any, Any], w: np.ndarray, classes: np.ndarray, fit_intercept: bool, order: int,
    check_features: int | None = None,
) -> tuple:
    """Summed log-loss of one block, with its gradient (order >= 1) and Hessian (order 2).

    ``w`` holds the coefficients then the intercept: one vector for two classes
    (the positive class is ``classes[1]``), one row per class for more.
    Returns ``(loss, gradient, hessian, n_rows)`` with None for what was not asked.
    ``check_features``: validate the block first, expecting that many features
    (the first pass over lazy data, whose blocks nobody has seen).
    """
    X, y = check_block(part, check_features, classes) if check_features else _as_arrays(part)
    n, p = X.shape
    if len(classes) == 2:
        return _binary_sums(X, (y == classes[1]).astype(np.float64), w, p, fit_intercept, order) + (n,)
    labels = np.searchsorted(classes, y)
    return _multinomial_sums(X, labels, w.reshape(len(classes), -1), p, fit_intercept, order) + (n,)


def _binary_sums(X: np.ndarray, y: np.ndarray, w: np.ndarray, p: int, fit_intercept: bool, order: int) -> tuple:
    z = X @ w[:p]
    if fit_intercept:
        z += w[p]
    # log(1 + e^z) - y z, written to stay finite for any z.
    loss = float(np.sum(-log_expit(z) + (1.0 - y) * z))
    if order == 0:
        return loss, None, None
    prob = expit(z)
    residual = prob - y
    grad = np.empty_like(w)
    grad[:p] = X.T @ residual
    if fit_intercept:
        grad[p] = residual.sum()
    if order == 1:
        return loss, grad, None
    weight = prob * (1.0 - prob)
    hess = np.empty((len(w), len(w)))
    hess[:p, :p] = X.T @ (X * weight[:, None])
    if fit_intercept:
        hess[:p, p] = hess[p, :p] = X.T @ weight
        hess[p, p] = weight.sum()
    return loss, grad, hess


def _multinomial_sums(X: np.ndarray, labels: np.ndarray, W: np.ndarray, p: int, fit_intercept: bool, order: int) -> tuple:
    n, k = len(X), W.shape[0]
    Z = X @ W[:, :p].T
    if fit_intercept:
        Z += W[:, p]
    rows = np.arange(n)
    loss = float(np.sum(logsumexp(Z, axis=1) - Z[rows, labels]))
    if order == 0:
        return loss, None, None
    prob = softmax(Z, axis=1)
    residual = prob
    residual[rows, labels] -= 1.0
    grad = np.zeros_like(W)
    grad[:, :p] = residual.T @ X
    if fit_intercept:
        grad[:, p] = residual.sum(axis=0)
    if order == 1:
        return loss, grad.ravel(), None
    residual[rows, labels] += 1.0  # back to the probabilities
    Xa = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    m = W.shape[1]
    # H = blockdiag_k(Xa' diag(p_k) Xa) - A'A with A_i = p_i (x) xa_i.
    A = (prob[:, :, None] * Xa[:, None, :]).reshape(n, k * m)
    hess = -(A.T @ A)
    for c in range(k):
        block = slice(c * m, (c + 1) * m)
        hess[block, block] += Xa.T @ (Xa * prob[:, c, None])
    return loss, grad.ravel(), hess


# -- least squares ----------------------------------------------------------------


def gram_sums(part: tuple[Any, Any], center: bool, check: bool = False) -> tuple:
    """One block's row count, means and (centred) cross-products for least squares.

    ``check``: validate the block first (lazy data, whose blocks nobody has seen).

    Returns ``(n, mean_X, mean_y, XtX, Xty)``; with ``center`` the cross-products
    are about the block's own means, which :func:`merge_gram` combines exactly
    (Chan et al.'s pairwise update), so large offsets cost no precision.
    """
    X, y = check_block(part, None) if check else _as_arrays(part)
    y = y.astype(np.float64).reshape(len(y), -1)
    n = len(X)
    if center and n:
        mean_X, mean_y = X.mean(axis=0), y.mean(axis=0)
        Xc, yc = X - mean_X, y - mean_y
    else:
        mean_X, mean_y = np.zeros(X.shape[1]), np.zeros(y.shape[1])
        Xc, yc = X, y
    return n, mean_X, mean_y, Xc.T @ Xc, Xc.T @ yc


def merge_gram(*stats: tuple) -> tuple:
    """Combine :func:`gram_sums` results of disjoint blocks."""
    n, mean_X, mean_y, XtX, Xty = stats[0]
    XtX, Xty = XtX.copy(), Xty.copy()
    for n_b, mean_X_b, mean_y_b, XtX_b, Xty_b in stats[1:]:
        if XtX_b.shape != XtX.shape:
            raise ValueError(f"X's blocks have different numbers of features: {len(XtX)} and {len(XtX_b)}.")
        total = n + n_b
        if n_b == 0:
            continue
        dx, dy = mean_X_b - mean_X, mean_y_b - mean_y
        factor = n * n_b / total
        XtX += XtX_b + factor * np.outer(dx, dx)
        Xty += Xty_b + factor * np.outer(dx, dy)
        mean_X = mean_X + dx * (n_b / total)
        mean_y = mean_y + dy * (n_b / total)
        n = total
    return n, mean_X, mean_y, XtX, Xty


def add_sums(*results: tuple) -> tuple:
    """Add block results elementwise (None stays None)."""
    return tuple(
        None if values[0] is None else sum(values[1:], values[0])
        for values in zip(*results)
    )
