"""The blocked decompositions' shared fit (the covariance route, TSQR where needed), and TruncatedSVD."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._blocked import BlockedEstimator, apply_rows, report_to, unsupervised_input
from .._validation import Interval, StrOptions
from ..data.blocks import Blocks, no_rows_error
from ..data.forms import is_lazy
from ._blocks import centred_summary, gram_summary, merge_gram, merge_summaries, uncentred_factor
from ._route import MAX_CONDITION, condition_estimate, eigh_descending, factor_svd, needs_tsqr

SOLVERS = StrOptions({"auto", "covariance_eigh", "tsqr", "full", "arpack", "randomized"})
# scikit-learn's (and dask-ml's) solver names, accepted so their code runs unchanged: each
# asks for the exact answer or an approximation of it, and the rule's exact routes give it.
EXACT_ALIASES = frozenset({"full", "arpack", "randomized"})


def route_of(solver: str) -> str:
    """The route a solver name asks for: scikit-learn's names take the rule's (``"auto"``)."""
    return "auto" if solver in EXACT_ALIASES else solver


class _BlockedSVD(BlockedEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared fit: a pass summarizing the blocks (Gram or TSQR, ``_route``); subclasses decompose."""

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
        """Fit on prepared blocks (what :meth:`fit` does after reading its input).

        One pass by the covariance route; a second (TSQR) when :func:`needs_tsqr` says
        the covariance route's rounding would show (see the class's ``svd_solver``).
        """
        self._validate_params()
        report = report_to(self) or (lambda message: None)
        solver = self._solver()
        if solver != "tsqr":
            n, sums, gram = data.reduce(gram_summary, data.n_features, merge=merge_gram)
            if n == 0:
                raise no_rows_error(data.description)
            values, Vt, trace = self._eigh(n, sums, gram)
            kept = self._kept(values, n)
            self._check_components(kept, min(n, len(sums)))  # before the rule reads the kept-th value
            if solver == "covariance_eigh" or not needs_tsqr(values, float(np.trace(gram)), kept):
                return self._fitted(data, n, sums / n, values, Vt, trace, "covariance_eigh", report)
            report(f"covariance route too coarse for the {kept} components kept (condition estimate "
                   f"{condition_estimate(values, float(np.trace(gram)), kept):.3g} > {MAX_CONDITION:.0e}): TSQR pass")
        n, mean, R = data.reduce(centred_summary, data.n_features, merge=merge_summaries)
        if n == 0:
            raise no_rows_error(data.description)
        values, Vt, trace = self._factor_svd(n, mean, R)
        return self._fitted(data, n, mean, values, Vt, trace, "tsqr", report)

    def _fitted(self, data: Blocks, n: int, mean: np.ndarray, values: np.ndarray, Vt: np.ndarray, trace: float,
                route: str, report: Any) -> _BlockedSVD:
        if data.lazy:
            self.n_features_in_ = len(mean)
        self._decompose(n, mean, values, Vt, trace)
        self.svd_solver_ = route
        self.n_passes_ = data.passes
        report(f"{n} rows x {len(mean)} features, {data.description}: {route}, {data.passes} pass(es)")
        return self

    def _solver(self) -> str:
        return "auto"

    def _eigh(self, n: int, sums: np.ndarray, gram: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """``(squared singular values, Vt, scatter trace)`` from the Gram summary, descending."""
        raise NotImplementedError

    def _factor_svd(self, n: int, mean: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """``(squared singular values, Vt, scatter trace)`` from the TSQR summary."""
        raise NotImplementedError

    def _kept(self, values: np.ndarray, n: int) -> int:
        """Components kept for these squared singular values (the rule's reference)."""
        raise NotImplementedError

    def _decompose(self, n: int, mean: np.ndarray, values: np.ndarray, Vt: np.ndarray, trace: float) -> None:
        raise NotImplementedError

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


class TruncatedSVD(_BlockedSVD):
    """Truncated SVD (latent semantic analysis) of tall data in one pass, exact.

    Like :class:`PCA` without centring: the eigenvectors of the merged ``X'X`` (or,
    where its conditioning needs it, the SVD of the merged TSQR factor) give the
    leading singular values and right singular vectors exactly, where
    scikit-learn's ``TruncatedSVD`` approximates them (randomized) or iterates
    (ARPACK). Sparse blocks stay sparse for ``X'X`` (TSQR densifies a few thousand
    rows at a time); memory holds ``n_features**2`` floats per block: for tall
    data with up to a few thousand features.

    Parameters
    ----------
    n_components : int, default=2
    algorithm : {"auto", "covariance_eigh", "tsqr", "arpack", "randomized", "full"}, default="auto"
        As :class:`PCA`'s ``svd_solver`` (the rule in ``scaleml.decomposition._route``);
        scikit-learn's names are accepted and take ``"auto"``'s exact routes.
    n_iter, random_state : as scikit-learn's, accepted so its code runs unchanged
        No effect: the routes are exact, not randomized.
    verbose : int, default=0

    Attributes
    ----------
    components_, explained_variance_, explained_variance_ratio_, singular_values_,
    n_features_in_ : as scikit-learn's.
    svd_solver_ : {"covariance_eigh", "tsqr"}
        The route the fit took.
    n_passes_ : int
        1, or 2 when the covariance route handed over to TSQR.
    """

    _parameter_constraints = {
        **_BlockedSVD._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "algorithm": [SOLVERS],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=2, *, algorithm="auto", n_iter=5, random_state=None, verbose=0):
        self.n_components = n_components
        self.algorithm = algorithm
        self.n_iter = n_iter
        self.random_state = random_state
        self.verbose = verbose

    def _sklearn_params(self) -> dict:
        return {"n_components": self.n_components, "algorithm": "arpack"}

    def _solver(self) -> str:
        return route_of(self.algorithm)

    def _eigh(self, n: int, sums: np.ndarray, gram: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        values, Vt = eigh_descending(gram)
        return values, Vt, float(np.trace(gram) - sums @ sums / n)

    def _factor_svd(self, n: int, mean: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        values, Vt = factor_svd(uncentred_factor(n, mean, R))
        return values, Vt, float(np.sum(R**2))

    def _kept(self, values: np.ndarray, n: int) -> int:
        return self.n_components

    def _decompose(self, n: int, mean: np.ndarray, values: np.ndarray, Vt: np.ndarray, trace: float) -> None:
        k = self.n_components
        self._check_components(k, min(n, len(mean)))
        S, Vt = np.sqrt(values[:k]), Vt[:k]
        # The variance of X v over the rows: ||X v||^2 / n - (mean . v)^2, with ||X v|| = s.
        explained_variance = np.maximum(S**2 / n - (Vt @ mean) ** 2, 0.0)
        full_variance = trace / n
        self.components_ = np.ascontiguousarray(Vt)
        self.singular_values_ = S
        self.explained_variance_ = explained_variance
        self.explained_variance_ratio_ = explained_variance / full_variance if full_variance > 0 else explained_variance * 0

    def _project(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.components_.T)

    def inverse_transform(self, X: Any) -> Any:
        """Back to the original space, ``X @ components_`` (as scikit-learn's): NumPy, or lazy
        for lazy input (a Dask array of the projections)."""
        check_is_fitted(self)
        return back_to_features(X, self.components_, None)


def back_to_features(X: Any, back: np.ndarray, mean: np.ndarray | None) -> Any:
    """``X @ back (+ mean)`` row by row: NumPy in, NumPy out; a Dask array in, one out."""
    def rows(block: np.ndarray) -> np.ndarray:
        out = np.asarray(block, dtype=np.float64) @ back
        return out if mean is None else out + mean

    if is_lazy(X):
        return X.map_blocks(rows, chunks=(X.chunks[0], (back.shape[1],)), dtype=np.float64)
    from sklearn.utils import check_array

    return rows(check_array(X, dtype=np.float64, ensure_min_features=0, input_name="X"))
