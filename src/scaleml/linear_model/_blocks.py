"""What one block of rows contributes to a linear model's fit (NumPy only).

Each function takes one part ``(X_block, y_block)`` and returns sums that add up
across blocks, so a fit is one pass over the blocks followed by a reduction.
These run on Dask workers; they import nothing heavier than NumPy and SciPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
from scipy import sparse
from scipy.special import expit, log_expit, logsumexp, softmax

from .._blocked import check_rows


def check_block(part: tuple[Any, Any], n_features: int | None, classes: Any = None) -> tuple[Any, Any]:
    """Validate one block as scikit-learn validates a whole input.

    The messages are scikit-learn's (``check_array``), so a lazy input fails as an
    in-memory one would; the block's position is added by the caller.
    """
    from sklearn.utils import check_array

    X, y = part
    X = check_rows(X, n_features)
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


def _as_arrays(part: tuple[Any, Any]) -> tuple[Any, np.ndarray]:
    X, y = part
    X = X.tocsr().astype(np.float64) if sparse.issparse(X) else np.asarray(X, dtype=np.float64)
    return X, np.asarray(y)


def _weighted_gram(X: Any, weight: np.ndarray) -> np.ndarray:
    """``X' diag(weight) X`` as a dense array, for dense or sparse X."""
    if sparse.issparse(X):
        return np.asarray((X.T @ X.multiply(weight[:, None]).tocsr()).toarray())
    return X.T @ (X * weight[:, None])


# -- logistic regression ----------------------------------------------------------


def logistic_sums(
    part: tuple[Any, Any], w: np.ndarray, classes: np.ndarray, fit_intercept: bool, order: int,
    check_features: int | None = None, column_scale: np.ndarray | None = None,
) -> tuple:
    """Summed log-loss of one block, with its gradient (order >= 1) and Hessian (order 2).

    ``w`` holds the coefficients then the intercept: one vector for two classes
    (the positive class is ``classes[1]``), one row per class for more.
    Returns ``(loss, gradient, hessian, n_rows, largest)`` with None for what was
    not asked; ``largest`` is each column's largest magnitude, measured with
    ``check_features`` (validate the block first, expecting that many features:
    the first pass over lazy data, whose blocks nobody has seen). With
    ``column_scale`` the columns are divided by it first (see :func:`scale_for`).
    """
    checking = check_features is not None
    X, y = check_block(part, check_features, classes) if checking else _as_arrays(part)
    largest = _largest(X) if checking else None
    if column_scale is not None:
        X = _divide_columns(X, column_scale)
    n, p = X.shape
    if len(classes) == 2:
        return _binary_sums(X, (y == classes[1]).astype(np.float64), w, p, fit_intercept, order) + (n, largest)
    labels = np.searchsorted(classes, y)
    return _multinomial_sums(X, labels, w.reshape(len(classes), -1), p, fit_intercept, order) + (n, largest)


def merge_logistic(*results: tuple) -> tuple:
    """Add :func:`logistic_sums` results (the column magnitudes: their maximum)."""
    largest = [r[4] for r in results if r[4] is not None]
    return add_sums(*(r[:4] for r in results)) + (np.maximum.reduce(largest) if largest else None,)


def _largest(X: Any) -> np.ndarray:
    if sparse.issparse(X):
        return abs(X).max(axis=0).toarray().ravel() if X.shape[0] else np.zeros(X.shape[1])
    return np.abs(X).max(axis=0, initial=0.0)


def _divide_columns(X: Any, scale: np.ndarray) -> Any:
    return X @ sparse.diags(1.0 / scale) if sparse.issparse(X) else X / scale


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
    hess[:p, :p] = _weighted_gram(X, weight)
    if fit_intercept:
        hess[:p, p] = hess[p, :p] = X.T @ weight
        hess[p, p] = weight.sum()
    return loss, grad, hess


