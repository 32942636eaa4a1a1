"""A joblib backend that runs ``n_jobs`` work on a Dask cluster.

Unlike joblib's own dask backend it (1) sends each large argument to every worker
once, so no task waits for the one worker that holds the data and losing a worker
loses no data; (2) groups calls into one task only when they are shorter than a task's
scheduling cost, judged by the time the calls took on the worker, not by the round
trip, which queueing inflates (a cross-validation fit goes alone, a single tree does
not); (3) runs nested ``Parallel`` calls sequentially inside a task instead of sending
them back to the cluster. As joblib's, it names tasks after the function they run,
brings a task's exception back with the worker's traceback, and submits to a
cluster without workers (an adaptive one scales up) before waiting for one.
"""

from __future__ import annotations

import pickle
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Iterable
from typing import Any

import joblib
from joblib.parallel import ParallelBackendBase

from .._progress import Progress
from ..exceptions import ClusterConnectionError


class _RemoteTraceback(Exception):
    """The traceback of an exception raised on a worker, shown as its cause."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class _Raised:
    """What a task returns when its calls raised: the exception and its traceback as text
    (traceback objects do not travel between processes)."""

    def __init__(self, exc: BaseException) -> None:
        self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            pickle.loads(pickle.dumps(exc))  # some pickle but cannot be rebuilt (required __init__ arguments)
            self.exc = exc
        except Exception:  # noqa: BLE001 - an exception that cannot travel: its words can
            self.exc = RuntimeError(f"{type(exc).__name__}: {exc}")

    def reraise(self) -> None:
        self.exc.__cause__ = _RemoteTraceback(self.traceback)
        raise self.exc


class _Dependency:
    """Stands, inside a packed batch, for the ``index``-th future passed beside it."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __reduce__(self) -> tuple:
        return _Dependency, (self.index,)


def _pack(calls: list[tuple[Any, tuple, dict]], future_for: Any) -> tuple[bytes, list]:
    """A joblib batch as one ``bytes`` payload plus the futures its arguments stand for.

    Dask's scheduler unpickles every task it is sent and pickles it again for the
    worker; scikit-learn's calls carry ~100 KB each (the search object, its callback
    context), which made the scheduler the busiest process for batches of millisecond
    fits. Bytes pass through it as they are. Large arguments become futures of data
    already on the workers (``future_for``); they stay outside the bytes so that
    Dask still sees them as dependencies.
    """
    import cloudpickle

    dependencies: list = []
    index: dict[int, _Dependency] = {}  # id(future) -> its stand-in: each future listed once

    def stand_in(value: Any) -> Any:
        sent = future_for(value)
        if sent is value:
            return value
        if id(sent) not in index:
            dependencies.append(sent)
            index[id(sent)] = _Dependency(len(dependencies) - 1)
        return index[id(sent)]

    packed = [(f, tuple(map(stand_in, args)), {k: stand_in(v) for k, v in kwargs.items()}) for f, args, kwargs in calls]
    return cloudpickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL), dependencies


def _run_packed(payload: bytes, dependencies: list) -> Any:
    """Run on a worker: the calls of one packed batch, nested parallelism sequential.

    Returns ``(results, seconds the calls took here)``, or a ``_Raised`` (a
    KeyboardInterrupt included, which must not look like a crashed worker).
    """

    def resolved(value: Any) -> Any:
        return dependencies[value.index] if isinstance(value, _Dependency) else value

    try:
        calls = pickle.loads(payload)
        # Timed from here: unpickling is a batch's fixed cost, and on a cold worker it
        # imports modules, which would make the first calls look slow.
        start = time.perf_counter()
        with joblib.parallel_config(backend="sequential"):
            results = [
                func(*map(resolved, args), **{k: resolved(v) for k, v in kwargs.items()})
                for func, args, kwargs in calls
            ]
    except BaseException as exc:  # noqa: BLE001 - sent back and raised where the user called
        return _Raised(exc)
    return results, time.perf_counter() - start


def _probe() -> None:
    """A task that only shows a worker is there."""


def _task_key(func: Any, calls: int) -> str:
    """A task name the dashboard can tell apart, as joblib's own dask backend does:
    ``fit_and_score-batch-of-12-<id>``."""
    func = getattr(func, "function", func)  # scikit-learn's delayed() wraps the function
    name = getattr(func, "__name__", None) or type(func).__name__
    name = name.strip("_<>").replace("_", "-") or "call"
    return f"{name}-batch-of-{calls}-{uuid.uuid4().hex}"


