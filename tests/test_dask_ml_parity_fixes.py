"""Issue #32's small fixes, each against what scikit-learn (or dask-ml) does."""

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.preprocessing import OneHotEncoder

from scaleml import Scaled
from scaleml.exceptions import DataError
from scaleml.linear_model import LinearRegression
from scaleml.model_selection import KFold, train_test_split

RNG = np.random.RandomState(0)
X = RNG.normal(size=(300, 4))
Y = X @ [1.0, -2.0, 0.5, 0.0] + 3.0


def test_lazy_y_of_one_column_fits_as_sklearns():
    reference = SkLinearRegression().fit(X, Y[:, None])
    model = LinearRegression().fit(da.from_array(X, chunks=100), da.from_array(Y[:, None], chunks=70))
    assert model.coef_.shape == reference.coef_.shape == (1, 4)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-10)
    with pytest.raises(DataError, match=r"one column \(n, 1\)"):
        LinearRegression().fit(da.from_array(X, chunks=100), da.from_array(np.c_[Y, Y], chunks=100))


def test_sparse_output_stays_sparse_per_block():
    cats = np.array([["a"], ["b"], ["c"], ["a"]] * 25, dtype=object)
    lazy = da.from_array(cats, chunks=(30, 1))
    model = Scaled(OneHotEncoder(sparse_output=True), backend="dask-ml").fit(lazy)
    out = model.transform(lazy)
    assert scipy.sparse.issparse(out.blocks[0].compute())
    expected = OneHotEncoder(sparse_output=True).fit(cats).transform(cats)
    np.testing.assert_array_equal(out.compute().toarray(), expected.toarray())
    dense = Scaled(OneHotEncoder(sparse_output=False), backend="dask-ml").fit(lazy).transform(lazy)
    assert isinstance(dense.blocks[0].compute(), np.ndarray)


def test_a_dask_dataframe_into_a_search_on_local_is_refused_with_the_way_forward():
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=2)
    target = dd.from_pandas(pd.Series((Y > 3).astype(int)), npartitions=2)
    search = GridSearchCV(SkLogisticRegression(), {"C": [1.0, 10.0]}, cv=3)
    with pytest.raises(DataError, match=r"backend='dask-ml'.*\.compute\(\)"):
        Scaled(search, backend="local").fit(frame, target)
    # the way forward named: the same search on dask-ml equals scikit-learn's in memory
    ours = Scaled(search, backend="dask-ml").fit(frame, target)
    assert ours.best_params_ == GridSearchCV(SkLogisticRegression(), {"C": [1.0, 10.0]}, cv=3).fit(
        X, (Y > 3).astype(int)).best_params_


def test_delayed_inputs_and_fit_parameters_are_computed_once():
    groups = np.arange(len(X)) % 3
    labels = (Y > 3).astype(int)
    search = GridSearchCV(SkLogisticRegression(), {"C": [0.1, 10.0]}, cv=GroupKFold(3))
    reference = GridSearchCV(SkLogisticRegression(), {"C": [0.1, 10.0]}, cv=GroupKFold(3)).fit(X, labels, groups=groups)
    computed = []

    def counting(dsk, keys, **kwargs):
        computed.append(1)
        return dask.get(dsk, keys, **kwargs)

    with dask.config.set(scheduler=counting):
        model = Scaled(search, backend="local").fit(dask.delayed(X), dask.delayed(labels), groups=dask.delayed(groups))
    assert computed == [1]  # X, y and groups in one compute
    np.testing.assert_allclose(model.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"])


def test_split_blocks_keep_known_lengths():
    lazy = da.from_array(X, chunks=(110, 4))
    train, test = train_test_split(lazy, test_size=0.1, random_state=0)
    assert not np.isnan(train.shape[0]) and train.chunks[0] == (99, 99, 72)
    assert test.chunks[0] == (11, 11, 8)
    assert train.compute().shape[0] == 270 and test.compute().shape[0] == 30
    for X_train, X_test in KFold(3, shuffle=True, random_state=0).split_arrays(lazy):
        assert X_train.compute().shape[0] == sum(X_train.chunks[0])
        assert X_test.compute().shape[0] == sum(X_test.chunks[0])
