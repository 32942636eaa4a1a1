"""What one block of rows contributes to a decomposition (NumPy, SciPy, scikit-learn's validation).

Two summaries, one per route (the rule choosing between them is in ``_svd``):

- covariance (Gram): ``(n, column sums, X'X)``, merged by adding; one BLAS product
  per block, but forming ``X'X`` squares the data's condition number;
- TSQR: ``(n, mean, R)``, below.

For TSQR a block is reduced to ``(n, mean, R)``: its row count, column means and the
triangular factor of its centred rows (``X - mean = Q R``). Two summaries merge
exactly (Chan et al.'s pairwise update, in factored form), so a pass over the
blocks is a tree of merges and only ``p x p`` factors travel. The SVD of the
merged R has the centred data's singular values and right singular vectors,
without squaring its condition number as the covariance matrix would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
from scipy import sparse

from .._blocked import check_rows

_SPARSE_ROWS = 8192  # sparse blocks are densified this many rows at a time


def centred_summary(part: tuple[Any, Any], n_features: int | None) -> tuple[int, np.ndarray, np.ndarray]:
    """``(n, mean, R)`` of one block, validated as scikit-learn validates X.

    ``n_features``: the expected number of columns (None: not yet known).
    """
    X = check_rows(part[0], n_features)
    if sparse.issparse(X):
        pieces = [_dense_summary(X[i:i + _SPARSE_ROWS].toarray()) for i in range(0, X.shape[0], _SPARSE_ROWS)]
        return merge_summaries(*pieces) if pieces else _dense_summary(np.empty((0, X.shape[1])))
    return _dense_summary(X)


def _dense_summary(X: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    n, p = X.shape
    if n == 0:
        return 0, np.zeros(p), np.zeros((p, p))
    mean = X.mean(axis=0)
    R = scipy.linalg.qr(X - mean, mode="r", check_finite=False)[0]
    return n, mean, _square(R, p)


def _square(R: np.ndarray, p: int) -> np.ndarray:
    out = np.zeros((p, p))
    rows = min(len(R), p)
    out[:rows] = R[:rows]
    return out


def merge_summaries(*summaries: tuple[int, np.ndarray, np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
    """Combine the summaries of disjoint blocks into the summary of their union."""
    n, mean, R = summaries[0]
    for n_b, mean_b, R_b in summaries[1:]:
        if len(mean_b) != len(mean):
            raise ValueError(f"X's blocks have different numbers of features: {len(mean)} and {len(mean_b)}.")
        if n_b == 0:
            continue
        if n == 0:
            n, mean, R = n_b, mean_b, R_b
            continue
        total = n + n_b
        # The scatter of the union is both scatters plus n n_b / total (mean_b - mean)(...)';
        # stacking the factors and that row gives it as a QR.
        shift = np.sqrt(n * n_b / total) * (mean_b - mean)
        R = _square(scipy.linalg.qr(np.vstack([R, R_b, shift]), mode="r", check_finite=False)[0], len(mean))
        mean = mean + (mean_b - mean) * (n_b / total)
        n = total
    return n, mean, R


def uncentred_factor(n: int, mean: np.ndarray, R: np.ndarray) -> np.ndarray:
    """The triangular factor of the uncentred rows: ``X'X = R'R + n mean mean'``."""
    stacked = np.vstack([R, np.sqrt(n) * mean])
    return _square(scipy.linalg.qr(stacked, mode="r", check_finite=False)[0], len(mean))


# -- the covariance (Gram) route: X'X and column sums per block ---------------------------------


def gram_summary(part: tuple[Any, Any], n_features: int | None) -> tuple[int, np.ndarray, np.ndarray]:
    """``(n, sums, G)`` of one block: its rows, column sums and ``X'X`` (float64).

    One BLAS product per block (``X.T @ X``, a symmetric rank-k update), where TSQR
    needs a QR of the centred block: the route scikit-learn's ``covariance_eigh``
    solver takes. NaN and infinity get scikit-learn's messages: the column sums are
    finite for finite X (or overflowed, which the element check then passes), so
    only a block whose sums are not finite is checked element by element.
    """
    from sklearn.utils import assert_all_finite, check_array

    X = check_array(part[0], accept_sparse="csr", dtype=np.float64, ensure_min_samples=0,
                    ensure_all_finite=False, input_name="X")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features in one block but {n_features} in the first.")
    sums = np.asarray(X.sum(axis=0)).ravel()
    if not np.all(np.isfinite(sums)):
        assert_all_finite(X, input_name="X")
    gram = X.T @ X
    return X.shape[0], sums, np.asarray(gram.toarray() if sparse.issparse(gram) else gram)


def merge_gram(*summaries: tuple[int, np.ndarray, np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
    """Combine the Gram summaries of disjoint blocks (sums of sums)."""
    widths = {len(s[1]) for s in summaries}
    if len(widths) > 1:
        raise ValueError(f"X's blocks have different numbers of features: {sorted(widths)}.")
    return sum(s[0] for s in summaries), sum(s[1] for s in summaries), sum(s[2] for s in summaries)
