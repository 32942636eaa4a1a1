"""The dask-ml backend fits encoders, SimpleImputer and RobustScaler past its budget in one pass.

Each fitted step is plain scikit-learn and equals (encoders, imputer) or
approximates within the documented bound (RobustScaler) the same step fitted
on all the data in memory.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.impute import SimpleImputer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, PolynomialFeatures, QuantileTransformer, RobustScaler

from scaleml import Scaled, explain
from scaleml.preprocessing import from_sklearn
from scaleml.planning import Route  # noqa: E402

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

pytestmark = pytest.mark.timeout(300)

RNG = np.random.default_rng(0)
N = 6_000
COLORS = np.array(["red", "green", "blue", "amber"])
CATEGORIES = pd.DataFrame({
    "color": COLORS[RNG.integers(0, 4, N)],
    "size": np.array(["S", "M", "L"])[RNG.integers(0, 3, N)],
})
CATEGORIES.loc[5_500, "color"] = "violet"  # a category seen in one late block only
LABELS = (CATEGORIES["color"] == "red").astype(int).to_numpy()


def _tiny_budget(**options):
    return {"backend": "dask-ml", "max_in_memory_bytes": 1_000, **options}


@pytest.fixture(scope="module")
def category_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("categories")
    frame = CATEGORIES.assign(label=LABELS)
    for i, start in enumerate(range(0, N, 1_500)):
        frame.iloc[start:start + 1_500].to_parquet(folder / f"part-{i}.parquet")
    return str(folder)


@pytest.mark.parametrize("encoder", [OneHotEncoder(handle_unknown="ignore", sparse_output=False), OrdinalEncoder()],
                         ids=["onehot", "ordinal"])
def test_encoders_gather_categories_per_block_and_equal_sklearns(category_files, encoder):
    model = Scaled(encoder, **_tiny_budget()).fit(category_files, "label")
    fitted = model.estimator_
    reference = type(encoder)(**encoder.get_params()).fit(CATEGORIES.to_numpy())
    assert type(fitted) is type(encoder)
    for ours, theirs in zip(fitted.categories_, reference.categories_):
        assert_array_equal(ours, theirs)
    assert "violet" in fitted.categories_[0]
    assert_array_equal(fitted.transform(CATEGORIES.to_numpy()), reference.transform(CATEGORIES.to_numpy()))
    assert model.plan_[0].engine == "scaleml.preprocessing"


def test_a_pipeline_of_encoder_and_classifier_on_files_past_the_budget(category_files):
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"), SGDClassifier(random_state=0))
    model = Scaled(pipe, **_tiny_budget()).fit(category_files, "label")
    assert model.score(category_files, "label") > 0.95
    assert model.plan_[0].engine == "scaleml.preprocessing"
    # The files' rows are in their footers: loading whole is known to pass the budget before reading.
    assert "would pass max_in_memory_bytes" in model.plan_[0].reason and "grew past" not in model.plan_[0].reason


@pytest.mark.parametrize("strategy", ["mean", "most_frequent", "constant"])
@pytest.mark.parametrize("add_indicator", [False, True])
def test_simple_imputer_equals_sklearns(strategy, add_indicator):
    X = np.round(RNG.normal(size=(N, 4)), 1)
    X[RNG.random((N, 4)) < 0.1] = np.nan
    X[:, 3] = np.where(np.isnan(X[:, 3]), 2.0, X[:, 3])  # a column with nothing missing
    imputer = SimpleImputer(strategy=strategy, add_indicator=add_indicator, fill_value=-1.0)
    Xd = da.from_array(X, chunks=(1_000, -1))
    model = Scaled(imputer, **_tiny_budget()).fit(Xd)
    assert explain(model, X=Xd)[0].engine == "scaleml.preprocessing"  # a Dask array's size is known up front
    reference = SimpleImputer(**imputer.get_params()).fit(X)
    # (scikit-learn keeps the constant strategy's statistics as objects)
    assert_allclose(model.estimator_.statistics_.astype(float), reference.statistics_.astype(float), rtol=1e-12)
    assert_allclose(model.estimator_.transform(X), reference.transform(X), rtol=1e-12)


def test_robust_scaler_from_a_uniform_sample_is_close():
    X = RNG.lognormal(size=(300_000, 3)) * [1, 10, 100]
    Xd = da.from_array(X, chunks=(40_000, -1))
    model = Scaled(RobustScaler(), **_tiny_budget()).fit(Xd)
    reference = RobustScaler().fit(X)
    # a 100,000-row sample: the quantiles' ranks within ~0.3 points, so center and scale within 2%
    assert_allclose(model.estimator_.center_, reference.center_, rtol=0.02)
    assert_allclose(model.estimator_.scale_, reference.scale_, rtol=0.02)
    again = Scaled(RobustScaler(), **_tiny_budget()).fit(Xd)
    assert_array_equal(again.estimator_.center_, model.estimator_.center_)  # seeded: refits agree


def test_what_has_no_one_pass_twin_is_refused_with_the_alternatives():
    assert from_sklearn(SimpleImputer(strategy="median")) is None
    assert from_sklearn(OneHotEncoder(min_frequency=5)) is None
    from scaleml.exceptions import OutOfMemoryBudgetError

    X = da.from_array(RNG.normal(size=(2_000, 3)), chunks=(500, -1))
    with pytest.raises(OutOfMemoryBudgetError, match="no partial_fit"):
        Scaled(SimpleImputer(strategy="median"), **_tiny_budget()).fit(X)


@pytest.fixture(scope="module")
def mixed_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    numbers = RNG.normal(size=(N, 2)) * [1.0, 50.0] + [0.0, 300.0]
    numbers[RNG.random(N) < 0.05, 0] = np.nan
    frame = CATEGORIES.assign(income=numbers[:, 1], age=numbers[:, 0], label=LABELS)
    for i, start in enumerate(range(0, N, 1_500)):
        frame.iloc[start:start + 1_500].to_parquet(folder / f"part-{i}.parquet")
    return str(folder), frame.drop(columns="label")


def _dense(X):
    return X.toarray() if hasattr(X, "toarray") else X


def _column_transformer():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    return ColumnTransformer([
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["color", "size"]),
        ("income", StandardScaler(), ["income"]),
        ("age", SimpleImputer(), ["age"]),
    ])


def test_a_column_transformer_on_lazy_files_past_the_budget_equals_sklearns(mixed_files):
    files, frame = mixed_files
    model = Scaled(make_pipeline(_column_transformer(), SGDClassifier(random_state=0)), **_tiny_budget())
    model.fit(files, "label")
    fitted = model.estimator_[0]
    reference = _column_transformer().fit(frame)
    assert_allclose(_dense(fitted.transform(frame)), _dense(reference.transform(frame)), rtol=1e-9, atol=1e-12)
    assert list(fitted.get_feature_names_out()) == list(reference.get_feature_names_out())
    assert fitted.sparse_output_ == reference.sparse_output_
    assert model.plan_[0].engine == "scaleml.preprocessing" and model.plan_[0].route is Route.BLOCKED
    assert model.plan_[0].observed["passes"] == 1  # one streamed pass (the plan said passes=0)
    assert "passes=1" in str(model.plan_)
    assert model.score(files, "label") > 0.95
    assert model.estimator_.predict(frame).shape == (N,)  # a plain scikit-learn pipeline
    columns = Scaled(_column_transformer(), **_tiny_budget()).fit(files, "label")
    lazy = columns.transform(files)  # block by block, the label column left out; sparse blocks densified
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), _dense(reference.transform(frame)), rtol=1e-9, atol=1e-12)


def test_a_column_transformer_within_the_budget_is_loaded_whole(mixed_files):
    files, frame = mixed_files
    model = Scaled(make_pipeline(_column_transformer(), SGDClassifier(random_state=0)), backend="dask-ml")
    model.fit(files, "label")
    assert model.plan_[0].route is Route.LOADED and "loaded_mib" in model.plan_[0].observed
    reference = _column_transformer().fit(frame)
    assert_allclose(_dense(model.estimator_[0].transform(frame)), _dense(reference.transform(frame)))
    predictions = model.predict(files)
    assert isinstance(predictions, da.Array) and predictions.compute().shape == (N,)


def test_a_column_transformer_with_a_part_that_needs_all_rows_is_refused_past_the_budget(mixed_files):
    from sklearn.compose import ColumnTransformer

    from scaleml.exceptions import OutOfMemoryBudgetError

    files, _ = mixed_files
    median = ColumnTransformer([("age", SimpleImputer(strategy="median"), ["age"])])
    assert from_sklearn(median) is None
    with pytest.raises(OutOfMemoryBudgetError):
        Scaled(median, **_tiny_budget()).fit(files, "label")


@pytest.mark.parametrize("scaler_name", ["StandardScaler", "MinMaxScaler", "MaxAbsScaler"])
def test_scalers_streamed_past_the_budget_equal_the_in_memory_fit(scaler_name):
    import sklearn.preprocessing as sk

    X = RNG.normal(size=(N, 3)) * [1.0, 100.0, 1e-3] + [5.0, -50.0, 0.0]
    model = Scaled(getattr(sk, scaler_name)(), **_tiny_budget()).fit(da.from_array(X, chunks=(700, -1)))
    reference = getattr(sk, scaler_name)().fit(X)
    assert model.plan_[0].route is Route.STREAMED
    assert_allclose(model.estimator_.transform(X), reference.transform(X), rtol=1e-10, atol=1e-12)


def test_quantile_transformer_from_a_uniform_sample_is_close():
    X = np.random.default_rng(7).lognormal(size=(300_000, 3)) * [1, 10, 100]
    Xd = da.from_array(X, chunks=(40_000, -1))
    # subsample=None: scikit-learn uses every row it is given (the reference all 300,000; ours the sample)
    model = Scaled(QuantileTransformer(subsample=None), **_tiny_budget()).fit(Xd)
    assert model.plan_[0].engine == "scaleml.preprocessing"
    reference = QuantileTransformer(subsample=None).fit(X)
    # approximate: a 100,000-row sample puts a quantile's rank within ~0.002 (one standard deviation)
    difference = np.abs(model.estimator_.transform(X[:5_000]) - reference.transform(X[:5_000]))
    assert difference.mean() < 0.003 and difference.max() < 0.015
    again = Scaled(QuantileTransformer(subsample=None), **_tiny_budget()).fit(Xd)
    assert_array_equal(again.estimator_.quantiles_, model.estimator_.quantiles_)  # seeded: refits agree


def test_quantile_transformer_nan_in_one_block_is_sklearns_handling():
    X = RNG.normal(size=(6_000, 2))
    X[5_100, 1] = np.nan  # scikit-learn's QuantileTransformer ignores NaN in fit and keeps it in transform
    model = Scaled(QuantileTransformer(n_quantiles=100), **_tiny_budget()).fit(da.from_array(X, chunks=(1_000, -1)))
    out = model.transform(da.from_array(X, chunks=(1_000, -1))).compute()
    assert np.isnan(out[5_100, 1]) and np.isfinite(np.delete(out, 5_100, axis=0)).all()


def test_polynomial_features_streamed_learn_only_the_width():
    import dask

    X = RNG.normal(size=(4_000, 3))
    Xd = da.from_array(X, chunks=(1_000, -1))
    computes = []

    def counting(dsk, keys, **kwargs):
        computes.append(1)
        return dask.get(dsk, keys, **kwargs)

    with dask.config.set(scheduler=counting):
        model = Scaled(PolynomialFeatures(degree=2), **_tiny_budget()).fit(Xd)
    assert computes == []  # a Dask array's width is known: nothing read
    assert model.plan_[0].engine == "scaleml.preprocessing"
    reference = PolynomialFeatures(degree=2).fit(X)
    assert model.estimator_.n_output_features_ == reference.n_output_features_
    assert_allclose(model.transform(Xd).compute(), reference.transform(X))


def test_an_encoder_given_its_categories_reads_nothing(category_files):
    import dask

    categories = [["amber", "blue", "green", "red", "violet"], ["L", "M", "S"]]
    computes = []

    def counting(dsk, keys, **kwargs):
        computes.append(1)
        return dask.get(dsk, keys, **kwargs)

    Xd = da.from_array(CATEGORIES.to_numpy(), chunks=(1_000, -1))
    encoder = OneHotEncoder(categories=categories, sparse_output=False)
    with dask.config.set(scheduler=counting):
        model = Scaled(encoder, **_tiny_budget()).fit(Xd)
    assert computes == [] and model.plan_[0].engine == "scaleml.preprocessing"
    reference = OneHotEncoder(categories=categories, sparse_output=False).fit(CATEGORIES.to_numpy())
    assert_array_equal(model.estimator_.transform(CATEGORIES.to_numpy()), reference.transform(CATEGORIES.to_numpy()))
    # a category outside the given ones is found when transforming, with scikit-learn's error
    unseen = da.from_array(np.array([["pink", "S"]], dtype=object), chunks=(1, -1))
    with pytest.raises(ValueError, match="Found unknown categories"):
        model.transform(unseen).compute()
