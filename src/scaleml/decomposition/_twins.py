"""scaleml's blocked twin of a scikit-learn decomposition, when the results are the same."""

from __future__ import annotations

from typing import Any

_FITTED = ("components_", "explained_variance_", "explained_variance_ratio_", "singular_values_", "mean_",
           "n_components_", "n_samples_", "noise_variance_", "n_features_in_", "feature_names_in_")


def from_sklearn(estimator: Any) -> Any:
    """The unfitted scaleml twin of scikit-learn's ``PCA`` or ``TruncatedSVD``, or None.

    ``PCA`` with ``n_components`` a number, a fraction or None (not ``"mle"``),
    whatever its solver: the twin computes the exact decomposition, which the
    ``full`` solver gives and the others approximate. ``TruncatedSVD`` likewise.
    """
    import sklearn.decomposition as sk

    from ._pca import PCA
    from ._svd import TruncatedSVD

    kind = type(estimator)
    if kind is sk.PCA:
        params = estimator.get_params(deep=False)
        if isinstance(params["n_components"], str):
            return None
        # scikit-learn's full solver asks for exactness: TSQR; any other gets the rule's route.
        solver = "tsqr" if params["svd_solver"] == "full" else "auto"
        return PCA(n_components=params["n_components"], whiten=params["whiten"], svd_solver=solver)
    if kind is sk.TruncatedSVD:
        return TruncatedSVD(n_components=estimator.n_components)
    return None


def copy_fitted(source: Any, target: Any) -> None:
    """Copy the fitted attributes scikit-learn's decompositions transform with."""
    for name in _FITTED:
        if hasattr(source, name):
            setattr(target, name, getattr(source, name))
