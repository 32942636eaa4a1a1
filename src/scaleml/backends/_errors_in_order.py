"""The first error in input order, as a sequential run raises it.

joblib hands each batch's outcome to its ``Parallel`` call on a callback thread as the
batch finishes, and the call raises the error of the first batch joblib hears of.
When several calls fail (a wrong ``params=`` length fails every fit of a
``learning_curve``, each with its own message), that is the first to fail *in time*,
a different error from run to run, and not the one the same code raises
sequentially: the first *in input order*.

:class:`ErrorsInInputOrder` holds back joblib's callback for a failed batch until
every batch dispatched before it in the same call has been handed over (as it
finished, or as held in turn). A batch that succeeds is handed over at once, so
results, their order and the dispatch of further batches are as before; only an
error waits, for the calls before it, as it would sequentially. The state is per
``Parallel`` call (joblib's call id on its callback), so nested and concurrent calls
on one backend instance do not share it; it lives on the ``Parallel`` object and goes
with it.

What it does not order: a warning that the caller's filters turn into an error when
a successful batch's warnings are replayed (the batch counted as a success).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_ATTRIBUTE = "_scaleml_errors_in_order"  # where a Parallel keeps its calls' state
_STATE_LOCK = threading.Lock()  # making a call's state; joblib may submit from several threads


class _Call:
    """One ``Parallel`` call's batches: which are handed over, which errors wait."""

    __slots__ = ("call_id", "lock", "submitted", "handed", "low", "held", "over", "ended", "__weakref__")

    def __init__(self, call_id: Any) -> None:
        self.call_id = call_id
        self.lock = threading.Lock()
        self.submitted = 0  # batches numbered so far, in dispatch order
        self.handed: set[int] = set()  # numbers handed over, at or past `low`
        self.low = 0  # every batch numbered below this has been handed over
        self.held: dict[int, tuple[Any, Any]] = {}  # number -> (callback, out) of a failed batch
        self.over = False  # an error was handed over: joblib ends the call
        self.ended = False  # an error is being handed over (set before its callback runs)

    def number(self) -> int:
        with self.lock:
            index, self.submitted = self.submitted, self.submitted + 1
            return index

    def finished(self, index: int, callback: Any, out: Any, failed: bool) -> list[tuple[Any, Any]]:
        """The callbacks to call now, in order, for batch ``index`` just finished."""
        with self.lock:
            if self.over or not failed:
                return [(callback, out)]
            self.held[index] = (callback, out)
            return self._releasable()

    def ending(self) -> None:
        """An error of this call is being handed over: joblib ends the call. Set before
        its callback runs, so that an abort it starts at once sees which call ends; not
        ``over``, which lets later errors through only once this one is handed over."""
        with self.lock:
            self.ended = True

    def handed_over(self, index: int, failed: bool) -> list[tuple[Any, Any]]:
        """Record batch ``index`` handed over; the held errors this lets through."""
        with self.lock:
            self.over = self.over or failed
            self.handed.add(index)
            while self.low in self.handed:
                self.handed.discard(self.low)
                self.low += 1
            return self._releasable()

    def _releasable(self) -> list[tuple[Any, Any]]:
        # Only the lowest held error can be next, and only once all before it are handed
        # over; the one after it waits for it (its callback returns first).
        if self.low in self.held:
            return [self.held.pop(self.low)]
        if self.over and self.held:  # joblib stopped listening: let the rest go, in order
            return [self.held.pop(index) for index in sorted(self.held)]
        return []


class _InOrder:
    """joblib's callback for one batch, handed over through its call's :class:`_Call`."""

    __slots__ = ("_callback", "_call", "_index", "_failed", "_ended")

    def __init__(self, callback: Any, call: _Call, failed: Any, ended: weakref.WeakSet) -> None:
        self._callback = callback
        self._call = call
        self._index = call.number()
        self._failed = failed
        self._ended = ended  # the backend's calls ended by an error, until joblib aborts them

    def __call__(self, out: Any) -> None:
        _hand_over(self._call.finished(self._index, self, out, self._failed(out)))

    def never_sent(self) -> None:
        """The batch's ``submit`` raised: it will never finish; let go what waited for it."""
        _hand_over(self._call.handed_over(self._index, True))

    @property
    def call_ended(self) -> bool:
        """Whether an error of this batch's call was handed to joblib (the call ends)."""
        return self._call.ended

    def __getattr__(self, name: str) -> Any:  # joblib's own callback's attributes (its Parallel)
        return getattr(self._callback, name)


