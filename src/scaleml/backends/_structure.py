"""Where an estimator's joblib work is: a search's candidates x folds, an ensemble's trees.

Read by ``backend="auto"`` before anything is timed; cheap to import, so a fit with
nothing to spread is decided without loading the cost model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.base import is_classifier

from ..planning import walk

# scikit-learn's forests run their trees on threads (joblib prefer="threads").
THREADED = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
            "RandomTreesEmbedding", "IsolationForest")


@dataclass(frozen=True)
class Structure:
    """Where an estimator's joblib work is: ``units`` copies of ``unit`` fitted on
    ``row_fraction`` of the rows, plus the serial rest."""

    kind: str  # "search", "ensemble" or "serial"
    units: int
    detail: str
    path: str = ""
    row_fraction: float = 1.0
    refit: bool = False
    folds: int = 1
    threads: bool = False


def _is_search(step: Any) -> bool:
    return hasattr(step, "cv") and (hasattr(step, "param_grid") or hasattr(step, "param_distributions")) \
        and hasattr(step, "estimator")


# Estimators whose n_jobs scikit-learn ignores from a version on: nothing of theirs goes
# to joblib, and setting it only warns (FutureWarning, "has no effect").
_N_JOBS_IGNORED_FROM = {
    "sklearn.linear_model._logistic.LogisticRegression": (1, 8),
}


def n_jobs_ignored(step: Any) -> str | None:
    """Why the installed scikit-learn ignores ``step``'s n_jobs, or None where it uses it."""
    import sklearn

    for cls in type(step).__mro__:  # a subclass of LogisticRegression ignores it as well
        since = _N_JOBS_IGNORED_FROM.get(cls.__module__ + "." + cls.__name__)
        if since is not None:
            if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) < since:
                return None
            return f"scikit-learn ignores {cls.__name__}'s n_jobs since {since[0]}.{since[1]}"
    return None


def _spreads(step: Any) -> bool:
    """Whether the step's joblib work may run in parallel (its n_jobs is not an explicit 1,
    and scikit-learn reads it)."""
    params = step.get_params(deep=False) if hasattr(step, "get_params") else {}
    return "n_jobs" in params and params["n_jobs"] != 1 and n_jobs_ignored(step) is None


def candidates(search: Any) -> tuple[int, list[dict[str, Any]]]:
    """Number of candidates of a search, and up to three of them spread over its grid
    (first, middle, last), whose probe times are averaged: candidates differ in cost."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if hasattr(search, "param_grid"):
        grid = ParameterGrid(search.param_grid)
        picks = sorted({0, len(grid) // 2, len(grid) - 1})
        return len(grid), [grid[i] for i in picks]
    n_iter = getattr(search, "n_iter", 10)
    n_candidates = getattr(search, "n_candidates", None)
    count = n_iter if isinstance(n_iter, int) else (n_candidates if isinstance(n_candidates, int) else 10)
    return count, list(ParameterSampler(search.param_distributions, n_iter=min(3, count), random_state=0))


def structure(estimator: Any, X: Any, y: Any) -> Structure:
    """The parallel structure of ``estimator``: its first search or parallel ensemble."""
    for path, step in walk(estimator):
        if _is_search(step) and _spreads(step):
            from sklearn.model_selection import (
                check_cv,  # here: searches import it, other fits need not
            )

            count = candidates(step)[0]
            folds = check_cv(step.cv, y, classifier=is_classifier(step.estimator)).get_n_splits(X, y)
            return Structure("search", count * folds, f"{count} candidates x {folds} folds", path,
                             (folds - 1) / folds if folds > 1 else 1.0, bool(getattr(step, "refit", False)), folds)
        params = step.get_params(deep=False) if hasattr(step, "get_params") else {}
        if isinstance(params.get("n_estimators"), int) and _spreads(step):
            return Structure("ensemble", params["n_estimators"], f"{params['n_estimators']} trees of "
                             f"{type(step).__name__}", path, threads=type(step).__name__ in THREADED)
    return Structure("serial", 1, "one fit")
