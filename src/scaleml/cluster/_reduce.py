"""k-means||'s last step, here: the weighted candidates reduced to ``k`` centres.

The candidates are few (about ``init_max_iter * oversampling_factor * k`` rows),
so this is plain NumPy on one machine. scikit-learn's ``KMeans`` would do it,
but each of its fits pays a fixed cost (validation, thread-pool limits) that
on small candidate sets was most of k-means||'s time; its public
``kmeans_plusplus`` seeds, and weighted Lloyd iterations here refine.
"""

from __future__ import annotations

import numpy as np

from ._blocks import nearest

_RESTARTS = 10  # k-means++ restarts on the candidates: no pass over the data, and a poor start avoided
_MAX_ITER = 100


def weighted_kmeans(points: np.ndarray, weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The ``k`` centres of the lowest weighted inertia over restarts of k-means++ + Lloyd.

    Parameters
    ----------
    points : ndarray of shape (m, n_features)
        The candidate centres (float64), ``m > k``.
    weights : ndarray of shape (m,)
        The rows nearest to each candidate.
    k : int
    seed : int

    Returns
    -------
    ndarray of shape (k, n_features)
    """
    from sklearn.cluster import kmeans_plusplus

    rng = np.random.RandomState(seed)
    if not np.any(weights > 0):
        weights = np.ones_like(weights)
    best, best_cost = None, np.inf
    for _ in range(_RESTARTS):
        centers, _ = kmeans_plusplus(points, k, sample_weight=weights, random_state=rng)
        centers, cost = _lloyd(points, weights, centers.astype(np.float64))
        if cost < best_cost:
            best, best_cost = centers, cost
    return best


def _lloyd(points: np.ndarray, weights: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, float]:
    k = len(centers)
    labels = None
    for _ in range(_MAX_ITER):
        new_labels, _ = nearest(points, centers)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        mass = np.bincount(labels, weights=weights, minlength=k)
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, points * weights[:, None])  # a few hundred rows: clarity over speed
        filled = mass > 0
        centers = centers.copy()
        centers[filled] = sums[filled] / mass[filled, None]  # an empty cluster keeps its centre
    _, distances = nearest(points, centers)
    return centers, float(weights @ distances)