def ended_calls_only(callbacks: list[Any], ended_calls: weakref.WeakSet) -> list[bool] | None:
    """For joblib's ``abort_everything``: which batches in flight (by their callbacks) to
    cancel. joblib aborts a call that failed; when that call is known (its error was
    handed over here), only its batches are cancelled, so another call in progress on the
    same backend keeps its own (all False when the failed call has none in flight).
    None when no call ended that way (Ctrl-C, a generator dropped, a call not ordered):
    every batch is cancelled. ``ended_calls``: the backend's (:attr:`ErrorsInInputOrder.ended_calls`)."""
    with _STATE_LOCK:
        ended = [isinstance(callback, _InOrder) and callback.call_ended for callback in callbacks]
        aborted = {callback._call for callback, end in zip(callbacks, ended) if end} or set(ended_calls)
        if not aborted:
            return None
        for call in aborted:
            ended_calls.discard(call)
    return ended


def _hand_over(pending: list[tuple[_InOrder, Any]]) -> None:
    """Call joblib's callbacks of ``pending`` one after another, with the held errors each
    lets through; the first exception a callback raised is raised after all."""
    first_error = None
    while pending:
        releasing, releasing_out = pending.pop(0)
        if releasing._failed(releasing_out):
            releasing._call.ending()
            with _STATE_LOCK:
                releasing._ended.add(releasing._call)
        try:
            releasing._callback(releasing_out)
        except BaseException as exc:  # noqa: BLE001 - the batches after it still get theirs
            first_error = first_error or exc
        pending.extend(releasing._call.handed_over(releasing._index, releasing._failed(releasing_out)))
    if first_error is not None:
        raise first_error


def _call_of(callback: Any) -> _Call | None:
    """The state of the ``Parallel`` call ``callback`` belongs to (None: not joblib's)."""
    parallel = getattr(callback, "parallel", None)
    call_id = getattr(callback, "parallel_call_id", None)
    if parallel is None or call_id is None:
        return None
    if getattr(parallel, "timeout", None) is not None:
        # joblib times out the first batch still pending: a held error would turn into
        # its TimeoutError instead of raising. Such calls keep joblib's order.
        return None
    with _STATE_LOCK:
        call = getattr(parallel, _ATTRIBUTE, None)
        if call is None or call.call_id != call_id:
            call = _Call(call_id)
            setattr(parallel, _ATTRIBUTE, call)
        return call


class ErrorsInInputOrder:
    """Mixin for a joblib ``ParallelBackendBase``: a failed batch is handed to joblib
    only after the batches dispatched before it in its call.

    Place it before the backend class whose ``submit`` calls joblib's callback, and
    after mixins that wrap the callback themselves (the journal). The backend says
    whether a finished batch failed (:meth:`batch_failed`) and whether to order at
    all (:meth:`orders_errors`).
    """

    def orders_errors(self) -> bool:
        """Whether this backend holds errors back now (default: always)."""
        return True

    def batches_to_cancel(self, callbacks: list[Any]) -> list[bool] | None:
        """For ``abort_everything``: which batches in flight (by their callbacks) belong to
        the call joblib aborts (:func:`ended_calls_only`); None: every batch."""
        return ended_calls_only(callbacks, self.ended_calls)

    @property
    def ended_calls(self) -> weakref.WeakSet:
        """Calls on this backend whose error was handed to joblib, until joblib aborts
        them (read by :func:`ended_calls_only`)."""
        ended = self.__dict__.get("_ended_calls")
        if ended is None:
            with _STATE_LOCK:
                ended = self.__dict__.setdefault("_ended_calls", weakref.WeakSet())
        return ended

    def batch_failed(self, out: Any) -> bool:  # pragma: no cover - each backend's own
        """Whether ``out`` (what joblib's callback receives) holds an error."""
        raise NotImplementedError

    def submit(self, func: Any, callback: Any = None) -> Any:
        call = _call_of(callback) if callback is not None and self.orders_errors() else None
        if call is None:
            return super().submit(func, callback)
        ordered = _InOrder(callback, call, self.batch_failed, self.ended_calls)
        try:
            return super().submit(func, ordered)
        except BaseException:
            # Numbered but never sent: counted as handed over (failed), so that no later
            # error waits for it; joblib raises this one from its dispatch.
            ordered.never_sent()
            raise
