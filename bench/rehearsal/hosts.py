"""Dask workers on other (simulated) hosts, the scheduler and the client on this one.

Each worker is a real ``dask worker`` process in a network namespace of its own (the
:mod:`.network` switch) *and* a mount namespace in which this process's multiprocessing temp folder is hidden: a network
namespace alone still shares the filesystem, and with it every UNIX socket path, so a
worker there would reach what only this host's processes should (scikit-learn's
callbacks' sockets). This process is the client, in this machine's own namespaces (its
link to the switch: ``Network(host_address=...)``), so that a test or a script here
compares in-process objects. The scheduler listens on the switch's bridge, in the
switch's namespace: reached from both sides, and killed with that namespace, so a run
killed outright leaves no scheduler behind for the next run's sweep to miss.

    with WorkersElsewhere(2, logs) as cluster:
        client = distributed.Client(cluster.address)
        cluster.workers   # node name -> the worker's pid (what client.run(os.getpid) returns)

Root only; :func:`why_not` says why it cannot run here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from . import network
from .cluster import SCHEDULER, WORKER

def private_tmp() -> list[str]:
    """The command prefix giving a worker a private mount namespace in which this process's
    multiprocessing temp folder (where scikit-learn's callback sockets live) is an empty
    tmpfs: as on another host, where that folder does not exist. Only that folder is
    hidden, not the whole of /tmp, where a checkout and its virtual environment may live
    (a CI clone under /tmp)."""
    import multiprocessing.util

    folder = multiprocessing.util.get_temp_dir()  # made now if it was not yet
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f'mount -t tmpfs tmpfs "{folder}" && exec "$@"', "worker"]


def why_not(prefix: str) -> str | None:
    """Why workers on simulated hosts cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (iproute2, util-linux)"
    probe = f"{prefix}{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    try:
        if made.returncode:
            return f"cannot make a network namespace: {made.stderr.decode().strip()}"
        tmp = subprocess.run(["ip", "netns", "exec", probe, *private_tmp(), "true"], capture_output=True)
        if tmp.returncode:
            return f"cannot give a namespace its own /tmp: {tmp.stderr.decode().strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def free_subnet(base: str = "10.214") -> str:
    """A ``base.X`` /24 that no route of this machine's namespace uses yet: the host link's
    address lives here, so two runs at once (two users, two CI jobs) must not share one."""
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    for third in range(1 + os.getpid() % 200, 255):
        subnet = f"{base}.{third}"
        if f"{subnet}." not in routes:
            return subnet
    raise network.NetworkError(f"every {base}.X/24 is routed on this machine already")


class WorkersElsewhere:
    """The client here, ``workers`` workers (``threads`` each) each on a simulated host.

    ``prefix`` and ``subnet`` (default: :func:`free_subnet`) keep these namespaces and
    addresses apart from other users' (see :class:`.network.Network`); ``pythonpath`` is
    added to every process's.
    """

    def __init__(self, workers: int, logs: Path, prefix: str = "cbk-", subnet: str | None = None,
                 threads: int = 2, pythonpath: str = "") -> None:
        self.network = network.Network([f"w{i}" for i in range(workers)], mbit=None, prefix=prefix,
                                       subnet=subnet or free_subnet(), host_address=254)
        self.logs = Path(logs)
        self.threads = threads
        self.pythonpath = pythonpath
        self.processes: list[subprocess.Popen] = []
        self.workers: dict[str, int] = {}  # node name -> the worker's pid
        self.address = ""

    def start(self) -> WorkersElsewhere:
        network.sweep(prefix=self.network.prefix)  # what a run killed outright left (its owner gone)
        self.network.open()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        host = f"{self.network.subnet}.253"  # the scheduler's, on the switch's bridge
        network._ip("-n", self.network.switch, "addr", "add", f"{host}/24", "dev", "br0")
        port = 8786
        self.address = f"tcp://{host}:{port}"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (self.pythonpath, os.environ.get("PYTHONPATH")) if p)}
        self._spawn(["ip", "netns", "exec", self.network.switch, *SCHEDULER, "--host", host, "--port", str(port),
                     "--no-dashboard"], "scheduler", env)
        for name, node in self.network.nodes.items():
            worker = [*WORKER, self.address, "--host", node.address, "--nthreads", str(self.threads), "--no-nanny",
                      "--no-dashboard", "--memory-limit", "0", "--death-timeout", "30", "--name", name]
            # ip netns exec, unshare and sh each exec the next: the worker keeps the pid started here.
            process = self._spawn(["ip", "netns", "exec", node.namespace, *private_tmp(), *worker], name, env)
            self.workers[name] = process.pid

    def _spawn(self, command: list[str], log: str, env: dict) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{log}.log", "w") as handle:
            process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in self.processes:
            process.wait(timeout=10)
        self.processes.clear()
        self.network.close()

    def __enter__(self) -> WorkersElsewhere:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
