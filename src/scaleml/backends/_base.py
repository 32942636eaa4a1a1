"""The one small abstract class every backend implements.

Modelled on joblib's ``ParallelBackendBase``: a backend declares what it can do
(capabilities, the engines it needs, the options it takes) and implements the one
thing every backend must do, :meth:`Backend.fit`. Everything else has a default that
runs in this process, so a new backend overrides only what it does differently.

Backend modules must not import their engine (dask, torch, cupy) at module level:
the registry imports the module to read these declarations.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from ..exceptions import BackendOptionError


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
    check : callable, optional
        ``check(value)`` returns ``None`` for a valid value, or a sentence saying
        what is wrong with it.
    """

    default: Any
    doc: str
    check: Callable[[Any], str | None] | None = None


def positive_int(meaning: str = "", allow_none: bool = False) -> Callable[[Any], str | None]:
    """An :class:`Option` check accepting positive integers (and None if ``allow_none``).

    ``meaning`` is added to the message, e.g. "blocks read ahead".
    """
    expected = ("None or a positive integer" if allow_none else "a positive integer") + (
        f" ({meaning})" if meaning else ""
    )

    def check(value: Any) -> str | None:
        if value is None and allow_none:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return None
        return f"expected {expected}"

    return check


@dataclass(frozen=True)
class Placement:
    """Where one estimator runs, on which data form, and why.

    Parameters
    ----------
    step : str
        The step's path in the pipeline (``"pipeline/logisticregression"``) or its
        class name for a lone estimator.
    estimator : str
        The estimator's class name; meta-estimators name what they wrap.
    device : str
        ``"cpu"``, ``"cuda:0"``, ...
    engine : str
        The library that does the work (``"scikit-learn"``, ``"dask-ml"``, ...).
    parallelism : str
        How the work is spread (``"1 process"``, ``"joblib/loky, 2 workers"``).
    data_form : str
        The form the step receives its data in.
    reason : str
        Why the backend placed the step this way.
    """

    step: str
    estimator: str
    device: str
    engine: str
    parallelism: str
    data_form: str
    reason: str


