"""The dask-ml backend: lazy inputs streamed with partial_fit, on a real LocalCluster."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.decomposition import IncrementalPCA  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression, SGDClassifier  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from scaleml import Scaled, explain  # noqa: E402
from scaleml.exceptions import DataError  # noqa: E402
from scaleml.planning import Route  # noqa: E402

pytestmark = pytest.mark.timeout(300)

N_PARTS, ROWS, FEATURES = 4, 2_000, 8
X, y = make_classification(n_samples=N_PARTS * ROWS, n_features=FEATURES, random_state=0)
COLUMNS = [f"f{i}" for i in range(FEATURES)]


def _blocks():
    return [(X[i * ROWS:(i + 1) * ROWS], y[i * ROWS:(i + 1) * ROWS]) for i in range(N_PARTS)]


def _write_blocks(folder, suffix):
    for i, (Xb, yb) in enumerate(_blocks()):
        frame = pd.DataFrame(Xb, columns=COLUMNS)
        frame["label"] = yb
        path = folder / f"part-{i}.{suffix}"
        frame.to_parquet(path) if suffix == "parquet" else frame.to_csv(path, index=False)
    return folder


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory):
    return _write_blocks(tmp_path_factory.mktemp("parquet"), "parquet")


@pytest.fixture(scope="module")
def csv_glob(tmp_path_factory):
    return str(_write_blocks(tmp_path_factory.mktemp("csv"), "csv") / "*.csv")


def _loop_reference(epochs=1):
    """The plain loop a user would write: partial_fit block by block, in memory."""
    scaler, clf = StandardScaler(), SGDClassifier(random_state=0)
    for Xb, _ in _blocks():
        scaler.partial_fit(Xb)
    for _ in range(epochs):
        for Xb, yb in _blocks():
            clf.partial_fit(scaler.transform(Xb), yb, classes=np.unique(y))
    return scaler, clf


def _pipe():
    return make_pipeline(StandardScaler(), SGDClassifier(random_state=0))


@pytest.mark.parametrize("source", ["parquet-folder", "parquet-glob", "csv-glob", "dask-frame", "dask-array"])
def test_lazy_sources_train_exactly_like_the_plain_loop(source, parquet_dir, csv_glob):
    if source == "parquet-folder":
        data, target = str(parquet_dir), "label"
    elif source == "parquet-glob":
        data, target = str(parquet_dir / "*.parquet"), "label"
    elif source == "csv-glob":
        data, target = csv_glob, "label"
    elif source == "dask-frame":
        data, target = dd.read_parquet(str(parquet_dir)), "label"
    else:
        data, target = da.from_array(X, chunks=(ROWS, FEATURES)), da.from_array(y, chunks=ROWS)
    model = Scaled(_pipe(), backend="dask-ml").fit(data, target)
    scaler, clf = _loop_reference()
    assert_allclose(model.estimator_[0].mean_, scaler.mean_)
    assert_allclose(model.estimator_[-1].coef_, clf.coef_, rtol=1e-10)
    assert [s.engine for s in model.plan_] == ["scikit-learn partial_fit"] * 2


def test_unknown_chunk_sizes_are_handled(parquet_dir):
    frame = dd.read_parquet(str(parquet_dir))
    Xu = frame[COLUMNS].to_dask_array()  # lengths unknown: chunks are (nan, ...)
    yu = frame["label"].to_dask_array()
    assert np.isnan(Xu.shape[0])
    model = Scaled(_pipe(), backend="dask-ml").fit(Xu, yu)
    assert_allclose(model.estimator_[-1].coef_, _loop_reference()[1].coef_, rtol=1e-10)


def test_epochs_option(parquet_dir):
    """Unshuffled passes are the plain loop run three times."""
    model = Scaled(_pipe(), backend="dask-ml", epochs=3, shuffle=False).fit(str(parquet_dir), "label")
    assert_allclose(model.estimator_[-1].coef_, _loop_reference(epochs=3)[1].coef_, rtol=1e-10)


def test_predict_and_score_on_lazy_data(parquet_dir):
    model = Scaled(_pipe(), backend="dask-ml").fit(str(parquet_dir), "label")
    features = dd.read_parquet(str(parquet_dir)).drop(columns="label")
    assert_array_equal(model.predict(features), model.estimator_.predict(X))
    assert model.score(str(parquet_dir), "label") == pytest.approx(model.estimator_.score(X, y))


def test_columns_in_another_order_or_missing_are_refused_not_scored(parquet_dir, tmp_path):
    """Found by a new user: a holdout file with its feature columns reversed scored 0.41
    where the same rows in order scored 0.82, without a word (blocks reach the steps as
    arrays). scikit-learn refuses a DataFrame with other feature names; so does this."""
    model = Scaled(_pipe(), backend="dask-ml").fit(str(parquet_dir), "label")
    assert model.feature_columns_ == COLUMNS
    frame = pd.read_parquet(parquet_dir / "part-0.parquet")
    frame[["label", *COLUMNS[::-1]]].to_parquet(tmp_path / "reordered.parquet")
    frame.drop(columns="f3").to_parquet(tmp_path / "narrow.parquet")
    with pytest.raises(DataError, match=r"same columns, in another order.*model\.feature_columns_"):
        model.score(str(tmp_path / "reordered.parquet"), "label")
    with pytest.raises(DataError, match=r"missing \['f3'\]"):
        model.predict(str(tmp_path / "narrow.parquet"))
    selected = dd.read_parquet(str(tmp_path / "reordered.parquet"))[model.feature_columns_]  # the fix it names
    assert_array_equal(model.predict(selected), model.estimator_.predict(frame[COLUMNS].to_numpy()))


def test_step_without_partial_fit_is_loaded_when_it_fits():
    Xd, yd = da.from_array(X, chunks=(ROWS, FEATURES)), da.from_array(y, chunks=ROWS)
    model = Scaled(LogisticRegression(), backend="dask-ml").fit(Xd, yd)
    assert_allclose(model.estimator_.coef_, LogisticRegression().fit(X, y).coef_)
    assert "loaded whole" in model.plan_[0].reason


def test_linear_model_larger_than_memory_is_fitted_by_the_blocked_solver(parquet_dir):
    """No partial_fit and over budget: scaleml.linear_model fits it where the blocks are."""
    small = ROWS * FEATURES * 8
    model = Scaled(make_pipeline(StandardScaler(), LogisticRegression()), backend="dask-ml",
                   max_in_memory_bytes=small).fit(str(parquet_dir), "label")
    fitted = model.estimator_[-1]
    assert type(fitted) is LogisticRegression  # still scikit-learn's
    scaled = _loop_reference()[0].transform(X)  # the streamed scaler's output
    reference = LogisticRegression(tol=1e-10, max_iter=10_000).fit(scaled, y)
    assert np.max(np.abs(fitted.coef_ - reference.coef_)) / np.max(np.abs(reference.coef_)) < 1e-4
    assert_array_equal(model.predict(X), make_pipeline(_loop_reference()[0], reference).predict(X))
    assert model.plan_[1].engine == "scaleml.linear_model"
    # Parquet's rows are read from the footers: loading whole is known to pass the budget before reading.
    assert "would pass max_in_memory_bytes" in model.plan_[1].reason and model.plan_[1].route is Route.BLOCKED
    assert "grew past" not in model.plan_[1].reason
    assert model.plan_[1].observed["passes"] >= 2


def test_ridge_larger_than_memory_on_the_workers():
    from sklearn.linear_model import Ridge

    target = X @ np.arange(FEATURES) + 3.0
    Xd, yd = da.from_array(X, chunks=(ROWS, FEATURES)), da.from_array(target, chunks=ROWS)
    model = Scaled(Ridge(alpha=2.0), backend="dask-ml", read_on="workers",
                   max_in_memory_bytes=ROWS * FEATURES * 8).fit(Xd, yd)
    assert_allclose(model.estimator_.coef_, Ridge(alpha=2.0).fit(X, target).coef_, rtol=1e-9, atol=1e-9)
    assert model.plan_[0].engine == "scaleml.linear_model"


def test_step_without_partial_fit_or_twin_is_refused_when_too_big():
    Xd, yd = da.from_array(X, chunks=(ROWS, FEATURES)), da.from_array(y, chunks=ROWS)
    with pytest.raises(MemoryError, match=r"'randomforestclassifier'.*no partial_fit.*SGDClassifier"):
        Scaled(make_pipeline(StandardScaler(), RandomForestClassifier()), backend="dask-ml",
               max_in_memory_bytes=ROWS * FEATURES * 8).fit(Xd, yd)


def test_incremental_pca_streams():
    Xd = da.from_array(X, chunks=(ROWS, FEATURES))
    model = Scaled(IncrementalPCA(n_components=3), backend="dask-ml").fit(Xd)
    reference = IncrementalPCA(n_components=3)
    for Xb, _ in _blocks():
        reference.partial_fit(Xb)
    assert_allclose(np.abs(model.estimator_.components_), np.abs(reference.components_), rtol=1e-8)


def test_in_memory_input_equals_local():
    search = GridSearchCV(RandomForestClassifier(n_estimators=10, random_state=0), {"max_depth": [3, None]}, cv=2)
    local = Scaled(search, backend="local").fit(X, y)
    dml = Scaled(search, backend="dask-ml").fit(X, y)
    assert dml.estimator_.best_params_ == local.estimator_.best_params_
    assert_array_equal(dml.predict(X), local.predict(X))


@pytest.mark.parametrize(
    "data, target, match",
    [
        ("/nonexistent/*.parquet", "label", "No file or folder"),
        ("PARQUET", "nope", "Target column 'nope' is not in the data"),
        ("PARQUET", np.zeros(3), "name of the target column"),
    ],
)
def test_bad_lazy_input(parquet_dir, data, target, match):
    data = str(parquet_dir) if data == "PARQUET" else data
    with pytest.raises(DataError, match=match):
        Scaled(_pipe(), backend="dask-ml").fit(data, target)


@pytest.mark.parametrize("estimator", [SGDClassifier(), LogisticRegression()], ids=["partial_fit", "whole"])
def test_empty_lazy_data_gets_sklearns_error(parquet_dir, estimator):
    empty = dd.read_parquet(str(parquet_dir))
    empty = empty[empty["f0"] > 1e9]  # every partition filtered to nothing
    with pytest.raises(ValueError, match="0 sample"):
        Scaled(estimator, backend="dask-ml").fit(empty, "label")


def test_differently_chunked_y_is_aligned():
    Xd = da.from_array(X, chunks=(ROWS, FEATURES))
    yd = da.from_array(y, chunks=ROWS // 3)
    model = Scaled(_pipe(), backend="dask-ml").fit(Xd, yd)
    assert_allclose(model.estimator_[-1].coef_, _loop_reference()[1].coef_, rtol=1e-10)


def test_y_as_a_dask_series_beside_its_dataframe(parquet_dir):
    """As dask-ml users pass it: X, y = df[features], df["label"], partitions paired without a pass."""
    frame = dd.read_parquet(str(parquet_dir))
    by_name = Scaled(_pipe(), backend="dask-ml").fit(frame, "label")
    apart = Scaled(_pipe(), backend="dask-ml").fit(frame[COLUMNS], frame["label"])
    assert_allclose(apart.estimator_[-1].coef_, by_name.estimator_[-1].coef_, rtol=1e-12)
    assert_allclose(apart.estimator_[-1].coef_, _loop_reference()[1].coef_, rtol=1e-10)
    assert apart.score(frame[COLUMNS], frame["label"]) == by_name.score(frame, "label")
    # Targets partitioned otherwise (a Dask array in other blocks) are aligned by position.
    other = Scaled(_pipe(), backend="dask-ml").fit(frame[COLUMNS], da.from_array(y, chunks=ROWS // 2))
    assert_allclose(other.estimator_[-1].coef_, by_name.estimator_[-1].coef_, rtol=1e-12)


def test_a_series_with_other_row_boundaries_is_named(parquet_dir):
    frame = dd.read_parquet(str(parquet_dir))
    n_parts = len(frame[COLUMNS].to_delayed())
    short = dd.from_pandas(pd.Series(y[:-10]), npartitions=n_parts)
    assert len(short.to_delayed()) == n_parts
    with pytest.raises(DataError, match="different row boundaries"):
        Scaled(_pipe(), backend="dask-ml").fit(frame[COLUMNS], short)


def test_mismatched_lengths_are_refused():
    Xd = da.from_array(X, chunks=(ROWS, FEATURES))
    with pytest.raises(DataError, match="rows but y has"):
        Scaled(_pipe(), backend="dask-ml").fit(Xd, da.from_array(y[:-5], chunks=ROWS))


def test_reading_on_the_workers_gives_the_same_model(parquet_dir):
    model = Scaled(_pipe(), backend="dask-ml", read_on="workers").fit(str(parquet_dir), "label")
    assert_allclose(model.estimator_[-1].coef_, _loop_reference()[1].coef_, rtol=1e-10)
    assert model.plan_[0].parallelism == "blocks read on the Dask workers"
    local = Scaled(_pipe(), backend="dask-ml").fit(str(parquet_dir), "label")
    assert local.plan_[0].parallelism == "this process, 1 reader thread"


def test_pca_larger_than_memory_uses_the_blocked_twin_and_stays_sklearn():
    from sklearn.decomposition import PCA

    Xd = da.from_array(X, chunks=(ROWS, FEATURES))
    model = Scaled(make_pipeline(StandardScaler(), PCA(n_components=3)), backend="dask-ml",
                   max_in_memory_bytes=ROWS * FEATURES * 8).fit(Xd)
    reference = make_pipeline(StandardScaler(), PCA(n_components=3)).fit(X)
    fitted = model.estimator_[-1]
    assert type(fitted) is PCA  # plain scikit-learn, usable without scaleml
    assert_allclose(np.abs(fitted.components_), np.abs(reference[-1].components_), atol=1e-8)
    assert_allclose(fitted.explained_variance_, reference[-1].explained_variance_, rtol=1e-8)
    assert_allclose(np.abs(model.estimator_.transform(X)), np.abs(reference.transform(X)), atol=1e-8)
    assert model.plan_[1].engine == "scaleml.decomposition" and model.plan_[1].route is Route.BLOCKED
    small = Scaled(PCA(n_components=3), backend="dask-ml").fit(Xd)
    assert small.plan_[0].route is Route.LOADED
    assert "else by scaleml.decomposition's blocked implementation" in explain(PCA(), backend="dask-ml", X=Xd)[0].reason
    # A Dask array's size is known before reading: the plan decides up front, and the fit follows it.
    over = Scaled(PCA(n_components=3), backend="dask-ml", max_in_memory_bytes=ROWS * FEATURES * 8)
    assert explain(over, X=Xd) == over.fit(Xd).plan_ and over.plan_[0].engine == "scaleml.decomposition"


def test_scaleml_linear_model_is_fitted_on_the_blocks_not_loaded(parquet_dir):
    """scaleml's own blocked estimators take lazy data as it is, whatever the budget."""
    from scaleml.linear_model import LogisticRegression as BlockedLogisticRegression

    model = Scaled(BlockedLogisticRegression(), backend="dask-ml", max_in_memory_bytes=1).fit(str(parquet_dir), "label")
    reference = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    assert np.max(np.abs(model.estimator_.coef_ - reference.coef_)) / np.max(np.abs(reference.coef_)) < 1e-4
    assert model.plan_[0].engine == "scaleml.linear_model"
    assert model.plan_[0].parallelism == "threads in this process"


