"""A kind: ssh profile for real: Debian's sshd on simulated hosts (one network namespace
each, bench/cluster_start/ssh_hosts.py), a key made for the test, `scaleml cluster up`,
a search through the profile, `scaleml cluster down`; and a host that refuses SSH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("asyncssh")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from cluster_start.ssh_hosts import SSHHosts, missing, namespaces, pids_in  # noqa: E402

if missing():
    pytest.skip(f"simulated SSH hosts: {missing()}", allow_module_level=True)

pytestmark = pytest.mark.slow


def _profile(folder: Path, name: str, hosts: SSHHosts, addresses: list[str], timeout: float) -> None:
    (folder / f"{name}.yaml").write_text(f"""
description: {len(set(addresses))} SSH hosts
cluster:
  kind: ssh
  hosts: {json.dumps(addresses)}
  connect_options: {{known_hosts: null, username: root, client_keys: ['{hosts.key}']}}
  remote_python: {hosts.python()}
  worker_options: {{nthreads: 1}}
  start_timeout: {timeout}
""")


@pytest.fixture
def env(tmp_path, monkeypatch, make_hosts):  # torn down before the hosts: the cluster ends first
    """Profiles and cluster records in tmp_path, for this process and the CLI's; a cluster a
    failed test left up is ended (its owner runs here, outside the hosts' namespaces)."""
    (tmp_path / "profiles").mkdir()
    monkeypatch.setenv("SCALEML_PROFILES", str(tmp_path / "profiles"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    yield environ
    from scaleml.engines.dask import close_all, records

    close_all()
    for record in records.folder().glob("*.json") if records.folder().is_dir() else ():
        _cli(environ, "down", "--profile", record.stem)


@pytest.fixture
def make_hosts(tmp_path):
    """Simulated SSH hosts, removed (processes, namespaces, links) when the test ends, however
    it ends; stale ``sshc-`` namespaces of runs killed outright are swept when they are made."""
    made = []

    def make(count: int, refusing: int = 0) -> SSHHosts:
        hosts = SSHHosts(count, tmp_path / f"ssh{len(made)}", refusing=refusing)
        made.append(hosts)
        return hosts.__enter__()

    yield make
    for hosts in reversed(made):
        hosts.close()


def _cli(env: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scaleml", "cluster", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _dask_processes(hosts: SSHHosts) -> dict[str, list[int]]:
    """Every process in the hosts' namespaces other than their sshd listeners."""
    listeners = {p.pid for p in hosts.sshd if p is not None}
    return {ns: [pid for pid in pids_in(ns) if pid not in listeners] for ns in hosts.namespaces}


def test_a_search_on_three_ssh_hosts_matches_local_and_down_leaves_nothing(tmp_path, env, make_hosts):
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    from scaleml import Scaled
    from scaleml.engines.dask import close_all, records

    X, y = load_iris(return_X_y=True)
    marks = tmp_path / "fits"
    marks.mkdir()

    def accuracy(estimator, X, y):  # travels by value; its file says which process scored
        (marks / str(os.getpid())).touch()
        return estimator.score(X, y)

    hosts = make_hosts(3)
    a = hosts.addresses
    _profile(tmp_path / "profiles", "three", hosts, [a[0], a[0], a[1], a[2]], 120)
    up = _cli(env, "up", "--profile", "three")
    assert up.returncode == 0, up.stderr + up.stdout
    record = records.read("three")
    assert record is not None and record["address"].startswith(f"tcp://{a[0]}:")
    worker_pids = _worker_pids(record["address"])
    # The workers run in the hosts' namespaces, one on each host (independent witness: ip netns pids).
    assert sorted(worker_pids) == sorted(a)
    for address, namespace in zip(a, hosts.namespaces):
        assert worker_pids[address] in pids_in(namespace)
    status = _cli(env, "status", "--profile", "three")
    assert "3 worker(s)" in status.stdout and record["address"] in status.stdout

    grid = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
    model = Scaled(GridSearchCV(SVC(), grid, cv=3, scoring=accuracy), backend="three").fit(X, y)
    assert "the running cluster of profile three" in str(model.plan_)
    assert {int(p.name) for p in marks.iterdir()} <= set(worker_pids.values())  # scored on the hosts
    local = Scaled(GridSearchCV(SVC(), grid, cv=3, scoring=accuracy), backend="local").fit(X, y)
    for key in ("params", "mean_test_score", "std_test_score", "rank_test_score"):
        assert list(model.estimator_.cv_results_[key]) == list(local.estimator_.cv_results_[key]), key
    close_all()

    down = _cli(env, "down", "--profile", "three")
    assert down.returncode == 0, down.stderr + down.stdout
    assert records.read("three") is None and not _alive(record["pid"])
    assert _dask_processes(hosts) == {ns: [] for ns in hosts.namespaces}  # only each host's sshd is left
    hosts.close()
    assert not [ns for ns in namespaces() if ns.startswith(f"sshc-{os.getpid()}-")]
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert f"sshc{os.getpid()}" not in links


def test_a_host_that_refuses_ssh_is_named_within_the_timeout_and_nothing_is_left(tmp_path, env, make_hosts):
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    from scaleml import Scaled
    from scaleml.engines.dask import records
    from scaleml.exceptions import ClusterConnectionError

    X, y = load_iris(return_X_y=True)
    hosts = make_hosts(1, refusing=1)
    good, refusing = hosts.addresses
    _profile(tmp_path / "profiles", "half-up", hosts, [good, refusing], 20)
    started = time.monotonic()
    up = _cli(env, "up", "--profile", "half-up")
    assert up.returncode != 0 and time.monotonic() - started < 20 + 30
    said = up.stderr
    assert "profile half-up" in said and f"SSH to {refusing} failed" in said, said
    assert "Check that every host runs sshd" in said
    assert records.read("half-up") is None
    with pytest.raises(ClusterConnectionError, match=f"profile half-up.*SSH to {refusing} failed"):
        Scaled(GridSearchCV(SVC(), {"C": [1.0]}, cv=2), backend="half-up").fit(X, y)
    assert _dask_processes(hosts) == {ns: [] for ns in hosts.namespaces}
    assert not _hosts_of(tmp_path)  # no process owning a cluster of this test's profiles


def _worker_pids(address: str) -> dict[str, int]:
    """Each worker's pid, by the IP it listens on."""
    from distributed import Client

    from scaleml.engines.dask.cluster import split_address

    with Client(address, timeout=30, set_as_default=False) as client:
        return {split_address(w)[1]: pid for w, pid in client.run(os.getpid).items()}


def _hosts_of(folder: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"_profile_host.*{folder}"], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
