"""Rows in blocks, in memory or on Dask, and one reduction per pass over them.

A fit asks for sums over every row (the loss and its derivatives, or the
cross-products of least squares). :class:`BlockedData` computes them as one task
per block plus a tree of merges, so only the sums travel: with a Dask cluster
the blocks are read, kept (``persist``) and reduced on the workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._blocks import add_sums

_FAN_IN = 8


def current_client() -> Any:
    """Where lazy passes run: the cluster of the active scaleml backend (a
    ``scaleml.backend("dask")`` block, or ``Scaled(..., backend="dask")``), else
    the default ``distributed.Client``, else None (threads in this process)."""
    from .._config import active_backend
    from ..backends._base import cluster_client

    client = cluster_client(active_backend())
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def is_lazy(X: Any) -> bool:
    from ..backends._dask_data import is_lazy as _is_lazy

    return _is_lazy(X)


class BlockedData:
    """An ``(X, y)`` data set as blocks of rows.

    Parameters
    ----------
    parts : list
        ``(X_block, y_block)`` tuples (in memory) or delayed ones (lazy).
    lazy : bool
        Whether ``parts`` are Dask delayed objects.
    client : distributed.Client or None
        Where lazy passes run; None runs them on threads in this process.
    description : str
        For messages.
    nbytes : int or None
        Size of X when known before reading it.
    y_unique : Dask collection or None
        Computes the distinct targets of lazy data.
    y_ndim : int
        1 for one target per row, 2 for several.
    n_features : int or None
        Columns of X, when known before reading it.
    """

    def __init__(self, parts, lazy, client=None, description="", nbytes=None, y_unique=None, y_ndim=1, n_features=None):
        self.parts = parts
        self.n_features = n_features
        self.y_ndim = y_ndim
        self.lazy = lazy
        self.client = client
        self.description = description
        self.nbytes = nbytes
        self.y_unique = y_unique
        self.persisted = False
        self.passes = 0

    @classmethod
    def from_input(cls, X: Any, y: Any, client: Any = None) -> BlockedData:
        """Blocks of a Dask array/DataFrame or a Parquet/CSV path, or one in-memory block."""
        if not is_lazy(X):
            nbytes = X.data.nbytes if hasattr(X, "tocsr") else X.nbytes
            return cls([(X, y)], lazy=False, description="in-memory arrays", nbytes=nbytes, y_ndim=np.ndim(y))
        if getattr(y, "ndim", 1) != 1:
            raise ValueError(
                f"With lazy X, y must be 1-d (one target per row); got {y.ndim} dimensions. "
                "Fit one model per target, or load the data in memory."
            )
        from ..backends._dask_data import to_lazy

        data = to_lazy(X, y)
        return cls(
            data.parts, lazy=True, client=client if client is not None else current_client(),
            description=data.description, nbytes=data.nbytes, y_unique=data.y_unique,
            n_features=data.n_features,
        )

    # -- passes -----------------------------------------------------------------

    def reduce(self, fn: Callable, *args: Any, merge: Callable = add_sums) -> Any:
        """``merge`` of ``fn(part, *args)`` over every block: one pass over the data."""
        self.passes += 1
        if not self.lazy:
            return merge(*(fn(part, *args) for part in self.parts))
        import dask

        level = [dask.delayed(fn, pure=True)(part, *args) for part in self.parts]
        while len(level) > 1:
            level = [dask.delayed(merge, pure=True)(*level[i : i + _FAN_IN]) for i in range(0, len(level), _FAN_IN)]
        return self.compute(level[0])

    def compute(self, collection: Any) -> Any:
        from ..backends._dask_data import compute

        return compute(collection, self.client)

    def classes(self) -> np.ndarray:
        if not self.lazy:
            return np.unique(self.parts[0][1])
        if self.y_unique is None:
            raise ValueError("y is required: pass the targets (a Dask array or the target column's name).")
        return np.unique(np.asarray(self.compute(self.y_unique)))

    # -- keeping blocks in memory ----------------------------------------------------

    def memory_budget(self) -> int:
        """Bytes the blocks may take when kept: half the workers' memory limits,
        or a quarter of this machine's available memory without a cluster."""
        import psutil

        if self.client is None:
            return psutil.virtual_memory().available // 4
        limits = [w.get("memory_limit") or 0 for w in self.client.scheduler_info()["workers"].values()]
        if not limits or 0 in limits:
            return psutil.virtual_memory().available // 2
        return sum(limits) // 2

    def persist(self, mode: bool | str, nbytes: int | None) -> str:
        """Keep the blocks in memory between passes when ``mode`` (or ``"auto"``) allows.

        Returns a sentence for the fit's report: where the blocks live, and why.
        """
        if not self.lazy:
            return "in memory"
        if mode is False:
            return "read from the source on every pass (persist=False)"
        if mode == "auto":
            budget = self.memory_budget()
            if nbytes is None or math.isnan(nbytes) or nbytes > budget:
                return (
                    f"read from the source on every pass: {_mib(nbytes)} exceeds the "
                    f"{_mib(budget)} budget for keeping blocks (persist='auto')"
                )
        if self.client is not None:
            self.parts = self.client.persist(self.parts)
            where = "kept on the Dask workers"
        else:
            import dask

            self.parts = list(dask.persist(*self.parts, scheduler="threads"))
            where = "kept in this process"
        self.persisted = True
        return f"{where} ({_mib(nbytes)})"


def _mib(nbytes: float | None) -> str:
    return "unknown size" if nbytes is None or math.isnan(nbytes) else f"{nbytes / 2**20:.0f} MiB"
