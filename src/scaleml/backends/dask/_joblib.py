"""A joblib backend that runs ``n_jobs`` work on a Dask cluster.

Unlike joblib's own dask backend it (1) sends each large argument to every worker
once, so no task waits for the one worker that holds the data and losing a worker
loses no data; (2) groups calls into one task only when they are shorter than a task's
scheduling cost, judged by the time the calls took on the worker, not by the round
trip, which queueing inflates (a cross-validation fit goes alone, a single tree does
not), and sends the calls joblib cuts small at the end of its input as a few tasks,
not twenty (:mod:`._batching`); (3) runs nested ``Parallel`` calls sequentially inside a task instead of sending
them back to the cluster. As joblib's, it names tasks after the function they run,
brings a task's exception back with the worker's traceback, and submits to a
cluster without workers (an adaptive one scales up) before waiting for one.
"""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError
from typing import Any

from joblib.parallel import ParallelBackendBase

from ..._progress import Progress
from ...exceptions import ClusterConnectionError
from .._errors_in_order import ErrorsInInputOrder
from .._journal_joblib import JournalingBatches
from .._worker_say import caller_filters, replay
from ._batching import TaskSizing
from ._broadcast import BroadcastCache
from ._relay import Relaying
from ._tasks import QUIET, _pack, _probe, _Raised, _run_packed, _task_key


class _Part:
    """One joblib batch inside a Dask task, which may run several: what ``submit`` returns
    and joblib's callback receives; ``outcome`` is set when the task is done."""

    __slots__ = ("callback", "batch", "outcome", "said")

    def __init__(self, callback: Any, batch: bool) -> None:
        self.callback = callback
        self.batch = batch  # a joblib batch (results as a list), else one callable
        self.outcome: Any = None
        self.said: Any = None  # its warnings and output on the worker, told where joblib takes its results

    def finish(self, outcome: Any, said: Any = None) -> None:
        """Record the outcome, then tell joblib (its callback)."""
        self.outcome, self.said = outcome, said
        if self.callback is not None:
            self.callback(self)


