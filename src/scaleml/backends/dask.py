"""The ``dask`` backend: scikit-learn's ``n_jobs`` work spread over a Dask cluster.

Every ``joblib`` call scikit-learn makes (GridSearchCV, cross_validate,
RandomForest, ...) runs on the cluster through :class:`DaskJoblibBackend`; the
rest of the fit runs in this process. Without an address the backend starts a
``LocalCluster`` sized to this machine, once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import joblib

from ._base import Backend, Option, Placement, describe_estimator, positive_int, self_placement


def _check_address(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return "expected a scheduler address such as 'tcp://scheduler:8786', or None for a local cluster"


def _check_seconds(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return None
    return "expected a positive number of seconds"


class DaskBackend(Backend):
    """joblib-on-dask: ``n_jobs`` work on a Dask cluster.

    Options
    -------
    address : str or None
        Scheduler address; None uses ``SCALEML_DASK_ADDRESS``, else a managed
        LocalCluster.
    security : distributed.Security or dict or None
        TLS for ``tls://`` addresses: a Security, or a dict of its arguments
        (``tls_ca_file``, ``tls_client_cert``, ``tls_client_key``).
    timeout : float
        Seconds to wait for the scheduler (and for a first worker).
    n_workers, threads_per_worker, memory_limit
        Size of the managed LocalCluster (default: one single-threaded worker
        process per core, memory shared evenly).
    broadcast_min_bytes : int
        Arguments at least this large are sent to every worker once per fit
        rather than with each task.
    verbose : bool
        Print the dashboard link.
    """

    name = "dask"
    summary = "joblib-on-dask: n_jobs work spread over a Dask cluster"
    distributed = True
    requires = ("dask", "distributed")
    extra = "dask"
    options = {
        "address": Option(None, "scheduler address (None: SCALEML_DASK_ADDRESS, else a LocalCluster)", _check_address),
        "security": Option(None, "TLS settings: distributed.Security or a dict of its arguments"),
        "timeout": Option(10.0, "seconds to wait for the scheduler and a first worker", _check_seconds),
        "n_workers": Option(None, "LocalCluster worker processes (default: one per core)", positive_int(allow_none=True)),
        "threads_per_worker": Option(None, "LocalCluster threads per worker (default 1)", positive_int(allow_none=True)),
        "memory_limit": Option(None, "LocalCluster memory per worker, e.g. '2GiB' (default: shared evenly)"),
        "broadcast_min_bytes": Option(100_000, "arguments this large go to every worker once", positive_int(allow_none=True)),
        "verbose": Option(False, "print the dashboard link"),
    }

    def client(self) -> Any:
        """The ``distributed.Client`` this backend runs on (connecting on first use)."""
        from ._dask_cluster import get_client

        o = self.options
        return get_client(
            o["address"],
            security=o["security"],
            timeout=o["timeout"],
            n_workers=o["n_workers"],
            threads_per_worker=o["threads_per_worker"],
            memory_limit=o["memory_limit"],
            verbose=o["verbose"],
        )

    @contextmanager
    def activate(self, preload: tuple = ()) -> Iterator[Backend]:
        from ._dask_cluster import scheduler_loss_as_error, warm
        from ._dask_joblib import BroadcastCache, DaskJoblibBackend

        client = self.client()
        with scheduler_loss_as_error(client):
            warm(client)
            cache = BroadcastCache(client, self.options["broadcast_min_bytes"])
            try:
                cache.preload(preload)
                backend = DaskJoblibBackend(client, cache, wait_for_workers=self.options["timeout"])
                with joblib.parallel_config(backend=backend):
                    yield self
            finally:
                cache.release()

    def fit(self, estimator: Any, X: Any, y: Any = None, **fit_params: Any) -> Any:
        # X and y are broadcast before the fit: every task finds them on its worker.
        with self.activate(preload=(X, y)):
            return estimator.fit(X, y, **fit_params)

    def fit_transform(self, estimator: Any, X: Any, y: Any = None, **fit_params: Any) -> tuple[Any, Any]:
        with self.activate(preload=(X, y)):
            return estimator, estimator.fit_transform(X, y, **fit_params)

    def place(self, step: str, estimator: Any, data_form: str, data: Any = None) -> Placement:
        own_placement = self_placement(self, step, estimator, data_form, data)
        if own_placement is not None:
            return own_placement
        params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
        where = self.options["address"] or "local cluster"
        if "n_jobs" in params and params["n_jobs"] != 1:
            return Placement(
                step=step,
                estimator=describe_estimator(estimator),
                device="cpu",
                engine="scikit-learn + joblib-on-dask",
                parallelism=f"Dask ({where})",
                data_form=data_form,
                reason=(
                    f"dask backend: its joblib work (n_jobs={params['n_jobs']!r}) runs as tasks on the "
                    f"{where}, the input sent once to every worker"
                ),
            )
        reason = (
            "dask backend: n_jobs=1 keeps it in this process"
            if "n_jobs" in params
            else "dask backend: the estimator has no n_jobs, so nothing to spread; it runs in this process"
        )
        return Placement(step, describe_estimator(estimator), "cpu", "scikit-learn", "1 process", data_form, reason)
