"""Adaptive hyperparameter searches for estimators that learn with ``partial_fit``."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import ParameterSampler, train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._progress import Progress
from .._validation import ValidatedParams
from ..data.forms import is_lazy
from ..exceptions import DataError, InvalidParameterError
from ..planning import Placement, PlacementRequest, Route, describe_estimator
from ._runners import make_runner
from ._schedule import Bracket


def _best_has(method: str):
    def check(self: Any) -> bool:
        target = self.best_estimator_ if hasattr(self, "best_estimator_") else self.estimator
        return hasattr(target, method)

    return check


def _keep_best(runner: Any, finished: set[int], models: list[dict], records: dict[int, Any],
               best: tuple[float, int] | None) -> tuple[float, int] | None:
    """The best model whose training is over, ``finished`` counted; the others' records are released.

    Only the best finished model is kept (on its worker, or here) so that memory
    holds the models still training and one more, not every model the search made.
    The best is the highest score, ties to the model started first, as ``rank_test_score``.
    """
    for final in sorted(finished):
        final_score = models[final]["score"]
        if not np.isnan(final_score) and (best is None or (-final_score, final) < (-best[0], best[1])):
            superseded = None if best is None else best[1]
            best = (final_score, final)
        else:
            superseded = final
        if superseded is not None:
            runner.release(records.pop(superseded))
    return best


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
        route = Route.ADAPTIVE_SEARCH_ON_CLUSTER if request.cluster and self.backend is None else Route.ADAPTIVE_SEARCH
        return Placement(
            request.step, describe_estimator(self), "cpu", "scaleml.search (partial_fit)", where, request.data_form,
            f"{request.backend} backend: candidates trained with partial_fit {how}", route,
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
        if is_lazy(X):
            raise DataError(
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
        """Every bracket's first rung sent at once, then each score as it arrives: a complete
        rung promotes its best models to train further, and the others end."""
        started = time.perf_counter()
        data = runner.put(data)
        models: list[dict] = []  # per model: params, bracket, calls, score, times
        pending: dict[Any, tuple[Bracket, int, Any, int]] = {}  # score future -> (bracket, model, previous record, calls)
        records: dict[int, Any] = {}
        self.history_ = []
        progress = Progress("training tasks", verbose=bool(self.verbose))

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
            progress.add_sent()

        for bracket in brackets:
            candidates = self._sample_models(bracket, rng)
            ids = list(range(len(models), len(models) + len(candidates)))
            models.extend(candidates)
            bracket.start(ids)
            for model_id in ids:
                submit(bracket, model_id)

        best: tuple[float, int] | None = None  # (score, model) of the best model that trains no more
        while pending:
            for future in runner.wait_any(list(pending)):
                bracket, model_id, previous, added = pending.pop(future)
                if previous is not None:
                    runner.release(previous)
                result = runner.score(future)
                progress.add_done()
                self._record_score(models, model_id, bracket, added, result, started)
                rung_members = list(bracket.members)
                promoted = bracket.report(model_id, result[0])
                if promoted is None:
                    continue
                if self.verbose:
                    self._print_rung(bracket, models)
                best = _keep_best(runner, set(rung_members) - set(promoted), models, records, best)
                for survivor in promoted:
                    submit(bracket, survivor)
        progress.close()
        self._finish(runner, models, records, best, brackets, time.perf_counter() - started)

    def _sample_models(self, bracket: Bracket, rng: Any) -> list[dict]:
        """The bracket's first rung: its candidates' parameters sampled, each a model not yet trained."""
        sampler = ParameterSampler(self.parameters, bracket.counts[0], random_state=rng.randint(2**31 - 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a grid smaller than n_iter: fewer models
            candidates = list(sampler)
        return [{"params": p, "bracket": bracket.index, "partial_fit_calls": 0, "score": np.nan,
                 "fit_time": 0.0, "score_time": 0.0, "error": None} for p in candidates]

    def _record_score(self, models: list[dict], model_id: int, bracket: Bracket, added: int, result: tuple,
                      started: float) -> None:
        """A model's new score (with its times and error) into its entry and ``history_``."""
        score, fit_time, score_time, error = result
        info = models[model_id]
        info.update(score=score, error=error)
        info["fit_time"] += fit_time
        info["score_time"] += score_time
        self.history_.append({
            "model_id": model_id, "bracket": bracket.index, "params": info["params"],
            "partial_fit_calls": info["partial_fit_calls"], "calls_added": added, "score": score,
            "elapsed_wall_time": time.perf_counter() - started,
        })

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