def test_a_model_fitted_elsewhere_predicts_lazy_data_block_by_block(parquet_dir):
    """dask-ml's ParallelPostFit: any fitted estimator, lazy predictions, nothing refitted."""
    from sklearn.exceptions import NotFittedError

    fitted = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    wrapped = Scaled.from_fitted(fitted, backend="dask-ml")
    assert wrapped.estimator_ is fitted and wrapped.plan_ is None
    Xd = da.from_array(X, chunks=(ROWS, FEATURES))
    for method in ("predict", "predict_proba", "decision_function"):
        lazy = getattr(wrapped, method)(Xd)
        assert isinstance(lazy, da.Array)
        assert_allclose(lazy.compute(), getattr(fitted, method)(X))
    with pytest.raises(ValueError, match="X has 9 features, but StandardScaler is expecting 8"):
        wrapped.predict(str(parquet_dir / "*.parquet"))  # every column a feature: no target was named
    features = dd.read_parquet(str(parquet_dir))[COLUMNS]
    assert_array_equal(wrapped.predict(features).compute(), fitted.predict(X))
    assert wrapped.score(dd.read_parquet(str(parquet_dir)), "label") == fitted.score(X, y)
    with pytest.raises(NotFittedError):
        Scaled.from_fitted(LogisticRegression(), backend="dask-ml")


