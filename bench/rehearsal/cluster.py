"""A real Dask cluster on simulated nodes: ``dask scheduler`` in one namespace, one
``dask worker`` per namespace, and the client (a workload script) in its own.

    with Rehearsal(workers=8, mbit=1000) as rehearsal:
        result = rehearsal.run_client(["python", "-m", "rehearsal.workloads", "grid", "--mb", "200"])
        result["process_bytes"]["client"]["sent"]   # what left the client's link

Every process is started in its own session and killed with its namespace on exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .network import Network, delta

PORT = 8786
HERE = Path(__file__).resolve().parent


class RehearsalError(RuntimeError):
    """A scheduler, worker or client process failed; the message carries its log's tail."""


SCHEDULER = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
WORKER = [sys.executable, "-m", "distributed.cli.dask_worker"]


class Rehearsal:
    """Scheduler, ``workers`` workers and a client, each on its own shaped link.

    Parameters
    ----------
    workers : int
        Worker nodes (one single-threaded ``dask worker`` each).
    mbit : float or None
        Each link's bandwidth in Mbit/s, both directions (None: unshaped).
    threads : int
        Threads per worker.
    log_dir : str or None
        Where the processes' logs go (a temporary folder by default).
    env : dict or None
        Extra environment for the scheduler and workers (Dask settings, say).
    prefix : str or None
        The namespaces' name prefix (None: ``network.PREFIX``).
    """

    def __init__(self, workers: int, mbit: float | None = 1000.0, threads: int = 1,
                 log_dir: str | None = None, start_timeout: float = 60.0, env: dict | None = None,
                 prefix: str | None = None) -> None:
        if not 1 <= workers <= 64:
            raise ValueError(f"workers={workers}: choose 1 to 64 simulated workers")
        self.workers = workers
        self.threads = threads
        self.start_timeout = start_timeout
        names = ["client", "scheduler", *(f"w{i}" for i in range(workers))]
        self.network = Network(names, mbit=mbit) if prefix is None else Network(names, mbit=mbit, prefix=prefix)
        self._log_dir = log_dir
        self.env = dict(env or {})
        self.processes: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        return f"tcp://{self.network.nodes['scheduler'].address}:{PORT}"

    def __enter__(self) -> Rehearsal:
        self.network.open()
        try:
            self.logs = Path(self._log_dir or tempfile.mkdtemp(prefix="rehearsal-"))
            self.logs.mkdir(parents=True, exist_ok=True)
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, 9)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.processes.clear()
        self.network.close()

    def _spawn(self, node: str, command: list[str], log: str) -> subprocess.Popen:
        namespace = self.network.nodes[node].namespace
        env = {**os.environ, **(self.env if node != "client" else {}), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
               "REHEARSAL_NODES": json.dumps({n: node.namespace for n, node in self.network.nodes.items()})}
        handle = open(self.logs / log, "w")
        process = subprocess.Popen(["ip", "netns", "exec", namespace, *command], stdout=handle,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
        handle.close()
        self.processes.append(process)
        return process

    def _start(self) -> None:
        host = self.network.nodes["scheduler"].address
        self._spawn("scheduler", [*SCHEDULER, "--host", host, "--port", str(PORT), "--no-dashboard"],
                    "scheduler.log")
        for i in range(self.workers):
            node = self.network.nodes[f"w{i}"]
            self._spawn(node.name, [*WORKER, self.address, "--host", node.address, "--nthreads",
                                    str(self.threads), "--no-nanny", "--no-dashboard", "--memory-limit", "0",
                                    "--death-timeout", "30", "--name", node.name], f"{node.name}.log")
        self.wait_for_workers()

    def wait_for_workers(self) -> None:
        """Block until every worker has registered (asked from the client's namespace)."""
        probe = ("import sys, distributed; c = distributed.Client(sys.argv[1], timeout=30); "
                 "c.wait_for_workers(int(sys.argv[2]), timeout=float(sys.argv[3])); c.close()")
        self.run_client([sys.executable, "-c", probe, self.address, str(self.workers), str(self.start_timeout)],
                        measure=False, timeout=self.start_timeout + 30)

    def run_client(self, command: list[str], measure: bool = True, timeout: float = 1800,
                   workers_may_exit: bool = False) -> dict[str, Any]:
        """Run ``command`` in the client's namespace; return its JSON output (last line) with
        the bytes each node sent and received while it ran (``process_bytes``) and its wall time.

        ``workers_may_exit``: the command retires workers, whose processes then end."""
        before = self.network.counters() if measure else None
        start = time.perf_counter()
        process = self._spawn("client", command, "client.log")
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            self.processes.remove(process)
            if not measure:
                raise RehearsalError(f"the client ran past {timeout:g} s; its log: {self.tail('client.log')}") from None
            # What a fit that never ends did meanwhile is a result too (bytes moved so far).
            return {"timed_out": True, "wall_s": timeout, "process_bytes": delta(before, self.network.counters())}
        wall = time.perf_counter() - start
        self.processes.remove(process)
        if code:
            raise RehearsalError(f"the client exited with {code}; its log:\n{self.tail('client.log')}")
        for dead in [p for p in self.processes if p.poll() is not None]:
            if workers_may_exit and "distributed.cli.dask_worker" in dead.args:
                continue
            raise RehearsalError(f"a cluster process exited ({dead.args[4:7]}); see {self.logs}")
        if not measure:
            return {}
        lines = (self.logs / "client.log").read_text().strip().splitlines()
        result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
        result["process_bytes"] = delta(before, self.network.counters())
        result["wall_s"] = wall
        return result

    def tail(self, log: str, lines: int = 30) -> str:
        path = self.logs / log
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else "(no log)"