class Backend(ABC):
    """Base class of scaleml backends.

    Subclasses set the class attributes below and implement :meth:`fit`. The
    constructor validates options against :attr:`options`, so a backend instance
    always holds a complete, valid set of options in ``self.options``.

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

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``options`` completed with defaults, or raise naming the problem.

        Raises
        ------
        BackendOptionError
            For an option the backend does not take, or a value it cannot use.
        """
        unknown = sorted(set(options) - set(cls.options))
        if unknown:
            raise BackendOptionError(
                f"Backend {cls.name!r} has no option {', '.join(map(repr, unknown))}. "
                f"{cls.describe_options()} Options reach a backend as extra keyword "
                "arguments of scaleml.Scaled(...) or scaleml.backend(...)."
            )
        resolved = {key: spec.default for key, spec in cls.options.items()}
        for key, value in options.items():
            problem = cls.options[key].check(value) if cls.options[key].check else None
            if problem:
                raise BackendOptionError(
                    f"Backend {cls.name!r}: option {key}={value!r} is invalid: {problem}"
                )
            resolved[key] = value
        return resolved

    @classmethod
    def describe_options(cls) -> str:
        """One sentence listing the options this backend accepts."""
        if not cls.options:
            return f"Backend {cls.name!r} takes no options."
        listed = "; ".join(
            f"{key} (default {spec.default!r}): {spec.doc}" for key, spec in cls.options.items()
        )
        return f"Backend {cls.name!r} takes: {listed}."

    @classmethod
    def availability(cls) -> Availability:
        """Whether this backend can run here, without importing its engines.

        The default checks that every module in :attr:`requires` is installed.
        Override to add checks (a device present, a service reachable), keeping
        them cheap: ``scaleml info`` and the registry call this for every backend.
        """
        missing = [module for module in cls.requires if importlib.util.find_spec(module) is None]
        if not missing:
            return Availability(True)
        fix = f"pip install 'scaleml[{cls.extra}]'" if cls.extra else "install " + ", ".join(missing)
        return Availability(False, f"{', '.join(missing)} not installed: {fix}")

    def with_options(self, **options: Any) -> Backend:
        """A backend of the same kind with some options replaced.

        Backends that hold a connection (a Dask client) override this to share it.
        """
        if not options:
            return self
        return type(self)(**{**self.options, **options})

    @contextmanager
    def activate(self) -> Iterator[Backend]:
        """Make this backend's engine the active one for the code inside.

        Used by :func:`scaleml.backend` so that unchanged scikit-learn code (its
        ``n_jobs`` paths) runs on this backend. The default changes nothing.
        """
        yield self

    @abstractmethod
    def fit(self, estimator: Any, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """Fit ``estimator`` (already a fresh clone) on ``X, y`` and return it fitted.

        The returned object must be a plain fitted scikit-learn estimator, usable
        without scaleml.
        """

    def fit_transform(
        self, estimator: Any, X: Any, y: Any = None, **fit_params: Any
    ) -> tuple[Any, Any]:
        """Fit ``estimator`` and return ``(fitted_estimator, transformed_X)``.

        The default calls the estimator's own ``fit_transform`` inside
        :meth:`activate`, which some estimators compute differently from
        ``fit(X).transform(X)``.
        """
        with self.activate():
            transformed = estimator.fit_transform(X, y, **fit_params)
        return estimator, transformed

    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a fitted estimator's ``method`` (``predict``, ``transform``, ...) on ``X``.

        The default runs it in this process inside :meth:`activate`.
        """
        with self.activate():
            return getattr(estimator, method)(X, *args, **kwargs)

    def place(self, step: str, estimator: Any, data_form: str, data: Any = None) -> Placement:
        """Decide where one (non-pipeline) estimator runs; see :class:`Placement`.

        ``data_form`` is the form this step receives; ``data`` the input of the
        whole fit (None when not given), for backends whose choice depends on it.
        The default runs it in this process on the CPU with scikit-learn.
        """
        return Placement(
            step=step,
            estimator=describe_estimator(estimator),
            device="cpu",
            engine="scikit-learn",
            parallelism="1 process",
            data_form=data_form,
            reason=f"the {self.name} backend runs it in this process",
        )

    def close(self) -> None:
        """Release what this backend instance holds (connections, clusters)."""

    def changed_options(self) -> dict[str, Any]:
        """The options whose values differ from their defaults."""
        return {
            key: value
            for key, value in self.options.items()
            if value is not type(self).options[key].default
            and value != type(self).options[key].default
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.changed_options().items())
        return f"{type(self).__name__}({args})"


def cluster_client(backend: Any) -> Any:
    """The ``distributed.Client`` of a distributed backend (dask, dask-ml), else None."""
    if getattr(backend, "distributed", False) and hasattr(backend, "client"):
        return backend.client()
    return None


def top_level_steps(estimator: Any) -> list[tuple[str, Any]]:
    """``(name, step)`` of a pipeline's steps, skipping None and "passthrough";
    ``[(ClassName, estimator)]`` for anything else."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list):
        return [(n, s) for n, s in steps if s is not None and not (isinstance(s, str) and s == "passthrough")]
    return [(type(estimator).__name__, estimator)]


def describe_estimator(estimator: Any) -> str:
    """Class name of ``estimator``; for a meta-estimator, with the one it wraps.

    Only an ``estimator`` *parameter* counts (``GridSearchCV(RandomForestClassifier)``),
    not the internal template some ensembles keep in an attribute of that name.
    """
    name = type(estimator).__name__
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    inner = params.get("estimator")
    if inner is not None and hasattr(inner, "fit"):
        return f"{name}({type(inner).__name__})"
    return name


def self_placement(backend: Any, step: str, estimator: Any, data_form: str, data: Any = None) -> Placement | None:
    """The placement of a scaleml estimator that decides where it runs, else None.

    scaleml.linear_model estimators run in this process on in-memory data, and
    on lazy data pass by pass over the blocks: on a distributed backend's
    cluster, else on threads here.
    scaleml.nn estimators train on their own device: after a fit the one they
    trained on (``device_``), before it the one ``device`` resolves to here.
    scaleml.search estimators train their candidates as Dask futures on a
    distributed backend's cluster, else on threads here (after a fit: where
    they did, from ``metadata_``).
    """
    distributed = bool(getattr(backend, "distributed", False))
    if getattr(estimator, "_scaleml_blocked", False):
        from ._dask_data import is_lazy

        name = describe_estimator(estimator)
        if data is None or not is_lazy(data):
            return Placement(step, name, "cpu", "scaleml.linear_model", "1 process", data_form,
                             f"{backend.name} backend: in-memory data, fitted as one block in this process")
        where = "Dask (blocks on the workers)" if distributed else "threads in this process"
        return Placement(
            step, name, "cpu", "scaleml.linear_model", where, data_form,
            f"{backend.name} backend: one pass over the blocks per solver step, each block's sums computed "
            + ("where it is and reduced on the workers" if distributed else "on threads here (no cluster)"),
        )
    if getattr(estimator, "_scaleml_search", False):
        where = getattr(estimator, "metadata_", {}).get("where") or (
            "Dask futures on the backend's cluster" if distributed else f"threads here (n_jobs={estimator.n_jobs!r})"
        )
        how = (
            "as Dask futures, each model kept on the worker that trains it, only scores sent back"
            if distributed else "on threads in this process"
        )
        return Placement(
            step, describe_estimator(estimator), "cpu", "scaleml.search (partial_fit)", where, data_form,
            f"{backend.name} backend: candidates trained with partial_fit {how}",
        )
    if not getattr(estimator, "_scaleml_torch_estimator", False):
        return None
    device = getattr(estimator, "device_", None)
    if device is None:
        from ..nn._device import resolve_device

        try:
            device = str(resolve_device(estimator.device))
        except Exception as exc:  # noqa: BLE001 - an absent explicit device: say so in the plan
            device = f"unavailable ({exc})"
    return Placement(
        step, describe_estimator(estimator), device, "PyTorch (scaleml.nn)", "1 process", data_form,
        f"{backend.name} backend: a scaleml PyTorch estimator runs on its own device "
        f"(device={estimator.device!r} -> {device})",
    )
