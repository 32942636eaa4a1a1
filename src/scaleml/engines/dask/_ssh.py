"""Kind ``ssh``: ``distributed.SSHCluster`` as a profile starts, renders and closes it.

Before anything starts, every host is reached once (:func:`preflight`), so a host that
refuses is named; closing waits on each host until the Dask processes have gone
(:func:`close`), killing what is left after :data:`REAP_SECONDS`.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from ...exceptions import ProfileError

def host_names(section: Any) -> list[str]:
    return list(section.args.get("hosts") or [])


def check(section: Any) -> None:
    hosts = section.args.get("hosts")
    if not isinstance(hosts, list) or len(hosts) < 2 or not all(isinstance(h, str) and h for h in hosts):
        raise ProfileError(
            f"{section.where()}: cluster.hosts must list at least two hosts: the first runs the scheduler, "
            "each next one a worker (name a host twice to run a worker beside the scheduler). "
            f"Got {hosts!r}."
        )


def connect_options(section: Any) -> Any:
    # asyncssh waits for an unanswered connection as long as the OS does (minutes): the
    # section's start_timeout bounds it unless the profile sets its own connect_timeout.
    options = section.args.get("connect_options")
    if options is None:
        options = {}
    if isinstance(options, dict):
        return {"connect_timeout": section.start_timeout, **options}
    return [{"connect_timeout": section.start_timeout, **o} for o in options]


def start(section: Any) -> Any:
    cls = section.spec.load()
    preflight(section)
    return cls(**{**section.args, "connect_options": connect_options(section)})


def preflight(section: Any) -> None:
    """Open and close one SSH connection to every host, all at once, before SSHCluster
    starts anything: a host that refuses is then named (SSHCluster's own error does not
    say which host failed), and nothing was started that must be ended."""
    import asyncio

    import asyncssh

    hosts = host_names(section)
    options = connect_options(section)
    per_host = dict(zip(reversed(hosts), reversed(options if isinstance(options, list) else [options] * len(hosts))))

    async def probe(host: str) -> tuple[str, BaseException | None]:
        try:
            connection = await asyncio.wait_for(asyncssh.connect(host, **per_host[host]), section.start_timeout)
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as exc:
            return host, exc
        connection.close()
        await connection.wait_closed()
        return host, None

    async def probe_all() -> list[tuple[str, BaseException | None]]:
        return await asyncio.gather(*(probe(host) for host in per_host))

    failed = [(host, exc) for host, exc in asyncio.run(probe_all()) if exc is not None]
    if failed:
        said = "; ".join(f"{host}: {type(exc).__name__}: {str(exc).strip() or 'no answer'}" for host, exc in failed)
        raise ConnectionError(f"SSH to {', '.join(h for h, _ in failed)} failed ({said})")


def _remote_groups(client: Any) -> dict[str, set[int]]:
    """The process group of the scheduler and of every worker, by the IP they listen on
    (``dask_spec`` runs each in a session of its own on its host)."""
    import os

    from .cluster import split_address

    groups: dict[str, set[int]] = {}
    owners = {**client.run(os.getpgrp), client.scheduler.address: client.run_on_scheduler(os.getpgrp)}
    for address, pgid in owners.items():
        groups.setdefault(split_address(address)[1], set()).add(pgid)
    return groups


REAP_SECONDS = 30  # for the remote processes to end by themselves before they are killed


def close(section: Any, cluster: Any, client: Any) -> None:
    """Close the SSHCluster, then wait on every host until its processes have gone.

    SSHCluster's close tells the scheduler to close its workers and returns; the remote
    processes end seconds later (a loaded host: 5-10 s), and any that do not were left
    running. Here each host is asked over SSH to wait for the process groups its Dask
    processes ran in, and to kill what is left of them after ``REAP_SECONDS``.
    """
    import asyncio
    import socket

    import asyncssh

    try:
        groups = _remote_groups(client)
    except Exception:  # noqa: BLE001 - a cluster already gone has nothing left to wait for
        groups = {}
    cluster.close()
    hosts = host_names(section)
    options = connect_options(section)
    per_host = dict(zip(reversed(hosts), reversed(options if isinstance(options, list) else [options] * len(hosts))))
    script = ("end=$(( $(date +%s) + {seconds} )); for g in {groups}; do "
              "while pgrep -g $g >/dev/null && [ $(date +%s) -lt $end ]; do sleep 0.2; done; "
              "pkill -KILL -g $g 2>/dev/null; done; true")

    async def reap(host: str, pgids: set[int]) -> None:
        async with asyncssh.connect(host, **per_host[host]) as connection:
            await connection.run(script.format(seconds=REAP_SECONDS, groups=" ".join(map(str, sorted(pgids)))))

    async def reap_all() -> None:
        by_ip = {_resolve(host, socket): host for host in per_host}
        await asyncio.gather(*(reap(by_ip[ip], pgids) for ip, pgids in groups.items() if ip in by_ip),
                             return_exceptions=True)

    asyncio.run(reap_all())


def _resolve(host: str, socket: Any) -> str:
    try:
        return socket.gethostbyname(host)
    except OSError:
        return host


def render(section: Any) -> str:
    """The commands SSHCluster runs over SSH (distributed.deploy.ssh: one ``dask_spec``
    process for the scheduler on the first host, one per worker host)."""
    args = section.args
    hosts = host_names(section)
    python = args.get("remote_python") or "<this machine's python>"
    pythons = python if isinstance(python, list) else [python] * len(hosts)
    scheduler = {"cls": "distributed.Scheduler", "opts": args.get("scheduler_options") or {}}
    worker = {"0": {"cls": args.get("worker_class", "distributed.Nanny"), "opts": args.get("worker_options") or {}}}
    lines = [f"# kind: ssh -> distributed.SSHCluster; {len(hosts) - 1} worker host(s), scheduler on {hosts[0]}",
             f"# connect_options: {json.dumps(args.get('connect_options') or {}, default=str)}",
             f"ssh {hosts[0]} {pythons[0]} -m distributed.cli.dask_spec --spec {shlex.quote(json.dumps(scheduler))}"]
    lines += [f"ssh {host} {py} -m distributed.cli.dask_spec <scheduler address> --spec {shlex.quote(json.dumps(worker))}"
              for host, py in zip(hosts[1:], pythons[1:])]
    return "\n".join(lines)


def workers(section: Any) -> int:
    per_host = (section.args.get("worker_options") or {}).get("n_workers", 1)
    return max(0, len(host_names(section)) - 1) * int(per_host)


def where(section: Any) -> str:
    found = host_names(section)
    return f"scheduler on {found[0] if found else '?'}, workers on {', '.join(found[1:])}"
