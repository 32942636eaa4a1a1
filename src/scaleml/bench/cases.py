"""Built-in benchmark cases on data that ships with scikit-learn or is generated.

A case is data plus an estimator factory; the estimator is the user's unchanged
scikit-learn code, and the backend decides how it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..exceptions import ScaleMLError


@dataclass(frozen=True)
class Case:
    """One benchmark workload.

    Attributes
    ----------
    name : str
        Registry name, used on the command line.
    description : str
        One line for listings and reports.
    load : callable
        ``load(scale) -> (X_train, X_test, y_train, y_test)``; ``scale`` multiplies
        the size of generated data (ignored by fixed data sets).
    make_estimator : callable
        Returns a fresh, unfitted estimator.
    metric : str
        What the score measures, for the report.
    scorer : str or None
        A scikit-learn scorer name (``"neg_log_loss"``, ...) to score with; None
        uses the estimator's own ``score``.
    origin : tuple
        How another process rebuilds it: ``("case", name)`` or ``("recipe", path,
        allow_any_import)``; empty for a case made in code.
    """

    name: str
    description: str
    load: Callable[[float], tuple[Any, Any, Any, Any]]
    make_estimator: Callable[[], Any]
    metric: str
    scorer: str | None = None
    origin: tuple = ()

    def score(self, model: Any, X: Any, y: Any) -> float:
        """``model``'s score on ``X, y`` by this case's metric."""
        if self.scorer is None:
            return float(model.score(X, y))
        from sklearn.metrics import get_scorer

        from ..data.forms import is_path

        if is_path(X) and isinstance(y, str):
            # Files and the target column's name (an out-of-core row): the scorer needs the
            # true labels themselves. That one column is read by the reader the predictions
            # come through, so the files come in the same order.
            from ..data.files import read_path

            y = read_path(X, "32MiB")[y].compute().to_numpy()
            model = _Computed(model)
        return float(get_scorer(self.scorer)(model, X, y))


class _Computed:
    """A fitted model whose lazy outputs (Dask arrays of unknown block lengths, which
    scikit-learn's metrics cannot take) are computed before a scorer reads them."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._model, name)
        if name not in ("predict", "predict_proba", "decision_function"):
            return attribute
        return functools.wraps(attribute)(lambda *args, **kwargs: _in_memory(attribute(*args, **kwargs)))


def _in_memory(out: Any) -> Any:
    return out.compute() if hasattr(out, "compute") else out


def _split(X: Any, y: Any) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(X, y, test_size=0.25, random_state=0, stratify=y))


def _digits(scale: float) -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return _split(X, y)


def _synthetic(rows: int, features: int) -> Callable[[float], tuple[Any, Any, Any, Any]]:
    def load(scale: float) -> tuple[Any, Any, Any, Any]:
        from sklearn.datasets import make_classification

        X, y = make_classification(
            n_samples=max(int(rows * scale), 100),
            n_features=features,
            n_informative=features // 2,
            n_classes=2,
            random_state=0,
        )
        return _split(X, y)

    return load


def _digits_logreg() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _digits_forest_search() -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    # n_jobs is left at None on purpose: the backend decides the parallelism.
    return GridSearchCV(
        RandomForestClassifier(n_estimators=60, random_state=0),
        {"max_depth": [8, None], "max_features": ["sqrt", 0.25]},
        cv=3,
    )


def _synthetic_forest_search() -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    return GridSearchCV(
        RandomForestClassifier(random_state=0),
        {"max_depth": [5, 10, None], "n_estimators": [50, 100]},
        cv=3,
    )


def _synthetic_logreg() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500, tol=1e-6)


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case(
            "digits-forest-search",
            "digits (1,797 8x8 images): GridSearchCV of a RandomForest, 4 candidates x 3 folds",
            _digits,
            _digits_forest_search,
            "accuracy",
        ),
        Case(
            "digits-logreg",
            "digits (1,797 8x8 images): StandardScaler + LogisticRegression",
            _digits,
            _digits_logreg,
            "accuracy",
        ),
        Case(
            "synthetic-forest-search",
            "make_classification 5,000 x 20 (x --scale): GridSearchCV of a RandomForest, 6 candidates x 3 folds",
            _synthetic(5_000, 20),
            _synthetic_forest_search,
            "accuracy",
        ),
        Case(
            "synthetic-logreg",
            "make_classification 160,000 x 60 (x --scale): LogisticRegression, about 1 s to fit",
            _synthetic(160_000, 60),
            _synthetic_logreg,
            "accuracy",
        ),
    )
}


def get_case(name: str) -> Case:
    """The built-in case ``name``; the error lists the valid names."""
    import dataclasses
    import difflib

    if name in CASES:
        return dataclasses.replace(CASES[name], origin=("case", name))
    close = difflib.get_close_matches(name, CASES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ScaleMLError(f"Unknown bench case {name!r}.{hint} Built-in cases: {', '.join(CASES)}.")
