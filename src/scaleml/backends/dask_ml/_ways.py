"""The ways of fitting a step on lazy data, each a small class holding its placement and its fit.

:func:`way_of_fitting` picks one per step: :class:`Streamed` (``partial_fit``
block by block), :class:`LoadedWhole` (within the memory budget),
:class:`Twinned` (scaleml's blocked twin past it), :class:`OwnBlocks`
(estimators made for blocks) or :class:`Refused`. Each is given a frozen
:class:`LazySettings` rather than the backend; the fits themselves, which write
the plan record as they work, are in ``_lazy_steps``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ...data.blocks import Blocks
from ...planning import Placement, Record, Route, describe_estimator
from .._twins import engine_of, twin_of
from ._lazy_steps import _too_large, fit_blocks, fit_in_memory, fit_twin, load_factor, stream_fit


@dataclass(frozen=True)
class LazySettings:
    """What fitting on lazy data reads of the dask-ml backend, fixed for one fit.

    Attributes
    ----------
    epochs, shuffle, random_state, window
        The backend's options of those names.
    budget : int
        Bytes a step without ``partial_fit`` may load whole.
    budget_name : str
        How the plan names that budget (``"max_in_memory_bytes (64 MiB)"``).
    reads_on_workers : bool
        Whether the cluster's workers read the blocks (else threads here).
    """

    epochs: int
    shuffle: bool
    random_state: Any
    window: int
    budget: int
    budget_name: str
    reads_on_workers: bool


class LazyWay:
    """One way of fitting one step on lazy data: the placement it writes, and the fit that does it.

    Parameters
    ----------
    settings : LazySettings
    path : str
        The step's path in the plan.
    step : estimator
        The (non-pipeline) step.
    form : str
        The data form the step receives.
    final : bool
        Whether it is the last step (the one ``epochs`` passes apply to).
    own : Placement or None
        The step's own placement, when it declares one (scaleml.nn keeps its device and engine).
    """

    route: ClassVar[Route] = Route.UNSTATED

    def __init__(self, settings: LazySettings, path: str, step: Any, form: str, final: bool,
                 own: Placement | None = None) -> None:
        self.settings, self.path, self.step, self.form, self.final, self.own = settings, path, step, form, final, own

    def placement(self) -> Placement:
        """Where and how the step is fitted, written before it runs."""
        engine, parallelism, reason = self.describe()
        placement = Placement(self.path, describe_estimator(self.step), "cpu", engine, parallelism, self.form,
                              reason, self.route)
        return placement if self.own is None else replace(placement, device=self.own.device, engine=self.own.engine)

    def describe(self) -> tuple[str, str, str]:
        """``(engine, parallelism, reason)`` for the plan."""
        raise NotImplementedError

    def fit(self, before: list[Any], data: Blocks, record: Record) -> None:
        """Fit the step on ``data`` passed through the fitted steps ``before``, writing what it saw."""
        raise NotImplementedError


class OwnBlocks(LazyWay):
    """An estimator made for blocks (``fit_blocks``: scaleml.linear_model) fits them where they are."""

    def placement(self) -> Placement:
        return self.own

    def fit(self, before: list[Any], data: Blocks, record: Record) -> None:
        fit_blocks(self.step, before, data, record, self.path)


class Streamed(LazyWay):
    """Block by block into ``partial_fit``: memory holds a few blocks however large the data."""

    route = Route.STREAMED

    def describe(self) -> tuple[str, str, str]:
        window, epochs = self.settings.window, self.settings.epochs if self.final else 1
        order = ", the blocks shuffled after the first pass" if epochs > 1 and self.settings.shuffle else ""
        if self.settings.reads_on_workers:
            parallelism, where = "blocks read on the Dask workers", f"the Dask workers read {window} blocks ahead and send them here"
        else:
            threads = f"{window} reader thread{'s' * (window != 1)}"
            parallelism, where = f"this process, {threads}", f"{threads} in this process read blocks ahead"
        return "scikit-learn partial_fit", parallelism, (
            f"dask-ml backend: streamed block by block with partial_fit, {epochs} pass{'es' if epochs > 1 else ''} "
            f"over the blocks{order}; {where}, so memory holds a few blocks however large the data"
        )

    def fit(self, before: list[Any], data: Blocks, record: Record) -> None:
        stream_fit(self.settings, self.step, before, data, self.final, record, self.path)


class LoadedWhole(LazyWay):
    """Loaded whole and fitted by scikit-learn, when it fits the budget; else its twin, else refused."""

    route = Route.LOADED

    def describe(self) -> tuple[str, str, str]:
        twin = twin_of(self.step)
        beyond = f"else by {engine_of(twin)}'s blocked implementation out of core" if twin is not None else "else refused"
        return "scikit-learn", "1 process", (
            "dask-ml backend: no partial_fit, so fitted on its input loaded whole when the peak of that "
            f"(its input as float64 x {load_factor(self.step):g}) fits {self.settings.budget_name}, {beyond}"
        )

    def fit(self, before: list[Any], data: Blocks, record: Record) -> None:
        fit_in_memory(self.settings, self.path, self.step, before, data, record)


class Twinned(LazyWay):
    """Past the budget, fitted by scaleml's blocked twin pass by pass; the result stored in the step."""

    route = Route.BLOCKED

    def describe(self) -> tuple[str, str, str]:
        engine = engine_of(twin_of(self.step))
        return engine, "blocked, out of core", (
            f"dask-ml backend: no partial_fit, and loading it whole (its input as float64 x "
            f"{load_factor(self.step):g}) would pass {self.settings.budget_name}, so fitted by {engine}'s "
            "blocked implementation, pass by pass over the blocks; the result stored in the scikit-learn estimator"
        )

    def fit(self, before: list[Any], data: Blocks, record: Record) -> None:
        fit_twin(self.step, before, data, record, self.path)


