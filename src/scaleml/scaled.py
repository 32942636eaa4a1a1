"""``Scaled``: run an existing scikit-learn estimator on a chosen backend."""

from __future__ import annotations

import copy
import os
from typing import Any

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_clusterer
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._config import DEFAULT_BACKEND, ENV_BACKEND, active_backend, resolve_backend
from .data.forms import computed_delayed, is_lazy
from .planning import Plan, Record


def _inner_has(method: str):
    """``available_if`` check: the fitted (or else the unfitted) inner estimator has ``method``.

    Raises the inner estimator's own ``AttributeError`` so ``hasattr`` is False and
    the message names the real owner.
    """

    def check(self: Scaled) -> bool:
        inner = self.__dict__.get("estimator_", self.estimator)
        getattr(inner, method)
        return True

    return check


class Scaled(MetaEstimatorMixin, BaseEstimator):
    """Fit a scikit-learn estimator through a scaleml backend.

    ``Scaled`` behaves like the estimator it wraps (a classifier, regressor,
    transformer or clusterer): it has the same methods and tags, works with
    ``clone``, pipelines and ``GridSearchCV``, and gives the same results as the
    bare estimator on the ``local`` backend. What changes is where the work runs.

    Parameters
    ----------
    estimator : estimator object
        Any scikit-learn estimator or pipeline. It is cloned before fitting and
        never modified.
    backend : str or None, default=None
        Backend name (``"local"``, ``"dask"``, ...). None takes the active
        ``scaleml.backend(...)`` block, then the ``SCALEML_BACKEND`` environment
        variable, then ``"local"``. Resolved at each ``fit`` and each prediction.
    **backend_options
        Options of the backend, such as ``n_jobs`` for ``local``. They are
        parameters like any other: ``get_params``, ``set_params`` and ``clone``
        carry them; the backend validates them at ``fit``.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``: a plain scikit-learn estimator, usable
        and picklable without scaleml.
    plan_ : Plan
        Where each step ran in the last ``fit``, on which data form, and why.
    classes_, n_features_in_, best_params_, coef_, ... : any
        After ``fit``, every public fitted attribute of ``estimator_`` (a name
        ending in ``_`` that does not start with ``_``) reads through, read-only:
        ``Scaled(GridSearchCV(...)).fit(X, y).best_params_`` is the search's. Before
        ``fit``, reading one raises scikit-learn's ``NotFittedError``. Scaled's own
        attributes (``estimator_``, ``plan_``) come first: an ``estimator_`` of the
        fitted estimator is ``model.estimator_.estimator_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> import scaleml
    >>> X, y = load_iris(return_X_y=True)
    >>> model = scaleml.Scaled(make_pipeline(StandardScaler(), LogisticRegression()))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    >>> print(model.plan_)  # doctest: +ELLIPSIS
    Plan: backend 'local' (the default)
    ...
    """

    def __init__(self, estimator: Any, backend: str | None = None, **backend_options: Any) -> None:
        self.estimator = estimator
        self.backend = backend
        self._backend_options = backend_options

    # -- parameters: the backend options are parameters too -------------------------

    def get_backend_options(self) -> dict[str, Any]:
        """The backend options given to this estimator (not the defaults)."""
        return dict(self._backend_options)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        params.update(self._backend_options)
        return params

    def set_params(self, **params: Any) -> Scaled:
        """Set parameters; names that are not ``estimator``, ``backend`` or
        ``estimator__*`` are backend options, validated by the backend at ``fit``.

        Raises
        ------
        InvalidParameterError
            A name that is neither a parameter of ``Scaled`` nor an option of the
            backend (the wrapped estimator's own parameters are ``estimator__<name>``).
        """
        own = set(self._get_param_names())
        options = {k: v for k, v in params.items() if k not in own and "__" not in k}
        if options:
            _check_option_names(self, options, params.get("backend", self.backend))
        self._backend_options = {**self._backend_options, **options}
        super().set_params(**{k: v for k, v in params.items() if k not in options})
        return self

    def __sklearn_tags__(self):
        # Behave as the wrapped estimator does: same type, input and target tags.
        return copy.deepcopy(get_tags(self.estimator))

    def __sklearn_is_fitted__(self) -> bool:
        return "estimator_" in self.__dict__

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Scaled:
        """Fit a clone of ``estimator`` on the resolved backend.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, in any form the backend accepts. ``dask.delayed`` values (X,
            y or a fit parameter such as ``groups``) are computed first, in one
            ``dask.compute``: each is one whole object, as dask-ml's searches took them.
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Targets; None for unsupervised estimators.
        **fit_params
            Passed to the estimator's ``fit`` (``sample_weight``, ...).

        Returns
        -------
        self : Scaled
        """
        record = Record()
        X, y, fit_params = computed_delayed(X, y, fit_params)  # dask.delayed values: whole objects
        with resolve_backend(self.backend, self._backend_options) as resolved:
            fitted = resolved.backend.fit(clone(self.estimator), X, y, record, **fit_params)
        self._fitted(fitted, record, resolved, X, y)
        return self

    @classmethod
    def from_fitted(cls, estimator: Any, backend: str | None = None, **backend_options: Any) -> Scaled:
        """Wrap an estimator fitted elsewhere, so that its predictions run on ``backend``.

        With the ``dask-ml`` backend, ``predict``, ``predict_proba``, ``transform``, ...
        on lazy data (Dask arrays/DataFrames, Parquet/CSV paths) return lazy Dask
        arrays computed block by block, and ``score`` one number: what dask-ml's
        ``ParallelPostFit`` did, for any fitted scikit-learn estimator or pipeline.
        ``plan_`` is None (this wrapper fitted nothing); ``fit`` fits a clone anew.

        Examples
        --------
        >>> model = Scaled.from_fitted(fitted_pipeline, backend="dask-ml")  # doctest: +SKIP
        >>> model.predict("data/*.parquet")  # doctest: +SKIP
        dask.array<concatenate, shape=(nan,), dtype=int64, ...>
        """
        check_is_fitted(estimator)
        model = cls(estimator, backend, **backend_options)
        model.estimator_ = estimator
        model.plan_ = None
        model.target_column_ = None
        model.feature_columns_ = None
        return model

    def _fitted(self, fitted: Any, record: Record, resolved: Any, X: Any, y: Any) -> None:
        self.estimator_ = fitted
        self.plan_ = record.plan(resolved.backend, resolved.source, X)
        # A target named as a column of lazy data is left out of the features again
        # when predicting on the same kind of data.
        self.target_column_ = y if isinstance(y, str) and is_lazy(X) else None
        # Lazy data's blocks reach the steps as arrays: the names are checked here instead.
        self.feature_columns_ = None
        if is_lazy(X):
            from .data.columns import lazy_columns

            columns = lazy_columns(X)
            self.feature_columns_ = None if columns is None else [c for c in columns if c != self.target_column_]

    @available_if(_inner_has("fit_transform"))
    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """Fit on the backend and return the transformed ``X``."""
        record = Record()
        X, y, fit_params = computed_delayed(X, y, fit_params)
        with resolve_backend(self.backend, self._backend_options) as resolved:
            fitted, transformed = resolved.backend.fit_transform(clone(self.estimator), X, y, record, **fit_params)
        self._fitted(fitted, record, resolved, X, y)
        return transformed

    @available_if(_inner_has("fit_predict"))
    def fit_predict(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """Fit on the backend and return the labels for ``X``: a clusterer's ``labels_``
        (DBSCAN and others have no ``predict``), else its predictions."""
        self.fit(X, y, **fit_params)
        if is_clusterer(self.estimator_) and hasattr(self.estimator_, "labels_"):
            return self.estimator_.labels_
        return self._call("predict", X)

    # -- methods of the fitted estimator ---------------------------------------------

    def _call(self, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        check_is_fitted(self)
        fitted_columns = self.__dict__.get("feature_columns_")
        if fitted_columns is not None and is_lazy(X):
            from .data.columns import check_feature_columns

            check_feature_columns(X, fitted_columns, self.__dict__.get("target_column_"))
        with resolve_backend(self.backend, self._backend_options) as resolved:
            target = self.__dict__.get("target_column_")
            if target is not None and method != "score" and resolved.backend.out_of_core and is_lazy(X):
                kwargs["target"] = target
            return resolved.backend.call(self.estimator_, method, X, *args, **kwargs)

    @available_if(_inner_has("predict"))
    def predict(self, X: Any, **kwargs: Any) -> Any:
        """Predict with the fitted estimator."""
        return self._call("predict", X, **kwargs)

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X: Any, **kwargs: Any) -> Any:
        """Class probabilities from the fitted estimator."""
        return self._call("predict_proba", X, **kwargs)

    @available_if(_inner_has("predict_log_proba"))
    def predict_log_proba(self, X: Any, **kwargs: Any) -> Any:
        """Log class probabilities from the fitted estimator."""
        return self._call("predict_log_proba", X, **kwargs)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X: Any) -> Any:
        """Decision function of the fitted estimator."""
        return self._call("decision_function", X)

    @available_if(_inner_has("score_samples"))
    def score_samples(self, X: Any) -> Any:
        """Per-sample scores of the fitted estimator."""
        return self._call("score_samples", X)

    @available_if(_inner_has("transform"))
    def transform(self, X: Any, **kwargs: Any) -> Any:
        """Transform ``X`` with the fitted estimator."""
        return self._call("transform", X, **kwargs)

    @available_if(_inner_has("inverse_transform"))
    def inverse_transform(self, X: Any, **kwargs: Any) -> Any:
        """Inverse-transform ``X`` with the fitted estimator."""
        return self._call("inverse_transform", X, **kwargs)

    @available_if(_inner_has("score"))
    def score(self, X: Any, y: Any = None, **kwargs: Any) -> float:
        """The fitted estimator's own ``score`` (accuracy, R², ...)."""
        return self._call("score", X, y, **kwargs)

    @available_if(_inner_has("get_feature_names_out"))
    def get_feature_names_out(self, input_features: Any = None) -> Any:
        """Output feature names of the fitted estimator."""
        check_is_fitted(self)
        return self.estimator_.get_feature_names_out(input_features)

    @available_if(_inner_has("set_output"))
    def set_output(self, *, transform: str | None = None) -> Scaled:
        """Choose the container ``transform`` returns (``"pandas"``, ``"default"``, ...).

        Applied to the wrapped estimator (so later fits keep it) and to the fitted
        one, as scikit-learn's ``set_output`` does for pipelines.
        """
        self.estimator.set_output(transform=transform)
        if "estimator_" in self.__dict__:
            self.estimator_.set_output(transform=transform)
        return self

    # -- the fitted estimator's attributes, read through ---------------------------------

    def __getattr__(self, name: str) -> Any:
        # Called only when normal lookup fails: Scaled's own attributes (estimator_,
        # plan_, ...) come first. A public fitted name (best_params_, coef_, ...) reads
        # the fitted estimator's; before fit it is scikit-learn's NotFittedError (an
        # AttributeError too, so hasattr() is False).
        if not _is_fitted_name(name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        fitted = self.__dict__.get("estimator_")
        if fitted is None:
            raise NotFittedError(
                f"This Scaled instance is not fitted yet: call 'fit' before reading {name!r} "
                "(it reads through to the fitted estimator, estimator_)."
            )
        try:
            return getattr(fitted, name)
        except AttributeError as exc:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}: the fitted "
                f"{type(fitted).__name__} (estimator_) has none ({exc})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if _is_fitted_name(name) and name not in _OWN_FITTED:
            raise AttributeError(
                f"Scaled.{name} is read-only: it reads through to the fitted estimator. Set it there, "
                f"as `model.estimator_.{name} = ...`."
            )
        super().__setattr__(name, value)


