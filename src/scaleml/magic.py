"""IPython and Jupyter: run unchanged notebook cells on a backend.

    %load_ext scaleml
    %%scaleml dask -o n_workers=2     # this cell runs with the dask backend active
    %scaleml dask                     # every following cell, until %scaleml off
    %scaleml                          # which backend is active

Inside, as in a ``with scaleml.backend(...)`` block: ``n_jobs`` work runs on the
backend, Dask collections compute on its cluster, scaleml's estimators use it.
"""

from __future__ import annotations

import ast
import inspect
import shlex
from contextlib import ExitStack
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, output_can_be_silenced

from ._config import active_backend, backend
from .backends import parse_options
from .exceptions import ScaleMLError

USAGE = "usage: %scaleml [BACKEND [-o KEY=VALUE ...] | off]   or   %%scaleml BACKEND [-o KEY=VALUE ...] on a cell"


def _parse(line: str) -> tuple[str | None, dict[str, Any]]:
    words = shlex.split(line)
    name = words.pop(0) if words and not words[0].startswith("-") else None
    pairs = []
    while words:
        flag = words.pop(0)
        if flag not in ("-o", "--option") or not words:
            raise ValueError(f"{USAGE} (could not read {flag!r})")
        pairs.append(words.pop(0))
    return name, parse_options(pairs)


def _awaits(source: str) -> bool:
    """Whether the cell uses ``await`` (or ``async for/with``) at its top level."""
    try:
        code = compile(source, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError:
        return False  # reported by the normal path, with the cell's lines
    return bool(code.co_flags & inspect.CO_COROUTINE)


def _entered(name: str, options: dict[str, Any]) -> ExitStack:
    """The backend's block, entered: a wrong name or option is a UsageError, which IPython
    shows as its one-line message (the message names the fix), not as a traceback."""
    stack = ExitStack()
    try:
        stack.enter_context(backend(name, **options))
    except ScaleMLError as exc:
        raise UsageError(str(exc)) from None
    return stack


@magics_class
class ScalemlMagics(Magics):
    """``%scaleml`` (line: the session's backend) and ``%%scaleml`` (cell: one cell's)."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._session: ExitStack | None = None

    @line_cell_magic
    @output_can_be_silenced  # a cell ending in ";" shows nothing, as without the magic
    def scaleml(self, line: str, cell: str | None = None) -> Any:
        try:
            name, options = _parse(line)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if cell is not None:
            if name is None:
                raise UsageError(USAGE)
            with _entered(name, options):
                return self._run(cell)
        if name is None:
            active = active_backend()
            print(f"scaleml: backend {active.name!r} is active" if active else "scaleml: no backend is active (local)")
            return None
        self.stop_session()
        if name.lower() in ("off", "none"):
            print("scaleml: back to plain scikit-learn for the next cells")
            return None
        stack = _entered(name, options)
        instance = active_backend()
        if instance.cluster_description() is not None:
            import dask

            # A cell is run as its own task: keep the cluster the scheduler of later cells too.
            stack.enter_context(dask.config.set(scheduler=instance.cluster()))
        self._session = stack
        print(f"scaleml: backend {instance.name!r} is active for the next cells (%scaleml off to stop)")
        return None

    def _run(self, cell: str) -> Any:
        """Run the cell in the user's namespace and return its last expression's value, as
        ``%%time`` does: IPython shows that value and, if the cell raises, one traceback (a
        nested ``run_cell`` showed both its own and, re-raised, the magic's)."""
        __tracebackhide__ = True  # IPython leaves this frame out of a failing cell's traceback
        shell = self.shell
        source = shell.transform_cell(cell)
        if _awaits(source):  # a cell magic runs inside the cell's own execution: no loop to await on
            raise UsageError("A %%scaleml cell cannot use top-level await. Make the backend active for the "
                             "next cells with the line magic instead: `%scaleml <backend>` (then `%scaleml off`).")
        filename = shell.compile.cache(source, shell.execution_count)  # a traceback shows the cell's lines
        tree = shell.compile.ast_parse(source, filename)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if tree.body:
            exec(shell.compile(tree, filename, "exec"), shell.user_ns)  # noqa: S102 - the user's own cell
        if last is None:
            return None
        return eval(shell.compile(ast.Expression(last.value), filename, "eval"), shell.user_ns)  # noqa: S307

    def stop_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(ScalemlMagics)


def unload_ipython_extension(ipython: Any) -> None:
    magics = ipython.magics_manager.registry.get("ScalemlMagics")
    if magics is not None:
        magics.stop_session()
