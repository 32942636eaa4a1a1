"""Recipes: YAML files naming data, a pipeline, an optional search, a metric, backends.

Loading is safe: ``yaml.safe_load`` (no Python tags), every key checked against a
schema with the file and key named in errors, and estimator classes imported only
from an allow-list of packages unless the caller opts in. Example::

    name: rf-gridsearch
    description: RandomForest grid search on generated data
    data: {source: synthetic, kind: classification, rows: 5000, features: 20}
    pipeline:
      - sklearn.ensemble.RandomForestClassifier: {random_state: 0}
    search:
      kind: grid
      params: {randomforestclassifier__max_depth: [5, 10, null]}
      cv: 3
    backends: [sklearn, local, "local:n_jobs=-1", dask]
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bench.cases import Case
from .exceptions import RecipeError

# Packages whose classes a recipe may name; importing a module runs its code.
ALLOWED_PACKAGES = ("sklearn", "dask_ml", "scaleml", "torch.nn")

_TOP_KEYS = {"name", "description", "data", "pipeline", "search", "metric", "backends", "scale"}
_DATA_KEYS = {
    "sklearn": {"source", "name"},
    "synthetic": {"source", "kind", "rows", "features", "informative", "classes", "noise", "effective_rank", "seed"},
    "parquet": {"source", "train", "test", "target"},
    "synthetic-parquet": {"source", "files", "rows_per_file", "features", "seed"},
    "csv": {"source", "train", "test", "target"},
}
_SEARCH_KEYS = {"kind", "params", "cv", "n_iter", "scoring", "random_state"}
SKLEARN_DATASETS = ("iris", "digits", "wine", "breast_cancer", "diabetes")



@dataclass(frozen=True)
class Recipe:
    """A validated recipe. Build its estimator with :meth:`make_estimator`."""

    path: Path
    name: str
    description: str
    data: dict[str, Any]
    pipeline: list[tuple[type, dict[str, Any]]]
    search: dict[str, Any] | None
    metric: str
    backends: list[str] = field(default_factory=list)
    scale: float = 1.0

    def make_estimator(self) -> Any:
        estimator = _build_pipeline(self.pipeline)
        if self.search is None:
            return estimator
        from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

        search = dict(self.search)
        kind, params = search.pop("kind", "grid"), search.pop("params")
        if kind == "grid":
            return GridSearchCV(estimator, params, **search)
        return RandomizedSearchCV(estimator, params, **search)

    @property
    def lazy(self) -> bool:
        """Whether the data are files read lazily (a backend with ``out_of_core`` is needed)."""
        return self.data["source"] in ("parquet", "csv", "synthetic-parquet")

    def to_case(self, allow_any_import: bool = False) -> Case:
        """This recipe as a bench case (``allow_any_import`` as it was loaded, for other processes)."""
        scorer = None if self.metric == "score" else self.metric
        origin = ("recipe", str(self.path), allow_any_import)
        return Case(self.name, self.description, _loader(self), self.make_estimator, self.metric, scorer, origin)


def _fail(path: Path, key: str, problem: str) -> RecipeError:
    return RecipeError(f"{path}: {key}: {problem}")


def import_estimator_class(dotted: str, allowed: tuple[str, ...] | None) -> type:
    """The estimator class at ``module.Class``, imported only from ``allowed`` packages.

    ``allowed`` None allows any module. Raises PermissionError (outside the
    allowed packages: nothing imported), ImportError (the module or name is not
    there) or TypeError (not a class with ``fit``); callers word the message.
    """
    module_name, _, attr = dotted.rpartition(".")
    if allowed is not None and not any(module_name == p or module_name.startswith(p + ".") for p in allowed):
        raise PermissionError(dotted)
    module = importlib.import_module(module_name)
    try:
        cls = getattr(module, attr)
    except AttributeError:
        import difflib

        close = difflib.get_close_matches(attr, [n for n in dir(module) if not n.startswith("_")], n=1)
        hint = f"; did you mean {module_name}.{close[0]}?" if close else ""
        raise ImportError(f"module {module_name!r} has no {attr!r}{hint}") from None
    if not (isinstance(cls, type) and hasattr(cls, "fit")):
        raise TypeError(dotted)
    return cls


def _resolve_class(path: Path, key: str, dotted: Any, allow_any_import: bool) -> type:
    if not isinstance(dotted, str) or "." not in dotted:
        raise _fail(path, key, f"expected a dotted class path such as sklearn.svm.SVC, got {dotted!r}")
    try:
        return import_estimator_class(dotted, None if allow_any_import else ALLOWED_PACKAGES)
    except PermissionError:
        raise _fail(
            path, key,
            f"{dotted!r} is outside the allowed packages ({', '.join(ALLOWED_PACKAGES)}); "
            "importing it would run its code. Pass --allow-any-import (allow_any_import=True) "
            "if you trust this recipe.",
        ) from None
    except ImportError as exc:
        raise _fail(path, key, f"cannot import {dotted!r}: {exc}") from None
    except TypeError:
        raise _fail(path, key, f"{dotted!r} is not an estimator class (no fit method)") from None


def _check_mapping(path: Path, key: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, key, f"expected a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(path, key, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return value


def _check_data(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("source") not in _DATA_KEYS:
        raise _fail(path, "data.source", f"expected one of {sorted(_DATA_KEYS)}")
    data = _check_mapping(path, "data", data, _DATA_KEYS[data["source"]])
    source = data["source"]
    if source == "sklearn" and data.get("name") not in SKLEARN_DATASETS:
        raise _fail(path, "data.name", f"expected one of {list(SKLEARN_DATASETS)}, got {data.get('name')!r}")
    if source == "synthetic":
        if data.get("kind", "classification") not in ("classification", "regression"):
            raise _fail(path, "data.kind", "expected 'classification' or 'regression'")
        for key in ("rows", "features"):
            if not isinstance(data.get(key), int) or data[key] < 1:
                raise _fail(path, f"data.{key}", f"expected a positive integer, got {data.get(key)!r}")
    if source == "synthetic-parquet":
        for key in ("files", "rows_per_file", "features"):
            if not isinstance(data.get(key), int) or data[key] < 1:
                raise _fail(path, f"data.{key}", f"expected a positive integer, got {data.get(key)!r}")
    if source in ("parquet", "csv"):
        for key in ("train", "test", "target"):
            if not isinstance(data.get(key), str):
                raise _fail(path, f"data.{key}", "expected a string (a path or glob; the target column name)")
        data = {**data, **{k: str((path.parent / data[k]).resolve()) if not Path(data[k]).is_absolute() else data[k]
                           for k in ("train", "test")}}
    return data


def load_recipe(path: str | Path, allow_any_import: bool = False) -> Recipe:
    """Read and validate a recipe file.

    Raises
    ------
    RecipeError
        For a missing or unreadable file, YAML that is not plain data, an unknown
        key, a value of the wrong type, or a class outside the allow-list.
    """
    path = Path(path)
    raw = _check_mapping(path, "recipe", _read_yaml(path), _TOP_KEYS)
    for key in ("data", "pipeline"):
        if key not in raw:
            raise _fail(path, key, "missing; every recipe names its data and pipeline")
    # Only the first problem found is reported, so the checks keep the order tests and
    # users know: pipeline, search, backends, scale, metric, and the data last.
    pipeline = _check_pipeline(path, raw["pipeline"], allow_any_import)
    search = _check_search(path, raw.get("search"), pipeline)
    backends = raw.get("backends", [])
    if not (isinstance(backends, list) and all(isinstance(b, str) for b in backends)):
        raise _fail(path, "backends", "expected a list of backend names such as [local, dask]")
    scale = raw.get("scale", 1.0)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
        raise _fail(path, "scale", "expected a positive number")
    metric = _check_metric(path, raw.get("metric", "score"))
    return Recipe(
        path=path,
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        data=_check_data(path, raw["data"]),
        pipeline=pipeline,
        search=search,
        metric=metric,
        backends=list(backends),
        scale=float(scale),
    )


def _read_yaml(path: Path) -> Any:
    """The file's YAML as plain data (``yaml.safe_load``), unchecked.

    Raises
    ------
    RecipeError
        The file is missing, holds a Python tag (code), or is not YAML at all.
    """
    import yaml

    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file. Recipes live in recipes/*.yaml.")
    try:
        with path.open() as stream:  # a stream, so that YAML's errors name the file, not "<unicode string>"
            return yaml.safe_load(stream)
    except yaml.constructor.ConstructorError as exc:
        if "python/" in str(exc):  # a !!python/... tag: code, which safe_load refuses
            raise RecipeError(f"{path}: not plain YAML data ({exc}). Recipes hold data, never code.") from None
        raise RecipeError(f"{path}: not a recipe's YAML ({exc}). Recipes are mappings of names to "
                          "plain values, lists and mappings.") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML ({exc}). Check the indentation and the quoting there.") from None


def _check_pipeline(path: Path, steps: Any, allow_any_import: bool) -> list[tuple[type, dict[str, Any]]]:
    """The pipeline's steps as (class, parameters), each class imported and built once
    with its parameters so that a bad name or parameter is reported with its step.

    Raises
    ------
    RecipeError
        Not a non-empty list of one-key mappings, a class that cannot be imported
        (or is outside the allow-list), or parameters the class refuses.
    """
    if not isinstance(steps, list) or not steps:
        raise _fail(path, "pipeline", "expected a non-empty list of {dotted.Class: {params}}")
    pipeline = []
    for i, step in enumerate(steps):
        key = f"pipeline[{i}]"
        if not (isinstance(step, dict) and len(step) == 1):
            raise _fail(path, key, "expected a one-key mapping {dotted.Class: {params}}")
        (dotted, params), = step.items()
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise _fail(path, f"{key}.{dotted}", f"parameters must be a mapping, got {type(params).__name__}")
        cls = _resolve_class(path, key, dotted, allow_any_import)
        try:
            cls(**params)
        except TypeError as exc:
            raise _fail(path, f"{key}.{dotted}", f"bad parameters: {exc}") from None
        _check_no_nested_estimators(path, f"{key}.{dotted}", params)
        pipeline.append((cls, params))
    return pipeline


def _check_no_nested_estimators(path: Path, key: str, params: dict[str, Any]) -> None:
    """A recipe holds plain data: a ColumnTransformer's parts can only be 'passthrough' or
    'drop' (an estimator inside an estimator has no recipe form yet), said before anything runs."""
    parts = params.get("transformers")
    if not isinstance(parts, list):
        return
    for i, part in enumerate(parts):
        transformer = part[1] if isinstance(part, (list, tuple)) and len(part) == 3 else None
        if transformer not in ("passthrough", "drop"):
            raise _fail(path, f"{key}.transformers[{i}]",
                        f"got {transformer!r}: a part of a ColumnTransformer in a recipe is [name, 'passthrough' or "
                        "'drop', [columns]]; estimators inside estimators cannot be written in a recipe yet. Put "
                        "the step after the ColumnTransformer, or build the pipeline in Python and use Scaled")


def _check_search(path: Path, search: Any, pipeline: list[tuple[type, dict[str, Any]]]) -> dict[str, Any] | None:
    """The recipe's search (None for none), its kind known and every varied parameter on the pipeline.

    Raises
    ------
    RecipeError
        An unknown key or kind, params that are not a mapping (or list of them),
        or a parameter the pipeline does not have.
    """
    if search is None:
        return None
    search = _check_mapping(path, "search", search, _SEARCH_KEYS)
    if search.get("kind", "grid") not in ("grid", "random"):
        raise _fail(path, "search.kind", "expected 'grid' or 'random'")
    if not isinstance(search.get("params"), (dict, list)):
        raise _fail(path, "search.params", "expected a mapping of parameter name to candidate values")
    _check_grid_keys(path, pipeline, search["params"])
    return search


def _check_metric(path: Path, metric: Any) -> Any:
    """``metric`` when it is ``"score"`` (the estimator's own) or a scikit-learn scorer name."""
    if metric != "score":
        from sklearn.metrics import get_scorer_names

        if metric not in get_scorer_names():
            raise _fail(path, "metric", f"expected 'score' (the estimator's own) or a scikit-learn scorer name "
                        f"such as accuracy, r2, neg_log_loss; got {metric!r}")
    return metric


def _build_pipeline(pipeline: list[tuple[type, dict]]) -> Any:
    """The recipe's steps as one estimator: the step itself, or a pipeline of them."""
    from sklearn.pipeline import make_pipeline

    steps = [cls(**params) for cls, params in pipeline]
    return steps[0] if len(steps) == 1 else make_pipeline(*steps)


def _check_grid_keys(path: Path, pipeline: list[tuple[type, dict]], grid: Any) -> None:
    """Every parameter the search varies exists on the pipeline, else the key, with a did-you-mean."""
    import difflib

    estimator = _build_pipeline(pipeline)
    valid = sorted(estimator.get_params(deep=True))
    for index, mapping in enumerate(grid if isinstance(grid, list) else [grid]):
        where = "search.params" if isinstance(grid, dict) else f"search.params[{index}]"
        for name in mapping if isinstance(mapping, dict) else []:
            if name not in valid:
                close = difflib.get_close_matches(name, valid, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else "."
                shown = ", ".join(v for v in valid if "__" in v or len(pipeline) == 1)
                raise _fail(path, f"{where}.{name}", f"the pipeline has no parameter {name!r}{hint} "
                            f"Its parameters: {shown}")


def _loader(recipe: Recipe) -> Callable[[float], tuple[Any, Any, Any, Any]]:
    data = recipe.data

    def load(scale: float) -> tuple[Any, Any, Any, Any]:
        from sklearn.model_selection import train_test_split

        source = data["source"]
        if source in ("parquet", "csv"):
            return data["train"], data["test"], data["target"], data["target"]
        if source == "synthetic-parquet":
            from .bench.datasets import synthetic_parquet

            files = max(int(round(data["files"] * scale * recipe.scale)), 1)
            train, test = synthetic_parquet(files, data["rows_per_file"], data["features"], data.get("seed", 0))
            return str(train / "*.parquet"), str(test), "label", "label"
        if source == "sklearn":
            import sklearn.datasets

            X, y = getattr(sklearn.datasets, f"load_{data['name']}")(return_X_y=True)
        else:
            import sklearn.datasets

            rows = max(int(data["rows"] * scale * recipe.scale), 20)
            if data.get("kind", "classification") == "classification":
                X, y = sklearn.datasets.make_classification(
                    n_samples=rows, n_features=data["features"],
                    n_informative=data.get("informative", max(data["features"] // 2, 1)),
                    n_classes=data.get("classes", 2), random_state=data.get("seed", 0),
                )
            else:
                X, y = sklearn.datasets.make_regression(
                    n_samples=rows, n_features=data["features"], noise=data.get("noise", 1.0),
                    n_informative=data.get("informative", 10), effective_rank=data.get("effective_rank"),
                    random_state=data.get("seed", 0),
                )
        return tuple(train_test_split(X, y, test_size=0.25, random_state=0))

    return load