# Fitted attributes Scaled sets itself; every other public name ending in "_" is the
# fitted estimator's, read through.
_OWN_FITTED = frozenset({"estimator_", "plan_", "target_column_", "feature_columns_"})


def _is_fitted_name(name: str) -> bool:
    """scikit-learn's convention for a public fitted attribute: ``name_``, not ``_name`` or ``__x__``."""
    return name.endswith("_") and not name.startswith("_")


def _check_option_names(model: Scaled, options: dict[str, Any], backend: str | None) -> None:
    """Refuse ``set_params`` names that are no option of the backend ``fit`` would use now
    (the one named, else the active block's, else ``SCALEML_BACKEND``'s, else ``local``)."""
    from .backends import create_backend
    from .exceptions import InvalidParameterError, ScaleMLError

    if backend is not None and not isinstance(backend, str):
        return  # a backend instance, or a value fit will refuse: set_params itself never fails on values
    active = active_backend() if backend is None else None
    try:
        if active is not None:
            known = type(active)
        else:
            known = type(create_backend(backend or os.environ.get(ENV_BACKEND, "").strip() or DEFAULT_BACKEND))
    except ScaleMLError:
        return  # an unknown or unavailable backend: fit says so, with the fix
    unknown = [name for name in options if name not in known.options]
    if unknown:
        name = unknown[0]
        raise InvalidParameterError(
            f"Invalid parameter {name!r} for Scaled({type(model.estimator).__name__}(...)): it is neither a "
            f"parameter of Scaled (estimator, backend) nor an option of the {known.name!r} backend "
            f"({', '.join(sorted(known.options))}). To set the wrapped estimator's {name}, use "
            f"set_params(estimator__{name}=...)."
        )


