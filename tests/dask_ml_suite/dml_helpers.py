"""Helpers vendored from dask-ml (dask_ml/utils.py, dask_ml/datasets.py, tests/conftest.py).

Source: https://github.com/dask/dask-ml at commit 8e2fbb2843c93f415079be2fa93132823d2a547d.
The adapted tests import these instead of ``dask_ml``; what changed is said at each.

Copyright (c) 2017, Anaconda, Inc. and contributors
All rights reserved.

Redistribution and use in source and binary forms, with or without modification,
are permitted provided that the following conditions are met:

Redistributions of source code must retain the above copyright notice,
this list of conditions and the following disclaimer.

Redistributions in binary form must reproduce the above copyright notice,
this list of conditions and the following disclaimer in the documentation
and/or other materials provided with the distribution.

Neither the name of Anaconda nor the names of any contributors may be used to
endorse or promote products derived from this software without specific prior
written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE
LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
POSSIBILITY OF SUCH DAMAGE.
"""

from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import sklearn.datasets
import sklearn.utils
from dask.array.utils import assert_eq as assert_eq_ar
from dask.dataframe.utils import assert_eq as assert_eq_df

from scaleml import Scaled


# --- how an estimator is obtained: scaleml's documented equivalent of a dask-ml class ---
def scaled(sklearn_class):
    """A factory standing in for a dask-ml class that is scikit-learn's class on the dask-ml backend.

    ``dpp.StandardScaler(**kw)`` becomes ``Scaled(sklearn.preprocessing.StandardScaler(**kw),
    backend="dask-ml")``: the README's "What dask-ml did" table.
    """

    def make(*args, **kwargs):
        return Scaled(sklearn_class(*args, **kwargs), backend="dask-ml")

    make.__name__ = sklearn_class.__name__
    return make


def _unwrap(estimator):
    # A Scaled model's fitted state is its fitted scikit-learn estimator (estimator_);
    # dask-ml's estimators held it themselves. The comparison is of that state.
    return estimator.estimator_ if isinstance(estimator, Scaled) else estimator


# --- dask_ml/utils.py ---
def _assert_eq(l, r, name=None, **kwargs):
    array_types = (np.ndarray, da.Array)
    frame_types = (pd.core.generic.NDFrame, dd.DataFrame, dd.Series)
    if isinstance(l, array_types):
        assert_eq_ar(l, r, **kwargs)
    elif isinstance(l, frame_types):
        assert_eq_df(l, r, **kwargs)
    elif isinstance(l, (list, tuple)) and all(isinstance(li, array_types) for li in l):
        for a, b in zip(l, r):
            assert_eq_ar(a, b, **kwargs)
    elif isinstance(l, (list, tuple)) and all(isinstance(li, frame_types) for li in l):
        for a, b in zip(l, r):
            assert_eq_df(a, b, **kwargs)
    else:
        assert l == r, (name, l, r)


def assert_estimator_equal(left, right, exclude=None, **kwargs):
    """Check that two Estimators are equal (dask_ml.utils; Scaled models compared by estimator_)."""
    left, right = _unwrap(left), _unwrap(right)
    left_attrs = [x for x in dir(left) if x.endswith("_") and not x.startswith("_")]
    right_attrs = [x for x in dir(right) if x.endswith("_") and not x.startswith("_")]
    if exclude is None:
        exclude = set()
    elif isinstance(exclude, str):
        exclude = {exclude}
    else:
        exclude = set(exclude)

    left_attrs2 = set(left_attrs) - exclude
    right_attrs2 = set(right_attrs) - exclude

    assert left_attrs2 == right_attrs2, left_attrs2 ^ right_attrs2

    for attr in left_attrs2:
        lattr = getattr(left, attr)
        rattr = getattr(right, attr)
        _assert_eq(lattr, rattr, name=attr, **kwargs)


def flip_vector_signs(x, axis):
    """Flip vector signs to align them for comparison (dask_ml.utils)."""
    assert x.ndim == 2
    signs = np.sum(x, axis=axis, keepdims=True)
    signs = signs.dtype.type(2) * ((signs >= 0) - signs.dtype.type(0.5))
    return x * signs


def svd_flip(u, v, u_based_decision=True):
    """dask_ml.utils.svd_flip on in-memory arrays (scikit-learn's)."""
    import sklearn.utils.extmath as skm

    return skm.svd_flip(np.asarray(u).copy(), np.asarray(v).copy(), u_based_decision=u_based_decision)


