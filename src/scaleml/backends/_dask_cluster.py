"""Dask clients for the ``dask`` backends, shared within the process.

One client per cluster configuration: a managed ``LocalCluster`` (sized to this
machine, started on first use, reused, closed at exit) or a connection to a
scheduler by address. Imports dask only when called.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..exceptions import ScaleMLError

ENV_ADDRESS = "SCALEML_DASK_ADDRESS"

_lock = threading.Lock()
_clients: dict[tuple, Any] = {}
_clusters: dict[tuple, Any] = {}
_atexit_registered = False


class ClusterConnectionError(ScaleMLError, ConnectionError):
    """The Dask scheduler could not be reached, or has no workers."""


def _security(security: Any, address: str | None) -> Any:
    """A ``distributed.Security`` from an object, a dict of TLS file paths, or None."""
    from distributed import Security

    if security is None or isinstance(security, Security):
        if security is None and address and address.startswith("tls://"):
            raise ClusterConnectionError(
                f"The scheduler address {address!r} uses TLS but no certificates were given. "
                "Pass security={'tls_ca_file': ..., 'tls_client_cert': ..., 'tls_client_key': ...} "
                "(or a distributed.Security)."
            )
        return security
    if isinstance(security, dict):
        return Security(require_encryption=True, **security)
    raise ScaleMLError(
        f"security must be a distributed.Security or a dict of TLS file paths, not {type(security).__name__}."
    )


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(close_all)
        _atexit_registered = True


_warmed: set[int] = set()


def warm(client: Any) -> None:
    """Import scikit-learn on every worker once, not inside the first fit's tasks.

    Only for backends that run scikit-learn on the workers: it adds about 130 MB
    to each worker, which matters under tight memory limits.
    """
    if id(client) not in _warmed:
        client.run(_import_sklearn)
        _warmed.add(id(client))


def _import_sklearn() -> None:
    import sklearn.base  # noqa: F401
    import sklearn.model_selection  # noqa: F401


def get_client(
    address: str | None = None,
    *,
    security: Any = None,
    timeout: float = 10.0,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | float | None = None,
    verbose: bool = False,
) -> Any:
    """The shared client for this configuration, connecting or starting a cluster once.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``, ``tls://...``). None: the
        ``SCALEML_DASK_ADDRESS`` environment variable, else a managed LocalCluster.
    security : distributed.Security or dict, optional
        TLS settings for ``tls://`` addresses.
    timeout : float
        Seconds to wait for the scheduler before failing.
    n_workers, threads_per_worker, memory_limit
        LocalCluster sizing; by default one single-threaded worker process per
        usable core, the machine's memory shared among them.
    verbose : bool
        Print the dashboard link.

    Raises
    ------
    ClusterConnectionError
        If the scheduler does not answer within ``timeout``.
    """
    address = address or os.environ.get(ENV_ADDRESS) or None
    if address:
        security = _security(security, address)
        # Different credentials for one address are different connections.
        key: tuple = ("address", address, repr(getattr(security, "__dict__", security)))
    else:
        from ..machine import usable_cores

        n_workers = n_workers or usable_cores()
        threads_per_worker = threads_per_worker or 1
        key = ("local", n_workers, threads_per_worker, memory_limit)
    with _lock:
        client = _clients.get(key)
        if client is None or client.status != "running":
            client = _connect(address, security, timeout) if address else _start_local(key, memory_limit)
            _clients[key] = client
            _register_atexit()
    if verbose:
        print(f"scaleml: Dask dashboard at {client.dashboard_link}", file=sys.stderr)
    return client


def _connect(address: str, security: Any, timeout: float) -> Any:
    from distributed import Client

    try:
        return Client(
            address,
            timeout=timeout,
            security=security,
            set_as_default=False,
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterConnectionError(
            f"Could not reach the Dask scheduler at {address!r} within {timeout:g} s ({exc}). "
            "Check the address and that `dask scheduler` is running and reachable from here; "
            "leave address unset to use a local cluster, or raise timeout=."
        ) from None


def _start_local(key: tuple, memory_limit: Any) -> Any:
    from distributed import Client, LocalCluster

    _, n_workers, threads_per_worker, _ = key
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        memory_limit=memory_limit if memory_limit is not None else "auto",
        dashboard_address=":0",
        silence_logs=40,
    )
    _clusters[key] = cluster
    return Client(cluster, set_as_default=False)


def close_all(address: str | None = None) -> None:
    """Close the clients and managed clusters this process opened.

    With ``address``, only the connection to that scheduler (whose cluster is
    someone else's to stop).
    """
    with _lock:
        keys = [k for k in _clients if address is None or k[:2] == ("address", address)]
        for key in keys:
            for resource in (_clients.pop(key, None), _clusters.pop(key, None)):
                if resource is None:
                    continue
                try:
                    resource.close()
                except Exception:  # noqa: BLE001 - closing (often at exit) must not raise
                    pass


@contextmanager
def scheduler_loss_as_error(client: Any) -> Iterator[None]:
    """Turn the loss of the scheduler during work into one clear ClusterConnectionError.

    Dask reports it as a cancelled future or a closed comm from deep inside the
    work; the client is then dropped, so the next use connects afresh.
    """
    try:
        yield
    except Exception as exc:
        if client.status == "running" and "scheduler-connection-lost" not in str(exc):
            raise
        address = getattr(client.scheduler, "address", None) or "(unknown)"
        _forget(client)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterConnectionError(
            f"Lost the Dask scheduler at {address} during the work ({type(exc).__name__}: {detail}). "
            "The fit did not finish and nothing from it was kept. Check that the scheduler is running "
            "(its log says why it stopped) and run again. Workers started with `dask worker "
            "--death-timeout 60` stop by themselves once their scheduler is gone."
        ) from exc


def _forget(client: Any) -> None:
    with _lock:
        for key in [k for k, c in _clients.items() if c is client]:
            _clients.pop(key)
            cluster = _clusters.pop(key, None)
            if cluster is not None:
                try:
                    cluster.close(timeout=5)
                except Exception:  # noqa: BLE001 - best effort on a broken cluster
                    pass
    try:
        client.close(timeout=2)
    except Exception:  # noqa: BLE001 - the scheduler is gone; closing must not mask the real error
        pass


def total_threads(client: Any, wait: float) -> int:
    """Worker threads in the cluster, waiting up to ``wait`` seconds for a first worker."""
    threads = sum(client.nthreads().values())
    if threads:
        return threads
    try:
        client.wait_for_workers(1, timeout=wait)
    except (TimeoutError, OSError):
        raise ClusterConnectionError(
            f"The Dask scheduler at {client.scheduler.address} has no workers after {wait:g} s. "
            "Start some with `dask worker <scheduler-address>`."
        ) from None
    return sum(client.nthreads().values())
