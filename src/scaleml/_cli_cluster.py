"""``scaleml cluster up|status|down --profile NAME``: a profile's cluster kept running between runs.

``up`` starts the profile's ``cluster:`` section in a detached process that owns the
cluster object and records it (``scaleml.engines.dask.records``); runs on that profile
then use it. ``status`` shows its address and workers; ``down`` ends the owning process,
which closes the cluster and everything the engine started; whatever is left of the
process's session is killed. ``up --dry-run`` prints what would be submitted.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import click

PROFILE = click.option("--profile", "-p", "profile_name", required=True, metavar="NAME",
                       help="The profile whose cluster: section it is (backends/NAME.yaml).")
DOWN_SECONDS = 60.0  # for the owner to close its cluster before it and its session are killed


@click.group()
def cluster() -> None:
    """Start, show and end the cluster a profile describes (its cluster: section)."""


def _section(name: str) -> Any:
    from .backends._profiles import find
    from .exceptions import ScaleMLError

    try:
        profile = find(name)
    except ScaleMLError as exc:
        raise click.ClickException(str(exc)) from None
    if profile is None:
        from .backends._profiles import search_path

        raise click.ClickException(f"No profile {name!r}: looked for {name}.yaml in "
                                   f"{', '.join(str(p) for p in search_path())}.")
    if profile.cluster is None:
        raise click.ClickException(f"Profile {name} ({profile.path}) has no cluster: section, so there is no "
                                   "cluster to start: its backend reaches its cluster by itself.")
    return profile.cluster


@cluster.command()
@PROFILE
@click.option("--dry-run", is_flag=True, help="Print what would be submitted (job script, spec, SSH commands); start nothing.")
def up(profile_name: str, dry_run: bool) -> None:
    """Start the profile's cluster and keep it running for later runs."""
    from .engines.dask import records
    from .exceptions import ScaleMLError

    section = _section(profile_name)
    try:
        if dry_run:
            click.echo(section.render())
            return
        section.check()
        running = records.read(section.profile)
        if running is not None:
            click.echo(f"The cluster of profile {section.profile} already runs: {running['address']} "
                       f"(pid {running['pid']} on {running['host']}, started {running['started']} by {running['owner']}).")
            return
        from .engines.dask._profile_host import start_detached

        started = time.perf_counter()
        record = start_detached(section)
    except ScaleMLError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Started the cluster of profile {section.profile} ({section.describe()}) in "
               f"{time.perf_counter() - started:.1f} s: {record['address']}, {record['workers']} worker(s); "
               f"owned by pid {record['pid']}, recorded in {records.path(section.profile)}.")
    click.echo(f"Use it: scaleml exec -b {section.profile} script.py;  end it: "
               f"scaleml cluster down --profile {section.profile}")


@cluster.command()
@PROFILE
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(profile_name: str, as_json: bool) -> None:
    """Show the running cluster of the profile: its address, owner and workers."""
    from .engines.dask import records

    section = _section(profile_name)
    record = records.read(section.profile)
    if record is None:
        if as_json:
            click.echo(json.dumps({"profile": section.profile, "running": False}))
            return
        click.echo(f"No cluster of profile {section.profile} runs (a run on it starts one and ends it after; "
                   f"`scaleml cluster up --profile {section.profile}` keeps one running).")
        return
    workers = _workers(section, record)
    if as_json:
        click.echo(json.dumps({**record, "running": True, "workers": workers}, indent=2, default=str))
        return
    click.echo(f"profile {section.profile}: {section.describe()}")
    click.echo(f"  scheduler {record['address']}   dashboard {record.get('dashboard') or '-'}")
    click.echo(f"  owner pid {record['pid']} on {record['host']}, started {record['started']} by {record['owner']}")
    if isinstance(workers, str):
        click.echo(f"  workers: {workers}")
        return
    click.echo(f"  {len(workers)} worker(s)")
    for address, worker in sorted(workers.items()):
        click.echo(f"    {address}  {worker.get('nthreads')} thread(s), memory limit {worker.get('memory_limit')}")


def _workers(section: Any, record: dict[str, Any]) -> dict[str, Any] | str:
    """The scheduler's workers now, or why they cannot be listed."""
    from .engines.dask.cluster import open_client, workers_of
    from .exceptions import ScaleMLError

    try:
        client = open_client(section, record, 10.0)
    except ScaleMLError as exc:
        return f"cannot be listed: {exc}"
    try:
        return workers_of(client)
    finally:
        client.close()


@cluster.command()
@PROFILE
def down(profile_name: str) -> None:
    """End the profile's running cluster and everything it started."""
    from .engines.dask import records

    section = _section(profile_name)
    record = records.read(section.profile)
    if record is None:
        click.echo(f"No cluster of profile {section.profile} runs; nothing to end.")
        return
    import socket

    if record.get("host") != socket.gethostname():
        raise click.ClickException(f"The cluster of profile {section.profile} is owned by pid {record['pid']} on "
                                   f"{record['host']}: run `scaleml cluster down --profile {section.profile}` there.")
    pid = record["pid"]
    ended = _end(pid)
    records.remove(section.profile, pid)
    click.echo(f"Ended the cluster of profile {section.profile} ({record['address']}, owner pid {pid}"
               f"{'' if ended else ', killed: it did not close its cluster within ' + f'{DOWN_SECONDS:g} s'}).")


def _end(pid: int) -> bool:
    """SIGTERM the owner (it closes its cluster), wait, then kill what is left of its session
    (the owner leads a session of its own); True if it ended by itself."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + DOWN_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    by_itself = not _alive(pid)
    try:
        os.killpg(pid, signal.SIGKILL)  # a worker process the engine left behind, if any
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + 10
    while _session_left(pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # killed processes take a moment to go; `down` returns when none is left
    return by_itself


def _session_left(pgid: int) -> list[int]:
    """Processes of the process group ``pgid`` still running (zombies are gone already)."""
    import psutil

    left = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                left.append(process.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return left


def _alive(pid: int) -> bool:
    from .engines.dask.records import owner_alive

    import socket

    return owner_alive({"pid": pid, "host": socket.gethostname()})
