"""scaleml's blocked twin of scikit-learn's KMeans."""

from __future__ import annotations

from typing import Any


def from_sklearn(estimator: Any) -> Any:
    """The unfitted scaleml twin of scikit-learn's ``KMeans``, or None.

    ``init="k-means++"`` becomes k-means|| (its scalable form), ``"random"`` and
    given centres stay; ``n_init="auto"`` resolves as scikit-learn resolves it.
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
        params["n_clusters"], init="k-means||" if named and init == "k-means++" else init, n_init=n_init,
        max_iter=params["max_iter"], tol=params["tol"], random_state=params["random_state"],
    )
