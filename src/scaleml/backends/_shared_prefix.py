"""Searches that fit a pipeline's shared prefix once per fold, as dask-ml's GridSearchCV did.

A search over a pipeline's last step refits the steps before it for every
candidate, though on a given fold they are the same steps with the same
parameters on the same rows. scikit-learn's ``Pipeline`` can cache its
transformers (``memory=``): given a cache that the search's workers share,
each fold's prefix is fitted once per distinct prefix setting and every other
candidate reads it. ``cv_results_`` keep scikit-learn's scores exactly (the
cached transformer is the one that would have been fitted); only the timings
change.

The cache here never fails a fit that would have run without it: arguments it
cannot hash and results it cannot store (a lambda in a FunctionTransformer) are
computed as usual. It lives in a temporary folder on this machine, so the
backends use it where the workers share this machine's disk, and remove it
after the fit.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import joblib
import numpy as np
import psutil

from ..planning import is_plain_pipeline
from ._base import Option

SHARE_PREFIX = Option(
    True, "searches over a pipeline fit the steps before the last once per fold and shared setting", ["boolean"])
_SEARCHES = ("GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV")
_MISS = "fitted-"  # one empty file per prefix fit: how many there were, across processes
_WAIT_S = 0.005  # how often a fit waiting for the same fit elsewhere looks for its result


@dataclass(frozen=True)
class Sharing:
    """What a search shares: its pipeline's steps before the last, across candidates.

    ``settings`` is how many distinct parameter settings of those steps the
    candidates hold (at most; for random searches, bounded by the lists sampled).
    """

    prefix: tuple[str, ...]
    candidates: int
    settings: int

    def describe(self) -> str:
        steps = ", ".join(self.prefix)
        each = "one setting" if self.settings == 1 else f"{self.settings} settings"
        return (f"the pipeline's steps before the last ({steps}) fitted once per fold for each of {each}, "
                f"shared by {self.candidates} candidates (scikit-learn's Pipeline memory, a cache the workers share)")


def sharing_of(search: Any) -> Sharing | None:
    """How ``search`` would share its pipeline prefix, or None when nothing would be shared."""
    if type(search).__name__ not in _SEARCHES or not type(search).__module__.startswith("sklearn."):
        return None
    pipeline = search.get_params(deep=False).get("estimator")
    if not is_plain_pipeline(pipeline) or pipeline.memory is not None or len(pipeline.steps) < 2:
        return None
    prefix = tuple(name for name, step in pipeline.steps[:-1]
                   if not (step is None or (isinstance(step, str) and step == "passthrough")))
    if not prefix:
        return None
    final = pipeline.steps[-1][0]
    counted = _grid_settings(search, final) if hasattr(search, "param_grid") else _random_settings(search, final)
    if counted is None:
        return None
    candidates, settings = counted
    return Sharing(prefix, candidates, settings) if settings < candidates else None


def _prefix_keys(keys: Any, final: str) -> list[str] | None:
    """The searched parameters that are not the last step's; None when one is the cache itself."""
    touched = []
    for key in keys:
        if key == "memory":
            return None  # the user controls the caching
        if key.split("__", 1)[0] != final:
            touched.append(key)
    return touched


def _grid_settings(search: Any, final: str) -> tuple[int, int] | None:
    from sklearn.model_selection import ParameterGrid

    candidates = list(ParameterGrid(search.param_grid))
    settings = set()
    for candidate in candidates:
        keys = _prefix_keys(candidate, final)
        if keys is None:
            return None
        settings.add(tuple(sorted((key, repr(candidate[key])) for key in keys)))
    return len(candidates), len(settings)


