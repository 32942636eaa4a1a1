"""The one small abstract class every backend implements.

Modelled on joblib's ``ParallelBackendBase`` and Lightning's accelerators: a
backend declares what it can do (capabilities, the engines it needs, the options
it takes), owns what it opens (``start`` → ``stop``), and implements what is its
own: where each step runs (:meth:`Backend.decide`), how the fit runs there
(:meth:`Backend.run`), and predictions (:meth:`Backend.call`). The fit skeleton
(check → place every step in the plan record → stop on a dry run → run) is
written once, in :meth:`Backend.fit`. The defaults it gives for the rest never
run work anywhere else than the backend says.

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
from ..engines.dask.current import cluster_provider
from ..data.forms import is_lazy, is_path
from ..exceptions import BackendOptionError, DataError
from ..planning import Placement, PlacementRequest, Record, data_forms, self_placement, walk


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

    Subclasses set the class attributes below and implement :meth:`decide`,
    :meth:`run` (or :meth:`run_fit`) and :meth:`call`; :meth:`fit` is the shared
    skeleton around them (a backend written to the earlier contract, overriding
    ``fit(estimator, X, y, record, **fit_params)`` itself, keeps working). The
    constructor validates options against :attr:`options`, so a backend instance
    always holds a complete, valid set in ``self.options``.

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
        self._check_implemented()
        self.options = self.validate_options(options)

    @classmethod
    def _check_implemented(cls) -> None:
        """A backend runs fits one way or the other: the skeleton's hooks, or its own fit."""
        base = Backend
        if cls.fit is base.fit and cls.run is base.run and cls.run_fit is base.run_fit:
            raise TypeError(
                f"Backend {cls.__name__} cannot fit: implement run(estimator, method, X, y, record, planned, "
                "fit_params) (or run_fit) with decide(path, step, data_form), or override fit(estimator, X, y, "
                "record, **fit_params)."
            )

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
            raise BackendOptionError(cls.unknown_option_message(unknown))
        validate_params(
            {key: spec.constraints for key, spec in cls.options.items()}, options,
            f"backend {cls.name!r}", kind="option", error=BackendOptionError,
        )
        return {key: options.get(key, spec.default) for key, spec in cls.options.items()}

    # Options users carry over from another backend, and what to say instead of "no such option".
    option_hints: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def unknown_option_message(cls, unknown: list[str]) -> str:
        """One line for options this backend does not take: the nearest it does, or a hint,
        and where the whole list is (``scaleml info NAME``)."""
        import difflib

        parts = []
        for key in unknown:
            if key in cls.option_hints:
                parts.append(f"{key!r}: {cls.option_hints[key]}")
                continue
            near = difflib.get_close_matches(key, list(cls.options), n=1, cutoff=0.6)
            parts.append(f"{key!r} (did you mean {near[0]!r}?)" if near else repr(key))
        return (f"Backend {cls.name!r} has no option {'; '.join(parts)}. "
                f"`scaleml info {cls.name}` lists its options.")

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
        """The engine's handle that cluster work runs on, started on first call; None (the
        default) for a backend without a cluster, whose work stays in this process.

        scaleml's own estimators (linear models, KMeans, PCA, the adaptive searches,
        data-parallel nn) run their passes through this handle while the backend is
        active (:meth:`activate`): the data layer's ``Blocks`` calls its ``compute``,
        ``persist``, ``gather`` and ``scheduler_info`` (Dask's ``Client`` interface,
        duck-typed). The Dask backends return a ``distributed.Client``; another engine's
        backend returns a handle with those methods, or None to keep the passes here.
        """
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
        backend's cluster through :func:`~scaleml.engines.dask.current.current_client`
        (the dask backends open it on entry, so ``get_client()`` works inside).
        """
        provider = self.cluster if self.cluster_description() is not None else None
        with cluster_provider(provider), self.engine_config():
            yield self

    def engine_config(self) -> ContextManager[Any]:
        """The engine configuration of :meth:`activate` (joblib's, say). Default: none."""
        return nullcontext()

    # -- work -------------------------------------------------------------------------------

    def fit(self, estimator: Any, X: Any, y: Any, record: Record, **fit_params: Any) -> Any:
        """Fit ``estimator`` (a fresh clone) on ``X, y``, writing each step's placement to ``record``.

        The one fit skeleton every backend shares: :meth:`check_fit` refuses what
        the backend cannot fit, :meth:`place` writes every step's
        :class:`~scaleml.planning.Placement` before anything runs, a dry run
        (``record.dry_run``, what ``scaleml.explain`` shows) stops there, and
        :meth:`run` does the work inside :meth:`fitting`, writing fallbacks
        (``record.fallback``) and what it saw (``record.observe``) where they
        happen. A backend supplies :meth:`decide` (or :meth:`place`) and
        :meth:`run`.

        Returns the fitted estimator: a plain scikit-learn estimator, usable without scaleml.
        """
        fitted = self._fit("fit", estimator, X, y, record, fit_params)
        return estimator if fitted is None else fitted

    def fit_transform(self, estimator: Any, X: Any, y: Any, record: Record, **fit_params: Any) -> tuple[Any, Any]:
        """Fit, then transform ``X``: ``(fitted_estimator, transformed_X)`` (None in a dry run).

        The same skeleton as :meth:`fit`, :meth:`run` given ``"fit_transform"``;
        a backend whose run does only ``"fit"`` gets its own :meth:`call` of
        ``transform`` after it, so nothing runs elsewhere than the backend says.
        """
        if self._has_own_fit():  # a backend written to the contract before the skeleton
            fitted = self.fit(estimator, X, y, record, **fit_params)
            return fitted, None if record.dry_run else self.call(fitted, "transform", X)
        return estimator, self._fit("fit_transform", estimator, X, y, record, fit_params)

    @classmethod
    def _has_own_fit(cls) -> bool:
        return cls.fit is not Backend.fit and cls.run is Backend.run and cls.run_fit is Backend.run_fit

    def _fit(self, method: str, estimator: Any, X: Any, y: Any, record: Record, fit_params: dict) -> Any:
        self.check_fit(estimator, method, X, fit_params)
        planned = self.place(estimator, X, y, record)
        with self.fitting(estimator, method, X, record):
            if record.dry_run:
                return None
            return self.run(estimator, method, X, y, record, planned, fit_params)

    def check_fit(self, estimator: Any, method: str, X: Any, fit_params: dict) -> None:
        """Raise for a fit this backend cannot do, before anything is placed. Default: none."""

    def place(self, estimator: Any, X: Any, y: Any, record: Record) -> list[Any]:
        """Write every step's placement to ``record``; return what :meth:`run` needs of it.

        The default writes, for each step, its own placement when it declares one
        (``__scaleml_placement__``), else :meth:`decide`'s, and returns the
        placements. A backend that fits each step its own way returns those ways.
        """
        return self.place_steps(estimator, X, record, self.decide)

    def decide(self, path: str, step: Any, data_form: str) -> Placement:
        """Where one step runs under this backend, and why (its :class:`~scaleml.planning.Placement`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement decide(path, step, data_form) or place(...)")

    def fitting(self, estimator: Any, method: str, X: Any, record: Record) -> ContextManager[Any]:
        """A context around the run (and around a dry run's end, to plan inside it). Default: none."""
        return nullcontext()

    def run(self, estimator: Any, method: str, X: Any, y: Any, record: Record, planned: list[Any],
            fit_params: dict) -> Any:
        """Run ``estimator.<method>(X, y, **fit_params)`` where ``planned`` says.

        ``method`` is ``"fit"`` or ``"fit_transform"``; return its result (the
        transformed X for ``"fit_transform"``). The default runs ``"fit"`` through
        :meth:`run_fit` and ``"fit_transform"`` as that fit followed by this
        backend's :meth:`call` of ``transform``.
        """
        if method == "fit_transform":
            self.run_fit(estimator, X, y, record, planned, fit_params)
            return self.call(estimator, "transform", X)
        return self.run_fit(estimator, X, y, record, planned, fit_params)

    def run_fit(self, estimator: Any, X: Any, y: Any, record: Record, planned: list[Any], fit_params: dict) -> Any:
        """Fit ``estimator`` where ``planned`` says (what :meth:`run` does for ``"fit"``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement run(...) or run_fit(...)")

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
        if X is None or not is_lazy(X):
            return
        got = f"the path {X!r}" if is_path(X) else type(X).__name__
        read = (" (or read it yourself into memory: pandas.read_parquet / pandas.read_csv)" if is_path(X)
                else " (or .compute() it into memory first)")
        raise DataError(
            f"The {self.name} backend runs {method} on in-memory data (NumPy, pandas, SciPy); "
            f"got {got}. Use backend='dask-ml' for Dask collections and Parquet/CSV "
            f"paths: it streams them block by block{read}."
        )

    def refuse_lazy_unless_blocked(self, estimator: Any, X: Any, method: str) -> None:
        """Raise for lazy ``X`` unless every step is made for blocks (``fit_blocks``).

        Lazy data only reaches estimators made for blocks (scaleml's linear models),
        never others, which would load it whole into this process. Paths also reach
        estimators that stream files themselves (scaleml.nn's image folders).
        """
        if is_path(X) and getattr(estimator, "__scaleml_reads_files__", False):
            return
        if is_lazy(X) and not all(hasattr(step, "fit_blocks") for _, step in walk(estimator)):
            self.refuse_lazy(X, method)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.changed_options().items())
        return f"{type(self).__name__}({args})"
