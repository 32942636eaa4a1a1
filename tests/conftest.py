import os
import signal
import socket
import subprocess
import sys

import pytest

# Tests never read (or write) the developer's own calibration (`scaleml calibrate`):
# backend="auto" runs on its defaults unless a test gives it a calibration file.
os.environ["SCALEML_CONFIG_DIR"] = os.path.join(
    __import__("tempfile").mkdtemp(prefix="scaleml-test-config-"), "config")


@pytest.fixture(autouse=True)
def _no_backend_from_environment(monkeypatch):
    """Tests start from the default backend, whatever the caller's environment says."""
    monkeypatch.delenv("SCALEML_BACKEND", raising=False)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items or _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is visible to PyTorch here")
    for item in gpu_items:
        item.add_marker(skip)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



@pytest.fixture
def free_port():
    return _free_port()


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    """`dask scheduler` and `dask worker` (2 processes, 1 thread each) as real processes."""
    folder = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    # Workers import test modules' own functions, as a user's workers import their code.
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=(folder / "scheduler.log").open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    ]
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
             "--memory-limit", "2GiB"],
            stdout=(folder / "worker.log").open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    )
    import distributed

    from scaleml.engines.dask.cluster import close_all

    client = distributed.Client(address, timeout=60, set_as_default=False)
    client.wait_for_workers(2, timeout=120)
    yield address, client
    close_all(address)  # scaleml's shared connection, before the scheduler goes
    client.close()
    for proc in reversed(procs):
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)




@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A single-host SLURM (munged, slurmctld, slurmd) for this session; its commands find it
    through ``SLURM_CONF``, set here for the session. Skipped, with why, where it cannot run."""
    from _servers import SlurmServer, why_not_slurm

    reason = why_not_slurm()
    if reason:
        pytest.skip(reason)
    server = SlurmServer(tmp_path_factory.mktemp("slurm"))
    saved = os.environ.get("SLURM_CONF")
    try:
        server.start()
        os.environ.update(server.env)  # sbatch/squeue/scancel run by dask-jobqueue read it
        yield server
    finally:
        server.stop()
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved


@pytest.fixture(scope="session")
def dask_gateway(tmp_path_factory):
    """``dask-gateway-server`` with its local backend for this session (address, password)."""
    from _servers import GatewayServer, why_not_gateway

    reason = why_not_gateway()
    if reason:
        pytest.skip(reason)
    server = GatewayServer(tmp_path_factory.mktemp("gateway"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
