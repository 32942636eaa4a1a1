"""What a fit says in a worker reaches the caller: its warnings and its printed output.

DESIGN.md principle 12. A joblib batch sent to another process runs inside
:func:`listening`, under the warning filters the caller had when its ``Parallel`` call
started (:func:`caller_filters`); the warnings that pass them and what the batch writes
to ``sys.stdout``/``sys.stderr`` are kept, in order, in a :class:`Said` that travels
back with the batch's results; :func:`replay` then re-emits it in the calling process:
warnings through ``warnings.warn_explicit`` with their own category, message, file,
line and module (so the caller's filters and registries decide, and "default"/"once"
dedupe as plainly), output written to the caller's ``sys.stdout``/``sys.stderr``.

Python before 3.14 keeps warning state for the whole process, and a Dask worker runs
several tasks at once in threads; so the worker-side hooks (``warnings.showwarning``
and the two streams) are installed once per process and route by thread: a thread
running a batch records, any other thread goes on to the original hook or stream.
"""

from __future__ import annotations

import inspect
import pickle
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# The ``workers_say`` option of the backends that run batches in other processes.
OPTION_HELP = ("say here what the workers' fits said: their warnings and printed output "
               "(False: leave them in the workers, as joblib does)")

_TOLD = threading.local()  # .said: the Said of the batch this thread runs, if any
_INSTALL_LOCK = threading.Lock()
_REPLAY_LOCK = threading.Lock()  # one task's words stay together in the caller
_original: dict[str, Any] = {}
_REGISTRIES: dict[str, dict] = {}  # for modules the caller never imported


class Said:
    """What one batch said, in order: ``("out", stream name, text)``,
    ``("warning", message, category, filename, lineno, module)`` and ``("reset",)``
    events; a reset stands where, plainly, the warning registries would have been
    cleared (scikit-learn's ``Parallel`` runs each call in its own ``catch_warnings``,
    so "default" and "once" dedupe within a call, not across calls)."""

    __slots__ = ("events", "reset")

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.reset = False  # a reset to record before the next warning (none when none follows)

    def __bool__(self) -> bool:
        return bool(self.events)

    def __reduce__(self) -> tuple:
        return _said, (self.events,)

    def write(self, stream: str, text: str) -> None:
        last = self.events[-1] if self.events else None
        if last is not None and last[0] == "out" and last[1] == stream:
            self.events[-1] = ("out", stream, last[2] + text)  # one write per run of text
        else:
            self.events.append(("out", stream, text))


def _said(events: list) -> Said:
    said = Said()
    said.events = events
    return said


def caller_filters() -> list:
    """The calling thread's warning filters, to be applied where its batches run."""
    return list(warnings.filters)


class _Routed:
    """``sys.stdout``/``sys.stderr`` in a worker: a thread running a batch writes into the
    batch's :class:`Said`, every other thread to the stream it replaced."""

    def __init__(self, name: str, stream: Any) -> None:
        self._name = name
        self._stream = stream

    def write(self, text: str) -> int:
        said = getattr(_TOLD, "said", None)
        if said is None:
            return self._stream.write(text)
        said.write(self._name, text)
        return len(text)

    def flush(self) -> None:
        if getattr(_TOLD, "said", None) is None:
            self._stream.flush()

    def isatty(self) -> bool:
        # What a batch writes is shown by the caller, not on this terminal.
        return False if getattr(_TOLD, "said", None) is not None else self._stream.isatty()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, buffer, ...: the real stream's
        return getattr(self._stream, name)


