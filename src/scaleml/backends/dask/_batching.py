"""How the dask backend sizes its tasks: calls grouped by the time they took on a worker.

A call shorter than a task's scheduling cost is grouped with others into one task; a
call longer than that goes alone, so no worker waits behind another's batch. The
size is judged by the time the calls took on the worker, not by joblib's round trip,
which queueing inflates. The calls joblib cuts small at the end of its input go out as
a few tasks, not twenty (:meth:`TaskSizing._is_tail`).
"""

from __future__ import annotations

import threading
import time
from typing import Any


class TaskSizing:
    """Mixin for the dask joblib backend: batch sizes from workers' timings, and the tail
    of a call gathered into a few tasks.

    The backend calls :meth:`_init_sizing` in ``__init__``, :meth:`_worker_timed` (with
    ``_lock`` held) when a task's timing arrives, and in ``submit`` gathers a tail
    (:meth:`_is_tail`, :meth:`_pull_rest`, :meth:`_chunks`) through ``_gathering``.
    """

    # Calls shorter than a task's scheduling cost are grouped: a batch that took less
    # than MIN_TASK_SECONDS on its worker grows (at most 2x) towards twice that; one
    # past MAX_TASK_SECONDS shrinks back; in between the size stays (joblib's band).
    # A call that takes longer than MIN_TASK_SECONDS alone (a cross-validation fit)
    # goes one per task, so no worker waits behind another's batch.
    MIN_TASK_SECONDS = 0.2
    MAX_TASK_SECONDS = 2.0
    # The calls joblib cuts from the end of its input go out as at most two tasks per
    # job, none shorter than this (see _is_tail).
    TAIL_TASK_SECONDS = 0.02

    def _init_sizing(self) -> None:
        self._batch_size = 1
        self._call_seconds: float | None = None  # one call's time on a worker, as last timed
        # Guards the counts and sizes below; also the condition a caller waiting for a
        # timing waits on (see compute_batch_size).
        self._lock = threading.Condition()
        # Tasks sent and not yet back, and whether the batch size may still grow: while it
        # may, the thread that started the Parallel call holds back (see compute_batch_size).
        self._in_flight = 0
        self._growing = True
        self._threads = 1  # the cluster's worker threads, as last counted
        self._caller: threading.Thread | None = None
        self._gathering = threading.local()  # .batches: the batches a pull on this thread collects

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
        with self._lock:
            if (threading.current_thread() is self._caller
                    and getattr(getattr(self, "parallel", None), "pre_dispatch", None) == "all"):
                deadline = time.monotonic() + self.MAX_TASK_SECONDS
                while self._growing and self._in_flight >= 2 * self._threads:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._growing = False
                        break
                    self._lock.wait(left)
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
        if calls:
            self._call_seconds = seconds / calls
        if seconds < self.MIN_TASK_SECONDS:
            ideal = int(2 * self.MIN_TASK_SECONDS * calls / seconds) if seconds > 0 else 2 * self._batch_size
            if ideal > self._batch_size:
                self._batch_size = min(ideal, 2 * self._batch_size)
                self._growing = True
        elif calls == self._batch_size:
            self._growing = False
            if seconds > self.MAX_TASK_SECONDS and calls > 1:
                self._batch_size = max(1, int(2 * self.MIN_TASK_SECONDS * calls / seconds))

    def _cut_small(self, calls: list) -> bool:
        """Whether a batch is one joblib cut from its last calls: at most a tenth of the
        size it asked for (joblib cuts ``len(rest) // (10 * n_jobs)`` of fewer than
        ``size * n_jobs`` calls left)."""
        with self._lock:
            return 10 * len(calls) <= self._batch_size

    def _is_tail(self, calls: list, callback: Any) -> bool:
        """Whether joblib cut this batch from the last calls of its input.

        joblib splits the calls left at the end of its input into ten batches per job
        to even out the workers' finishing times: for millisecond fits, twenty or more
        tasks of a call or a few, each paying a task's scheduling cost (measured: a
        13x13 SVC grid on iris 1.27x as long as on loky with the split, 0.99x without).
        Such a batch is a tenth of the size the timings asked for or less, and reaches
        the backend from joblib's callback thread (the thread that started the call
        dispatches only the first batches, sized 1). A ``batch_size`` the caller fixed
        is kept as given.
        """
        parallel = getattr(callback, "parallel", None)  # the Parallel call this batch belongs to
        if getattr(parallel, "batch_size", None) != "auto" or not hasattr(parallel, "dispatch_next"):
            return False
        with self._lock:  # an RLock (Condition's own): _cut_small takes it again, in one hold
            if threading.current_thread() is self._caller or self._call_seconds is None:
                return False
            return self._cut_small(calls)

    def _pull_rest(self, parallel: Any, n_jobs: int, gathered: list) -> None:
        """Take ``parallel``'s next batches on this thread (``Parallel.dispatch_next``, as
        joblib's callback does), each landing in ``gathered`` through :meth:`submit`, while
        they are cut small and until as many calls as joblib reads from its input at once.

        Stops at the first pull that dispatches nothing: joblib's input is then used up,
        and another pull would be an error. The callback that led here checked that the
        input was not used up before it dispatched this call's batch.
        """
        with self._lock:
            limit = self._batch_size * n_jobs
        while sum(len(calls) for calls, _ in gathered) < limit:
            count = len(gathered)
            parallel.dispatch_next()
            if len(gathered) == count or not self._cut_small(gathered[-1][0]):
                return

    def _chunks(self, gathered: list, n_jobs: int) -> list[list]:
        """The gathered batches as at most two tasks per job, in order, of about equal time
        (no task under ``TAIL_TASK_SECONDS`` unless it is the only one)."""
        calls = sum(len(c) for c, _ in gathered)
        with self._lock:
            seconds = calls * (self._call_seconds or 0.0)
        tasks = max(1, min(len(gathered), 2 * n_jobs, int(seconds / self.TAIL_TASK_SECONDS)))
        chunks: list[list] = [[]]
        per_task, taken = calls / tasks, 0
        for calls_and_part in gathered:
            if chunks[-1] and taken >= per_task * len(chunks):
                chunks.append([])
            chunks[-1].append(calls_and_part)
            taken += len(calls_and_part[0])
        return chunks
