"""Fingerprints of a journal unit's arguments: what makes two calls the same unit.

Each argument is hashed from its pickle (SHA-256): an estimator by its class and its
state (parameters, and fitted attributes where it is fitted, as ``permutation_importance``
passes it), without ``memory`` (the cache folder scaleml gives a search's pipeline for one
run, ``share_prefix``, which changes no result); sets in sorted order, so that string
hashing's per-process seed does not change a key. Python's C pickler does this in
~0.05 ms for an estimator where :func:`joblib.hash`'s pure-Python one took ~0.4 ms, which
for millisecond fits was most of the journal's cost; what it cannot pickle (a lambda) is
tried with :func:`joblib.hash`, and what neither can is not journaled.

The same object passed to every unit (X, y, the scorer) is hashed once, while it lives
(by identity, held weakly).
"""

from __future__ import annotations

import hashlib
import io
import pickle
import weakref
from typing import Any

import numpy as np


def _canonical(value: Any) -> Any:
    """``value`` with its sets in a fixed order (a set's order follows the process's hash
    seed), and estimators and scikit-learn's other objects as their class and state (an
    estimator's without ``memory``), through the dicts, lists and tuples that hold them.
    Other objects are left to pickle."""
    kind = type(value)
    if kind in (set, frozenset):
        items = [_canonical(v) for v in value]
        try:
            items.sort(key=lambda v: pickle.dumps(v, protocol=5))
        except Exception:  # noqa: BLE001 - members that do not pickle: as they are (a key that may differ: refitted)
            pass
        return (kind.__name__, tuple(items))
    if kind is dict:
        return ("dict", tuple((_canonical(k), _canonical(v)) for k, v in value.items()))
    if kind in (list, tuple):
        return (kind.__name__, tuple(_canonical(v) for v in value))
    if hasattr(value, "__dict__") and not isinstance(value, type) and (
            hasattr(value, "get_params") or kind.__module__.split(".")[0] == "sklearn"):
        # Estimators, and scikit-learn's objects that hold them (a scorer holding a pipeline).
        state = {k: v for k, v in vars(value).items() if k != "memory"}
        return ("object", kind.__module__, kind.__qualname__, _canonical(state))
    return value


def _digest(value: Any) -> str:
    if type(value) is np.ndarray and value.dtype.kind in "biufcUS" and value.dtype.fields is None:
        # An array's bytes straight into the hash: pickling X would first copy all of it.
        digest = hashlib.sha256(f"ndarray {value.dtype.str} {value.shape}".encode())
        digest.update(memoryview(np.ascontiguousarray(value)).cast("B"))
        return digest.hexdigest()
    buffer = io.BytesIO()
    try:
        pickle.Pickler(buffer, protocol=5).dump(_canonical(value))
    except Exception:  # noqa: BLE001 - a lambda, a local class: joblib's hasher names functions instead
        import joblib

        return "joblib:" + joblib.hash(value)
    return hashlib.sha256(buffer.getbuffer()).hexdigest()


class Fingerprints:
    """Hashes of argument values for one run, the same object's once."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[Any, str]] = {}  # id(value) -> (weak reference, hash)

    def of(self, value: Any) -> str:
        """The value's fingerprint; raises for a value that cannot be hashed."""
        held = self._held.get(id(value))
        if held is not None and held[0]() is value:
            return held[1]
        digest = _digest(value)
        try:
            ref = weakref.ref(value, lambda _, i=id(value): self._held.pop(i, None))
        except TypeError:  # dicts, tuples, numbers: no weak references, hashed each time (they are small)
            return digest
        self._held[id(value)] = (ref, digest)
        return digest
