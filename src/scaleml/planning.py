"""Plans: for each step, where it ran, on which data form, and why — written as it ran.

A backend's ``fit`` walks the estimator's steps with :func:`walk` and writes one
:class:`Placement` per step into a :class:`Record` as it runs it: the decision
before the step runs, a fallback where it happens (with its reason), and what it
observed (``partial_fit`` calls, blocks, the array type the step received).
``Scaled.plan_`` is that record; ``scaleml.explain`` runs the same walk with
``Record(dry_run=True)``, which decides and writes but runs nothing.

Estimators that decide their own placement (scaleml's PyTorch estimators, its
searches, its blocked linear models) say so through a small protocol, as
scikit-learn's ``__sklearn_tags__`` does: a method
``__scaleml_placement__(request: PlacementRequest) -> Placement``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any

from .data.forms import describe_data

_COLUMNS = ("step", "estimator", "device", "engine", "parallelism", "data_form")


class Route(str, Enum):
    """How a step runs, as data: what code and tests branch on.

    A placement's other fields (``engine``, ``parallelism``, ``reason``) are prose for
    people and may be reworded; the route is the contract. A string enum, so a plan's
    JSON holds its value (``"joblib-on-cluster"``).
    """

    IN_PROCESS = "in-process"
    """scikit-learn in this process, one worker."""
    JOBLIB_WORKERS = "joblib-workers"
    """scikit-learn, its joblib work on worker processes of this machine (loky)."""
    JOBLIB_ON_CLUSTER = "joblib-on-cluster"
    """scikit-learn, its joblib work as tasks on the backend's cluster."""
    ARRAY_API = "array-api"
    """scikit-learn's Array API support, on another array library or device."""
    STREAMED = "streamed"
    """Lazy input streamed block by block into ``partial_fit``."""
    LOADED = "loaded"
    """Lazy input loaded whole (within the memory budget), then scikit-learn's fit."""
    BLOCKED = "blocked"
    """scaleml's blocked implementation, pass by pass over the blocks, in this process."""
    BLOCKED_ON_CLUSTER = "blocked-on-cluster"
    """scaleml's blocked implementation, each block's pass where the block is, on the cluster."""
    TORCH = "torch"
    """A scaleml PyTorch estimator on its own device."""
    TORCH_DISTRIBUTED = "torch-distributed"
    """A scaleml PyTorch estimator data-parallel, one rank per cluster worker."""
    ADAPTIVE_SEARCH = "adaptive-search"
    """scaleml's adaptive search, candidates trained with ``partial_fit`` on threads here."""
    ADAPTIVE_SEARCH_ON_CLUSTER = "adaptive-search-on-cluster"
    """scaleml's adaptive search, candidates trained as futures on the cluster."""
    REFUSED = "refused"
    """Not run: the plan says why (too large for memory, no way to fit it)."""
    UNSTATED = "unstated"
    """A placement that names no route (a plug-in written before routes existed)."""

    @property
    def on_cluster(self) -> bool:
        """Whether work on this route is sent to the backend's cluster."""
        return self in _CLUSTER_ROUTES


_CLUSTER_ROUTES = frozenset({
    Route.JOBLIB_ON_CLUSTER, Route.BLOCKED_ON_CLUSTER, Route.TORCH_DISTRIBUTED, Route.ADAPTIVE_SEARCH_ON_CLUSTER,
})


@dataclass(frozen=True)
class Placement:
    """Where one step runs, on which data form, and why.

    Parameters
    ----------
    step : str
        The step's path (``"prep/standardscaler"``) or, for a lone estimator,
        its class name.
    estimator : str
        The estimator's class name; meta-estimators name what they wrap.
    device : str
        ``"cpu"``, ``"cuda:0"``, ...
    engine : str
        The library that does the work (``"scikit-learn"``, ``"scikit-learn partial_fit"``, ...).
    parallelism : str
        How the work is spread (``"1 process"``, ``"joblib, up to 2 workers"``).
    data_form : str
        The form the step receives its data in.
    reason : str
        Why it runs there.
    route : Route
        How it runs, as data (:class:`Route`): compared in equality, and what code
        and tests read instead of the prose fields.
    observed : dict
        What the code that ran the step saw (``partial_fit_calls``, ``blocks``,
        ``input``); empty in a dry run. Not part of equality: a plan from
        ``explain`` equals the plan of the fit it describes.
    """

    step: str
    estimator: str
    device: str
    engine: str
    parallelism: str
    data_form: str
    reason: str
    route: Route = Route.UNSTATED
    observed: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        # A plug-in may name its route by value ("in-process"); an unknown one is an error here.
        if not isinstance(self.route, Route):
            object.__setattr__(self, "route", Route(self.route))