def _multinomial_sums(X: np.ndarray, labels: np.ndarray, W: np.ndarray, p: int, fit_intercept: bool, order: int) -> tuple:
    n, k = X.shape[0], W.shape[0]
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
    dense = X.toarray() if sparse.issparse(X) else X  # the multinomial Hessian needs rows densely
    Xa = np.hstack([dense, np.ones((n, 1))]) if fit_intercept else dense
    m = W.shape[1]
    # H = blockdiag_k(Xa' diag(p_k) Xa) - A'A with A_i = p_i (x) xa_i.
    A = (prob[:, :, None] * Xa[:, None, :]).reshape(n, k * m)
    hess = -(A.T @ A)
    for c in range(k):
        block = slice(c * m, (c + 1) * m)
        hess[block, block] += Xa.T @ (Xa * prob[:, c, None])
    return loss, grad.ravel(), hess


# -- least squares ----------------------------------------------------------------


def gram_sums(part: tuple[Any, Any], center: bool, check: bool = False, scale_above: float = np.inf) -> tuple:
    """One block's row count, means and (centred) cross-products for least squares.

    ``check``: validate the block first (lazy data, whose blocks nobody has seen).

    Returns ``(n, scale_X, scale_y, mean_X, mean_y, XtX, Xty)`` for the block's
    columns divided by ``scale_X`` / ``scale_y``: 1, or for columns with values
    above ``scale_above`` a power of two near their largest magnitude (see
    :func:`scale_for`). With ``center`` the cross-products are about the block's
    own means, which :func:`merge_gram` combines exactly (Chan et al.'s pairwise
    update).
    """
    X, y = check_block(part, None) if check else _as_arrays(part)
    y = y.astype(np.float64).reshape(len(y), -1)
    n = X.shape[0]
    X, scale_X = _scaled_columns(X, scale_above)
    y, scale_y = _scaled_columns(y, scale_above)
    if sparse.issparse(X):
        # Centring would densify X: take the raw products and correct them.
        mean_X = np.asarray(X.mean(axis=0)).ravel() if center and n else np.zeros(X.shape[1])
        mean_y = y.mean(axis=0) if center and n else np.zeros(y.shape[1])
        XtX = np.asarray((X.T @ X).toarray()) - n * np.outer(mean_X, mean_X)
        Xty = np.asarray(X.T @ y) - n * np.outer(mean_X, mean_y)
        return n, scale_X, scale_y, mean_X, mean_y, XtX, Xty
    if center and n:
        mean_X, mean_y = X.mean(axis=0), y.mean(axis=0)
        X, y = X - mean_X, y - mean_y
    else:
        mean_X, mean_y = np.zeros(X.shape[1]), np.zeros(y.shape[1])
    return n, scale_X, scale_y, mean_X, mean_y, X.T @ X, X.T @ y


# When a first attempt overflows, every column larger than 1 is scaled into
# [1, 2): the huge ones no longer overflow, and they keep their balance with the
# ordinary large ones (scaling only the huge ones would make them look
# negligible next to the rest). Columns below 1 are left as they are.
SCALE_ABOVE = 1.0


def _scaled_columns(X: Any, above: float) -> tuple[Any, np.ndarray]:
    """``X`` with :func:`scale_for`'s scales applied, and the scales (no work when ``above`` is inf)."""
    if np.isinf(above):
        return X, np.ones(X.shape[1])
    scale = scale_for(_largest(X), above)
    return _divide_columns(X, scale), scale


def scale_for(largest: np.ndarray, above: float) -> np.ndarray:
    """Per column, 1, or for a column whose largest magnitude exceeds ``above`` the
    power of two at or below it: dividing by it is exact and leaves magnitudes below 2.

    Fits first try ``above=inf`` (no scaling, so ordinary data is computed exactly
    as scikit-learn computes it, rank decisions and minimum-norm answers
    included) and scale only when that overflowed.
    """
    scale = np.ones_like(largest, dtype=np.float64)
    huge = largest > above
    _, exponent = np.frexp(largest[huge])  # largest = m * 2**exponent, 0.5 <= m < 1
    scale[huge] = np.ldexp(1.0, exponent - 1)
    return scale


