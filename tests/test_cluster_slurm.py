"""kind: slurm and pbs profiles (dask-jobqueue): Dask workers as batch jobs.

SLURM is real here: ``tests/_servers.py`` starts munged, slurmctld and slurmd for this one
host (the ``slurm`` fixture, root only), so the jobs are submitted by dask-jobqueue's own
``sbatch`` and the workers are started by ``slurmd``. PBS has no server here: its job script
(``scaleml cluster up --dry-run``) is what is tested. The GPU-node profile
(``backends/dask-gpu-nodes.yaml``) cannot run without GPUs: its job script is checked, and
real ``sbatch`` accepts it into the SLURM's GPU partition, whose node is never up.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time

import pytest
from _cluster_runs import REPO, same_results, scaleml_cli, search, wait_until

import scaleml
from scaleml.engines.dask import records
from scaleml.exceptions import ClusterConnectionError

pytest.importorskip("dask_jobqueue")

SLURM_PROFILE = """\
description: two SLURM jobs of one single-threaded Dask worker each
cluster:
  kind: slurm
  queue: debug
  cores: 1
  processes: 1
  memory: 1GiB
  walltime: "00:10:00"
  log_directory: {logs}
  scale: 2
  start_timeout: 120
"""


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    """A profile folder and a config folder (cluster records) of this test's own."""
    monkeypatch.setenv("SCALEML_PROFILES", str(tmp_path / "profiles"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "profiles").mkdir()
    return tmp_path / "profiles"


def running_jobs(slurm) -> dict[str, str]:
    """``{job id: state}`` of every job SLURM holds."""
    out = slurm.run(["squeue", "--noheader", "--format=%i %T"]).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def slurm_job_of_each_worker(client) -> dict[str, str]:
    """Each worker's SLURM_JOB_ID, read in the worker (a lambda: ``os.environ.get`` itself would
    be pickled with this process's environment)."""
    return client.run(lambda: os.environ.get("SLURM_JOB_ID"))


def work_done(client) -> dict[str, int]:
    """Each worker's count of task state changes: it grows only on a worker that ran tasks."""
    return client.run(lambda dask_worker: dask_worker.state.transition_counter)


@pytest.mark.slow
def test_a_search_runs_on_workers_slurm_started_for_the_run(slurm, profiles, tmp_path):
    """No cluster running: the run submits two jobs, the search runs on their workers (each
    worker's SLURM_JOB_ID is a job squeue shows running) with local's cv_results_, and the
    jobs end with the run."""
    from scaleml.engines.dask.current import backend_client

    (profiles / "slurm-two.yaml").write_text(SLURM_PROFILE.format(logs=tmp_path / "jobs"))
    try:
        with scaleml.backend("slurm-two"):
            client = backend_client()
            jobs = running_jobs(slurm)
            job_of_worker = slurm_job_of_each_worker(client)
            before = work_done(client)
            on_slurm = search("slurm-two")
            after = work_done(client)
    finally:
        scaleml.engines.dask.cluster.close_all()  # ends the run's cluster, as at exit
    assert len(jobs) == 2 and set(jobs.values()) == {"RUNNING"}, jobs
    assert sorted(job_of_worker.values()) == sorted(jobs), (job_of_worker, jobs)
    assert all(after[w] > before[w] for w in before), (before, after)  # both workers fitted
    same_results(on_slurm, search("local"))
    assert wait_until(lambda: not running_jobs(slurm), 60), running_jobs(slurm)


@pytest.mark.slow
def test_cluster_up_keeps_the_jobs_for_later_runs_and_down_cancels_them(slurm, profiles, tmp_path):
    """scaleml cluster up submits the jobs and returns; a run uses that cluster (no new job);
    status shows it; down cancels the jobs and forgets the record."""
    import distributed

    (profiles / "slurm-two.yaml").write_text(SLURM_PROFILE.format(logs=tmp_path / "jobs"))
    up = scaleml_cli("cluster", "up", "--profile", "slurm-two")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        record = records.read("slurm-two")
        jobs = running_jobs(slurm)
        assert len(jobs) == 2 and set(jobs.values()) == {"RUNNING"}, jobs
        with distributed.Client(record["address"], timeout=30, set_as_default=False) as client:
            assert sorted(slurm_job_of_each_worker(client).values()) == sorted(jobs)
            before = work_done(client)
            on_slurm = search("slurm-two")
            after = work_done(client)
        assert running_jobs(slurm) == jobs  # the run used the running cluster's jobs
        assert all(after[w] > before[w] for w in before), (before, after)
        same_results(on_slurm, search("local"))
        status = scaleml_cli("cluster", "status", "--profile", "slurm-two")
        assert status.returncode == 0 and record["address"] in status.stdout, status.stdout + status.stderr
    finally:
        scaleml.engines.dask.cluster.close_all()
        down = scaleml_cli("cluster", "down", "--profile", "slurm-two")
    assert down.returncode == 0, down.stdout + down.stderr
    assert wait_until(lambda: not running_jobs(slurm), 60), running_jobs(slurm)
    assert records.read("slurm-two") is None


def test_a_job_that_never_starts_is_one_clear_error_and_is_cancelled(slurm, profiles, tmp_path):
    """More CPUs than the node has: SLURM keeps the job pending. Within start_timeout the
    error names the profile, the job id, SLURM's reason and what to check; the job is gone."""
    (profiles / "slurm-big.yaml").write_text(
        SLURM_PROFILE.format(logs=tmp_path / "jobs").replace("cores: 1", "cores: 64")
        .replace("scale: 2", "scale: 1").replace("start_timeout: 120", "start_timeout: 5"))
    started = time.monotonic()
    with pytest.raises(ClusterConnectionError) as caught:
        search("slurm-big")
    took = time.monotonic() - started
    message = str(caught.value)
    job = re.search(r"job\(s\) (\d+) never started", message)
    assert "slurm-big" in message and job, message
    assert "PartitionConfig" in message and "squeue -j" in message and "sinfo" in message, message
    assert took < 5 + 30, took  # the timeout, and the cancelling, not minutes
    assert wait_until(lambda: job.group(1) not in running_jobs(slurm), 20), running_jobs(slurm)


def test_the_gpu_node_profile_asks_slurm_for_one_gpu_per_dask_cuda_worker(profiles, monkeypatch):
    """backends/dask-gpu-nodes.yaml as shipped: each job one GPU (--gres=gpu:1) and dask-cuda's
    worker (one worker per GPU it sees, so one), a plain job script otherwise."""
    monkeypatch.setenv("SCALEML_PROFILES", str(REPO / "backends"))
    shown = scaleml_cli("cluster", "up", "--profile", "dask-gpu-nodes", "--dry-run")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    script = shown.stdout
    for line in ("#SBATCH -p gpu", "#SBATCH --gres=gpu:1", "#SBATCH --cpus-per-task=8", "#SBATCH -n 1"):
        assert line in script.splitlines(), (line, script)
    command = next(line for line in script.splitlines() if " -m dask_cuda.cli " in line)
    assert command.startswith(sys.executable) and "--nthreads 8" in command, command
    # dask-cuda's worker starts its own per-GPU processes: no dask worker --nworkers/--nanny.
    assert "--nworkers" not in command and "--nanny" not in command, command
    assert "jobs: 4" in script  # scale: 4 -> four GPUs, four nccl ranks
    assert records.read("dask-gpu-nodes") is None  # a dry run starts nothing


def test_real_sbatch_takes_the_gpu_job_script_and_waits_for_a_gpu_node(slurm, profiles, monkeypatch, tmp_path):
    """The GPU profile's script, submitted by SLURM's own sbatch: accepted (the directives are
    SLURM's), pending only because the GPU node is down, not for asking what no node has."""
    monkeypatch.setenv("SCALEML_PROFILES", str(REPO / "backends"))
    shown = scaleml_cli("cluster", "up", "--profile", "dask-gpu-nodes", "--dry-run")
    script = tmp_path / "gpu-job.sh"
    script.write_text(shown.stdout)
    submitted = slurm.run(["sbatch", "--parsable", "--output=/dev/null", "--error=/dev/null", str(script)])
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    try:
        out = slurm.run(["squeue", "--noheader", "--jobs", job, "--format=%P|%T|%r|%b"]).stdout.strip()
        partition, state, reason, gres = out.split("|")
        assert (partition, state) == ("gpu", "PENDING") and "gpu:1" in gres, out
        assert "PartitionConfig" not in reason, out  # what it asks for fits the declared GPU node
    finally:
        slurm.run(["scancel", job])


PBS_PROFILE = """\
description: PBS Pro jobs of two Dask workers each
cluster:
  kind: pbs
  queue: workq
  account: proj42
  cores: 4
  processes: 2
  memory: 16GiB
  walltime: "01:00:00"
  resource_spec: "select=1:ncpus=4:mem=16GB"
  job_extra_directives: ["-l place=scatter"]
  scale: 4
"""


def test_a_pbs_profile_renders_its_job_script_and_says_when_qsub_is_missing(profiles, monkeypatch):
    (profiles / "pbs-site.yaml").write_text(PBS_PROFILE)
    shown = scaleml_cli("cluster", "up", "--profile", "pbs-site", "--dry-run")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    for line in ("#PBS -q workq", "#PBS -A proj42", "#PBS -l select=1:ncpus=4:mem=16GB",
                 "#PBS -l walltime=01:00:00", "#PBS -l place=scatter"):
        assert line in lines, (line, shown.stdout)
    command = next(line for line in lines if " -m distributed.cli.dask_worker " in line)
    assert "--nworkers 2" in command and "--nthreads 2" in command and "--memory-limit 8.00GiB" in command
    # No PBS here: starting for real says so at once, naming qsub, and leaves nothing behind.
    if shutil.which("qsub"):
        return  # a machine with PBS: the script above is what would be submitted
    up = scaleml_cli("cluster", "up", "--profile", "pbs-site", timeout=120)
    assert up.returncode != 0 and "qsub" in up.stderr and "pbs-site" in up.stderr, up.stdout + up.stderr
    assert records.read("pbs-site") is None