def _random_settings(search: Any, final: str) -> tuple[int, int] | None:
    grids = search.param_distributions
    grids = grids if isinstance(grids, list) else [grids]
    settings = 0
    for grid in grids:
        keys = _prefix_keys(grid, final)
        if keys is None or any(not isinstance(grid[key], (list, tuple)) for key in keys):
            return None  # a continuous distribution: no two candidates are likely to share
        settings += math.prod(len(grid[key]) for key in keys)
    # RandomizedSearchCV draws n_iter candidates; HalvingRandomSearchCV n_candidates in its first round
    candidates = getattr(search, "n_iter", getattr(search, "n_candidates", None))
    if not isinstance(candidates, int):
        return None  # "exhaust": the count depends on the data
    return candidates, min(settings, candidates)


class FoldCache:
    """joblib.Memory's ``cache`` interface over a folder that this machine's processes share.

    Results are keyed by a hash of the call (the unfitted transformer's parameters,
    the fold's rows, ...: see :func:`_argument_key`), written whole under a temporary
    name and renamed, so workers fitting at once never read half a file. A call that
    another worker (or thread) on this machine is fitting is waited for, not fitted again.
    """

    def __init__(self, location: str) -> None:
        self.location = location

    def cache(self, func: Any, ignore: list[str] | None = None) -> Any:
        """``func`` with its results shared; arguments named in ``ignore`` are left out of the key."""
        return _CachedCall(func, self.location, tuple(ignore or ()))

    def fits(self) -> int:
        """How many calls were computed (not read from the cache) so far."""
        try:
            return sum(name.startswith(_MISS) for name in os.listdir(self.location))
        except FileNotFoundError:
            return 0


class _CachedCall:
    def __init__(self, func: Any, location: str, ignore: tuple[str, ...]) -> None:
        self.func = func
        self.location = location
        self.ignore = ignore

    def _key(self, args: tuple, kwargs: dict) -> str:
        bound = inspect.signature(self.func).bind(*args, **kwargs)
        named = {name: _argument_key(value) for name, value in bound.arguments.items() if name not in self.ignore}
        return joblib.hash((self.func.__module__, self.func.__qualname__, named))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            key = self._key(args, kwargs)
        except Exception:  # noqa: BLE001 - what cannot be hashed is computed, as without a cache
            return self.func(*args, **kwargs)
        path = os.path.join(self.location, f"{key}.joblib")
        # Two candidates on the same fold may start at once on two workers: one fits (it
        # holds the claim), the others wait for its result, as long as its process lives.
        claim = f"{path}.fitting"
        while True:
            found = _load(path, key)
            if found is not None:
                return found[0]
            if os.path.exists(f"{path}.unstorable"):
                return self.func(*args, **kwargs)  # fitted elsewhere, but not shareable: fit here too
            claimed = _claim(claim)
            if claimed is not False:
                break  # ours (True), or the folder cannot be marked (None): fit, unmarked
            _wait_for(claim)
        try:
            found = _load(path, key)  # stored between the look above and the claim
            if found is not None:
                return found[0]
            result = self.func(*args, **kwargs)
            os.makedirs(self.location, exist_ok=True)
            open(os.path.join(self.location, f"{_MISS}{uuid.uuid4().hex}"), "w").close()
            partial = f"{path}.{uuid.uuid4().hex}.partial"
            try:
                joblib.dump(result, partial)
                os.replace(partial, path)
            except Exception:  # noqa: BLE001 - a result that cannot be stored is simply not shared
                _remove(partial)
                _touch(f"{path}.unstorable")  # so that the fits waiting for it fit now
        finally:
            if claimed:
                _remove(claim)
        return _remember(result, key)


def _load(path: str, key: str) -> tuple[Any] | None:
    """The cached result at ``path`` (as a 1-tuple), or None: absent or damaged (recomputed)."""
    if not os.path.exists(path):
        return None
    try:
        return (_remember(joblib.load(path), key),)
    except Exception:  # noqa: BLE001 - a damaged entry is recomputed
        return None


def _claim(claim: str) -> bool | None:
    """Mark a fit as under way in this process: True; False if another process or thread
    has; None if the mark cannot be made (the folder is gone)."""
    try:
        descriptor = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    except OSError:
        return None
    with os.fdopen(descriptor, "w") as file:
        file.write(str(os.getpid()))
    return True


