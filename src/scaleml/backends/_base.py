"""The one small abstract class every backend implements.

Modelled on joblib's ``ParallelBackendBase`` and Lightning's accelerators: a
backend declares what it can do (capabilities, the engines it needs, the options
it takes), owns what it opens (``start`` → ``stop``), and implements the two
things every backend must do: :meth:`Backend.fit`, writing where each step ran
into the plan record as it runs it, and :meth:`Backend.call` for predictions.
The defaults it gives for the rest never run work anywhere else than the
backend says.

Backend modules must not import their engine (dask, torch, cupy) at module level:
the registry imports the module to read these declarations.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, ContextManager

from .._validation import validate_params
from ..engines.dask.cluster import cluster_provider
from ..data.forms import is_lazy
from ..exceptions import BackendOptionError, DataError
from ..planning import Placement, PlacementRequest, Record, data_forms, self_placement


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run on this machine, and if not, why and what to do.

    Truthy when the backend can run.
    """

    available: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.available


@dataclass(frozen=True)
class Option:
    """One option a backend accepts.

    Parameters
    ----------
    default : object
        Value used when the option is not given.
    doc : str
        One line describing the option; shown in errors and ``scaleml info``.
    constraints : list or "no_validation"
        What a valid value is, in the constraint language of scaleml's
        estimators (``scaleml._validation``): ``[Interval(Integral, 1, None), None]``.
    """

    default: Any
    doc: str
    constraints: list[Any] | str = "no_validation"