def _module_at(filename: str, lineno: int) -> str | None:
    """The module a warning is attributed to (what ``warnings.warn`` matched module
    filters against): the frame on the stack at its file and line, else None."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_lineno == lineno and frame.f_code.co_filename == filename:
            return frame.f_globals.get("__name__")
        frame = frame.f_back
    return None


def _travels(message: Any) -> Any:
    """The warning itself when it survives pickling, else its text (some warnings
    need more arguments to be rebuilt than they keep)."""
    try:
        pickle.loads(pickle.dumps(message))
        return message
    except Exception:  # noqa: BLE001 - its words still travel
        return str(message)


def _showwarning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    said = getattr(_TOLD, "said", None)
    if said is None or file is not None:
        return _original["showwarning"](message, category, filename, lineno, file, line)
    if said.reset:
        said.events.append(("reset",))
        said.reset = False
    said.events.append(("warning", _travels(message), category, filename, lineno, _module_at(filename, lineno)))
    return None


class _Resetting:
    """A scikit-learn call (one that carries the caller's filters itself): plainly it
    runs in a ``catch_warnings`` of its own, which clears the registries."""

    __slots__ = ("func",)

    def __init__(self, func: Any) -> None:
        self.func = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        said = getattr(_TOLD, "said", None)
        if said is not None:
            said.reset = True
        return self.func(*args, **kwargs)


def marked(calls: list) -> list:
    """A batch's ``(func, args, kwargs)`` calls, scikit-learn's marked as :class:`_Resetting`
    (sklearn.utils.parallel.Parallel gives each the ``warning_filters`` it runs under)."""
    return [(_Resetting(f) if hasattr(f, "warning_filters") else f, args, kwargs) for f, args, kwargs in calls]


def _install() -> None:
    """Route this process's warnings and streams by thread (idempotent; re-done when
    someone put the originals back, as a ``catch_warnings`` in another thread may)."""
    if warnings.showwarning is _showwarning and isinstance(sys.stdout, _Routed) and isinstance(sys.stderr, _Routed):
        return
    with _INSTALL_LOCK:
        if warnings.showwarning is not _showwarning:
            _original["showwarning"] = warnings.showwarning
            warnings.showwarning = _showwarning
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, _Routed):
                setattr(sys, name, _Routed(name, stream))


@contextmanager
def listening(filters: list | None) -> Iterator[Said]:
    """Run a batch here (a worker) under the caller's ``filters``, keeping what it says.

    The filters are set as scikit-learn's ``Parallel`` sets them for its own calls; a
    warning they make an error raises inside the batch, as it would plainly.
    """
    _install()
    said = Said()
    previous = getattr(_TOLD, "said", None)
    _TOLD.said = said
    try:
        with warnings.catch_warnings():
            if filters is not None:
                warnings.resetwarnings()
                warnings.filters.extend(filters)
            yield said
    finally:
        _TOLD.said = previous


def _registry(module: str | None) -> tuple[dict, dict | None]:
    """The registry ``warnings.warn`` would use for ``module`` here, and its globals."""
    loaded = sys.modules.get(module) if module else None
    namespace = getattr(loaded, "__dict__", None)
    if isinstance(namespace, dict):
        return namespace.setdefault("__warningregistry__", {}), namespace
    return _REGISTRIES.setdefault(module or "", {}), None


def replay(said: Said | None) -> None:
    """Say here, in order, what a batch said in a worker (see the module's docstring).

    A warning the caller's filters make an error raises from here.
    """
    if not said:
        return
    streams = set()
    with _REPLAY_LOCK:
        for event in said.events:
            if event[0] == "out":
                stream = getattr(sys, event[1], None)
                if stream is not None:
                    stream.write(event[2])
                    streams.add(stream)
                continue
            if event[0] == "reset":
                with warnings.catch_warnings():  # bumps the filters' version: registries start afresh
                    pass
                continue
            _, message, category, filename, lineno, module = event
            registry, namespace = _registry(module)
            warnings.warn_explicit(message, category, filename, lineno, module=module, registry=registry,
                                   module_globals=namespace)
        for stream in streams:
            stream.flush()


class Told:
    """A batch's results with what it said."""

    __slots__ = ("results", "said")

    def __init__(self, results: Any, said: Said | None) -> None:
        self.results = results
        self.said = said or None  # nothing said: nothing extra to send

    def __reduce__(self) -> tuple:
        return Told, (self.results, self.said)


class Telling:
    """A batch callable that runs under :func:`listening` and returns a :class:`Told`.

    What the ``local`` backend's loky workers run; a batch that raises carries its
    ``Said`` on the exception (``SAID``), which pickles with it.
    """

    __slots__ = ("func", "filters")

    def __init__(self, func: Any, filters: list | None) -> None:
        self.func = func
        self.filters = filters

    def __call__(self) -> Told:
        items = getattr(self.func, "items", None)  # a joblib BatchedCalls: its calls, run by itself
        if isinstance(items, list):
            self.func.items = marked(items)  # this worker's copy
        with listening(self.filters) as said:
            try:
                return Told(self.func(), said)
            except BaseException as exc:
                _attach(exc, said)
                raise


SAID = "_scaleml_said"


def _attach(exc: BaseException, said: Said) -> None:
    if said:
        try:
            setattr(exc, SAID, said)
        except Exception:  # noqa: BLE001 - an exception that takes no attributes: its words are lost
            pass


def told(outcome: Any) -> Any:
    """A batch's results, after :func:`replay` of what it said when ``outcome`` is a :class:`Told`."""
    if not isinstance(outcome, Told):
        return outcome
    replay(outcome.said)
    return outcome.results


def replay_raised(exc: BaseException) -> None:
    """Replay what a batch said before it raised ``exc``; the caller then raises ``exc``."""
    said = getattr(exc, SAID, None)
    if said:
        try:
            delattr(exc, SAID)
        except AttributeError:
            pass
        replay(said)
