"""Profiles with a cluster: section: checked against the engine's own class before anything
starts, and the cluster started for a run (kind: local here; ssh in test_cluster_ssh.py)."""

import os

import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from scaleml import Scaled
from scaleml.backends import create_backend
from scaleml.backends._profiles import find
from scaleml.engines.dask import records
from scaleml.engines.dask.kinds import KINDS
from scaleml.exceptions import BackendUnavailableError, ProfileError

pytest.importorskip("distributed")
X, y = load_iris(return_X_y=True)


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEML_PROFILES", str(tmp_path / "profiles"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "profiles").mkdir()
    return tmp_path / "profiles"


@pytest.mark.parametrize(
    "section, match",
    [
        ("kind: ssh\n  hots: [a, b]", r"cluster.hots is not an argument of distributed.SSHCluster.*Did you mean 'hosts'"),
        ("kind: ssh\n  hosts: [a, b]\n  worker_options: {nthread: 1}",
         r"cluster.worker_options.nthread is not an argument of distributed.Nanny.*Did you mean 'nthreads'"),
        ("kind: ssh\n  hosts: [a]", "at least two hosts"),
        ("kind: ssh\n  hosts: [a, b]\n  scale: 2", "kind ssh does not take scale"),
        ("kind: slurm\n  cores: 1\n  memroy: 1GB", r"cluster.memroy is not an argument of dask_jobqueue.SLURMCluster.*'memory'"),
        ("kind: sssh", r"cluster.kind 'sssh' is not a kind.*Did you mean 'ssh'"),
        ("kind: local\n  scale: 1\n  adapt: {maximum: 2}", "scale: or adapt:, not both"),
        ("kind: local\n  scale: -1", "cluster.scale must be"),
    ],
)
def test_a_bad_cluster_section_is_named_before_anything_starts(profiles, section, match):
    (profiles / "bad.yaml").write_text(f"cluster:\n  {section}\n")
    if "slurm" in section:
        pytest.importorskip("dask_jobqueue")
    with pytest.raises(ProfileError, match=match):
        create_backend("bad")
    assert not records.folder().exists()  # nothing was started, nothing recorded


def test_a_cluster_section_serves_dask_backends_only_and_not_beside_an_address(profiles):
    (profiles / "a.yaml").write_text("backend: local\ncluster:\n  kind: local\n")
    with pytest.raises(ProfileError, match="serves the backends dask, dask-ml"):
        find("a")
    (profiles / "b.yaml").write_text("options:\n  address: tcp://h:8786\ncluster:\n  kind: local\n")
    with pytest.raises(ProfileError, match="options.address and a cluster: section"):
        find("b")


def test_a_missing_engine_is_named_with_the_install_command(profiles, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask_kubernetes", None)  # as if not installed
    (profiles / "k.yaml").write_text("cluster:\n  kind: kubernetes\n  image: ghcr.io/dask/dask:latest\n")
    with pytest.raises(BackendUnavailableError, match=r"needs dask-kubernetes.*pip install 'scaleml\[kubernetes\]'"):
        create_backend("k")


def test_every_kind_names_an_extra_in_pyproject():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for kind in KINDS.values():
        assert kind.extra in extras, kind.name
        assert any(kind.package in requirement for requirement in extras[kind.extra]), kind.name


def test_a_profile_cluster_is_started_for_the_run_and_ends_with_it(profiles):
    (profiles / "two.yaml").write_text("cluster:\n  kind: local\n  n_workers: 2\n  threads_per_worker: 1\n")
    backend = create_backend("two")
    assert "from profile two, started for this run" in backend.cluster_description()
    search = GridSearchCV(SVC(), {"C": [0.1, 1.0, 10.0]}, cv=3)
    model = Scaled(search, backend="two").fit(X, y)
    plain = GridSearchCV(SVC(), {"C": [0.1, 1.0, 10.0]}, cv=3).fit(X, y)
    assert (model.estimator_.cv_results_["mean_test_score"] == plain.cv_results_["mean_test_score"]).all()
    from scaleml.engines.dask.cluster import CONNECTIONS

    [connection] = [c for c in CONNECTIONS.running() if c.spec.key()[:2] == ("profile", "two")]
    host_pid = connection.cluster.pid
    workers = connection.client.run(os.getpid)
    assert len(workers) == 2 and all(_alive(pid) for pid in workers.values())
    CONNECTIONS.close()
    assert not _alive(host_pid) and not any(_alive(pid) for pid in workers.values())
    assert not records.folder().exists()  # a run's own cluster is not recorded


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
