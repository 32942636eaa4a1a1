"""What a kind: ssh profile on 3 hosts costs to start and to end: ``scaleml cluster up`` and
``scaleml cluster down`` timed, as a user runs them, on simulated hosts (sshd in network
namespaces, ``ssh_hosts.py``; root only). The scheduler and a worker on the first host, a
worker on each of the two others, one thread each.

    sudo .venv/bin/python bench/cluster_start/ssh_start.py --rounds 5

Each round: ``up`` (wall time of the command: SSH connections, the remote Python starting
Dask, the workers joining), ``status``, ``down`` (until every remote process has gone).
Prints the median and range and writes ``bench/results/cluster_start_ssh-<date>.json``.
The hosts share this machine's cores, disk and Python: on real servers the remote
interpreters start in parallel, so this is an upper bound set by this machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from cluster_start.ssh_hosts import SSHHosts, missing  # noqa: E402


def _cli(env: dict, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "scaleml", "cluster", *args], env=env, capture_output=True,
                            text=True, timeout=600)
    if result.returncode:
        raise SystemExit(f"scaleml cluster {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(HERE.parent / "results"))
    options = parser.parse_args()
    if missing():
        raise SystemExit(f"cannot simulate SSH hosts here: {missing()}")
    folder = Path(tempfile.mkdtemp(prefix="scaleml-ssh-start-"))
    (folder / "profiles").mkdir()
    env = {**os.environ, "SCALEML_PROFILES": str(folder / "profiles"), "XDG_CONFIG_HOME": str(folder / "config"),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    rounds = []
    with SSHHosts(3, folder / "ssh") as hosts:
        a = hosts.addresses
        (folder / "profiles" / "three.yaml").write_text(
            f"cluster:\n  kind: ssh\n  hosts: {json.dumps([a[0], a[0], a[1], a[2]])}\n"
            f"  connect_options: {{known_hosts: null, username: root, client_keys: ['{hosts.key}']}}\n"
            f"  remote_python: {hosts.python()}\n  worker_options: {{nthreads: 1}}\n"
        )
        for index in range(options.rounds):
            up, _ = _cli(env, "up", "--profile", "three")
            _, status = _cli(env, "status", "--profile", "three")
            down, _ = _cli(env, "down", "--profile", "three")
            rounds.append({"up_s": up, "down_s": down, "workers": status.stdout.count("thread(s)")})
            print(f"round {index + 1}: up {up:.1f} s, down {down:.1f} s, {rounds[-1]['workers']} workers", flush=True)
    summary = {key: {"median": statistics.median(r[key] for r in rounds), "min": min(r[key] for r in rounds),
                     "max": max(r[key] for r in rounds)} for key in ("up_s", "down_s")}
    print(f"up   median {summary['up_s']['median']:.1f} s ({summary['up_s']['min']:.1f}-{summary['up_s']['max']:.1f})")
    print(f"down median {summary['down_s']['median']:.1f} s ({summary['down_s']['min']:.1f}-{summary['down_s']['max']:.1f})")
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cluster_start_ssh-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"rounds": rounds, "summary": summary, "provenance": {
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": platform.node(),
        "cores": os.cpu_count(), "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
