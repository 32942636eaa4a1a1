"""Where a profile's running cluster is recorded: ``<config>/scaleml/clusters/<profile>.json``
(``<config>``: ``$XDG_CONFIG_HOME``, else ``~/.config``).

``scaleml cluster up`` starts a detached process that owns the cluster object
(``_profile_host.py``); that process writes the record once its cluster has started and
removes it when it ends. A record holds the scheduler address, the owning process's pid
and host, who started it, when, and the profile's cluster section. A record whose process
is gone (on this host) is stale and read as no cluster.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any


def folder() -> Path:
    """The folder of cluster records (not created here)."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".config") / "scaleml" / "clusters"


def path(profile: str) -> Path:
    return folder() / f"{profile}.json"


def log_path(profile: str) -> Path:
    """The owning process's log (what the cluster's engine printed)."""
    return folder() / f"{profile}.log"


def write(profile: str, record: dict[str, Any]) -> Path:
    """Write the record atomically (a reader never sees half of it)."""
    target = path(profile)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".json.{os.getpid()}")
    partial.write_text(json.dumps(record, indent=2, default=str))
    os.replace(partial, target)
    return target


def remove(profile: str, pid: int | None = None) -> None:
    """Remove the record (only if it is ``pid``'s, when given: a newer owner's stays)."""
    record = read(profile, check_alive=False)
    if record is not None and pid is not None and record.get("pid") != pid:
        return
    try:
        path(profile).unlink()
    except FileNotFoundError:
        pass


def read(profile: str, check_alive: bool = True) -> dict[str, Any] | None:
    """The record of ``profile``'s running cluster, or None (none, unreadable, or its owner
    gone: a process killed outright leaves its record, which is then removed here)."""
    try:
        record = json.loads(path(profile).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if check_alive and not owner_alive(record):
        try:
            path(profile).unlink()
        except OSError:
            pass
        return None
    return record


def owner_alive(record: dict[str, Any]) -> bool:
    """Whether the record's owning process runs (only known on its own host: elsewhere, True)."""
    if record.get("host") != socket.gethostname():
        return True
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
