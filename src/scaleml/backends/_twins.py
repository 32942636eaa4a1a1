"""Out-of-core twins: estimators made for blocks that stand in for a scikit-learn one.

Beyond memory, the dask-ml backend fits a step that has no ``partial_fit`` with
its *twin*: an estimator with ``fit_blocks`` minimizing the same objective pass
by pass over the blocks, whose fitted attributes are then copied into the
scikit-learn step (or which makes the step fitted itself, ``export_to(step)``).
A provider is a function ``provider(step) -> twin or None``; providers are
registered by import path, so no backend imports the packages that provide them
(scaleml registers its blocked linear models, decompositions and KMeans when
``scaleml`` is imported).
"""

from __future__ import annotations

import importlib
from typing import Any

_providers: list[str] = []


def register_twin_provider(target: str) -> None:
    """Register ``"module:function"``, a function returning a step's twin or None."""
    if target not in _providers:
        _providers.append(target)


def twin_of(step: Any) -> Any:
    """The unfitted twin of ``step`` from the first provider that has one, or None."""
    for target in _providers:
        module_name, _, function_name = target.partition(":")
        twin = getattr(importlib.import_module(module_name), function_name)(step)
        if twin is not None:
            return twin
    return None


def engine_of(twin: Any) -> str:
    """The package a twin comes from, for plans (``"scaleml.linear_model"``)."""
    module = type(twin).__module__
    return module.split("._")[0] if module.startswith("scaleml.") else module.split(".")[0].replace("_", "-")
