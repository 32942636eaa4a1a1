"""scaleml.cluster.KMeans against scikit-learn's: k-means|| and Lloyd passes over blocks.

In memory, on Dask arrays with threads, on a real LocalCluster, from Parquet
files, and through the dask-ml backend beyond its in-memory budget.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.cluster as sk
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils.estimator_checks import parametrize_with_checks

from scaleml import Scaled
from scaleml.cluster import KMeans, from_sklearn
from scaleml.planning import Route  # noqa: E402

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(300)

DIGITS = load_digits().data
BLOBS, BLOB_LABELS = make_blobs(n_samples=12_000, n_features=6, centers=7, cluster_std=1.5, random_state=0)


def _forms(X, rows):
    return {"numpy": X, "dask": da.from_array(X, chunks=(rows, -1))}


@pytest.mark.parametrize("form", ["numpy", "dask"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inertia_within_one_percent_of_sklearn_on_digits(form, seed):
    """Both find local optima; the acceptance is scikit-learn's inertia within 1%."""
    theirs = sk.KMeans(10, random_state=seed).fit(DIGITS)
    ours = KMeans(10, random_state=seed).fit(_forms(DIGITS, 450)[form])
    assert ours.inertia_ <= 1.01 * theirs.inertia_, (ours.inertia_, theirs.inertia_)
    labels = np.asarray(ours.labels_)
    assert_array_equal(labels, ours.predict(DIGITS))
    # inertia_ is the inertia of the final centres and labels
    assert_allclose(ours.inertia_, np.sum((DIGITS - ours.cluster_centers_[labels]) ** 2), rtol=1e-10)


def test_separated_blobs_are_found_exactly():
    ours = KMeans(7, random_state=0).fit(da.from_array(BLOBS, chunks=(1_000, -1)))
    theirs = sk.KMeans(7, random_state=0).fit(BLOBS)
    # the blobs touch: scikit-learn's partition, not the generating labels, is the one to find
    assert adjusted_rand_score(theirs.labels_, ours.labels_.compute()) == 1.0
    order = np.lexsort(ours.cluster_centers_.T), np.lexsort(theirs.cluster_centers_.T)
    assert_allclose(ours.cluster_centers_[order[0]], theirs.cluster_centers_[order[1]], rtol=1e-9)
    assert_allclose(ours.inertia_, theirs.inertia_, rtol=1e-9)


def test_same_seed_same_blocks_same_model_and_lazy_outputs():
    Xd = da.from_array(DIGITS, chunks=(300, -1))
    first, again = KMeans(10, random_state=3).fit(Xd), KMeans(10, random_state=3).fit(Xd)
    assert_array_equal(first.cluster_centers_, again.cluster_centers_)
    other = KMeans(10, random_state=4).fit(Xd)
    assert not np.array_equal(first.cluster_centers_, other.cluster_centers_)
    assert isinstance(first.labels_, da.Array) and isinstance(first.predict(Xd), da.Array)
    distances = first.transform(Xd)
    assert isinstance(distances, da.Array)
    assert_allclose(distances.compute(), euclidean_distances(DIGITS, first.cluster_centers_))
    assert_allclose(first.score(Xd), -first.inertia_, rtol=1e-10)
    assert_allclose(first.score(DIGITS), -first.inertia_, rtol=1e-10)
    # passes: 1 (size, spread, first centre) + 2 k-means|| rounds + 1 (weights) + Lloyd + 1 (final inertia)
    assert first.init_max_iter == 2 and first.init_used_ == "k-means||"
    assert first.n_passes_ == 1 + 2 + 1 + first.n_iter_ + 1


def test_random_init_and_n_init_keep_the_best_run():
    one = KMeans(10, init="random", n_init=1, random_state=0).fit(DIGITS)
    best_of_four = KMeans(10, init="random", n_init=4, random_state=0).fit(DIGITS)
    assert best_of_four.inertia_ <= one.inertia_


def test_given_centres_and_an_empty_cluster_restarted_far_away():
    start = np.vstack([BLOBS[:6], np.full((1, 6), 1e6)])  # the last centre is nearest to no row
    ours = KMeans(7, init=start, random_state=0).fit(BLOBS)
    assert len(np.unique(ours.labels_)) == 7
    assert np.abs(ours.cluster_centers_).max() < 1e3


def test_parquet_files_with_a_target_column_left_out(tmp_path):
    frame = pd.DataFrame(BLOBS, columns=[f"f{i}" for i in range(6)]).assign(label=BLOB_LABELS)
    for i, start in enumerate(range(0, len(frame), 4_000)):
        frame.iloc[start:start + 4_000].to_parquet(tmp_path / f"part-{i}.parquet")
    ours = KMeans(7, random_state=0).fit(str(tmp_path), "label")
    assert ours.n_features_in_ == 6
    reference = sk.KMeans(7, random_state=0).fit(BLOBS)
    assert adjusted_rand_score(reference.labels_, ours.predict(str(tmp_path)).compute()) == 1.0