def merge_gram(*stats: tuple) -> tuple:
    """Combine :func:`gram_sums` results of disjoint blocks (in the larger scale of each)."""
    n, scale_X, scale_y, mean_X, mean_y, XtX, Xty = stats[0]
    for n_b, scale_X_b, scale_y_b, mean_X_b, mean_y_b, XtX_b, Xty_b in stats[1:]:
        if XtX_b.shape != XtX.shape:
            raise ValueError(f"X's blocks have different numbers of features: {len(XtX)} and {len(XtX_b)}.")
        if n_b == 0:
            continue
        if n == 0:
            n, scale_X, scale_y, mean_X, mean_y, XtX, Xty = n_b, scale_X_b, scale_y_b, mean_X_b, mean_y_b, XtX_b, Xty_b
            continue
        common_X, common_y = np.maximum(scale_X, scale_X_b), np.maximum(scale_y, scale_y_b)
        mean_X, mean_y, XtX, Xty = _rescale(mean_X, mean_y, XtX, Xty, scale_X / common_X, scale_y / common_y)
        mean_X_b, mean_y_b, XtX_b, Xty_b = _rescale(
            mean_X_b, mean_y_b, XtX_b, Xty_b, scale_X_b / common_X, scale_y_b / common_y
        )
        scale_X, scale_y = common_X, common_y
        total = n + n_b
        dx, dy = mean_X_b - mean_X, mean_y_b - mean_y
        factor = n * n_b / total
        XtX = XtX + XtX_b + factor * np.outer(dx, dx)
        Xty = Xty + Xty_b + factor * np.outer(dx, dy)
        mean_X = mean_X + dx * (n_b / total)
        mean_y = mean_y + dy * (n_b / total)
        n = total
    return n, scale_X, scale_y, mean_X, mean_y, XtX, Xty


def _rescale(mean_X, mean_y, XtX, Xty, ratio_X, ratio_y) -> tuple:
    return mean_X * ratio_X, mean_y * ratio_y, XtX * np.outer(ratio_X, ratio_X), Xty * np.outer(ratio_X, ratio_y)


def qr_sums(part: tuple[Any, Any], center: bool, check: bool = False, scale_above: float = np.inf) -> tuple:
    """One block's least-squares summary as an R factor (TSQR), for ordinary least squares.

    Returns ``(n, scale_X, scale_y, mean_X, mean_y, R)``: ``R`` is the triangular
    factor of ``[X, y]`` (columns divided by :func:`scale_for`'s scales, centred about
    the block's means when ``center``), padded to square. Solving with R keeps
    X's condition number, where the normal equations square it. Sparse blocks
    are densified a few thousand rows at a time.
    """
    X, y = check_block(part, None) if check else _as_arrays(part)
    y = y.astype(np.float64).reshape(len(y), -1)
    if sparse.issparse(X):
        step = 8192
        pieces = [
            qr_sums((X[i : i + step].toarray(), y[i : i + step]), center, False, scale_above)
            for i in range(0, X.shape[0], step)
        ]
        return merge_qr(*pieces) if pieces else _qr_of(np.empty((0, X.shape[1])), y, center, scale_above)
    return _qr_of(X, y, center, scale_above)


def _qr_of(X: np.ndarray, y: np.ndarray, center: bool, scale_above: float) -> tuple:
    n, width = X.shape[0], X.shape[1] + y.shape[1]
    X, scale_X = _scaled_columns(X, scale_above)
    y, scale_y = _scaled_columns(y, scale_above)
    A = np.hstack([X, y])
    means = A.mean(axis=0) if center and n else np.zeros(width)
    R = scipy.linalg.qr(A - means, mode="r", check_finite=False)[0] if n else np.zeros((0, width))
    return n, scale_X, scale_y, means[: X.shape[1]], means[X.shape[1] :], _square(R, width)