@dataclass(frozen=True)
class PlacementRequest:
    """What a backend tells an estimator that places itself.

    Attributes
    ----------
    step : str
        The step's path.
    backend : str
        The backend's name.
    data_form : str
        The form the step receives.
    lazy : bool
        Whether that input is lazy (a Dask collection or files).
    cluster : str or None
        Where cluster work would run (``"a LocalCluster of 2 worker processes x 1 thread"``),
        or None when the backend has no cluster (work stays in this process).
    """

    step: str
    backend: str
    data_form: str
    lazy: bool
    cluster: str | None


def self_placement(estimator: Any, request: PlacementRequest) -> Placement | None:
    """The estimator's own placement, if it declares one (``__scaleml_placement__``)."""
    method = getattr(estimator, "__scaleml_placement__", None)
    return method(request) if callable(method) else None


@dataclass(frozen=True)
class Estimate:
    """One candidate backend's predicted time for a fit, as ``backend="auto"`` saw it.

    Attributes
    ----------
    backend : str
        The candidate as it would run (``"local"``, ``"local n_jobs=-1"``, ``"dask"``).
    seconds : float or None
        Predicted wall time of the fit, start-up included; None when the candidate
        cannot run this fit (``note`` says why).
    note : str
        How the figure is made up (``"start 0.4 s + 18 fits / 2 workers"``), or why not.
    starts : str
        What running there would start in this process (``"loky workers"``,
        ``"a LocalCluster"``); empty when nothing, or it is running already.
    """

    backend: str
    seconds: float | None
    note: str
    starts: str = ""


@dataclass(frozen=True)
class Decision:
    """What ``backend="auto"`` chose for one fit, and why.

    Attributes
    ----------
    backend : str
        The backend that ran the fit.
    options : dict
        Its options.
    reason : str
        One sentence: the chosen prediction against the next best, and the work.
    work : str
        The work as the cost model saw it (``"90 independent fits of ~12 ms each"``).
    estimates : tuple of Estimate
        Every candidate's prediction, fastest first.
    constants : str
        Where the machine's constants came from (a calibration file, or the defaults).
    decision_seconds : float
        Time spent deciding (sizing the work with probe fits included).
    candidate : str
        The chosen candidate as its :class:`Estimate` names it (``"local n_jobs=-1"``);
        empty when nothing was predicted.
    """

    backend: str
    options: dict[str, Any]
    reason: str
    work: str
    estimates: tuple[Estimate, ...]
    constants: str
    decision_seconds: float = 0.0
    candidate: str = ""

    @property
    def predicted_seconds(self) -> float | None:
        """The chosen candidate's predicted time (None when nothing was predicted)."""
        chosen = [e.seconds for e in self.estimates if e.backend == self.candidate]
        return chosen[0] if chosen else None

    @property
    def label(self) -> str:
        """The chosen backend with its options: ``"local in_process=True"``."""
        options = " ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.backend} {options}".strip()

    def __str__(self) -> str:
        lines = [f"Chosen by auto: {self.reason}", f"  work: {self.work}"]
        for estimate in self.estimates:
            figure = f"{estimate.seconds:.3g} s" if estimate.seconds is not None else "cannot run"
            lines.append(f"  {estimate.backend:<18} {figure:>10}  {estimate.note}")
        lines.append(f"  constants: {self.constants}; deciding took {self.decision_seconds:.3f} s")
        return "\n".join(lines)