def explain(estimator: Any, backend: str | None = None, X: Any = None, y: Any = None, **backend_options: Any) -> Plan:
    """Say where each step of ``estimator`` would run, without fitting it.

    A dry run of the backend's own ``fit``: the same code decides and writes each
    step's placement, and stops before running anything, so the plan equals the
    ``plan_`` the fit writes (except where a fit falls back at run time, which
    its plan then says, with the reason).

    Parameters
    ----------
    estimator : estimator
        A scikit-learn estimator or pipeline, or a :class:`scaleml.Scaled`
        (whose own backend and options are then used unless overridden here).
    backend : str, optional
        Backend name; by default the same precedence as ``Scaled``: the active
        ``scaleml.backend(...)`` block, then ``SCALEML_BACKEND``, then ``"local"``.
    X : array-like, optional
        The data it would be fitted on; only its form is read, except by
        ``backend="auto"``, which times a few probe fits of clones on a
        subsample of ``X, y`` to size the work (the estimator is never fitted).
    y : array-like, optional
        The targets it would be fitted on (read by ``backend="auto"`` only).
    **backend_options
        Options of the backend.

    Returns
    -------
    Plan
        Printable; also iterable over its steps.
    """
    if isinstance(estimator, Scaled):
        backend = estimator.backend if backend is None else backend
        backend_options = {**estimator.get_backend_options(), **backend_options}
        estimator = estimator.estimator
    if isinstance(estimator, type) or not hasattr(estimator, "fit"):
        from .exceptions import InvalidParameterError

        named = (f"the string {estimator!r}" if isinstance(estimator, str) else
                 f"the class {estimator.__name__}" if isinstance(estimator, type) else f"a {type(estimator).__name__}")
        raise InvalidParameterError(
            f"explain() takes an estimator such as LogisticRegression(), got {named}. Pass an instance "
            "(`scaleml explain` on the command line is the one that takes class names)."
        )
    record = Record(dry_run=True)
    with resolve_backend(backend, backend_options) as resolved:
        resolved.backend.fit(clone(estimator, safe=False), X, y, record)
    return record.plan(resolved.backend, resolved.source, X)