class Backend(ABC):
    """Base class of scaleml backends.

    Subclasses set the class attributes below and implement :meth:`fit` and
    :meth:`call`. The constructor validates options against :attr:`options`, so
    a backend instance always holds a complete, valid set in ``self.options``.

    Lifecycle: ``Backend(**options)`` configures; :meth:`start` opens what the
    backend needs (a cluster connection, a device), also called on first need;
    :meth:`stop` closes what it opened. ``with backend:`` does both.

    Attributes
    ----------
    name : str
        The registry name (``"local"``, ``"dask"``, ...).
    summary : str
        One line for ``scaleml info``.
    distributed, out_of_core, accelerator : bool
        Declared capabilities, read by the planner rather than type checks.
    requires : tuple of str
        Top-level modules of the engines this backend imports (lazily).
    extra : str or None
        The ``scaleml[extra]`` that installs those engines.
    options : mapping of str to Option
        The options this backend accepts.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    distributed: ClassVar[bool] = False
    out_of_core: ClassVar[bool] = False
    accelerator: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    options: ClassVar[Mapping[str, Option]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = self.validate_options(options)

    # -- configuration -----------------------------------------------------------------

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``options`` completed with defaults, or raise naming the problem.

        Raises
        ------
        BackendOptionError
            For an option the backend does not take, or a value it cannot use
            (an :class:`~scaleml.exceptions.InvalidParameterError`).
        """
        unknown = sorted(set(options) - set(cls.options))
        if unknown:
            raise BackendOptionError(
                f"Backend {cls.name!r} has no option {', '.join(map(repr, unknown))}. "
                f"{cls.describe_options()} Options reach a backend as extra keyword "
                "arguments of scaleml.Scaled(...) or scaleml.backend(...)."
            )
        validate_params(
            {key: spec.constraints for key, spec in cls.options.items()}, options,
            f"backend {cls.name!r}", kind="option", error=BackendOptionError,
        )
        return {key: options.get(key, spec.default) for key, spec in cls.options.items()}

    @classmethod
    def describe_options(cls) -> str:
        """One sentence listing the options this backend accepts."""
        if not cls.options:
            return f"Backend {cls.name!r} takes no options."
        listed = "; ".join(f"{key} (default {spec.default!r}): {spec.doc}" for key, spec in cls.options.items())
        return f"Backend {cls.name!r} takes: {listed}."

    @classmethod
    def availability(cls) -> Availability:
        """Whether this backend can run here, without importing its engines.

        The default checks that every module in :attr:`requires` is installed.
        Override to add checks (a device present), keeping them cheap: ``scaleml
        info`` and the registry call this for every backend.
        """
        missing = [module for module in cls.requires if importlib.util.find_spec(module) is None]
        if not missing:
            return Availability(True)
        fix = f"pip install 'scaleml[{cls.extra}]'" if cls.extra else "install " + ", ".join(missing)
        return Availability(False, f"{', '.join(missing)} not installed: {fix}")

    def with_options(self, **options: Any) -> Backend:
        """This backend if ``options`` change nothing, else a new one of the same kind."""
        if all(key in self.options and self.options[key] == value for key, value in options.items()):
            return self
        return type(self)(**{**self.options, **options})

    def changed_options(self) -> dict[str, Any]:
        """The options whose values differ from their defaults."""
        defaults = type(self).options
        return {
            key: value for key, value in self.options.items()
            if value is not defaults[key].default and value != defaults[key].default
        }

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Open what this backend needs (idempotent). The default opens nothing."""

    def stop(self) -> None:
        """Close what :meth:`start` opened (idempotent). The default has nothing to close."""

    def __enter__(self) -> Backend:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def cluster(self) -> Any:
        """The ``distributed.Client`` cluster work runs on, started on first call;
        None (the default) for a backend without a cluster."""
        return None

    def cluster_description(self) -> str | None:
        """Where cluster work would run, without starting anything; None without a cluster."""
        return None

    def activity(self) -> dict[str, int]:
        """Counts of the work this instance's engine has done so far (``dask_tasks``, ...).

        Read before and after a piece of work to see what it sent to the engine;
        the default has nothing to count.
        """
        return {}

    @contextmanager
    def activate(self) -> Iterator[Backend]:
        """Make this backend the engine of the code inside the block.

        Unchanged scikit-learn code (its ``n_jobs`` paths) runs on the engine
        :meth:`engine_config` configures, and scaleml's own estimators find the
        backend's cluster through :func:`~scaleml.engines.dask.cluster.current_client`
        (the dask backends open it on entry, so ``get_client()`` works inside).
        """
        provider = self.cluster if self.cluster_description() is not None else None
        with cluster_provider(provider), self.engine_config():
            yield self

    def engine_config(self) -> ContextManager[Any]:
        """The engine configuration of :meth:`activate` (joblib's, say). Default: none."""
        return nullcontext()

    # -- work -------------------------------------------------------------------------------

    @abstractmethod
    def fit(self, estimator: Any, X: Any, y: Any, record: Record, **fit_params: Any) -> Any:
        """Fit ``estimator`` (a fresh clone) on ``X, y``, writing each step's placement to ``record``.

        Write every step's :class:`~scaleml.planning.Placement` before running it
        (:meth:`place_steps` does this for whole estimators), a fallback where it
        happens (``record.fallback``) and what was observed (``record.observe``).
        With ``record.dry_run`` write the placements and return without running
        anything: that is what ``scaleml.explain`` shows.

        Returns the fitted estimator: a plain scikit-learn estimator, usable without scaleml.
        """

    def fit_transform(self, estimator: Any, X: Any, y: Any, record: Record, **fit_params: Any) -> tuple[Any, Any]:
        """Fit, then transform ``X``: ``(fitted_estimator, transformed_X)`` (None in a dry run).

        The default is this backend's :meth:`fit` followed by its :meth:`call` of
        ``transform``, so nothing runs elsewhere than the backend says.
        """
        fitted = self.fit(estimator, X, y, record, **fit_params)
        if record.dry_run:
            return fitted, None
        return fitted, self.call(fitted, "transform", X)

    @abstractmethod
    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a fitted estimator's ``method`` (``predict``, ``transform``, ``score``, ...) on ``X``.

        Out-of-core backends also take ``target=<column>`` for lazy ``X``: the
        target column the model was fitted with, to leave out of the features.
        """

    # -- helpers for subclasses -------------------------------------------------------------

    def request(self, path: str, data_form: str, X: Any) -> PlacementRequest:
        """What this backend tells a step that places itself."""
        return PlacementRequest(path, self.name, data_form, X is not None and is_lazy(X), self.cluster_description())

    def place_steps(
        self, estimator: Any, X: Any, record: Record, decide: Callable[[str, Any, str], Placement]
    ) -> list[Placement]:
        """Write a placement for each step of ``estimator``: its own when it declares one,
        else ``decide(path, step, data_form)``."""
        return [
            record.place(self_placement(step, self.request(path, form, X)) or decide(path, step, form))
            for path, step, form in data_forms(estimator, X)
        ]

    def refuse_lazy(self, X: Any, method: str) -> None:
        """Raise for lazy ``X`` on a backend that only handles in-memory data."""
        if X is not None and is_lazy(X):
            raise DataError(
                f"The {self.name} backend runs {method} on in-memory data (NumPy, pandas, SciPy); "
                f"got {type(X).__name__}. Use backend='dask-ml' for Dask collections and Parquet/CSV "
                "paths: it streams them block by block."
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.changed_options().items())
        return f"{type(self).__name__}({args})"