def test_loading_whole_is_decided_on_its_peak_before_reading(parquet_dir):
    """PCA's input as float64 fits the budget but its fit's peak (x 2.5, measured) does not: its twin,
    planned before reading (the rows are in the files' footers); with room for the peak, loaded."""
    from sklearn.decomposition import PCA

    from scaleml.backends.dask_ml._lazy_steps import load_factor
    from scaleml.data.files import auto_block_bytes, parquet_rows

    assert parquet_rows(parquet_dir) == len(X) and parquet_rows(str(parquet_dir / "*.parquet")) == len(X)
    assert auto_block_bytes(parquet_dir) == 2**20  # small files: the smallest blocks
    as_float64 = len(X) * FEATURES * 8
    assert load_factor(PCA(2)) == 2.5 and load_factor(RandomForestClassifier()) > load_factor(PCA(2))
    plan = explain(PCA(2), "dask-ml", str(parquet_dir), "label", max_in_memory_bytes=2 * as_float64)
    assert plan[0].route is Route.BLOCKED and "would pass max_in_memory_bytes" in plan[0].reason
    fitted = Scaled(PCA(2), backend="dask-ml", max_in_memory_bytes=3 * as_float64).fit(str(parquet_dir), "label")
    assert fitted.plan_[0].route is Route.LOADED
    assert_allclose(np.abs(fitted.estimator_.components_), np.abs(PCA(2).fit(X).components_), atol=1e-8)


