"""Decompositions of tall data in one pass over blocks of rows: in memory, on Dask, or out of core.

    PCA            exact principal components: X'X per block then eigh here (scikit-learn's
                   covariance_eigh route), TSQR of the centred blocks where conditioning needs it
    TruncatedSVD   exact leading singular vectors, uncentred (the same two routes)

    from_sklearn   the twin of a scikit-learn PCA/TruncatedSVD, or None

On data that fits they agree with scikit-learn's ``PCA(svd_solver="full")`` and
``TruncatedSVD(algorithm="arpack")`` (components within rounding, signs as
scikit-learn's). The ``dask-ml`` backend fits scikit-learn's PCA and
TruncatedSVD with these when lazy data is larger than its in-memory budget.
"""

from ._pca import PCA
from ._svd import TruncatedSVD
from ._twins import from_sklearn

__all__ = ["PCA", "TruncatedSVD", "from_sklearn"]
