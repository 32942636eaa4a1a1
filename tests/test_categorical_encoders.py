"""scaleml.preprocessing.Categorizer and DummyEncoder: dask-ml's DataFrame encoders, pandas and Dask."""

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import OneHotEncoder

from scaleml.preprocessing import Categorizer, DummyEncoder

FRAME = pd.DataFrame({
    "city": pd.array(["paris", "rome", "oslo", "rome", "paris", "lima"], dtype=object),
    "size": pd.array(["s", "m", "l", "m", "s", "s"], dtype=object),
    "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
})


def _count_computes():
    """A scheduler that counts how many times a graph was computed (each compute is a pass)."""
    calls = []

    def scheduler(dsk, keys, **kwargs):
        calls.append(len(keys) if isinstance(keys, list) else 1)
        return dask.get(dsk, keys, **kwargs)

    return calls, scheduler


def test_categorizer_dask_equals_pandas_in_one_compute():
    ddf = dd.from_pandas(FRAME, npartitions=3)
    calls, scheduler = _count_computes()
    with dask.config.set(scheduler=scheduler):
        lazy = Categorizer().fit(ddf)
    assert len(calls) == 1  # both columns' categories in one compute: one pass
    eager = Categorizer().fit(FRAME)
    assert list(lazy.columns_) == list(eager.columns_) == ["city", "size"]
    for name in ("city", "size"):
        assert list(lazy.categories_[name].categories) == list(eager.categories_[name].categories)
        assert list(lazy.categories_[name].categories) == sorted(FRAME[name].unique())
    out = lazy.transform(ddf)
    assert isinstance(out, dd.DataFrame)  # still lazy
    computed = out.compute()
    assert isinstance(computed["city"].dtype, pd.CategoricalDtype)
    assert computed["value"].dtype == np.float64
    pd.testing.assert_frame_equal(computed, eager.transform(FRAME))


def test_categorizer_given_categories_reads_nothing():
    calls, scheduler = _count_computes()
    ddf = dd.from_pandas(FRAME, npartitions=2)
    with dask.config.set(scheduler=scheduler):
        model = Categorizer(categories={"city": (["lima", "oslo", "paris", "rome", "kyiv"], True)}).fit(ddf)
    assert calls == []
    assert model.categories_["city"].ordered
    assert list(model.transform(FRAME)["city"].cat.categories) == ["lima", "oslo", "paris", "rome", "kyiv"]


def test_categorizer_columns_and_unseen_category():
    model = Categorizer(columns=["size"]).fit(FRAME)
    assert list(model.columns_) == ["size"]
    unseen = FRAME.assign(size=["s", "xl", "m", "m", "s", "s"])
    # scikit-learn's OneHotEncoder words it so: the same error, the column named.
    expected = OneHotEncoder().fit(FRAME[["size"]])
    with pytest.raises(ValueError, match="Found unknown categories") as sklearn_error:
        expected.transform(unseen[["size"]])
    with pytest.raises(ValueError, match=r"Found unknown categories \['xl'\] in column 'size'"):
        model.transform(unseen)
    assert "Found unknown categories" in str(sklearn_error.value)
    # On a Dask DataFrame the error comes from the partition that holds it, at compute.
    lazy = model.transform(dd.from_pandas(unseen, npartitions=3))
    with pytest.raises(ValueError, match="Found unknown categories"):
        lazy.compute()
    ignored = Categorizer(columns=["size"], handle_unknown="ignore").fit(FRAME).transform(unseen)
    assert ignored["size"].isna().tolist() == [False, True, False, False, False, False]


def test_nan_in_one_block_stays_missing():
    frame = FRAME.copy()
    frame.loc[4, "city"] = None
    ddf = dd.from_pandas(frame, npartitions=3)
    model = Categorizer().fit(ddf)
    assert list(model.categories_["city"].categories) == ["lima", "oslo", "paris", "rome"]  # no NaN category
    dummies = DummyEncoder().fit(model.transform(ddf)).transform(model.transform(ddf)).compute()
    city = dummies[[c for c in dummies.columns if c.startswith("city_")]]
    assert city.iloc[4].sum() == 0 and (city.drop(index=4).sum(axis=1) == 1).all()


def test_empty_partition():
    ddf = dd.from_pandas(FRAME, npartitions=3)
    empty = ddf[ddf.value > 0]  # a filter that keeps everything: lengths unknown
    parts = dd.concat([empty.partitions[0].head(0, compute=False), empty])
    assert parts.npartitions == 4 and len(parts.partitions[0].compute()) == 0
    model = Categorizer().fit(parts)
    assert list(model.categories_["city"].categories) == ["lima", "oslo", "paris", "rome"]
    encoder = DummyEncoder().fit(model.transform(parts))
    out = encoder.transform(model.transform(parts)).compute()
    assert len(out) == len(FRAME)


@pytest.mark.parametrize("daskify", [False, True])
@pytest.mark.parametrize("drop_first", [False, True])
def test_dummy_encoder_round_trip(daskify, drop_first):
    frame = Categorizer().fit_transform(FRAME)
    data = dd.from_pandas(frame, npartitions=2) if daskify else frame
    encoder = DummyEncoder(drop_first=drop_first).fit(data)
    out = encoder.transform(data)
    assert isinstance(out, dd.DataFrame if daskify else pd.DataFrame)
    computed = out.compute() if daskify else out
    expected = pd.get_dummies(frame, columns=["city", "size"], drop_first=drop_first)
    pd.testing.assert_frame_equal(computed, expected)
    assert list(computed.columns) == list(encoder.transformed_columns_)
    back = encoder.inverse_transform(out)
    back = back.compute() if daskify else back
    pd.testing.assert_frame_equal(back.reset_index(drop=True), frame)
    from_values = encoder.inverse_transform(computed.to_numpy())
    pd.testing.assert_frame_equal(from_values.reset_index(drop=True), frame)


def test_dummy_encoder_learns_unknown_dask_categories_in_one_pass():
    frame = Categorizer().fit_transform(FRAME)
    ddf = dd.from_pandas(frame, npartitions=2)
    unknown = ddf.assign(city=ddf.city.cat.as_unknown())
    encoder = DummyEncoder().fit(unknown)
    assert list(encoder.dtypes_["city"].categories) == ["lima", "oslo", "paris", "rome"]


def test_dummy_encoder_bad_input():
    with pytest.raises(ValueError, match="encodes categorical columns.*Categorizer"):
        DummyEncoder(columns=["city"]).fit(FRAME)
    encoder = DummyEncoder().fit(Categorizer().fit_transform(FRAME))
    with pytest.raises(ValueError, match="Columns of 'X' do not match the training columns"):
        encoder.transform(Categorizer().fit_transform(FRAME).drop(columns="size"))
    with pytest.raises(TypeError, match="takes a pandas or Dask DataFrame"):
        Categorizer().fit(np.zeros((3, 2)))
    with pytest.raises(NotFittedError):
        DummyEncoder().transform(FRAME)
    unseen = Categorizer().fit(FRAME)
    with pytest.raises(ValueError, match="Found unknown categories"):
        encoder.transform(unseen.transform(FRAME).assign(
            city=pd.Categorical(["nice"] * 6, categories=["nice"])))
