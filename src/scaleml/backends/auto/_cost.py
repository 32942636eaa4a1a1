"""The cost model of ``backend="auto"``: how long a fit would take on each backend.

Two halves. :func:`size_work` reads the estimator's parallel structure (a search's
candidates x folds, an ensemble's trees; anything else is one fit) and times the
unit of that structure with short probe fits on a subsample, in this process,
extrapolated to the full data by the growth the probes show. :func:`predict` turns
that work and the machine's :class:`~scaleml.backends._calibration.Constants` into
each candidate's predicted seconds, start-up included.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
from sklearn.base import clone

from ...planning import Estimate, is_plain_pipeline, walk
from ._calibration import Constants
from .._structure import Structure, structure
from .._structure import candidates as _candidates

PROBE_ROWS = (250, 1000, 4000)  # the subsample sizes the unit is timed at, while it is cheap
PROBE_TREES = 4  # trees an ensemble's probe fits
NOISY_S = 0.02
PROBE_BUDGET = 0.05  # probing stops once it has cost this share of the work it predicts
TARGET_BATCH_S = 0.2  # joblib and scaleml's dask backend group calls into batches of about this long


@dataclass(frozen=True)
class Work:
    """A fit as the cost model sees it.

    Attributes
    ----------
    units : int
        Independent fits joblib could run at once (1: nothing to spread).
    unit_seconds : float
        One of them, in this process, at full size.
    serial_seconds : float
        Work that stays in this process whatever the backend (a search's refit,
        the steps before a forest).
    data_bytes : int
        Bytes of ``X`` and ``y`` every worker needs.
    summary : str
        ``"90 independent fits (18 candidates x 5 folds) of ~12 ms each"``.
    how : str
        How the unit was timed (``"timed on 300 and 1200 rows, grown as rows^1.30"``).
    threads : bool
        Whether the estimator spreads its units over threads (scikit-learn's forests),
        which start at once and share the data, rather than worker processes.
    probe_seconds : float
        What timing the unit cost.
    """

    units: int
    unit_seconds: float
    serial_seconds: float
    data_bytes: int
    summary: str
    how: str = ""
    threads: bool = False
    probe_seconds: float = 0.0

    @property
    def in_process_seconds(self) -> float:
        return self.serial_seconds + self.units * self.unit_seconds

    @property
    def description(self) -> str:
        return f"{self.summary}; {self.how}" if self.how else self.summary


def _subsample(X: Any, y: Any, rows: int, seed: int = 0) -> tuple[Any, Any]:
    n = X.shape[0]
    if rows >= n:
        return X, y
    index = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
    take = (lambda a: a.iloc[index]) if hasattr(X, "iloc") else (lambda a: a[index])
    return take(X), (None if y is None else (y.iloc[index] if hasattr(y, "iloc") else np.asarray(y)[index]))


def _set_step(estimator: Any, path: str, **params: Any) -> Any:
    """A clone of ``estimator`` with the step at ``path`` (as :func:`walk` names it) given ``params``."""
    est = clone(estimator)
    if is_plain_pipeline(estimator):
        prefix = path.replace("/", "__")
        params = {f"{prefix}__{k}": v for k, v in params.items()}
    return est.set_params(**params)


def _nbytes(data: Any) -> int:
    if data is None:
        return 0
    if hasattr(data, "memory_usage"):  # pandas
        usage = data.memory_usage(deep=False)
        return int(usage.sum() if hasattr(usage, "sum") else usage)
    return int(getattr(data, "nbytes", 0) or getattr(getattr(data, "data", None), "nbytes", 0) or 0)


class _Scored:
    """A search's unit: fit, then score on the held-out share (``held_out`` of the
    fitted rows), as each of a search's tasks does."""

    def __init__(self, estimator: Any, held_out: float) -> None:
        self.estimator = estimator
        self.held_out = held_out

    def fit(self, X: Any, y: Any = None) -> _Scored:
        self.estimator.fit(X, y) if y is not None else self.estimator.fit(X)
        if self.held_out > 0 and hasattr(self.estimator, "score"):
            rows = max(1, int(X.shape[0] * self.held_out))
            part = X.iloc[:rows] if hasattr(X, "iloc") else X[:rows]
            target = None if y is None else (y.iloc[:rows] if hasattr(y, "iloc") else y[:rows])
            self.estimator.score(part, target) if target is not None else self.estimator.score(part)
        return self


