"""scaleml.decomposition against scikit-learn: exact PCA and TruncatedSVD in one pass over blocks.

In memory, on Dask arrays with threads, on a real LocalCluster, from Parquet
files, and through the dask-ml backend beyond its in-memory budget.
"""

import numpy as np
import pandas as pd
import pytest
import sklearn.decomposition as sk
from numpy.testing import assert_allclose
from scipy import sparse
from sklearn.datasets import load_digits, make_regression
from sklearn.utils.estimator_checks import parametrize_with_checks

from scaleml.decomposition import PCA, TruncatedSVD, from_sklearn

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(300)

ATOL = 1e-6  # the acceptance: components within 1e-6 of scikit-learn's, signs aligned as scikit-learn's
DIGITS = load_digits().data
# Offsets far from zero and columns of very different sizes: the merge of centred factors must stay exact.
TALL = make_regression(n_samples=5_000, n_features=12, random_state=0)[0] * np.logspace(0, 3, 12) + 1e4


def _pca_attributes(ours, theirs, rtol=1e-9):
    assert ours.n_components_ == theirs.n_components_
    # Directions of zero variance (digits has constant pixels) are any basis of the null
    # space, in scikit-learn's answer as in ours: compared are the determined ones.
    determined = theirs.singular_values_ > 1e-8 * theirs.singular_values_[0]
    assert_allclose(ours.components_[determined], theirs.components_[determined], atol=ATOL)
    for name in ("explained_variance_", "explained_variance_ratio_", "singular_values_", "mean_"):
        theirs_values = getattr(theirs, name)
        assert_allclose(getattr(ours, name), theirs_values, rtol=rtol, atol=1e-12 * np.abs(theirs_values).max(),
                        err_msg=name)
    assert_allclose(ours.noise_variance_, theirs.noise_variance_, rtol=rtol)
    assert ours.n_samples_ == theirs.n_samples_ and ours.n_features_in_ == theirs.n_features_in_


@pytest.mark.parametrize("X", [DIGITS, TALL], ids=["digits", "tall-offset"])
@pytest.mark.parametrize("form", ["numpy", "dask-even", "dask-uneven"])
@pytest.mark.parametrize("n_components", [5, None, 0.9])
def test_pca_matches_sklearns_full_solver(X, form, n_components):
    data = {"numpy": X, "dask-even": da.from_array(X, chunks=(len(X) // 4, -1)),
            "dask-uneven": da.from_array(X, chunks=((7, 993, len(X) - 1000), -1))}[form]
    ours = PCA(n_components).fit(data)
    theirs = sk.PCA(n_components, svd_solver="full").fit(X)
    _pca_attributes(ours, theirs)
    projected = ours.transform(data)
    assert isinstance(projected, np.ndarray) == (form == "numpy")
    assert_allclose(np.asarray(projected), theirs.transform(X), rtol=1e-7, atol=1e-7 * np.abs(X).max())
    # The rule (scaleml.decomposition._route): digits' constant pixels, when every component is
    # kept, send the fit on to a TSQR pass; each route meets the tolerances above.
    if X is DIGITS:
        assert ours.svd_solver_ == ("tsqr" if n_components is None else "covariance_eigh")
    assert ours.n_passes_ == (1 if ours.svd_solver_ == "covariance_eigh" else 2)


def test_pca_whiten_and_inverse_transform():
    ours, theirs = PCA(8, whiten=True).fit(DIGITS), sk.PCA(8, whiten=True, svd_solver="full").fit(DIGITS)
    assert_allclose(ours.transform(DIGITS), theirs.transform(DIGITS), atol=1e-8)
    Z = theirs.transform(DIGITS)
    assert_allclose(ours.inverse_transform(Z), theirs.inverse_transform(Z), atol=1e-8)
    lazy = ours.inverse_transform(da.from_array(Z, chunks=(500, -1)))
    assert isinstance(lazy, da.Array) and np.allclose(lazy.compute(), theirs.inverse_transform(Z))


def test_truncated_svd_matches_arpack_dense_and_sparse():
    rng = np.random.default_rng(0)
    sparse_X = sparse.random(3_000, 40, density=0.1, format="csr", random_state=0) * 5 + sparse.eye(3_000, 40)
    for X in (DIGITS, sparse_X.tocsr()):
        theirs = sk.TruncatedSVD(6, algorithm="arpack", tol=0, random_state=0).fit(X)
        ours = TruncatedSVD(6).fit(X)
        assert_allclose(ours.components_, theirs.components_, atol=ATOL)
        assert_allclose(ours.singular_values_, theirs.singular_values_, rtol=1e-9)
        assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-7)
        assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_, rtol=1e-7)
        assert_allclose(ours.transform(X), theirs.transform(X), atol=1e-8 * abs(X).max())
    lazy = TruncatedSVD(6).fit(da.from_array(DIGITS, chunks=(rng.integers(300, 600), -1)))
    assert_allclose(lazy.components_, TruncatedSVD(6).fit(DIGITS).components_, atol=1e-10)


