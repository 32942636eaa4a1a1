"""A Dask Gateway asked for a cluster: checked to answer first, its refusals said plainly.

dask-gateway's client waits for an address that does not answer as long as aiohttp does
(minutes) and reports a refused connection as aiohttp's own error. Before asking for a
cluster, :func:`check_gateway` asks the gateway's health endpoint (``/api/health``, which
every dask-gateway-server serves) within the profile's ``start_timeout``, so a wrong
address is one :class:`~scaleml.exceptions.ClusterConnectionError` naming the profile,
the address and what to check; :func:`refused` words the gateway's own refusals likewise.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ...exceptions import ClusterConnectionError

# Gateway clients closed here, kept until exit: dask-gateway's __del__ closes a Gateway
# again, which raises (and prints "Exception ignored") once its loop has stopped; at
# interpreter exit __del__ does nothing.
_CLOSED: list[Any] = []

WHERE_ADDRESS = "cluster.address in the profile, else Dask's gateway.address config (DASK_GATEWAY__ADDRESS)"


def gateway_address(gateway: Any) -> str:
    """The address a ``dask_gateway.Gateway`` talks to (its argument, else Dask's config)."""
    return str(getattr(gateway, "address", "") or "")


def check_gateway(profile: str, address: str, timeout: float) -> None:
    """Raise ClusterConnectionError unless a Dask Gateway answers at ``address`` within ``timeout``."""
    if not address:
        raise ClusterConnectionError(
            f"Profile {profile} (kind: gateway) names no gateway address: set {WHERE_ADDRESS}.")
    url = address.rstrip("/") + "/api/health"
    try:
        # No proxy from the environment: dask-gateway's client (aiohttp) uses none either.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=timeout) as response:
            status = json.loads(response.read() or b"{}").get("status")
    except urllib.error.HTTPError as exc:
        raise ClusterConnectionError(
            f"Profile {profile} (kind: gateway): {address} answers, but not as a Dask Gateway "
            f"({url} gave HTTP {exc.code}). Check the address ({WHERE_ADDRESS}): it is the gateway's "
            "public address (its proxy), e.g. http://gateway.example.org:8000.") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ClusterConnectionError(
            f"Profile {profile} (kind: gateway): no Dask Gateway answered at {address} within {timeout:g} s "
            f"({reason}). Check the address ({WHERE_ADDRESS}), that dask-gateway-server runs there, and that "
            f"this machine reaches it (`curl {url}`).") from None
    if status not in (None, "pass"):
        raise ClusterConnectionError(
            f"Profile {profile} (kind: gateway): the Dask Gateway at {address} reports its health as "
            f"{status!r}; ask its administrator, or see {url}.")


def refused(profile: str, address: str, exc: BaseException, doing: str = "did not start a cluster") -> ClusterConnectionError:
    """The gateway's refusal (authentication, options, its backend, a cluster gone), worded."""
    text = str(exc) or type(exc).__name__
    if "401" in text or "403" in text or "nauthori" in text:
        hint = ("check the profile's auth and its credentials (a password goes in Dask's "
                "gateway.auth.kwargs config, e.g. DASK_GATEWAY__AUTH__KWARGS__PASSWORD, never in the profile)")
    elif "404" in text or "not found" in text.lower():
        hint = (f"the cluster has ended at the gateway: `scaleml cluster down --profile {profile}` forgets it, "
                f"`scaleml cluster up --profile {profile}` starts another")
    else:
        hint = "see the gateway's log for the cluster it tried to start, and the profile's cluster options"
    return ClusterConnectionError(
        f"Profile {profile} (kind: gateway): the Dask Gateway at {address} {doing}: {text}. To fix: {hint}.")


def start(section: Any) -> Any:
    """``Gateway(...).new_cluster(...)`` for the profile, the gateway checked to answer first.

    The section's arguments are split between ``Gateway``'s own parameters (address, auth,
    ...) and ``new_cluster``'s (cluster options).
    """
    gateway_args, cluster_args = split_args(section)
    gateway = section.spec.load()(**gateway_args)
    address = gateway_address(gateway)
    try:
        check_gateway(section.profile, address, section.start_timeout)
        options = dict(cluster_args.pop("cluster_options", None) or {})
        try:
            check_options(section.profile, gateway, address, options)
            # dask-gateway takes cluster options as keywords (a dict as cluster_options= it refuses)
            return gateway.new_cluster(**cluster_args, **options)
        except ClusterConnectionError:
            raise
        except Exception as exc:  # noqa: BLE001 - aiohttp's and the gateway's own errors, worded once
            raise refused(section.profile, address, exc) from None
    except BaseException:
        _close(gateway)
        raise


def check_options(profile: str, gateway: Any, address: str, options: dict[str, Any]) -> None:
    """Each of the profile's ``cluster_options`` must be one the gateway offers
    (``Gateway.cluster_options()``): a misspelled one is named before a cluster is asked for."""
    if not options:
        return
    offered = list(gateway.cluster_options())
    for name in options:
        if name not in offered:
            import difflib

            close = difflib.get_close_matches(name, offered, n=1)
            raise ClusterConnectionError(
                f"Profile {profile} (kind: gateway): cluster.cluster_options.{name} is not an option the Dask "
                f"Gateway at {address} offers.{f' Did you mean {close[0]!r}?' if close else ''} It offers: "
                f"{', '.join(offered) or 'none'}.")


def split_args(section: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The section's arguments as ``Gateway(...)``'s and ``new_cluster(...)``'s."""
    import inspect

    own = inspect.signature(section.spec.load()).parameters
    return ({k: v for k, v in section.args.items() if k in own},
            {k: v for k, v in section.args.items() if k not in own})


def recorded(cluster: Any) -> dict[str, Any]:
    """What another process needs to reach a gateway cluster: its name (the gateway's
    clusters are reached through its proxy, with credentials the gateway hands out)."""
    return {"cluster_name": cluster.name}


def connect(state: dict[str, Any], timeout: float) -> Any:
    """A client of a recorded gateway cluster, through the gateway (``Gateway.connect``)."""
    from dask_gateway import Gateway

    args = (state.get("section") or {}).get("args") or {}
    own = {k: v for k, v in args.items() if k in ("address", "proxy_address", "public_address", "auth")}
    profile = state.get("profile", "?")
    gateway = Gateway(**own)
    address = gateway_address(gateway)
    check_gateway(profile, address, timeout)
    try:
        cluster = gateway.connect(state["extra"]["cluster_name"])
    except Exception as exc:  # noqa: BLE001 - credentials refused, or the cluster ended meanwhile
        _close(gateway)
        raise refused(profile, address, exc, f"did not connect to cluster {state['extra']['cluster_name']}") from None
    # A plain client with the cluster's own credentials, so nothing of the gateway's client
    # (its event loop, the cluster object) outlives this call; closing the cluster object
    # leaves the cluster running (connect's shutdown_on_close is False).
    from distributed import Client

    try:
        return Client(cluster.scheduler_address, security=cluster.security, timeout=timeout, set_as_default=False)
    finally:
        cluster.close()  # closes its gateway client too
        _CLOSED.append(gateway)


def _close(gateway: Any) -> None:
    gateway.close()
    _CLOSED.append(gateway)