@dataclass(frozen=True)
class Plan:
    """Where each step of an estimator ran (or would run) under one backend.

    Attributes
    ----------
    backend : str
        The backend's name.
    backend_source : str
        Where the choice came from: ``"argument"``, ``"context"``,
        ``"environment"``, ``"default"`` (or ``"recipe"`` from ``scaleml run``).
    backend_options : dict
        The backend's options that differ from their defaults.
    data : str
        The form of the input data (``"NumPy float64 (1797, 64)"``), or ``"not given"``.
    steps : tuple of Placement
        One entry per step, in execution order.
    observed : dict
        What the backend saw as a whole (cluster started or not, tasks run);
        empty for a dry run, and not part of equality.
    dry_run : bool
        True for a plan from ``explain``: decided, nothing ran.
    decision : Decision or None
        With ``backend="auto"``: what it chose, each candidate's predicted time
        and why (``backend`` is then the chosen one). Not part of equality: the
        predictions come from timings.
    """

    backend: str
    backend_source: str
    backend_options: dict[str, Any]
    data: str
    steps: tuple[Placement, ...]
    observed: dict[str, Any] = field(default_factory=dict, compare=False)
    dry_run: bool = field(default=False, compare=False)
    decision: Decision | None = field(default=None, compare=False)

    def __iter__(self) -> Iterator[Placement]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: int) -> Placement:
        return self.steps[index]

    @property
    def devices(self) -> set[str]:
        """Every device some step runs on."""
        return {step.device for step in self.steps}

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data."""
        return {
            "backend": self.backend,
            "backend_source": self.backend_source,
            "backend_options": dict(self.backend_options),
            "data": self.data,
            "dry_run": self.dry_run,
            "observed": dict(self.observed),
            "steps": [asdict(step) for step in self.steps],
            "decision": asdict(self.decision) if self.decision is not None else None,
        }

    def __str__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.backend_options.items())
        lines = [
            ("Plan (dry run, nothing ran)" if self.dry_run else "Plan")
            + f": backend {self.backend!r} ("
            + ("picked by 'auto', " if self.decision is not None else "")
            + f"{_SOURCE_TEXT[self.backend_source]})"
            + (f", options {options}" if options else ""),
            f"Input: {self.data}",
        ]
        if self.decision is not None:
            lines.append(str(self.decision))
        headers = ("step", "estimator", "device", "engine", "parallelism", "data form")
        rows = [tuple(str(getattr(step, col)) for col in _COLUMNS) for step in self.steps]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for row, step in zip(rows, self.steps):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            lines.append(f"    why: {step.reason}")
            if step.observed:
                lines.append(f"    ran: {_facts(step.observed)}")
        if self.observed:
            lines.append(f"Backend: {_facts(self.observed)}")
        return "\n".join(lines)


_SOURCE_TEXT = {
    "argument": "chosen by argument",
    "context": "from the active scaleml.backend(...) block",
    "environment": "from SCALEML_BACKEND",
    "default": "the default",
    "recipe": "the recipe's first backend",
}


def _facts(facts: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in facts.items())


class Record:
    """The plan being written by the code that runs the work.

    Parameters
    ----------
    dry_run : bool
        When True the backend decides and writes each placement but runs
        nothing (what ``scaleml.explain`` does).
    """

    def __init__(self, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        self._steps: dict[str, Placement] = {}
        self._observed: dict[str, Any] = {}
        self._decision: Decision | None = None

    def choose(self, decision: Decision) -> None:
        """Write what ``backend="auto"`` chose; the plan then names that backend."""
        self._decision = decision

    def place(self, placement: Placement) -> Placement:
        """Write a step's placement, before it runs."""
        self._steps[placement.step] = placement
        return placement

    def fallback(self, step: str, reason: str, **changes: Any) -> None:
        """Rewrite ``step``'s placement where the work fell back, saying why."""
        self._steps[step] = replace(self._steps[step], reason=reason, **changes)

    def observe(self, step: str | None, **facts: Any) -> None:
        """Write what the work saw: for ``step``, or for the backend as a whole (None).

        Integer facts add up (``observe(s, partial_fit_calls=1)`` per call).
        """
        target = self._observed if step is None else self._steps[step].observed
        for key, value in facts.items():
            if isinstance(value, int) and not isinstance(value, bool) and isinstance(target.get(key), int):
                target[key] += value
            else:
                target[key] = value

    @property
    def steps(self) -> tuple[Placement, ...]:
        return tuple(self._steps.values())

    def plan(self, backend: Any, source: str, X: Any = None) -> Plan:
        """The finished plan of ``backend`` (a backend instance) for input ``X``;
        of the backend it chose, when it chose one (``auto``)."""
        decision = self._decision
        name, options = (backend.name, backend.changed_options()) if decision is None else (
            decision.backend, dict(decision.options))
        return Plan(
            name, source, options,
            describe_data(X) if X is not None else "not given",
            self.steps, dict(self._observed), self.dry_run, decision,
        )


# -- walking the steps --------------------------------------------------------------


def is_plain_pipeline(estimator: Any) -> bool:
    """Whether ``estimator`` is scikit-learn's own ``Pipeline`` (not a subclass with its own fit)."""
    cls = type(estimator)
    return cls.__name__ == "Pipeline" and cls.__module__ == "sklearn.pipeline"


def walk(estimator: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, estimator)`` for each step in execution order.

    scikit-learn ``Pipeline`` s are descended into, nested ones too, skipping
    ``"passthrough"`` and ``None`` steps: fitting the leaves in order, each on the
    output of the one before, is what the pipeline's own ``fit`` does. Every
    other estimator is one step: ``FeatureUnion``, ``ColumnTransformer``,
    searches such as ``GridSearchCV`` and pipeline subclasses included, since
    they run as a whole.
    """
    if not is_plain_pipeline(estimator):
        yield (prefix.rstrip("/") or type(estimator).__name__), estimator
        return
    for name, step in estimator.steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        yield from walk(step, f"{prefix}{name}/")


def data_forms(estimator: Any, X: Any) -> Iterator[tuple[str, Any, str]]:
    """``(path, step, data_form)`` for each step of :func:`walk`: the first step
    receives ``X``, each later one the output of the step before."""
    data = describe_data(X) if X is not None else "not given"
    previous = None
    for path, step in walk(estimator):
        yield path, step, data if previous is None else f"output of {previous}"
        previous = path


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
