"""Dask cluster connections, owned in one place.

A backend asks :data:`CONNECTIONS` for a connection matching its options when it
starts and gives it back when it stops. The owner is the one place that opens
clients and starts managed ``LocalCluster`` s: a LocalCluster takes seconds to
start, so it is kept for the next backend that asks for the same one and closed
at exit (or by :func:`close_all`). Imports dask only when a connection is made. Where
an address comes from and whether it can be one is ``_addresses.py``'s.

Which cluster the current work uses (the active backend's, else the user's default
client) is ``current.py``'s.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ...exceptions import ClusterConnectionError
from ._addresses import (  # noqa: F401 - TLS_FILES, address_problem, in_dask_worker, split_address: read through this module elsewhere
    ENV_ADDRESS,
    TLS_FILES,
    address_problem,
    check_address,
    dask_config_address,
    in_dask_worker,
    security_for,
    split_address,
)



@dataclass(frozen=True)
class ClusterSpec:
    """Which cluster to use: a scheduler address, or the size of a managed LocalCluster.

    ``address`` None means ``SCALEML_DASK_ADDRESS``, else Dask's own
    ``scheduler-address`` config, else a LocalCluster of one single-threaded worker
    process per usable core, memory shared evenly.
    """

    address: str | None = None
    security: Any = None
    timeout: float = 10.0
    n_workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit: Any = None
    cluster: Any = None  # a profile's ClusterSection (kinds.py): its running cluster, else one started

    @property
    def resolved_address(self) -> str | None:
        return self.address_and_source()[0]

    def address_and_source(self) -> tuple[str | None, str]:
        """The scheduler address to use, and where it came from.

        In order: the backend's ``address=`` option, ``SCALEML_DASK_ADDRESS``, then
        Dask's own ``scheduler-address`` config (``DASK_SCHEDULER_ADDRESS``, or a
        ``~/.config/dask/*.yaml``), as ``distributed.Client()`` reads it; none of them:
        ``(None, ...)``, a managed LocalCluster.
        """
        if (self.address or "").strip():
            return self.address.strip(), "the backend's address= option"
        if self.cluster is not None:
            return self._profile_address()
        from_env = os.environ.get(ENV_ADDRESS, "").strip()
        if from_env:
            return from_env, f"the {ENV_ADDRESS} environment variable"
        from_dask = dask_config_address()
        if from_dask:
            return from_dask, "Dask's scheduler-address config (DASK_SCHEDULER_ADDRESS or ~/.config/dask)"
        return None, "SCALEML_DASK_ADDRESS and Dask's scheduler-address are unset"

    def _profile_address(self) -> tuple[str | None, str]:
        """The running cluster of the profile (``scaleml cluster up``), else none yet."""
        from . import records

        record = records.read(self.cluster.profile)
        name = self.cluster.profile
        if record is not None:
            return record["address"], (f"the running cluster of profile {name} (scaleml cluster up, "
                                       f"pid {record.get('pid')} on {record.get('host')})")
        return None, f"profile {name}'s cluster: none is running, one is started for the run"

    def key(self) -> tuple:
        address = self.resolved_address
        if address is None and self.cluster is not None:
            return ("profile", self.cluster.profile, self.cluster.kind)
        if address:
            # Different credentials for one address are different connections.
            return ("address", address, repr(getattr(self.security, "__dict__", self.security)))
        from ...machine import usable_cores

        return ("local", self.n_workers or usable_cores(), self.threads_per_worker or 1, self.memory_limit)

    def on_this_machine(self) -> bool:
        """Whether the workers run on this machine (and see its disk), judged without connecting:
        a managed LocalCluster, or a scheduler at a loopback address or this host's name.

        A scheduler elsewhere may still have workers here, and one here workers elsewhere;
        the address is the one thing known before connecting.
        """
        address = self.resolved_address
        if not address:
            return self.cluster is None or self.cluster.kind == "local"
        scheme, host, _ = split_address(address)
        if scheme == "inproc":
            return True
        return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", socket.gethostname(), socket.getfqdn()) \
            or host.startswith("127.")

    def describe(self) -> str:
        """For plans: where work on this cluster runs, without connecting."""
        key = self.key()
        if key[0] == "profile":
            return (f"{self.cluster.describe()} from profile {key[1]}, started for this run and ended when "
                    f"this process exits (`scaleml cluster up --profile {key[1]}` keeps one running between runs)")
        if key[0] == "address" and self.cluster is not None and not self.address:
            return f"the Dask scheduler at {key[1]}: {self.address_and_source()[1]}"
        if key[0] == "address":
            # The address= option is the user's own words; any other source is named.
            source = "" if self.address else f" (from {self.address_and_source()[1]})"
            return f"the Dask scheduler at {key[1]}{source}"
        _, workers, threads, _ = key
        return f"a LocalCluster of {workers} worker process{'es' if workers != 1 else ''} x {threads} thread{'s' if threads != 1 else ''}"


class Connection:
    """One client, and the LocalCluster behind it when scaleml started one."""

    def __init__(self, spec: ClusterSpec, client: Any, cluster: Any = None) -> None:
        self.spec = spec
        self.client = client
        self.cluster = cluster
        self.users = 0
        self._warmed = False

    def warm(self) -> None:
        """Import scikit-learn on every worker once, not inside the first fit's tasks.

        Only for work that runs scikit-learn on the workers: it adds about 130 MB
        to each worker, which matters under tight memory limits.
        """
        if not self._warmed:
            self.client.run(_import_sklearn)
            self._warmed = True

    def close(self) -> None:
        for resource in (self.client, self.cluster):
            if resource is None:
                continue
            try:
                resource.close()
            except Exception:  # noqa: BLE001 - closing (often at exit, or after a loss) must not raise
                pass


class ConnectionOwner:
    """Opens, shares and closes this process's Dask connections and managed clusters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple, Connection] = {}
        self._atexit = False

    def acquire(self, spec: ClusterSpec) -> Connection:
        """A running connection for ``spec``, connecting or starting a cluster if needed.

        Raises
        ------
        ClusterConnectionError
            If the scheduler does not answer within ``spec.timeout``.
        """
        key = spec.key()
        with self._lock:
            connection = self._open.get(key)
            if connection is None or connection.client.status != "running":
                if connection is not None:
                    connection.close()
                if key[0] == "local":
                    self._close_idle_local()  # one managed cluster at a time, unless several are in use
                connection = _connect(spec) if key[0] == "address" else \
                    _start_profile(spec) if key[0] == "profile" else _start_local(spec, key)
                self._open[key] = connection
                if not self._atexit:
                    atexit.register(self.close)
                    self._atexit = True
            connection.users += 1
            return connection

    def _close_idle_local(self) -> None:
        """Close the managed LocalClusters no backend uses now (called with the lock held)."""
        idle = [key for key, c in self._open.items() if key[0] == "local" and c.users == 0]
        for key in idle:
            self._open.pop(key).close()

    def release(self, connection: Connection) -> None:
        """Give a connection back; it stays open for the next user until :meth:`close`."""
        with self._lock:
            connection.users = max(0, connection.users - 1)

    def discard(self, client: Any) -> None:
        """Drop and close the connection of ``client`` (its scheduler is gone)."""
        with self._lock:
            lost = [key for key, c in self._open.items() if c.client is client]
            connections = [self._open.pop(key) for key in lost]
        for connection in connections:
            connection.close()
        if not connections:
            Connection(ClusterSpec(), client).close()

    def close(self, address: str | None = None) -> None:
        """Close every connection and managed cluster, or only the connection to ``address``."""
        with self._lock:
            keys = [k for k in self._open if address is None or k[:2] == ("address", address)]
            connections = [self._open.pop(key) for key in keys]
        for connection in connections:
            connection.close()

    def running(self) -> list[Connection]:
        """The connections open now."""
        with self._lock:
            return list(self._open.values())


CONNECTIONS = ConnectionOwner()


def close_all(address: str | None = None) -> None:
    """Close the clients and managed clusters this process opened (see :class:`ConnectionOwner`)."""
    CONNECTIONS.close(address)


def _connect(spec: ClusterSpec) -> Connection:
    from distributed import Client

    check_address(spec.resolved_address, spec.address_and_source()[1])
    address = spec.resolved_address
    record = _running_record(spec)
    security = security_for(spec.security, address) if record is None else None
    try:
        client = Client(address, timeout=spec.timeout, security=security, set_as_default=False) \
            if record is None else open_client(spec.cluster, record, spec.timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterConnectionError(
            f"Could not reach the Dask scheduler at {address!r} (from {spec.address_and_source()[1]}) "
            f"within {spec.timeout:g} s ({exc}). "
            "Check the address and that `dask scheduler` is running and reachable from here; "
            "leave address unset to use a local cluster, or raise timeout=."
        ) from None
    from ._environment import check_worker_environment

    try:
        check_worker_environment(client, address)
    except BaseException:
        client.close()
        raise
    return Connection(spec, client)


def _start_local(spec: ClusterSpec, key: tuple) -> Connection:
    from distributed import Client

    from ._cluster_host import ClusterHost

    _, n_workers, threads_per_worker, memory_limit = key
    host = ClusterHost({
        "n_workers": n_workers, "threads_per_worker": threads_per_worker,
        "memory_limit": memory_limit if memory_limit is not None else "auto",
    }, spec.timeout)
    try:
        client = Client(host.address, timeout=spec.timeout, set_as_default=False)
    except BaseException:
        host.close()
        raise
    return Connection(spec, client, host)


def _running_record(spec: ClusterSpec) -> dict[str, Any] | None:
    """The record of the profile's running cluster this spec connects to, if that is what it does."""
    if spec.cluster is None or (spec.address or "").strip():
        return None
    from . import records

    return records.read(spec.cluster.profile)


def _start_profile(spec: ClusterSpec) -> Connection:
    """Start a profile's cluster for this process: owned by a host process of its own
    (``_profile_host.py``), which ends it when this process closes it, exits or dies."""
    from ._profile_host import start_attached

    host = start_attached(spec.cluster)
    try:
        client = open_client(spec.cluster, host.record, spec.timeout)
        from ._environment import check_worker_environment

        check_worker_environment(client, host.address)
    except BaseException:
        host.close()
        raise
    return Connection(spec, client, host)


def open_client(section: Any, record: dict[str, Any], timeout: float) -> Any:
    """A client of a profile's started cluster, from what its owner recorded (the kind's own
    ``connect`` where a bare address is not enough, as for a Dask Gateway's clusters)."""
    connect = section.spec.connect
    if connect is not None:
        return connect(record, timeout)
    from distributed import Client

    try:
        return Client(record["address"], timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterConnectionError(
            f"Could not reach the scheduler of profile {section.profile}'s cluster at {record['address']!r} "
            f"within {timeout:g} s ({exc}). `scaleml cluster status --profile {section.profile}` shows whether "
            f"it still runs; `scaleml cluster down --profile {section.profile}` ends it."
        ) from None


def _import_sklearn() -> None:
    import sklearn.base  # noqa: F401
    import sklearn.model_selection  # noqa: F401


@contextmanager
def scheduler_loss_as_error(client: Any) -> Iterator[None]:
    """Turn the loss of the scheduler during work into one clear ClusterConnectionError.

    Dask reports it as a cancelled future or a closed comm from deep inside the
    work; the connection is then discarded, so the next use connects afresh.
    ``client`` may also be a function returning the client, or None when no
    connection was made (then nothing is translated).
    """
    try:
        yield
    except Exception as exc:
        current = client() if callable(client) else client
        if current is None or (current.status == "running" and "scheduler-connection-lost" not in str(exc)):
            raise
        address = getattr(current.scheduler, "address", None) or "(unknown)"
        CONNECTIONS.discard(current)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterConnectionError(
            f"Lost the Dask scheduler at {address} during the work ({type(exc).__name__}: {detail}). "
            "The fit did not finish and nothing from it was kept. Check that the scheduler is running "
            "(its log says why it stopped) and run again. Workers started with `dask worker "
            "--death-timeout 60` stop by themselves once their scheduler is gone."
        ) from exc


def workers_of(client: Any) -> dict[str, dict[str, Any]]:
    """The scheduler's workers now, by address, each with its ``nthreads``, ``memory_limit``, ...

    Asked of the scheduler on every call. ``client.scheduler_info()`` returns the client's
    shared copy, which the client's own periodic refresh (every 2 s, asking for no
    workers) may replace while the call is returning: a worker that is there then looks
    gone, which once stopped a healthy data-parallel fit as "worker lost".
    """
    if client.asynchronous:
        raise RuntimeError("workers_of needs a synchronous Client")
    try:
        identity = client.sync(client.scheduler.identity, n_workers=-1)
    except TypeError:  # distributed before 2025.4: identity() lists every worker, and takes no count
        identity = client.sync(client.scheduler.identity)
    return dict(identity["workers"])


# -- the cluster the active work may use ------------------------------------------------
