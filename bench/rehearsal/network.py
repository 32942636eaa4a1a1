"""Simulated nodes on this machine: one Linux network namespace per node, each linked by a
veth pair to a bridge in a switch namespace of its own, each link shaped with ``tc tbf``
in both directions (a node's upload on its own end, its download on the switch's end).

Nothing is added to the machine's own namespace: every interface, address and qdisc lives
in namespaces this module creates, named ``sml-<owner pid>-...``, and deleting those
namespaces (after killing what runs in them) removes all of it. :func:`sweep` removes
what a run killed outright (SIGKILL) left behind, so a next run starts clean.

Needs root (``ip netns``), iproute2 and the kernel's ``tbf`` qdisc. Latency cannot be
injected here (no ``netem``): links add only the kernel's own (tens of microseconds).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

PREFIX = "sml-"
SUBNET = "10.213.0"  # private addresses, used only inside the namespaces made here


class NetworkError(RuntimeError):
    """A namespace, link or qdisc could not be made (not root, or no iproute2/tbf)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode:
        raise NetworkError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def _tc(*args: str) -> None:
    result = subprocess.run(["tc", *args], capture_output=True, text=True)
    if result.returncode:
        raise NetworkError(f"`tc {' '.join(args)}` failed: {result.stderr.strip()}")


def namespaces() -> list[str]:
    """Every namespace on the machine whose name starts with :data:`PREFIX`."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


def pids_in(namespace: str) -> list[int]:
    out = _ip("netns", "pids", namespace, check=False).stdout
    return [int(p) for p in out.split()]


def remove_namespace(namespace: str) -> None:
    """Kill every process in ``namespace``, then delete it (its links and qdiscs go with it)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = pids_in(namespace)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = pids_in(namespace)
        if not pids:
            break
    _ip("netns", "del", namespace, check=False)


def _owner_alive(namespace: str) -> bool:
    try:
        pid = int(namespace[len(PREFIX):].split("-", 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(everything: bool = False) -> list[str]:
    """Remove namespaces left by runs whose process is gone (or all of ours), with their processes."""
    gone = [ns for ns in namespaces() if everything or not _owner_alive(ns)]
    for ns in gone:
        remove_namespace(ns)
    return gone


@dataclass
class Node:
    """One simulated host: a namespace, its address and its link's name on the switch."""

    name: str
    namespace: str
    address: str
    port: str  # the veth end on the switch

    def counters(self) -> dict[str, int]:
        """Bytes this node has sent and received on its link so far."""
        out = _ip("-n", self.namespace, "-j", "-s", "link", "show", "dev", "eth0").stdout
        stats = json.loads(out)[0]["stats64"]
        return {"sent": stats["tx"]["bytes"], "received": stats["rx"]["bytes"]}


@dataclass
class Network:
    """A switch and ``nodes`` attached to it, each link limited to ``mbit`` Mbit/s each way.

    Use as a context manager; :meth:`close` is idempotent and also runs on SIGTERM/SIGHUP
    (turned into ``SystemExit`` while the network is open) and at interpreter exit.
    A run killed outright (SIGKILL) leaves its namespaces to the next run's :func:`sweep`.
    """

    node_names: list[str]
    mbit: float | None = 1000.0
    owner: int = field(default_factory=os.getpid)
    prefix: str = PREFIX  # another developer's runs on this machine may use another (e.g. "wl-")
    nodes: dict[str, Node] = field(default_factory=dict, init=False)
    made: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if len(self.node_names) > 200:
            raise ValueError("at most 200 nodes on one rehearsal network")
        self.switch = f"{self.prefix}{self.owner}-switch"

    def open(self) -> Network:
        if os.geteuid() != 0:
            raise NetworkError("network namespaces need root (ip netns add); run the rehearsal as root")
        self._old_handlers = {s: signal.signal(s, _exit_on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
        atexit.register(self.close)
        try:
            self._make()
        except BaseException:
            self.close()
            raise
        return self

    def _make(self) -> None:
        _ip("netns", "add", self.switch)
        self.made.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for index, name in enumerate(self.node_names, start=1):
            namespace = f"{self.prefix}{self.owner}-{name}"
            _ip("netns", "add", namespace)
            self.made.append(namespace)
            port = f"p{index}"
            _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            address = f"{SUBNET}.{index}"
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", self.switch, "link", "set", port, "master", "br0")
            _ip("-n", self.switch, "link", "set", port, "up")
            if self.mbit:
                shape(namespace, "eth0", self.mbit)  # the node's upload
                shape(self.switch, port, self.mbit)  # its download
            self.nodes[name] = Node(name, namespace, address, port)

    def close(self) -> None:
        for namespace in reversed(self.made):
            remove_namespace(namespace)
        self.made.clear()
        for sig, handler in getattr(self, "_old_handlers", {}).items():
            signal.signal(sig, handler)
        self._old_handlers = {}
        atexit.unregister(self.close)

    def __enter__(self) -> Network:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def counters(self) -> dict[str, dict[str, int]]:
        return {name: node.counters() for name, node in self.nodes.items()}


def shape(namespace: str, device: str, mbit: float) -> None:
    """Limit ``device``'s egress to ``mbit`` with a token bucket.

    The bucket holds at least 256 KiB: veth hands tbf segments of up to 64 KiB (GSO), and
    a bucket smaller than a segment stalls the link.
    """
    rate_bytes = mbit * 1e6 / 8
    burst = max(256 * 1024, int(rate_bytes * 0.004))
    _tc("-n", namespace, "qdisc", "add", "dev", device, "root", "tbf",
        "rate", f"{mbit}mbit", "burst", str(burst), "latency", "400ms")


def qdiscs(namespace: str) -> str:
    return subprocess.run(["tc", "-n", namespace, "qdisc", "show"], capture_output=True, text=True).stdout


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {name: {k: after[name][k] - before[name][k] for k in after[name]} for name in after}
