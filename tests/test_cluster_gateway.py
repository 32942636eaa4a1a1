"""kind: gateway profiles: clusters from a real dask-gateway-server (its local backend,
started by the ``dask_gateway`` fixture in ``tests/_servers.py``), and a wrong address."""

from __future__ import annotations

import os
import socket
import time

import psutil
import pytest
from _cluster_runs import same_results, scaleml_cli, search, wait_until

import scaleml
from scaleml.engines.dask import records
from scaleml.exceptions import ClusterConnectionError

pytest.importorskip("dask_gateway")

GATEWAY_PROFILE = """\
description: a cluster of two workers from the team's Dask Gateway
cluster:
  kind: gateway
  address: {address}
  auth: basic
  cluster_options: {{worker_cores: 1}}
  scale: 2
  start_timeout: {timeout}
"""


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEML_PROFILES", str(tmp_path / "profiles"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "profiles").mkdir()
    return tmp_path / "profiles"


@pytest.fixture
def gateway_password(dask_gateway, monkeypatch):
    """The password goes through Dask's own config (gateway.auth.kwargs), never the profile:
    in the environment for the processes scaleml starts, and in this one's loaded config
    (Dask read the environment when it was imported, before this test)."""
    import dask

    monkeypatch.setenv("DASK_GATEWAY__AUTH__KWARGS__PASSWORD", dask_gateway.token)
    with dask.config.set({"gateway.auth.kwargs": {"password": dask_gateway.token}}):
        yield


def gateway_clusters(server) -> list:
    from dask_gateway import BasicAuth, Gateway

    from scaleml.engines.dask._gateway import _close

    # The gateway's clusters are per user: the profile's (basic auth's default) user.
    gateway = Gateway(server.address, auth=BasicAuth(password=server.token))
    try:
        return gateway.list_clusters()
    finally:
        _close(gateway)


def gateway_workers(server, client) -> dict[str, int]:
    """The workers' process ids, each checked to descend from the gateway server's process."""
    pids = client.run(os.getpid)
    for pid in pids.values():
        assert server.proc.pid in [p.pid for p in psutil.Process(pid).parents()], (pid, server.proc.pid)
    return pids


@pytest.mark.slow
def test_a_search_runs_on_a_cluster_the_gateway_started_for_the_run(dask_gateway, gateway_password, profiles):
    """The run asks the gateway for a cluster of two workers (processes of the gateway server,
    reached through its proxy); the search runs there with local's cv_results_; the
    cluster ends with the run."""
    from scaleml.engines.dask.current import backend_client

    (profiles / "team-gateway.yaml").write_text(GATEWAY_PROFILE.format(address=dask_gateway.address, timeout=120))
    try:
        with scaleml.backend("team-gateway"):
            client = backend_client()
            assert len(gateway_workers(dask_gateway, client)) == 2
            assert [c.status.name for c in gateway_clusters(dask_gateway)] == ["RUNNING"]
            on_gateway = search("team-gateway")
    finally:
        scaleml.engines.dask.cluster.close_all()
    same_results(on_gateway, search("local"))
    assert wait_until(lambda: not gateway_clusters(dask_gateway), 30)


@pytest.mark.slow
def test_cluster_up_and_down_on_the_gateway(dask_gateway, gateway_password, profiles):
    """cluster up keeps a gateway cluster for later runs (recorded by name, reached through
    Gateway.connect from another process); down shuts it down at the gateway."""
    (profiles / "team-gateway.yaml").write_text(GATEWAY_PROFILE.format(address=dask_gateway.address, timeout=120))
    up = scaleml_cli("cluster", "up", "--profile", "team-gateway")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        (running,) = gateway_clusters(dask_gateway)
        assert records.read("team-gateway")["extra"]["cluster_name"] == running.name
        on_gateway = search("team-gateway")
        assert [c.name for c in gateway_clusters(dask_gateway)] == [running.name]  # no second cluster
        same_results(on_gateway, search("local"))
    finally:
        scaleml.engines.dask.cluster.close_all()
        down = scaleml_cli("cluster", "down", "--profile", "team-gateway")
    assert down.returncode == 0, down.stdout + down.stderr
    assert wait_until(lambda: not gateway_clusters(dask_gateway), 30)
    assert records.read("team-gateway") is None


def test_a_wrong_gateway_address_is_one_clear_error_within_the_timeout(profiles, free_port):
    """Nothing listening: at once. A listener that never answers: within start_timeout."""
    (profiles / "nowhere.yaml").write_text(GATEWAY_PROFILE.format(address=f"http://127.0.0.1:{free_port}", timeout=3))
    with pytest.raises(ClusterConnectionError, match=rf"nowhere.*http://127.0.0.1:{free_port}.*dask-gateway-server"):
        search("nowhere")
    with socket.socket() as silent:  # accepts connections (the kernel does), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = "http://127.0.0.1:%d" % silent.getsockname()[1]
        (profiles / "silent.yaml").write_text(GATEWAY_PROFILE.format(address=address, timeout=3))
        started = time.monotonic()
        with pytest.raises(ClusterConnectionError, match=rf"silent.*{address}.*within 3 s"):
            search("silent")
        assert time.monotonic() - started < 3 + 30
    assert records.read("nowhere") is None and records.read("silent") is None


def test_refused_credentials_say_where_credentials_go(dask_gateway, profiles, monkeypatch):
    import dask

    (profiles / "wrong-password.yaml").write_text(GATEWAY_PROFILE.format(address=dask_gateway.address, timeout=20))
    monkeypatch.setenv("DASK_GATEWAY__AUTH__KWARGS__PASSWORD", "not-" + dask_gateway.token)
    with dask.config.set({"gateway.auth.kwargs": {"password": "not-" + dask_gateway.token}}):
        with pytest.raises(ClusterConnectionError, match=r"wrong-password.*401.*DASK_GATEWAY__AUTH__KWARGS__PASSWORD"):
            search("wrong-password")
    assert not gateway_clusters(dask_gateway) and records.read("wrong-password") is None


def test_a_cluster_option_the_gateway_does_not_offer_is_named_before_a_cluster_starts(dask_gateway, gateway_password,
                                                                                      profiles):
    (profiles / "typo.yaml").write_text(GATEWAY_PROFILE.format(address=dask_gateway.address, timeout=20)
                                        .replace("worker_cores: 1", "worker_core: 1"))
    with pytest.raises(ClusterConnectionError, match=r"typo.*cluster_options.worker_core is not an option.*'worker_cores'"):
        search("typo")
    assert not gateway_clusters(dask_gateway)
