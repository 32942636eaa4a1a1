"""Data a fit needs on every worker: sent once from this process, copied among the workers.

``client.scatter(obj, broadcast=True)`` looks like the way, and is not, on today's Dask:
the scheduler's Active Memory Manager drops every replica but one within seconds
(``ReduceReplicas``: a key held by no waiting task on a worker needs one copy), so tasks
fetch the data again, all from the one holder left: measured on the rehearsal cluster
(bench/rehearsal), every worker received the data twice and the first holder sent it
to each one (N copies from one link).

:class:`Spread` sends the data once (through the scheduler, to one worker), then
copies it in rounds that double the holders (1, 2, 4, ...; each new copy fetched from a
holder the receiving worker picks at random: Dask's ``replicate``), so N workers hold it
after log2(N) rounds, and keeps every copy: on each worker, as soon as its copy lands, a
*holder* task that depends on the data leaves the worker's thread pool (``secede``) and
waits: while it waits, the scheduler counts a task on that worker still needing the
data, and the memory manager keeps that worker's copy. Each holder ends once the data's
key is gone from the cluster: when the fit releases it, or when this process exits.
"""

from __future__ import annotations

import threading
from typing import Any

from .cluster import workers_of

HOLD_POLL_S = 1.0  # how often a holder checks that its data is still wanted


def _hold(data: Any, key: str) -> int:
    """Run on a worker: keep ``data`` wanted here until its ``key`` is released."""
    import time

    from distributed import get_client, secede

    secede()  # waits outside the worker's thread pool: other tasks run meanwhile
    client = get_client()
    # Asked by key: a Future made here would itself keep the data wanted.
    while client.sync(client.scheduler.who_has, keys=[key]).get(key):
        time.sleep(HOLD_POLL_S)
    return 0


class Spread:
    """Objects sent once and kept on every worker of ``client``'s cluster until :meth:`release`.

    Parameters
    ----------
    client : distributed.Client
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._futures: list[Any] = []
        self.nbytes = 0

    def put(self, obj: Any) -> Any:
        """A future of ``obj``, with a copy on every worker present now when this returns."""
        from dask.sizeof import sizeof

        future = self.client.scatter(obj, hash=False)  # one copy, through the scheduler
        have = sorted(self.client.who_has([future]).get(future.key, ()))
        waiting = [w for w in sorted(workers_of(self.client)) if w not in have]
        keep = [future, *(self._holder(future, w) for w in have)]
        while waiting:
            # As many new copies as holders, each from a holder picked at random by the
            # receiving worker; held at once, before the memory manager's next pass.
            targets, waiting = waiting[:len(have)], waiting[len(have):]
            self.client.replicate([future], n=len(have) + len(targets), workers=have + targets)
            keep += [self._holder(future, w) for w in targets]
            have += targets
        with self._lock:
            self._futures += keep
            self.nbytes += sizeof(obj)
        return future

    def _holder(self, future: Any, worker: str) -> Any:
        return self.client.submit(_hold, future, future.key, workers=[worker], allow_other_workers=False,
                                  pure=False, key=f"scaleml-hold-{future.key}-{worker}")

    def release(self) -> None:
        """Free every copy; each holder sees its data gone and ends within a second or two."""
        with self._lock:
            futures, self._futures = self._futures, []
        if futures and self.client.status == "running":
            try:
                self.client.cancel(futures)
            except OSError:
                pass  # the scheduler is gone, and the copies with it
