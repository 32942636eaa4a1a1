"""joblib's loky backend, telling the caller what its workers said (``local`` with ``n_jobs``).

joblib's own loky workers drop their warnings and print to the terminal the caller
started from; under ``scaleml.backend("local", n_jobs=...)`` each batch runs inside
:class:`~._worker_say.Telling` instead, and what it said is replayed where its results
arrive.

The class is registered under joblib's name ``"loky"`` rather than set with
``parallel_config(backend=...)``: a backend set that way counts as chosen by the user,
and joblib then runs ``prefer="threads"`` calls (scikit-learn's forests) in processes
too. Registered as ``"loky"`` it is what joblib picks by default, and threads stay
threads. Outside a :func:`forwarding` block it is joblib's ``LokyBackend`` unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import joblib
from joblib.parallel import LokyBackend

from ._errors_in_order import ErrorsInInputOrder
from ._journal_joblib import JournalingBatches
from ._worker_say import Telling, caller_filters, replay_raised, told

_STATE = threading.local()  # .depth: forwarding blocks open on this thread; .telling: those that tell
_REGISTER_LOCK = threading.Lock()
_registered = False


class TellingLokyBackend(LokyBackend):
    """``LokyBackend`` whose batches say in the caller what they said in the workers."""

    _filters: list | None = None  # set per Parallel call, in the thread that made it
    _in_block = False  # the call was made inside a forwarding block (errors in input order)

    def start_call(self) -> None:
        super().start_call()
        self._in_block = bool(getattr(_STATE, "depth", 0))
        self._filters = caller_filters() if getattr(_STATE, "telling", 0) else None

    def stop_call(self) -> None:
        super().stop_call()
        self._filters = None
        self._in_block = False

    def submit(self, func: Any, callback: Any = None) -> Any:
        if self._filters is not None:
            func = Telling(func, self._filters)
        return super().submit(func, callback)

    def retrieve_result_callback(self, future: Any) -> Any:
        try:
            outcome = super().retrieve_result_callback(future)
        except BaseException as exc:
            try:
                replay_raised(exc)
            finally:
                raise exc  # noqa: B012 - the batch's own error wins over a warning made one here
        return told(outcome)  # a batch sent outside a block is returned as it is


def register() -> None:
    """Make :class:`JournalingLokyBackend` joblib's ``"loky"`` (once per process)."""
    _register()


class JournalingLokyBackend(JournalingBatches, ErrorsInInputOrder, TellingLokyBackend):
    """What is registered as joblib's "loky": the resume journal of the caller's
    ``resume=`` block first (it sees joblib's own batches), then errors raised in input
    order, then the telling. Outside a :func:`forwarding` block, joblib's own."""

    def orders_errors(self) -> bool:
        return self._in_block

    def batch_failed(self, out: Any) -> bool:
        return out.cancelled() or out.exception() is not None


def _register() -> None:
    global _registered
    with _REGISTER_LOCK:
        if not _registered:
            # Journaling outside the telling: the journal sees joblib's own batch, and a
            # block without resume= is unchanged (see _journal_joblib).
            joblib.register_parallel_backend("loky", JournalingLokyBackend)
            _registered = True


@contextmanager
def forwarding(telling: bool = True) -> Iterator[None]:
    """Within the block, loky calls started on this thread raise their first error in
    input order and, if ``telling``, their batches tell what they said."""
    _register()
    _STATE.depth = getattr(_STATE, "depth", 0) + 1
    _STATE.telling = getattr(_STATE, "telling", 0) + int(telling)
    try:
        yield
    finally:
        _STATE.depth -= 1
        _STATE.telling -= int(telling)
