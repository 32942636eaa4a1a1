"""DataFrame encoders as dask-ml's, and one-pass twins of scikit-learn's preprocessing steps, for the dask-ml backend's lazy data.

    Categorizer    text columns to categoricals, categories learned in one pass (dask-ml's)
    DummyEncoder   categorical columns to 0/1 dummies, DataFrame in and out (dask-ml's)

    from_sklearn   the twin of an OneHotEncoder, OrdinalEncoder, SimpleImputer,
                   RobustScaler or ColumnTransformer of those and the scalers, or None

Past the in-memory budget, the ``dask-ml`` backend fits these steps in one pass
over the blocks and leaves them plain scikit-learn estimators (see ``_twins``
for what is exact and what is approximate).
"""

from ._categorical import Categorizer, DummyEncoder
from ._twins import from_sklearn

__all__ = ["Categorizer", "DummyEncoder", "from_sklearn"]