# --- dask_ml/datasets.py ---
def _random_state(random_state):
    if random_state is None:
        return da.random.RandomState()
    if isinstance(random_state, da.random.RandomState):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(2**31 - 1)
    return da.random.RandomState(random_state)


def make_counts(n_samples=1000, n_features=100, n_informative=2, scale=1.0, chunks=100, random_state=None):
    """Count data: y ~ Poisson(exp(X beta)) (dask_ml.datasets.make_counts)."""
    rng = _random_state(random_state)
    X = rng.normal(0, 1, size=(n_samples, n_features), chunks=(chunks, n_features))
    informative_idx = rng.choice(n_features, n_informative, chunks=n_informative)
    beta = (rng.random_sample(n_features, chunks=n_features) - 1) * scale
    informative_idx, beta = dask.compute(informative_idx, beta)
    z0 = X[:, informative_idx].dot(beta[informative_idx])
    rate = da.exp(z0)
    y = rng.poisson(rate, size=1, chunks=(chunks,))
    return X, y


def make_blobs(n_samples=100, n_features=2, centers=None, cluster_std=1.0,
               center_box=(-10.0, 10.0), shuffle=True, random_state=None, chunks=None):
    """scikit-learn's make_blobs as Dask arrays (dask-ml drew each block separately)."""
    chunks = da.core.normalize_chunks(chunks, (n_samples, n_features))
    X, y = sklearn.datasets.make_blobs(
        n_samples=n_samples, n_features=n_features, centers=centers, cluster_std=cluster_std,
        center_box=center_box, shuffle=shuffle, random_state=random_state)
    return da.from_array(X, chunks=(chunks[0], n_features)), da.from_array(y, chunks=(chunks[0],))


def make_regression(n_samples=100, n_features=100, n_informative=10, n_targets=1, bias=0.0,
                    effective_rank=None, tail_strength=0.5, noise=0.0, shuffle=True, coef=False,
                    random_state=None, chunks=None):
    """A linear regression problem (dask_ml.datasets.make_regression)."""
    chunks = da.core.normalize_chunks(chunks, (n_samples, n_features))
    rng = sklearn.utils.check_random_state(random_state)
    return_coef = coef is True
    _, _, coef = sklearn.datasets.make_regression(
        n_samples=chunks[0][0], n_features=n_features, n_informative=n_informative,
        n_targets=n_targets, bias=bias, effective_rank=effective_rank,
        tail_strength=tail_strength, noise=noise, shuffle=shuffle, coef=True, random_state=rng)
    seed = da.random.random_state_data(1, random_state=rng)
    da_rng = da.random.RandomState(seed[0])
    X_big = da_rng.normal(size=(n_samples, n_features), chunks=(chunks[0], n_features))
    y_big = da.dot(X_big, coef) + bias
    if noise > 0:
        y_big = y_big + da_rng.normal(scale=noise, size=y_big.shape, chunks=y_big.chunks)
    y_big = y_big.squeeze()
    if return_coef:
        return X_big, y_big, coef
    return X_big, y_big


def make_classification(n_samples=100, n_features=20, n_informative=2, n_redundant=2,
                        n_repeated=0, n_classes=2, n_clusters_per_class=2, weights=None,
                        flip_y=0.01, class_sep=1.0, hypercube=True, shift=0.0, scale=1.0,
                        shuffle=True, random_state=None, chunks=None):
    """A binary classification problem (dask_ml.datasets.make_classification)."""
    chunks = da.core.normalize_chunks(chunks, (n_samples, n_features))
    if n_classes != 2:
        raise NotImplementedError("n_classes != 2 is not yet supported.")
    rng = _random_state(random_state)
    X = rng.normal(0, 1, size=(n_samples, n_features), chunks=chunks)
    informative_idx = rng.choice(n_features, n_informative, chunks=n_informative)
    beta = (rng.random_sample(n_features, chunks=n_features) - 1) * scale
    informative_idx, beta = dask.compute(informative_idx, beta, scheduler="single-threaded")
    z0 = X[:, informative_idx].dot(beta[informative_idx])
    y = rng.random_sample(z0.shape, chunks=chunks[0]) < 1 / (1 + da.exp(-z0))
    y = y.astype(int)
    return X, y
