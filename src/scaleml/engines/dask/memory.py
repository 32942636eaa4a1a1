"""What a fit will hold on each Dask worker, against the workers' memory limits, known
before any data is sent.

Each worker holds a copy of the data (X, y, each fold's indices: :mod:`.spread`) and,
per fit running there, that fit's working memory. :func:`plan_budget` compares the two
with the smallest ``memory_limit`` the scheduler reports (less what the worker process
already uses, and up to Dask's *pause* fraction, past which a worker stops running
tasks): it returns how many fits may run at once on a worker, lowering the count below
the worker's threads when that is what fits, or raises :class:`OutOfMemoryBudgetError`
naming the sizes and the fixes. Without it, data larger than the workers' memory was
sent anyway and the workers died one by one, the fit ending in a ``KilledWorker``
minutes later.

:func:`limit_fits_per_worker` makes a lowered count hold: a Dask *resource* set on
every worker, present and joining, by a worker plugin, which the fit's tasks each ask
one unit of.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ...exceptions import OutOfMemoryBudgetError

# Used when the worker's own setting cannot be read: Dask's default pause fraction.
DEFAULT_PAUSE_FRACTION = 0.8


def _mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f} MiB"


@dataclass(frozen=True)
class MemoryBudget:
    """One fit's memory on the worker with the least room, and the fits per worker it allows.

    Attributes
    ----------
    data_bytes : int
        The copy of the data every worker holds (X, y, fold indices).
    per_fit_bytes : int
        One fit's working memory, estimated from probe fits (0: not probed).
    limit_bytes : int
        The smallest ``memory_limit`` among the workers.
    in_use_bytes : int
        What that worker's process uses already.
    usable_bytes : int
        ``limit_bytes`` times the pause fraction, less ``in_use_bytes`` and ``data_bytes``.
    threads : int
        The most threads a worker has (fits it would run at once).
    fits_per_worker : int
        Fits allowed at once on a worker: ``threads``, or fewer when lowered to fit.
    """

    data_bytes: int
    per_fit_bytes: int
    limit_bytes: int
    in_use_bytes: int
    usable_bytes: int
    threads: int
    fits_per_worker: int

    @property
    def lowered(self) -> bool:
        return self.fits_per_worker < self.threads

    def describe(self) -> str:
        """The sizes and the decision, for the plan."""
        fits = (f"{self.fits_per_worker} fit(s) at once per worker, lowered from {self.threads} threads so that "
                "they fit" if self.lowered else f"{self.fits_per_worker} fit(s) at once per worker (its threads)")
        per_fit = f"{_mb(self.per_fit_bytes)} per fit" if self.per_fit_bytes else "per-fit memory not probed"
        return (f"each worker holds {_mb(self.data_bytes)} of data, {per_fit}; {_mb(self.usable_bytes)} usable of "
                f"{_mb(self.limit_bytes)} memory_limit ({_mb(self.in_use_bytes)} in use already): {fits}")


def worker_limits(workers: dict[str, dict[str, Any]]) -> tuple[int, int, int] | None:
    """The tightest worker: (memory_limit, bytes its process uses, most threads), or None
    when no worker has a limit (``memory_limit=0``: nothing to check against).

    ``workers`` is ``Client.scheduler_info()["workers"]`` (or ``workers_of``).
    """
    limited = [w for w in workers.values() if w.get("memory_limit")]
    if not limited:
        return None
    tightest = min(limited, key=lambda w: w["memory_limit"] - w.get("metrics", {}).get("memory", 0))
    threads = max(int(w.get("nthreads", 1)) for w in workers.values())
    return int(tightest["memory_limit"]), int(tightest.get("metrics", {}).get("memory", 0)), threads


# A probe fit (the user's estimator fitted on slices in this process) runs only when a
# worker's room per thread, after the data, is under this: above it a search's fits are
# taken to fit, and the user's code is not run more often than the search runs it.
PROBE_BELOW_BYTES_PER_THREAD = 2 * 2**30


def room_per_thread(workers: dict[str, dict[str, Any]], data_bytes: int) -> float | None:
    """Bytes a fit may use per worker thread on the tightest worker, after the data (None: no limit)."""
    tightest = worker_limits(workers)
    if tightest is None:
        return None
    limit, in_use, threads = tightest
    return (limit * pause_fraction() - in_use - data_bytes) / max(1, threads)


def pause_fraction() -> float:
    """Dask's ``distributed.worker.memory.pause`` as this process configures it (a worker
    past it stops running tasks); the default 0.8 where it is off or unreadable."""
    import dask

    value = dask.config.get("distributed.worker.memory.pause", DEFAULT_PAUSE_FRACTION)
    return float(value) if value else DEFAULT_PAUSE_FRACTION


def plan_budget(workers: dict[str, dict[str, Any]], data_bytes: int, per_fit_bytes: int,
                n_jobs_hint: str = "n_jobs") -> MemoryBudget | None:
    """How many fits per worker fit in the workers' memory, or a refusal.

    Parameters
    ----------
    workers : dict
        The scheduler's workers by address (``Client.scheduler_info()["workers"]``).
    data_bytes : int
        What every worker holds for the whole fit.
    per_fit_bytes : int
        One fit's working memory (0: unknown, only the data is checked).
    n_jobs_hint : str
        How the caller lowers its concurrency, named in the refusal.

    Returns
    -------
    MemoryBudget or None
        None when the workers have no memory limit.

    Raises
    ------
    OutOfMemoryBudgetError
        When the data, or the data and one fit, do not fit on the tightest worker.
    """
    tightest = worker_limits(workers)
    if tightest is None:
        return None
    limit, in_use, threads = tightest
    usable = int(limit * pause_fraction()) - in_use - data_bytes
    if usable < max(per_fit_bytes, 1):
        raise _refusal(limit, in_use, data_bytes, per_fit_bytes, n_jobs_hint)
    fits = threads if not per_fit_bytes else max(1, min(threads, usable // per_fit_bytes))
    return MemoryBudget(data_bytes, per_fit_bytes, limit, in_use, usable, threads, fits)


def _refusal(limit: int, in_use: int, data_bytes: int, per_fit_bytes: int, n_jobs_hint: str) -> OutOfMemoryBudgetError:
    need = data_bytes + per_fit_bytes
    fraction = pause_fraction()
    return OutOfMemoryBudgetError(
        f"This fit would not fit in the Dask workers' memory, so nothing was sent: each worker would hold "
        f"{_mb(data_bytes)} of data (X, y and the folds' indices, one copy per worker)"
        + (f" and {_mb(per_fit_bytes)} per fit running there (estimated from probe fits)" if per_fit_bytes else "")
        + (f", {_mb(need)} in all" if per_fit_bytes else "") + f", where a worker has {_mb(limit)} (memory_limit) of which "
        f"{_mb(limit * fraction - in_use)} is usable ({fraction:.0%}, Dask's pause threshold, less {_mb(in_use)} "
        f"its process uses already). Give each worker more memory (a larger memory_limit, e.g. "
        f"scaleml.backend('dask', memory_limit='{-(-int((need + in_use) / fraction) // 2**30)}GiB') for a LocalCluster, or "
        f"`dask worker --memory-limit`), use fewer, larger workers, or fit lazily on a Dask collection with the "
        f"'dask-ml' backend (dask.array / dask.dataframe, read block by block, never whole on a worker)"
        + (f"; a smaller {n_jobs_hint} does not help: one fit alone does not fit" if per_fit_bytes else "")
        + "."
    )


def limit_fits_per_worker(client: Any, fits: int) -> tuple[str, Any]:
    """Make every worker, present and joining, run at most ``fits`` of the tasks asking for
    the returned resource; returns ``(resource name, undo)``.

    A Dask resource set by a worker plugin (so a worker that joins later, an adaptive
    cluster scaling up, gets it too); ``undo()`` unregisters the plugin. Each fit has its
    own resource, so two fits sharing a cluster do not share their slots.
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    name = f"scaleml-fit-slots-{uuid.uuid4().hex[:12]}"

    class _Slots(WorkerPlugin):
        def __init__(self) -> None:
            self.name = name

        async def setup(self, worker: Any) -> None:
            await worker.set_resources(**{name: fits})

    client.register_plugin(_Slots(), name=name)

    def undo() -> None:
        try:
            client.unregister_worker_plugin(name)
        except Exception:  # noqa: BLE001 - the cluster may be gone; its workers' resources with it
            pass

    return name, undo
