"""``Scaled``: run an existing scikit-learn estimator on a chosen backend."""

from __future__ import annotations

import copy
from typing import Any

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_clusterer
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._config import resolve_backend
from .data.forms import is_lazy
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
    classes_ : ndarray
        Class labels, for classifiers.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of str
        Feature names seen during ``fit``, when ``X`` had string column names.

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
        ``estimator__*`` are backend options, validated by the backend at ``fit``."""
        own = set(self._get_param_names())
        options = {k: v for k, v in params.items() if k not in own and "__" not in k}
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
            Training data, in any form the backend accepts.
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Targets; None for unsupervised estimators.
        **fit_params
            Passed to the estimator's ``fit`` (``sample_weight``, ...).

        Returns
        -------
        self : Scaled
        """
        record = Record()
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
            from .data.blocks import lazy_columns

            columns = lazy_columns(X)
            self.feature_columns_ = None if columns is None else [c for c in columns if c != self.target_column_]

    @available_if(_inner_has("fit_transform"))
    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """Fit on the backend and return the transformed ``X``."""
        record = Record()
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
            from .data.blocks import check_feature_columns

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

    @property
    def classes_(self) -> Any:
        """Class labels of the fitted classifier."""
        return self.estimator_.classes_

    @property
    def n_features_in_(self) -> int:
        """Number of features seen during ``fit``."""
        return self.estimator_.n_features_in_

    @property
    def feature_names_in_(self) -> Any:
        """Feature names seen during ``fit``."""
        return self.estimator_.feature_names_in_


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
