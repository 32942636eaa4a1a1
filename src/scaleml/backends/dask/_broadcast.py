"""Large arguments of the dask backend's tasks, sent to every worker once and shared by
every ``Parallel`` call under the backend (see :class:`BroadcastCache`)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from ...engines.dask.spread import LOST


class BroadcastCache:
    """Futures of data already on every worker, keyed by the object's identity.

    ``movement`` is how it gets there: ``"peers"`` (sent once, copied among the workers
    and kept for the fit: :class:`scaleml.engines.dask.spread.Spread`) or ``"broadcast"`` (Dask's
    ``scatter(broadcast=True)``, whose copies the scheduler's memory manager drops).
    """

    def __init__(self, client: Any, min_bytes: int, movement: str = "peers") -> None:
        from ...engines.dask.spread import Spread

        self.client = client
        self.min_bytes = min_bytes
        self.movement = movement
        self._spread = Spread(client)
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[Any, Any]] = {}
        self._workers: dict | None = None  # the workers as they were before anything was sent
        self._held = 0  # bytes every worker holds for this cache

    def future_for(self, obj: Any) -> Any:
        """A future standing for ``obj`` on every worker, or ``obj`` itself if small."""
        from dask.sizeof import sizeof

        if obj is None or isinstance(obj, (int, float, str, bool, bytes)):
            return obj
        key = id(obj)
        with self._lock:
            entry = self._entries.get(key)
            resend = entry is not None and entry[0]() is obj
            if resend and entry[1].status not in LOST:  # (data sent from here is never recomputed)
                return entry[1]
            # A copy lost since (every worker holding it left, a `dask worker` stopped by
            # SIGTERM while it was the only holder): sent again from here, where the object
            # still is, rather than a task submitted with a cancelled future failing the fit.
            try:
                ref = weakref.ref(obj)
            except TypeError:
                return obj  # lists, tuples: not worth tracking, sent with the task
            size = sizeof(obj)
            if size < self.min_bytes:
                return obj
            if not resend:  # counted already
                self._check_room(size)
            if self.movement == "peers":
                future = self._spread.put(obj)
            else:
                future = self.client.scatter(obj, broadcast=True, hash=False)
            self._entries[key] = (ref, future)
            return future

    def _check_room(self, size: int) -> None:
        """Refuse an object that would take the data every worker holds past its memory
        budget (``OutOfMemoryBudgetError``), before it is sent.

        The workers' memory is read once, before the first object: read again later, it
        would count the copies already sent (and the fits running) twice.
        """
        from ...engines.dask.cluster import workers_of
        from ...engines.dask.memory import plan_budget

        if self._workers is None:
            self._workers = workers_of(self.client)
        plan_budget(self._workers, self._held + size, 0)
        self._held += size

    def preload(self, objects: Iterable[Any]) -> None:
        for obj in objects:
            self.future_for(obj)

    def describe(self) -> str | None:
        """How the data reached the workers, for the plan (None: nothing was sent ahead)."""
        if self.movement == "peers":
            return self._spread.describe() if self._spread.objects else None
        with self._lock:
            count = len(self._entries)
        return f"{count} object(s) sent with Dask's scatter(broadcast=True)" if count else None

    def release(self) -> None:
        with self._lock:
            futures = [future for _, future in self._entries.values()]
            self._entries.clear()
        self._spread.release()
        if futures:
            self.client.cancel(futures)
