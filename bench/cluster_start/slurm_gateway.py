"""What a SLURM profile (2 jobs of one worker) and a Dask Gateway profile (2 workers) cost
to start, use and end through scaleml, against the engine alone.

Starts a single-host SLURM (munged, slurmctld, slurmd; root and Debian's slurm-wlm + munge)
and a dask-gateway-server on its local backend, as the tests do (``tests/_servers.py``),
then per round, the two kinds interleaved:

- ``cluster up``: ``scaleml cluster up --profile P`` wall time (it returns once both
  workers have joined: jobs submitted, scheduled, workers started and connected);
- ``first search``: a grid search (SVC on iris, 18 fits) on the running cluster, from this
  process's first connection to the fitted search;
- ``cluster down``: ``scaleml cluster down`` until the jobs / the gateway's cluster are gone;
- ``engine alone`` (the floor): dask-jobqueue's ``SLURMCluster(...).scale(2)`` or
  ``Gateway().new_cluster().scale(2)`` in this process until 2 workers have joined.

    python bench/cluster_start/slurm_gateway.py --rounds 5

Writes bench/results/cluster-start-slurm-gateway.json and prints a table (medians).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _servers import GatewayServer, SlurmServer, why_not_gateway, why_not_slurm  # noqa: E402

SLURM = """\
cluster:
  kind: slurm
  queue: debug
  cores: 1
  processes: 1
  memory: 1GiB
  walltime: "00:10:00"
  log_directory: {logs}
  scale: 2
"""
GATEWAY = "cluster:\n  kind: gateway\n  address: {address}\n  auth: basic\n  scale: 2\n"


def cli(*args: str) -> float:
    """Wall time of ``scaleml ARGS`` (a fresh process, as a user runs it); fails loudly."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "scaleml", *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"scaleml {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - start


def first_search(profile: str) -> float:
    import scaleml
    from scaleml.engines.dask.cluster import close_all
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    start = time.perf_counter()
    with scaleml.backend(profile):
        GridSearchCV(SVC(), {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}, cv=3, n_jobs=-1).fit(X, y)
    took = time.perf_counter() - start
    close_all()
    return took


def until(ready, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the cluster to end")
        time.sleep(0.1)


def engine_alone(kind: str, slurm: SlurmServer, gateway: GatewayServer, logs: Path) -> float:
    import distributed

    start = time.perf_counter()
    if kind == "slurm":
        from dask_jobqueue import SLURMCluster

        cluster = SLURMCluster(queue="debug", cores=1, processes=1, memory="1GiB", walltime="00:10:00",
                               log_directory=str(logs))
    else:
        from dask_gateway import BasicAuth, Gateway

        cluster = Gateway(gateway.address, auth=BasicAuth(password=gateway.token)).new_cluster()
    cluster.scale(2)
    with distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
    took = time.perf_counter() - start
    cluster.close()
    if kind == "slurm":
        until(lambda: not slurm.job_ids())
    return took


def one_round(kind: str, slurm: SlurmServer, gateway: GatewayServer, logs: Path) -> dict[str, float]:
    profile = f"bench-{kind}"
    times = {"cluster up": cli("cluster", "up", "--profile", profile)}
    times["first search"] = first_search(profile)
    start = time.perf_counter()
    cli("cluster", "down", "--profile", profile)
    if kind == "slurm":
        until(lambda: not slurm.job_ids())
    else:
        until(lambda: not _gateway_clusters(gateway))
    times["cluster down"] = time.perf_counter() - start
    times["engine alone"] = engine_alone(kind, slurm, gateway, logs)
    return times


def _gateway_clusters(gateway: GatewayServer) -> list:
    from dask_gateway import BasicAuth, Gateway

    from scaleml.engines.dask._gateway import _close

    client = Gateway(gateway.address, auth=BasicAuth(password=gateway.token))
    try:
        return client.list_clusters()
    finally:
        _close(client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "cluster-start-slurm-gateway.json"))
    args = parser.parse_args()
    for reason in (why_not_slurm(), why_not_gateway()):
        if reason:
            raise SystemExit(f"cannot run: {reason}")
    folder = Path(tempfile.mkdtemp(prefix="scaleml-bench-clusters-"))
    (folder / "profiles").mkdir()
    os.environ.update({"SCALEML_PROFILES": str(folder / "profiles"), "XDG_CONFIG_HOME": str(folder / "config")})
    slurm, gateway = SlurmServer(folder / "slurm"), GatewayServer(folder / "gateway")
    try:
        slurm.start()
        os.environ.update(slurm.env)
        gateway.start()
        os.environ["DASK_GATEWAY__AUTH__KWARGS__PASSWORD"] = gateway.token  # for the scaleml processes
        import dask

        dask.config.set({"gateway.auth.kwargs": {"password": gateway.token}})
        (folder / "profiles" / "bench-slurm.yaml").write_text(SLURM.format(logs=folder / "jobs"))
        (folder / "profiles" / "bench-gateway.yaml").write_text(GATEWAY.format(address=gateway.address))
        report(measure(args.rounds, slurm, gateway, folder / "jobs"), args.out)
    finally:
        gateway.stop()
        slurm.stop()


def measure(rounds: int, slurm: SlurmServer, gateway: GatewayServer, logs: Path) -> dict:
    times: dict[str, dict[str, list[float]]] = {"slurm": {}, "gateway": {}}
    for round_ in range(rounds + 1):  # round 0 warms imports and the file cache, not counted
        for kind in ("slurm", "gateway") if round_ % 2 else ("gateway", "slurm"):
            for label, seconds in one_round(kind, slurm, gateway, logs).items():
                if round_:
                    times[kind].setdefault(label, []).append(seconds)
        print(f"round {round_} done", flush=True)
    return times


def report(times: dict, out: str) -> None:
    from scaleml import machine
    from scaleml.bench.results import write_json

    summary = {kind: {label: statistics.median(v) for label, v in by.items()} for kind, by in times.items()}
    print(f"{'profile':<22} {'cluster up':>11} {'first search':>13} {'cluster down':>13} {'engine alone':>13}")
    for kind, name in (("slurm", "slurm, 2 jobs"), ("gateway", "gateway, 2 workers")):
        row = summary[kind]
        print(f"{name:<22} {row['cluster up']:>10.2f}s {row['first search']:>12.2f}s "
              f"{row['cluster down']:>12.2f}s {row['engine alone']:>12.2f}s")
    write_json(out, {"provenance": machine.provenance(machine.script_command(__file__)),
                     "summary_median_s": summary, "times": times})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
