"""Run existing code unchanged with a backend active: what ``scaleml exec`` does.

The script (or module) runs as ``__main__`` in this process, with its own
``sys.argv``, inside ``scaleml.backend(...)``: its ``n_jobs`` work goes to the
backend's engine, Dask collections compute on its cluster, and scaleml's own
estimators run there too. Its exit status and exceptions are its own.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from typing import Any, TextIO

from ._config import ENV_BACKEND, backend
from .exceptions import BackendOptionError, ScaleMLError, UnknownBackendError


def run(target: str, args: Sequence[str] = (), *, module: bool = False, backend_name: str | None = None,
        options: dict[str, Any] | None = None, verbose: bool = False, report: TextIO | None = None) -> int:
    """Run ``target`` (a script path, or a module name with ``module=True``) as ``__main__``.

    Parameters
    ----------
    target : str
        ``script.py``, or ``package.module`` with ``module=True`` (as ``python -m``).
    args : sequence of str
        The script's arguments: ``sys.argv[1:]`` as it sees them.
    backend_name : str, optional
        Backend or profile; default ``SCALEML_BACKEND``, else ``"local"``.
    options : dict, optional
        Backend options.
    verbose : bool
        Progress and the dashboard link while it runs (backends that have them),
        and a report of every fit at the end, on ``report`` (stderr).

    Returns
    -------
    int
        The exit status the script would have under ``python``: 0, its
        ``sys.exit`` code, or 1 after an uncaught exception (whose traceback,
        from the script's own frames, is printed to stderr).
    """
    report = report if report is not None else sys.stderr
    name = backend_name or os.environ.get(ENV_BACKEND, "").strip() or "local"
    source = "--backend" if backend_name else (ENV_BACKEND if os.environ.get(ENV_BACKEND, "").strip() else "default")
    options = dict(options or {})
    path, entry = _locate(target, module)
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [target, *args]
    sys.path[0:1] = [entry]  # as `python script.py` / `python -m` put the script's folder (or cwd) first
    status, summary = 0, ""
    try:
        with _entered(name, source, options, verbose) as instance:
            if module:  # inside the block: finding it imports its parent package, as runpy would here
                _check_module(target)
            log = _fit_log(instance) if verbose else nullcontext()
            with log:
                status = _run_as_main(target, path, report)
            if verbose:
                summary = log.format(source)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    report.write(summary)
    return status


def _locate(target: str, module: bool) -> tuple[str | None, str]:
    """The script's absolute path (None for a module) and the folder to put first on ``sys.path``:
    the script's own, or the working directory for a module, as ``python`` does.

    Raises
    ------
    ScaleMLError
        No file at a script's path (a module is looked for later, inside the backend's block).
    """
    if module:
        return None, os.getcwd()
    path = os.path.abspath(target)
    if not os.path.isfile(path):
        raise ScaleMLError(f"No script at {target!r}. Give a Python file, or -m package.module for a module.")
    return path, os.path.dirname(path)


def _run_as_main(target: str, path: str | None, report: TextIO) -> int:
    """Run the script at ``path`` (or the module ``target`` when ``path`` is None) as ``__main__``;
    its exit status as ``python`` would give it, an uncaught exception's traceback on ``report``."""
    try:
        if path is None:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        return _exit_status(exc)
    except Exception as exc:  # noqa: BLE001 - the script's own error, shown as python shows it
        print_script_traceback(exc, report)
        return 1
    return 0


def _check_module(target: str) -> None:
    """Fail as ``python -m`` does, in one line, for a module that cannot be found (runpy's
    error came with a traceback through this runner): the module or a parent package is
    not there, or importing a parent package failed (then its own error is named)."""
    import importlib.util

    try:
        found = importlib.util.find_spec(target) is not None
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not (target == missing or target.startswith(missing + ".")):  # a parent imports something absent
            raise ScaleMLError(f"Error while finding module specification for {target!r} "
                               f"(ModuleNotFoundError: {exc}).") from None
        found = False
    except ValueError:  # an empty or relative name
        found = False
    except Exception as exc:  # noqa: BLE001 - a parent package's __init__ failed: python -m names it too
        raise ScaleMLError(f"Error while finding module specification for {target!r} "
                           f"({type(exc).__name__}: {exc}).") from None
    if not found:
        raise ScaleMLError(f"No module named {target!r} (searched from {os.getcwd()}, as python -m does). "
                           "Check the name, or give a script's path without -m.")


@contextmanager
def _entered(name: str, source: str, options: dict[str, Any], verbose: bool) -> Iterator[Any]:
    """The backend's block; a wrong name or option from the environment says where it came from."""
    stack = ExitStack()
    try:
        instance = stack.enter_context(backend(name, **_with_verbose(name, options, verbose)))
    except (UnknownBackendError, BackendOptionError) as exc:  # the name or options are wrong, not the machine
        if source != ENV_BACKEND:
            raise
        raise type(exc)(f"{exc} (The backend came from the environment variable {ENV_BACKEND}={name!r}; "
                        "unset it, fix the name, or pass --backend.)") from None
    with stack:
        yield instance


def _with_verbose(name: str, options: dict[str, Any], verbose: bool) -> dict[str, Any]:
    """Turn on the backend's own ``verbose`` option (dashboard link, progress) under ``-v``."""
    if not verbose or "verbose" in options:
        return options
    from .backends import create_backend

    probe = create_backend(name)
    return {**options, "verbose": True} if "verbose" in type(probe).options else options


def _fit_log(instance: Any) -> Any:
    from ._fit_log import FitLog

    return FitLog(instance)


def _exit_status(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message"): printed, status 1, as python does
    return 1


def print_script_traceback(exc: BaseException, stream: TextIO) -> None:
    """The traceback from the script's first frame on, without the runner's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__") != "__main__":
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__, file=stream)
