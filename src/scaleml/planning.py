"""Plans: for each pipeline step, where it runs, on which data form, and why.

A :class:`Plan` is data (a tuple of :class:`~scaleml.backends.Placement`) with a
readable ``str``; ``Scaled.plan_`` holds the plan of the last fit and
:func:`explain` makes one without fitting anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from ._config import ResolvedBackend, resolve_backend
from .backends import Placement
from .data import describe_data

_COLUMNS = ("step", "estimator", "device", "engine", "parallelism", "data_form")


@dataclass(frozen=True)
class Plan:
    """Where each step of an estimator runs under one backend.

    Attributes
    ----------
    backend : str
        The backend's name.
    backend_source : str
        Where the choice came from: ``"argument"``, ``"context"``,
        ``"environment"`` or ``"default"``.
    backend_options : dict
        The backend's options that differ from their defaults.
    data : str
        The form of the input data (``"NumPy float64 (1797, 64)"``), or
        ``"not given"``.
    steps : tuple of Placement
        One entry per leaf estimator, in execution order.
    """

    backend: str
    backend_source: str
    backend_options: dict[str, Any]
    data: str
    steps: tuple[Placement, ...]

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
            "steps": [asdict(step) for step in self.steps],
        }

    def __str__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.backend_options.items())
        lines = [
            f"Plan: backend {self.backend!r} ({_SOURCE_TEXT[self.backend_source]})"
            + (f", options {options}" if options else ""),
            f"Input: {self.data}",
        ]
        headers = ("step", "estimator", "device", "engine", "parallelism", "data form")
        rows = [tuple(str(getattr(step, col)) for col in _COLUMNS) for step in self.steps]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for row, step in zip(rows, self.steps):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            lines.append(f"    why: {step.reason}")
        return "\n".join(lines)


_SOURCE_TEXT = {
    "argument": "chosen by argument",
    "context": "from the active scaleml.backend(...) block",
    "environment": "from SCALEML_BACKEND",
    "default": "the default",
}


def iter_steps(estimator: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, estimator)`` for each step in execution order.

    Pipelines (anything with a ``steps`` list of ``(name, estimator)`` pairs) are
    descended into, nested ones too, skipping ``"passthrough"`` and ``None`` steps.
    Every other estimator is one step: ``FeatureUnion``, ``ColumnTransformer`` and
    searches such as ``GridSearchCV`` included, since their parts run side by side
    on the same input rather than one after another.
    """
    steps = getattr(estimator, "steps", None)
    if not (isinstance(steps, list) and all(isinstance(s, tuple) and len(s) == 2 for s in steps)):
        yield (prefix.rstrip("/") or type(estimator).__name__), estimator
        return
    for name, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        yield from iter_steps(step, f"{prefix}{name}/")


def make_plan(estimator: Any, resolved: ResolvedBackend, X: Any = None) -> Plan:
    """Ask ``resolved.backend`` to place every step of ``estimator``."""
    backend = resolved.backend
    data = describe_data(X) if X is not None else "not given"
    placements = []
    previous = None
    for path, step in iter_steps(estimator):
        data_form = data if previous is None else f"output of {previous}"
        placements.append(backend.place(path, step, data_form, X))
        previous = path
    return Plan(backend.name, resolved.source, backend.changed_options(), data, tuple(placements))


def explain(estimator: Any, backend: str | None = None, X: Any = None, **backend_options: Any) -> Plan:
    """Say where each step of ``estimator`` would run, without fitting it.

    Parameters
    ----------
    estimator : estimator
        A scikit-learn estimator or pipeline, or a :class:`scaleml.Scaled`
        (whose own backend and options are then used unless overridden here).
    backend : str, optional
        Backend name; by default the same precedence as ``Scaled``: the active
        ``scaleml.backend(...)`` block, then ``SCALEML_BACKEND``, then ``"local"``.
    X : array-like, optional
        The data it would be fitted on; only its form is read.
    **backend_options
        Options of the backend.

    Returns
    -------
    Plan
        Printable; also iterable over its steps.
    """
    from .scaled import Scaled

    if isinstance(estimator, Scaled):
        backend = estimator.backend if backend is None else backend
        backend_options = {**estimator.get_backend_options(), **backend_options}
        estimator = estimator.estimator
    with resolve_backend(backend, backend_options) as resolved:
        return make_plan(estimator, resolved, X)
