"""Simulated SSH hosts on this machine: one network namespace per host running Debian's
``sshd`` (openssh-server), each linked by a veth pair to a bridge in a switch namespace,
and this machine's own namespace linked to the same bridge so that scaleml, here, reaches
them as it would reach servers (as ``bench/rehearsal/network.py`` simulates nodes).

Everything is named ``sshc-<owner pid>-...`` (the link in this machine's namespace
``sshc<owner pid>``): :meth:`SSHHosts.close` kills what runs in the namespaces and deletes
them, which removes their links, the one here included; :func:`sweep` removes what a run
killed outright left behind. Needs root, iproute2 and ``/usr/sbin/sshd``.

A key pair is made for the hosts (``key``), and each host's ``sshd`` accepts it for root.
Hosts listed in ``refusing`` get a namespace but no ``sshd``: a connection to them is refused.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "sshc-"
SSHD = "/usr/sbin/sshd"


class HostsError(RuntimeError):
    """The namespaces or sshd could not be set up (not root, no iproute2 or openssh-server)."""


def missing() -> str | None:
    """Why simulated SSH hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns add; sshd)"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip`)"
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        return "needs Debian's openssh-server (/usr/sbin/sshd) and ssh-keygen: run tools/system-packages.sh as root"
    return None


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), capture_output=True, text=True)
    if check and result.returncode:
        raise HostsError(f"`{' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def namespaces() -> list[str]:
    out = _run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


def pids_in(namespace: str) -> list[int]:
    """Every process in ``namespace`` (``ip netns pids``)."""
    return [int(p) for p in _run("ip", "netns", "pids", namespace, check=False).stdout.split()]


def remove_namespace(namespace: str) -> None:
    """Kill every process in ``namespace``, then delete it (its links go with it)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids_in(namespace):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while pids_in(namespace) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pids_in(namespace):
            break
    _run("ip", "netns", "del", namespace, check=False)


def _owner_alive(namespace: str) -> bool:
    try:
        os.kill(int(namespace[len(PREFIX):].split("-", 1)[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def sweep() -> list[str]:
    """Remove the ``sshc-`` namespaces of runs whose process is gone, with their processes."""
    gone = [ns for ns in namespaces() if not _owner_alive(ns)]
    for namespace in gone:
        remove_namespace(namespace)
    return gone


@dataclass
class SSHHosts:
    """``count`` hosts with sshd (and ``refusing`` without), reachable from here by address.

    Use as a context manager; :meth:`close` is idempotent and also runs on SIGTERM/SIGHUP.
    ``addresses[i]`` is host i's address, ``namespaces[i]`` its namespace, ``sshd[i]`` its
    sshd process (None for a refusing host); ``key`` the private key they accept.
    """

    count: int
    folder: Path
    refusing: int = 0
    owner: int = field(default_factory=os.getpid)
    made: list[str] = field(default_factory=list, init=False)
    addresses: list[str] = field(default_factory=list, init=False)
    namespaces: list[str] = field(default_factory=list, init=False)
    sshd: list[subprocess.Popen | None] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.subnet = f"10.217.{self.owner % 200 + 20}"  # private, used only by the links made here
        self.key = self.folder / "id_ed25519"

    def __enter__(self) -> SSHHosts:
        problem = missing()
        if problem:
            raise HostsError(problem)
        sweep()
        self._old = {s: signal.signal(s, _exit) for s in (signal.SIGTERM, signal.SIGHUP)}
        try:
            self._make()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make(self) -> None:
        switch = f"{PREFIX}{self.owner}-switch"
        self._namespace(switch)
        _run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", switch, "link", "set", "br0", "up")
        here = f"sshc{self.owner}"  # this machine's end; removed with its peer when the switch goes
        _run("ip", "link", "add", here, "type", "veth", "peer", "name", "up0", "netns", switch)
        _run("ip", "addr", "add", f"{self.subnet}.254/24", "dev", here)
        _run("ip", "link", "set", here, "up")
        _run("ip", "-n", switch, "link", "set", "up0", "master", "br0")
        _run("ip", "-n", switch, "link", "set", "up0", "up")
        self._keys()
        for index in range(1, self.count + self.refusing + 1):
            namespace = f"{PREFIX}{self.owner}-h{index}"
            self._namespace(namespace)
            _run("ip", "-n", switch, "link", "add", f"h{index}", "type", "veth", "peer", "name", "eth0", "netns", namespace)
            address = f"{self.subnet}.{index}"
            _run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            for device in ("eth0", "lo"):
                _run("ip", "-n", namespace, "link", "set", device, "up")
            # A default route: Dask finds a process's own address by the route to the outside.
            _run("ip", "-n", namespace, "route", "add", "default", "via", f"{self.subnet}.254")
            _run("ip", "-n", switch, "link", "set", f"h{index}", "master", "br0")
            _run("ip", "-n", switch, "link", "set", f"h{index}", "up")
            self.addresses.append(address)
            self.namespaces.append(namespace)
            self.sshd.append(self._sshd(namespace, address) if index <= self.count else None)
        for address in self.addresses[: self.count]:
            _wait_for_port(address, 22, 20.0)

    def _namespace(self, name: str) -> None:
        _run("ip", "netns", "add", name)
        self.made.append(name)

    def _keys(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in (self.key, self.folder / "host_key"):
            if not path.exists():
                _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "scaleml-test", "-f", str(path))
        (self.folder / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())

    def _sshd(self, namespace: str, address: str) -> subprocess.Popen:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
        options = {
            "ListenAddress": address, "Port": "22", "HostKey": str(self.folder / "host_key"),
            "AuthorizedKeysFile": str(self.folder / "authorized_keys"), "PermitRootLogin": "prohibit-password",
            "PasswordAuthentication": "no", "StrictModes": "no", "UsePAM": "no", "PidFile": "none",
            "MaxStartups": "50", "MaxSessions": "50",
        }
        argv = ["ip", "netns", "exec", namespace, SSHD, "-D", "-e", "-f", "/dev/null"]
        for key, value in options.items():
            argv += ["-o", f"{key}={value}"]
        log = open(self.folder / f"sshd-{namespace}.log", "w")
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def python(self) -> Path:
        """A ``remote_python`` for the hosts: this interpreter, with this process's import
        path (the hosts share this machine's disk), so workers run the code under test."""
        wrapper = self.folder / "python"
        paths = os.pathsep.join(p for p in sys.path if p)
        wrapper.write_text(f"#!/bin/sh\nexport PYTHONPATH='{paths}'\nexport SCIPY_ARRAY_API=1\n"
                           f"exec '{sys.executable}' \"$@\"\n")
        wrapper.chmod(0o755)
        return wrapper

    def close(self) -> None:
        for process in self.sshd:
            if process is not None and process.poll() is None:
                process.terminate()
        for namespace in reversed(self.made):
            remove_namespace(namespace)
        for process in self.sshd:
            if process is not None:
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.made.clear()
        _run("ip", "link", "del", f"sshc{self.owner}", check=False)  # gone with its peer already, normally
        for sig, handler in getattr(self, "_old", {}).items():
            signal.signal(sig, handler)
        self._old = {}


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _wait_for_port(address: str, port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise HostsError(f"sshd at {address}:{port} did not answer within {seconds:g} s: {exc}") from None
            time.sleep(0.1)
