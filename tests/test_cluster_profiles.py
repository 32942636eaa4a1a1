"""Profiles with a cluster: section: checked against the engine's own class before anything
starts, and the cluster started for a run (kind: local here; ssh in test_cluster_ssh.py)."""

import json
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
    yield tmp_path / "profiles"
    # A test that failed with a cluster up leaves none behind.
    for record in records.folder().glob("*.json") if records.folder().is_dir() else ():
        _cli("cluster", "down", "--profile", record.stem)


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


@pytest.mark.slow
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


def _cli(*args):
    from click.testing import CliRunner

    from scaleml.cli import main

    return CliRunner().invoke(main, list(args))


@pytest.mark.slow
def test_cluster_up_keeps_one_for_later_runs_and_down_ends_every_process(profiles, tmp_path):
    import subprocess
    import sys

    (profiles / "kept.yaml").write_text("cluster:\n  kind: local\n  n_workers: 2\n  threads_per_worker: 1\n")
    up = _cli("cluster", "up", "--profile", "kept")
    assert up.exit_code == 0, up.output
    record = records.read("kept")
    assert record is not None and records.path("kept").is_file() and _alive(record["pid"])
    session = _session(record["pid"])  # the owner and its workers
    assert len(session) >= 3
    assert "already runs" in _cli("cluster", "up", "--profile", "kept").output
    status = _cli("cluster", "status", "--profile", "kept")
    assert "2 worker(s)" in status.output and record["address"] in status.output
    assert "a run uses the running one: " + record["address"] in _cli("info", "kept").output

    # A later run, in another process, uses it: its tasks run in the owner's workers.
    script = tmp_path / "search.py"
    script.write_text(
        "import os\nfrom sklearn.datasets import load_iris\nfrom sklearn.model_selection import cross_val_score\n"
        "from sklearn.svm import SVC\nfrom distributed import get_client\nX, y = load_iris(return_X_y=True)\n"
        "cross_val_score(SVC(), X, y, cv=3, n_jobs=-1)\n"
        "print(sorted(get_client().run(os.getpid).values()))\n"
    )
    run = subprocess.run([sys.executable, "-m", "scaleml", "exec", "-b", "kept", str(script)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert run.returncode == 0, run.stderr
    assert set(json.loads(run.stdout.strip().splitlines()[-1])) <= set(session)
    assert records.read("kept")["pid"] == record["pid"]  # still the same cluster after the run

    down = _cli("cluster", "down", "--profile", "kept")
    assert down.exit_code == 0 and "Ended" in down.output, down.output
    assert not any(_alive(pid) for pid in session) and records.read("kept") is None
    assert "No cluster of profile kept runs" in _cli("cluster", "status", "--profile", "kept").output
    assert "nothing to end" in _cli("cluster", "down", "--profile", "kept").output


def _session(pid):
    import psutil

    return [p.pid for p in psutil.process_iter() if _pgid(p.pid) == pid]


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_cluster_commands_refuse_a_profile_without_a_cluster_section(profiles):
    (profiles / "plain.yaml").write_text("backend: dask\n")
    result = _cli("cluster", "up", "--profile", "plain")
    assert result.exit_code != 0 and "has no cluster: section" in result.output
    result = _cli("cluster", "status", "--profile", "nowhere")
    assert result.exit_code != 0 and "No profile 'nowhere'" in result.output


def test_dry_run_of_slurm_is_dask_jobqueues_own_job_script(profiles):
    pytest.importorskip("dask_jobqueue")
    (profiles / "hpc.yaml").write_text(
        "cluster:\n  kind: slurm\n  cores: 4\n  memory: 16GB\n  walltime: '01:00:00'\n  queue: gpu\n"
        "  job_extra_directives: ['--gres=gpu:1']\n  scale: 2\n"
    )
    result = _cli("cluster", "up", "--profile", "hpc", "--dry-run")
    assert result.exit_code == 0, result.output
    for line in ("#SBATCH -p gpu", "#SBATCH --gres=gpu:1", "#SBATCH -t 01:00:00", "#SBATCH --cpus-per-task=4",
                 "distributed.cli.dask_worker", "jobs: 2"):
        assert line in result.output, line
    assert records.read("hpc") is None  # nothing submitted, nothing recorded


def test_dry_run_of_kubernetes_is_the_operators_cluster_spec(profiles):
    pytest.importorskip("dask_kubernetes")
    import yaml

    (profiles / "kube.yaml").write_text(
        "cluster:\n  kind: kubernetes\n  image: ghcr.io/dask/dask:2026.8.0\n  n_workers: 3\n"
        "  resources: {limits: {cpu: '2', memory: 4Gi}}\n  env: {EXTRA_PIP_PACKAGES: scaleml}\n"
    )
    result = _cli("cluster", "up", "--profile", "kube", "--dry-run")
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.output)
    assert spec["kind"] == "DaskCluster" and spec["metadata"]["name"] == "kube"
    worker = spec["spec"]["worker"]
    assert worker["replicas"] == 3
    [container] = worker["spec"]["containers"]
    assert container["image"] == "ghcr.io/dask/dask:2026.8.0"
    assert container["resources"] == {"limits": {"cpu": "2", "memory": "4Gi"}}
    assert {"name": "EXTRA_PIP_PACKAGES", "value": "scaleml"} in container["env"]


def test_dry_run_of_ssh_lists_the_commands_per_host(profiles):
    (profiles / "ssh3.yaml").write_text(
        "cluster:\n  kind: ssh\n  hosts: [node1, node2, node3]\n  remote_python: /opt/venv/bin/python\n"
        "  worker_options: {nthreads: 2}\n"
    )
    result = _cli("cluster", "up", "--profile", "ssh3", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("ssh ")]
    assert [line.split()[1] for line in lines] == ["node1", "node2", "node3"]
    assert all("/opt/venv/bin/python -m distributed.cli.dask_spec" in line for line in lines)
    assert '"nthreads": 2' in lines[1] and "distributed.Scheduler" in lines[0]


@pytest.mark.slow
def test_the_record_of_an_owner_killed_outright_is_read_as_no_cluster(profiles):
    import signal
    import time

    (profiles / "gone.yaml").write_text("cluster:\n  kind: local\n  n_workers: 1\n")
    assert _cli("cluster", "up", "--profile", "gone").exit_code == 0
    pid = records.read("gone")["pid"]
    session = _session(pid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for left in session:  # its workers, orphaned by the kill
        try:
            os.kill(left, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert records.path("gone").is_file()  # left behind by the kill...
    assert records.read("gone") is None and not records.path("gone").exists()  # ...and read as none
    backend = create_backend("gone")
    assert "started for this run" in backend.cluster_description()


def test_a_gateway_section_takes_gateways_and_new_clusters_arguments(profiles):
    pytest.importorskip("dask_gateway")
    (profiles / "gw.yaml").write_text(
        "cluster:\n  kind: gateway\n  address: http://127.0.0.1:1\n  cluster_options: {worker_cores: 2}\n  scale: 2\n"
    )
    result = _cli("cluster", "up", "--profile", "gw", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Gateway(address='http://127.0.0.1:1').new_cluster(cluster_options={'worker_cores': 2})" in result.output
    (profiles / "gw.yaml").write_text("cluster:\n  kind: gateway\n  adress: http://127.0.0.1:1\n")
    with pytest.raises(ProfileError, match="Did you mean 'address'"):
        create_backend("gw")
