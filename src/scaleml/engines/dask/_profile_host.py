"""The process that owns a profile's cluster (a ``cluster:`` section, ``kinds.py``).

Run as ``python -m scaleml.engines.dask._profile_host '<section as JSON>' [--detach]``: it
starts the cluster, waits for its workers, prints one JSON line (the scheduler address,
dashboard, workers; or ``{"error": ...}``), then keeps the cluster until it is told to
end: attached (a run's own cluster), when its standard input closes, which happens when
the process that started it closes the pipe, exits or dies; detached (``scaleml cluster
up``), on SIGTERM, having recorded itself in ``records.py``'s folder. Either way it closes
the cluster object, which ends what the engine started (remote processes, jobs, pods).

The cluster lives in a process of its own for the reason the managed LocalCluster does
(``_cluster_host.py``), and so that one cluster can outlive the command that started it.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import sys
import time
from typing import Any

from .kinds import ClusterSection

MODULE = "scaleml.engines.dask._profile_host"
MARGIN_SECONDS = 30.0  # past the section's start_timeout, before the starting side gives up


def start_attached(section: ClusterSection) -> Any:
    """Start ``section``'s cluster for this process: a :class:`ClusterHost` ending with it."""
    from ._cluster_host import ClusterHost

    from .kinds import REAP_SECONDS

    # Closing may wait for remote processes to go (kind ssh: up to REAP_SECONDS) before the host exits.
    return ClusterHost(section.to_json(), section.start_timeout + MARGIN_SECONDS, module=MODULE,
                       what=f"the cluster of profile {section.profile}", close_seconds=REAP_SECONDS + 30.0)


def start_detached(section: ClusterSection) -> dict[str, Any]:
    """Start ``section``'s cluster in a process that outlives this one (``scaleml cluster up``);
    its record (address, pid, ...) as written. Raises ClusterConnectionError if it does not start."""
    from . import records
    from ._cluster_host import ClusterHost

    records.folder().mkdir(parents=True, exist_ok=True)
    with open(records.log_path(section.profile), "a") as log:
        host = ClusterHost(section.to_json(), section.start_timeout + MARGIN_SECONDS, module=MODULE,
                           args=("--detach",), detach=True, log=log,
                           what=f"the cluster of profile {section.profile}")
    for stream in (host._process.stdout,):
        stream.close()  # the host writes nothing more there
    return host.record


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _client_of(cluster: Any) -> Any:
    if hasattr(cluster, "get_client"):
        return cluster.get_client()
    from distributed import Client

    return Client(cluster, set_as_default=False)


def _start(section: ClusterSection) -> tuple[Any, Any]:
    """The cluster and a client of it, with its expected workers joined (or a clear error)."""
    cluster = section.start()
    try:
        client = _client_of(cluster)
        wanted = section.expected_workers()
        try:
            client.wait_for_workers(wanted, timeout=section.start_timeout)
        except TimeoutError:
            joined = len(client.scheduler_info().get("workers", {}))
            stalled = section.spec.stalled
            raise TimeoutError(
                f"{joined} of {wanted} worker(s) joined within start_timeout={section.start_timeout:g} s "
                f"({section.describe()})" + (f". {stalled(section, cluster)}" if stalled else "")
            ) from None
        return cluster, client
    except BaseException:
        cluster.close()
        raise


def _failure(section: ClusterSection, exc: BaseException) -> str:
    detail = str(exc).strip() or type(exc).__name__
    return (f"Could not start the cluster of profile {section.profile} (kind {section.kind}: "
            f"{section.spec.where(section)}): {detail}. {HINTS.get(section.kind, '')}").strip()


HINTS = {
    "ssh": "Check that every host runs sshd and lets this user in with the profile's key "
           "(cluster.connect_options: username, client_keys, known_hosts, port), and that "
           "cluster.remote_python exists on every host with the same scaleml, Dask and scikit-learn.",
    "slurm": "Check `squeue` for the jobs (pending? rejected?) and the queue, account and walltime in the profile.",
    "pbs": "Check `qstat` for the jobs (queued? rejected?) and the queue, account and walltime in the profile.",
    "kubernetes": "Check the Dask operator is installed in the cluster, and `kubectl get daskclusters` and the pods' events.",
    "gateway": "Check the gateway address (cluster.address) and that `dask-gateway-server` runs there, and the auth.",
}


def _record(section: ClusterSection, cluster: Any, client: Any) -> dict[str, Any]:
    recorded = section.spec.recorded
    return {
        "profile": section.profile, "kind": section.kind, "address": client.scheduler.address,
        "dashboard": getattr(cluster, "dashboard_link", "") or "", "pid": os.getpid(),
        "host": socket.gethostname(), "owner": f"{getpass.getuser()}@{socket.gethostname()}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "workers": len(client.scheduler_info().get("workers", {})),
        "section": section.to_json(), "extra": recorded(cluster) if recorded else {},
    }


def main() -> None:
    section = ClusterSection.from_json(json.loads(sys.argv[1]))
    detach = "--detach" in sys.argv[2:]
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)
    from . import records

    cluster = client = None
    try:
        try:
            cluster, client = _start(section)
        except Exception as exc:  # noqa: BLE001 - whatever the engine raised, said once, with what to check
            print(json.dumps({"error": _failure(section, exc)}), flush=True)
            raise SystemExit(1) from None
        record = _record(section, cluster, client)
        if detach:
            records.write(section.profile, record)
        print(json.dumps(record), flush=True)
        if detach:
            os.dup2(2, 1)  # the starting command has read its line and gone
            while True:
                signal.pause()
        sys.stdin.read()  # until the starting process closes the pipe or dies
    except KeyboardInterrupt:
        pass
    finally:
        _close(section, client, cluster)
        if detach:
            records.remove(section.profile, os.getpid())


def _close(section: ClusterSection, client: Any, cluster: Any) -> None:
    """End the cluster (the kind's own way: SSH waits for the remote processes), then the client."""
    close = section.spec.close
    steps = [(lambda: close(section, cluster, client)) if close and cluster is not None else
             getattr(cluster, "close", None), getattr(client, "close", None)]
    for step in steps:
        if step is not None:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - close the rest; the log says what failed
                print(f"scaleml: closing the cluster of profile {section.profile} failed: {exc!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
