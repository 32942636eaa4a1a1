"""The ``auto`` backend: for each fit, the backend this machine runs it fastest on.

It sizes the work (:func:`~scaleml.backends._cost.size_work`: a search's candidates
x folds, a forest's trees, timed by probe fits on a subsample), predicts each
candidate's time from this machine's measured constants (``scaleml calibrate``;
conservative defaults without), and hands the fit to the fastest: ``local`` in
this process, ``local`` with every core, or ``dask``; ``dask-ml`` for lazy data,
the only backend that streams it. The plan names the backend chosen, every
candidate's prediction and why. As Lightning's ``accelerator="auto"``, it never
fails for a candidate it cannot use: it leaves it out and says why.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...engines.dask.cluster import workers_of
from ...data.forms import describe_data, is_lazy
from ...machine import usable_cores
from ...planning import Decision, Estimate, Record, walk
from .._base import Backend, Option
from .._options import ADDRESS, SECURITY
from .._structure import structure

if TYPE_CHECKING:  # the cost model and calibration load only when there is a choice to make
    from ._calibration import Constants
    from ._cost import Work

# Work predicted to take less than this in this process never starts a cluster.
NEVER_START_BELOW_S = 1.0
# Workers are used only when predicted faster than this process by this factor and
# margin: predictions near a tie flip with timing noise, and this process is simpler.
# Kept small: a margin is time given away whenever the workers really do win (at 1.15
# an SVC grid on digits stayed here, 1.2x slower than loky, predicted 7.7 vs 7.1 s).
CLEAR_WIN = 1.05
CLEAR_WIN_S = 0.05
# A forest on fewer rows than this is spread over threads untimed: timing it would
# cost a large share of the fit, and threads cost nothing to start.
THREADS_UNTIMED_BELOW_ROWS = 4000


def loky_workers_running() -> int:
    """How many of joblib's loky workers this process has running now, whoever started them.

    Read from the child processes: joblib offers no public query, and a flag set when
    auto sent work there missed workers an earlier ``n_jobs=-1`` call started (``auto``
    then counted a start-up the next fit would not pay: 0.93x in ``make demo`` where every
    core gave 1.88x), and outlived the workers (loky ends idle ones after 300 s).
    """
    import psutil

    count = 0
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return 0
    for child in children:
        try:
            count += any(part.startswith("LokyProcess") for part in child.cmdline())
        except psutil.Error:
            continue
    return count


def _self_placing(estimator: Any) -> str | None:
    for _, step in walk(estimator):
        if callable(getattr(step, "__scaleml_placement__", None)):
            return type(step).__name__
    return None


class AutoBackend(Backend):
    """Choose ``local``, ``local n_jobs=-1``, ``dask`` or ``dask-ml`` per fit, from measured costs.

    Options
    -------
    address : str or None
        A Dask scheduler ``auto`` may send work to; None: ``SCALEML_DASK_ADDRESS``,
        else Dask's own ``scheduler-address`` config, else a managed LocalCluster
        when starting one pays.
    security : distributed.Security or dict or None
        TLS for a ``tls://`` address.
    calibration : str or None
        A calibration file to read instead of the user's (``scaleml calibrate --output``).
    """

    name = "auto"
    summary = "picks local, every core, dask or dask-ml for each fit from measured costs"
    options = {
        "address": Option(None, "a Dask scheduler auto may use (None: SCALEML_DASK_ADDRESS, else Dask's scheduler-address config, else a LocalCluster when it pays)",
                          [ADDRESS, None]),
        "security": Option(None, "TLS settings for a tls:// address", [SECURITY, None]),
        "calibration": Option(None, "calibration file to read instead of the user's", [str, None]),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._delegates: dict[str, Backend] = {}
        self._constants: Constants | None = None

    def constants(self) -> Constants:
        """This machine's constants, read once per instance."""
        if self._constants is None:
            from . import _calibration

            self._constants = _calibration.load(self.options["calibration"])
        return self._constants

    def stop(self) -> None:
        delegates, self._delegates = list(self._delegates.values()), {}
        for delegate in delegates:
            delegate.stop()

    # -- deciding -----------------------------------------------------------------------------

    def decide(self, estimator: Any, X: Any, y: Any) -> Decision:
        """What backend to fit ``estimator`` on ``X, y`` with, and why (probe fits included)."""
        start = time.perf_counter()
        decision = self._decide(estimator, X, y)
        return replace(decision, decision_seconds=time.perf_counter() - start)

    def _decide(self, estimator: Any, X: Any, y: Any) -> Decision:
        def fixed(backend: str, reason: str, work: str) -> Decision:
            return Decision(backend, {}, reason, work, (), "not read: nothing to predict")

        if X is None:
            return fixed("local", "local: no data given, so the work cannot be sized; a fit on data decides again",
                         "unknown")
        if is_lazy(X):
            return fixed("dask-ml", f"dask-ml: the input is lazy ({describe_data(X)}); dask-ml is the backend "
                         "that streams it block by block", "out of core")
        placing = _self_placing(estimator)
        if placing is not None:
            return fixed("local", f"local: {placing} decides its own placement; in this process it uses every "
                         "core (PyTorch or thread parallelism), with no cluster to start", "self-placing")
        try:
            shape = structure(estimator, X, y)
            if shape.kind == "serial":
                return fixed("local", "local: one fit with no joblib work to spread runs in this process on every "
                             "backend, and here starts nothing", "one fit: no search or parallel ensemble")
            if shape.threads and X.shape[0] < THREADS_UNTIMED_BELOW_ROWS and shape.units > 1 and usable_cores() > 1:
                return Decision("local", {"n_jobs": -1}, f"local n_jobs=-1: {shape.detail} on threads, which start "
                                "at once and share the data: spreading pays without timing it (fewer than "
                                f"{THREADS_UNTIMED_BELOW_ROWS} rows)", shape.detail, (), "not read: nothing to predict")
            from ._cost import size_work

            work = size_work(estimator, X, y, shape)
        except Exception as exc:  # noqa: BLE001 - sizing is best effort; the fit itself reports real errors
            return fixed("local", f"local: sizing the work failed ({type(exc).__name__}: {exc}), so it runs as "
                         "written", "unknown")
        constants = self.constants()
        estimates = self._estimates(work, constants, self._dask_running())
        runnable = sorted((e for e in estimates if e.seconds is not None), key=lambda e: e.seconds)
        in_process_best = min(e.seconds for e in runnable if e.backend != "dask")
        if in_process_best < NEVER_START_BELOW_S:  # never start a cluster for sub-second work
            runnable = [e for e in runnable if not (e.backend == "dask" and e.starts)]
        chosen = runnable[0]
        in_process = next(e for e in runnable if e.backend == "local")
        if chosen is not in_process and in_process.seconds <= chosen.seconds * CLEAR_WIN + CLEAR_WIN_S:
            chosen = in_process  # spreading must clearly pay: near ties stay in this process
        runner_up = next((e for e in runnable if e is not chosen), None)
        backend, options = {"local": ("local", {"in_process": True}), "local n_jobs=-1": ("local", {"n_jobs": -1}),
                            "dask": ("dask", self._dask_options())}[chosen.backend]
        versus = f" vs {runner_up.backend} {runner_up.seconds:.3g} s" if runner_up else ""
        reason = f"{chosen.backend}: predicted {chosen.seconds:.3g} s{versus}: {work.summary}"
        ordered = tuple(runnable) + tuple(e for e in estimates if e not in runnable)
        return Decision(backend, options, reason, work.description, ordered, constants.source,
                        candidate=chosen.backend)

    def _dask_options(self) -> dict[str, Any]:
        return {key: self.options[key] for key in ("address", "security") if self.options[key] is not None}

    def _dask_running(self) -> Any:
        """The running client of the cluster ``dask`` would use, if this process has one open."""
        from ...engines.dask.cluster import CONNECTIONS, ClusterSpec

        key = ClusterSpec(self.options["address"], self.options["security"]).key()
        for connection in CONNECTIONS.running():
            if connection.spec.key() == key and connection.client.status == "running":
                return connection.client
        return None

    def _estimates(self, work: Work, constants: Constants, client: Any) -> list[Estimate]:
        """Each candidate's prediction; ``client``: the running cluster ``dask`` would use, or None."""
        from ._cost import predict

        if importlib.util.find_spec("distributed") is None:
            constants = replace(constants, dask_start_s=None)
        workers = None
        if client is not None:
            workers = sum(w.get("nthreads", 1) for w in workers_of(client).values()) or None
        import joblib

        # n_jobs=-1 starts joblib.cpu_count() workers, which a container's CPU quota may make fewer than the cores.
        warm = loky_workers_running() >= min(constants.cores, joblib.cpu_count())
        return predict(work, constants, loky_warm=warm, dask_workers=workers, dask_running=client is not None)

    def _delegate(self, decision: Decision) -> Backend:
        from .. import create_backend

        label = decision.label
        if label not in self._delegates:
            self._delegates[label] = create_backend(decision.backend, **decision.options)
        return self._delegates[label]

    # -- work -----------------------------------------------------------------------------------

    def fit(self, estimator: Any, X: Any, y: Any, record: Record, **fit_params: Any) -> Any:
        delegate = self._chosen(estimator, X, y, record)
        return delegate.fit(estimator, X, y, record, **fit_params)

    def fit_transform(self, estimator: Any, X: Any, y: Any, record: Record, **fit_params: Any) -> tuple[Any, Any]:
        delegate = self._chosen(estimator, X, y, record)
        return delegate.fit_transform(estimator, X, y, record, **fit_params)

    def _chosen(self, estimator: Any, X: Any, y: Any, record: Record) -> Backend:
        decision = self.decide(estimator, X, y)
        record.choose(decision)
        return self._delegate(decision)

    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        # Predictions: lazy data block by block on dask-ml, the rest in this process.
        backend = "dask-ml" if X is not None and is_lazy(X) else "local"
        delegate = self._delegate(Decision(backend, {}, "", "", (), ""))
        return delegate.call(estimator, method, X, *args, **kwargs)
