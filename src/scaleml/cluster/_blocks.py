"""What one block of rows contributes to k-means (NumPy, SciPy, scikit-learn's validation).

Every function takes one part ``(X_block, y_block)`` and returns a summary that
merges across blocks, so each pass of the algorithm is a tree of merges and
only small summaries travel: sums per cluster, counts, costs, and the few rows
sampled as candidate centres.

The per-block work is vectorised BLAS and NumPy (no Python loop over rows) in the
block's own precision: float32 blocks stay float32 (scikit-learn's KMeans keeps
float32 too), and only the small per-block summaries are float64. Squared
distances use ``||x||² - 2 x·c + ||c||²``: the ``x·c`` term is one matrix
product, and ``||x||²`` does not change which centre is nearest, so Lloyd passes
leave it out (the inertia adds the data's total ``Σ||x||²`` from the first pass).

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

_CHUNK_ENTRIES = 1 << 21  # row-to-centre distances held at once (16 MiB of float64)


def check_block(X: Any, n_features: int | None, *, finite: bool) -> Any:
    """One block validated as scikit-learn's KMeans validates X: dense or CSR, float64 or float32.

    ``finite``: check for NaN and infinity (the first pass does; later passes read the
    same blocks). The messages are scikit-learn's, so lazy input fails as in-memory
    input would. Runs where the block is.
    """
    from sklearn.utils import check_array

    X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], ensure_min_samples=0,
                    ensure_all_finite=finite, input_name="X")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features in one block but {n_features} in the first.")
    return X


def _rows(part: tuple[Any, Any]) -> Any:
    return check_block(part[0], None, finite=False)


def _dense(X: Any) -> np.ndarray:
    return X.toarray() if sparse.issparse(X) else X


def _row_squares(X: Any) -> np.ndarray:
    if sparse.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


def _scored_chunks(X: Any, centers: np.ndarray):
    """Yield ``(start, scores)``: ``||c||² - 2 x·c`` for a chunk of rows at a time, in X's
    precision; the -2 is folded into the centres, so a chunk costs one BLAS product and one add."""
    centers = centers.astype(X.dtype, copy=False)
    center_squares = np.einsum("ij,ij->i", centers, centers)
    scaled = (-2 * centers).T
    step = max(1, _CHUNK_ENTRIES // max(len(centers), 1))
    for start in range(0, X.shape[0], step):
        scores = np.asarray(X[start:start + step] @ scaled)
        scores += center_squares
        yield start, scores


def assign(X: Any, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre (int32) and ``||c||² - 2 x·c`` for it (its squared
    distance less ``||x||²``), in X's precision."""
    labels = np.empty(X.shape[0], dtype=np.int32)
    partial = np.empty(X.shape[0], dtype=X.dtype)
    for start, scores in _scored_chunks(X, centers):
        best = np.argmin(scores, axis=1)
        labels[start:start + len(best)] = best
        partial[start:start + len(best)] = np.take_along_axis(scores, best[:, None], axis=1).ravel()
    return labels, partial


