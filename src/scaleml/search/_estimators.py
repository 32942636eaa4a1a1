"""The two public searches: their parameters, constraints and schedules."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from .._validation import Interval, RealNotInt, StrOptions
from ..exceptions import InvalidParameterError
from ._schedule import Bracket, halving_bracket, hyperband_brackets
from ._search import _AdaptiveSearch

_COMMON_CONSTRAINTS = {
    "estimator": "no_validation",  # checked with its own message: it needs partial_fit
    "parameters": [dict],
    "aggressiveness": [Interval(Integral, 2, None)],
    "scoring": [str, callable, None],
    "test_size": [Interval(RealNotInt, 0, 1, closed="neither")],
    "random_state": ["random_state"],
    "error_score": [StrOptions({"raise"}), Real],
    "backend": [str, None],
    "n_jobs": [Integral, None],
    "verbose": ["verbose"],
}



_COMMON_DOC = """
    scoring : str, callable or None, default=None
        How candidates are compared on the held-out data (the estimator's
        ``score`` when None).
    test_size : float, default=0.15
        Share of the data held out to score the candidates (stratified for
        classifiers when possible).
    random_state : int, RandomState or None
        Seeds the candidate sampling and the split.
    error_score : "raise" or float, default=np.nan
        Score of a candidate whose training fails; it is not promoted.
    backend : str or None
        ``"local"`` (threads here) or ``"dask"``/``"dask-ml"`` (futures on a
        cluster); None: the active ``scaleml.backend(...)`` block, else
        ``SCALEML_BACKEND``, else local.
    n_jobs : int or None
        Threads for the local backend (None: 1, -1: every core).
    verbose : int, default=0
        Print each rung's result as it completes.

    Attributes
    ----------
    best_estimator_, best_params_, best_score_, best_index_ :
        The highest-scoring model as trained (not refitted), its parameters and
        held-out score.
    cv_results_ : dict of arrays
        One entry per model: ``params``, ``param_*``, ``test_score``,
        ``rank_test_score``, ``partial_fit_calls``, ``bracket``, ``fit_time``.
    history_ : list of dict
        Every evaluation in the order it finished: ``model_id``, ``bracket``,
        ``params``, ``partial_fit_calls`` (the model's total), ``calls_added``,
        ``score``, ``elapsed_wall_time``.
    metadata_ : dict
        Models and partial_fit calls planned and spent, wall time, where it ran.
"""


class SuccessiveHalvingSearchCV(_AdaptiveSearch):
    __doc__ = """Successive halving over ``partial_fit``: many candidates trained briefly, the best longer.

    Starts ``n_initial_parameters`` candidates at ``n_initial_iter`` partial_fit
    calls each, keeps the best ``1/aggressiveness`` and multiplies their budget by
    ``aggressiveness``, until one is left or ``max_iter`` is reached. Runs on
    plain Dask futures (current Dask) or threads here.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        One call is one unit of budget (one pass over the training data; one
        epoch for ``scaleml.nn`` estimators).
    parameters : dict
        Lists or scipy.stats distributions, as for RandomizedSearchCV.
    n_initial_parameters : int, default=10
    n_initial_iter : int, default=1
    max_iter : int or None, default=None
        Most partial_fit calls any model receives.
    aggressiveness : int, default=3
    """ + _COMMON_DOC

    def __init__(self, estimator, parameters, *, n_initial_parameters=10, n_initial_iter=1, max_iter=None,
                 aggressiveness=3, scoring=None, test_size=0.15, random_state=None, error_score=np.nan,
                 backend=None, n_jobs=None, verbose=0):
        self.estimator = estimator
        self.parameters = parameters
        self.n_initial_parameters = n_initial_parameters
        self.n_initial_iter = n_initial_iter
        self.max_iter = max_iter
        self.aggressiveness = aggressiveness
        self.scoring = scoring
        self.test_size = test_size
        self.random_state = random_state
        self.error_score = error_score
        self.backend = backend
        self.n_jobs = n_jobs
        self.verbose = verbose

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "n_initial_parameters": [Interval(Integral, 1, None)],
        "n_initial_iter": [Interval(Integral, 1, None)],
        "max_iter": [Interval(Integral, 1, None), None],
    }

    def _brackets(self) -> list[Bracket]:
        if self.max_iter is not None and self.max_iter < self.n_initial_iter:
            raise InvalidParameterError(
                f"The 'max_iter' parameter of {type(self).__name__} must be None or at least "
                f"n_initial_iter={self.n_initial_iter!r}. Got {self.max_iter!r} instead."
            )
        return [halving_bracket(self.n_initial_parameters, self.n_initial_iter, self.aggressiveness, self.max_iter)]


class HyperbandSearchCV(_AdaptiveSearch):
    __doc__ = """Hyperband over ``partial_fit``: successive halving at several aggressiveness levels at once.

    With ``max_iter=R`` and ``aggressiveness=eta`` it runs ``floor(log_eta R) + 1``
    brackets concurrently, from many candidates started at ``R / eta**s`` calls to
    a few trained to ``R`` from the start, so it needs no guess of how long a
    model must train before it can be judged. Each model trains at most
    ``max_iter`` partial_fit calls; ``metadata`` gives the plan before fitting.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        One call is one unit of budget (one pass over the training data; one
        epoch for ``scaleml.nn`` estimators).
    parameters : dict
        Lists or scipy.stats distributions, as for RandomizedSearchCV.
    max_iter : int, default=81
    aggressiveness : int, default=3
    """ + _COMMON_DOC

    def __init__(self, estimator, parameters, *, max_iter=81, aggressiveness=3, scoring=None, test_size=0.15,
                 random_state=None, error_score=np.nan, backend=None, n_jobs=None, verbose=0):
        self.estimator = estimator
        self.parameters = parameters
        self.max_iter = max_iter
        self.aggressiveness = aggressiveness
        self.scoring = scoring
        self.test_size = test_size
        self.random_state = random_state
        self.error_score = error_score
        self.backend = backend
        self.n_jobs = n_jobs
        self.verbose = verbose

    _parameter_constraints = {**_COMMON_CONSTRAINTS, "max_iter": [Interval(Integral, 1, None)]}

    def _brackets(self) -> list[Bracket]:
        return hyperband_brackets(self.max_iter, self.aggressiveness)
