"""Real servers the cluster-profile tests start: a single-host SLURM and a Dask Gateway.

Each is started by a session fixture in ``conftest.py`` and stopped after it, nothing
left running. Each needs what a plain developer machine may lack (root and Debian's
``slurm-wlm`` + ``munge``; PyPI's ``dask-gateway-server``): :func:`why_not_slurm` and
:func:`why_not_gateway` say why one cannot run here, and the fixture skips with that
reason. ``tools/system-packages.sh`` installs the Debian packages (CI runs it as root).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")
# A partition whose only node is never started: a job sent there pends for good, as on a
# site whose GPU nodes are all down or busy (the "job never starts" test, and a real
# sbatch accepting the GPU profile's --gres directive).
DOWN_PARTITION = "gpu"
DOWN_NODE = "gpu-node"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def why_not_slurm() -> str | None:
    """Why a single-host SLURM cannot be started here, or None when it can."""
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd and munged needs root (run the tests as root, as CI does)"
    missing = [b for b in SLURM_BINARIES if shutil.which(b) is None]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} missing): as root, "
                "apt-get install slurm-wlm munge (tools/system-packages.sh does)")
    return None


def _node_hardware() -> tuple[int, int]:
    """This host's CPUs and memory (MiB) as slurmd itself measures them (``slurmd -C``)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    cpus = int(re.search(r"CPUs=(\d+)", out).group(1))
    memory = int(re.search(r"RealMemory=(\d+)", out).group(1))
    return cpus, memory


@dataclass
class SlurmServer:
    """munged, slurmctld and slurmd for this one host, all state in ``folder``."""

    folder: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment the SLURM commands (sbatch, squeue, scancel) need to find this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60) -> None:
        for sub in ("state", "spool", "log", "munge"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder / "munge", 0o700)
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))  # a key made for this test run only
        os.chmod(key, 0o600)
        self.conf.write_text(self._slurm_conf())
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={self._socket}",
                               f"--key-file={key}", f"--pid-file={self.folder / 'munge' / 'munged.pid'}",
                               f"--log-file={self.folder / 'log' / 'munged.log'}",
                               f"--seed-file={self.folder / 'munge' / 'munged.seed'}"])
        self._wait(lambda: Path(self._socket).exists(), timeout, "munged to open its socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait(self._node_idle, timeout, f"node {self.node} to be idle in sinfo")

    def stop(self) -> None:
        """Cancel every job, then end the daemons (munged last: the others need it to say goodbye)."""
        if self.procs and self._alive("slurmctld"):
            subprocess.run(["scancel", "--full", "--user", "root"], env={**os.environ, **self.env},
                           capture_output=True, timeout=30)
            self._wait(lambda: not self.job_ids(), 30, "the jobs to end", raise_=False)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def job_ids(self) -> list[str]:
        """The ids of the jobs SLURM holds now (any state)."""
        out = self.run(["squeue", "--noheader", "--format=%i"]).stdout
        return out.split()

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60)

    # -- internals ---------------------------------------------------------------------

    @property
    def _socket(self) -> str:
        return str(self.folder / "munge" / "munge.socket")

    def _slurm_conf(self) -> str:
        cpus, memory = _node_hardware()
        f = self.folder
        # No cgroups, accounting or job-completion log: the least slurmctld/slurmd run with.
        return "\n".join([
            "ClusterName=scaleml-test",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self._socket}",
            f"StateSaveLocation={f / 'state'}", f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}", f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}", f"SlurmdLogFile={f / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none", "MpiDefault=none", "ReturnToService=2",
            "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            "GresTypes=gpu",
            # A job's workers stop within seconds of scancel; the default 30 s would hold the node.
            "KillWait=5", "SlurmctldTimeout=30", "SlurmdTimeout=30", "MinJobAge=2",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN",
            # A GPU node as a site declares one (never started here: its jobs pend).
            f"NodeName={DOWN_NODE} NodeAddr=127.0.0.2 CPUs=32 RealMemory=262144 Gres=gpu:4 State=DOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName={DOWN_PARTITION} Nodes={DOWN_NODE} MaxTime=INFINITE State=UP",
            "",
        ])

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.folder / "log" / f"{name}.out").open("w")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           env={**os.environ, **self.env}, start_new_session=True))
        self.procs[-1].name = name  # type: ignore[attr-defined]

    def _alive(self, name: str) -> bool:
        return any(getattr(p, "name", "") == name and p.poll() is None for p in self.procs)

    def _node_idle(self) -> bool:
        for proc in self.procs:
            if proc.poll() is not None:
                log = self.folder / "log" / f"{proc.name}.out"  # type: ignore[attr-defined]
                raise RuntimeError(f"{proc.name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        out = self.run(["sinfo", "--noheader", "--partition=debug", "--format=%t"])
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str, raise_: bool = True) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return True
            time.sleep(0.25)
        if raise_:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in (self.folder / "log").glob("*"))
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")
        return False


