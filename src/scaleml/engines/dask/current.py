"""Which Dask client the current work uses: the active backend's cluster, provided while
it works (started only when some work asks), else the user's own default client.

A stack per thread, apart from the connections ``cluster.py`` owns: backends push a
provider here (:func:`cluster_provider`); scaleml's estimators ask
:func:`current_client` or :func:`backend_client`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .cluster import in_dask_worker

# Thread-local, like the backend blocks themselves (and joblib's own configuration):
# it persists from one notebook cell to the next, which a ContextVar would not.
_active = threading.local()


@contextmanager
def cluster_provider(provider: Callable[[], Any] | None) -> Iterator[None]:
    """Inside the block, :func:`current_client` calls ``provider`` (None: no cluster).

    Backends set this while they work, so the cluster starts only when some work
    asks for it.
    """
    stack = _providers()
    entry = _Provided(provider)
    stack.append(entry)
    try:
        yield
    finally:
        stack.remove(entry)  # this block's own entry, even if blocks closed out of order


class _Provided:
    """One block's entry on the stack (compared by identity)."""

    def __init__(self, provider: Callable[[], Any] | None) -> None:
        self.provider = provider


def _providers() -> list[Any]:
    if not hasattr(_active, "providers"):
        _active.providers = []
    return _active.providers


def backend_client() -> Any:
    """The active backend's cluster (started now if needed), or None: outside a backend,
    for a backend without a cluster, and inside a Dask task. Unlike :func:`current_client`,
    never the user's own default client: for work that changes how it runs (data-parallel
    training) only when a backend was asked for."""
    stack = _providers()
    if not stack or stack[-1].provider is None or in_dask_worker():
        return None
    return stack[-1].provider()


def current_client() -> Any:
    """The ``distributed.Client`` the current work should use, or None for threads here.

    The active scaleml backend's cluster (a ``scaleml.backend("dask")`` block, or a
    ``Scaled(..., backend="dask")`` fit); outside any backend, the user's default
    ``distributed.Client`` if one exists; else None.
    """
    stack = _providers()
    if stack:
        provider = stack[-1].provider
        return None if provider is None else provider()
    if "distributed" not in sys.modules:
        return None  # no client can exist without distributed imported
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None
