"""Which route a blocked decomposition takes, and the small dense algebra each ends with.

The covariance route (one pass: ``X'X`` and column sums per block, then ``eigh``
here, as scikit-learn's ``covariance_eigh`` solver) is the fast one, but forming
``X'X`` squares the condition number: an eigenvalue ``λ`` comes out with an
absolute error of about ``eps * trace(X'X)``, the uncentred data's size, not the
centred data's spread. TSQR (the factor of the centred blocks, then an SVD)
keeps the data's own conditioning and costs a QR per block.

The rule (``svd_solver="auto"``): after the covariance pass, the condition
estimate ``trace(X'X) / λ_ref`` is compared with :data:`MAX_CONDITION`, where
``λ_ref`` is the smallest eigenvalue the model keeps (the ``k``-th for ``k``
components; the mean eigenvalue for ``n_components=0``, whose noise variance is
all the model has). Up to ``1e6`` the kept eigenvalues are accurate to about
``1e-16 * 1e6 * (a rounding growth of ~100) = 1e-8`` relative, within the
tolerance the tests hold against ``svd_solver="full"``; past it, a second
pass by TSQR. Large offsets (data far from the origin: ``trace(X'X)`` grows with
``n * ||mean||²``) and near-collinear columns trip it; standardised data never
does.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from sklearn.utils.extmath import svd_flip

MAX_CONDITION = 1e6


def condition_estimate(values: np.ndarray, gram_trace: float, kept: int) -> float:
    """``trace(X'X) / λ_ref`` for eigenvalues ``values`` (descending) when ``kept`` are kept."""
    reference = float(values[kept - 1]) if kept >= 1 else float(np.mean(values)) if len(values) else 0.0
    return np.inf if reference <= 0 else gram_trace / reference


def needs_tsqr(values: np.ndarray, gram_trace: float, kept: int) -> bool:
    """Whether the covariance route's rounding would show in what the model keeps."""
    return condition_estimate(values, gram_trace, kept) > MAX_CONDITION


def eigh_descending(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, rounding negatives clipped to 0) and eigenvectors as rows,
    signs as scikit-learn's ``svd_flip(u_based_decision=False)``."""
    values, vectors = scipy.linalg.eigh(matrix, check_finite=False)
    values = np.maximum(values[::-1], 0.0)
    _, Vt = svd_flip(None, np.ascontiguousarray(vectors[:, ::-1].T), u_based_decision=False)
    return values, Vt


def factor_svd(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared singular values and right singular vectors of a triangular factor, signs as above."""
    _, S, Vt = scipy.linalg.svd(R, full_matrices=False, check_finite=False)
    _, Vt = svd_flip(None, Vt, u_based_decision=False)
    return S**2, Vt
