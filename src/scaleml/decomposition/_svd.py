"""PCA and TruncatedSVD in one pass over blocks of rows (TSQR, then a small SVD here)."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.extmath import svd_flip
from sklearn.utils.validation import check_is_fitted

from .._blocked import BlockedEstimator, apply_rows, report_to, unsupervised_input
from .._validation import Interval
from ..data.blocks import Blocks, no_rows_error
from ..data.forms import is_lazy
from ._blocks import centred_summary, merge_summaries, uncentred_factor

_COMPONENTS = [Interval(Integral, 1, None, closed="left"), Interval(Real, 0, 1, closed="neither")]


class _BlockedSVD(BlockedEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared fit: one pass summarizing the blocks as ``(n, mean, R)``; subclasses decompose R."""

    _parameter_constraints: dict = {"verbose": ["verbose"]}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(self, X: Any, y: Any = None) -> _BlockedSVD:
        """Fit on NumPy/pandas/sparse data, a Dask array/DataFrame, or a Parquet/CSV path.

        One pass over the data. ``y`` is ignored (with lazy data, a target column named
        by it is left out of the features).
        """
        self._validate_params()
        return self.fit_blocks(unsupervised_input(self, X, y, min_features=2))

    def fit_blocks(self, data: Blocks) -> _BlockedSVD:
        """Fit on prepared blocks (what :meth:`fit` does after reading its input)."""
        self._validate_params()
        n_features = data.n_features
        n, mean, R = data.reduce(centred_summary, n_features, merge=merge_summaries)
        if n == 0:
            raise no_rows_error(data.description)
        if data.lazy:
            self.n_features_in_ = len(mean)
        self._decompose(n, mean, R)
        self.n_passes_ = data.passes
        report = report_to(self)
        if report is not None:
            report(f"{n} rows x {len(mean)} features, {data.description}: summarized in one pass")
        return self

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        return self.fit(X, y).transform(X)

    def _decompose(self, n: int, mean: np.ndarray, R: np.ndarray) -> None:
        raise NotImplementedError

    def _svd(self, R: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
        """Singular values and right singular vectors of R, signs as scikit-learn's."""
        _, S, Vt = scipy.linalg.svd(R, full_matrices=False, check_finite=False)
        _, Vt = svd_flip(None, Vt, u_based_decision=False)
        return S[:rank], Vt[:rank]

    def _check_components(self, n_components: int, rank: int) -> None:
        if n_components > rank:
            raise ValueError(
                f"n_components={n_components} must be between 1 and min(n_samples, n_features)={rank}."
            )

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    def transform(self, X: Any) -> Any:
        """Project X on the components: NumPy in, NumPy out; lazy in, a lazy Dask array out."""
        check_is_fitted(self)
        return apply_rows(self, X, self._project, self.components_.shape[0], np.float64)

    def _project(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def to_sklearn(self) -> Any:
        """The fitted model as the scikit-learn estimator of the same name (no scaleml needed to use it)."""
        import sklearn.decomposition

        from ._twins import copy_fitted

        check_is_fitted(self)
        model = getattr(sklearn.decomposition, type(self).__name__)(**self._sklearn_params())
        copy_fitted(self, model)
        return model


class PCA(_BlockedSVD):
    """Principal component analysis of tall data in one pass, exact.

    Each block of rows is reduced, where it is, to its mean and the triangular
    factor of its centred rows; the factors are merged in a tree (TSQR) and the
    small ``p x p`` factor's SVD gives the components here. The result is
    scikit-learn's ``PCA(svd_solver="full")`` on all the data at once (the same
    components up to rounding, signs as scikit-learn sets them), with memory for a
    few blocks however many rows there are. Made for tall data: a block's factor
    is ``n_features**2`` floats, so up to a few thousand features.

    Parameters
    ----------
    n_components : int, float in (0, 1) or None, default=None
        Components kept: a number; the fraction of variance to explain (as
        scikit-learn's); None for ``min(n_samples, n_features)``.
    whiten : bool, default=False
        Scale the projections to unit variance (as scikit-learn's).
    verbose : int, default=0
        Print what the pass read.

    Attributes
    ----------
    components_, explained_variance_, explained_variance_ratio_, singular_values_,
    mean_, n_components_, n_samples_, noise_variance_, n_features_in_ : as scikit-learn's.
    n_passes_ : int
        Passes over the data (1).

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
    }

    def __init__(self, n_components=None, *, whiten=False, verbose=0):
        self.n_components = n_components
        self.whiten = whiten
        self.verbose = verbose

    def _sklearn_params(self) -> dict:
        return {"n_components": self.n_components, "whiten": self.whiten, "svd_solver": "full"}

    def _decompose(self, n: int, mean: np.ndarray, R: np.ndarray) -> None:
        if n < 2:
            raise ValueError(f"PCA needs at least 2 samples; got n_samples={n}.")
        rank = min(n, len(mean))
        S, Vt = self._svd(R, rank)
        explained_variance = S**2 / (n - 1)
        total = explained_variance.sum()
        ratio = explained_variance / total if total > 0 else np.zeros_like(explained_variance)
        k = self.n_components
        if k is None:
            k = rank
        elif isinstance(k, Real) and 0 < k < 1:
            k = int(np.searchsorted(np.cumsum(ratio), k, side="right") + 1)
            k = min(k, rank)
        self._check_components(int(k), rank)
        k = int(k)
        self.noise_variance_ = float(explained_variance[k:].mean()) if k < min(n, len(mean)) else 0.0
        self.mean_ = mean
        self.n_samples_ = n
        self.n_components_ = k
        self.components_ = np.ascontiguousarray(Vt[:k])
        self.explained_variance_ = explained_variance[:k].copy()
        self.explained_variance_ratio_ = ratio[:k].copy()
        self.singular_values_ = S[:k].copy()

    def _project(self, X: Any) -> np.ndarray:
        projected = np.asarray((X - self.mean_) @ self.components_.T)
        if self.whiten:
            projected /= np.sqrt(self.explained_variance_)
        return projected

    def inverse_transform(self, X: Any) -> Any:
        """Back to the original space (as scikit-learn's): NumPy, or lazy for lazy input."""
        check_is_fitted(self)
        scale = np.sqrt(self.explained_variance_)[:, None] if self.whiten else 1.0
        back = self.components_ * scale

        def rows(block: np.ndarray) -> np.ndarray:
            return block @ back + self.mean_

        if is_lazy(X):
            return X.map_blocks(rows, chunks=(X.chunks[0], (len(self.mean_),)), dtype=np.float64)
        return rows(np.asarray(X, dtype=np.float64))


class TruncatedSVD(_BlockedSVD):
    """Truncated SVD (latent semantic analysis) of tall data in one pass, exact.

    Like :class:`PCA` without centring: the merged factor of the rows gives the
    leading singular values and right singular vectors exactly, where
    scikit-learn's ``TruncatedSVD`` approximates them (randomized) or iterates
    (ARPACK). Sparse blocks are densified a few thousand rows at a time, so
    memory holds ``n_features**2`` floats per block: for tall data with up to a
    few thousand features.

    Parameters
    ----------
    n_components : int, default=2
    verbose : int, default=0

    Attributes
    ----------
    components_, explained_variance_, explained_variance_ratio_, singular_values_,
    n_features_in_ : as scikit-learn's.
    n_passes_ : int
    """

    _parameter_constraints = {
        **_BlockedSVD._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_components=2, *, verbose=0):
        self.n_components = n_components
        self.verbose = verbose

    def _sklearn_params(self) -> dict:
        return {"n_components": self.n_components, "algorithm": "arpack"}

    def _decompose(self, n: int, mean: np.ndarray, R: np.ndarray) -> None:
        rank = min(n, len(mean))
        self._check_components(self.n_components, rank)
        S, Vt = self._svd(uncentred_factor(n, mean, R), self.n_components)
        # The variance of X v over the rows: ||X v||^2 / n - (mean . v)^2, with ||X v|| = s.
        projected_mean = Vt @ mean
        explained_variance = np.maximum(S**2 / n - projected_mean**2, 0.0)
        full_variance = float(np.sum(R**2)) / n
        self.components_ = np.ascontiguousarray(Vt)
        self.singular_values_ = S
        self.explained_variance_ = explained_variance
        self.explained_variance_ratio_ = explained_variance / full_variance if full_variance > 0 else explained_variance * 0

    def _project(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.components_.T)
