"""Fixtures of dask-ml's tests/conftest.py (dask/dask-ml at 8e2fbb2843c93f415079be2fa93132823d2a547d, BSD-3:
see dml_helpers.py), generating data with the vendored dataset helpers instead of ``dask_ml.datasets``.

The ``scheduler`` fixture (threads, or a ``distributed.utils_test.cluster``) is not carried: none
of the adapted files uses it.
"""

import string

import dask.dataframe as dd
import numpy as np
import pytest

from dml_helpers import make_blobs, make_classification, make_counts, make_regression


@pytest.fixture
def xy_classification():
    """X, y pair for classification"""
    X, y = make_classification(chunks=(10, 20), random_state=0)
    return X, y


@pytest.fixture
def xy_classification_pandas(xy_classification):
    """Dask DataFrame (Series) X, y pair for classification"""
    X, y = xy_classification
    X = dd.from_dask_array(X, columns=list(string.ascii_letters[: X.shape[1]]))
    y = dd.from_dask_array(y, "target")
    return X, y


@pytest.fixture
def xy_regression():
    """X, y pair for classification"""
    X, y = make_regression(chunks=(10, 20), random_state=0)
    return X, y


@pytest.fixture
def xy_counts():
    """X, y pair for predicting counts"""
    X, y = make_counts(n_samples=100, n_features=5, chunks=10)
    return X, y


@pytest.fixture
def Xl_blobs():
    """Tuple of (X, labels) for a classification task; both dask arrays."""
    X, label = make_classification(n_samples=1000, n_features=4, chunks=500, random_state=1)
    return X, label


@pytest.fixture
def Xl_blobs_easy():
    """Tuple of (X, labels) for classification; the centers are very spread out."""
    centers = np.array([[-7, -7], [0, 0], [7, 7]])
    X, y = make_blobs(cluster_std=0.1, centers=centers, chunks=50, random_state=0)
    return X, y


@pytest.fixture
def X_blobs(Xl_blobs):
    return Xl_blobs[0]


@pytest.fixture
def single_chunk_classification():
    X, y = make_classification(chunks=100, random_state=0)
    return X, y


@pytest.fixture
def single_chunk_regression():
    X, y = make_regression(chunks=100, random_state=0)
    return X, y


@pytest.fixture
def single_chunk_count_classification():
    X, y = make_classification(chunks=100, random_state=0)
    X = (abs(X) * 10).astype(int)
    return X, y


@pytest.fixture
def single_chunk_binary_classification():
    X, y = make_classification(chunks=100, random_state=0)
    X = (abs(X) > 0).astype(int)
    return X, y


@pytest.fixture
def single_chunk_blobs():
    X, y = make_blobs(chunks=100, random_state=0)
    return X, y


@pytest.fixture
def medium_size_regression():
    """X, y pair for regression with N >> p."""
    X, y = make_regression(chunks=100, n_samples=500, n_features=100, n_informative=100, random_state=0)
    return X, y


@pytest.fixture
def medium_size_counts():
    """X, y pair for counts with N >> p."""
    sample_size = 500
    n_features = 100
    X, y = make_counts(chunks=100, n_samples=sample_size, n_features=n_features,
                       n_informative=n_features, random_state=0, scale=1 / np.sqrt(n_features))
    return X, y


def _lookup(table, nodeid):
    """The entry for a test id: the id itself, its name without parameters, or its class."""
    bare = nodeid.split("[")[0]
    for key in (nodeid, bare, bare.rsplit("::", 1)[0]):
        if key in table:
            return table[key]
    return None


def pytest_collection_modifyitems(config, items):
    """Mark dask-ml's tests that fail on scaleml by design (dml_deliberate.py) as strict expected failures."""
    import os

    from dml_deliberate import DELIBERATE, SKIPPED, SLOW

    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if not str(item.path).startswith(here + os.sep):
            continue
        nodeid = os.path.relpath(str(item.path), here) + "::" + "::".join(item.nodeid.split("::")[1:])
        if _lookup(dict.fromkeys(SLOW, True), nodeid):
            item.add_marker(pytest.mark.slow)
        skipped = _lookup(SKIPPED, nodeid)
        if skipped:
            item.add_marker(pytest.mark.skip(reason=skipped))
            continue
        reason = _lookup(DELIBERATE, nodeid)
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
