"""Clustering on blocks of rows: in memory, on a Dask cluster, or out of core.

    KMeans         k-means|| initialisation, then Lloyd's iterations, one pass each
    from_sklearn   the twin of a scikit-learn KMeans, or None

The ``dask-ml`` backend fits scikit-learn's KMeans with this one when lazy data
is larger than its in-memory budget (MiniBatchKMeans streams with partial_fit).
"""

from ._kmeans import KMeans
from ._twins import from_sklearn

__all__ = ["KMeans", "from_sklearn"]