def why_not_gateway() -> str | None:
    """Why dask-gateway-server cannot be started here, or None when it can."""
    for module, install in (("dask_gateway_server", "dask-gateway-server"), ("dask_gateway", "dask-gateway")):
        try:
            __import__(module)
        except ImportError:
            return f"{install} is not installed (pip install {install}; make setup installs it with the dev extra)"
    return None


@dataclass
class GatewayServer:
    """``dask-gateway-server`` with its local backend (clusters as local processes), one API token."""

    folder: Path
    proc: subprocess.Popen | None = None
    address: str = ""
    token: str = field(default_factory=lambda: os.urandom(16).hex())

    def start(self, timeout: float = 60) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.address = f"http://127.0.0.1:{port}"
        config = self.folder / "dask_gateway_config.py"
        # UnsafeLocalBackend: clusters run as this user, no per-user accounts (a test server).
        # SimpleAuthenticator with a password: the client sends it as basic auth.
        config.write_text("\n".join([
            "c.DaskGateway.backend_class = 'dask_gateway_server.backends.local.UnsafeLocalBackend'",
            # Clients talk to the proxy (HTTP API and schedulers on one port); the
            # gateway's own address is private to it.
            f"c.Proxy.address = '127.0.0.1:{port}'",
            "c.DaskGateway.address = '127.0.0.1:%d'" % _free_port(),
            "c.DaskGateway.authenticator_class = 'dask_gateway_server.auth.SimpleAuthenticator'",
            f"c.SimpleAuthenticator.password = '{self.token}'",
            f"c.LocalBackend.clusters_directory = '{self.folder / 'clusters'}'",
            # distributed no longer installs the dask-scheduler/dask-worker scripts the
            # defaults name; this Python's modules are the same programs.
            f"c.ClusterConfig.scheduler_cmd = {[sys.executable, '-m', 'distributed.cli.dask_scheduler']!r}",
            f"c.ClusterConfig.worker_cmd = {[sys.executable, '-m', 'distributed.cli.dask_worker']!r}",
            "c.LocalBackend.inherited_environment = ['PATH', 'PYTHONPATH', 'LANG', 'LC_ALL', 'SCIPY_ARRAY_API']",
            # One option offered to users, as sites offer theirs (checked by scaleml by name).
            "from dask_gateway_server.options import Integer, Options",
            "c.Backend.cluster_options = Options(Integer('worker_cores', default=1, min=1, max=2),",
            "    handler=lambda options: {'worker_cores': options.worker_cores})",
            "c.ClusterConfig.worker_cores = 1", "c.ClusterConfig.worker_memory = '1 G'",
            "c.ClusterConfig.scheduler_cores = 1", "c.ClusterConfig.scheduler_memory = '1 G'",
            "c.ClusterConfig.idle_timeout = 600", "",
        ]))
        log = (self.folder / "gateway.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dask_gateway_server", "-f", str(config)], cwd=self.folder,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dask-gateway-server exited: {(self.folder / 'gateway.log').read_text()[-2000:]}")
            try:  # the proxy listens first; ready once it routes to the gateway's API
                with urllib.request.urlopen(f"{self.address}/api/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"dask-gateway-server did not listen on {self.address} within {timeout:.0f}s")

    def stop(self) -> None:
        """End the server and every cluster it started (its process group: schedulers and workers too)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)  # the server stops its clusters on the way out
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None
