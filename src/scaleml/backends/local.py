"""The ``local`` backend: scikit-learn in this process, joblib (loky) for ``n_jobs``.

It is the oracle the other backends are tested against, so it adds nothing to what
scikit-learn does on its own: with no options it changes no setting at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import joblib

from ._base import Backend, Option, Placement, describe_estimator, self_placement


def _check_n_jobs(value: Any) -> str | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value != 0):
        return None
    return "expected None or a non-zero integer (-1 means every core), as in scikit-learn's n_jobs"


class LocalBackend(Backend):
    """Run scikit-learn unchanged in this process.

    Options
    -------
    n_jobs : int or None
        Default number of joblib workers for every step that leaves its own
        ``n_jobs`` at None; ``-1`` uses every core. None (the default) leaves
        joblib's configuration as it is.
    """

    name = "local"
    summary = "scikit-learn in this process; joblib (loky) for n_jobs"
    options = {
        "n_jobs": Option(
            None,
            "joblib workers for steps whose n_jobs is None (-1: every core)",
            _check_n_jobs,
        )
    }

    @contextmanager
    def activate(self) -> Iterator[Backend]:
        n_jobs = self.options["n_jobs"]
        if n_jobs is None:
            yield self
            return
        with joblib.parallel_config(n_jobs=n_jobs):
            yield self

    def fit(self, estimator: Any, X: Any, y: Any = None, **fit_params: Any) -> Any:
        with self.activate():
            return estimator.fit(X, y, **fit_params)

    def place(self, step: str, estimator: Any, data_form: str, data: Any = None) -> Placement:
        own_placement = self_placement(self, step, estimator, data_form, data)
        if own_placement is not None:
            return own_placement
        where = "in this process on the CPU"
        params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
        if "n_jobs" not in params:
            parallelism = "1 process"
            reason = f"local backend: scikit-learn {where}; the estimator has no n_jobs"
        else:
            requested = params["n_jobs"]
            with self.activate():
                workers = joblib.effective_n_jobs(requested)
            source = f"n_jobs={requested!r}" if requested is not None else (
                f"n_jobs=None, backend option n_jobs={self.options['n_jobs']!r}"
                if self.options["n_jobs"] is not None
                else "n_jobs=None"
            )
            if workers > 1:
                parallelism = f"joblib, up to {workers} workers"
                reason = (
                    f"local backend: scikit-learn {where}; {source} lets it use up to "
                    f"{workers} joblib workers where it parallelizes"
                )
            else:
                parallelism = "1 process"
                reason = (
                    f"local backend: scikit-learn {where}; {source} means one worker "
                    "(pass n_jobs=-1 to use every core)"
                )
        return Placement(
            step=step,
            estimator=describe_estimator(estimator),
            device="cpu",
            engine="scikit-learn",
            parallelism=parallelism,
            data_form=data_form,
            reason=reason,
        )

