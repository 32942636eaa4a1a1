"""Splitting lazy data (Dask arrays, DataFrames, Parquet/CSV paths) block by block, seeded.

    train_test_split   scikit-learn's for in-memory data; per block for lazy data
    KFold              scikit-learn's, plus split_arrays() for lazy data
    ShuffleSplit       scikit-learn's, plus split_arrays() for lazy data

The splits feed the ``dask-ml`` backend's ``fit`` and ``score``::

    X_train, X_test = train_test_split("data/*.parquet", test_size=0.2, random_state=0)
    model = Scaled(SGDClassifier(), backend="dask-ml").fit(X_train, "label")
    model.score(X_test, "label")
"""

from ._split import KFold, ShuffleSplit, train_test_split

__all__ = ["KFold", "ShuffleSplit", "train_test_split"]
