"""The ``dask`` backend: scikit-learn's ``n_jobs`` work spread over a Dask cluster.

Every ``joblib`` call scikit-learn makes (GridSearchCV, cross_validate,
RandomForest, ...) runs on the cluster through :class:`DaskJoblibBackend`; the
rest of the fit runs in this process. A fit opens the cluster on first need:
one whose steps send no work to joblib, and predictions on in-memory data,
start nothing; a ``scaleml.backend("dask")`` block opens it on entry, so that
``distributed.get_client()`` works inside. Without an address the cluster is a
managed ``LocalCluster`` shared by every backend in the process
(``scaleml.engines.dask.cluster``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Real
from typing import Any, ContextManager

import joblib

from ..._validation import Interval, StrOptions
from ...engines.dask.cluster import (
    CONNECTIONS,
    ClusterSpec,
    Connection,
    in_dask_worker,
    scheduler_loss_as_error,
)
from ...engines.dask.current import cluster_provider
from ...data.forms import is_lazy
from ...planning import Placement, Record, Route, describe_estimator
from .._base import Backend, Option
from .._options import ADDRESS, BYTE_SIZE, CLUSTER_SECTION, POSITIVE_INT, SECURITY
from .._journal import RESUME, around, journaling
from .._shared_prefix import SHARE_PREFIX, sharing_in_fit
from .._structure import n_jobs_ignored
from .._worker_say import OPTION_HELP


class DaskBackend(Backend):
    """joblib-on-dask: ``n_jobs`` work on a Dask cluster.

    Options
    -------
    address : str or None
        Scheduler address; None uses ``SCALEML_DASK_ADDRESS``, else Dask's own
        ``scheduler-address`` config (``DASK_SCHEDULER_ADDRESS``), else a managed
        LocalCluster. The plan says which.
    security : distributed.Security or dict or None
        TLS for ``tls://`` addresses: a Security, or a dict of its arguments
        (``tls_ca_file``, ``tls_client_cert``, ``tls_client_key``).
    timeout : float
        Seconds to wait for the scheduler (and for a first worker).
    n_workers, threads_per_worker, memory_limit
        Size of the managed LocalCluster (default: one single-threaded worker
        process per core, memory shared evenly).
    broadcast_min_bytes : int or None
        Arguments at least this large are sent to every worker once per fit
        rather than with each task (None: never).
    data_movement : {"peers", "broadcast"}
        How such arguments reach the workers. ``"peers"`` (default): sent once from
        this process, copied from worker to worker, and every copy kept until the fit
        ends. ``"broadcast"``: Dask's ``scatter(broadcast=True)``, whose extra copies
        the scheduler's memory manager drops within seconds, so that tasks fetch the
        data again from the one worker left holding it (kept for comparison).
    verbose : bool
        Print the dashboard link when the cluster is opened.
    workers_say : bool
        What the fits say on the workers (warnings, printed output) is said here,
        as a sequential run says it (default True). False leaves it in the
        workers' logs, as joblib's own dask backend does.
    cluster : scaleml.engines.dask.kinds.ClusterSection or None
        Set by a profile with a ``cluster:`` section: the cluster ``scaleml cluster up``
        keeps running for that profile, else one started for the run and ended when
        this process exits.
    callback_address : str or None
        ``host`` or ``host:port`` (IPv6 in brackets) of this machine where workers on
        other hosts reach it for scikit-learn's callbacks (``ProgressBar``,
        ``ScoringMonitor``); None: this machine's address on the route to the
        scheduler, any free port.
    resume : str or path or None
        Folder of the resume journal (kept by this process, not the workers): each
        finished unit of scikit-learn's searches and cross-validation is written
        there, and a rerun reads it back instead of fitting it again.
    """

    name = "dask"
    summary = "joblib-on-dask: n_jobs work spread over a Dask cluster"
    option_hints = {
        "n_jobs": "on a Dask backend every worker is used; n_jobs stays the estimator's own "
                  "(GridSearchCV(..., n_jobs=-1)), and n_workers / threads_per_worker size a LocalCluster",
    }
    distributed = True
    requires = ("dask", "distributed")
    extra = "dask"
    options = {
        "address": Option(None, "scheduler address (None: SCALEML_DASK_ADDRESS, else Dask's scheduler-address config, else a LocalCluster)", [ADDRESS, None]),
        "security": Option(None, "TLS settings: distributed.Security or a dict of its arguments", [SECURITY, None]),
        "timeout": Option(10.0, "seconds to wait for the scheduler and a first worker", [Interval(Real, 0, None, closed="neither")]),
        "n_workers": Option(None, "LocalCluster worker processes (default: one per core)", [POSITIVE_INT, None]),
        "threads_per_worker": Option(None, "LocalCluster threads per worker (default 1)", [POSITIVE_INT, None]),
        "memory_limit": Option(None, "LocalCluster memory per worker, e.g. '2GiB' (default: shared evenly)", [BYTE_SIZE, Interval(Real, 0, None, closed="neither"), None]),
        "broadcast_min_bytes": Option(100_000, "arguments this large go to every worker once (None: never)", [POSITIVE_INT, None]),
        "data_movement": Option("peers", "how large arguments reach every worker: 'peers' (sent once, copied worker to worker) or 'broadcast' (Dask's scatter)", [StrOptions({"peers", "broadcast"})]),
        "verbose": Option(False, "print the dashboard link", ["boolean"]),
        "workers_say": Option(True, OPTION_HELP, ["boolean"]),
        "callback_address": Option(None, "host or host:port where workers on other hosts reach this process for scikit-learn's callbacks (None: the address on the route to the scheduler, a free port)", [str, None]),
        "share_prefix": SHARE_PREFIX,
        "cluster": Option(None, "a profile's cluster: section, set by the profile (its running cluster, else one started for the run)", [CLUSTER_SECTION, None]),
        "resume": RESUME,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._connection: Connection | None = None
        self._activity = {"dask_tasks": 0, "joblib_calls": 0}

    def activity(self) -> dict[str, int]:
        return dict(self._activity)

    # -- lifecycle ------------------------------------------------------------------------

    def cluster_spec(self) -> ClusterSpec:
        o = self.options
        return ClusterSpec(o["address"], o["security"], o["timeout"], o["n_workers"], o["threads_per_worker"],
                           o["memory_limit"], o["cluster"])

    def start(self) -> None:
        if self._connection is None:
            self._connection = CONNECTIONS.acquire(self.cluster_spec())
            if self.options["verbose"]:
                import sys

                print(f"scaleml: Dask dashboard at {self._connection.client.dashboard_link}", file=sys.stderr)

    def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            CONNECTIONS.release(connection)

    @property
    def started(self) -> bool:
        return self._connection is not None

    def cluster(self) -> Any:
        if in_dask_worker():
            return None  # inside a task: work stays in that worker, no cluster is started there
        self.start()
        return self._connection.client

    def _forget_lost_connection(self) -> None:
        """Before new work: a connection lost since (its scheduler gone, closed by close_all)
        is let go, so the work connects afresh. Never during work, which must fail instead."""
        if self._connection is not None and self._connection.client.status != "running":
            self.stop()

    def cluster_description(self) -> str:
        return self.cluster_spec().describe()

    def _started_client(self) -> Any:
        return self._connection.client if self._connection is not None else None

    def _warm_client(self) -> Any:
        """The client, with scikit-learn imported on every worker (for joblib work)."""
        self.start()
        self._connection.warm()
        return self._connection.client

    # -- joblib on the cluster ------------------------------------------------------------------

    @contextmanager
    def engine_config(self) -> Iterator[None]:
        # Inside a block the cluster is the block's: distributed.get_client() returns
        # it, Dask collections compute on it, and n_jobs work runs on it.
        if in_dask_worker():  # a block entered inside a task: that level runs sequentially there
            with joblib.parallel_config(backend="sequential"):
                yield
            return
        self._forget_lost_connection()
        with journaling(self.options["resume"]), self.cluster().as_current(), self._joblib_block():
            yield

    @contextmanager
    def _joblib_block(self, preload: tuple = (), budget: Any = None) -> Iterator[Any]:
        from ...engines.dask.memory import limit_fits_per_worker
        from ._joblib import DaskJoblibBackend

        slots, undo = (None, None)
        if budget is not None and budget.lowered:  # each task takes one of a worker's few slots
            slots, undo = limit_fits_per_worker(self._connection.client, budget.fits_per_worker)
        backend = DaskJoblibBackend(self._warm_client, self.options["broadcast_min_bytes"],
                                    self.options["timeout"], preload, activity=self._activity,
                                    progress=self.options["verbose"], data_movement=self.options["data_movement"],
                                    workers_say=self.options["workers_say"],
                                    callback_address=self.options["callback_address"],
                                    fits_per_worker=budget.fits_per_worker if slots else None, slot_resource=slots)
        with scheduler_loss_as_error(self._started_client):
            try:
                with joblib.parallel_config(backend=backend):
                    yield backend
            finally:
                if self._connection is not None and self._connection.client.status == "running":
                    try:
                        backend.release()
                    finally:
                        if undo is not None:  # the workers' slots go back whatever releasing did
                            undo()

    # -- work -------------------------------------------------------------------------------------

    def check_fit(self, estimator: Any, method: str, X: Any, fit_params: dict) -> None:
        self.refuse_lazy_unless_blocked(estimator, X, method)

    def fitting(self, estimator: Any, method: str, X: Any, record: Record) -> ContextManager[Any]:
        sharing = sharing_in_fit(estimator, record, self.options["share_prefix"] and method == "fit",
                                 shared_disk=self.cluster_spec().on_this_machine())
        return around(sharing, self.options["resume"], record)

    def run(self, estimator: Any, method: str, X: Any, y: Any, record: Record, placements: list[Placement],
            fit_params: dict) -> Any:
        """Run ``estimator.<method>`` as a whole, its joblib work on the cluster."""
        if in_dask_worker():
            return self._run_nested(estimator, method, X, y, record, fit_params, placements)
        self._forget_lost_connection()
        if self.cluster_spec().resolved_address:
            self.start()  # an explicit address fails loudly now, not at the first parallel call
        # In-memory X and y are broadcast before the first task: every task finds them on its worker.
        preload = () if is_lazy(X) else (X, y)
        on_cluster = [p.step for p in placements if p.route is Route.JOBLIB_ON_CLUSTER]
        budget = self._check_memory(estimator, X, y, record) if preload and on_cluster else None
        with cluster_provider(self.cluster), self._joblib_block(preload, budget) as joblib_backend:
            result = getattr(estimator, method)(X, y, **fit_params)
        if joblib_backend.tasks == 0:
            for step in on_cluster:
                record.fallback(step, f"{self.name} backend: it has n_jobs, but sent no work to joblib in this "
                                      "fit, so it ran entirely in this process", engine="scikit-learn",
                                parallelism="1 process", route=Route.IN_PROCESS)
        elif len(on_cluster) == 1:
            record.observe(on_cluster[0], dask_tasks=joblib_backend.tasks, joblib_calls=joblib_backend.calls)
        record.observe(
            None,
            cluster=self.cluster_spec().describe() if self.started else "not started (no step sent work to it)",
            dask_tasks=joblib_backend.tasks, joblib_calls=joblib_backend.calls,
        )
        if joblib_backend.data_sent:
            record.observe(None, data_to_workers=joblib_backend.data_sent)
        return result

    def _check_memory(self, estimator: Any, X: Any, y: Any, record: Record) -> Any:
        """Before anything is sent: what each worker will hold against its memory limit.

        Returns the :class:`~scaleml.engines.dask.memory.MemoryBudget` (None: the workers
        have no limit), written in the plan; raises ``OutOfMemoryBudgetError`` when the data,
        or the data and one fit, do not fit on a worker.
        """
        from ...engines.dask.cluster import workers_of
        from ...engines.dask.memory import PROBE_BELOW_BYTES_PER_THREAD, plan_budget, room_per_thread
        from ._memory import held_bytes, probe_fit_bytes

        client = self._warm_client()
        held = held_bytes(estimator, X, y)
        budget = plan_budget(workers_of(client), held, 0)  # the data alone first: refused without a probe fit
        if budget is None:
            record.observe(None, memory_check="the workers have no memory limit: not checked")
            return None
        room = room_per_thread(workers_of(client), held)
        if room is not None and room >= PROBE_BELOW_BYTES_PER_THREAD:
            record.observe(None, memory_check=f"{budget.describe()} (not probed: {room / 2**30:.1f} GiB per "
                           "worker thread after the data)")
            return budget
        per_fit, how = probe_fit_bytes(estimator, X, y)
        budget = plan_budget(workers_of(client), held, per_fit, "n_jobs (or threads_per_worker)")
        record.observe(None, memory_check=f"{budget.describe()} (per-fit memory {how})")
        return budget

    def _run_nested(self, estimator: Any, method: str, X: Any, y: Any, record: Record, fit_params: dict,
                    placements: list[Placement]) -> Any:
        """Inside a Dask task (a search of Scaled models on dask, say): never start a cluster
        in a worker; this level's joblib work runs sequentially there, and the plan says so."""
        for placement in placements:
            if placement.route is Route.JOBLIB_ON_CLUSTER:
                record.fallback(placement.step, f"{self.name} backend: already inside a task on a Dask worker, so "
                                "its joblib work runs sequentially in that worker (the outer level is spread)",
                                engine="scikit-learn", parallelism="1 process (inside a Dask task)",
                                route=Route.IN_PROCESS)
        with joblib.parallel_config(backend="sequential"):
            return getattr(estimator, method)(X, y, **fit_params)

    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        # Predictions on in-memory data run here: sending them out costs more than
        # it saves, and a loaded model must predict without contacting anything.
        self.refuse_lazy_unless_blocked(estimator, X, method)
        if not is_lazy(X):
            return getattr(estimator, method)(X, *args, **kwargs)
        with self.activate():
            return getattr(estimator, method)(X, *args, **kwargs)

    def decide(self, path: str, step: Any, data_form: str) -> Placement:
        params = step.get_params(deep=False) if hasattr(step, "get_params") else {}
        where = self.cluster_spec().describe()
        name = describe_estimator(step)
        ignored = n_jobs_ignored(step)
        if ignored:
            return Placement(path, name, "cpu", "scikit-learn", "1 process", data_form,
                             f"{self.name} backend: {ignored}, so it runs in this process", Route.IN_PROCESS)
        if "n_jobs" in params and params["n_jobs"] != 1:
            return Placement(
                path, name, "cpu", "scikit-learn + joblib-on-dask", f"Dask ({where})", data_form,
                f"{self.name} backend: its joblib work (n_jobs={params['n_jobs']!r}) runs as tasks on "
                f"{where}, the input sent once to every worker", Route.JOBLIB_ON_CLUSTER,
            )
        reason = (
            f"{self.name} backend: n_jobs=1 keeps it in this process"
            if "n_jobs" in params
            else f"{self.name} backend: the estimator has no n_jobs, so nothing to spread; it runs in this process"
        )
        return Placement(path, name, "cpu", "scikit-learn", "1 process", data_form, reason, Route.IN_PROCESS)
