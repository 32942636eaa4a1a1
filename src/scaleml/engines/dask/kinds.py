"""The clusters a profile's ``cluster:`` section can start: one registry table, kind -> the
engine's own class, the package and scaleml extra that provide it, how to start, scale
and render it.

A profile names a kind and that class's own arguments::

    cluster:
      kind: ssh
      hosts: [node1, node1, node2]
      remote_python: /opt/venv/bin/python

:class:`ClusterSection` holds them; :meth:`ClusterSection.check` compares every argument
with the class's signature (following its ``**kwargs`` to the classes they go to) before
anything starts, and names a misspelled one with the nearest valid name. scaleml's own
keys in the section are :data:`SECTION_KEYS`. Engines are imported only when a section is
checked, started or rendered.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...exceptions import BackendUnavailableError, ProfileError
from . import _gateway, _jobqueue

# scaleml's own keys in a cluster: section; every other key is the kind's argument.
SECTION_KEYS = {
    "kind": "which cluster to start (a name in KINDS)",
    "scale": "workers to ask for after starting (slurm, pbs, kubernetes, gateway, local)",
    "adapt": "adaptive scaling instead: a mapping of cluster.adapt()'s arguments, e.g. {minimum: 1, maximum: 8}",
    "wait_for_workers": "workers to wait for before the cluster counts as started (default: all it asked for)",
    "start_timeout": "seconds to wait for the cluster and those workers (default 120)",
}
DEFAULT_START_TIMEOUT = 120.0
# Arguments no profile can give (objects of a running program, not data).
NOT_FROM_PROFILES = {"loop", "asynchronous"}


@dataclass(frozen=True, repr=False)
class ClusterSection:
    """A profile's ``cluster:`` section: the kind, its arguments and scaleml's own keys.

    Parameters
    ----------
    profile : str
        The profile's name (errors and recorded clusters are named by it).
    kind : str
        A key of :data:`KINDS`.
    args : dict
        The kind's own arguments, passed to its class as they are.
    scale, adapt, wait_for_workers, start_timeout
        See :data:`SECTION_KEYS`.
    source : pathlib.Path or None
        The profile file, named in errors.
    """

    profile: str
    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    scale: int | None = None
    adapt: dict[str, Any] | None = None
    wait_for_workers: int | None = None
    start_timeout: float = DEFAULT_START_TIMEOUT
    source: Path | None = None

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    def __repr__(self) -> str:  # what plans and `scaleml info` print of the option
        keys = {**self.args, **({"scale": self.scale} if self.scale is not None else {}),
                **({"adapt": self.adapt} if self.adapt is not None else {})}
        return f"<cluster of profile {self.profile}: kind {self.kind}, {_kwargs(keys) or 'no arguments'}>"

    def where(self) -> str:
        return f"Backend profile {self.source or self.profile}"

    def check(self) -> None:
        """Import the kind's engine and check every argument against its signature.

        Raises
        ------
        BackendUnavailableError
            The engine is not installed; the message gives the install command.
        ProfileError
            An argument the class does not take, with the nearest valid name.
        """
        kind = self.spec
        valid = kind.parameters(self)
        for name, value in self.args.items():
            if name not in valid:
                close = difflib.get_close_matches(name, [*valid, *SECTION_KEYS], n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ProfileError(
                    f"{self.where()}: cluster.{name} is not an argument of {kind.target_name} "
                    f"(kind: {self.kind}).{hint} Its arguments: {', '.join(sorted(valid))}; "
                    f"scaleml's own keys: {', '.join(SECTION_KEYS)}."
                )
            for nested_key, targets in kind.nested.items():
                if name == nested_key and isinstance(value, dict):
                    _check_nested(self, name, value, targets)
        if kind.check is not None:
            kind.check(self)

    def expected_workers(self) -> int:
        """Workers the cluster counts as started with (``wait_for_workers``, else all it asks for)."""
        if self.wait_for_workers is not None:
            return self.wait_for_workers
        return self.spec.workers(self)

    def describe(self) -> str:
        """One line for plans and ``scaleml info``: the kind and what it starts, without starting it."""
        return f"{self.spec.summary} ({self.spec.where(self)})"

    def render(self) -> str:
        """What starting would submit, without submitting (``scaleml cluster up --dry-run``)."""
        self.check()
        return self.spec.render(self)

    def start(self) -> Any:
        """Start the cluster (the engine's own object), scaled as the section says."""
        self.check()
        cluster = self.spec.start(self)
        try:
            if self.adapt is not None:
                cluster.adapt(**self.adapt)
            elif self.scale is not None:
                cluster.scale(self.scale)
        except BaseException:
            cluster.close()
            raise
        return cluster

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "kind": self.kind, "args": self.args, "scale": self.scale,
                "adapt": self.adapt, "wait_for_workers": self.wait_for_workers,
                "start_timeout": self.start_timeout, "source": str(self.source) if self.source else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterSection:
        source = data.pop("source", None)
        return cls(**data, source=Path(source) if source else None)


def _check_nested(section: ClusterSection, key: str, value: dict, targets: tuple[str, ...]) -> None:
    valid = _chain_parameters(targets)
    for name in value:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ProfileError(
                f"{section.where()}: cluster.{key}.{name} is not an argument of {targets[0].replace(':', '.')}."
                f"{hint} Its arguments: {', '.join(sorted(valid))}."
            )


@dataclass(frozen=True)
class Kind:
    """One row of the registry: a kind of cluster and how scaleml handles it.

    ``target`` is the engine's class (``"module:attr"``); ``signature`` the callables whose
    parameters together are the valid arguments (each one's ``**kwargs`` go to the next);
    ``nested`` the arguments that are themselves keyword mappings, checked likewise; ``also``
    callables whose named parameters are valid too, apart from the chain (gateway: the
    section's keys go to ``Gateway(...)`` or to ``new_cluster(...)``).
    ``start(section)`` returns the engine's cluster object, ``render(section)`` what it would
    submit, ``workers(section)`` how many workers it asks for, ``where(section)`` a few words
    on where it runs. ``connect(state, timeout)`` (None: ``Client(address)``) opens a client
    to a started one, from what its owner recorded (``state["address"]``, ``state["extra"]``);
    ``recorded(cluster)`` adds kind-specific items to that record (``state["extra"]``);
    ``close(section, cluster, client)`` ends it and what it started (None: ``cluster.close()``).
    ``stalled(section, cluster)`` says why workers did not come within ``start_timeout``.
    """

    name: str
    target: str
    signature: tuple[str, ...]
    package: str
    extra: str
    summary: str
    start: Callable[[ClusterSection], Any]
    render: Callable[[ClusterSection], str]
    workers: Callable[[ClusterSection], int]
    where: Callable[[ClusterSection], str]
    scalable: bool = True
    nested: dict[str, tuple[str, ...]] = field(default_factory=dict)
    check: Callable[[ClusterSection], None] | None = None
    connect: Callable[[dict[str, Any], float], Any] | None = None
    recorded: Callable[[Any], dict[str, Any]] | None = None
    # Why the workers of a started cluster did not come, in the engine's terms (a batch
    # system's job states): added to the timeout's error before the cluster is closed.
    stalled: Callable[[ClusterSection, Any], str] | None = None
    excluded: frozenset[str] = frozenset()  # parameters the class itself sets on the next one
    close: Callable[[ClusterSection, Any, Any], None] | None = None  # (section, cluster, client); None: cluster.close()
    also: tuple[str, ...] = ()  # callables whose named parameters are valid too (gateway: new_cluster's)

    @property
    def target_name(self) -> str:
        return self.target.replace(":", ".")

    @property
    def install(self) -> str:
        return f"pip install 'scaleml[{self.extra}]'"

    def load(self, path: str | None = None) -> Any:
        """The engine's object named ``path`` (default: the kind's class); a missing package
        is a BackendUnavailableError giving the install command."""
        return _import(path or self.target, self)

    def parameters(self, section: ClusterSection) -> list[str]:
        self.load()  # a missing package is named before any signature is read
        chained = _chain_parameters(self.signature, self)
        also = [n for path in self.also for n in _chain_parameters((path,), self)]
        names = sorted({n for n in [*chained, *also] if n not in NOT_FROM_PROFILES | self.excluded})
        if not self.scalable and (section.scale is not None or section.adapt is not None):
            raise ProfileError(
                f"{section.where()}: kind {self.name} does not take scale: or adapt: (its workers are "
                f"fixed by its arguments: {self.where(section)}). Remove the key."
            )
        return names


def _import(path: str, kind: Kind | None = None) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        if kind is None:
            raise
        raise BackendUnavailableError(
            f"Cluster kind {kind.name!r} needs {kind.package} ({exc.name or module_name} is not installed). "
            f"Install it with: {kind.install}"
        ) from None
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def _chain_parameters(targets: tuple[str, ...], kind: Kind | None = None) -> list[str]:
    """The keyword parameters of ``targets[0]``, then of each next one while the previous
    passes its ``**kwargs`` on (``self`` and ``*args`` left out)."""
    names: list[str] = []
    for path in targets:
        parameters = inspect.signature(_import(path, kind)).parameters.values()
        names += [p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return sorted(set(names))


# -- ssh: distributed.SSHCluster ---------------------------------------------------------

def _ssh_hosts(section: ClusterSection) -> list[str]:
    return list(section.args.get("hosts") or [])


def _ssh_check(section: ClusterSection) -> None:
    hosts = section.args.get("hosts")
    if not isinstance(hosts, list) or len(hosts) < 2 or not all(isinstance(h, str) and h for h in hosts):
        raise ProfileError(
            f"{section.where()}: cluster.hosts must list at least two hosts: the first runs the scheduler, "
            "each next one a worker (name a host twice to run a worker beside the scheduler). "
            f"Got {hosts!r}."
        )


def _ssh_connect_options(section: ClusterSection) -> Any:
    # asyncssh waits for an unanswered connection as long as the OS does (minutes): the
    # section's start_timeout bounds it unless the profile sets its own connect_timeout.
    options = section.args.get("connect_options")
    if options is None:
        options = {}
    if isinstance(options, dict):
        return {"connect_timeout": section.start_timeout, **options}
    return [{"connect_timeout": section.start_timeout, **o} for o in options]


def _ssh_start(section: ClusterSection) -> Any:
    cls = KINDS["ssh"].load()
    _ssh_preflight(section)
    return cls(**{**section.args, "connect_options": _ssh_connect_options(section)})


def _ssh_preflight(section: ClusterSection) -> None:
    """Open and close one SSH connection to every host, all at once, before SSHCluster
    starts anything: a host that refuses is then named (SSHCluster's own error does not
    say which host failed), and nothing was started that must be ended."""
    import asyncio

    import asyncssh

    hosts = _ssh_hosts(section)
    options = _ssh_connect_options(section)
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


def _ssh_close(section: ClusterSection, cluster: Any, client: Any) -> None:
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
    hosts = _ssh_hosts(section)
    options = _ssh_connect_options(section)
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


def _ssh_render(section: ClusterSection) -> str:
    """The commands SSHCluster runs over SSH (distributed.deploy.ssh: one ``dask_spec``
    process for the scheduler on the first host, one per worker host)."""
    args = section.args
    hosts = _ssh_hosts(section)
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


def _ssh_workers(section: ClusterSection) -> int:
    per_host = (section.args.get("worker_options") or {}).get("n_workers", 1)
    return max(0, len(_ssh_hosts(section)) - 1) * int(per_host)


# -- slurm, pbs: dask-jobqueue -----------------------------------------------------------

def _jobqueue_render(section: ClusterSection) -> str:
    """dask-jobqueue's own job script: making the cluster object starts its scheduler here
    but submits nothing (``n_workers`` left at 0), and it is closed at once."""
    # Its scheduler is only there to be named in the script: no dashboard on the default port.
    scheduler = {"dashboard_address": ":0", **(section.args.get("scheduler_options") or {})}
    cluster = section.spec.load()(**{**section.args, "n_workers": 0, "scheduler_options": scheduler})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    jobs = section.scale if section.scale is not None else f"adapt {section.adapt}" if section.adapt else 0
    # The note goes under the #! line, so the output is itself a job script sbatch/qsub take.
    shebang, _, rest = script.partition("\n")
    return f"{shebang}\n# kind: {section.kind} -> {section.spec.target_name}; jobs: {jobs}\n{rest}"


def _scaled_workers(section: ClusterSection) -> int:
    if section.adapt is not None:
        return int(section.adapt.get("minimum", 0) or 0)
    return int(section.scale or section.args.get("n_workers") or 0)


def _scaled_where(section: ClusterSection) -> str:
    if section.adapt is not None:
        return f"adapting {section.adapt}"
    return f"{_scaled_workers(section)} worker(s)"


# -- kubernetes: dask-kubernetes' operator KubeCluster -------------------------------------

def _kube_spec(section: ClusterSection) -> dict:
    """The DaskCluster resource KubeCluster would create, from dask-kubernetes' public
    ``make_cluster_spec`` (a ``custom_cluster_spec`` given in the profile is used as it is)."""
    if section.args.get("custom_cluster_spec"):
        custom = section.args["custom_cluster_spec"]
        if isinstance(custom, dict):
            return custom
        import yaml

        return yaml.safe_load(Path(custom).read_text())
    make = KINDS["kubernetes"].load("dask_kubernetes.operator:make_cluster_spec")
    accepted = inspect.signature(make).parameters
    args = {k: v for k, v in section.args.items() if k in accepted}
    args.setdefault("name", section.profile)
    if section.scale is not None:
        args["n_workers"] = section.scale
    return make(**args)


def _kube_render(section: ClusterSection) -> str:
    import yaml

    return "# kind: kubernetes -> dask_kubernetes.operator.KubeCluster (DaskCluster resource)\n" + \
        yaml.safe_dump(_kube_spec(section), sort_keys=False)


def _kube_start(section: ClusterSection) -> Any:
    return section.spec.load()(**{"name": section.profile, **section.args})


# -- gateway: dask-gateway ------------------------------------------------------------------

def _gateway_render(section: ClusterSection) -> str:
    own, new = _gateway.split_args(section)
    return (f"# kind: gateway -> dask_gateway.Gateway({_kwargs(own)}).new_cluster({_kwargs(new)})\n"
            f"# then: {'adapt(' + _kwargs(section.adapt) + ')' if section.adapt else f'scale({section.scale or 0})'}")


# -- local: distributed.LocalCluster (a cluster on this machine, kept between runs) --------

def _local_start(section: ClusterSection) -> Any:
    return section.spec.load()(**{"dashboard_address": ":0", **section.args})


def _local_render(section: ClusterSection) -> str:
    return f"# kind: local -> distributed.LocalCluster({_kwargs(section.args)}) on this machine"


def _kwargs(args: dict | None) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in (args or {}).items())


def _args_where(key: str, default: str) -> Callable[[ClusterSection], str]:
    return lambda section: f"{key}={section.args[key]}" if key in section.args else default


KINDS: dict[str, Kind] = {
    "ssh": Kind(
        "ssh", "distributed:SSHCluster", ("distributed:SSHCluster", "distributed.deploy.spec:SpecCluster"),
        "asyncssh", "ssh", "a Dask cluster started over SSH (distributed.SSHCluster)",
        _ssh_start, _ssh_render, _ssh_workers,
        lambda s: f"scheduler on {_ssh_hosts(s)[0] if _ssh_hosts(s) else '?'}, workers on {', '.join(_ssh_hosts(s)[1:])}",
        scalable=False, check=_ssh_check, excluded=frozenset({"workers", "scheduler", "worker", "name"}),
        close=_ssh_close,
        nested={"worker_options": ("distributed:Nanny", "distributed:Worker"),
                "scheduler_options": ("distributed:Scheduler",)},
    ),
    "slurm": Kind(
        "slurm", "dask_jobqueue:SLURMCluster",
        ("dask_jobqueue:SLURMCluster", "dask_jobqueue.slurm:SLURMJob", "dask_jobqueue.core:Job"),
        "dask-jobqueue", "hpc", "Dask workers as SLURM jobs (dask_jobqueue.SLURMCluster)",
        _jobqueue.start, _jobqueue_render, _scaled_workers, _scaled_where, excluded=frozenset({"scheduler"}),
        stalled=_jobqueue.stalled,
    ),
    "pbs": Kind(
        "pbs", "dask_jobqueue:PBSCluster",
        ("dask_jobqueue:PBSCluster", "dask_jobqueue.pbs:PBSJob", "dask_jobqueue.core:Job"),
        "dask-jobqueue", "hpc", "Dask workers as PBS jobs (dask_jobqueue.PBSCluster)",
        _jobqueue.start, _jobqueue_render, _scaled_workers, _scaled_where, excluded=frozenset({"scheduler"}),
        stalled=_jobqueue.stalled,
    ),
    "kubernetes": Kind(
        "kubernetes", "dask_kubernetes.operator:KubeCluster",
        ("dask_kubernetes.operator:KubeCluster", "distributed.deploy.cluster:Cluster"),
        "dask-kubernetes", "kubernetes", "a DaskCluster on Kubernetes (dask_kubernetes.operator.KubeCluster)",
        _kube_start, _kube_render, _scaled_workers, _scaled_where,
    ),
    "gateway": Kind(
        "gateway", "dask_gateway:Gateway", ("dask_gateway:Gateway",),
        "dask-gateway", "gateway", "a cluster from a Dask Gateway (dask_gateway.Gateway().new_cluster())",
        _gateway.start, _gateway_render, _scaled_workers, _args_where("address", "the gateway of Dask's config"),
        also=("dask_gateway:Gateway.new_cluster",), connect=_gateway.connect, recorded=_gateway.recorded,
    ),
    "local": Kind(
        "local", "distributed:LocalCluster", ("distributed:LocalCluster", "distributed:Worker"),
        "distributed", "dask", "a LocalCluster on this machine (distributed.LocalCluster)",
        _local_start, _local_render, lambda s: int(s.scale or s.args.get("n_workers") or 1),
        _args_where("n_workers", "one worker per core"),
    ),
}


def section_from_mapping(data: Any, profile: str, source: Path | None = None) -> ClusterSection:
    """A profile's ``cluster:`` mapping, its structure checked (the kind's arguments are
    checked against the engine by :meth:`ClusterSection.check`, which imports it)."""
    where = f"Backend profile {source or profile}"
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: 'cluster' must be a mapping with 'kind' and the kind's arguments.")
    kind = data.get("kind")
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ProfileError(f"{where}: cluster.kind {kind!r} is not a kind of cluster scaleml starts; "
                           f"kinds: {', '.join(KINDS)}.{hint}")
    args = {k: v for k, v in data.items() if k not in SECTION_KEYS}
    if any(not isinstance(k, str) for k in args):
        raise ProfileError(f"{where}: cluster: argument names must be strings, got {list(args)!r}.")
    scale, adapt = data.get("scale"), data.get("adapt")
    if scale is not None and adapt is not None:
        raise ProfileError(f"{where}: cluster: give scale: or adapt:, not both.")
    if scale is not None and (not isinstance(scale, int) or isinstance(scale, bool) or scale < 0):
        raise ProfileError(f"{where}: cluster.scale must be a number of workers (an integer >= 0), got {scale!r}.")
    if adapt is not None and not isinstance(adapt, dict):
        raise ProfileError(f"{where}: cluster.adapt must be a mapping such as {{minimum: 1, maximum: 8}}, got {adapt!r}.")
    wait, timeout = data.get("wait_for_workers"), data.get("start_timeout", DEFAULT_START_TIMEOUT)
    if wait is not None and (not isinstance(wait, int) or isinstance(wait, bool) or wait < 0):
        raise ProfileError(f"{where}: cluster.wait_for_workers must be an integer >= 0, got {wait!r}.")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise ProfileError(f"{where}: cluster.start_timeout must be a number of seconds > 0, got {timeout!r}.")
    return ClusterSection(profile, kind, args, scale, adapt, wait, float(timeout), source)