def test_parquet_files_with_a_target_column_left_out(tmp_path):
    frame = pd.DataFrame(DIGITS, columns=[f"p{i}" for i in range(64)]).assign(label=load_digits().target)
    for i, start in enumerate(range(0, len(frame), 600)):
        frame.iloc[start:start + 600].to_parquet(tmp_path / f"part-{i}.parquet")
    ours = PCA(4).fit(str(tmp_path), "label")
    _pca_attributes(ours, sk.PCA(4, svd_solver="full").fit(DIGITS))
    assert ours.n_features_in_ == 64
    projected = ours.transform(str(tmp_path))  # the label column is left out again
    assert_allclose(projected.compute(), sk.PCA(4, svd_solver="full").fit(DIGITS).transform(DIGITS), atol=1e-8)


def test_on_a_local_cluster_the_blocks_are_reduced_on_the_workers():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            ours = PCA(5).fit(da.from_array(TALL, chunks=(500, -1)))
            ran = {key for key in client.run_on_scheduler(_task_prefixes)}
    assert {"gram_summary", "merge_gram"} <= ran  # the covariance route: TALL's 5 components pass the rule
    _pca_attributes(ours, sk.PCA(5, svd_solver="full").fit(TALL))


def _task_prefixes(dask_scheduler=None):
    return list(dask_scheduler.task_prefixes)


def test_to_sklearn_is_plain_sklearn_and_transforms_the_same():
    ours = PCA(3).fit(DIGITS)
    model = ours.to_sklearn()
    assert type(model) is sk.PCA
    assert_allclose(model.transform(DIGITS), ours.transform(DIGITS), atol=1e-10)
    svd = TruncatedSVD(3).fit(DIGITS).to_sklearn()
    assert type(svd) is sk.TruncatedSVD and svd.transform(DIGITS).shape == (len(DIGITS), 3)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"n_components=70 must be between 0 and min\(n_samples, n_features\)=64"):
        PCA(70).fit(DIGITS)
    with pytest.raises(ValueError, match="needs at least 2 samples; got n_samples=1"):
        PCA().fit(da.from_array(DIGITS[:1], chunks=(1, -1)))
    bad = DIGITS.copy()
    bad[1500, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        PCA(2).fit(da.from_array(bad, chunks=(500, -1)))


def test_from_sklearn():
    twin = from_sklearn(sk.PCA(0.95, whiten=True, svd_solver="randomized"))
    assert isinstance(twin, PCA) and twin.n_components == 0.95 and twin.whiten
    assert from_sklearn(sk.PCA("mle")) is None  # not exact over blocks: refused rather than guessed
    assert isinstance(from_sklearn(sk.TruncatedSVD(7)), TruncatedSVD)
    assert from_sklearn(sk.IncrementalPCA()) is None


def test_dask_ml_backend_fits_truncated_svd_beyond_its_budget_with_the_twin():
    from scaleml import Scaled, explain

    Xd = da.from_array(DIGITS, chunks=(400, -1))
    model = Scaled(sk.TruncatedSVD(5, algorithm="arpack", tol=0), backend="dask-ml",
                   max_in_memory_bytes=DIGITS.nbytes // 2).fit(Xd)
    fitted = model.estimator_
    assert type(fitted) is sk.TruncatedSVD
    reference = sk.TruncatedSVD(5, algorithm="arpack", tol=0, random_state=0).fit(DIGITS)
    assert_allclose(fitted.components_, reference.components_, atol=ATOL)
    assert model.plan_[0].engine == "scaleml.decomposition"
    assert model.plan_ == explain(model, X=Xd)


@parametrize_with_checks([PCA(2), TruncatedSVD()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
