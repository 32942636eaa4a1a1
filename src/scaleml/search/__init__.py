"""Adaptive hyperparameter search for estimators that learn with ``partial_fit``.

    HyperbandSearchCV           Hyperband: successive halving at several levels at once
    SuccessiveHalvingSearchCV   one successive-halving run

Both run on plain Dask futures (``backend="dask"``, any current Dask) or on
threads in this process (``backend="local"``), give scikit-learn's
``best_estimator_``, ``best_params_`` and ``cv_results_``, and count their
budget in partial_fit calls (epochs for ``scaleml.nn`` estimators).
"""

from ._estimators import HyperbandSearchCV, SuccessiveHalvingSearchCV

__all__ = ["HyperbandSearchCV", "SuccessiveHalvingSearchCV"]
