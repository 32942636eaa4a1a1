"""Every fit a script ran, for ``scaleml exec -v``: estimator, time, and where it ran.

Unchanged code calls scikit-learn directly, so the log watches calls with
``sys.setprofile`` (only under ``-v``: it slows Python-level calls) and keeps the
calls the script's own code makes into scikit-learn that fit models: an
estimator's ``fit``/``fit_transform``/``fit_predict``, and public functions that
take ``n_jobs`` (``cross_val_score``, ``learning_curve``, ...), not the fits
nested inside them. Where each ran is settled when it returns: the work the
backend's engine saw meanwhile (Dask tasks), else the backend's plan for the
estimator (a dry run of its own ``fit``; a ``Scaled`` model's ``plan_``). Nothing
of the fit (its data, its model) is kept after that.

The log never changes what the script does: a failure of its own is written in
the report, not raised into the script.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from ._progress import begin_work
from .planning import Record, describe_estimator

_FITS = frozenset({"fit", "fit_transform", "fit_predict"})


@dataclass
class FitRecord:
    """One fit the script ran: what, how long, and where."""

    name: str
    seconds: float
    where: str


@dataclass
class _Open:
    frame: Any
    name: str
    estimator: Any  # None for a function such as cross_val_score
    X: Any
    started: float
    activity: dict[str, int]
    workers: int = 1  # joblib workers a function's n_jobs gave at its call (1 for an estimator)
    n_jobs: Any = None


class FitLog:
    """Context manager recording the outermost fits the script's code runs in this thread."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.fits: list[FitRecord] = []
        self._open: _Open | None = None

    def __enter__(self) -> FitLog:
        from sklearn.base import BaseEstimator

        self._estimator_type = BaseEstimator
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        sys.setprofile(self._previous)

    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        try:
            if event == "call" and self._open is None:
                self._open = self._fit_called_by_the_script(frame)
            elif event == "return" and self._open is not None and self._open.frame is frame:
                opened, self._open = self._open, None
                self.fits.append(self._finish(opened))
        except Exception as exc:  # noqa: BLE001 - the script must run as it does without -v
            self._open = None
            self.fits.append(FitRecord("(not logged)", 0.0, f"the fit log failed here: {type(exc).__name__}: {exc}"))

    def _fit_called_by_the_script(self, frame: Any) -> _Open | None:
        code = frame.f_code
        owner = frame.f_locals.get("self")
        if code.co_name in _FITS and isinstance(owner, self._estimator_type):
            name, estimator = _describe(owner), owner
        elif (str(frame.f_globals.get("__name__", "")).startswith("sklearn.") and not code.co_name.startswith("_")
              and "n_jobs" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]):
            inner = frame.f_locals.get("estimator")
            name = f"{code.co_name}({_describe(inner)})" if inner is not None else code.co_name
            estimator = None
        else:
            return None
        if not _called_from_main(frame):
            return None
        opened = _Open(frame, name, estimator, frame.f_locals.get("X"), time.perf_counter(), self.backend.activity())
        begin_work(opened.started)  # progress lines count this fit's tasks from its start
        if estimator is None:
            import joblib

            # Read as the call starts, under the backend's joblib configuration (local's n_jobs option,
            # in_process's sequential backend): what joblib gives the call's own n_jobs.
            opened.n_jobs = frame.f_locals.get("n_jobs")
            opened.workers = joblib.effective_n_jobs(opened.n_jobs)
        return opened

    def _finish(self, fit: _Open) -> FitRecord:
        seconds = time.perf_counter() - fit.started
        now = self.backend.activity()
        tasks = now.get("dask_tasks", 0) - fit.activity.get("dask_tasks", 0)
        calls = now.get("joblib_calls", 0) - fit.activity.get("joblib_calls", 0)
        if tasks:
            where = f"Dask: {tasks} tasks ({calls} calls) on {self.backend.cluster_description()}"
        elif fit.estimator is None and self.backend.distributed:
            where = "this process: it sent no work to the cluster"
        elif fit.estimator is None and fit.workers > 1:
            where = f"joblib, up to {fit.workers} workers (n_jobs={fit.n_jobs!r})"
        elif fit.estimator is None and fit.n_jobs in (None, 1):
            where = f"this process (n_jobs={fit.n_jobs!r} means one worker)"
        elif fit.estimator is None:  # local's in_process=True, or another sequential configuration
            where = f"this process (the backend runs joblib work sequentially here, whatever n_jobs={fit.n_jobs!r})"
        else:
            where = self._planned(fit)
        return FitRecord(fit.name, seconds, where)

    def _planned(self, fit: _Open) -> str:
        plan = getattr(fit.estimator, "plan_", None)
        if plan is None:
            plan = _dry_plan(self.backend, fit.estimator, fit.X)
        if isinstance(plan, str):
            return plan
        last = plan.steps[-1]
        if self.backend.distributed and last.route.on_cluster:
            return "this process: it sent no work to the cluster"
        return f"{last.parallelism}, {last.engine} ({last.reason})"

    def format(self, source: str) -> str:
        """The report: one line per fit, where it ran and, where it stayed here, why.

        The names' column is as wide as the longest name, up to ``_NAME_WIDTH``; a
        longer name has a line of its own and its time and place the next, aligned.
        """
        lines = [f"scaleml exec: backend {self.backend.name!r} ({source}), {len(self.fits)} "
                 f"fit{'s' if len(self.fits) != 1 else ''}"]
        width = min(max((len(fit.name) for fit in self.fits), default=0), _NAME_WIDTH)
        for number, fit in enumerate(self.fits, 1):
            rest = f"{fit.seconds:>8.2f} s  {fit.where}"
            if len(fit.name) > width:
                lines += [f"  {number:>3}  {fit.name}", f"  {'':>3}  {'':<{width}} {rest}"]
            else:
                lines.append(f"  {number:>3}  {fit.name:<{width}} {rest}")
        return "\n".join(lines) + "\n"


_NAME_WIDTH = 64  # the report's names column at most (a longer name gets a line of its own)


def _describe(estimator: Any) -> str:
    try:
        return describe_estimator(estimator)
    except Exception:  # noqa: BLE001 - an estimator whose get_params fails still has a name
        return type(estimator).__name__


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
