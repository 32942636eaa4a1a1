"""What one block of rows contributes to k-means (NumPy, SciPy, scikit-learn's distances).

Every function takes one part ``(X_block, y_block)`` and returns a summary that
merges across blocks, so each pass of the algorithm is a tree of merges and
only small summaries travel: sums per cluster, counts, costs, and the few rows
sampled as candidate centres.

Random choices use weighted reservoir keys (Efraimidis and Spirakis): a row of
weight ``w`` gets the key ``log(u) / w`` for ``u`` uniform in (0, 1), and the
rows with the largest keys are a sample drawn with probability proportional
to the weights, without replacement. Keeping the best keys per block, then the
best of those across blocks, draws that sample from all the rows in one pass.
Each block's generator is seeded by ``(seed, round, block index)``, so a fit
is repeatable for the same blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from .._blocked import check_rows

_CHUNK_ROWS = 4096  # rows whose distances to every centre are held at once


def _rows(part: tuple[Any, Any], n_features: int | None) -> Any:
    return check_rows(part[0], n_features)


def _dense(X: Any) -> np.ndarray:
    return X.toarray() if sparse.issparse(X) else X


def nearest(X: Any, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre and squared distance to it, a few thousand rows at a time."""
    from sklearn.metrics.pairwise import euclidean_distances

    labels = np.empty(X.shape[0], dtype=np.int64)
    distances = np.empty(X.shape[0])
    center_norms = np.einsum("ij,ij->i", centers, centers)[None, :]
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        chunk = X[start:start + _CHUNK_ROWS]
        d2 = euclidean_distances(chunk, centers, Y_norm_squared=center_norms, squared=True)
        labels[start:start + len(d2)] = np.argmin(d2, axis=1)
        distances[start:start + len(d2)] = np.maximum(d2[np.arange(len(d2)), labels[start:start + len(d2)]], 0.0)
    return labels, distances


def _keys(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(rng.random(len(weights))) / weights  # weight 0: -inf, never drawn


def _top(keys: np.ndarray, rows: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    if len(keys) > count:
        best = np.argpartition(keys, -count)[-count:]
        keys, rows = keys[best], rows[best]
    keep = np.isfinite(keys)
    return keys[keep], rows[keep]


# -- the first pass: size, spread and a uniform sample ------------------------------------------


def first_summary(part: tuple[Any, Any], n_features: int | None, count: int, seed: int, index: int) -> tuple:
    """``(n, sums, squares, keys, rows)``: rows, column sums and sums of squares (for
    scikit-learn's tolerance), and ``count`` rows drawn uniformly (validated block)."""
    X = _rows(part, n_features)
    rng = np.random.default_rng([seed, 0, index])
    keys, rows = _top(_keys(rng, np.ones(X.shape[0])), np.arange(X.shape[0]), count)
    squares = np.asarray(X.multiply(X).sum(axis=0)).ravel() if sparse.issparse(X) else np.einsum("ij,ij->j", X, X)
    sums = np.asarray(X.sum(axis=0)).ravel()
    return X.shape[0], sums, squares, keys, _dense(X[rows]).reshape(len(rows), X.shape[1]), count


def merge_first(*summaries: tuple) -> tuple:
    n = sum(s[0] for s in summaries)
    sums = sum(s[1] for s in summaries)
    squares = sum(s[2] for s in summaries)
    keys, rows = _merge_samples(summaries, 3, summaries[0][5])
    return n, sums, squares, keys, rows, summaries[0][5]


def _merge_samples(summaries: tuple, at: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.concatenate([s[at] for s in summaries])
    rows = np.concatenate([s[at + 1] for s in summaries])
    best = np.argsort(keys)[::-1][:count]
    return keys[best], rows[best]


# -- a k-means|| round: the cost and l rows drawn by squared distance -----------------------------


def round_summary(part: tuple[Any, Any], centers: np.ndarray, count: int, seed: int, round_: int, index: int) -> tuple:
    """``(cost, keys, rows, count)``: the block's summed squared distance to ``centers``, and
    ``count`` rows drawn with probability proportional to it (k-means|| oversampling)."""
    X = _rows(part, None)
    _, distances = nearest(X, centers)
    rng = np.random.default_rng([seed, round_, index])
    keys, rows = _top(_keys(rng, distances), np.arange(X.shape[0]), count)
    return float(distances.sum()), keys, _dense(X[rows]).reshape(len(rows), X.shape[1]), count


def merge_round(*summaries: tuple) -> tuple:
    keys, rows = _merge_samples(summaries, 1, summaries[0][3])
    return sum(s[0] for s in summaries), keys, rows, summaries[0][3]


def nearest_counts(part: tuple[Any, Any], candidates: np.ndarray) -> np.ndarray:
    """How many of the block's rows each candidate centre is nearest to."""
    labels, _ = nearest(_rows(part, None), candidates)
    return np.bincount(labels, minlength=len(candidates)).astype(np.float64)


def add(*arrays: np.ndarray) -> np.ndarray:
    return sum(arrays[1:], arrays[0])


# -- a Lloyd pass ------------------------------------------------------------------------------------


def lloyd_summary(part: tuple[Any, Any], centers: np.ndarray) -> tuple:
    """``(sums, counts, inertia, far_d2, far_rows)`` of the block against ``centers``:
    per cluster the sum and count of its rows, the summed squared distances, and the
    ``k`` rows farthest from their centre (where empty clusters are moved)."""
    X = _rows(part, None)
    k = len(centers)
    labels, distances = nearest(X, centers)
    membership = sparse.csr_matrix((np.ones(len(labels)), (labels, np.arange(len(labels)))), shape=(k, X.shape[0]))
    sums = membership @ X
    sums = sums.toarray() if sparse.issparse(sums) else np.asarray(sums)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    far = np.argpartition(distances, -k)[-k:] if len(distances) > k else np.arange(len(distances))
    return sums, counts, float(distances.sum()), distances[far], _dense(X[far]).reshape(len(far), X.shape[1])


def merge_lloyd(*summaries: tuple) -> tuple:
    k = len(summaries[0][1])
    far_d2 = np.concatenate([s[3] for s in summaries])
    far_rows = np.concatenate([s[4] for s in summaries])
    best = np.argsort(far_d2)[::-1][:k]
    return (sum(s[0] for s in summaries), sum(s[1] for s in summaries), sum(s[2] for s in summaries),
            far_d2[best], far_rows[best])


def labels_of(part: tuple[Any, Any], centers: np.ndarray) -> np.ndarray:
    return nearest(_rows(part, None), centers)[0]