def _time_fit(estimator: Any, X: Any, y: Any, at_least: int = 1) -> float:
    """Seconds to fit a clone of ``estimator`` here, sequentially: the best of
    ``at_least`` fits, or of three when they take under :data:`NOISY_S` (short
    timings are noisy)."""
    best = math.inf
    for attempt in range(max(3, at_least)):
        est = _Scored(clone(estimator.estimator), estimator.held_out) if isinstance(estimator, _Scored) else clone(estimator)
        with warnings.catch_warnings(), joblib.parallel_config(backend="sequential"):
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            est.fit(X, y) if y is not None else est.fit(X)
            best = min(best, time.perf_counter() - start)
        if best >= NOISY_S and attempt + 1 >= at_least:
            break
    return best


def _extrapolated(timed: list[tuple[int, float]], rows: int) -> tuple[float, str]:
    """Seconds at ``rows`` from ``(rows, seconds)`` probe timings."""
    if timed[-1][0] == rows:
        return timed[-1][1], f"timed on all {rows} rows"
    if len(timed) == 1:
        (size, seconds), = timed
        return seconds * rows / size, f"timed on {size} rows, grown in proportion"
    (small, t_small), (large, t_large) = timed[-2:]
    growth = math.log(max(t_large, 1e-6) / max(t_small, 1e-6)) / math.log(large / small)
    if growth < 1.0:  # a fixed cost shows: a + b * rows through the two points
        slope = (t_large - t_small) / (large - small)
        return t_large + slope * (rows - large), f"timed on {small} and {large} rows, grown linearly"
    growth = min(growth, 2.0)
    return t_large * (rows / large) ** growth, f"timed on {small} and {large} rows, grown as rows^{growth:.2f}"


def _budgeted(timed: list[tuple[int, float]], rows: int) -> float:
    """Seconds at ``rows`` for budgeting probes: from one size, grown as rows^1.5 (a fit
    may grow faster than its rows, as kernel methods do; budgeting on linear growth
    stopped probing too early for them), else as :func:`_extrapolated`."""
    if len(timed) == 1 and timed[0][0] != rows:
        (size, seconds), = timed
        return seconds * (rows / size) ** 1.5
    return _extrapolated(timed, rows)[0]


def _time_unit(probes: list[Any], X: Any, y: Any, rows: int, units: float) -> tuple[float, str]:
    """Seconds of one unit at ``rows`` rows: the mean of ``probes`` (a search's
    candidates differ in cost) fitted on subsamples of growing size.

    A larger size is timed only if, by the growth seen so far, the probes will still
    have cost under :data:`PROBE_BUDGET` of the work they predict (``units``
    probes' worth). Exact when ``rows`` is within the sizes reached.
    """
    start = time.perf_counter()
    timed: list[tuple[int, float]] = []
    for size in PROBE_ROWS:
        size = min(rows, size)
        if timed:
            next_probes = _budgeted(timed, size) * len(probes)
            if time.perf_counter() - start + next_probes > PROBE_BUDGET * units * _budgeted(timed, rows):
                break
        sample = _subsample(X, y, size, seed=len(timed))
        # The first fit of a class in a process pays one-time costs (imports, caches): twice at first.
        seconds = [_time_fit(probe, *sample, at_least=1 if timed or i else 2) for i, probe in enumerate(probes)]
        timed.append((size, sum(seconds) / len(seconds)))
        if size == rows:
            break
    estimate, how = _extrapolated(timed, rows)
    return estimate, how + (f", mean of {len(probes)} candidates" if len(probes) > 1 else "")


def _fewer_trees(estimator: Any) -> tuple[Any, float]:
    """An ensemble probed with :data:`PROBE_TREES` trees, and the factor back to all of them:
    a search's unit that is itself a forest need not be timed whole."""
    params = estimator.get_params(deep=False)
    trees = params.get("n_estimators")
    if isinstance(trees, int) and trees > PROBE_TREES:
        return clone(estimator).set_params(n_estimators=PROBE_TREES), trees / PROBE_TREES
    return estimator, 1.0


def unit_rows(shape: Structure, n: int) -> int:
    """Rows one unit of ``shape``'s work fits on, out of ``n``: a fold's training share for a search."""
    return max(2, int(n * shape.row_fraction))


def refit_units(shape: Structure, n: int) -> float:
    """What a search's refit on all ``n`` rows costs, in units (0 when it does not refit)."""
    return n / unit_rows(shape, n) if shape.refit else 0.0


