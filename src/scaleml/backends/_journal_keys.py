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


def _rebuilt_set(kind: str, items: tuple) -> Any:  # never called: only its name is in a key
    return frozenset(items) if kind == "frozenset" else set(items)


class _KeyPickler(pickle.Pickler):
    """The C pickler, with sets in sorted order (their order follows the hash seed)."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) in (set, frozenset):
            try:
                return _rebuilt_set, (type(obj).__name__, tuple(sorted(obj)))
            except TypeError:  # unorderable members: as pickle writes them (a key that may differ: refitted)
                return NotImplemented
        return NotImplemented


def _digest(value: Any) -> str:
    if type(value) is np.ndarray and value.dtype.kind in "biufcUS" and value.dtype.fields is None:
        # An array's bytes straight into the hash: pickling X would first copy all of it.
        digest = hashlib.sha256(f"ndarray {value.dtype.str} {value.shape}".encode())
        digest.update(memoryview(np.ascontiguousarray(value)).cast("B"))
        return digest.hexdigest()
    buffer = io.BytesIO()
    try:
        _KeyPickler(buffer, protocol=5).dump(value)
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
        if hasattr(value, "get_params") and hasattr(value, "__dict__"):
            state = {k: v for k, v in vars(value).items() if k != "memory"}
            digest = _digest((type(value).__module__, type(value).__qualname__, state))
        else:
            digest = _digest(value)
        try:
            ref = weakref.ref(value, lambda _, i=id(value): self._held.pop(i, None))
        except TypeError:  # dicts, tuples, numbers: no weak references, hashed each time (they are small)
            return digest
        self._held[id(value)] = (ref, digest)
        return digest