class Refused(LazyWay):
    """Past the budget with no ``partial_fit`` and no twin: refused, naming the alternatives."""

    route = Route.REFUSED

    def describe(self) -> tuple[str, str, str]:
        return "none (refused)", "-", (
            f"dask-ml backend: no partial_fit, no out-of-core twin, and loading it whole (its input as float64 "
            f"x {load_factor(self.step):g}) would pass {self.settings.budget_name}"
        )

    def fit(self, before: list[Any], data: Blocks, record: Record) -> None:
        raise _too_large(self.settings, self.path, self.step)


@dataclass
class LazyFit:
    """A fit on lazy data as placed: the blocks, and each step's way of fitting, in order."""

    data: Blocks
    ways: list[LazyWay]

    def run(self, record: Record) -> None:
        """Fit every step in order, each on the blocks passed through the steps fitted before it.

        A step planned refused is refused before any step reads the data.
        """
        refused = next((way for way in self.ways if isinstance(way, Refused)), None)
        if refused is not None:
            refused.fit([], self.data, record)
        done: list[Any] = []
        for way in self.ways:
            way.fit(done, self.data, record)
            done.append(way.step)


def way_of_fitting(settings: LazySettings, path: str, step: Any, form: str, final: bool,
                   input_bytes: int | None, own: Placement | None) -> LazyWay:
    """How a step is fitted on lazy data.

    Estimators made for blocks fit them themselves; with ``partial_fit`` a step is
    streamed; without, it is loaded whole, or (when the peak of loading its input,
    ``input_bytes`` times :func:`load_factor`, is known before reading to exceed the
    budget) fitted by its twin or refused.
    """
    if hasattr(step, "fit_blocks"):
        return OwnBlocks(settings, path, step, form, final, own)
    if hasattr(step, "partial_fit"):
        return Streamed(settings, path, step, form, final, own)
    if input_bytes is not None and input_bytes * load_factor(step) > settings.budget:
        way = Twinned if twin_of(step) is not None else Refused
        return way(settings, path, step, form, final, own)
    return LoadedWhole(settings, path, step, form, final, own)


def input_bytes(data: Blocks, before: list[Any]) -> int | None:
    """A step's input as its fit holds it, counted as float64 (rows x columns x 8 bytes:
    scikit-learn's fits convert to float64, so float32 or integer columns cost 8 bytes a
    value), known before reading when it can be: the data's rows (a Dask array's chunks,
    Parquet footers) at the data's width for the first step; for a later one, when every
    step before it keeps the rows and its output width is known without fitting (a scaler
    keeps the width, ``n_components=k`` makes it k), at that width. None when unknown (an
    encoder's or a ColumnTransformer's width depends on the data, a CSV file's rows are
    not written down): the step is then loaded, and falls back to its twin while loading.
    """
    from numbers import Integral

    from sklearn import preprocessing

    same_width = (preprocessing.StandardScaler, preprocessing.MinMaxScaler, preprocessing.MaxAbsScaler,
                  preprocessing.RobustScaler, preprocessing.Normalizer, preprocessing.PowerTransformer,
                  preprocessing.QuantileTransformer, preprocessing.Binarizer)
    if data.n_rows is None or not data.n_features:
        return None
    width = data.n_features
    for step in before:
        components = getattr(step, "n_components", None)
        if isinstance(step, same_width):
            continue
        if isinstance(components, Integral) and not isinstance(components, bool) and hasattr(step, "transform"):
            width = components
        else:
            return None
    return data.n_rows * width * 8
