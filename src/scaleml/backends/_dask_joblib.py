"""A joblib backend that runs ``n_jobs`` work on a Dask cluster.

Unlike joblib's own dask backend it (1) sends each large argument to every worker
once, so no task waits for the one worker that holds the data and losing a worker
loses no data; (2) groups calls into one task only when they are shorter than a task's
scheduling cost (a cross-validation fit goes alone, a single tree does not); (3) runs nested
``Parallel`` calls sequentially inside a task instead of sending them back to the
cluster.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Iterable
from typing import Any

import joblib
from joblib.parallel import ParallelBackendBase

from .._progress import Progress
from ..data.cluster import total_threads


def _run_calls(calls: list[tuple[Any, tuple, dict]]) -> list[Any]:
    """Run on a worker: the calls of one joblib batch, nested parallelism sequential."""
    with joblib.parallel_config(backend="sequential"):
        return [func(*args, **kwargs) for func, args, kwargs in calls]


def _run_one(func: Any) -> Any:
    """Run on a worker: a callable that is not a joblib batch."""
    with joblib.parallel_config(backend="sequential"):
        return func()


def _task_key(func: Any, calls: int) -> str:
    """A task name the dashboard can tell apart, as joblib's own dask backend does:
    ``fit_and_score-batch-of-12-<id>``."""
    func = getattr(func, "function", func)  # scikit-learn's delayed() wraps the function
    name = getattr(func, "__name__", None) or type(func).__name__
    name = name.lstrip("_").replace("_", "-") or "call"
    return f"{name}-batch-of-{calls}-{uuid.uuid4().hex}"


class BroadcastCache:
    """Futures of data already sent to every worker, keyed by the object's identity."""

    def __init__(self, client: Any, min_bytes: int) -> None:
        self.client = client
        self.min_bytes = min_bytes
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[Any, Any]] = {}

    def future_for(self, obj: Any) -> Any:
        """A future standing for ``obj`` on every worker, or ``obj`` itself if small."""
        from dask.sizeof import sizeof

        if obj is None or isinstance(obj, (int, float, str, bool, bytes)):
            return obj
        key = id(obj)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is obj:
                return entry[1]
            try:
                ref = weakref.ref(obj)
            except TypeError:
                return obj  # lists, tuples: not worth tracking, sent with the task
            if sizeof(obj) < self.min_bytes:
                return obj
            future = self.client.scatter(obj, broadcast=True, hash=False)
            self._entries[key] = (ref, future)
            return future

    def preload(self, objects: Iterable[Any]) -> None:
        for obj in objects:
            self.future_for(obj)

    def release(self) -> None:
        with self._lock:
            futures = [future for _, future in self._entries.values()]
            self._entries.clear()
        if futures:
            self.client.cancel(futures)


class DaskJoblibBackend(ParallelBackendBase):
    """joblib ``ParallelBackendBase`` on a ``distributed.Client``, connected on first use.

    Parameters
    ----------
    get_client : callable
        Returns the ``distributed.Client``, starting the cluster if needed; called
        only when joblib first sends work, so a block without parallel work starts
        nothing.
    broadcast_min_bytes : int or None
        Arguments at least this large are sent to every worker once (shared by
        every ``Parallel`` call made under this backend), not with each task.
    wait_for_workers : float
        Seconds to wait for a first worker before failing.
    preload : tuple
        Objects to broadcast before the first task (a fit's X and y).

    Attributes
    ----------
    tasks, calls : int
        Tasks submitted and the calls they held, for the plan.
    """

    supports_retrieve_callback = True
    default_n_jobs = -1
    # Calls shorter than this are grouped into one task, since a task costs a few
    # milliseconds of scheduling; longer calls (a cross-validation fit) go one per
    # task, so no worker waits behind another's batch.
    target_task_seconds = 0.2

    def __init__(
        self,
        get_client: Any = None,
        broadcast_min_bytes: int | None = 100_000,
        wait_for_workers: float = 10.0,
        preload: tuple = (),
        activity: dict[str, int] | None = None,
        progress: bool = False,
        nesting_level: int | None = None,
        inner_max_num_threads: int | None = None,
        **backend_kwargs: Any,
    ) -> None:
        super().__init__(
            nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads, **backend_kwargs
        )
        self.get_client = get_client
        self.broadcast_min_bytes = broadcast_min_bytes
        self.wait_for_workers = wait_for_workers
        self.preload = preload
        self.activity = activity if activity is not None else {"dask_tasks": 0, "joblib_calls": 0}
        self.progress = Progress("tasks", verbose=progress)
        self.tasks = 0
        self.calls = 0
        self._cache: BroadcastCache | None = None
        self._futures: set[Any] = set()
        self._batch_size = 1

    @property
    def client(self) -> Any:
        return self.get_client()

    @property
    def cache(self) -> BroadcastCache:
        if self._cache is None:
            self._cache = BroadcastCache(self.client, self.broadcast_min_bytes or float("inf"))
            self._cache.preload(self.preload)
        return self._cache

    def release(self) -> None:
        """Free the broadcast data (the end of a fit or block)."""
        self.progress.close()
        if self._cache is not None:
            self._cache.release()
            self._cache = None

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        threads = total_threads(self.client, self.wait_for_workers)
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        if n_jobs < 0:
            return max(threads + 1 + n_jobs, 1)
        return n_jobs

    def start_call(self) -> None:
        self._batch_size = 1  # every Parallel call starts unbatched, then measures

    def compute_batch_size(self) -> int:
        return self._batch_size

    def batch_completed(self, batch_size: int, duration: float) -> None:
        if batch_size != self._batch_size or duration <= 0:
            return  # a batch sized before the last change
        ideal = int(self.target_task_seconds * batch_size / duration)
        # Grow at most 2x per batch (the first timings include start-up costs),
        # shrink at once when calls turn out slow.
        self._batch_size = max(1, min(ideal, 2 * batch_size))

    def submit(self, func: Any, callback: Any = None) -> Any:
        # A joblib batch lists its calls in `items` (joblib's own dask backend reads
        # it too); large arguments are replaced by futures of broadcast data.
        items = getattr(func, "items", None)
        if items is None:
            future = self.client.submit(_run_one, func, key=_task_key(func, 1), pure=False)
            calls = 1
        else:
            future_for = self.cache.future_for
            calls = [
                (f, tuple(map(future_for, args)), {k: future_for(v) for k, v in kwargs.items()})
                for f, args, kwargs in items
            ]
            future = self.client.submit(_run_calls, calls, key=_task_key(items[0][0], len(calls)), pure=False)
            calls = len(calls)
        self.tasks += 1
        self.calls += calls
        self.activity["dask_tasks"] += 1
        self.activity["joblib_calls"] += calls
        self.progress.add_sent()
        self._futures.add(future)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def retrieve_result_callback(self, future: Any) -> Any:
        self._futures.discard(future)
        self.progress.add_done()
        return future.result()

    def abort_everything(self, ensure_ready: bool = True) -> None:
        futures, self._futures = list(self._futures), set()
        if futures:
            self.client.cancel(futures)
