"""Backend profiles: YAML files that name a backend and its options.

A profile ``dask-remote.yaml``::

    description: the team cluster, over TLS
    backend: dask
    options:
      address: tls://scheduler.internal:8786
      security: {tls_ca_file: ca.pem, tls_client_cert: cert.pem, tls_client_key: key.pem}

is then usable wherever a backend name is (``Scaled(..., backend="dask-remote")``,
``scaleml bench --backends dask-remote``). Profiles are searched in the folders of
``SCALEML_PROFILES`` (``os.pathsep``-separated), then ``./backends``, then
``~/.config/scaleml/backends``. Relative file paths in options are read relative
to the profile's folder. Files are read with ``yaml.safe_load``: a profile holds
data, never code.

A profile may also start its own cluster: a ``cluster:`` section names a kind (``ssh``,
``slurm``, ``pbs``, ``kubernetes``, ``gateway``, ``local``) and that kind's own arguments
(see :mod:`scaleml.engines.dask.kinds`); its backend is then ``dask`` unless it says
``dask-ml``, and the backend uses the cluster ``scaleml cluster up`` keeps running, or
starts one for the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engines.dask.cluster import TLS_FILES
from ..engines.dask.kinds import ClusterSection, section_from_mapping
from ..exceptions import ProfileError

ENV_PROFILES = "SCALEML_PROFILES"
_KEYS = {"backend", "options", "description", "cluster"}
# The backends a cluster: section can serve: those whose cluster is a Dask scheduler address.
CLUSTER_BACKENDS = ("dask", "dask-ml")


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    cluster: ClusterSection | None = None

    def backend_options(self) -> dict[str, Any]:
        """The options the profile gives its backend (its cluster: section as ``cluster``)."""
        return {**self.options, "cluster": self.cluster} if self.cluster is not None else dict(self.options)


def search_path() -> list[Path]:
    folders = [Path(p) for p in os.environ.get(ENV_PROFILES, "").split(os.pathsep) if p]
    return [*folders, Path.cwd() / "backends", Path.home() / ".config" / "scaleml" / "backends"]


def find(name: str) -> Profile | None:
    """The first profile called ``name`` on the search path, loaded and checked."""
    for folder in search_path():
        for suffix in (".yaml", ".yml"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return load(path)
    return None


def all_profiles() -> list[Profile]:
    """Every usable profile on the search path (the first of each name)."""
    return [p for p in scan() if isinstance(p, Profile)]


def scan() -> list[Profile | ProfileError]:
    """Every profile file on the search path (the first of each name): loaded, or why it cannot be used."""
    seen: dict[str, Profile | ProfileError] = {}
    for folder in search_path():
        if folder.is_dir():
            for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
                if path.stem not in seen:
                    try:
                        seen[path.stem] = load(path)
                    except ProfileError as exc:
                        seen[path.stem] = exc
    return list(seen.values())


def load(path: Path) -> Profile:
    """Read and check one profile file; ProfileError names the file, the key and the fix."""
    import yaml

    from . import names, normalize_name

    if normalize_name(path.stem) in names():
        raise ProfileError(
            f"Backend profile {path} has the name of the backend {normalize_name(path.stem)!r}, which would "
            "always be chosen instead of it. Rename the file (e.g. "
            f"{path.stem}-all-cores{path.suffix}) and use that name."
        )
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"Cannot read the backend profile {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"Backend profile {path}: expected a mapping with 'backend' and 'options'.")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ProfileError(f"Backend profile {path}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}.")
    if "cluster" in data and "backend" not in data:
        data = {**data, "backend": "dask"}
    if not isinstance(data.get("backend"), str):
        raise ProfileError(f"Backend profile {path}: 'backend' must name a backend, e.g. 'dask'.")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ProfileError(f"Backend profile {path}: 'options' must be a mapping of option names to values.")
    cluster = _cluster_section(path, data, options)
    security = options.get("security")
    if isinstance(security, dict):
        security = {
            k: str((path.parent / v).resolve()) if k in TLS_FILES and isinstance(v, str) else v
            for k, v in security.items()
        }
        for key in TLS_FILES:
            if isinstance(security.get(key), str) and not os.path.isfile(security[key]):
                raise ProfileError(
                    f"Backend profile {path}: options.security.{key} names {security[key]}, which does not "
                    "exist. Fix the path in the profile (relative paths are read from the profile's folder)."
                )
        options = {**options, "security": security}
    return Profile(path.stem, path, data["backend"], options, str(data.get("description", "")), cluster)


def _cluster_section(path: Path, data: dict, options: dict) -> ClusterSection | None:
    """The profile's cluster: section, its structure checked (its arguments are checked
    against the engine's class when the backend is made, before anything starts)."""
    if "cluster" not in data:
        return None
    if normalize_backend(data["backend"]) not in CLUSTER_BACKENDS:
        raise ProfileError(
            f"Backend profile {path}: a cluster: section serves the backends {', '.join(CLUSTER_BACKENDS)}, "
            f"not {data['backend']!r}. Set backend: dask (or leave it out)."
        )
    if options.get("address"):
        raise ProfileError(
            f"Backend profile {path}: options.address and a cluster: section both say which cluster to use. "
            "Keep the cluster: section (its cluster's address is found when it starts) or the address."
        )
    return section_from_mapping(data["cluster"], path.stem, path)


def normalize_backend(name: str) -> str:
    from . import normalize_name

    return normalize_name(name)
