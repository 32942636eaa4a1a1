"""Refine ``backend="auto"``'s constants with ``scaleml bench`` results.

``scaleml calibrate`` measures how much of a core a fit keeps when every core is
busy (the parallel *efficiency*) with probe fits of small trees. A bench run of a
search or a forest on the bare estimator (``sklearn``: one process) and on every core
(``local:n_jobs=-1``, ``dask``) measures the same for the user's own kind of work.
The bench warms the workers before it times them, so what separates the two times is
the efficiency, the per-task cost and the data sent, the last two already calibrated:

    parallel = waves x unit / efficiency + tasks x task cost + data + the refit

with ``unit`` the sequential time over the units of work (candidate-folds or trees)
and ``waves`` the units per worker, the cost model's own terms
(:mod:`scaleml.backends.auto._cost`). Solving it for the efficiency makes the model
predict that run exactly; with several runs each constant takes the median.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from ..exceptions import ScaleMLError
from .cases import get_case
from .results import BenchRun

REFERENCE = "sklearn"
# Bench row -> (the constant it refines, the workers it ran on).
ROWS = {"local:n_jobs=-1": ("efficiency", "loky"), "dask": ("dask_efficiency", "dask")}
# Outside these, the run is not comparable with its reference (other load on the
# machine, a case whose rows are not the work the model counts): refused, not stored.
PLAUSIBLE = (0.05, 1.25)


@dataclass(frozen=True)
class Refinement:
    """One constant derived from one bench run."""

    constant: str
    value: float
    case: str
    backend: str
    results: str
    detail: str

    def describe(self) -> str:
        return f"{self.constant} {self.value:.3f} from {self.case} on {self.backend} ({self.results}): {self.detail}"


def derive(run: BenchRun, constants: Any, results: str = "(bench run)",
           notes: list[str] | None = None) -> list[Refinement]:
    """The constants ``run`` measures, one :class:`Refinement` per parallel row it can use;
    a row it cannot use (a ``dask`` row on another cluster) is said in ``notes``.

    Raises
    ------
    ScaleMLError
        Naming what the run lacks and how to get it: an interrupted run, another
        machine's, no ``sklearn`` row, no parallel row, a case that is not built in
        or has no parallel structure, a figure that makes no sense.
    """
    where = f"The bench results {results}"
    rerun = (f"Run it again with `scaleml bench --case {run.case} --backends {REFERENCE},"
             f"{','.join(ROWS)}` on this machine, then refine with that file.")
    notes = notes if notes is not None else []
    # The checks run cheapest first: the run's own record before rebuilding the case.
    _check_provenance(run, constants, where, rerun)
    rows = _parallel_rows(run, where, rerun)
    shape, X, y = _rebuild_case(run, where)
    reference = _sequential_reference(shape, X, y, statistics.median(run.times(REFERENCE)))
    found = []
    for label in rows:
        unusable = _unusable_row(run, label, constants, results)
        if unusable is not None:
            notes.append(unusable)
            continue
        found.append(_refine_row(run, label, constants, reference, results, where, rerun))
    return found


def _check_provenance(run: BenchRun, constants: Any, where: str, rerun: str) -> None:
    """Refuse a run whose record says its times are not this machine's steady ones.

    Raises
    ------
    ScaleMLError
        The run was interrupted (partial), timed its first fits with cold workers
        (``--warmup 0``), or ran on another number of cores than this process and
        the calibration have.
    """
    from ..machine import usable_cores

    if run.provenance.get("partial"):
        raise ScaleMLError(f"{where} are partial ({run.provenance['partial']}). {rerun}")
    if run.provenance.get("warmup", 1) < 1:
        raise ScaleMLError(f"{where} were taken with --warmup 0, so the timed fits include starting the workers, "
                           f"which the efficiency must not. {rerun} (keep --warmup at 1 or more)")
    machine = run.provenance.get("machine", {})
    cores = machine.get("cores_usable")
    if cores != usable_cores() or cores != constants.cores:
        raise ScaleMLError(f"{where} were measured with {cores} usable cores; this process has {usable_cores()} "
                           f"and the calibration {constants.cores} (run `scaleml calibrate` if this machine "
                           f"changed). {rerun}")


def _parallel_rows(run: BenchRun, where: str, rerun: str) -> list[str]:
    """The labels of ``ROWS`` that ``run`` timed, once it is known to have the reference row.

    Raises
    ------
    ScaleMLError
        The run has no ``sklearn`` row to compare with, or no parallel row.
    """
    if not run.times(REFERENCE):
        raise ScaleMLError(f"{where} have no {REFERENCE!r} row: the bare estimator in one process is what the "
                           f"parallel rows are compared with. {rerun}")
    rows = [label for label in ROWS if run.times(label)]
    if not rows:
        raise ScaleMLError(f"{where} have no {' or '.join(repr(r) for r in ROWS)} row, so nothing ran in "
                           f"parallel to learn from. {rerun}")
    return rows


def _rebuild_case(run: BenchRun, where: str) -> tuple[Any, Any, Any]:
    """The run's built-in case rebuilt at its scale: its parallel structure, ``X`` and ``y``.

    The units of work are counted on the case itself, not read from the results,
    so the case must be the built-in one, spread a search or forest, and its
    reference row must have run in one process.

    Raises
    ------
    ScaleMLError
        The case is not built in (or a recipe reuses a built-in name), has nothing
        to spread, or sets ``n_jobs`` so that its reference was not sequential.
    """
    from ..backends._structure import structure
    from ..planning import walk

    built_in = ("Refine with a run of a built-in search case, such as digits-forest-search or "
                "synthetic-forest-search.")
    try:
        case = get_case(run.case)
    except ScaleMLError:
        raise ScaleMLError(f"{where} are of case {run.case!r}, which is not built in: refining rebuilds the "
                           f"case to count its units of work. {built_in}") from None
    if run.case_description != case.description:
        raise ScaleMLError(f"{where} are of a case named {run.case!r} that is not the built-in one (described "
                           f"{run.case_description!r}): a recipe of the same name? {built_in}")
    X, _, y, _ = case.load(float(run.provenance.get("scale", 1.0)))
    estimator = case.make_estimator()
    shape = structure(estimator, X, y)
    if shape.kind == "serial":
        raise ScaleMLError(f"Case {run.case!r} is one fit with no search or forest to spread: its times say "
                           "nothing of parallel efficiency. Refine with a search or forest case, such as "
                           "digits-forest-search.")
    n_jobs = next(s for p, s in walk(estimator) if p == shape.path).get_params(deep=False).get("n_jobs")
    if n_jobs not in (None, 1):
        raise ScaleMLError(f"Case {run.case!r} sets n_jobs={n_jobs}, so its {REFERENCE!r} row did not run in one "
                           f"process: it cannot serve as the sequential reference. {built_in}")
    return shape, X, y


@dataclass(frozen=True)
class _Reference:
    """The case's sequential run as the cost model sees it, what each parallel row is solved against."""

    shape: Any  # the case's parallel structure (backends._structure)
    work: Any  # backends.auto._cost.Work, its unit time taken from the sequential run
    mb: float  # the data every worker needs
    sequential: float  # the median time of the reference row


