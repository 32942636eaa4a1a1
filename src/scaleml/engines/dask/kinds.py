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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...exceptions import BackendUnavailableError, ProfileError
from . import _gateway, _jobqueue, _ssh

REAP_SECONDS = _ssh.REAP_SECONDS  # kind ssh: how long closing waits for remote processes

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
        _ssh.start, _ssh.render, _ssh.workers, _ssh.where,
        scalable=False, check=_ssh.check, excluded=frozenset({"workers", "scheduler", "worker", "name"}),
        close=_ssh.close,
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
