"""scaleml's blocked twin of scikit-learn's KMeans."""

from __future__ import annotations

from typing import Any


def from_sklearn(estimator: Any) -> Any:
    """The unfitted scaleml twin of scikit-learn's ``KMeans``, or None.

    ``init`` stays as it is: ``"k-means++"`` runs as k-means|| (its scalable
    approximation) on lazy data, which the plan and ``init_used_`` say; ``n_init="auto"`` resolves as scikit-learn resolves it.
    A callable ``init`` or sample weights have no twin.
    """
    from sklearn.cluster import KMeans as SKLearnKMeans

    from ._kmeans import KMeans

    if type(estimator) is not SKLearnKMeans:
        return None
    params = estimator.get_params(deep=False)
    init = params["init"]
    if callable(init):
        return None
    named = isinstance(init, str)
    n_init = params["n_init"]
    if n_init == "auto":
        n_init = 10 if named and init == "random" else 1
    return KMeans(
        params["n_clusters"], init=init, n_init=n_init,
        max_iter=params["max_iter"], tol=params["tol"], random_state=params["random_state"],
    )