def test_on_a_local_cluster_the_passes_run_on_the_workers():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            ours = KMeans(7, random_state=0, verbose=1).fit(da.from_array(BLOBS, chunks=(2_000, -1)))
            ran = set(client.run_on_scheduler(lambda dask_scheduler=None: list(dask_scheduler.task_prefixes)))
    assert {"first_summary", "round_summary", "nearest_counts", "lloyd_summary", "merge_lloyd"} <= ran
    assert adjusted_rand_score(sk.KMeans(7, random_state=0).fit(BLOBS).labels_, ours.labels_.compute()) == 1.0


def test_progress_is_printed_per_pass(capsys):
    KMeans(7, random_state=0, verbose=1).fit(da.from_array(BLOBS, chunks=(3_000, -1)))
    out = capsys.readouterr().out
    assert "k-means|| round 1: cost" in out and "iteration 1: inertia" in out and "run 1/1: inertia" in out


def test_to_sklearn_predicts_the_same_and_keeps_its_parameters():
    ours = KMeans(10, random_state=0).fit(DIGITS)
    model = ours.to_sklearn()
    assert type(model) is sk.KMeans and model.init == "k-means++" and model.max_iter == 300
    assert_array_equal(model.cluster_centers_, ours.cluster_centers_)
    assert_array_equal(model.predict(DIGITS), ours.predict(DIGITS))
    assert model.inertia_ == ours.inertia_


def test_from_sklearn():
    twin = from_sklearn(sk.KMeans(5, max_iter=50, tol=1e-3, random_state=7))
    assert (twin.init, twin.n_init, twin.max_iter, twin.tol, twin.random_state) == ("k-means++", 1, 50, 1e-3, 7)
    assert from_sklearn(sk.KMeans(5, init="random")).n_init == 10  # n_init="auto", as scikit-learn resolves it
    assert from_sklearn(sk.KMeans(5, init=lambda X, k, random_state: X[:k])) is None
    assert from_sklearn(sk.MiniBatchKMeans()) is None  # streamed with partial_fit instead


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=8"):
        KMeans(8).fit(da.from_array(DIGITS[:5], chunks=(2, -1)))
    with pytest.raises(ValueError, match=r"init should be of shape \(3, n_features\)"):
        KMeans(3, init=np.zeros((2, 64))).fit(DIGITS)
    bad = DIGITS.copy()
    bad[1000, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        KMeans(3).fit(da.from_array(bad, chunks=(400, -1)))


def test_dask_ml_backend_fits_kmeans_beyond_its_budget_and_it_stays_sklearn():
    from scaleml import explain

    Xd = da.from_array(BLOBS, chunks=(1_500, -1))
    model = Scaled(sk.KMeans(7, random_state=0), backend="dask-ml", max_in_memory_bytes=BLOBS.nbytes // 3)
    assert explain(model, X=Xd)[0].engine == "scaleml.cluster"
    model.fit(Xd)
    fitted = model.estimator_
    assert type(fitted) is sk.KMeans and fitted.init == "k-means++"
    assert model.plan_[0].engine == "scaleml.cluster" and model.plan_[0].route is Route.BLOCKED
    reference = sk.KMeans(7, random_state=0).fit(BLOBS)
    assert adjusted_rand_score(reference.labels_, fitted.predict(BLOBS)) == 1.0
    assert_allclose(fitted.inertia_, reference.inertia_, rtol=1e-9)
    assert_array_equal(fitted.labels_.compute(), fitted.predict(BLOBS))  # lazy, from the blocks it was fitted on
    lazy = model.predict(Xd)
    assert isinstance(lazy, da.Array) and adjusted_rand_score(reference.labels_, lazy.compute()) == 1.0


@parametrize_with_checks([KMeans(3, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


def test_minibatch_kmeans_is_streamed_block_by_block_as_a_partial_fit_loop():
    Xd = da.from_array(BLOBS, chunks=(2_000, -1))
    model = Scaled(sk.MiniBatchKMeans(7, random_state=0, n_init=1), backend="dask-ml").fit(Xd)
    loop = sk.MiniBatchKMeans(7, random_state=0, n_init=1)
    for start in range(0, len(BLOBS), 2_000):
        loop.partial_fit(BLOBS[start:start + 2_000])
    assert model.plan_[0].route is Route.STREAMED
    assert_allclose(model.estimator_.cluster_centers_, loop.cluster_centers_, rtol=1e-12)
