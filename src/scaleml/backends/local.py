"""The ``local`` backend: scikit-learn in this process, joblib (loky) for ``n_jobs``.

It is the oracle the other backends are tested against, so it adds nothing to what
scikit-learn does on its own: with no options it changes no setting at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from numbers import Integral
from typing import Any, ContextManager

import joblib

from .._validation import Predicate
from ..data.forms import is_dask, is_path
from ..planning import Placement, Record, Route, describe_estimator, walk
from ._base import Backend, Option
from ._journal import RESUME, around, journaling
from ._journal_joblib import InlineBackend
from ._loky_say import forwarding, register
from ._sendable import for_loky
from ._shared_prefix import SHARE_PREFIX, sharing_in_fit
from ._structure import n_jobs_ignored
from ._worker_say import OPTION_HELP

NON_ZERO_INT = Predicate(
    lambda v: isinstance(v, Integral) and not isinstance(v, bool) and v != 0,
    "a non-zero int (-1 means every core), as scikit-learn's n_jobs",
)


@contextmanager
def _n_jobs_config(n_jobs: int, workers_say: bool = True) -> Iterator[None]:
    """joblib's ``n_jobs`` for the block; loky pickling what ran sequentially (spent
    ``cv=`` generators, local classes) or naming what cannot be sent (:mod:`._sendable`);
    its first error in input order; and, unless ``workers_say`` is False, its workers'
    warnings and output told here (DESIGN.md principle 12; :mod:`._loky_say`). Without
    the n_jobs option the backend is the oracle and adds nothing, this included."""
    with for_loky(), joblib.parallel_config(n_jobs=n_jobs), forwarding(telling=workers_say):
        yield


class LocalBackend(Backend):
    """Run scikit-learn unchanged in this process.

    Options
    -------
    n_jobs : int or None
        Default number of joblib workers for every step that leaves its own
        ``n_jobs`` at None; ``-1`` uses every core. None (the default) leaves
        joblib's configuration as it is.
    in_process : bool
        Run every joblib call sequentially in this process, whatever the
        estimators' ``n_jobs`` (what ``backend="auto"`` does when starting
        workers would cost more than they save). Default False.
    workers_say : bool
        With ``n_jobs``, what the fits say in loky's worker processes (warnings,
        printed output) is said here, as a sequential run says it (default True).
        False leaves it in the workers, as joblib does (what it costs:
        docs/guide/workers-say.md).
    resume : str or path or None
        Folder of the resume journal: each finished unit of scikit-learn's searches
        and cross-validation is written there, and a rerun reads it back instead of
        fitting it again (see the guide's "Resume after a crash"). Default None.
    """

    name = "local"
    summary = "scikit-learn in this process; joblib (loky) for n_jobs"
    options = {
        "n_jobs": Option(None, "joblib workers for steps whose n_jobs is None (-1: every core)", [NON_ZERO_INT, None]),
        "in_process": Option(False, "run every joblib call in this process, whatever the estimators' n_jobs",
                             ["boolean"]),
        "workers_say": Option(True, OPTION_HELP, ["boolean"]),
        "share_prefix": SHARE_PREFIX,
        "resume": RESUME,
    }

    def engine_config(self) -> ContextManager[Any]:
        if self.options["resume"] is not None:
            return self._journaled_config()
        if self.options["in_process"]:
            return joblib.parallel_config(backend="sequential")
        n_jobs = self.options["n_jobs"]
        return nullcontext() if n_jobs is None else _n_jobs_config(n_jobs, self.options["workers_say"])

    @contextmanager
    def _journaled_config(self) -> Iterator[None]:
        """The same configuration with the journal open: joblib's one-job loop replaced by
        :class:`~._journal_joblib.InlineBackend` (same order, in this thread), loky's
        batches by the journaling ones."""
        n_jobs = self.options["n_jobs"]
        with journaling(self.options["resume"]):
            if self.options["in_process"]:
                config: ContextManager[Any] = joblib.parallel_config(backend=InlineBackend())
            else:
                register()
                config = nullcontext() if n_jobs is None else _n_jobs_config(n_jobs)
            with config:
                yield

    @contextmanager
    def _steps_n_jobs(self, estimator: Any) -> Iterator[None]:
        """Give the steps whose n_jobs is None the backend's n_jobs while they fit, then None again.

        joblib's configuration alone does not reach every step: a call that prefers
        threads (scikit-learn's forests) runs with one job unless the step's own
        n_jobs says otherwise.
        """
        n_jobs = self.options["n_jobs"]
        steps = [] if n_jobs is None or self.options["in_process"] else [
            step for _, step in walk(estimator)
            if hasattr(step, "get_params") and "n_jobs" in step.get_params(deep=False)
            and step.get_params(deep=False)["n_jobs"] is None and n_jobs_ignored(step) is None
        ]
        for step in steps:
            step.set_params(n_jobs=n_jobs)
        try:
            yield
        finally:
            for step in steps:
                step.set_params(n_jobs=None)

    def check_fit(self, estimator: Any, method: str, X: Any, fit_params: dict) -> None:
        # A path would reach scikit-learn as a string ("could not convert string to float");
        # scaleml's blocked estimators and nn's file readers take it. Dask collections are
        # left to the estimator, as plainly (a dask-ml estimator fits them).
        if is_path(X):
            self.refuse_lazy_unless_blocked(estimator, X, method)
        elif is_dask(X) and not hasattr(X, "chunks") and hasattr(type(estimator), "_run_search"):
            # A search indexes X by rows, which a Dask DataFrame cannot do (scikit-learn's
            # "'DataFrame' object has no attribute 'take'"): refused before it starts, with
            # the way forward. (A Dask array it can index: those run, as before.)
            self.refuse_lazy(X, method)

    def fitting(self, estimator: Any, method: str, X: Any, record: Record) -> ContextManager[Any]:
        sharing = sharing_in_fit(estimator, record, self.options["share_prefix"] and method == "fit", shared_disk=True)
        return around(sharing, self.options["resume"], record)

    def run(self, estimator: Any, method: str, X: Any, y: Any, record: Record, planned: list[Any],
            fit_params: dict) -> Any:
        # The estimator's own fit_transform, which some compute differently from fit + transform.
        with self.activate(), self._steps_n_jobs(estimator):
            return getattr(estimator, method)(X, y, **fit_params)

    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        with self.activate():
            return getattr(estimator, method)(X, *args, **kwargs)

    def decide(self, path: str, step: Any, data_form: str) -> Placement:
        where = "in this process on the CPU"
        route = Route.IN_PROCESS
        params = step.get_params(deep=False) if hasattr(step, "get_params") else {}
        ignored = n_jobs_ignored(step)
        if "n_jobs" not in params:
            parallelism = "1 process"
            reason = f"local backend: scikit-learn {where}; the estimator has no n_jobs"
        elif ignored:
            parallelism = "1 process"
            reason = f"local backend: scikit-learn {where}; {ignored}"
        elif self.options["in_process"]:
            parallelism = "1 process"
            reason = (f"local backend: scikit-learn {where}; in_process=True runs its joblib work sequentially "
                      f"here, whatever its n_jobs={params['n_jobs']!r}")
        else:
            requested = params["n_jobs"]
            with self.engine_config():
                workers = joblib.effective_n_jobs(requested)
            option = self.options["n_jobs"]
            source = f"n_jobs={requested!r}" if requested is not None else (
                f"n_jobs=None, backend option n_jobs={option!r}" if option is not None else "n_jobs=None"
            )
            if workers > 1:
                parallelism, route = f"joblib, up to {workers} workers", Route.JOBLIB_WORKERS
                reason = (
                    f"local backend: scikit-learn {where}; {source} lets it use up to "
                    f"{workers} joblib workers where it parallelizes"
                )
            else:
                parallelism = "1 process"
                reason = f"local backend: scikit-learn {where}; {source} means one worker (pass n_jobs=-1 to use every core)"
        return Placement(path, describe_estimator(step), "cpu", "scikit-learn", parallelism, data_form, reason, route)
