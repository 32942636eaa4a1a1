"""Adaptive hyperparameter searches for estimators that learn with ``partial_fit``."""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import ParameterSampler, train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._validation import Interval, RealNotInt, StrOptions, ValidatedParams
from ..exceptions import InvalidParameterError
from ..planning import Placement, PlacementRequest, describe_estimator
from ._runners import make_runner
from ._schedule import Bracket, halving_bracket, hyperband_brackets


def _best_has(method: str):
    def check(self: Any) -> bool:
        target = self.best_estimator_ if hasattr(self, "best_estimator_") else self.estimator
        return hasattr(target, method)

    return check


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


class _AdaptiveSearch(ValidatedParams, MetaEstimatorMixin, BaseEstimator):
    """The loop both searches share: brackets of models advanced as their scores arrive."""

    def _brackets(self) -> list[Bracket]:
        raise NotImplementedError

    def _check_params(self) -> None:
        if not hasattr(self.estimator, "partial_fit"):
            raise InvalidParameterError(
                f"{type(self).__name__} trains with partial_fit, which {type(self.estimator).__name__} "
                "does not have. Use an estimator that learns incrementally (SGDClassifier, "
                "SGDRegressor, MLPClassifier, scaleml.nn.CNNClassifier, ...), or GridSearchCV/"
                "HalvingRandomSearchCV for the others."
            )
        self._validate_params()

    def __scaleml_placement__(self, request: PlacementRequest) -> Placement:
        if self.backend is not None:
            where, how = f"its own backend {self.backend!r}", f"on its own backend {self.backend!r} (backend= is set)"
        elif request.cluster:
            where = f"Dask futures on {request.cluster}"
            how = "as Dask futures, each model kept on the worker that trains it, only scores sent back"
        else:
            where, how = f"threads here (n_jobs={self.n_jobs!r})", "on threads in this process"
        return Placement(
            request.step, describe_estimator(self), "cpu", "scaleml.search (partial_fit)", where, request.data_form,
            f"{request.backend} backend: candidates trained with partial_fit {how}",
        )

    @property
    def metadata(self) -> dict[str, Any]:
        """The planned cost before fitting: models and partial_fit calls per bracket."""
        self._check_params()
        return _describe(self._brackets())

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> _AdaptiveSearch:
        """Search: sample candidates, train them in rungs, keep the best at each rung.

        ``X`` and ``y`` are in-memory arrays: a share ``test_size`` is held out to
        score the candidates. For classifiers ``classes`` is passed to the first
        partial_fit unless given in ``fit_params``.
        """
        from .._config import resolve_backend

        self._check_params()
        if type(X).__module__.split(".")[0] in ("dask", "dask_expr") or isinstance(X, str):
            raise TypeError(
                f"{type(self).__name__} takes in-memory data (NumPy, pandas): every model trains on "
                "all of it. For data larger than memory, search on a sample that fits, then train "
                "the chosen parameters with Scaled(..., backend='dask-ml')."
            )
        rng = check_random_state(self.random_state)
        data = self._split(X, y, rng)
        if is_classifier(self.estimator) and "classes" not in fit_params:
            fit_params["classes"] = np.unique(y)
        brackets = self._brackets()
        with resolve_backend(self.backend) as resolved:
            runner = make_runner(resolved.backend.cluster(), self.n_jobs)
            try:
                with runner.guard():
                    self._run(runner, brackets, data, fit_params, rng)
            finally:
                runner.close()
        return self

    def _split(self, X: Any, y: Any, rng: Any) -> tuple:
        """``(X_train, y_train, X_val, y_val)``, stratified for classifiers when possible
        (y None for estimators that learn without targets)."""
        arrays = (X,) if y is None else (X, y)
        seed = rng.randint(2**31 - 1)
        stratify = y if is_classifier(self.estimator) else None
        try:
            parts = train_test_split(*arrays, test_size=self.test_size, random_state=seed, stratify=stratify)
        except ValueError:
            if stratify is None:
                raise
            # a class too small to stratify: split at random
            parts = train_test_split(*arrays, test_size=self.test_size, random_state=seed)
        if y is None:
            return parts[0], None, parts[1], None
        return parts[0], parts[2], parts[1], parts[3]

    def _run(self, runner: Any, brackets: list[Bracket], data: tuple, fit_params: dict, rng: Any) -> None:
        started = time.perf_counter()
        data = runner.put(data)
        models: list[dict] = []  # per model: params, bracket, calls, score, times
        pending: dict[Any, tuple[Bracket, int, Any, int]] = {}  # score future -> (bracket, model, previous record, calls)
        records: dict[int, Any] = {}
        self.history_ = []

        def submit(bracket: Bracket, model_id: int) -> None:
            info = models[model_id]
            target = bracket.budgets[bracket.rung]
            previous = records.get(model_id)
            record, score = runner.submit(
                previous, self.estimator, info["params"], target - info["partial_fit_calls"], data,
                fit_params, self.scoring, self.error_score,
            )
            pending[score] = (bracket, model_id, previous, target - info["partial_fit_calls"])
            info["partial_fit_calls"] = target
            records[model_id] = record

        for bracket in brackets:
            sampler = ParameterSampler(self.parameters, bracket.counts[0], random_state=rng.randint(2**31 - 1))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a grid smaller than n_iter: fewer models
                candidates = list(sampler)
            ids = list(range(len(models), len(models) + len(candidates)))
            models.extend({"params": p, "bracket": bracket.index, "partial_fit_calls": 0, "score": np.nan,
                           "fit_time": 0.0, "score_time": 0.0, "error": None} for p in candidates)
            bracket.start(ids)
            for model_id in ids:
                submit(bracket, model_id)

        best: tuple[float, int] | None = None  # (score, model) of the best model that trains no more
        while pending:
            for future in runner.wait_any(list(pending)):
                bracket, model_id, previous, added = pending.pop(future)
                if previous is not None:
                    runner.release(previous)
                score, fit_time, score_time, error = runner.score(future)
                info = models[model_id]
                info.update(score=score, error=error)
                info["fit_time"] += fit_time
                info["score_time"] += score_time
                self.history_.append({
                    "model_id": model_id, "bracket": bracket.index, "params": info["params"],
                    "partial_fit_calls": info["partial_fit_calls"], "calls_added": added, "score": score,
                    "elapsed_wall_time": time.perf_counter() - started,
                })
                rung_members = list(bracket.members)
                promoted = bracket.report(model_id, score)
                if promoted is None:
                    continue
                if self.verbose:
                    self._print_rung(bracket, models)
                for final in sorted(set(rung_members) - set(promoted)):
                    # Its training is over: keep its model only while it is the best
                    # (highest score, ties to the model started first, as rank_test_score).
                    final_score = models[final]["score"]
                    if not np.isnan(final_score) and (best is None or (-final_score, final) < (-best[0], best[1])):
                        superseded = None if best is None else best[1]
                        best = (final_score, final)
                    else:
                        superseded = final
                    if superseded is not None:
                        runner.release(records.pop(superseded))
                for survivor in promoted:
                    submit(bracket, survivor)
        self._finish(runner, models, records, best, brackets, time.perf_counter() - started)

    def _print_rung(self, bracket: Bracket, models: list[dict]) -> None:
        scores = [m["score"] for m in models if m["bracket"] == bracket.index and not np.isnan(m["score"])]
        rung = bracket.rung - 1
        print(
            f"[{type(self).__name__}] bracket {bracket.index}, rung {rung}: {bracket.counts[rung]} models "
            f"at {bracket.budgets[rung]} partial_fit calls, best score {max(scores, default=np.nan):.4g}",
            flush=True,
        )

    def _finish(self, runner: Any, models: list[dict], records: dict, best: tuple, brackets: list, seconds: float) -> None:
        failed = [m for m in models if m["error"] is not None]
        if failed and len(failed) == len(models):
            raise ValueError(f"All {len(models)} candidates failed; the first: {failed[0]['error']}")
        if best is None:
            raise ValueError(
                f"No candidate got a finite score on the held-out data (scoring={self.scoring!r}); "
                "check the scorer and the data."
            )
        if failed:
            warnings.warn(
                f"{len(failed)} of {len(models)} candidates failed and scored error_score={self.error_score!r}; "
                f"the first: {failed[0]['error']}", FitFailedWarning, stacklevel=3,
            )
        self.best_index_ = best[1]
        self.best_score_ = best[0]
        self.best_params_ = models[best[1]]["params"]
        self.best_estimator_ = runner.fetch(records[best[1]])["model"]
        from scipy.stats import rankdata

        scores = np.array([m["score"] for m in models])
        # scikit-learn's convention: ties share the best rank, failures rank last
        ranks = rankdata(-np.nan_to_num(scores, nan=-np.inf), method="min").astype(np.int32)
        self.cv_results_ = {
            "model_id": np.arange(len(models)),
            "bracket": np.array([m["bracket"] for m in models]),
            "params": [m["params"] for m in models],
            "test_score": scores,
            "rank_test_score": ranks,
            "partial_fit_calls": np.array([m["partial_fit_calls"] for m in models]),
            "fit_time": np.array([m["fit_time"] for m in models]),
            "score_time": np.array([m["score_time"] for m in models]),
        }
        for name in sorted({k for m in models for k in m["params"]}):
            self.cv_results_[f"param_{name}"] = np.ma.masked_array(
                [m["params"].get(name) for m in models], mask=[name not in m["params"] for m in models], dtype=object
            )
        self.metadata_ = {**_describe(brackets), "partial_fit_calls": int(sum(m["partial_fit_calls"] for m in models)),
                          "wall_time": seconds, "where": runner.where}
        self.n_features_in_ = getattr(self.best_estimator_, "n_features_in_", None)
        if hasattr(self.best_estimator_, "classes_"):
            self.classes_ = self.best_estimator_.classes_

    # -- the best model's methods ---------------------------------------------------

    @available_if(_best_has("predict"))
    def predict(self, X: Any) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    @available_if(_best_has("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    @available_if(_best_has("decision_function"))
    def decision_function(self, X: Any) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)

    @available_if(_best_has("transform"))
    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.transform(X)

    def score(self, X: Any, y: Any = None) -> float:
        """The search's ``scoring`` of the best model on ``(X, y)``."""
        from sklearn.metrics import check_scoring

        check_is_fitted(self, "best_estimator_")
        return float(check_scoring(self.best_estimator_, self.scoring)(self.best_estimator_, X, y))


def _describe(brackets: list[Bracket]) -> dict[str, Any]:
    return {
        "n_models": sum(b.counts[0] for b in brackets),
        "planned_partial_fit_calls": sum(b.planned_calls for b in brackets),
        "brackets": [
            {"bracket": b.index, "n_models": b.counts[0], "partial_fit_calls": b.planned_calls,
             "models_per_rung": list(b.counts), "calls_per_rung": list(b.budgets)}
            for b in brackets
        ],
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
