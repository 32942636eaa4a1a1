"""scaleml.model_selection: splitting lazy data block by block, seeded, paired, and fitted on."""

import numpy as np
import pandas as pd
import pytest
import sklearn.model_selection as sk
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier

from scaleml import Scaled
from scaleml.exceptions import DataError, InvalidParameterError
from scaleml.model_selection import KFold, ShuffleSplit, train_test_split

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

pytestmark = pytest.mark.timeout(300)

X, y = make_classification(n_samples=2_000, n_features=5, random_state=0)
ROW_IDS = np.arange(len(X), dtype=float)  # a column that names each row, to check pairing


def _lazy():
    data = np.column_stack([X, ROW_IDS])
    return da.from_array(data, chunks=(300, -1)), da.from_array(y, chunks=300)


def test_in_memory_is_scikit_learns_own():
    ours = train_test_split(X, y, test_size=0.3, random_state=4)
    theirs = sk.train_test_split(X, y, test_size=0.3, random_state=4)
    for a, b in zip(ours, theirs):
        assert_array_equal(a, b)
    folds = list(KFold(3, shuffle=True, random_state=1).split_arrays(X, y))
    reference = list(sk.KFold(3, shuffle=True, random_state=1).split(X))
    for (X_train, X_test, y_train, y_test), (train, test) in zip(folds, reference):
        assert_array_equal(X_test, X[test]) and assert_array_equal(y_train, y[train])


def test_lazy_split_is_block_by_block_seeded_and_keeps_x_and_y_paired():
    Xd, yd = _lazy()
    X_train, X_test, y_train, y_test = train_test_split(Xd, yd, test_size=0.2, random_state=0)
    assert all(isinstance(part, da.Array) for part in (X_train, X_test, y_train, y_test))
    train_ids, test_ids = X_train[:, -1].compute().astype(int), X_test[:, -1].compute().astype(int)
    assert not set(train_ids) & set(test_ids) and len(train_ids) + len(test_ids) == len(X)
    assert_array_equal(y_train.compute(), y[train_ids])  # y follows X row for row
    assert_array_equal(y_test.compute(), y[test_ids])
    # every block gives its own fraction: six 300-row blocks give 60 test rows each, the last 200 rows 40
    assert len(test_ids) == 6 * 60 + 40
    again = train_test_split(Xd, yd, test_size=0.2, random_state=0)[1][:, -1].compute()
    other = train_test_split(Xd, yd, test_size=0.2, random_state=1)[1][:, -1].compute()
    assert_array_equal(again, test_ids) and not np.array_equal(other, test_ids)


def test_kfold_and_shufflesplit_on_lazy_data():
    Xd, yd = _lazy()
    seen = []
    for X_train, X_test, y_train, y_test in KFold(4, shuffle=True, random_state=0).split_arrays(Xd, yd):
        test_ids = X_test[:, -1].compute().astype(int)
        train_ids = X_train[:, -1].compute().astype(int)
        assert not set(test_ids) & set(train_ids) and len(test_ids) + len(train_ids) == len(X)
        assert_array_equal(y_test.compute(), y[test_ids])
        seen.append(test_ids)
    assert sorted(np.concatenate(seen)) == list(range(len(X)))  # every row tested exactly once
    splits = list(ShuffleSplit(3, test_size=0.1, random_state=0).split_arrays(Xd, yd))
    tests = [s[1][:, -1].compute() for s in splits]
    assert len(splits) == 3 and not np.array_equal(tests[0], tests[1])


def test_parquet_paths_split_and_fit_with_the_dask_ml_backend(tmp_path):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).assign(label=y)
    for i, start in enumerate(range(0, len(frame), 500)):
        frame.iloc[start:start + 500].to_parquet(tmp_path / f"part-{i}.parquet")
    train, test = train_test_split(str(tmp_path), test_size=0.25, random_state=0)
    assert isinstance(train, dd.DataFrame)
    model = Scaled(SGDClassifier(random_state=0), backend="dask-ml").fit(train, "label")
    assert model.score(test, "label") > 0.7
    assert len(train) + len(test) == len(X)
    # a Dask Series split beside its DataFrame stays paired row for row, through the backend too
    lazy = dd.read_parquet(str(tmp_path))
    X_train, X_test, y_train, y_test = train_test_split(lazy.drop(columns="label"), lazy["label"], random_state=0)
    assert list(X_train.columns) == [f"f{i}" for i in range(5)] and y_train.name == "label"
    rows = X_test.compute()
    assert_array_equal(y_test.compute().to_numpy(), frame["label"].to_numpy()[_positions(frame, rows)])
    fitted = Scaled(SGDClassifier(random_state=0), backend="dask-ml").fit(X_train, y_train)
    assert fitted.score(X_test, y_test) > 0.7


def _positions(frame, rows):
    """Where each selected row sits in the original frame (found by its features)."""
    lookup = {tuple(np.round(v, 10)): i for i, v in enumerate(frame[[f"f{i}" for i in range(5)]].to_numpy())}
    return [lookup[tuple(np.round(v, 10))] for v in rows[[f"f{i}" for i in range(5)]].to_numpy()]


def test_lazy_arrays_split_then_fitted_need_no_extra_pass():
    Xd, yd = _lazy()
    X_train, X_test, y_train, y_test = train_test_split(Xd[:, :-1], yd, random_state=0)
    model = Scaled(SGDClassifier(random_state=0), backend="dask-ml").fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.7


def test_bad_input_is_named():
    Xd, yd = _lazy()
    with pytest.raises(InvalidParameterError, match="must be a fraction in \\(0, 1\\)"):
        train_test_split(Xd, yd, test_size=100)
    with pytest.raises(InvalidParameterError, match="shuffle=False on lazy data"):
        train_test_split(Xd, yd, shuffle=False)
    with pytest.raises(InvalidParameterError, match="stratify is not supported on lazy data"):
        train_test_split(Xd, yd, stratify=yd)
    with pytest.raises(DataError, match="lazy and in-memory"):
        train_test_split(Xd, y)
    with pytest.raises(DataError, match="blocked alike"):
        train_test_split(Xd, da.from_array(y, chunks=500))
