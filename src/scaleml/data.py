"""Describing and (in later backends) converting the inputs users pass.

Only the description lives here for now; it must not import dask, torch or cupy, so
it recognises their types by module name.
"""

from __future__ import annotations

from typing import Any


def describe_data(X: Any) -> str:
    """A short human description of ``X``'s form, e.g. ``"NumPy float64 (1797, 64)"``.

    Never imports an engine and never reads data: lazy collections stay lazy.
    """
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
    if module in ("dask", "dask_expr"):
        return f"Dask {cls}{shape_text}"
    if module == "torch":
        return f"torch tensor{dtype_text}{shape_text} on {getattr(X, 'device', '?')}"
    if module == "cupy":
        return f"CuPy{dtype_text}{shape_text}"
    if isinstance(X, (str, bytes)) or hasattr(X, "__fspath__"):
        return f"path {X}"
    if isinstance(X, (list, tuple)):
        return f"Python {cls} of {len(X)} items"
    return cls


def _unknown(size: Any) -> bool:
    return size is None or (isinstance(size, float) and size != size)