class BroadcastCache:
    """Futures of data already on every worker, keyed by the object's identity.

    ``movement`` is how it gets there: ``"peers"`` (sent once, copied among the workers
    and kept for the fit: :class:`scaleml.data.spread.Spread`) or ``"broadcast"`` (Dask's
    ``scatter(broadcast=True)``, whose copies the scheduler's memory manager drops).
    """

    def __init__(self, client: Any, min_bytes: int, movement: str = "peers") -> None:
        from ..data.spread import Spread

        self.client = client
        self.min_bytes = min_bytes
        self.movement = movement
        self._spread = Spread(client)
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
            if self.movement == "peers":
                future = self._spread.put(obj)
            else:
                future = self.client.scatter(obj, broadcast=True, hash=False)
            self._entries[key] = (ref, future)
            return future

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
    data_movement : {"peers", "broadcast"}
        How large arguments reach the workers (see :class:`BroadcastCache`).

    Attributes
    ----------
    tasks, calls : int
        Tasks submitted and the calls they held, for the plan.
    """

    supports_retrieve_callback = True
    default_n_jobs = -1
    # Calls shorter than a task's scheduling cost are grouped: a batch that took less
    # than MIN_TASK_SECONDS on its worker grows (at most 2x) towards twice that; one
    # past MAX_TASK_SECONDS shrinks back; in between the size stays (joblib's band).
    # A call that takes longer than MIN_TASK_SECONDS alone (a cross-validation fit)
    # goes one per task, so no worker waits behind another's batch.
    MIN_TASK_SECONDS = 0.2
    MAX_TASK_SECONDS = 2.0

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
        data_movement: str = "peers",
        **backend_kwargs: Any,
    ) -> None:
        super().__init__(
            nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads, **backend_kwargs
        )
        self.get_client = get_client
        self.broadcast_min_bytes = broadcast_min_bytes
        self.wait_for_workers = wait_for_workers
        self.preload = preload
        self.data_movement = data_movement
        self.activity = activity if activity is not None else {"dask_tasks": 0, "joblib_calls": 0}
        self.progress = Progress("tasks", verbose=progress)
        self.tasks = 0
        self.calls = 0
        self._cache: BroadcastCache | None = None
        self.data_sent: str | None = None  # how the data reached the workers, once released
        self._futures: dict[Any, bool] = {}  # future -> whether it runs a joblib batch (else one callable)
        self._batch_size = 1
        self._lock = threading.Lock()
        # Tasks sent and not yet back, and whether the batch size may still grow: while it
        # may, the thread that started the Parallel call holds back (see compute_batch_size).
        self._timed = threading.Condition(self._lock)
        self._in_flight = 0
        self._growing = True
        self._threads = 1  # the cluster's worker threads, as last counted
        self._caller: threading.Thread | None = None

    @property
    def client(self) -> Any:
        return self.get_client()

    @property
    def cache(self) -> BroadcastCache:
        if self._cache is None:
            self._cache = BroadcastCache(self.client, self.broadcast_min_bytes or float("inf"), self.data_movement)
            self._cache.preload(self.preload)
        return self._cache

    def release(self) -> None:
        """Free the broadcast data (the end of a fit or block)."""
        self.progress.close()
        if self._cache is not None:
            self.data_sent = self._cache.describe()
            self._cache.release()
            self._cache = None

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        threads = sum(self.client.nthreads().values())
        if not threads:
            threads = self._probe_for_workers()
        self._threads = max(1, threads)
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        if n_jobs < 0:
            return max(threads + 1 + n_jobs, 1)
        return n_jobs

    def _probe_for_workers(self) -> int:
        """A cluster without workers yet (adaptive, or still scaling): submit a probe task,
        which is what makes an adaptive cluster start workers, and wait for it, bounded."""
        import distributed

        try:
            self.client.submit(_probe, pure=False).result(timeout=self.wait_for_workers)
        except (TimeoutError, distributed.TimeoutError):
            address = getattr(self.client.scheduler, "address", "(unknown)")
            raise ClusterConnectionError(
                f"The Dask scheduler at {address} has no workers after {self.wait_for_workers:g} s. Start some "
                "with `dask worker <scheduler-address>`, or raise the backend's timeout= for a cluster that scales up slowly."
            ) from None
        return sum(self.client.nthreads().values())

    def start_call(self) -> None:
        with self._lock:
            self._batch_size = 1  # every Parallel call starts unbatched, then measures
            self._growing = True
            self._caller = threading.current_thread()

    def compute_batch_size(self) -> int:
        """The size of the next batch; with ``pre_dispatch="all"``, may wait for a timing.

        joblib asks for a size before it builds each batch. A call with
        ``pre_dispatch="all"`` (scikit-learn's ``learning_curve``) builds every batch
        before any has run, at size 1: a task each for a hundred 5 ms fits. So in such a
        call, while the size may still grow and two tasks per worker thread are already
        out, the thread that started the call waits for the next timing. A wait past
        ``MAX_TASK_SECONDS`` ends the growing: calls that slow need no batching. Dask's
        callback thread never waits: the timings arrive on it.
        """
        with self._timed:
            if (threading.current_thread() is self._caller
                    and getattr(getattr(self, "parallel", None), "pre_dispatch", None) == "all"):
                deadline = time.monotonic() + self.MAX_TASK_SECONDS
                while self._growing and self._in_flight >= 2 * self._threads:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._growing = False
                        break
                    self._timed.wait(left)
            return self._batch_size

    def batch_completed(self, batch_size: int, duration: float) -> None:
        """Not used: ``duration`` is joblib's round trip, which time spent queueing inflates
        (a busy or remote cluster kept tiny fits one per task); see :meth:`_worker_timed`."""

    def _worker_timed(self, calls: int, seconds: float) -> None:
        """Size the next batches from the time ``calls`` took on the worker (lock held).

        Any batch short enough to say the size should grow counts, one sized before the
        last change too: joblib sends ``2 * n_jobs`` batches before the first returns,
        and waiting for one of each new size to return made the climb from 1 to 8 take
        three rounds of batches. Growth stays at most 2x per timing (calls in one
        ``Parallel`` call may differ in length); keeping or shrinking the size is decided
        only by batches of the current size.
        """
        if seconds < self.MIN_TASK_SECONDS:
            ideal = int(2 * self.MIN_TASK_SECONDS * calls / seconds) if seconds > 0 else 2 * self._batch_size
            if ideal > self._batch_size:
                self._batch_size = min(ideal, 2 * self._batch_size)
                self._growing = True
        elif calls == self._batch_size:
            self._growing = False
            if seconds > self.MAX_TASK_SECONDS and calls > 1:
                self._batch_size = max(1, int(2 * self.MIN_TASK_SECONDS * calls / seconds))

    def submit(self, func: Any, callback: Any = None) -> Any:
        # A joblib batch lists its calls in `items` (joblib's own dask backend reads
        # it too); large arguments are replaced by futures of data on the workers.
        items = getattr(func, "items", None)
        if items is None:
            calls, batch = [(func, (), {})], False
        else:
            calls, batch = items, True
        payload, dependencies = _pack(calls, self.cache.future_for)
        future = self.client.submit(
            _run_packed, payload, dependencies, key=_task_key(calls[0][0], len(calls)), pure=False
        )
        with self._lock:  # joblib also submits from its callback threads
            self._in_flight += 1
            self.tasks += 1
            self.calls += len(calls)
            self.activity["dask_tasks"] += 1
            self.activity["joblib_calls"] += len(calls)
        self.progress.add_sent()
        self._futures[future] = batch
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def retrieve_result_callback(self, future: Any) -> Any:
        batch = self._futures.pop(future, True)
        self.progress.add_done()
        out = None
        try:
            out = future.result()
        finally:
            # The count and the timing change together, so a waiting caller that wakes
            # reads the size this batch's timing gave.
            with self._timed:
                self._in_flight = max(0, self._in_flight - 1)  # abort_everything zeroed it
                if batch and isinstance(out, tuple):
                    self._worker_timed(len(out[0]), out[1])
                self._timed.notify_all()
        if isinstance(out, _Raised):
            out.reraise()
        results = out[0]
        return results if batch else results[0]

    def abort_everything(self, ensure_ready: bool = True) -> None:
        with self._timed:
            self._in_flight, self._growing = 0, False
            self._timed.notify_all()
        futures, self._futures = list(self._futures), {}
        if futures:
            self.client.cancel(futures)
