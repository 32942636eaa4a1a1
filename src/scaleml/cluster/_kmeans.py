"""k-means on blocks of rows: k-means|| initialisation, then Lloyd passes, one reduction each."""

from __future__ import annotations

import dataclasses
import math
import warnings
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._blocked import NON_NEGATIVE, PERSIST, POSITIVE_INT, BlockedEstimator, apply_rows, report_to, unsupervised_input
from .._validation import Interval, Predicate, StrOptions
from ..data.blocks import Blocks
from ..data.forms import is_lazy
from . import _blocks as kernels
from ._reduce import weighted_kmeans

_APPROXIMATION = ("runs as k-means|| on lazy data (Bahmani et al.'s scalable approximation of k-means++: "
                  "init_max_iter + 1 passes instead of n_clusters)")


class KMeans(BlockedEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """k-means clustering on in-memory or Dask data, one pass over the blocks per step.

    Minimizes scikit-learn's objective (the summed squared distance of each row to
    its nearest centre) with Lloyd's iterations, started by k-means|| (Bahmani et
    al.), the scalable approximation of k-means++: a few passes each draw
    ``oversampling_factor * n_clusters`` rows with probability proportional to
    their squared distance to the centres so far; the candidates, weighted by the
    rows nearest to each, are reduced to ``n_clusters`` centres by k-means++
    here. Every pass computes per-block summaries where the blocks are (sums and
    counts per cluster, costs, a few sampled rows) and merges them in a tree, so
    memory holds a few blocks however many rows there are. On data that fits, the
    inertia is scikit-learn's ``KMeans``'s within about 1% (both find local optima).
    Each Lloyd pass is a BLAS product, an argmin and a sparse one-hot product per
    block, in X's precision (float32 stays float32, as in scikit-learn).

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means||", "k-means++", "random"} or array of shape (n_clusters, n_features), \
            default="k-means||"
        ``"k-means++"``: on in-memory data scikit-learn's exact k-means++
        (``sklearn.cluster.kmeans_plusplus``); on lazy data it runs as k-means||,
        an approximation of k-means++ that needs ``init_max_iter + 1`` passes
        where exact k-means++ needs one pass per cluster (the plan and
        ``init_used_`` say so). ``"random"``: ``n_clusters`` rows drawn uniformly (one pass).
    n_init : int, default=1
        Runs from different starting centres; the lowest inertia is kept.
    max_iter : int, default=300
        Lloyd iterations per run (one pass each).
    tol : float, default=1e-4
        Stop when the centres moved (summed squared shift) by at most ``tol`` times
        the mean variance of the features (scikit-learn's criterion).
    oversampling_factor : float, default=2.0
        Rows drawn per k-means|| round, per cluster.
    init_max_iter : int, default=2
        k-means|| rounds (one pass each). Two, as Spark MLlib's k-means|| (``initSteps``):
        the work of round ``r`` grows with the ``r * oversampling_factor * n_clusters``
        candidates drawn so far, and the later rounds were most of a fit's time while
        the weighted k-means++ on the candidates, then Lloyd, made up the difference.
    random_state : int, RandomState instance or None, default=None
    persist : {"auto", True, False}, default="auto"
        Keep lazy blocks in (cluster) memory between passes; ``auto``: when they fit
        half the workers' memory (a quarter of this machine's without a cluster).
    verbose : int, default=0
        Print where the blocks live and every pass's inertia.

    Attributes
    ----------
    cluster_centers_, inertia_, n_iter_, n_features_in_ : as scikit-learn's
        (``cluster_centers_`` float32 for float32 input).
    labels_ : ndarray of int32, or a lazy Dask array for lazy input (computed block by block when asked).
    init_used_ : str
        The initialisation that ran: ``"k-means||"``, ``"k-means++"`` (exact),
        ``"k-means|| (...)"`` for ``init="k-means++"`` on lazy data, ``"random"`` or
        ``"given centres"``.
    n_passes_ : int
        Passes over the data the fit made (exact k-means++ on in-memory data counts as one).
    """

    _parameter_constraints = {
        "n_clusters": [POSITIVE_INT],
        "init": [StrOptions({"k-means||", "k-means++", "random"}), Predicate(lambda v: np.ndim(v) == 2, "an array of centres")],
        "n_init": [POSITIVE_INT],
        "max_iter": [POSITIVE_INT],
        "tol": [NON_NEGATIVE],
        "oversampling_factor": [Interval(Real, 0, None, closed="neither")],
        "init_max_iter": [POSITIVE_INT],
        "random_state": ["random_state"],
        "persist": PERSIST,
        "verbose": ["verbose"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __init__(self, n_clusters=8, *, init="k-means||", n_init=1, max_iter=300, tol=1e-4, oversampling_factor=2.0,
                 init_max_iter=2, random_state=None, persist="auto", verbose=0):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.oversampling_factor = oversampling_factor
        self.init_max_iter = init_max_iter
        self.random_state = random_state
        self.persist = persist
        self.verbose = verbose

    def __scaleml_placement__(self, request: Any) -> Any:
        placement = super().__scaleml_placement__(request)
        if request.lazy and isinstance(self.init, str) and self.init == "k-means++":
            # Say it where the user reads where and how the fit runs: lazy data gets the approximation.
            return dataclasses.replace(placement, reason=placement.reason + f"; init='k-means++' {_APPROXIMATION}")
        return placement

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> KMeans:
        """Fit on NumPy/pandas/sparse data, a Dask array/DataFrame, or a Parquet/CSV path.

        ``y`` is ignored (with lazy data, a target column named by it is left out).
        """
        self._validate_params()
        if is_lazy(X):
            return self.fit_blocks(unsupervised_input(self, X, y))
        # float32 stays float32, as in scikit-learn's KMeans (the shared input path makes float64).
        self.target_column_ = None
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32])
        return self.fit_blocks(Blocks.from_input(X, None))

    def fit_blocks(self, data: Blocks) -> KMeans:
        """Fit on prepared blocks (what :meth:`fit` does after reading its input)."""
        self._validate_params()
        report = report_to(self) or (lambda message: None)
        k = self.n_clusters
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        source = data.parts  # labels_ is computed from the source, which outlives a persisted copy
        report(f"{data.description}: blocks {data.persist(self.persist, data.nbytes)}")
        start = self._given_centers(data.n_features)
        count = k if start is None and self.init == "random" else 1
        n, sums, squares, _, sample, _, dtype = data.reduce(kernels.first_summary, data.n_features, count, seed,
                                                            merge=kernels.merge_first, indexed=True)
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        if start is not None and start.shape[1] != len(sums):
            raise ValueError(f"init has {start.shape[1]} features but X has {len(sums)}.")
        variances = squares / n - (sums / n) ** 2
        tolerance = float(np.mean(np.maximum(variances, 0.0))) * self.tol
        best = None
        for run in range(self.n_init):
            centers = self._start(data, run, seed + run, start, sample, report)
            centers, n_iter = self._lloyd(data, centers, tolerance, float(squares.sum()), report)
            # One more pass, as scikit-learn's: the inertia (and in-memory labels) of the final centres.
            inertia, labels = data.reduce(kernels.final_summary, centers, not data.lazy, merge=kernels.merge_final)
            report(f"run {run + 1}/{self.n_init}: inertia {inertia:.6g} after {n_iter} iterations")
            if best is None or inertia < best[1]:
                best = (centers, inertia, n_iter, labels)
        self._keep(data, source, best, dtype, len(sums))
        return self

    def _keep(self, data: Blocks, source: list, best: tuple, dtype: Any, n_features: int) -> None:
        """Set the fitted attributes from the best run (centres in X's precision, labels int32)."""
        centers, self.inertia_, self.n_iter_, labels = best
        self.cluster_centers_ = centers.astype(dtype, copy=False)
        self.inertia_ = float(self.inertia_)
        if data.lazy:
            self.n_features_in_ = n_features
            unpersisted = Blocks(source, lazy=True, description=data.description, rows=data.rows)
            self.labels_ = unpersisted.map_to_array(kernels.labels_of, self.cluster_centers_, n_columns=None,
                                                    dtype=np.int32)
        else:
            self.labels_ = labels
        self.init_used_ = self._init_used(data)
        self.n_passes_ = data.passes
        k = self.n_clusters
        if len(np.unique(self.cluster_centers_, axis=0)) < k:
            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"Number of distinct clusters found smaller than n_clusters ({k}). "
                          "Possibly due to duplicate points in X.", ConvergenceWarning, stacklevel=3)

    def _init_used(self, data: Blocks) -> str:
        if not isinstance(self.init, str):
            return "given centres"
        if self.init == "k-means++" and data.lazy:
            return f"k-means|| ({_APPROXIMATION.split('(', 1)[1]}"
        return self.init

    def _given_centers(self, n_features: int | None) -> np.ndarray | None:
        if isinstance(self.init, str):
            return None
        centers = np.asarray(self.init, dtype=np.float64)
        if centers.ndim != 2 or centers.shape[0] != self.n_clusters:
            raise ValueError(f"init should be of shape ({self.n_clusters}, n_features), got {centers.shape}.")
        if n_features is not None and centers.shape[1] != n_features:
            raise ValueError(f"init has {centers.shape[1]} features but X has {n_features}.")
        return centers

    def _start(self, data: Blocks, run: int, seed: int, start: Any, sample: np.ndarray, report: Any) -> np.ndarray:
        """The starting centres of one run (float64)."""
        k = self.n_clusters
        if start is not None:
            return start.copy()
        if self.init == "random":
            return sample if run == 0 else self._uniform_rows(data, k, seed)
        if self.init == "k-means++" and not data.lazy:
            from sklearn.cluster import kmeans_plusplus

            # One block in memory: exact k-means++, scikit-learn's own (no pass is saved by k-means||).
            data.passes += 1
            return np.asarray(kmeans_plusplus(data.parts[0][0], k, random_state=seed)[0], dtype=np.float64)
        first = sample if run == 0 else self._uniform_rows(data, 1, seed)
        return self._k_means_parallel(data, first, seed, report)

    def _uniform_rows(self, data: Blocks, count: int, seed: int) -> np.ndarray:
        return data.reduce(kernels.first_summary, None, count, seed, merge=kernels.merge_first, indexed=True)[4]

    def _k_means_parallel(self, data: Blocks, first: np.ndarray, seed: int, report: Any) -> np.ndarray:
        """k-means||: oversample by squared distance for a few passes, weight, reduce to k here."""
        k = self.n_clusters
        per_round = max(1, math.ceil(self.oversampling_factor * k))
        candidates = first
        for round_ in range(1, self.init_max_iter + 1):
            cost, _, drawn, _ = data.reduce(kernels.round_summary, candidates, per_round, seed, round_,
                                            merge=kernels.merge_round, indexed=True)
            report(f"k-means|| round {round_}: cost {cost:.6g}, {len(drawn)} rows drawn")
            if len(drawn) == 0:
                break  # every row is a candidate already
            candidates = np.vstack([candidates, drawn])
        weights = data.reduce(kernels.nearest_counts, candidates, merge=kernels.add)
        if len(candidates) <= k:
            # Fewer distinct rows than clusters: the rows themselves, the rest repeated.
            return np.vstack([candidates, np.repeat(candidates[:1], k - len(candidates), axis=0)])
        return weighted_kmeans(candidates, weights, k, seed)

    def _lloyd(self, data: Blocks, centers: np.ndarray, tolerance: float, total_squares: float,
               report: Any) -> tuple[np.ndarray, int]:
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            sums, counts, partial = data.reduce(kernels.lloyd_summary, centers, merge=kernels.merge_lloyd)
            moved = centers.copy()
            filled = counts > 0
            moved[filled] = sums[filled] / counts[filled, None]
            empty = np.flatnonzero(~filled)
            if len(empty):
                # As scikit-learn does: an empty cluster restarts at a row far from its centre
                # (one more pass, only when a cluster emptied).
                _, far = data.reduce(kernels.far_rows, centers, len(empty), merge=kernels.merge_far)
                moved[empty[:len(far)]] = far[:len(empty)]
            shift = float(np.sum((moved - centers) ** 2))
            report(f"iteration {n_iter}: inertia {partial + total_squares:.6g}, centres moved {shift:.3g}")
            centers = moved
            if shift <= tolerance:
                break
        return centers, n_iter

    # -- using the clusters ---------------------------------------------------------------

    @property
    def _n_features_out(self) -> int:
        return self.cluster_centers_.shape[0]

    def predict(self, X: Any) -> Any:
        """The nearest centre of each row: NumPy in, NumPy out; lazy in, a lazy Dask array out."""
        check_is_fitted(self)
        centers = self.cluster_centers_
        if not is_lazy(X):
            return kernels.assign(self._in_memory(X), centers)[0]
        return apply_rows(self, X, lambda block: kernels.assign(block, centers)[0], None, np.int32)

    def transform(self, X: Any) -> Any:
        """Each row's distance to every centre (as scikit-learn's): NumPy, or lazy for lazy input."""
        from sklearn.metrics.pairwise import euclidean_distances

        check_is_fitted(self)
        centers = self.cluster_centers_
        if not is_lazy(X):
            # scikit-learn's dtype: float32 only when X and the centres both are.
            return euclidean_distances(self._in_memory(X), centers)
        both32 = getattr(X, "dtype", None) == np.float32 and centers.dtype == np.float32
        dtype = np.float32 if both32 else np.float64
        return apply_rows(self, X, lambda block: euclidean_distances(block, centers).astype(dtype, copy=False),
                          len(centers), dtype)

    def _in_memory(self, X: Any) -> Any:
        """In-memory X validated against the fit, float32 kept (as scikit-learn's KMeans)."""
        return validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the inertia of X against the centres (as scikit-learn's)."""
        check_is_fitted(self)
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by scaleml's KMeans; use scikit-learn's KMeans.")
        centers = self.cluster_centers_
        if is_lazy(X):
            from .._blocked import _lazy_features

            parts = _lazy_features(self, X).gather(_inertia, centers)
            return -float(sum(parts))
        return -float(np.sum(kernels.nearest(self._in_memory(X), centers)[1]))

    def export_to(self, model: Any) -> None:
        """Make scikit-learn's ``KMeans`` ``model`` this fitted model, in place.

        scikit-learn's predict needs state that only its fit sets, so ``model`` is fitted
        on the centres themselves started at the centres (each its own cluster: the
        centres stay), its parameters restored, then given this fit's results.
        """
        check_is_fitted(self)
        saved = model.get_params(deep=False)
        model.set_params(init=self.cluster_centers_, n_init=1, max_iter=1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(self.cluster_centers_)
        finally:
            model.set_params(**{name: saved[name] for name in ("init", "n_init", "max_iter")})
        model.cluster_centers_ = self.cluster_centers_.copy()
        model.labels_ = self.labels_
        model.inertia_ = self.inertia_
        model.n_iter_ = self.n_iter_

    def to_sklearn(self) -> Any:
        """The fitted model as scikit-learn's ``KMeans`` (no scaleml needed to use it)."""
        from sklearn.cluster import KMeans as SKLearnKMeans

        model = SKLearnKMeans(self.n_clusters, n_init=self.n_init, max_iter=self.max_iter, tol=self.tol,
                              random_state=self.random_state)
        self.export_to(model)
        return model


def _inertia(part: tuple[Any, Any], centers: np.ndarray) -> float:
    return float(kernels.nearest(np.asarray(part[0], dtype=np.float64), centers)[1].sum())
