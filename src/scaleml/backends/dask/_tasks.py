"""What travels to a Dask worker for the dask backend, and runs there.

A task carries one or more joblib batches as one ``bytes`` payload (:func:`_pack`), runs
them with nested parallelism sequential (:func:`_run_packed`), and sends back each
batch's results or its exception with the worker's traceback (:class:`_Raised`), and
what each batch said there (its warnings and output, :mod:`.._worker_say`).
"""

from __future__ import annotations

import pickle
import time
import traceback
import uuid
from contextlib import nullcontext
from typing import Any

import joblib

from .._sendable import dumps, portable_exception
from .._worker_say import listening, marked
from ._relay import Ticket
from ._relayed import one_at_a_time, relay_here, say_unrelayed

QUIET = False  # sent as the filters when the backend's workers_say is off: nothing kept, nothing replayed


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
        # Some pickle but cannot be rebuilt (required __init__ arguments); one that cannot travel: its words can.
        self.exc = portable_exception(exc)

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


def _pack(batches: list[list[tuple[Any, tuple, dict]]], future_for: Any, filters: list | None = None) -> tuple[bytes, list]:
    """One or more joblib batches as one ``bytes`` payload plus the futures their arguments stand for.

    ``filters`` are the caller's warning filters, under which the batches run and what
    they say is kept; :data:`QUIET` runs them as joblib would, keeping nothing.

    Dask's scheduler unpickles every task it is sent and pickles it again for the
    worker; scikit-learn's calls carry ~100 KB each (the search object, its callback
    context), which made the scheduler the busiest process for batches of millisecond
    fits. Bytes pass through it as they are. Large arguments become futures of data
    already on the workers (``future_for``); they stay outside the bytes so that
    Dask still sees them as dependencies. Pickled with :mod:`.._sendable` (cloudpickle,
    spent generators as empty iterators, errors that name what cannot be sent).
    """
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

    packed = [[(f, tuple(map(stand_in, args)), {k: stand_in(v) for k, v in kwargs.items()}) for f, args, kwargs in calls]
              for calls in batches]
    return dumps((filters, packed), protocol=pickle.HIGHEST_PROTOCOL), dependencies


def _run_packed(payload: bytes, dependencies: list, ticket: Ticket | None = None) -> Any:
    """Run on a worker: the batches of one packed task, nested parallelism sequential.

    Returns ``(outcomes, seconds the calls took here, said)``: per batch, its results
    or a ``_Raised`` (a KeyboardInterrupt included, which must not look like a crashed
    worker); the batches after one that raised are not run and carry its ``_Raised``;
    ``said``, per batch, what it said (None when nothing). A payload that cannot be
    unpickled returns a ``_Raised`` alone. ``ticket``: the caller's sockets for
    scikit-learn's callbacks, relayed here when this host lacks them (:mod:`._relay`).
    """

    def resolved(value: Any) -> Any:
        return dependencies[value.index] if isinstance(value, _Dependency) else value

    try:
        unrelayed = relay_here(ticket)  # before unpickling: a ScoringMonitor probes its socket as it is rebuilt
        filters, batches = pickle.loads(payload)
    except BaseException as exc:  # noqa: BLE001 - sent back and raised where the user called
        return _Raised(exc)
    # Timed from here: unpickling is a task's fixed cost, and on a cold worker it imports
    # modules, which would make the first calls look slow.
    start = time.perf_counter()
    outcomes: list = []
    said: list = []
    quiet = filters is QUIET
    with joblib.parallel_config(backend="sequential"), one_at_a_time(ticket):
        for calls in batches:
            with nullcontext() if quiet else listening(filters) as words:
                unrelayed = say_unrelayed(unrelayed)  # said once, by the first batch
                try:
                    outcomes.append([
                        func(*map(resolved, args), **{k: resolved(v) for k, v in kwargs.items()})
                        for func, args, kwargs in (calls if quiet else marked(calls))
                    ])
                except BaseException as exc:  # noqa: BLE001 - as above
                    outcomes += [_Raised(exc)] * (len(batches) - len(outcomes))
            said.append(words or None)
            if len(outcomes) == len(batches):
                break
    said += [None] * (len(batches) - len(said))
    return outcomes, time.perf_counter() - start, said


def _probe() -> None:
    """A task that only shows a worker is there."""


def _task_key(func: Any, calls: int) -> str:
    """A task name the dashboard can tell apart, as joblib's own dask backend does:
    ``fit_and_score-batch-of-12-<id>``."""
    func = getattr(func, "function", func)  # scikit-learn's delayed() wraps the function
    name = getattr(func, "__name__", None) or type(func).__name__
    name = name.strip("_<>").replace("_", "-") or "call"
    return f"{name}-batch-of-{calls}-{uuid.uuid4().hex}"
