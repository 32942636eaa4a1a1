"""PCA's probabilistic model (Tipping and Bishop, 1999): scikit-learn's definitions.

From the fitted ``components_``, ``explained_variance_`` and ``noise_variance_``
only, so the blocked PCA gets them without another pass over the data; the
formulas are scikit-learn's ``PCA.get_covariance``/``get_precision``/
``score_samples``, written out here (their base class is not public).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg


def _scaled_components(model: Any) -> tuple[np.ndarray, np.ndarray]:
    components, variance = model.components_, model.explained_variance_
    if model.whiten:
        components = components * np.sqrt(variance[:, np.newaxis])
    # Directions explaining less than the noise add nothing to it.
    excess = np.where(variance > model.noise_variance_, variance - model.noise_variance_, 0.0)
    return components, excess


def covariance(model: Any) -> np.ndarray:
    components, excess = _scaled_components(model)
    cov = (components.T * excess) @ components
    cov.flat[:: len(cov) + 1] += model.noise_variance_
    return cov


def precision(model: Any) -> np.ndarray:
    n_features = model.components_.shape[1]
    if model.n_components_ == 0:
        return np.eye(n_features) / model.noise_variance_
    if model.noise_variance_ == 0.0:
        return scipy.linalg.inv(covariance(model))
    # The matrix inversion lemma: a k x k inverse instead of p x p.
    components, excess = _scaled_components(model)
    inner = components @ components.T / model.noise_variance_
    inner.flat[:: len(inner) + 1] += 1.0 / excess
    result = components.T @ scipy.linalg.inv(inner) @ components
    result /= -(model.noise_variance_**2)
    result.flat[:: len(result) + 1] += 1.0 / model.noise_variance_
    return result


def row_log_likelihood(model: Any, X: Any, model_precision: np.ndarray) -> np.ndarray:
    """The log-likelihood of each row of ``X`` (float64) under the model."""
    centred = np.asarray(X - model.mean_)
    n_features = centred.shape[1]
    log_like = -0.5 * (centred * (centred @ model_precision)).sum(axis=1)
    sign, logdet = np.linalg.slogdet(model_precision)
    logdet = logdet if sign > 0 else -np.inf  # as scikit-learn's fast_logdet
    log_like -= 0.5 * (n_features * np.log(2.0 * np.pi) - logdet)
    return log_like
