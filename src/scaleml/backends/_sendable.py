"""Send to workers whatever runs sequentially, or say exactly what cannot be sent.

Unchanged scikit-learn code that ran with ``n_jobs=None`` runs in worker processes
under the ``dask`` backend and ``local`` with ``n_jobs``; what it hands joblib must then
be pickled. This module's :class:`Pickler` is cloudpickle's (classes, functions and
lambdas defined inside functions, in ``__main__`` or a notebook travel by value) plus:

- a generator that has run to its end travels as the empty iterator it now is. The
  idiom ``GridSearchCV(..., cv=KFold(3).split(X, y))`` needs it: scikit-learn's
  ``check_cv`` materialises the generator once, in the caller, before any work is
  sent, and the search object (sent with every call, for its callbacks) still holds
  the spent generator, which pickle refuses (``cannot pickle 'generator' object``);
- a class sent by value (defined in a function, in ``__main__`` or a notebook) is
  registered, where it is rebuilt, with ``multiprocessing``'s pickler, so that
  scikit-learn's callbacks can send its instances back to the caller;
- an exception that pickle cannot rebuild (keyword-only ``__init__`` arguments) comes
  back from a worker as itself, not as a RuntimeError or a broken process pool;
- a thing that truly cannot be sent (a live generator, a lock, an open file) raises a
  ``pickle.PicklingError`` naming the object, where it sits in the call (``the
  argument caller, attribute cv``) and where it was defined, not a pickling traceback.

The dask backend packs its tasks with :func:`dumps`; the local backend makes loky use
:class:`Pickler` while its ``n_jobs`` block is active (:func:`for_loky`).
"""

from __future__ import annotations

import inspect
import io
import pickle
import re
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    import cloudpickle

    _Base: Any = cloudpickle.Pickler
except ImportError:  # pragma: no cover - joblib then sends with pickle too
    _Base = pickle.Pickler

# A search through the call for the part that cannot be sent looks this deep.
_MAX_DEPTH = 8


def _spent() -> Iterator[Any]:
    """What a generator that has run to its end is on a worker: an empty iterator."""
    return iter(())


