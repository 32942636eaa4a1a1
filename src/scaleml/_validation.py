"""One way to check parameters, for scaleml's estimators and its backends' options.

The pattern is scikit-learn's: each class lists ``_parameter_constraints``, a
mapping from parameter name to the list of constraints a valid value meets (any
one of them), and the check runs at ``fit``. Errors read as scikit-learn's do::

    The 'batch_size' parameter of CNNClassifier must be an int in the range [1, inf). Got 0 instead.

Constraints:

- ``Interval(Integral | Real | RealNotInt, left, right, closed=...)``
- ``StrOptions({"a", "b"})``, ``Options(type, {values})``
- ``"boolean"``, ``"random_state"``, ``"verbose"``
- ``None`` (the value None is allowed), a type (instances of it), ``callable``
- ``HasMethods("fit", ...)``, ``Predicate(check, "what it accepts")``
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import InvalidParameterError


class RealNotInt(numbers.Real):
    """Real numbers that are not integers (``1.0`` yes, ``1`` no), as in scikit-learn."""


RealNotInt.register(float)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _is_integral(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not _is_bool(value)


@dataclass(frozen=True)
class Interval:
    """Numbers of ``type`` between ``left`` and ``right`` (None: unbounded).

    ``closed`` is ``"left"``, ``"right"``, ``"both"`` or ``"neither"``.
    """

    type: type
    left: float | None
    right: float | None
    closed: str = "both"

    def is_satisfied_by(self, value: Any) -> bool:
        if self.type is numbers.Integral:
            if not _is_integral(value):
                return False
        elif self.type is RealNotInt:
            if not _is_real(value) or _is_integral(value):
                return False
        elif not _is_real(value):
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        left_ok = self.left is None or (value >= self.left if self.closed in ("left", "both") else value > self.left)
        right_ok = self.right is None or (value <= self.right if self.closed in ("right", "both") else value < self.right)
        return left_ok and right_ok

    def __str__(self) -> str:
        kind = "an int" if self.type is numbers.Integral else "a float"
        left = "-inf" if self.left is None else f"{self.left:g}" if isinstance(self.left, float) else str(self.left)
        right = "inf" if self.right is None else f"{self.right:g}" if isinstance(self.right, float) else str(self.right)
        opening = "[" if self.closed in ("left", "both") and self.left is not None else "("
        closing = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in the range {opening}{left}, {right}{closing}"


@dataclass(frozen=True)
class StrOptions:
    """One of a set of strings."""

    options: frozenset[str]

    def __init__(self, options: Iterable[str]) -> None:
        object.__setattr__(self, "options", frozenset(options))

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        return "a str among {" + ", ".join(repr(o) for o in sorted(self.options)) + "}"


@dataclass(frozen=True)
class Options:
    """One of a set of values of ``type``."""

    type: type
    options: frozenset[Any]

    def __init__(self, type: type, options: Iterable[Any]) -> None:  # noqa: A002 - scikit-learn's name
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "options", frozenset(options))

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, self.type) and value in self.options

    def __str__(self) -> str:
        return f"a {self.type.__name__} among {{" + ", ".join(repr(o) for o in sorted(self.options, key=repr)) + "}"


@dataclass(frozen=True)
class HasMethods:
    """An object with all of these methods."""

    methods: tuple[str, ...]

    def __init__(self, *methods: str) -> None:
        object.__setattr__(self, "methods", methods)

    def is_satisfied_by(self, value: Any) -> bool:
        return all(callable(getattr(value, m, None)) for m in self.methods)

    def __str__(self) -> str:
        return "an object implementing " + " and ".join(repr(m) for m in self.methods)


def _satisfies(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if hasattr(constraint, "is_satisfied_by"):
        return constraint.is_satisfied_by(value)
    if constraint == "boolean":
        return _is_bool(value)
    if constraint == "random_state":
        return value is None or _is_integral(value) or type(value).__name__ in ("RandomState", "Generator")
    if constraint == "verbose":
        return _is_bool(value) or _is_integral(value)
    if constraint is callable:
        return callable(value)
    if isinstance(constraint, type):
        return isinstance(value, constraint) and not (constraint is not bool and _is_bool(value))
    raise TypeError(f"Unknown parameter constraint {constraint!r}")


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if constraint == "boolean":
        return "a bool"
    if constraint == "random_state":
        return "an int, a numpy RandomState or None"
    if constraint == "verbose":
        return "an int or a bool"
    if constraint is callable:
        return "a callable"
    if isinstance(constraint, type):
        return f"an instance of {constraint.__name__!r}"
    return str(constraint)


def describe_constraints(constraints: list[Any]) -> str:
    """``"an int in the range [1, inf) or None"``: what a parameter may be."""
    texts = [_describe(c) for c in constraints]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]


def validate_params(
    constraints: Mapping[str, list[Any] | str],
    params: Mapping[str, Any],
    owner: str,
    *,
    kind: str = "parameter",
    error: type[InvalidParameterError] = InvalidParameterError,
) -> None:
    """Raise ``error`` for the first parameter whose value meets none of its constraints.

    ``owner`` names what the parameters belong to (``"CNNClassifier"``,
    ``"backend 'dask'"``); ``kind`` is ``"parameter"`` or ``"option"``.
    Parameters absent from ``constraints``, or constrained by ``"no_validation"``,
    are not checked.
    """
    for name, value in params.items():
        allowed = constraints.get(name, "no_validation")
        if allowed == "no_validation":
            continue
        if any(_satisfies(c, value) for c in allowed):
            continue
        raise error(
            f"The {name!r} {kind} of {owner} must be {describe_constraints(allowed)}. Got {value!r} instead."
        )


class ValidatedParams:
    """Mixin for scaleml's estimators: ``_validate_params()`` checks ``_parameter_constraints``."""

    _parameter_constraints: dict[str, list[Any] | str] = {}

    def _validate_params(self) -> None:
        validate_params(self._parameter_constraints, self.get_params(deep=False), type(self).__name__)


@dataclass(frozen=True)
class Predicate:
    """Values for which ``check(value)`` is true; ``description`` says what they are."""

    check: Callable[[Any], bool]
    description: str

    def is_satisfied_by(self, value: Any) -> bool:
        try:
            return bool(self.check(value))
        except Exception:  # noqa: BLE001 - a value the predicate cannot even look at is invalid
            return False

    def __str__(self) -> str:
        return self.description
