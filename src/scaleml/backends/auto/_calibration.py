"""This machine's constants for ``backend="auto"``: measured by ``scaleml calibrate``.

The cost model (:mod:`scaleml.backends._cost`) predicts a fit's time on each
backend from the work (how many independent fits, how long each) and from a few
constants of the machine: what starting loky workers or a LocalCluster costs, what
one task costs on each, how fast data reaches the workers, how much of a core a
fit keeps when every core is busy. :func:`calibrate` measures them with short
probes in a fresh process (under a minute) and :func:`save` stores them, with
their provenance, as JSON in the user's config folder (``SCALEML_CONFIG_DIR``
overrides it). :func:`load` validates the file: a damaged or foreign one is
refused with a warning, and the conservative :func:`defaults` are used, which
prefer running in this process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass, fields, replace

__all__ = ["Constants", "calibrate", "calibration_path", "config_dir", "defaults", "load", "parse", "save"]
from pathlib import Path
from typing import Any

from ...exceptions import CalibrationError, CalibrationWarning, ScaleMLError
from ...machine import cpu_model, usable_cores

ENV_CONFIG_DIR = "SCALEML_CONFIG_DIR"
FILE_NAME = "calibration.json"
FORMAT = "scaleml-calibration"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Constants:
    """What the cost model knows of this machine.

    Attributes
    ----------
    cores : int
        Usable cores (workers of ``n_jobs=-1`` and of a managed LocalCluster).
    loky_start_s : float
        First parallel call in a process: starting the loky workers.
    loky_task_s : float
        One task on warm loky workers (dispatch and result), beyond its work.
    loky_mb_per_s : float
        Rate at which arguments reach loky workers.
    dask_start_s : float or None
        Starting a managed LocalCluster, scikit-learn imported on its workers;
        None when Dask is not installed.
    dask_task_s : float or None
        One task on the LocalCluster, beyond its work.
    dask_mb_per_s : float or None
        Rate at which data reaches every worker (a broadcast).
    efficiency : float
        Speed-up of CPU-bound fits with every core busy, divided by the cores
        (1.0: perfect; memory bandwidth and shared caches make it less).
    dask_efficiency : float or None
        The same on the LocalCluster's workers.
    source : str
        Where these figures come from: ``"defaults"`` or the calibration file and its date.
    """

    cores: int
    loky_start_s: float
    loky_task_s: float
    loky_mb_per_s: float
    dask_start_s: float | None
    dask_task_s: float | None
    dask_mb_per_s: float | None
    efficiency: float
    dask_efficiency: float | None
    source: str = "defaults"


_MEASURED = tuple(f.name for f in fields(Constants) if f.name not in ("cores", "source"))
_OPTIONAL = {"dask_start_s", "dask_task_s", "dask_mb_per_s", "dask_efficiency"}


def defaults() -> Constants:
    """Conservative constants for an uncalibrated machine: starting workers is dear,
    parallel fits gain little, so ``auto`` spreads work only when it clearly pays."""
    return Constants(
        cores=usable_cores(), loky_start_s=1.5, loky_task_s=0.005, loky_mb_per_s=200.0,
        dask_start_s=6.0, dask_task_s=0.02, dask_mb_per_s=100.0, efficiency=0.6,
        dask_efficiency=0.5, source="defaults (uncalibrated: run `scaleml calibrate`)",
    )


def config_dir() -> Path:
    """The folder calibration is stored in: ``SCALEML_CONFIG_DIR``, else the user's config folder."""
    override = os.environ.get(ENV_CONFIG_DIR, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("scaleml", appauthor=False))


def calibration_path() -> Path:
    """Where :func:`save` writes and :func:`load` reads."""
    return config_dir() / FILE_NAME


def parse(data: Any, path: str = "<data>") -> Constants:
    """Constants from a calibration document, checked field by field.

    Raises
    ------
    CalibrationError
        Naming the first problem: not a scaleml calibration, another format
        version, a missing or non-positive figure, another machine's core count.
    """
    where = f"The calibration file {path}"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CalibrationError(f"{where} is not a scaleml calibration (no \"format\": \"{FORMAT}\").")
    if data.get("version") != FORMAT_VERSION:
        raise CalibrationError(f"{where} has format version {data.get('version')!r}; this scaleml reads {FORMAT_VERSION}.")
    figures = data.get("constants")
    if not isinstance(figures, dict):
        raise CalibrationError(f"{where} has no \"constants\" object.")
    values: dict[str, Any] = {}
    for name in ("cores", *_MEASURED):
        value = figures.get(name)
        if value is None and name in _OPTIONAL:
            values[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise CalibrationError(f"{where}: {name!r} must be a positive number; got {value!r}.")
        values[name] = value
    for name in ("efficiency", "dask_efficiency"):
        if values[name] is not None and values[name] > 1.5:
            raise CalibrationError(f"{where}: {name!r} is a fraction of perfect scaling (at most about 1); got {values[name]!r}.")
    if int(values["cores"]) != usable_cores():
        raise CalibrationError(
            f"{where} was measured with {values['cores']} usable cores; this process has {usable_cores()}."
        )
    provenance = data.get("provenance") if isinstance(data.get("provenance"), dict) else {}
    values["cores"] = int(values["cores"])
    refined = provenance.get("refined")
    last = refined[-1] if isinstance(refined, list) and refined and isinstance(refined[-1], dict) else None
    note = f", refined with bench results {last.get('date', '')}" if last is not None else ""
    return Constants(**values, source=f"calibrated {provenance.get('date', '(date unknown)')}{note} ({path})")


def load(path: str | os.PathLike[str] | None = None) -> Constants:
    """This machine's constants: the calibration file if there is a valid one, else :func:`defaults`.

    A file that cannot be used is not fatal: a :class:`~scaleml.exceptions.CalibrationWarning`
    names the problem and the fix, and the defaults are used.
    """
    target = Path(path) if path is not None else calibration_path()
    if not target.exists():
        return defaults()
    try:
        data = json.loads(target.read_text())
        return parse(data, str(target))
    except (OSError, ValueError) as exc:  # CalibrationError is a ValueError, as is bad JSON
        warnings.warn(
            f"Ignoring the calibration at {target}: {exc} Using conservative defaults instead; "
            "run `scaleml calibrate` to measure this machine again.",
            CalibrationWarning,
            stacklevel=2,
        )
        return defaults()


def save(constants: Constants, provenance: dict[str, Any], path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``constants`` with their ``provenance``; returns the file written."""
    target = Path(path) if path is not None else calibration_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    figures = {k: v for k, v in asdict(constants).items() if k != "source"}
    document = {"format": FORMAT, "version": FORMAT_VERSION, "constants": figures, "provenance": provenance}
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2))
    tmp.replace(target)  # never a half-written file
    return target


def calibrate(with_dask: bool = True, timeout: float = 120.0) -> tuple[Constants, dict[str, Any]]:
    """Measure this machine's constants in a fresh process (so nothing here is warm already).

    Returns
    -------
    constants : Constants
    provenance : dict
        Date, machine, versions and each probe's raw timings.
    """
    command = [sys.executable, "-m", "scaleml.backends.auto._probes"] + ([] if with_dask else ["--no-dask"])
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise ScaleMLError(f"Calibration probes failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    from ...machine import provenance as machine_provenance

    provenance = {**machine_provenance("scaleml calibrate"), "probes": measured.pop("raw")}
    provenance["cpu"] = cpu_model()
    constants = parse({"format": FORMAT, "version": FORMAT_VERSION, "constants": measured}, "(just measured)")
    return replace(constants, source=f"calibrated {provenance['date']} (just measured)"), provenance
