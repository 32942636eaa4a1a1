"""scaleml: run the scikit-learn code you have on more cores, a Dask cluster or a GPU.

Public names::

    Scaled        meta-estimator: fit any estimator through a backend
    backend       context manager: make a backend active for a block of code
    explain       where each step of an estimator would run, and why
    Plan          what ``explain`` and ``Scaled.plan_`` return
    backends      the registry (``scaleml.backends.available()``)
    save, load    fitted models in skops' format (no code runs on load)

``import scaleml`` imports neither dask nor torch nor cupy: engines load when a
backend that needs them is used.
"""

from . import backends
from ._config import backend
from ._version import __version__
from .exceptions import (
    BackendOptionError,
    BackendUnavailableError,
    InvalidParameterError,
    ScaleMLError,
    UnknownBackendError,
)
from .persistence import load, save
from .planning import Plan

# The dask-ml backend fits scikit-learn's linear models, PCA/TruncatedSVD, KMeans, encoders,
# SimpleImputer and RobustScaler beyond memory with scaleml's blocked twins; registered by
# path, so no backend imports them.
for _package in ("linear_model", "decomposition", "cluster", "preprocessing"):
    backends.register_twin_provider(f"scaleml.{_package}:from_sklearn")
del _package

__all__ = [
    "BackendOptionError",
    "BackendUnavailableError",
    "InvalidParameterError",
    "Plan",
    "ScaleMLError",
    "Scaled",
    "UnknownBackendError",
    "__version__",
    "backend",
    "backends",
    "explain",
    "load",
    "save",
]


def load_ipython_extension(ipython):  # noqa: ANN001 - IPython's hook: `%load_ext scaleml`
    """Register the ``%scaleml`` / ``%%scaleml`` magics (see :mod:`scaleml.magic`)."""
    from .magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):  # noqa: ANN001
    from .magic import unload_ipython_extension as unload

    unload(ipython)


# The estimator packages, read as ``scaleml.cluster.KMeans`` after a plain ``import scaleml``
# as the docs write them; imported on first use, like scikit-learn's own subpackages.
_SUBPACKAGES = ("cluster", "decomposition", "linear_model", "model_selection", "nn", "preprocessing", "search")


def __getattr__(name: str):
    # Scaled and explain pull in scikit-learn (about a second); load them on first
    # use so that `scaleml --help` and `scaleml info` start fast.
    if name in ("Scaled", "explain"):
        from . import scaled

        return getattr(scaled, name)
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'scaleml' has no attribute {name!r}")
