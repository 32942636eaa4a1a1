"""Running a block's delayed parts: computed on a Dask client's cluster, or on threads in
this process without one, and streamed here in order a few ahead (:class:`~.blocks.Blocks`
reads its parts through these).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any


def compute(collection: Any, client: Any = None) -> Any:
    """Compute a Dask collection on ``client``'s cluster, or on threads here without one."""
    if client is not None:
        return client.gather(client.compute(collection))  # one future, or a list of them
    import dask

    return dask.compute(collection, scheduler="threads")[0]


def _read_here(part: Any) -> Any:
    """Compute one delayed part on this thread, then hand back what reading it left unused.

    pyarrow's allocator (mimalloc) keeps the pages a read freed, per reading thread,
    for the next read: after a few Parquet blocks that was several times a block
    (bench/out_of_core/peak_rss.py); letting them go costs well under a millisecond.
    """
    import sys

    import dask

    result = dask.compute(part, scheduler="sync")[0]
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    return result


def stream(parts: list[Any], window: int = 1, client: Any = None) -> Iterator[tuple[Any, Any]]:
    """Yield each delayed part's result in order, at most ``window`` ahead.

    With a ``client`` the parts are computed on the cluster's workers and sent
    here; without one, by a pool of ``window`` threads in this process (file
    decoding releases the GIL, so reading overlaps the fit and nothing is copied
    between processes).
    """
    if client is not None:
        submit = client.compute
    else:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="scaleml-read")

        def submit(part: Any) -> Any:
            return pool.submit(_read_here, part)

    pending: deque = deque()
    remaining = iter(parts)

    def submit_next() -> None:
        part = next(remaining, None)
        if part is not None:
            pending.append(submit(part))

    try:
        for _ in range(window):
            submit_next()
        while pending:
            future = pending.popleft()
            block = future.result()
            if client is not None:
                future.release()
            submit_next()
            yield block
    finally:
        for future in pending:
            future.cancel()
        if client is None:
            pool.shutdown(wait=True)
