"""The blocked KMeans, PCA and TruncatedSVD where dask-ml's users meet scikit-learn's behaviour.

Issue #32: dtypes as scikit-learn's, ``init="k-means++"``, PCA's probabilistic
methods and ``n_components=0``, ``TruncatedSVD.inverse_transform``, each PCA route
against ``svd_solver="full"``, and bad blocks failing with scikit-learn's errors.
Every check runs on in-memory data and on a Dask array.
"""

import numpy as np
import pytest
import sklearn.cluster as skc
import sklearn.decomposition as skd
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import adjusted_rand_score

from scaleml import explain
from scaleml.cluster import KMeans
from scaleml.decomposition import PCA, TruncatedSVD

da = pytest.importorskip("dask.array")

pytestmark = pytest.mark.timeout(300)

DIGITS = load_digits().data
BLOBS = make_blobs(n_samples=6_000, n_features=5, centers=4, random_state=0)[0]
# Well conditioned (every route passes the rule) and not: a large offset makes X'X lose the spread.
RNG = np.random.default_rng(0)
GOOD = RNG.standard_normal((4_000, 8)) @ np.diag(np.linspace(1, 5, 8))
OFFSET = GOOD * 1e-2 + 1e5

# What each route is held to against scikit-learn's full solver (relative; components absolute).
RTOL = {"covariance_eigh": 1e-9, "tsqr": 1e-9}
COMPONENTS_ATOL = 1e-6


def _forms(X, rows):
    return {"numpy": X, "dask": da.from_array(X, chunks=(rows, -1))}


# -- KMeans ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["numpy", "dask"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_dtypes_are_sklearns(form, dtype):
    X = BLOBS.astype(dtype)
    ours = KMeans(4, random_state=0).fit(_forms(X, 1_000)[form])
    theirs = skc.KMeans(4, random_state=0, n_init=1).fit(X)
    assert ours.cluster_centers_.dtype == theirs.cluster_centers_.dtype == dtype
    assert ours.labels_.dtype == theirs.labels_.dtype == np.int32
    predicted = ours.predict(_forms(X, 1_000)[form])
    assert predicted.dtype == theirs.predict(X).dtype == np.int32
    assert_array_equal(np.asarray(predicted), np.asarray(ours.labels_))
    assert_allclose(ours.inertia_, theirs.inertia_, rtol=1e-4)


def test_kmeans_plus_plus_exact_in_memory_and_k_means_parallel_on_lazy_data_said_so():
    ours = KMeans(10, init="k-means++", random_state=0).fit(DIGITS)
    assert ours.init_used_ == "k-means++"
    assert ours.inertia_ <= 1.01 * skc.KMeans(10, random_state=0).fit(DIGITS).inertia_
    Xd = da.from_array(DIGITS, chunks=(450, -1))
    lazy = KMeans(10, init="k-means++", random_state=0).fit(Xd)
    assert lazy.init_used_.startswith("k-means|| (") and "approximation of k-means++" in lazy.init_used_
    assert lazy.n_passes_ == 1 + lazy.init_max_iter + 1 + lazy.n_iter_ + 1
    assert lazy.inertia_ <= 1.01 * skc.KMeans(10, random_state=0).fit(DIGITS).inertia_
    reason = explain(KMeans(10, init="k-means++"), backend="dask-ml", X=Xd)[0].reason
    assert "init='k-means++' runs as k-means|| on lazy data" in reason


