"""k-means on blocks of rows: k-means|| initialisation, then Lloyd passes, one reduction each."""

from __future__ import annotations

import math
import warnings
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._blocked import NON_NEGATIVE, PERSIST, POSITIVE_INT, BlockedEstimator, apply_rows, report_to, unsupervised_input
from .._validation import Interval, Predicate, StrOptions
from ..data.blocks import Blocks
from ..data.forms import is_lazy
from . import _blocks as kernels


class KMeans(BlockedEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """k-means clustering on in-memory or Dask data, one pass over the blocks per step.

    Minimizes scikit-learn's objective (the summed squared distance of each row to
    its nearest centre) with Lloyd's iterations, started by k-means|| (Bahmani et
    al.), the scalable form of k-means++: a few passes each draw
    ``oversampling_factor * n_clusters`` rows with probability proportional to
    their squared distance to the centres so far; the candidates, weighted by the
    rows nearest to each, are reduced to ``n_clusters`` centres by k-means++
    here. Every pass computes per-block summaries where the blocks are (sums and
    counts per cluster, costs, a few sampled rows) and merges them in a tree, so
    memory holds a few blocks however many rows there are. On data that fits, the
    inertia is scikit-learn's ``KMeans``'s within about 1% (both find local optima).

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means||", "random"} or array of shape (n_clusters, n_features), default="k-means||"
        ``"random"``: ``n_clusters`` rows drawn uniformly (one pass).
    n_init : int, default=1
        Runs from different starting centres; the lowest inertia is kept.
    max_iter : int, default=300
        Lloyd iterations per run (one pass each).
    tol : float, default=1e-4
        Stop when the centres moved (summed squared shift) by at most ``tol`` times
        the mean variance of the features (scikit-learn's criterion).
    oversampling_factor : float, default=2.0
        Rows drawn per k-means|| round, per cluster.
    init_max_iter : int, default=5
        k-means|| rounds (one pass each).
    random_state : int, RandomState instance or None, default=None
    persist : {"auto", True, False}, default="auto"
        Keep lazy blocks in (cluster) memory between passes; ``auto``: when they fit
        half the workers' memory (a quarter of this machine's without a cluster).
    verbose : int, default=0
        Print where the blocks live and every pass's inertia.

    Attributes
    ----------
    cluster_centers_, inertia_, n_iter_, n_features_in_ : as scikit-learn's.
    labels_ : ndarray, or a lazy Dask array for lazy input (computed block by block when asked).
    n_passes_ : int
        Passes over the data the fit made.
    """

    _parameter_constraints = {
        "n_clusters": [POSITIVE_INT],
        "init": [StrOptions({"k-means||", "random"}), Predicate(lambda v: np.ndim(v) == 2, "an array of centres")],
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
                 init_max_iter=5, random_state=None, persist="auto", verbose=0):
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

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> KMeans:
        """Fit on NumPy/pandas/sparse data, a Dask array/DataFrame, or a Parquet/CSV path.

        ``y`` is ignored (with lazy data, a target column named by it is left out).
        """
        self._validate_params()
        return self.fit_blocks(unsupervised_input(self, X, y))

    def fit_blocks(self, data: Blocks) -> KMeans:
        """Fit on prepared blocks (what :meth:`fit` does after reading its input)."""
        self._validate_params()
        report = report_to(self) or (lambda message: None)
        k = self.n_clusters
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        source = data.parts  # labels_ is computed from the source, which outlives a persisted copy
        where = data.persist(self.persist, data.nbytes)
        report(f"{data.description}: blocks {where}")
        start = self._given_centers(data.n_features)
        count = 1 if start is not None or self.init == "k-means||" else k
        n, sums, squares, _, sample, _ = data.reduce(kernels.first_summary, data.n_features, count, seed,
                                                     merge=kernels.merge_first, indexed=True)
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        n_features = len(sums)
        if start is not None and start.shape[1] != n_features:
            raise ValueError(f"init has {start.shape[1]} features but X has {n_features}.")
        variances = squares / n - (sums / n) ** 2
        tolerance = float(np.mean(np.maximum(variances, 0.0))) * self.tol
        best = None
        for run in range(self.n_init):
            run_seed = seed + run
            if start is not None:
                centers = start.copy()
            elif self.init == "random":
                centers = sample if run == 0 else self._uniform_rows(data, k, run_seed)
            else:
                first = sample if run == 0 else self._uniform_rows(data, 1, run_seed)
                centers = self._k_means_parallel(data, first, run_seed, report)
            centers, inertia, n_iter = self._lloyd(data, centers, tolerance, report)
            report(f"run {run + 1}/{self.n_init}: inertia {inertia:.6g} after {n_iter} iterations")
            if best is None or inertia < best[1]:
                best = (centers, inertia, n_iter)
        self.cluster_centers_, self.inertia_, self.n_iter_ = best
        if data.lazy:
            self.n_features_in_ = n_features
            unpersisted = Blocks(source, lazy=True, description=data.description, rows=data.rows)
            self.labels_ = unpersisted.map_to_array(kernels.labels_of, self.cluster_centers_, n_columns=None,
                                                    dtype=np.int64)
        else:
            self.labels_ = kernels.labels_of(data.parts[0], self.cluster_centers_)
        self.n_passes_ = data.passes
        if len(np.unique(self.cluster_centers_, axis=0)) < k:
            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"Number of distinct clusters found smaller than n_clusters ({k}). "
                          "Possibly due to duplicate points in X.", ConvergenceWarning, stacklevel=2)
        return self

    def _given_centers(self, n_features: int | None) -> np.ndarray | None:
        if isinstance(self.init, str):
            return None
        centers = np.asarray(self.init, dtype=np.float64)
        if centers.ndim != 2 or centers.shape[0] != self.n_clusters:
            raise ValueError(f"init should be of shape ({self.n_clusters}, n_features), got {centers.shape}.")
        if n_features is not None and centers.shape[1] != n_features:
            raise ValueError(f"init has {centers.shape[1]} features but X has {n_features}.")
        return centers

    def _uniform_rows(self, data: Blocks, count: int, seed: int) -> np.ndarray:
        return data.reduce(kernels.first_summary, None, count, seed, merge=kernels.merge_first, indexed=True)[4]

    def _k_means_parallel(self, data: Blocks, first: np.ndarray, seed: int, report: Any) -> np.ndarray:
        """k-means||: oversample by squared distance for a few passes, weight, reduce to k here."""
        from sklearn.cluster import KMeans as SKLearnKMeans

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
        # Candidates are few (about init_max_iter * oversampling_factor * k): restarts of
        # k-means++ on them cost no pass over the data and avoid a poor start.
        reducer = SKLearnKMeans(k, init="k-means++", n_init=10, random_state=seed)
        return reducer.fit(candidates, sample_weight=weights).cluster_centers_

    def _lloyd(self, data: Blocks, centers: np.ndarray, tolerance: float, report: Any) -> tuple:
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            sums, counts, inertia, _, far_rows = data.reduce(kernels.lloyd_summary, centers, merge=kernels.merge_lloyd)
            moved = centers.copy()
            filled = counts > 0
            moved[filled] = sums[filled] / counts[filled, None]
            empty = np.flatnonzero(~filled)
            if len(empty):
                # As scikit-learn does: an empty cluster restarts at a row far from its centre.
                moved[empty] = far_rows[:len(empty)]
            shift = float(np.sum((moved - centers) ** 2))
            centers = moved
            report(f"iteration {n_iter}: inertia {inertia:.6g}, centres moved {shift:.3g}")
            if shift <= tolerance:
                break
        # The inertia of the final centres (the last pass measured the ones before).
        inertia = data.reduce(kernels.lloyd_summary, centers, merge=kernels.merge_lloyd)[2]
        return centers, float(inertia), n_iter

    # -- using the clusters ---------------------------------------------------------------

    @property
    def _n_features_out(self) -> int:
        return self.cluster_centers_.shape[0]

    def predict(self, X: Any) -> Any:
        """The nearest centre of each row: NumPy in, NumPy out; lazy in, a lazy Dask array out."""
        check_is_fitted(self)
        centers = self.cluster_centers_
        return apply_rows(self, X, lambda block: kernels.nearest(block, centers)[0], None, np.int64)

    def transform(self, X: Any) -> Any:
        """Each row's distance to every centre (as scikit-learn's): NumPy, or lazy for lazy input."""
        from sklearn.metrics.pairwise import euclidean_distances

        check_is_fitted(self)
        centers = self.cluster_centers_
        return apply_rows(self, X, lambda block: euclidean_distances(block, centers), len(centers), np.float64)

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
        return -float(np.sum(apply_rows(self, X, lambda block: kernels.nearest(block, centers)[1], None, np.float64)))

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