class _DaskJoblib(TaskSizing, ParallelBackendBase):
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
    callback_address : str or None
        ``host`` or ``host:port`` where workers on other hosts reach this process's relay
        for scikit-learn's callbacks (None: the address of the route to the scheduler,
        a free port); see :mod:`._relay`.

    fits_per_worker : int or None
        At most this many tasks at once on a worker (fewer than its threads), through
        the Dask resource ``slot_resource``: the memory check's lowered count.
    slot_resource : str or None
        The resource every task asks one unit of (None: no limit).

    Attributes
    ----------
    tasks, calls : int
        Tasks submitted and the calls they held, for the plan.
    """

    supports_retrieve_callback = True
    default_n_jobs = -1
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
        workers_say: bool = True,
        callback_address: str | None = None,
        fits_per_worker: int | None = None,
        slot_resource: str | None = None,
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
        self.workers_say = workers_say
        self._relaying = Relaying(callback_address)  # scikit-learn's callbacks, from workers on other hosts
        self.fits_per_worker = fits_per_worker  # fewer than a worker's threads, so that the fits fit in its memory
        self.slot_resource = slot_resource  # the Dask resource each task takes one of (see engines.dask.memory)
        self.activity = activity if activity is not None else {"dask_tasks": 0, "joblib_calls": 0}
        self.progress = Progress("tasks", verbose=progress)
        self.tasks = 0
        self.calls = 0
        self._cache: BroadcastCache | None = None
        self.data_sent: str | None = None  # how the data reached the workers, once released
        self._futures: dict[Any, list[_Part]] = {}  # future -> the joblib batches it runs
        self._init_sizing()
        self._filters: list | bool | None = None  # the caller's warning filters when its Parallel call started (QUIET: none kept)

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
        self._relaying.close()
        if self._cache is not None:
            self.data_sent = self._cache.describe()
            self._cache.release()
            self._cache = None

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        threads = sum(min(n, self.fits_per_worker or n) for n in self.client.nthreads().values())
        if not threads:
            threads = self._probe_for_workers()
        self._threads = max(1, threads)
        return self._n_jobs_for(n_jobs)

    def _n_jobs_for(self, n_jobs: int | None) -> int:
        """``n_jobs`` as a count on the worker threads last counted (-1: all of them).

        A count of 1 makes joblib run the calls itself, in this process: on a cluster of
        one worker thread, ``n_jobs=-1`` (or None) counts 2 instead, one task running and
        one queued, so that the work still goes to the cluster. An explicit 1 stays here.
        """
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        if n_jobs < 0:
            return max(self._threads + 1 + n_jobs, 2 if self._threads == 1 and n_jobs == -1 else 1)
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
            self._filters = caller_filters() if self.workers_say else QUIET

    def submit(self, func: Any, callback: Any = None) -> Any:
        # A joblib batch lists its calls in `items` (joblib's own dask backend reads it too).
        items = getattr(func, "items", None)
        part = _Part(callback, batch=items is not None)
        calls = [(func, (), {})] if items is None else list(items)
        gathered = getattr(self._gathering, "batches", None)
        if gathered is not None:  # a batch this thread pulled from joblib: sent with the others
            gathered.append((calls, part))
            return part
        if not self._is_tail(calls, callback):
            self._send_each([[(calls, part)]])
            return part
        parallel = callback.parallel
        n_jobs = self._n_jobs_for(parallel.n_jobs)
        self._gathering.batches = gathered = [(calls, part)]
        try:
            self._pull_rest(parallel, n_jobs, gathered)
        finally:
            del self._gathering.batches
            # A batch that is not one of the last few (the pull reached calls joblib had
            # not cut small) goes alone; the others as a few tasks.
            alone = [gathered.pop()] if len(gathered) > 1 and not self._cut_small(gathered[-1][0]) else []
            self._send_each([*self._chunks(gathered, n_jobs), *([alone] if alone else [])])
        return part

    def _send_each(self, chunks: list[list]) -> None:
        """Send each chunk as a task. Every batch in them is joblib's already: one that
        cannot be sent (an argument that does not pickle, a closed client) gets the error
        as its outcome, through joblib's callback, so that the call raises, not waits. A
        chunk of several batches that cannot be sent is sent again one batch a task, so
        that only the batches that cannot be sent get the error (an earlier call's own
        error is then still the first in input order)."""
        for index, chunk in enumerate(chunks):
            try:
                self._send(chunk)
            except Exception as exc:  # noqa: BLE001 - handed to joblib, raised where the user called
                if len(chunk) == 1:
                    chunk[0][1].finish(exc)
                    continue
                for pair in chunk:
                    try:
                        self._send([pair])
                    except Exception as alone:  # noqa: BLE001 - as above
                        pair[1].finish(alone)
            except BaseException as exc:  # Ctrl-C while sending: nothing more is sent, every batch raises it
                for _, part in (pair for unsent in chunks[index:] for pair in unsent):
                    part.finish(exc)
                return

    def _send(self, batches: list[tuple[list, _Part]]) -> None:
        """One Dask task that runs ``batches`` (joblib batches with their parts) in order;
        large arguments are replaced by futures of data on the workers."""
        count = sum(len(calls) for calls, _ in batches)
        resources = {self.slot_resource: 1} if self.slot_resource else None
        for attempt in range(2):
            payload, dependencies = _pack([calls for calls, _ in batches], self.cache.future_for, self._filters)
            try:
                future = self.client.submit(
                    _run_packed, payload, dependencies, self._relaying.ticket(self.client, payload),
                    key=_task_key(batches[0][0][0][0], count), pure=False,
                    resources=resources,
                )
                break
            except CancelledError:
                # Data lost between packing and sending (its only holder, a worker stopped by
                # SIGTERM, left): packed again, the cache sends it again from here.
                if attempt:
                    raise
        with self._lock:  # joblib also submits from its callback threads
            self._in_flight += 1
            self.tasks += 1
            self.calls += count
            self.activity["dask_tasks"] += 1
            self.activity["joblib_calls"] += count
            self._futures[future] = [part for _, part in batches]
        self.progress.add_sent()
        future.add_done_callback(self._task_done)

    def _task_done(self, future: Any) -> None:
        """Dask's callback: record the task's timing, then hand each batch its outcome
        through joblib's callback (which calls :meth:`retrieve_result_callback`)."""
        with self._lock:
            parts = self._futures.pop(future, None)
        if parts is None:
            return  # cancelled by abort_everything: joblib wants nothing more from it
        self.progress.add_done()
        try:
            out = future.result()
        except CancelledError as exc:  # not ours (abort_everything's are dropped above): the scheduler's
            out = self._lost(exc)
        except BaseException as exc:  # noqa: BLE001 - a lost worker, a cancelled task: each batch raises it
            out = exc
        outcomes = out[0] if isinstance(out, tuple) else [out] * len(parts)
        said = out[2] if isinstance(out, tuple) else [None] * len(parts)
        # The count and the timing change together, so a waiting caller that wakes reads
        # the size this task's timing gave.
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)  # abort_everything zeroed it
            if all(part.batch for part in parts) and not any(isinstance(o, (_Raised, BaseException)) for o in outcomes):
                self._worker_timed(sum(map(len, outcomes)), out[1])
            self._lock.notify_all()
        failure = None
        for part, outcome, words in zip(parts, outcomes, said):
            try:
                part.finish(outcome, words)
            except BaseException as exc:  # noqa: BLE001 - the other batches still get theirs
                failure = failure or exc
        if failure is not None:
            raise failure

    def _lost(self, exc: BaseException) -> BaseException:
        """What a task the scheduler cancelled means for the user: the workers holding the
        fit's data are gone (Dask cannot recompute data sent from here), so it cannot finish."""
        address = getattr(self.client.scheduler, "address", None) or "(unknown)"
        try:
            workers = len(self.client.nthreads())
        except Exception:  # noqa: BLE001 - the scheduler may be gone too; the message says what is known
            workers = None
        now = "" if workers is None else f"; the cluster has {workers} worker{'s' if workers != 1 else ''} now"
        error = ClusterConnectionError(
            f"The Dask scheduler at {address} cancelled a task of this fit ({exc}): the workers it ran on were "
            f"lost, with the data sent to them{now}. The fit did not finish and nothing from it was kept. Check "
            "the workers' logs (memory limits, a stopped machine) and run the fit again."
        )
        error.__cause__ = exc
        return error

    def retrieve_result_callback(self, part: Any) -> Any:
        outcome = part.outcome
        if part.said is not None:
            words, part.said = part.said, None
            try:
                replay(words)  # a warning the caller's filters make an error raises here
            except BaseException:
                if not isinstance(outcome, (_Raised, BaseException)):
                    raise
                # the batch's own error wins, as below
        if isinstance(outcome, _Raised):
            outcome.reraise()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome if part.batch else outcome[0]

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """Cancel the tasks of the call that failed (joblib aborts it), and only those when
        that call is known: another call in progress on this backend (a generator being
        consumed around a failing inner call) keeps its tasks, which it waits for. An abort
        for any other reason (Ctrl-C, a generator dropped) cancels every task."""
        with self._lock:
            entries = list(self._futures.items())
            ended = self.batches_to_cancel([parts[0].callback for _, parts in entries])
            cancelled = [future for (future, _), end in zip(entries, ended or [True] * len(entries)) if end]
            for future in cancelled:
                del self._futures[future]
            self._in_flight = max(0, self._in_flight - len(cancelled)) if ended else 0
            self._growing = False
            self._lock.notify_all()
        if cancelled:
            self.client.cancel(cancelled)

    def batches_to_cancel(self, callbacks: list[Any]) -> list[bool] | None:
        """Which in-flight batches an abort cancels (None: all); the errors-in-input-order
        mixin knows the call that failed."""
        return None


class DaskJoblibBackend(JournalingBatches, ErrorsInInputOrder, _DaskJoblib):
    """:class:`_DaskJoblib` with the resume journal of the caller's ``resume=`` block
    (:mod:`.._journal_joblib`; nothing changes without one) and errors raised in input
    order (:mod:`.._errors_in_order`). The journal comes first in the method order, so
    that it sees joblib's own batches before they are packed."""

    def batch_failed(self, out: _Part) -> bool:
        return isinstance(out.outcome, (_Raised, BaseException))
