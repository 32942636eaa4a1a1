"""The results a resume journal keeps, as JSON that loads no code.

A unit's result (``_fit_and_score``'s dict of scores, times, sample count and fit
error; ``cross_val_predict``'s arrays; a permutation's scores) is written as JSON of
plain values, each tagged with its exact type so that it comes back as it went
(a ``numpy.float64`` stays one; a float keeps every bit: ``float.hex``). Anything
else (a fitted estimator, an object array, a class of the user's) cannot be written:
:func:`encode` raises :class:`NotJournaled` and the unit is simply not journaled,
so it is fitted again on a rerun. Reading builds only dicts, lists, tuples, str,
int, float, bool, None, NumPy scalars and arrays of plain dtypes: nothing is imported,
nothing is called.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

# Array and scalar dtypes a journal keeps: booleans, integers, floats, complex, fixed-width text.
_PLAIN_KINDS = frozenset("biufcU")


class NotJournaled(TypeError):
    """A result the journal cannot write as plain data (it is then refitted on a rerun)."""


def _plain_dtype(dtype: np.dtype) -> str:
    if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None:
        raise NotJournaled(f"dtype {dtype} is not kept")
    return dtype.str


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data with its types tagged; :class:`NotJournaled` otherwise."""
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return {"int": str(value)}
    if type(value) is float:
        return {"float": value.hex()}
    if isinstance(value, np.generic):
        return {"scalar": _plain_dtype(value.dtype), "b64": base64.b64encode(value.tobytes()).decode()}
    if type(value) is np.ndarray:
        return {"array": _plain_dtype(value.dtype), "shape": list(value.shape),
                "b64": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"dict": [[k, encode(v)] for k, v in value.items()]}
    if type(value) in (list, tuple):
        return {type(value).__name__: [encode(v) for v in value]}
    raise NotJournaled(f"a {type(value).__name__} is not kept")


def decode(data: Any) -> Any:
    """What :func:`encode` wrote, rebuilt; ``ValueError`` for anything it did not write."""
    if data is None or type(data) in (bool, str):
        return data
    if type(data) is not dict or len(data) not in (1, 2, 3):
        raise ValueError("not a journal value")
    if "int" in data:
        return int(data["int"])
    if "float" in data:
        return float.fromhex(data["float"])
    if "scalar" in data:
        dtype = np.dtype(_checked_dtype(data["scalar"]))
        return np.frombuffer(base64.b64decode(data["b64"], validate=True), dtype=dtype)[0]
    if "array" in data:
        dtype = np.dtype(_checked_dtype(data["array"]))
        flat = np.frombuffer(base64.b64decode(data["b64"], validate=True), dtype=dtype)
        return flat.reshape([int(n) for n in data["shape"]]).copy()
    if "dict" in data:
        return {str(k): decode(v) for k, v in data["dict"]}
    if "list" in data:
        return [decode(v) for v in data["list"]]
    if "tuple" in data:
        return tuple(decode(v) for v in data["tuple"])
    raise ValueError("not a journal value")


def _checked_dtype(text: Any) -> str:
    """A dtype string of a plain kind only (never ``O``: an object array would unpickle)."""
    if type(text) is not str or np.dtype(text).kind not in _PLAIN_KINDS or np.dtype(text).fields is not None:
        raise ValueError(f"dtype {text!r} is not one a journal writes")
    return text