def _square(R: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((width, width))
    rows = min(len(R), width)
    out[:rows] = R[:rows]
    return out


def merge_qr(*stats: tuple) -> tuple:
    """Combine :func:`qr_sums` results: the R of the stacked R factors, plus the
    row that accounts for the blocks' different means."""
    n, scale_X, scale_y, mean_X, mean_y, R = stats[0]
    p = len(scale_X)
    for n_b, scale_X_b, scale_y_b, mean_X_b, mean_y_b, R_b in stats[1:]:
        if len(scale_X_b) != p:
            raise ValueError(f"X's blocks have different numbers of features: {p} and {len(scale_X_b)}.")
        if n_b == 0:
            continue
        if n == 0:
            n, scale_X, scale_y, mean_X, mean_y, R = n_b, scale_X_b, scale_y_b, mean_X_b, mean_y_b, R_b
            continue
        common = np.concatenate([np.maximum(scale_X, scale_X_b), np.maximum(scale_y, scale_y_b)])
        ratio_a = np.concatenate([scale_X, scale_y]) / common
        ratio_b = np.concatenate([scale_X_b, scale_y_b]) / common
        means_a = np.concatenate([mean_X, mean_y]) * ratio_a
        means_b = np.concatenate([mean_X_b, mean_y_b]) * ratio_b
        total = n + n_b
        shift = np.sqrt(n * n_b / total) * (means_b - means_a)
        stacked = np.vstack([R * ratio_a, R_b * ratio_b, shift[None, :]])
        R = _square(scipy.linalg.qr(stacked, mode="r", check_finite=False)[0], len(common))
        means = means_a + (means_b - means_a) * (n_b / total)
        scale_X, scale_y = common[:p], common[p:]
        mean_X, mean_y = means[:p], means[p:]
        n = total
    return n, scale_X, scale_y, mean_X, mean_y, R


def add_sums(*results: tuple) -> tuple:
    """Add block results elementwise (None stays None)."""
    return tuple(
        None if values[0] is None else sum(values[1:], values[0])
        for values in zip(*results)
    )


# -- Poisson regression (log link) ------------------------------------------------


def poisson_sums(part: tuple[Any, Any], w: np.ndarray, fit_intercept: bool, order: int,
                 check_features: int | None = None) -> tuple:
    """One block's summed Poisson loss ``exp(z) - y z`` (half the deviance, up to a constant in y),
    with its gradient (order >= 1) and Hessian (order 2); ``(loss, gradient, hessian, n_rows)``.

    ``check_features``: validate the block first (the first pass over lazy data), with
    scikit-learn's messages; a negative target is refused as scikit-learn refuses it.
    """
    if check_features is not None:
        X, y = check_block(part, check_features)
        if len(y) and (y < 0).any():
            raise ValueError("Some value(s) of y are out of the valid range of the loss 'HalfPoissonLoss'.")
    else:
        X, y = _as_arrays(part)
        y = y.astype(np.float64, copy=False)
    n, p = X.shape
    z = X @ w[:p]
    if fit_intercept:
        z = z + w[p]
    with np.errstate(over="ignore"):
        mu = np.exp(z)
    loss = float(np.sum(mu - y * z))
    if order == 0:
        return loss, None, None, n
    residual = mu - y
    grad = np.empty_like(w)
    grad[:p] = X.T @ residual
    if fit_intercept:
        grad[p] = residual.sum()
    if order == 1:
        return loss, grad, None, n
    hess = np.empty((len(w), len(w)))
    hess[:p, :p] = _weighted_gram(X, mu)
    if fit_intercept:
        hess[:p, p] = hess[p, :p] = X.T @ mu
        hess[p, p] = mu.sum()
    return loss, grad, hess, n