def test_kmeans_nan_in_one_block_and_an_empty_block():
    bad = BLOBS.copy()
    bad[4_500, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        KMeans(4).fit(da.from_array(bad, chunks=(1_000, -1)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        skc.KMeans(4).fit(bad)  # the same message
    with_empty = da.from_array(BLOBS, chunks=((2_000, 0, 4_000), -1))
    assert 0 in with_empty.chunks[0]
    ours = KMeans(4, random_state=0).fit(with_empty)
    theirs = skc.KMeans(4, random_state=0).fit(BLOBS)
    # Random draws are seeded per block, so the empty block changes them: compared is the result.
    assert adjusted_rand_score(ours.labels_.compute(), theirs.labels_) == 1.0
    assert_allclose(ours.inertia_, theirs.inertia_, rtol=1e-9)


# -- PCA: routes, n_components=0, the probabilistic model --------------------------------------------------


@pytest.mark.parametrize("form", ["numpy", "dask"])
@pytest.mark.parametrize("route", ["covariance_eigh", "tsqr"])
def test_each_route_matches_the_full_solver(form, route):
    ours = PCA(3, svd_solver=route).fit(_forms(GOOD, 700)[form])
    theirs = skd.PCA(3, svd_solver="full").fit(GOOD)
    assert ours.svd_solver_ == route and ours.n_passes_ == 1
    assert_allclose(ours.components_, theirs.components_, atol=COMPONENTS_ATOL)
    for name in ("explained_variance_", "explained_variance_ratio_", "singular_values_", "noise_variance_"):
        assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=RTOL[route], err_msg=name)


@pytest.mark.parametrize("form", ["numpy", "dask"])
def test_the_rule_hands_an_offset_over_to_tsqr(form):
    ours = PCA(3).fit(_forms(OFFSET, 700)[form])
    theirs = skd.PCA(3, svd_solver="full").fit(OFFSET)
    assert ours.svd_solver_ == "tsqr" and ours.n_passes_ == 2
    assert_allclose(ours.components_, theirs.components_, atol=COMPONENTS_ATOL)
    assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=RTOL["tsqr"])
    assert PCA(3).fit(GOOD).svd_solver_ == "covariance_eigh"  # the same spread, no offset: one pass


@pytest.mark.parametrize("form", ["numpy", "dask"])
def test_pca_zero_components_as_the_full_solver(form):
    ours = PCA(0).fit(_forms(GOOD, 700)[form])
    theirs = skd.PCA(0, svd_solver="full").fit(GOOD)
    assert ours.n_components_ == theirs.n_components_ == 0
    assert ours.components_.shape == theirs.components_.shape == (0, 8)
    assert_allclose(ours.noise_variance_, theirs.noise_variance_, rtol=1e-9)
    assert np.asarray(ours.transform(_forms(GOOD, 700)[form])).shape == (len(GOOD), 0)
    assert_allclose(ours.score(GOOD), theirs.score(GOOD), rtol=1e-9)


@pytest.mark.parametrize("form", ["numpy", "dask"])
@pytest.mark.parametrize("n_components, whiten", [(3, False), (3, True), (8, False), (0.9, False)])
def test_pca_probabilistic_methods_are_sklearns(form, n_components, whiten):
    data = _forms(GOOD, 700)[form]
    ours = PCA(n_components, whiten=whiten).fit(data)
    theirs = skd.PCA(n_components, whiten=whiten, svd_solver="full").fit(GOOD)
    rtol = 1e-8  # the fit's own tolerance (1e-9) carried through an inverse
    assert_allclose(ours.get_covariance(), theirs.get_covariance(), rtol=rtol, atol=1e-12)
    assert_allclose(ours.get_precision(), theirs.get_precision(), rtol=rtol, atol=1e-10)
    samples = ours.score_samples(data)
    assert isinstance(samples, np.ndarray) == (form == "numpy")
    assert_allclose(np.asarray(samples), theirs.score_samples(GOOD), rtol=rtol)
    assert_allclose(ours.score(data), theirs.score(GOOD), rtol=rtol)


def test_pca_nan_in_one_block_and_an_empty_block():
    bad = GOOD.copy()
    bad[3_100, 5] = np.nan
    for route in ("covariance_eigh", "tsqr"):
        with pytest.raises(ValueError, match="Input X contains NaN"):
            PCA(2, svd_solver=route).fit(da.from_array(bad, chunks=(1_000, -1)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        skd.PCA(2).fit(bad)
    with_empty = da.from_array(GOOD, chunks=((1_500, 0, 2_500), -1))
    for route in ("covariance_eigh", "tsqr"):
        ours = PCA(3, svd_solver=route).fit(with_empty)
        assert_allclose(ours.explained_variance_, skd.PCA(3, svd_solver="full").fit(GOOD).explained_variance_,
                        rtol=1e-9)


# -- TruncatedSVD -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["numpy", "dask"])
@pytest.mark.parametrize("algorithm", ["auto", "tsqr"])
def test_truncated_svd_inverse_transform_is_sklearns(form, algorithm):
    ours = TruncatedSVD(5, algorithm=algorithm).fit(_forms(DIGITS, 450)[form])
    theirs = skd.TruncatedSVD(5, algorithm="arpack", tol=0, random_state=0).fit(DIGITS)
    Z = theirs.transform(DIGITS)
    back = ours.inverse_transform(_forms(Z, 450)[form])
    assert isinstance(back, np.ndarray) == (form == "numpy")
    assert_allclose(np.asarray(back), theirs.inverse_transform(Z), atol=1e-6 * np.abs(DIGITS).max())