class _Reducing(_Base):
    """cloudpickle's pickler, with spent generators sent as empty iterators."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is types.GeneratorType:
            if inspect.getgeneratorstate(obj) == inspect.GEN_CLOSED:
                return _spent, ()
            raise pickle.PicklingError(
                f"{_describe(obj)} has not run to its end, and a worker cannot share it with this process: "
                "sending it would consume it here. Pass list(...) of it instead."
            )
        if isinstance(obj, BaseException) and not _round_trips(obj):
            return _exception_reduce(obj)
        parent = getattr(super(), "reducer_override", None)
        reduced = NotImplemented if parent is None else parent(obj)
        if isinstance(obj, type) and isinstance(reduced, tuple) and _by_value(reduced):
            return (_made_sendable_back, (reduced[0], reduced[1]), *reduced[2:])
        return reduced


def _round_trips(exc: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure means it does not
        return False
    return True


def _exception_reduce(exc: BaseException) -> tuple:
    return _rebuilt_exception, (type(exc), exc.args, dict(getattr(exc, "__dict__", {})))


def _rebuilt_exception(cls: type, args: tuple, state: dict) -> BaseException:
    """An exception of ``cls`` with its ``args`` and attributes, without calling its ``__init__``:
    pickle calls ``cls(*args)``, which fails for exceptions with keyword-only arguments
    (scikit-learn's ``UnsetMetadataPassedError``): the worker's error then arrived as another."""
    exc = BaseException.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def portable_exception(exc: BaseException) -> BaseException:
    """``exc``, made to survive the standard pickler if it can be: Dask sends a task's
    result with it. Registers (in this worker process, for that exception type only) a
    reducer that rebuilds it without ``__init__``; an exception that still cannot
    travel becomes a RuntimeError with its type and words."""
    if _round_trips(exc):
        return exc
    import copyreg

    copyreg.pickle(type(exc), _exception_reduce)
    return exc if _round_trips(exc) else RuntimeError(f"{type(exc).__name__}: {exc}")


def _by_value(reduced: tuple) -> bool:
    """Whether cloudpickle sends a class by value (defined in a function, or in ``__main__``)."""
    return getattr(reduced[0], "__name__", "") == "_make_skeleton_class"


def _made_sendable_back(make: Any, args: tuple) -> type:
    """Rebuild a class sent by value (on a worker) and let the standard pickler send its
    instances back: scikit-learn's callbacks report to the caller over a
    ``multiprocessing`` connection, whose pickler looks classes up by name, which a
    class defined in a function does not have (``Can't pickle <class ...>: attribute
    lookup ... failed``). Its instances go as cloudpickle bytes instead."""
    cls = make(*args)
    from multiprocessing.reduction import ForkingPickler

    ForkingPickler.register(cls, _by_cloudpickle)
    return cls


def _by_cloudpickle(obj: Any) -> tuple:
    return cloudpickle.loads, (cloudpickle.dumps(obj),)


class Pickler(_Reducing):
    """:class:`_Reducing` whose failures name what cannot be sent (see :func:`unsendable`)."""

    def dump(self, obj: Any) -> None:
        try:
            super().dump(obj)
        except Exception as exc:  # noqa: BLE001 - pickle raises TypeError, AttributeError, PicklingError...
            raise unsendable(obj, exc) from None


def dumps(obj: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes:
    """``obj`` as bytes for a worker, or a ``PicklingError`` that names what cannot be sent.

    Raises
    ------
    pickle.PicklingError
        Naming the object, its place in ``obj`` and where it was defined.
    """
    buffer = io.BytesIO()
    Pickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


class UnsendableError(pickle.PicklingError, TypeError):
    """Work that pickles in no way the workers can receive: a ``PicklingError``, and a
    ``TypeError`` as pickle's own "cannot pickle '...' object" is, so code that caught
    either still does."""


def unsendable(obj: Any, exc: BaseException) -> pickle.PicklingError:
    """The error for ``obj`` that failed to pickle with ``exc``: what, where, and the fix."""
    found = _locate(obj, "", 0)
    if found is None:
        return UnsendableError(f"Cannot send this work to the workers: {type(exc).__name__}: {exc}")
    path, culprit, error = found
    where = f" ({_readable(path)})" if path else ""
    return UnsendableError(
        f"Cannot send {_describe(culprit)}{where} to the workers: {error}. It works in this process; "
        "workers need a copy of it. Make it picklable, or run this fit in this process (the local "
        "backend without n_jobs)."
    )


# A joblib call is (function, args, kwargs): "[3][2]['caller'].cv" is the keyword argument
# caller of a call, its attribute cv.
_CALL_PART = re.compile(r"^.*?\[\d+\]\[(1|2)\]\[([^\]]+)\]")


def _readable(path: str) -> str:
    """A path in the pickled call as words: ``the keyword argument 'caller' of the call, at .cv``."""
    match = _CALL_PART.match(path)
    if match is None:
        return f"at {path} of the call"
    kind = "keyword argument" if match.group(1) == "2" else "positional argument"
    rest = path[match.end():]
    return f"the {kind} {match.group(2)} of the call" + (f", at {rest}" if rest else "")


def _pickles(obj: Any) -> BaseException | None:
    try:
        _Reducing(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    except Exception as exc:  # noqa: BLE001 - as in Pickler.dump
        return exc
    return None


def _parts(obj: Any) -> Iterator[tuple[str, Any]]:
    """The named parts of ``obj`` a pickler would visit: items, entries, attributes."""
    if isinstance(obj, (list, tuple)):
        yield from ((f"[{i}]", value) for i, value in enumerate(obj))
    elif isinstance(obj, dict):
        yield from ((f"[{key!r}]", value) for key, value in obj.items())
    elif isinstance(obj, (types.FunctionType, type)):
        return  # cloudpickle sends these by value: the error names the function or class itself
    elif hasattr(obj, "__dict__"):
        yield from ((f".{name}", value) for name, value in vars(obj).items())
    else:  # a class with __slots__ (a wrapper around the call, such as the batch that reports back)
        slots = (name for cls in type(obj).__mro__ for name in getattr(cls, "__slots__", ()))
        yield from ((f".{name}", getattr(obj, name)) for name in slots if hasattr(obj, name))


def _locate(obj: Any, path: str, depth: int) -> tuple[str, Any, BaseException] | None:
    """The deepest part of ``obj`` that does not pickle, with its path, or None if all do."""
    error = _pickles(obj)
    if error is None:
        return None
    if depth < _MAX_DEPTH:
        for name, part in _parts(obj):
            found = _locate(part, path + name, depth + 1)
            if found is not None:
                return found
    return path, obj, error


def _describe(obj: Any) -> str:
    """``obj`` with where it was defined: ``the generator KFold.split (sklearn/.../_split.py:410)``."""
    if isinstance(obj, types.GeneratorType):
        code = obj.gi_code
        return f"the generator {getattr(code, 'co_qualname', code.co_name)} ({code.co_filename}:{code.co_firstlineno})"
    target = obj if isinstance(obj, (type, types.FunctionType)) else type(obj)
    kind = "the class" if isinstance(obj, type) else "the function" if isinstance(obj, types.FunctionType) else "an object of type"
    try:
        source = f" ({inspect.getsourcefile(target)}:{inspect.getsourcelines(target)[1]})"
    except (TypeError, OSError):
        source = ""
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__name__)}"
    return f"{kind} {name}{source}"


_LOKY_LOCK = threading.Lock()
_LOKY_USERS: list = [0, None]  # blocks open in this process, the pickler before the first


@contextmanager
def for_loky() -> Iterator[None]:
    """Inside the block, loky (joblib's process pool) pickles its tasks with :class:`Pickler`.

    loky's pickler is process-wide: it is set when the first block opens, in any
    thread, and the previous one restored when the last closes (blocks of several
    threads overlap). loky records the pickler's name with each task, so its workers
    use the same.
    """
    try:
        from joblib.externals.loky import set_loky_pickler
        from joblib.externals.loky.backend.reduction import get_loky_pickler_name
    except ImportError:  # pragma: no cover - a joblib without loky
        yield
        return
    with _LOKY_LOCK:
        if _LOKY_USERS[0] == 0:
            _LOKY_USERS[1] = get_loky_pickler_name()
            set_loky_pickler(__name__)
        _LOKY_USERS[0] += 1
    try:
        yield
    finally:
        with _LOKY_LOCK:
            _LOKY_USERS[0] -= 1
            if _LOKY_USERS[0] == 0:
                set_loky_pickler(_LOKY_USERS[1])
