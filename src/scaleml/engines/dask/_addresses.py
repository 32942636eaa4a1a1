"""Scheduler addresses and how to reach them: where an address comes from (Dask's
config), whether it can be one, and the TLS security that goes with it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ...exceptions import ClusterConnectionError, InvalidParameterError

ENV_ADDRESS = "SCALEML_DASK_ADDRESS"
TLS_FILES = ("tls_ca_file", "tls_client_cert", "tls_client_key")  # security keys that name files


def dask_config_address() -> str | None:
    """Dask's ``scheduler-address``: ``DASK_SCHEDULER_ADDRESS`` as it is now (Dask reads
    its environment once, at import), else its config (``dask.config.set``, YAML files)."""
    if in_dask_worker():
        # Inside a task the work stays in that worker; worker processes often carry the
        # variable (a Nanny's environment, Kubernetes pods), which names their own scheduler.
        return None
    from_env = os.environ.get("DASK_SCHEDULER_ADDRESS", "").strip()
    if from_env:
        return from_env
    try:
        import dask.config
    except ImportError:  # without Dask installed there is no Dask config to honour
        return None
    return (dask.config.get("scheduler-address", None) or "").strip() or None


def split_address(address: str) -> tuple[str, str, str]:
    """``(scheme, host, port)`` of a scheduler address (``tcp://[::1]:8786`` -> ``tcp``,
    ``::1``, ``8786``); the scheme and the port are empty where the address has none."""
    scheme, _, location = address.strip().rpartition("://")
    host, colon, port = location.rpartition(":")
    if not colon or not port.isdigit():  # no port: "scheduler", or an IPv6 host alone
        host, port = location, ""
    return scheme.lower(), host.strip("[]"), port


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be a Dask scheduler address, or None (schemes other than
    tcp, tls, ws and wss, such as inproc:// and ucx://, are left to Dask)."""
    scheme, host, port = split_address(address)
    if scheme not in ("", "tcp", "tls", "ws", "wss") or (host and port):
        return None
    return "it needs a host and a port, as in 'tcp://scheduler:8786'"


def check_address(address: str, source: str) -> None:
    """Refuse, before Dask tries it, an address that names no port: Dask fails at once on
    it, and our "could not reach within N s" would send the user looking at the network."""
    problem = address_problem(address)
    if problem is None:
        return
    raise ClusterConnectionError(
        f"{address!r} (from {source}) is not a Dask scheduler address: {problem}. `dask scheduler` prints its "
        "address when it starts (8786 is its default port); leave the address unset (there) to use a local "
        "cluster."
    )


def security_for(security: Any, address: str) -> Any:
    """A ``distributed.Security`` from an object, a dict of TLS file paths, or None."""
    from distributed import Security

    if security is None and address.startswith("tls://"):
        raise ClusterConnectionError(
            f"The scheduler address {address!r} uses TLS but no certificates were given. "
            "Pass security={'tls_ca_file': ..., 'tls_client_cert': ..., 'tls_client_key': ...} "
            "(or a distributed.Security)."
        )
    if security is None or isinstance(security, Security):
        return security
    if isinstance(security, dict):
        for key in TLS_FILES:
            path = security.get(key)
            if isinstance(path, str) and not os.path.isfile(path):
                raise ClusterConnectionError(
                    f"The TLS file for security[{key!r}] does not exist: {path!r}. Fix the path in the "
                    "backend's security option (or in the profile it came from); relative paths in a "
                    "profile are read from the profile's folder."
                )
        return Security(require_encryption=True, **security)
    raise InvalidParameterError(
        f"The 'security' option must be a distributed.Security or a dict of TLS file paths. "
        f"Got {type(security).__name__} instead."
    )


def in_dask_worker() -> bool:
    """Whether this code runs inside a task on a Dask worker (where no cluster may be started)."""
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True
