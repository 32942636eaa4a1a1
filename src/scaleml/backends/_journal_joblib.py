"""Where the resume journal meets joblib: the batches a backend sends, and those run here.

:class:`JournalingBatches` is mixed into scaleml's joblib backends (``local``'s loky,
``dask``'s tasks): in ``submit``, on the thread that sends the batch, the batch's unit
calls are looked up (:meth:`~._journal.Journal.prepare`: a unit the journal holds is
replaced by its stored result and not fitted); when the batch's results reach this
process (``retrieve_result_callback``, on the thread joblib hands them over on) the
units that ran are written. Outside a ``resume=`` block the mixin changes nothing.

joblib runs a call of one job (``n_jobs=1``, or ``None`` without a backend setting)
in its own loop, which no backend sees; with a journal open such a call falls back to
:class:`InlineBackend`, which runs each batch in this thread, in order, when joblib
asks for its result: as that loop would, with the journal consulted.
"""

from __future__ import annotations

import threading
from typing import Any

from joblib.parallel import FallbackToBackend, ParallelBackendBase, SequentialBackend

from ._journal import Pending, active_journal

_HANDING = threading.local()  # .pending: the batch whose results joblib is taking on this thread


class _Writing:
    """joblib's callback for a batch with units to write: marks the batch for
    ``retrieve_result_callback``, which joblib's callback calls on the same thread."""

    def __init__(self, callback: Any, pending: Pending) -> None:
        self._callback = callback
        self._pending = pending

    def __call__(self, out: Any) -> Any:
        _HANDING.pending = self._pending
        try:
            return self._callback(out)
        finally:
            _HANDING.pending = None

    def __getattr__(self, name: str) -> Any:  # joblib's own callback's attributes (its Parallel)
        return getattr(self._callback, name)


class JournalingBatches:
    """Mixin for a joblib ``ParallelBackendBase`` subclass: the journal of the caller's
    ``resume=`` block consulted for each batch sent, and written as results arrive."""

    _journal = None

    def configure(self, n_jobs: int = 1, parallel: Any = None, **kwargs: Any) -> int:
        # Called by Parallel on the thread that makes the call: the block open there is the one.
        journal = self._journal = active_journal()
        try:
            n_jobs = super().configure(n_jobs=n_jobs, parallel=parallel, **kwargs)
        except FallbackToBackend as fallback:
            if journal is None or not isinstance(fallback.backend, SequentialBackend):
                raise
            raise FallbackToBackend(InlineBackend(nesting_level=fallback.backend.nesting_level)) from None
        if n_jobs == 1 and journal is not None:
            raise FallbackToBackend(InlineBackend(nesting_level=getattr(self, "nesting_level", None)))
        return n_jobs

    def submit(self, func: Any, callback: Any = None) -> Any:
        journal = self._journal
        pending = journal.prepare(getattr(func, "items", None)) if journal is not None else None
        if pending is not None and callback is not None:
            callback = _Writing(callback, pending)
        return super().submit(func, callback)

    def retrieve_result_callback(self, out: Any) -> Any:
        result = super().retrieve_result_callback(out)
        pending = getattr(_HANDING, "pending", None)
        if pending is not None:
            _HANDING.pending = None
            pending.write(result)
        return result


class _Deferred:
    """A batch :class:`InlineBackend` runs when joblib asks for its result."""

    __slots__ = ("batch", "callback", "pending")

    def __init__(self, batch: Any, callback: Any, pending: Pending | None) -> None:
        self.batch, self.callback, self.pending = batch, callback, pending


class InlineBackend(ParallelBackendBase):
    """joblib's one-job loop, as a backend the journal sees: each batch runs in this
    thread, in order, when joblib asks for its result (never ahead of it).

    It reports two jobs, so that joblib sends batches rather than running its own loop;
    nothing runs concurrently. Nested calls see the backend that was active, as in
    joblib's loop (:class:`~joblib.parallel.SequentialBackend`'s nesting). Not a
    ``SequentialBackend`` subclass: joblib gives those no dispatching machinery.
    """

    uses_threads = True
    supports_sharedmem = True
    supports_retrieve_callback = False

    def effective_n_jobs(self, n_jobs: int) -> int:
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        return 2

    def get_nested_backend(self) -> Any:
        from joblib.parallel import get_active_backend

        return get_active_backend()

    def configure(self, n_jobs: int = 1, parallel: Any = None, **kwargs: Any) -> int:
        self.parallel = parallel
        self._journal = active_journal()
        return self.effective_n_jobs(n_jobs)

    def submit(self, func: Any, callback: Any = None) -> Any:
        journal = self._journal
        pending = journal.prepare(getattr(func, "items", None)) if journal is not None else None
        return _Deferred(func, callback, pending)

    def retrieve_result(self, out: _Deferred, timeout: Any = None) -> Any:
        result = out.batch()
        if out.pending is not None:
            out.pending.write(result)
        if out.callback is not None:
            out.callback(out)  # joblib's: counts the batch done and sends the next
        return result

    def retrieve_result_callback(self, out: Any) -> Any:
        raise RuntimeError("InlineBackend hands results over in retrieve_result")
