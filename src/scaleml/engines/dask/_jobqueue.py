"""Why a dask-jobqueue cluster's workers did not come: its jobs, as the batch system sees them.

A SLURM or PBS profile asks for jobs; each job, once the batch system runs it, starts a
Dask worker that connects back to the scheduler here. When the workers have not come
within the profile's ``start_timeout``, the cause is nearly always the batch system's
(a job pending for resources that are busy, down or never there) or the network
(a job running whose worker cannot reach this host). :func:`not_started_reason` asks
the batch system (``squeue`` / ``qstat``) about the cluster's own jobs and says which it
is and what to check; the caller then closes the cluster, which cancels the jobs.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from ...exceptions import ClusterConnectionError

# SLURM's pending reasons users meet most, each with what to look at (squeue(1) REASONS).
SLURM_REASONS = {
    "Resources": "the nodes that fit the request are busy: wait, or ask for less",
    "Priority": "jobs of higher priority are ahead in the queue",
    "PartitionConfig": "the request (cores, memory, GPUs, nodes) exceeds what the partition's nodes have",
    "PartitionNodeLimit": "the request needs more nodes than the partition allows",
    "PartitionTimeLimit": "walltime is over the partition's time limit",
    "ReqNodeNotAvail": "the nodes the job needs are down, drained or reserved",
    "QOSMaxJobsPerUserLimit": "you already run as many jobs as your QOS allows",
    "AssocGrpCpuLimit": "your account's CPU limit is reached",
    "BeginTime": "the job asked not to start before a later time",
    "JobHeldUser": "the job is held (scontrol release <id>)",
    "JobHeldAdmin": "an administrator holds the job",
}


def start(section: Any) -> Any:
    """The profile's dask-jobqueue cluster, made where jobs can be submitted.

    Without the batch system's submit command here, dask-jobqueue would log each failed
    submission and the wait for workers would run out its whole timeout: said at once.
    """
    cls = section.spec.load()
    submit = cls.job_cls.submit_command
    if shutil.which(submit) is None:
        raise ClusterConnectionError(
            f"{submit} is not on PATH here, so no {section.kind.upper()} job can be submitted. Run scaleml "
            f"where jobs are submitted (a login node; `module load` what provides {submit}); "
            f"`scaleml cluster up --profile {section.profile} --dry-run` prints the job script without submitting.")
    return cls(**section.args)


def stalled(section: Any, cluster: Any) -> str:
    """Why the workers of ``section``'s cluster did not come (see :func:`not_started_reason`);
    the caller closes the cluster next, which cancels its jobs (scancel / qdel)."""
    cancel = "scancel" if section.kind == "slurm" else "qdel"
    return (not_started_reason(section.kind, cluster, section.args)
            + f" scaleml cancels the profile's jobs now ({cancel})")


def job_ids(cluster: Any) -> list[str]:
    """The batch-system ids of the jobs ``cluster`` submitted (dask-jobqueue's ``Job.job_id``)."""
    return [str(job.job_id) for job in getattr(cluster, "workers", {}).values() if getattr(job, "job_id", None)]


def slurm_states(ids: list[str]) -> dict[str, tuple[str, str]]:
    """``{job id: (state, reason)}`` from ``squeue``; a job no longer queued is absent."""
    if not ids or shutil.which("squeue") is None:
        return {}
    out = subprocess.run(["squeue", "--noheader", "--jobs", ",".join(ids), "--format=%i|%T|%r"],
                         capture_output=True, text=True, timeout=30)
    states = {}
    for line in out.stdout.splitlines():
        parts = line.strip().split("|", 2)
        if len(parts) == 3:
            states[parts[0]] = (parts[1], parts[2])
    return states


def _pbs_states(ids: list[str]) -> dict[str, tuple[str, str]]:
    """``{job id: (state, comment)}`` from ``qstat -f`` (best effort: PBS flavours differ)."""
    if not ids or shutil.which("qstat") is None:
        return {}
    states: dict[str, tuple[str, str]] = {}
    for job in ids:
        out = subprocess.run(["qstat", "-f", job], capture_output=True, text=True, timeout=30).stdout
        fields = dict(line.strip().split(" = ", 1) for line in out.splitlines() if " = " in line)
        if fields:
            states[job] = (fields.get("job_state", "?"), fields.get("comment", ""))
    return states


def not_started_reason(kind: str, cluster: Any, args: dict[str, Any]) -> str:
    """What the batch system says about the cluster's jobs, and what to check, in sentences.

    Parameters
    ----------
    kind : {"slurm", "pbs"}
        The profile's kind.
    cluster : dask_jobqueue.JobQueueCluster
        The cluster whose workers did not come.
    args : dict
        The profile's arguments to the cluster class (named in the advice).
    """
    ids = job_ids(cluster)
    if not ids:
        return (f"No {kind.upper()} job was submitted: see the errors above from "
                f"{'sbatch' if kind == 'slurm' else 'qsub'}, and check the job script with "
                "`scaleml cluster up --dry-run`.")
    states = slurm_states(ids) if kind == "slurm" else _pbs_states(ids)
    pending = [i for i in ids if states.get(i, ("", ""))[0] in ("PENDING", "Q", "H")]
    running = [i for i in ids if i not in pending]
    lines = []
    if pending:
        lines.append(f"{kind.upper()} job(s) {', '.join(pending)} never started: "
                     + "; ".join(_explain(i, states[i]) for i in pending) + ".")
        lines.append(_pending_advice(kind, pending, args))
    if running:
        logs = args.get("log_directory") or "the job's working directory"
        lines.append(f"Job(s) {', '.join(running)} ran, but their worker did not reach the scheduler on this "
                     f"host: see the job's output in {logs}, and check that the nodes can reach this machine "
                     "(the `interface` argument names the network the workers use).")
    return " ".join(lines)


def _explain(job: str, state: tuple[str, str]) -> str:
    status, reason = state
    key = reason.split(",")[0].split(" ")[0]
    meaning = SLURM_REASONS.get(key, "")
    return f"{job} is {status} ({reason}{': ' + meaning if meaning else ''})"


def _pending_advice(kind: str, ids: list[str], args: dict[str, Any]) -> str:
    asked = ", ".join(f"{k}={args[k]!r}" for k in ("queue", "cores", "memory", "walltime", "job_extra_directives")
                      if k in args)
    if kind == "slurm":
        return (f"Check `squeue -j {','.join(ids)} -o '%i %T %r'` and `sinfo -o '%P %a %D %c %m %G'`: "
                f"what the profile asks for ({asked or 'the defaults'}) against what the partition's nodes have.")
    return (f"Check `qstat -f {ids[0]}` (its comment) and `pbsnodes -a`: what the profile asks for "
            f"({asked or 'the defaults'}) against what the queue's nodes have.")
