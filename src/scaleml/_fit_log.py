"""Every fit a script ran, for ``scaleml exec -v``: estimator, time, and where it ran.

Unchanged code calls scikit-learn directly, so the log watches calls with
``sys.setprofile`` (only under ``-v``: it slows Python-level calls) and keeps the
calls the script's own code makes into scikit-learn that fit models: an
estimator's ``fit``/``fit_transform``/``fit_predict``, and public functions that
take ``n_jobs`` (``cross_val_score``, ``learning_curve``, ...), not the fits
nested inside them. Where each ran comes from the backend: the work its engine
saw meanwhile (Dask tasks), else its plan for the estimator (a dry run of its
own ``fit``; a ``Scaled`` model's ``plan_``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .planning import Record, describe_estimator

_FITS = frozenset({"fit", "fit_transform", "fit_predict"})


@dataclass
class FitRecord:
    name: str
    estimator: Any  # None for a function such as cross_val_score
    X: Any
    started: float
    activity: dict[str, int]
    seconds: float = 0.0
    work: dict[str, int] = field(default_factory=dict)


class FitLog:
    """Context manager recording the outermost estimator fits run in this thread."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.fits: list[FitRecord] = []
        self._open: list[tuple[Any, FitRecord | None]] = []  # (frame, record or None when nested)

    def __enter__(self) -> FitLog:
        from sklearn.base import BaseEstimator

        self._estimator_type = BaseEstimator
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        sys.setprofile(self._previous)

    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call" and not self._open:
            record = self._fit_called_by_the_script(frame)
            if record is not None:
                self._open.append((frame, record))
        elif event == "return" and self._open and self._open[-1][0] is frame:
            _, record = self._open.pop()
            if record is not None:
                record.seconds = time.perf_counter() - record.started
                now = self.backend.activity()
                record.work = {key: now.get(key, 0) - record.activity.get(key, 0) for key in now}
                self.fits.append(record)

    def _fit_called_by_the_script(self, frame: Any) -> FitRecord | None:
        code = frame.f_code
        owner = frame.f_locals.get("self")
        if code.co_name in _FITS and isinstance(owner, self._estimator_type):
            name, estimator = describe_estimator(owner), owner
        elif (str(frame.f_globals.get("__name__", "")).startswith("sklearn.") and not code.co_name.startswith("_")
              and "n_jobs" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]):
            inner = frame.f_locals.get("estimator")
            name = f"{code.co_name}({describe_estimator(inner)})" if inner is not None else code.co_name
            estimator = None
        else:
            return None
        if not _called_from_main(frame):
            return None
        return FitRecord(name, estimator, frame.f_locals.get("X"), time.perf_counter(), self.backend.activity())

    def format(self, backend: Any, source: str) -> str:
        """The report: one line per fit, where it ran and, where it stayed here, why."""
        lines = [f"scaleml exec: backend {backend.name!r} ({source}), {len(self.fits)} "
                 f"fit{'s' if len(self.fits) != 1 else ''}"]
        for number, fit in enumerate(self.fits, 1):
            lines.append(f"  {number:>3}  {fit.name:<44} {fit.seconds:>8.2f} s  {self._where(backend, fit)}")
        return "\n".join(lines) + "\n"

    def _where(self, backend: Any, fit: FitRecord) -> str:
        if fit.work.get("dask_tasks"):
            return (f"Dask: {fit.work['dask_tasks']} tasks ({fit.work.get('joblib_calls', 0)} calls) on "
                    f"{backend.cluster_description()}")
        if fit.estimator is None:
            return "this process" + (": it sent no work to the cluster" if backend.distributed else "")
        plan = getattr(fit.estimator, "plan_", None)
        if plan is None:
            plan = _dry_plan(backend, fit.estimator, fit.X)
        if isinstance(plan, str):
            return plan
        last = plan.steps[-1]
        if backend.distributed and last.parallelism.startswith("Dask"):
            return "this process: it sent no work to the cluster"
        return f"{last.parallelism}, {last.engine} ({last.reason})"


def _called_from_main(frame: Any) -> bool:
    """Whether the script's own code made this call (through scikit-learn's decorators)."""
    caller = frame.f_back
    while caller is not None and str(caller.f_globals.get("__name__", "")).startswith("sklearn."):
        caller = caller.f_back
    return caller is not None and caller.f_globals.get("__name__") == "__main__"


def _dry_plan(backend: Any, estimator: Any, X: Any) -> Any:
    from sklearn.base import clone

    record = Record(dry_run=True)
    try:
        backend.fit(clone(estimator, safe=False), X, None, record)
    except Exception as exc:  # noqa: BLE001 - a report line must not fail the script
        return f"(no plan: {exc})"
    return record.plan(backend, "context", X)