def size_work(estimator: Any, X: Any, y: Any, shape: Structure | None = None) -> Work:
    """Time the unit of ``estimator``'s parallel structure (``shape``, read if not given)
    on ``X, y`` and describe the work."""
    start = time.perf_counter()
    shape = shape or structure(estimator, X, y)
    n = X.shape[0]
    data_bytes = _nbytes(X) + _nbytes(y)
    if shape.kind == "serial":
        return Work(1, 0.0, 0.0, data_bytes, "one fit: no joblib work to spread")
    step = next(s for p, s in walk(estimator) if p == shape.path)
    rows = unit_rows(shape, n)
    if shape.kind == "search":
        held_out = 1 / (shape.folds - 1) if shape.folds > 1 else 0.0
        probed = [_fewer_trees(clone(step.estimator).set_params(**params)) for params in _candidates(step)[1]]
        scale = probed[0][1]
        unit_s, how = _time_unit([_Scored(est, held_out) for est, _ in probed], X, y, rows, shape.units * scale)
        unit_s *= scale
        how += f", forests timed with {PROBE_TREES} trees" if scale > 1 else ""
        serial_s = unit_s * refit_units(shape, n)
        what, threads = "fit", False
    else:  # an ensemble: a few trees, averaged (trees of one forest differ in depth)
        trees = min(shape.units, PROBE_TREES)
        unit_s, how = _time_unit([_set_step(estimator, shape.path, n_estimators=trees)], X, y, rows,
                                 shape.units / trees)
        unit_s /= trees
        serial_s = 0.0
        what, threads = "tree", shape.threads
    summary = (f"{shape.units} independent {what}s ({shape.detail}) of ~{_human(unit_s)} each"
               + (f", plus {_human(serial_s)} in this process" if serial_s >= 0.001 else ""))
    return Work(shape.units, unit_s, serial_s, data_bytes, summary, how, threads, time.perf_counter() - start)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("ch") else f"{n} {noun}s"


def _human(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _spread_seconds(work: Work, workers: int, efficiency: float, task_s: float) -> tuple[float, int]:
    """Seconds of the parallel part on ``workers`` workers, and the number of tasks sent."""
    waves = math.ceil(work.units / workers)
    if work.threads:  # a forest splits its trees into one task per worker
        batches = min(work.units, workers)
    else:
        per_batch = max(1, math.floor(TARGET_BATCH_S / max(work.unit_seconds, 1e-6)))
        batches = math.ceil(work.units / per_batch)
    return waves * work.unit_seconds / efficiency + batches * task_s, batches


def predict(work: Work, constants: Constants, *, loky_warm: bool = False, dask_workers: int | None = None,
            dask_running: bool = False) -> list[Estimate]:
    """Predicted seconds of ``work`` on each CPU candidate: in this process, every core, Dask.

    ``loky_warm`` / ``dask_running``: the workers are already up in this process, so
    no start-up is paid. ``dask_workers``: the cluster's worker count when known
    (a remote scheduler), else the managed LocalCluster's (one per core).
    """
    mb = work.data_bytes / 2**20
    estimates = [Estimate("local", work.in_process_seconds,
                          f"{work.units} x {_human(work.unit_seconds)}" + (
                              f" + {_human(work.serial_seconds)}" if work.serial_seconds else "") + " in this process")]
    cores = constants.cores
    if work.units > 1 and cores > 1:
        if work.threads:  # threads start at once and share the data
            spread, batches = _spread_seconds(work, cores, constants.efficiency, 0.0)
            seconds, note = spread + work.serial_seconds, f"{work.units} over {cores} threads {_human(spread)}"
        else:
            start = 0.0 if loky_warm else constants.loky_start_s
            spread, batches = _spread_seconds(work, cores, constants.efficiency, constants.loky_task_s)
            send = mb / constants.loky_mb_per_s
            seconds = start + spread + send + work.serial_seconds
            note = (f"start {_human(start)} + {work.units} over {cores} loky workers in {_count(batches, 'batch')} "
                    f"{_human(spread)} + data {_human(send)}")
        estimates.append(Estimate("local n_jobs=-1", seconds, note,
                                  "" if work.threads or loky_warm else "loky workers"))
    else:
        estimates.append(Estimate("local n_jobs=-1", None, "nothing to spread" if work.units <= 1 else "one core"))
    if constants.dask_start_s is None:
        estimates.append(Estimate("dask", None, "Dask is not installed: pip install 'scaleml[dask]'"))
    elif work.units > 1:
        workers = dask_workers or cores
        start = 0.0 if dask_running else constants.dask_start_s
        spread, batches = _spread_seconds(work, workers, constants.dask_efficiency, constants.dask_task_s)
        send = mb * workers / constants.dask_mb_per_s
        seconds = start + spread + send + work.serial_seconds
        estimates.append(Estimate("dask", seconds,
                                  f"{'cluster up' if dask_running else 'start ' + _human(start)} + {work.units} over "
                                  f"{workers} workers in {_count(batches, 'task')} {_human(spread)} + data to each "
                                  f"{_human(send)}", "" if dask_running else "a LocalCluster"))
    else:
        estimates.append(Estimate("dask", None, "nothing to spread"))
    return estimates
