"""What this machine is: versions, cores, memory, GPUs, git commits (scaleml's and the folder's).

Used by ``scaleml info`` and as the provenance of every benchmark result. Reads
package versions from metadata, so it imports no engine unless asked to probe
PyTorch for devices.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

# Distribution names whose versions matter to results.
PACKAGES = (
    "scaleml",
    "numpy",
    "scipy",
    "scikit-learn",
    "joblib",
    "pandas",
    "dask",
    "distributed",
    "dask-ml",
    "torch",
    "cupy-cuda12x",
    "cupy-cuda13x",
)


def package_versions() -> dict[str, str | None]:
    """Installed version of each package in :data:`PACKAGES` (None if absent)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def cpu_model() -> str:
    """The CPU's model name, as the OS reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (affinity-aware where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def nvidia_gpus() -> list[dict[str, str]] | str:
    """GPUs as ``nvidia-smi`` lists them, or a sentence saying why none are listed."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "nvidia-smi not found"
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi failed: {exc}"
    gpus = []
    for line in out.strip().splitlines():
        name, memory, driver = (part.strip() for part in line.split(",", 2))
        gpus.append({"name": name, "memory": memory, "driver": driver})
    return gpus or "nvidia-smi lists no GPU"


def torch_devices() -> dict[str, Any] | str:
    """Devices PyTorch can use (imports torch), or why it cannot say."""
    try:
        import torch
    except ImportError:
        return "torch not installed"
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return {"torch": torch.__version__, "cuda": cuda, "mps": mps}


def git_commit(path: str | os.PathLike[str] = ".") -> str | None:
    """The commit checked out at ``path`` (with ``-dirty`` if changed), or None."""
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def scaleml_commit() -> str | None:
    """scaleml's own commit, when it runs from a git checkout (an editable install, or its
    ``src`` on the path): that of the repository whose tracked files hold this package,
    with ``-dirty`` if changed. None when installed from a wheel or an sdist (its version
    is in ``packages``), even inside another repository (a virtual environment in a project)."""
    package = Path(__file__).resolve().parent
    try:
        tracked = subprocess.run(["git", "-C", str(package), "ls-files", "--error-unmatch", "__init__.py"],
                                 capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return git_commit(package) if tracked.returncode == 0 else None


def machine_info(probe_torch: bool = False) -> dict[str, Any]:
    """Everything above, as JSON-ready data."""
    memory = psutil.virtual_memory()
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_usable": usable_cores(),
        "memory_total_gib": round(memory.total / 2**30, 1),
        "memory_available_gib": round(memory.available / 2**30, 1),
        "gpus": nvidia_gpus(),
        "packages": package_versions(),
    }
    if probe_torch:
        info["torch_devices"] = torch_devices()
    return info


def provenance(command: str | None, probe_torch: bool = False) -> dict[str, Any]:
    """What every recorded benchmark carries: when, the command, the commits, the machine.

    ``scaleml_commit`` is scaleml's own (None unless it runs from a checkout: then its
    version in ``machine.packages`` says which); ``user_commit`` that of the folder the
    run started in, the user's project (None outside a checkout). Files before these
    two have ``git_commit``: the folder's.
    """
    import datetime as dt

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "scaleml_commit": scaleml_commit(),
        "user_commit": git_commit(),
        "machine": machine_info(probe_torch=probe_torch),
    }


def script_command(script: str) -> str:
    """``python <script> <this process's arguments>``: how a bench script was run."""
    import sys

    return " ".join(["python", script, *sys.argv[1:]])