def _touch(path: str) -> None:
    try:
        open(path, "w").close()
    except OSError:
        pass


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _wait_for(claim: str) -> None:
    """Wait while another fit holds ``claim``: until it ends (its result stored, or not),
    or its process is found gone, whose claim is then removed. Not bounded otherwise: a
    fit that never ends would hold the search anyway."""
    while True:
        try:
            with open(claim) as file:
                holder = file.read().strip()
        except OSError:
            return  # ended
        if holder.isdigit() and not psutil.pid_exists(int(holder)):
            _remove(claim)  # left by a process that died mid-fit
            return
        time.sleep(_WAIT_S)


# Arrays this process got from the cache, by id, with their keys: the next step's
# input is the last step's output, so its key is known without hashing it again.
# Held by weak reference: keeping fold-sized arrays alive would look like a leak to
# loky, which then restarts its workers (measured: 3 s lost per restart).
_LINEAGE: OrderedDict[int, tuple[str, weakref.ref]] = OrderedDict()
_LINEAGE_SIZE = 64
_LINEAGE_LOCK = threading.Lock()


def _argument_key(value: Any) -> Any:
    """A small stand-in for ``value`` in a cache key: its lineage when this process made it,
    SHA-256 of an array's bytes (about 2.5x faster than pickling it through joblib's
    MD5), else joblib's hash."""
    with _LINEAGE_LOCK:
        known = _LINEAGE.get(id(value))
    if known is not None and known[1]() is value:
        return known[0]
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        data = np.ascontiguousarray(value)
        return ("array", value.shape, value.dtype.str, hashlib.sha256(memoryview(data).cast("B")).hexdigest())
    return joblib.hash(value)


def _remember(result: Any, key: str) -> Any:
    items = result if isinstance(result, tuple) else (result,)
    with _LINEAGE_LOCK:
        for index, item in enumerate(items):
            if isinstance(item, np.ndarray):
                _LINEAGE[id(item)] = (f"{key}:{index}", weakref.ref(item))
                _LINEAGE.move_to_end(id(item))
        while len(_LINEAGE) > _LINEAGE_SIZE:
            _LINEAGE.popitem(last=False)
    return result


@contextmanager
def shared_prefix(search: Any) -> Iterator[FoldCache]:
    """Give ``search``'s pipeline a shared cache while it fits; remove it after.

    The fitted search keeps no trace of it: its ``estimator`` and ``best_estimator_``
    have ``memory=None`` again.
    """
    cache = FoldCache(tempfile.mkdtemp(prefix="scaleml-prefix-"))
    search.estimator.set_params(memory=cache)
    try:
        yield cache
    finally:
        search.estimator.set_params(memory=None)
        best = search.__dict__.get("best_estimator_")
        if is_plain_pipeline(best):
            best.set_params(memory=None)
        shutil.rmtree(cache.location, ignore_errors=True)


@contextmanager
def sharing_in_fit(estimator: Any, record: Any, enabled: bool, shared_disk: bool) -> Iterator[None]:
    """Share ``estimator``'s pipeline prefix during its fit when that helps, and say so in the plan.

    ``shared_disk``: whether the workers that fit see this machine's temporary folder
    (this process, loky, a LocalCluster); where they do not, nothing is shared and the
    plan says why. Call after the steps are placed; in a dry run only the plan is written.
    """
    sharing = sharing_of(estimator) if enabled else None
    if sharing is None or not record.steps:
        yield
        return
    placement = record.steps[0]  # a search is one step
    path = placement.step
    if not shared_disk:
        record.place(replace(placement, reason=f"{placement.reason}; the pipeline prefix is refitted for every "
                                               "candidate: the workers are on other machines, so they share no cache"))
        yield
        return
    record.place(replace(placement, reason=f"{placement.reason}; {sharing.describe()}"))
    if record.dry_run:
        yield
        return
    with shared_prefix(estimator) as cache:
        yield
        record.observe(path, prefix_fits=cache.fits())