def nearest(X: Any, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre (int32) and its squared distance to it (float64, >= 0)."""
    labels, partial = assign(X, centers)
    return labels, np.maximum(_row_squares(X) + partial, 0.0)


def nearest_distance(X: Any, centers: np.ndarray) -> np.ndarray:
    """Each row's squared distance to its nearest centre (float64, >= 0): a minimum, no argmin
    (k-means|| rounds, against many candidates, need no labels)."""
    partial = np.empty(X.shape[0], dtype=X.dtype)
    for start, scores in _scored_chunks(X, centers):
        partial[start:start + len(scores)] = scores.min(axis=1)
    return np.maximum(_row_squares(X) + partial, 0.0)


def cluster_sums(X: Any, labels: np.ndarray, k: int) -> np.ndarray:
    """The sum of each cluster's rows, as float64: a one-hot CSC matrix times X (compiled
    SciPy, no copy of X, no scatter-add)."""
    n = X.shape[0]
    one_hot = sparse.csc_matrix((np.ones(n, dtype=X.dtype), labels, np.arange(n + 1)), shape=(k, n))
    sums = one_hot @ X
    return np.asarray(sums.toarray() if sparse.issparse(sums) else sums, dtype=np.float64)


def _keys(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(rng.random(len(weights))) / weights  # weight 0: -inf, never drawn


def _top(keys: np.ndarray, rows: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    if len(keys) > count:
        best = np.argpartition(keys, -count)[-count:]
        keys, rows = keys[best], rows[best]
    keep = np.isfinite(keys)
    return keys[keep], rows[keep]


def _drawn(X: Any, rows: np.ndarray) -> np.ndarray:
    return np.asarray(_dense(X[rows]), dtype=np.float64).reshape(len(rows), X.shape[1])


def _merge_samples(summaries: tuple, at: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.concatenate([s[at] for s in summaries])
    rows = np.concatenate([s[at + 1] for s in summaries])
    best = np.argsort(keys)[::-1][:count]
    return keys[best], rows[best]


# -- the first pass: validation, size, spread and a uniform sample -------------------------------


def first_summary(part: tuple[Any, Any], n_features: int | None, count: int, seed: int, index: int) -> tuple:
    """``(n, sums, squares, keys, rows, count, dtype)``: rows, column sums and sums of squares
    (for scikit-learn's tolerance and the inertia), ``count`` rows drawn uniformly, and
    the block's dtype (the model's: float32 stays float32). Validates the block."""
    X = check_block(part[0], n_features, finite=True)
    rng = np.random.default_rng([seed, 0, index])
    keys, rows = _top(_keys(rng, np.ones(X.shape[0])), np.arange(X.shape[0]), count)
    if sparse.issparse(X):
        squares = np.asarray(X.multiply(X).sum(axis=0), dtype=np.float64).ravel()
    else:
        squares = np.einsum("ij,ij->j", X, X, dtype=np.float64)
    sums = np.asarray(X.sum(axis=0, dtype=np.float64)).ravel()
    return X.shape[0], sums, squares, keys, _drawn(X, rows), count, X.dtype


def merge_first(*summaries: tuple) -> tuple:
    n = sum(s[0] for s in summaries)
    sums = sum(s[1] for s in summaries)
    squares = sum(s[2] for s in summaries)
    keys, rows = _merge_samples(summaries, 3, summaries[0][5])
    # float64 if any block is: what scikit-learn gets from the whole array at once
    dtype = np.result_type(*(s[6] for s in summaries))
    return n, sums, squares, keys, rows, summaries[0][5], dtype


# -- a k-means|| round: the cost and l rows drawn by squared distance -----------------------------


def round_summary(part: tuple[Any, Any], centers: np.ndarray, count: int, seed: int, round_: int,
                  index: int) -> tuple:
    """``(cost, keys, rows, count)``: the block's summed squared distance to ``centers``, and
    ``count`` rows drawn with probability proportional to it (k-means|| oversampling)."""
    X = _rows(part)
    distances = nearest_distance(X, centers)
    rng = np.random.default_rng([seed, round_, index])
    keys, rows = _top(_keys(rng, distances), np.arange(X.shape[0]), count)
    return float(distances.sum()), keys, _drawn(X, rows), count


def merge_round(*summaries: tuple) -> tuple:
    keys, rows = _merge_samples(summaries, 1, summaries[0][3])
    return sum(s[0] for s in summaries), keys, rows, summaries[0][3]


def nearest_counts(part: tuple[Any, Any], candidates: np.ndarray) -> np.ndarray:
    """How many of the block's rows each candidate centre is nearest to."""
    labels, _ = assign(_rows(part), candidates)
    return np.bincount(labels, minlength=len(candidates)).astype(np.float64)


def add(*arrays: Any) -> Any:
    return sum(arrays[1:], arrays[0])


# -- Lloyd passes ------------------------------------------------------------------------------------


def lloyd_summary(part: tuple[Any, Any], centers: np.ndarray) -> tuple:
    """``(sums, counts, partial_inertia)`` of the block against ``centers``: per cluster the
    sum and count of its rows, and ``Σ(||c||² - 2 x·c)`` over the rows (the inertia less
    ``Σ||x||²``, which the fit knows from its first pass)."""
    X = _rows(part)
    k = len(centers)
    labels, partial = assign(X, centers)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return cluster_sums(X, labels, k), counts, float(partial.sum(dtype=np.float64))


def merge_lloyd(*summaries: tuple) -> tuple:
    return sum(s[0] for s in summaries), sum(s[1] for s in summaries), sum(s[2] for s in summaries)


def far_rows(part: tuple[Any, Any], centers: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` rows of the block farthest from their nearest centre, with those squared
    distances: where empty clusters restart (read only when a cluster emptied)."""
    X = _rows(part)
    distances = nearest_distance(X, centers)
    far = np.argpartition(distances, -count)[-count:] if len(distances) > count else np.arange(len(distances))
    return distances[far], _drawn(X, far)


def merge_far(*summaries: tuple) -> tuple[np.ndarray, np.ndarray]:
    distances = np.concatenate([s[0] for s in summaries])
    rows = np.concatenate([s[1] for s in summaries])
    count = max(len(s[0]) for s in summaries)
    best = np.argsort(distances)[::-1][:count]
    return distances[best], rows[best]


def exact_inertia(X: Any, centers: np.ndarray, labels: np.ndarray) -> float:
    """``Σ ||x - c_label||²`` computed from the differences (as scikit-learn's ``inertia_``),
    a chunk of rows at a time."""
    total = 0.0
    step = max(1, _CHUNK_ENTRIES // max(X.shape[1], 1))
    centers = centers.astype(X.dtype, copy=False)
    for start in range(0, X.shape[0], step):
        chunk = X[start:start + step]
        gap = _dense(chunk) - centers[labels[start:start + chunk.shape[0]]]
        total += float(np.einsum("ij,ij->", gap, gap, dtype=np.float64))
    return total


def final_summary(part: tuple[Any, Any], centers: np.ndarray, keep_labels: bool) -> tuple:
    """``(inertia, labels or None)`` of the block against the final centres."""
    X = _rows(part)
    labels, _ = assign(X, centers)
    return exact_inertia(X, centers, labels), labels if keep_labels else None


def merge_final(*summaries: tuple) -> tuple:
    labels = [s[1] for s in summaries]
    return sum(s[0] for s in summaries), None if labels[0] is None else np.concatenate(labels)


def labels_of(part: tuple[Any, Any], centers: np.ndarray) -> np.ndarray:
    return assign(_rows(part), centers)[0]
