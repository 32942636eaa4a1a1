"""The dask backend's memory check, before data is sent: what each worker will hold for a
fit (:func:`held_bytes`) and one inner fit's working memory (:func:`probe_fit_bytes`).

The probe measures with :mod:`tracemalloc`, not the process's resident memory: its peak
can be reset around each probe fit (``ru_maxrss`` is the whole process's lifetime peak,
and other threads' allocations move RSS), and NumPy reports its buffers to it, which is
most of what a scikit-learn fit allocates. It misses what native code allocates with
its own ``malloc`` (liblinear's and libsvm's copies, OpenMP buffers), so the estimate
is a floor; the budget also counts each fit's copy of its fold's rows, which no probe
sees, and keeps Dask's pause fraction of each worker's limit as a margin.
"""

from __future__ import annotations

import contextlib
import io
import time
import tracemalloc
import warnings
from typing import Any

from sklearn.base import clone, is_classifier

# Probe fits use this many rows, then twice as many: memory = fixed + per row x rows, the
# two sizes giving both. Small, so the probes take a fraction of one real fit.
PROBE_ROWS = 200
PROBE_SECONDS = 5.0  # no second probe after a first this slow: the estimate is the first, scaled


def n_rows(X: Any) -> int | None:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        return None


def held_bytes(estimator: Any, X: Any, y: Any) -> int:
    """What every worker holds for the whole fit: X, y and, for an estimator with ``cv``,
    each split's train and test indices (int64, every row once per split)."""
    from dask.sizeof import sizeof

    total = sizeof(X) + (sizeof(y) if y is not None else 0)
    rows = n_rows(X) or 0
    splits = _n_splits(estimator, X, y)
    return int(total + 8 * rows * splits)


def _n_splits(estimator: Any, X: Any, y: Any) -> int:
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    if "cv" not in params:
        return 0
    from sklearn.model_selection import check_cv

    inner = params.get("estimator")
    try:
        return int(check_cv(params["cv"], y, classifier=is_classifier(inner)).get_n_splits(X, y))
    except Exception:  # noqa: BLE001 - a splitter that needs groups, an estimator without tags: counted as none
        # (a guess: the fit itself raises what it raises, as plainly)
        return 0


def probe_fit_bytes(estimator: Any, X: Any, y: Any) -> tuple[int, str]:
    """One inner fit's working memory at the full data's size, from probe fits on slices.

    Only for meta-estimators whose unit of work is a fit of their ``estimator`` (searches,
    RFECV, ...): returns ``(0, why not)`` for others, and when a probe fit fails (it is
    a guess, never a reason to stop the fit). The fit's copy of its fold's rows (about
    X and y again) is added to the probe's measure.
    """
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    inner = params.get("estimator")
    rows = n_rows(X)
    if inner is None or not hasattr(inner, "fit") or not rows:
        return 0, "not probed (no inner estimator whose fits are the tasks)"
    from dask.sizeof import sizeof

    small = min(PROBE_ROWS, rows)
    try:
        first, seconds = _peak(inner, X, y, small)
        if 2 * small <= rows and seconds < PROBE_SECONDS:
            second, _ = _peak(inner, X, y, 2 * small)
            per_row = max(0.0, (second - first) / small)
            fixed = max(0.0, first - per_row * small)
        else:
            per_row, fixed = first / small, 0.0
    except Exception as error:  # noqa: BLE001 - a probe that cannot fit a slice says so and checks the data only
        return 0, f"not probed ({type(error).__name__} fitting a {small}-row slice)"
    fold_copy = sizeof(X) + (sizeof(y) if y is not None else 0)
    estimate = int(fixed + per_row * rows + fold_copy)
    return estimate, f"probed with tracemalloc on {small} and {2 * small} rows"


def _peak(estimator: Any, X: Any, y: Any, rows: int) -> tuple[int, float]:
    """Peak bytes allocated while fitting a clone of ``estimator`` on ``rows`` rows, and the seconds it took."""
    from sklearn.utils import resample

    stratify = y if is_classifier(estimator) and y is not None else None
    arrays = (X, y) if y is not None else (X,)
    try:
        part = resample(*arrays, n_samples=rows, replace=False, random_state=0, stratify=stratify)
    except ValueError:  # a class too rare to stratify: a plain sample
        part = resample(*arrays, n_samples=rows, replace=False, random_state=0)
    X_part, y_part = (part[0], part[1]) if y is not None else (part, None)
    model = clone(estimator)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        begin = time.perf_counter()
        # The probe is scaleml's, not the user's: what it warns or prints (a ConvergenceWarning
        # on 200 rows, a verbose estimator's lines) would read as a fit the user ran.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            model.fit(X_part, y_part) if y_part is not None else model.fit(X_part)
        seconds = time.perf_counter() - begin
        return max(0, tracemalloc.get_traced_memory()[1] - base), seconds
    finally:
        if started:
            tracemalloc.stop()