def _by_name_pipe():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    columns = ColumnTransformer([("num", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(), ["colour"])])
    return make_pipeline(columns, LogisticRegression())


@pytest.mark.parametrize(
    "target, match",
    [
        (lambda frame, pdf: frame[["label"]], r"a DataFrame of 1 column.*df\['label'\], not df\[\['label'\]\]"),
        (lambda frame, pdf: pdf["label"], r"y \(pandas.Series\) is in memory while X is lazy.*df\[features\], df\['label'\]"),
        (lambda frame, pdf: frame["label"].repartition(npartitions=2), r"4 partitions\) and y \(2 partitions\).*fit\(df, 'label'\)"),
        (lambda frame, pdf: pdf[["label"]], r"y \(pandas.DataFrame\) is in memory while X is lazy"),
        (lambda frame, pdf: frame[["label"]].to_dask_array(lengths=True), r"a 2-d Dask array: pass a 1-d target"),
    ],
    ids=["one-column-frame", "pandas-target", "repartitioned", "pandas-frame", "2-d-array"],
)
def test_a_target_that_cannot_pair_with_a_dask_frame_says_the_fix(target, match):
    """A Dask DataFrame X with columns picked by name: each wrong target names what it is
    and the form that works; the form it names works."""
    import dask.dataframe as dd

    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({"a": rng.standard_normal(400), "b": rng.standard_normal(400),
                        "colour": rng.choice(["red", "blue"], 400), "label": rng.integers(0, 2, 400)})
    frame = dd.from_pandas(pdf, npartitions=4)
    features = ["a", "b", "colour"]
    with pytest.raises(DataError, match=match):
        Scaled(_by_name_pipe(), backend="dask-ml").fit(frame[features], target(frame, pdf))
    by_columns = Scaled(_by_name_pipe(), backend="dask-ml").fit(frame[features], frame["label"])
    by_name = Scaled(_by_name_pipe(), backend="dask-ml").fit(frame, "label")
    assert_allclose(by_columns.predict_proba(pdf[features]), by_name.predict_proba(pdf[features]))
