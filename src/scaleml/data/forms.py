"""Recognising and describing the forms data comes in, without importing any engine.

Dask, torch and CuPy types are recognised by their module name, so nothing here
imports them and nothing reads data: lazy collections stay lazy.
"""

from __future__ import annotations

import numbers
import os
from typing import Any


def is_path(X: Any) -> bool:
    """Whether ``X`` names files (a ``str`` or ``os.PathLike``)."""
    return isinstance(X, (str, os.PathLike))


def is_dask(X: Any) -> bool:
    """Whether ``X`` is a Dask collection (array, DataFrame, Series); not a ``dask.delayed`` value."""
    return type(X).__module__.split(".", 1)[0] in ("dask", "dask_expr") and not is_delayed(X)


def is_delayed(X: Any) -> bool:
    """Whether ``X`` is a ``dask.delayed`` value (a whole object computed on demand, not blocks)."""
    return type(X).__module__ == "dask.delayed"


def computed_delayed(X: Any, y: Any, fit_params: dict) -> tuple[Any, Any, dict]:
    """``X``, ``y`` and the fit parameters with every ``dask.delayed`` value computed, in one
    ``dask.compute``: a delayed value is one whole object (as dask-ml's searches took them), so
    it is brought here as scikit-learn would take it; anything else is left as it is."""
    values = {"X": X, "y": y, **{f"param:{k}": v for k, v in fit_params.items()}}
    delayed = {k: v for k, v in values.items() if is_delayed(v)}
    if not delayed:
        return X, y, fit_params
    import dask

    values.update(zip(delayed, dask.compute(*delayed.values())))
    params = {k[len("param:"):]: v for k, v in values.items() if k.startswith("param:")}
    return values["X"], values["y"], params


def is_lazy(X: Any) -> bool:
    """Whether ``X`` is read lazily, block by block: a Dask collection or a file path."""
    return is_path(X) or is_dask(X)


def describe_data(X: Any) -> str:
    """A short human description of ``X``'s form, e.g. ``"NumPy float64 (1797, 64)"``."""
    if X is None:
        return "none"
    module = type(X).__module__.split(".", 1)[0]
    cls = type(X).__name__
    shape = getattr(X, "shape", None)
    shape_text = ""
    if shape is not None:
        try:
            shape_text = " (" + ", ".join("?" if _unknown(s) else str(s) for s in shape) + ")"
        except TypeError:
            shape_text = ""
    dtype = getattr(X, "dtype", None)
    dtype_text = f" {dtype}" if dtype is not None and not isinstance(dtype, type) else ""
    if module == "numpy":
        return f"NumPy{dtype_text}{shape_text}"
    if module == "pandas":
        return f"pandas {cls}{shape_text}"
    if module == "scipy":
        fmt = getattr(X, "format", "sparse")
        return f"SciPy sparse {fmt}{dtype_text}{shape_text}"
    if is_dask(X):
        return f"Dask {cls}{shape_text}"
    if module == "torch":
        return f"torch tensor{dtype_text}{shape_text} on {getattr(X, 'device', '?')}"
    if module == "cupy":
        return f"CuPy{dtype_text}{shape_text}"
    if isinstance(X, (str, bytes)) or hasattr(X, "__fspath__"):
        return f"path {os.fsdecode(X)}"
    if isinstance(X, (list, tuple)):
        return f"Python {cls} of {len(X)} items"
    return cls


def array_kind(X: Any) -> str:
    """The array type a step received, for plans: ``"numpy.ndarray"``, ``"torch.Tensor on cpu"``."""
    module = type(X).__module__.split(".", 1)[0]
    kind = f"{module}.{type(X).__name__}"
    if module == "cupy":  # CuPy's device prints as "<CUDA Device 0>"
        return f"{kind} on cuda:{X.device.id}"
    return f"{kind} on {X.device}" if module == "torch" else kind


def _unknown(size: Any) -> bool:
    # A Dask DataFrame's row count is a lazy scalar: unknown until computed.
    return size is None or (isinstance(size, float) and size != size) or not isinstance(size, numbers.Number)
