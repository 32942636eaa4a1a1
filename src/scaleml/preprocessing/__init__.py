"""One-pass twins of scikit-learn's preprocessing steps, for the dask-ml backend's lazy data.

    from_sklearn   the twin of an OneHotEncoder, OrdinalEncoder, SimpleImputer,
                   RobustScaler or ColumnTransformer of those and the scalers, or None

Past the in-memory budget, the ``dask-ml`` backend fits these steps in one pass
over the blocks and leaves them plain scikit-learn estimators (see ``_twins``
for what is exact and what is approximate).
"""

from ._twins import from_sklearn

__all__ = ["from_sklearn"]
