"""Workers whose environment differs from this process's, found on connecting.

A worker with another scikit-learn or NumPy (or no scaleml at all) fails later, in
the middle of a fit, with an unpickling error that names neither. Asked once per
connection to a scheduler by address, with standard-library functions only, so the
question itself can reach a worker that lacks scaleml.
"""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

from ...exceptions import ClusterConnectionError

# What must agree, and how much of each version: pickled estimators need the same
# scikit-learn and scaleml release, and Python's minor release; NumPy arrays pickle
# across minor releases but not from NumPy 2 to 1, so its major release.
CHECKED = {"python": 2, "scaleml": 3, "scikit-learn": 3, "numpy": 1}


def _version(package: str) -> str | None:
    if package == "python":
        return platform.python_version()
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version: str | None, parts: int) -> tuple[str, ...] | None:
    return None if version is None else tuple(version.split("+")[0].split(".")[:parts])


def worker_versions(client: Any) -> dict[str, dict[str, str | None]]:
    """``{worker address: {package: version or None}}`` for the workers up now."""
    found: dict[str, dict[str, str | None]] = {}
    python = client.run(platform.python_version)
    for address, version in python.items():
        found.setdefault(address, {})["python"] = version
    for package in (p for p in CHECKED if p != "python"):
        answers = client.run(importlib.metadata.version, package, on_error="return")
        for address, version in answers.items():
            found.setdefault(address, {})[package] = version if isinstance(version, str) else None
    return found


def check_worker_environment(client: Any, address: str) -> None:
    """Raise one error listing every difference between the workers' packages and ours.

    The workers up when the client connects are asked; ones that join later are not.

    Raises
    ------
    ClusterConnectionError
        When a worker lacks scaleml, or runs another Python (minor), scikit-learn or
        scaleml release, or another major NumPy, than this process.
    """
    ours = {package: _version(package) for package in CHECKED}
    differences = []
    for worker, theirs in sorted(worker_versions(client).items()):
        for package, parts in CHECKED.items():
            if _release(theirs.get(package), parts) != _release(ours[package], parts):
                got = theirs.get(package) or "not installed"
                differences.append(f"{worker}: {package} {got} (here {ours[package]})")
    if differences:
        raise ClusterConnectionError(
            f"The workers of the Dask scheduler at {address} run another environment than this process, "
            "so fits sent there would fail to unpickle or compute differently: " + "; ".join(differences)
            + ". Install the same versions on the workers (pip install scaleml==... scikit-learn==... "
            "numpy==...), or start them from this environment."
        )
