"""Which backend is active: explicit argument > ``backend(...)`` context > env > default.

The context is thread-local, like joblib's own configuration: a ``with
scaleml.backend(...)`` block affects the thread that entered it and nothing else.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ._signals import SigtermAsExit
from .backends import Backend, create_backend, normalize_name
from .exceptions import ScaleMLError

ENV_BACKEND = "SCALEML_BACKEND"
DEFAULT_BACKEND = "local"

_state = threading.local()


def _stack() -> list[Backend]:
    if not hasattr(_state, "stack"):
        _state.stack = []
    return _state.stack


def _remove(stack: list[Backend], instance: Backend) -> None:
    """Remove the last entry that is ``instance`` itself."""
    for index in range(len(stack) - 1, -1, -1):
        if stack[index] is instance:
            del stack[index]
            return


def active_backend() -> Backend | None:
    """The backend of the innermost :func:`backend` block in this thread, if any."""
    stack = _stack()
    return stack[-1] if stack else None


@contextmanager
def backend(name: str | Backend, **options: Any) -> Iterator[Backend]:
    """Make ``name`` the active backend inside a ``with`` block.

    Inside the block, ``scaleml.Scaled(..., backend=None)`` fits on this backend,
    and so does unchanged scikit-learn code that uses ``n_jobs`` (the backend
    configures joblib for the block), ``scaleml.search`` and ``scaleml.linear_model``
    on Dask data. The block is thread-local; blocks nest. (``Scaled`` makes its
    backend active the same way while it fits.)

    Parameters
    ----------
    name : str or Backend
        A backend name (see ``scaleml.backends.available()``) or profile, or a
        backend instance (a plug-in class not registered under a name, say),
        which the caller then owns: the block does not stop it.
    **options
        Options of that backend (``n_jobs`` for ``local``, ...).

    Yields
    ------
    Backend
        The backend instance, useful to inspect its options.

    Raises
    ------
    UnknownBackendError, BackendUnavailableError, BackendOptionError
        At the ``with`` statement, before any work starts.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.model_selection import GridSearchCV
    >>> with scaleml.backend("local", n_jobs=-1):  # doctest: +SKIP
    ...     GridSearchCV(RandomForestClassifier(), {"max_depth": [3, 5]}).fit(X, y)
    """
    owned = not isinstance(name, Backend)
    instance = create_backend(name, **options) if owned else name.with_options(**options)
    owned = owned or instance is not name
    stack = _stack()
    stack.append(instance)
    try:
        with instance.activate():
            yield instance
    finally:
        _remove(stack, instance)  # this block's own entry, even if blocks closed out of order
        if owned:
            instance.stop()


@dataclass
class ResolvedBackend:
    """A backend chosen for one call, with where the choice came from.

    Attributes
    ----------
    backend : Backend
        The instance to use.
    source : str
        ``"argument"``, ``"context"``, ``"environment"`` or ``"default"``.
    owned : bool
        Whether it was created for this call, and so is stopped after it.
    """

    backend: Backend
    source: str
    owned: bool

    def __post_init__(self) -> None:
        self._sigterm = SigtermAsExit()
        self._pushed = False

    def __enter__(self) -> ResolvedBackend:
        # A SIGTERM while the backend works unwinds like Ctrl-C, closing workers.
        self._sigterm.__enter__()
        # While it works it is the active backend, so scaleml code inside the fit
        # (a scaleml.search estimator, a nested Scaled) runs on it too.
        if active_backend() is not self.backend:
            _stack().append(self.backend)
            self._pushed = True
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._pushed:
                _remove(_stack(), self.backend)
                self._pushed = False
            if self.owned:
                self.backend.stop()
        finally:
            self._sigterm.__exit__(*exc_info)


def resolve_backend(name: str | None = None, options: dict[str, Any] | None = None) -> ResolvedBackend:
    """Choose the backend for one call.

    Precedence: ``name`` when given > the active :func:`backend` block > the
    ``SCALEML_BACKEND`` environment variable > ``"local"``. ``options`` are laid
    over the chosen backend's own options. An explicit ``name`` equal to the
    active block's backend reuses that block's instance (and its connections).
    """
    options = dict(options or {})
    active = active_backend()
    if active is not None and (name is None or normalize_name(name) == active.name):
        derived = active.with_options(**options)
        return ResolvedBackend(derived, "context" if name is None else "argument", owned=derived is not active)
    if name is not None:
        return ResolvedBackend(create_backend(name, **options), "argument", owned=True)
    env_name = os.environ.get(ENV_BACKEND, "").strip()
    if env_name:
        try:
            return ResolvedBackend(create_backend(env_name, **options), "environment", owned=True)
        except ScaleMLError as exc:
            raise type(exc)(
                f"{exc} (The backend came from the environment variable "
                f"{ENV_BACKEND}={env_name!r}; unset it or fix the name.)"
            ) from exc
    return ResolvedBackend(create_backend(DEFAULT_BACKEND, **options), "default", owned=True)
