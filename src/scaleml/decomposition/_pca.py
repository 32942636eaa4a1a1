"""PCA in one pass over blocks of rows (the covariance route; TSQR where its conditioning needs it)."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._validation import Interval, StrOptions
from ._probabilistic import covariance, precision, row_log_likelihood
from ._route import eigh_descending, factor_svd
from ._svd import SOLVERS, _BlockedSVD, back_to_features, route_of

# 0 is scikit-learn's full solver's too: no components, the noise variance only.
_COMPONENTS = [Interval(Integral, 0, None, closed="left"), Interval(Real, 0, 1, closed="neither")]


class PCA(_BlockedSVD):
    """Principal component analysis of tall data in one pass, exact.

    Each block of rows is reduced, where it is, to its row count, column sums and
    ``X'X`` (one BLAS product); the sums are added in a tree and the small
    ``p x p`` covariance's eigenvectors give the components here, as
    scikit-learn's ``covariance_eigh`` solver (its default for tall data) does.
    Where that would lose accuracy (a large offset, near-collinear columns: the
    rule is in ``scaleml.decomposition._route``), a second pass reduces each block
    to the triangular factor of its centred rows instead (TSQR) and the factor's
    SVD gives them. Either way the result is scikit-learn's
    ``PCA(svd_solver="full")`` on all the data at once (the same components up to
    rounding, signs as scikit-learn sets them), with memory for a few blocks
    however many rows there are. Made for tall data: a block's summary is
    ``n_features**2`` floats, so up to a few thousand features.

    Parameters
    ----------
    n_components : int, float in (0, 1) or None, default=None
        Components kept: a number (0 too, as scikit-learn's full solver); the
        fraction of variance to explain (as scikit-learn's); None for
        ``min(n_samples, n_features)``.
    whiten : bool, default=False
        Scale the projections to unit variance (as scikit-learn's).
    svd_solver : {"auto", "covariance_eigh", "tsqr"}, default="auto"
        ``"auto"``: the covariance route, then TSQR when the condition estimate
        ``trace(X'X) / λ_k`` passes ``1e6``; ``"covariance_eigh"``: never TSQR (one
        pass always); ``"tsqr"``: TSQR only (one pass, each block's QR). scikit-learn's
        ``"full"``, ``"arpack"`` and ``"randomized"`` are accepted so its (and dask-ml's)
        code runs unchanged: they take ``"auto"``'s routes, which are exact.
    iterated_power, random_state : as scikit-learn's, accepted so its code runs unchanged
        No effect: the routes are exact, not randomized.
    verbose : int, default=0
        Print what the pass read.

    Attributes
    ----------
    components_, explained_variance_, explained_variance_ratio_, singular_values_,
    mean_, n_components_, n_samples_, noise_variance_, n_features_in_ : as scikit-learn's.
    svd_solver_ : {"covariance_eigh", "tsqr"}
        The route the fit took.
    n_passes_ : int
        Passes over the data: 1, or 2 when the covariance route handed over to TSQR.

    Examples
    --------
    >>> import dask.array as da  # doctest: +SKIP
    >>> X = da.random.random((10_000_000, 20), chunks=(500_000, 20))  # doctest: +SKIP
    >>> PCA(n_components=3).fit(X).transform(X)  # doctest: +SKIP
    dask.array<concatenate, shape=(10000000, 3), dtype=float64, ...>
    """

    _parameter_constraints = {
        **_BlockedSVD._parameter_constraints,
        "n_components": [*_COMPONENTS, None],
        "whiten": ["boolean"],
        "svd_solver": [SOLVERS],
        "iterated_power": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=None, *, whiten=False, svd_solver="auto", iterated_power="auto",
                 random_state=None, verbose=0):
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.iterated_power = iterated_power
        self.random_state = random_state
        self.verbose = verbose

    def _sklearn_params(self) -> dict:
        return {"n_components": self.n_components, "whiten": self.whiten, "svd_solver": "full"}

    def _solver(self) -> str:
        return route_of(self.svd_solver)

    def _eigh(self, n: int, sums: np.ndarray, gram: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        scatter = gram - np.outer(sums, sums) / n
        values, Vt = eigh_descending(scatter)
        return values, Vt, float(np.trace(scatter))

    def _factor_svd(self, n: int, mean: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        values, Vt = factor_svd(R)
        return values, Vt, float(np.sum(R**2))

    def _kept(self, values: np.ndarray, n: int) -> int:
        """Components kept (scikit-learn's full solver's rules), from the squared singular values."""
        if n < 2:
            raise ValueError(f"PCA needs at least 2 samples; got n_samples={n}.")
        rank = min(n, len(values))
        explained_variance = values[:rank] / (n - 1)
        total = explained_variance.sum()
        k = self.n_components
        if k is None:
            return rank
        if isinstance(k, Real) and 0 < k < 1:
            ratio = explained_variance / total if total > 0 else np.zeros_like(explained_variance)
            return min(int(np.searchsorted(np.cumsum(ratio), k, side="right") + 1), rank)
        return int(k)

    def _check_components(self, n_components: int, rank: int) -> None:
        if not 0 <= n_components <= rank:
            raise ValueError(
                f"n_components={n_components} must be between 0 and min(n_samples, n_features)={rank}."
            )

    def _decompose(self, n: int, mean: np.ndarray, values: np.ndarray, Vt: np.ndarray, trace: float) -> None:
        k = self._kept(values, n)
        rank = min(n, len(mean))
        self._check_components(k, rank)
        explained_variance = values[:rank] / (n - 1)
        total = explained_variance.sum()
        ratio = explained_variance / total if total > 0 else np.zeros_like(explained_variance)
        self.noise_variance_ = float(explained_variance[k:].mean()) if k < rank else 0.0
        self.mean_ = mean
        self.n_samples_ = n
        self.n_components_ = k
        self.components_ = np.ascontiguousarray(Vt[:k])
        self.explained_variance_ = explained_variance[:k].copy()
        self.explained_variance_ratio_ = ratio[:k].copy()
        self.singular_values_ = np.sqrt(values[:k])

    def _project(self, X: Any) -> np.ndarray:
        projected = np.asarray((X - self.mean_) @ self.components_.T)
        if self.whiten:
            projected /= np.sqrt(self.explained_variance_)
        return projected

    def inverse_transform(self, X: Any) -> Any:
        """Back to the original space (as scikit-learn's): NumPy, or lazy for lazy input."""
        check_is_fitted(self)
        scale = np.sqrt(self.explained_variance_)[:, None] if self.whiten else 1.0
        return back_to_features(X, self.components_ * scale, self.mean_)

    # -- the probabilistic model (Tipping and Bishop), as scikit-learn's ------------------------------

    def get_covariance(self) -> np.ndarray:
        """The data covariance of the model: ``components_.T @ diag(λ - σ²) @ components_ + σ² I``."""
        check_is_fitted(self)
        return covariance(self)

    def get_precision(self) -> np.ndarray:
        """The inverse of :meth:`get_covariance`, by the matrix inversion lemma (as scikit-learn's)."""
        check_is_fitted(self)
        return precision(self)

    def score_samples(self, X: Any) -> Any:
        """Each row's log-likelihood under the model: NumPy in, NumPy out; lazy in, a lazy Dask array."""
        from .._blocked import apply_rows

        check_is_fitted(self)
        model_precision = precision(self)
        return apply_rows(self, X, lambda rows: row_log_likelihood(self, rows, model_precision), None, np.float64)

    def score(self, X: Any, y: Any = None) -> float:
        """The mean log-likelihood of the rows (lazy X: summed block by block where the blocks are)."""
        scores = self.score_samples(X)
        return float(scores.mean().compute() if hasattr(scores, "compute") else np.mean(scores))