def _sequential_reference(shape: Any, X: Any, y: Any, sequential: float) -> _Reference:
    """The case's units of work, each timed as its share of the sequential run (the refit counted)."""
    from ..backends.auto._cost import Work, _nbytes, refit_units

    refit_share = refit_units(shape, X.shape[0])
    unit_s = sequential / (shape.units + refit_share)
    mb = (_nbytes(X) + _nbytes(y)) / 2**20
    work = Work(shape.units, unit_s, unit_s * refit_share, int(mb * 2**20), shape.detail, "", shape.threads)
    return _Reference(shape, work, mb, sequential)


def _unusable_row(run: BenchRun, label: str, constants: Any, results: str) -> str | None:
    """Why the row ``label`` cannot refine this calibration (the note to give), or None.

    A ``dask`` row needs the calibration's Dask figures, and must have run on a
    LocalCluster of this machine's cores: ``dask_efficiency`` describes that.
    """
    if ROWS[label][1] != "dask":
        return None
    if constants.dask_task_s is None:
        return (f"{results}: the dask row is not used: this calibration has no Dask figures "
                "(run `scaleml calibrate` with Dask installed)")
    elsewhere = run.provenance.get("dask_address_from_environment", "unknown")
    if elsewhere is not None:
        return (f"{results}: the dask row is not used: it ran on "
                + ("a cluster the run does not record" if elsewhere == "unknown" else elsewhere)
                + ", not on a LocalCluster of this machine's cores, which dask_efficiency describes")
    return None


