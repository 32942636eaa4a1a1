"""``scaleml info``: the machine, the backends that can run here, and one backend's options.

Its own module beside ``cli.py``, which holds the commands that run work.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ._version import __version__


@click.command()
@click.argument("backend_name", metavar="[BACKEND]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--no-torch",
    is_flag=True,
    help="Do not import PyTorch to look for CUDA/MPS devices (faster).",
)
def info(backend_name: str | None, as_json: bool, no_torch: bool) -> None:
    """Versions, CPU cores, memory, GPUs seen, and which backends can run here.

    With a BACKEND name (`scaleml info dask`): that backend, whether it runs here,
    and every option it takes with its default.
    """
    if backend_name is not None:
        _backend_info(backend_name, as_json)
        return
    from . import backends, machine

    data = machine.machine_info(probe_torch=not no_torch)
    data["backends"] = [
        {"name": b.name, "available": b.available, "reason": b.reason, "summary": b.summary, "origin": b.origin}
        for b in backends.available()
    ]
    from .backends._profiles import Profile, scan

    found = scan()
    data["profiles"] = [
        {"name": p.name, "backend": p.backend, "path": str(p.path), "description": p.description,
         "cluster": p.cluster.kind if p.cluster is not None else None}
        for p in found if isinstance(p, Profile)
    ]
    data["unusable_profiles"] = [str(p) for p in found if not isinstance(p, Profile)]
    data["dask_scheduler"] = _dask_scheduler_source()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"scaleml {__version__}  (Python {data['python']}, {data['platform']})")
    click.echo(f"CPU      {data['cpu']}: {data['cores_usable']} usable of {data['cores_logical']} logical cores")
    click.echo(f"Memory   {data['memory_total_gib']} GiB total, {data['memory_available_gib']} GiB available")
    gpus = data["gpus"]
    click.echo("GPUs     " + (", ".join(f"{g['name']} ({g['memory']})" for g in gpus) if isinstance(gpus, list) else f"none seen ({gpus})"))
    if "torch_devices" in data:
        td = data["torch_devices"]
        if isinstance(td, dict):
            seen = td["cuda"] or (["mps"] if td["mps"] else [])
            click.echo(f"PyTorch  {td['torch']}: " + (", ".join(seen) if seen else "CPU only (no CUDA or MPS device)"))
        else:
            click.echo(f"PyTorch  {td}")
    click.echo("Packages " + ", ".join(f"{k} {v}" for k, v in data["packages"].items() if v))
    missing = [k for k, v in data["packages"].items() if not v]
    if missing:
        click.echo("         not installed: " + ", ".join(missing))
    if data.get("dask_scheduler"):
        click.echo(f"Dask     {data['dask_scheduler']}")
    click.echo("Backends")
    width = max(len(b["name"]) for b in data["backends"])
    for b in data["backends"]:
        status = "available" if b["available"] else f"unavailable: {b['reason']}"
        click.echo(f"  {b['name']:<{width}}  {b['summary']}  [{status}]")
    _print_profiles(data)


def _print_profiles(data: dict[str, Any]) -> None:
    if data["profiles"]:
        click.echo("Profiles (usable as backend names)")
        for p in data["profiles"]:
            starts = f", starts a {p['cluster']} cluster (scaleml cluster up)" if p["cluster"] else ""
            click.echo(f"  {p['name']}: {p['backend']}{starts}, {p['description']}  ({p['path']})")
    if data["unusable_profiles"]:
        click.echo("Profiles that cannot be used")
        for problem in data["unusable_profiles"]:
            click.echo(f"  {problem}")


def _dask_scheduler_source() -> str | None:
    """Where the Dask backends would send work, and why (None without Dask installed)."""
    import importlib.util

    if importlib.util.find_spec("dask") is None:
        return None
    from .engines.dask.cluster import ClusterSpec

    address, source = ClusterSpec().address_and_source()
    return (f"scheduler {address} (from {source})" if address
            else f"no scheduler address ({source}): the Dask backends start a LocalCluster")


def _backend_info(name: str, as_json: bool) -> None:
    """``scaleml info BACKEND``: a backend's summary, availability and options."""
    from .backends import get_backend_class
    from .exceptions import ScaleMLError

    try:
        profile = _profile_of(name)
        cls = get_backend_class(profile.backend if profile else name, require_available=False)
    except ScaleMLError as exc:
        raise click.UsageError(str(exc)) from None
    if profile is not None and not as_json:
        _profile_info(profile)
    availability = cls.availability()
    options = [{"name": key, "default": repr(spec.default), "doc": spec.doc} for key, spec in cls.options.items()]
    if as_json:
        click.echo(json.dumps({"name": cls.name, "summary": cls.summary, "available": bool(availability),
                               "reason": availability.reason, "options": options}, indent=2))
        return
    status = "available" if availability else f"unavailable: {availability.reason}"
    click.echo(f"{cls.name}: {cls.summary}  [{status}]")
    if not options:
        click.echo("  no options")
        return
    click.echo("Options (scaleml exec -o NAME=VALUE, %scaleml ... -o NAME=VALUE, or keyword arguments)")
    width = max(len(o["name"]) for o in options)
    for option in options:
        click.echo(f"  {option['name']:<{width}}  default {option['default']}: {option['doc']}")


def _profile_of(name: str) -> Any:
    """The profile called ``name`` when it is not a backend's name, else None."""
    from .backends import BUILTIN_BACKENDS, normalize_name
    from .backends._profiles import find

    return None if normalize_name(name) in BUILTIN_BACKENDS else find(name.strip())


def _profile_info(profile: Any) -> None:
    """What a profile is, and for one with a cluster: section, which cluster a run uses."""
    click.echo(f"profile {profile.name} ({profile.path}): backend {profile.backend}"
               + (f", {profile.description}" if profile.description else ""))
    if profile.options:
        click.echo("  options " + ", ".join(f"{k}={v!r}" for k, v in profile.options.items()))
    if profile.cluster is None:
        return
    from .engines.dask import records

    section = profile.cluster
    click.echo(f"  cluster {section.describe()}")
    record = records.read(section.profile)
    if record is not None:
        click.echo(f"  a run uses the running one: {record['address']} (scaleml cluster up; pid {record['pid']} "
                   f"on {record['host']}, started {record['started']} by {record['owner']})")
    else:
        click.echo(f"  none runs: a run starts one and ends it after (`scaleml cluster up --profile "
                   f"{section.profile}` keeps one running between runs)")
