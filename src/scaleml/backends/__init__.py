"""The backend registry: names to backend classes, imported only when needed.

Built-in backends are listed here as ``"module:Class"`` strings; third-party
backends register through the ``scaleml.backends`` entry-point group::

    [project.entry-points."scaleml.backends"]
    mybackend = "mypackage.backend:MyBackend"

Use :func:`available` to see every backend and whether it can run here, and
:func:`get_backend_class` / :func:`create_backend` to get one by name.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from ..exceptions import BackendOptionError, BackendUnavailableError, UnknownBackendError
from ..planning import Placement, PlacementRequest, Record, Route
from ._base import Availability, Backend, Option
from ._twins import register_twin_provider

__all__ = [
    "Availability",
    "Backend",
    "BackendInfo",
    "Option",
    "Placement",
    "PlacementRequest",
    "Record",
    "Route",
    "available",
    "create_backend",
    "get_backend_class",
    "names",
    "normalize_name",
    "parse_options",
    "parse_value",
    "register_twin_provider",
]

ENTRY_POINT_GROUP = "scaleml.backends"

# Registry name -> (target, one-line summary). The summary is here, not only on the
# class, so a backend whose module is not in this build can still be described.
BUILTIN_BACKENDS: dict[str, tuple[str, str]] = {
    "local": (
        "scaleml.backends.local:LocalBackend",
        "scikit-learn in this process; joblib (loky) for n_jobs",
    ),
    "dask": (
        "scaleml.backends.dask:DaskBackend",
        "joblib-on-dask: n_jobs work spread over a Dask cluster",
    ),
    "dask-ml": (
        "scaleml.backends.dask_ml:DaskMLBackend",
        "parallel and out-of-core estimators on Dask collections",
    ),
    "torch": (
        "scaleml.backends.array_api.torch:TorchBackend",
        "Array API steps on PyTorch tensors (CUDA, MPS or CPU)",
    ),
    "cupy": (
        "scaleml.backends.array_api.cupy:CuPyBackend",
        "Array API steps on CuPy arrays on a CUDA GPU",
    ),
    "auto": (
        "scaleml.backends.auto:AutoBackend",
        "picks local, every core, dask or dask-ml for each fit from measured costs",
    ),
}


@dataclass(frozen=True)
class BackendInfo:
    """What the registry knows about one backend.

    Attributes
    ----------
    name : str
        Registry name.
    available : bool
        Whether it can run here.
    reason : str
        Why not, with the fix; empty when available.
    summary : str
        One-line description.
    origin : str
        ``"built-in"`` or ``"plug-in <distribution>"``.
    """

    name: str
    available: bool
    reason: str
    summary: str
    origin: str


def normalize_name(name: str) -> str:
    """Registry form of a backend name: lower case, ``_`` read as ``-``."""
    if not isinstance(name, str):
        raise UnknownBackendError(
            f"A backend name must be a string such as 'local', not {type(name).__name__} "
            f"{name!r}. Valid backends: {', '.join(names())}."
        )
    return name.strip().lower().replace("_", "-")


def _plugin_entry_points() -> dict[str, Any]:
    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        key = normalize_name(ep.name)
        if key in BUILTIN_BACKENDS:
            warnings.warn(
                f"Ignoring the plug-in backend {ep.name!r} ({ep.value}): the name is a "
                "built-in backend's. Register it under another name.",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        found.setdefault(key, ep)
    return found


def names() -> list[str]:
    """Every backend name: built-in ones first, then plug-ins, sorted."""
    return list(BUILTIN_BACKENDS) + sorted(_plugin_entry_points())


def _unknown(name: str) -> UnknownBackendError:
    from ._profiles import all_profiles, search_path

    valid = names()
    profiles = [p.name for p in all_profiles()]
    close = difflib.get_close_matches(normalize_name(name), [*valid, *profiles], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = f" Profiles: {', '.join(profiles)}." if profiles else ""
    return UnknownBackendError(
        f"Unknown backend {name!r}. Valid backends: {', '.join(valid)}.{listed}{hint} "
        "Run `scaleml info` to see which of them can run here; profiles are "
        f"<name>.yaml files in {', '.join(str(p) for p in search_path())}."
    )


def _load_class(name: str) -> tuple[type[Backend] | None, str, str]:
    """Return ``(class or None, reason if None, origin)`` for a known name."""
    if name in BUILTIN_BACKENDS:
        target = BUILTIN_BACKENDS[name][0]
        module_name, _, class_name = target.partition(":")
        if importlib.util.find_spec(module_name) is None:
            from .._version import __version__

            return (
                None,
                f"not part of scaleml {__version__}: this release does not ship the "
                f"{name!r} backend yet; 'local' runs everything",
                "built-in",
            )
        return getattr(importlib.import_module(module_name), class_name), "", "built-in"
    ep = _plugin_entry_points()[name]
    origin = f"plug-in {ep.dist.name}" if ep.dist is not None else f"plug-in {ep.value}"
    try:
        cls = ep.load()
    except Exception as exc:  # a broken plug-in must not break the registry
        return None, f"plug-in {ep.value} failed to import: {exc!r}", origin
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        return None, f"plug-in {ep.value} is not a scaleml.backends.Backend subclass", origin
    return cls, "", origin


def get_backend_class(name: str, *, require_available: bool = True) -> type[Backend]:
    """The backend class registered as ``name``, checked to be able to run here
    (unless ``require_available=False``: to describe a backend that cannot).

    Raises
    ------
    UnknownBackendError
        If no backend has that name; the message lists the valid names.
    BackendUnavailableError
        If the backend is known but cannot run here; the message says why and
        what to install.
    """
    key = normalize_name(name)
    if key not in BUILTIN_BACKENDS and key not in _plugin_entry_points():
        raise _unknown(name)
    cls, reason, _ = _load_class(key)
    if cls is None:
        raise BackendUnavailableError(f"Backend {key!r} is unavailable: {reason}.")
    status = cls.availability()
    if not status and require_available:
        raise BackendUnavailableError(f"Backend {key!r} is unavailable: {status.reason}.")
    return cls


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate the backend ``name`` with ``options`` (validated).

    ``name`` may also be a profile (``backends/<name>.yaml``, see
    :mod:`scaleml.backends._profiles`): its backend with its options, ``options``
    laid over them.
    """
    key = normalize_name(name)
    if key not in BUILTIN_BACKENDS and key not in _plugin_entry_points():
        from ._profiles import find

        profile = find(name.strip())
        if profile is not None:
            cls = get_backend_class(profile.backend)
            if profile.cluster is not None:
                profile.cluster.check()  # a misspelled argument is named before anything starts
            return cls(**{**profile.backend_options(), **options})
    return get_backend_class(name)(**options)


def available() -> list[BackendInfo]:
    """Every known backend, whether it can run here, and if not, why.

    Imports backend modules (cheap: they import their engines lazily) but no engine.
    """
    infos = []
    for name in names():
        cls, reason, origin = _load_class(name)
        summary = BUILTIN_BACKENDS[name][1] if name in BUILTIN_BACKENDS else ""
        status = Availability(False, reason)
        if cls is not None:
            summary = cls.summary or summary
            status = cls.availability()
        infos.append(BackendInfo(name, status.available, status.reason, summary, origin))
    return infos


def parse_value(text: str) -> Any:
    """An option value from the command line: int, float, true/false, none, else the string."""
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_options(pairs: Any) -> dict[str, Any]:
    """Backend options from ``key=value`` strings (``-o n_jobs=-1`` on the command line)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BackendOptionError(f"{pair!r} is not key=value (e.g. -o n_jobs=-1).")
        options[key.strip()] = parse_value(value.strip())
    return options