def _refine_row(run: BenchRun, label: str, constants: Any, reference: _Reference, results: str,
                where: str, rerun: str) -> Refinement:
    """The efficiency the row ``label`` measured: the cost model solved for it.

    Raises
    ------
    ScaleMLError
        The value is outside ``PLAUSIBLE``: the row is not comparable with the reference.
    """
    from ..backends.auto._cost import _spread_seconds
    from .stats import UNSTABLE_SPREAD, spread

    shape, work, mb, sequential = reference.shape, reference.work, reference.mb, reference.sequential
    constant, workers_kind = ROWS[label]
    workers = constants.cores
    if shape.threads and workers_kind == "loky":  # a forest's trees on threads: no tasks, no data sent
        task_s, send = 0.0, 0.0
    elif workers_kind == "loky":
        task_s, send = constants.loky_task_s, mb / constants.loky_mb_per_s
    else:
        task_s, send = constants.dask_task_s, mb * workers / constants.dask_mb_per_s
    compute, _ = _spread_seconds(work, workers, 1.0, 0.0)
    overhead = _spread_seconds(work, workers, 1.0, task_s)[0] - compute + send + work.serial_seconds
    measured = statistics.median(run.times(label))
    value = compute / (measured - overhead) if measured > overhead else math.inf
    if not PLAUSIBLE[0] <= value <= PLAUSIBLE[1]:
        raise ScaleMLError(
            f"{where}: {label} took {measured:.3g} s against {sequential:.3g} s in one process, an "
            f"efficiency of {value:.3g} (plausible: {PLAUSIBLE[0]}-{PLAUSIBLE[1]}). The rows are not "
            "comparable, e.g. other work loaded the machine during one of them; nothing was changed. "
            + rerun)
    unsteady = [f"{lab} spread {spread(run.times(lab)):.0%}" for lab in (REFERENCE, label)
                if spread(run.times(lab)) > UNSTABLE_SPREAD]
    return Refinement(
        constant, value, run.case, label, results,
        f"{shape.units} units of ~{work.unit_seconds * 1000:.0f} ms ({sequential:.3g} s in one process), "
        f"{measured:.3g} s over {workers} workers"
        + (f"; unstable ({', '.join(unsteady)}): more --repeat would make it surer" if unsteady else ""),
    )


def refine(constants: Any, provenance: dict[str, Any], runs: Sequence[tuple[str, BenchRun]]
           ) -> tuple[Any, dict[str, Any], list[Refinement], list[str]]:
    """``constants`` with each constant the runs measure replaced by the median of
    their values, and ``provenance`` recording what changed, from which files.

    Returns
    -------
    constants, provenance, refinements, notes
        What to save, every value derived, and the rows not used and why (for the report).
    """
    notes: list[str] = []
    unique = {str(path): run for path, run in runs}  # a file given twice counts once
    found = [r for path, run in unique.items() for r in derive(run, constants, path, notes)]
    changes: dict[str, Any] = {}
    record = []
    for name in dict.fromkeys(r.constant for r in found):
        value = statistics.median(r.value for r in found if r.constant == name)
        record.append({"constant": name, "was": getattr(constants, name), "now": value,
                       "from": [asdict(r) for r in found if r.constant == name]})
        changes[name] = value
    updated = dict(provenance)
    earlier = provenance.get("refined")
    updated["refined"] = [*(earlier if isinstance(earlier, list) else []),
                          {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "changes": record}]
    return replace(constants, **changes), updated, found, notes
