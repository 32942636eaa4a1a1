"""Run a case on several backends, interleaving repeats (A B, B A, B A, A B, ...: see :mod:`.order`)."""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from .. import machine
from ..backends import create_backend, normalize_name, parse_options
from ..data.forms import is_path
from ..engines.dask.cluster import ClusterSpec
from ..exceptions import InvalidParameterError, ScaleMLError, UnknownBackendError
from .cases import Case
from .memory import run_measured
from .order import balanced
from .results import BenchRun, Measurement

# The bare scikit-learn estimator, not wrapped by scaleml: the floor every backend
# is compared with.
BARE = "sklearn"


def _loky_peer() -> Any:
    import joblib

    return joblib.parallel_config(backend="loky", n_jobs=-1)


@contextmanager
def _joblib_dask_peer() -> Iterator[None]:
    import joblib

    # The same managed LocalCluster scaleml's dask backend uses: only the way the
    # work is sent to it differs.
    with create_backend("dask") as dask_backend, joblib.parallel_config(backend="dask", client=dask_backend.cluster()):
        yield


# Peers: the bare estimator run under what a user would otherwise use, without
# scaleml. Name -> (description, context factory, modules it needs).
PEERS: dict[str, tuple[str, Callable[[], Any], tuple[str, ...]]] = {
    BARE: ("the bare estimator, as scikit-learn runs it", nullcontext, ()),
    "loky": ("joblib.parallel_config(backend='loky', n_jobs=-1)", _loky_peer, ()),
    "joblib-dask": (
        "joblib.parallel_config(backend='dask') on scaleml's local cluster",
        _joblib_dask_peer,
        ("dask", "distributed"),
    ),
}


@dataclass(frozen=True)
class BackendSpec:
    """A backend to benchmark: a registry name (or a peer, see PEERS) and its options.

    Written on the command line as ``name`` or ``name:key=value:key=value``,
    e.g. ``local:n_jobs=-1``.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ":".join([self.name, *(f"{k}={v}" for k, v in self.options.items())])

    @classmethod
    def parse(cls, text: str) -> BackendSpec:
        # Split at a colon only where a key= follows, so values may hold colons
        # (dask:address=tcp://scheduler:8786:timeout=5).
        name, *pairs = re.split(r":(?=[A-Za-z_][A-Za-z0-9_]*=)", text.strip())
        if ":" in name:
            name, _, rest = name.partition(":")
            pairs.insert(0, rest)
        try:
            options = parse_options(pairs)
        except ScaleMLError as exc:
            raise ScaleMLError(f"Bad backend spec {text!r}: {exc} Write name or name:key=value[:key=value].") from None
        return cls(name if name in PEERS else normalize_name(name), options)


def _check(spec: BackendSpec) -> str | None:
    """Why ``spec`` cannot run here, or None. A name that is no backend at all is an
    error (raised: a typo must not quietly change what is compared)."""
    if spec.name in PEERS:
        if spec.options:
            raise ScaleMLError(f"The peer {spec.name!r} takes no options; write it as {spec.name}.")
        missing = [m for m in PEERS[spec.name][2] if importlib.util.find_spec(m) is None]
        return f"{', '.join(missing)} not installed" if missing else None
    try:
        create_backend(spec.name, **spec.options)  # validates; connects to nothing yet
    except (UnknownBackendError, InvalidParameterError):
        raise
    except (ScaleMLError, ImportError) as exc:
        return str(exc)
    return None


def _wrap(spec: BackendSpec, estimator: Any) -> tuple[Any, Any]:
    """The model to fit and the context to fit it in."""
    if spec.name in PEERS:
        return estimator, PEERS[spec.name][1]()
    from ..scaled import Scaled

    return Scaled(estimator, backend=spec.name, **spec.options), nullcontext()


def reads_files(spec: BackendSpec) -> bool:
    """Whether ``spec`` takes Parquet/CSV paths as they are (an out-of-core backend)."""
    if spec.name in PEERS:
        return False
    return create_backend(spec.name, **spec.options).out_of_core  # a profile resolved to its backend


def data_for(spec: BackendSpec, data: tuple, frames: dict) -> tuple:
    """``data`` in the form ``spec`` takes: files stay paths for a backend that reads them
    out of core; every other row (scikit-learn itself, local, dask, ...) gets them as
    pandas DataFrames, read once into ``frames`` and shared by those rows."""
    if not is_path(data[0]) or reads_files(spec):
        return data
    return read_into_memory(data, frames)


def read_into_memory(data: tuple, frames: dict | None = None) -> tuple:
    """Files and target column names ``(X_train, X_test, y_train, y_test)`` read into pandas
    (features, target) pairs, once: kept in ``frames`` for the next caller."""
    frames = {} if frames is None else frames
    X_train, X_test, y_train, y_test = data
    if not frames:
        from ..data.files import read_frame

        for key, path, target in (("train", X_train, y_train), ("test", X_test, y_test)):
            frame = read_frame(path)
            target_column = frame.pop(target)  # no copy of the features
            frames[key] = (frame, target_column)
    (X_fit, y_fit), (X_score, y_score) = frames["train"], frames["test"]
    return X_fit, X_score, y_fit, y_score


def failure_line(exc: BaseException) -> str:
    """``failed: Type: <the message's first non-empty line>`` (some messages start with a blank line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"failed: {type(exc).__name__}" + (f": {lines[0]}" if lines else "")


def measure_once(case: Case, spec: BackendSpec, data: tuple, repeat: int, frames: dict | None = None) -> Measurement:
    """Fit and score a fresh estimator once on ``spec``; time the fit."""
    X_train, X_test, y_train, y_test = data_for(spec, data, {} if frames is None else frames)
    model, context = _wrap(spec, case.make_estimator())
    with context:
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        score = case.score(model, X_test, y_test)
        score_s = time.perf_counter() - start
    return Measurement(backend=spec.label, repeat=repeat, fit_s=fit_s, score_s=score_s, score=score, peak_rss_mb=None)


def measure_memory(case: Case, spec: BackendSpec, scale: float) -> float | None:
    """Peak RSS (MB) of one fit of ``spec`` in a process of its own and everything it starts.

    Measured apart from the timed repeats so that no row carries another's
    worker pools, clusters or imported engines. None when the case cannot be
    rebuilt in another process (a case made in code, without ``origin``).
    """
    import json

    if not case.origin:
        return None
    command = [sys.executable, "-m", "scaleml", "bench-memory", json.dumps(list(case.origin)), spec.label,
               "--scale", str(scale)]
    result, _ = run_measured(command, timeout=3600)
    return result["peak_rss_mb"] if result["exit_code"] == 0 else None


def same_work_as_local(case: Case, spec: BackendSpec, X: Any, y: Any = None) -> bool:
    """Whether ``spec`` places every step as ``local`` does (the plan's dry run on ``X, y``:
    ``auto`` sizes the work on both): then a timing difference is noise, not the backend."""
    if spec.name in PEERS or spec.name == "local":
        return False
    from ..scaled import explain

    def work(plan: Any) -> list[tuple[str, Any]]:
        return [(step.device, step.route) for step in plan]

    try:
        return work(explain(case.make_estimator(), backend=spec.name, X=X, y=y, **spec.options)) == \
            work(explain(case.make_estimator(), backend="local", X=X, y=y))
    except Exception:  # noqa: BLE001 - a note, not a measurement: never fail the run for it
        return False


def run_bench(
    case: Case,
    specs: Sequence[BackendSpec],
    repeat: int = 3,
    warmup: int = 1,
    scale: float = 1.0,
    memory: bool = True,
    progress: Callable[[str], None] | None = None,
    command: str | None = None,
) -> BenchRun:
    """Benchmark ``case`` on each backend in ``specs``.

    Each backend first runs ``warmup`` untimed fits (worker pools start, caches
    fill); then the timed repeats go round the backends in turn, so drifts in the
    machine's state (heat, other load) touch every backend alike, in an order that
    changes from round to round (:func:`.order.balanced`), so no backend always runs
    right after the same neighbour.

    Returns
    -------
    BenchRun
        Every repeat, the skipped backends with their reasons, and provenance.
    """
    _check_settings(specs, repeat, warmup)
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    run = BenchRun(case.name, case.description, case.metric, [spec.label for spec in specs])
    runnable = _runnable(run, specs, say)
    run.provenance = _provenance(specs, command, repeat, warmup, scale, memory)
    data, frames = case.load(scale), {}
    try:
        _rounds(run, case, runnable, data, frames, warmup, repeat, say)
        # Judged after the rounds, in the state the timed fits ran in: auto decides each fit
        # afresh, and loky workers that the other rows started change its choice.
        for spec in runnable:
            X_fit, _, y_fit, _ = data_for(spec, data, frames)
            if same_work_as_local(case, spec, X_fit, y_fit):
                run.notes[spec.label] = "same work as local"
        if memory:
            _measure_memories(run, case, runnable, scale, say)
    except KeyboardInterrupt:
        # Ctrl-C keeps what was measured: the run is returned, marked partial, to be written.
        kept = len(run.measurements)
        run.provenance["partial"] = f"interrupted after {kept} timed fit{'s' if kept != 1 else ''}"
        say(f"interrupted: keeping the {kept} timed fits finished so far (marked partial)")
    return run


def _check_settings(specs: Sequence[BackendSpec], repeat: int, warmup: int) -> None:
    """Refuse settings that make no run: no timed repeat, negative warm-ups, a backend listed twice."""
    if repeat < 1:
        raise ScaleMLError(f"repeat must be at least 1, got {repeat}.")
    if warmup < 0:
        raise ScaleMLError(f"warmup must be 0 or more, got {warmup}.")
    labels = [spec.label for spec in specs]
    if len(set(labels)) != len(labels):
        raise ScaleMLError(f"A backend is listed twice in {', '.join(labels)}; list each once.")


def _runnable(run: BenchRun, specs: Sequence[BackendSpec], say: Callable[[str], None]) -> list[BackendSpec]:
    """The specs that can run here; each other one is recorded in ``run.skipped`` with its reason, and said.

    Raises
    ------
    ScaleMLError
        A name that is no backend at all, or a peer given options (see :func:`_check`).
    """
    runnable = []
    for spec in specs:
        reason = _check(spec)
        if reason:
            run.skipped[spec.label] = reason
            say(f"skip {spec.label}: {reason}")
        else:
            runnable.append(spec)
    return runnable


def _provenance(specs: Sequence[BackendSpec], command: str | None, repeat: int, warmup: int, scale: float,
                memory: bool) -> dict[str, Any]:
    """The run's provenance: the machine, the command and settings, and where the peers and a ``dask`` row ran."""
    return {
        **machine.provenance(command),
        "repeat": repeat,
        "warmup": warmup,
        "scale": scale,
        "memory_sampled": memory,
        "peers": {s.label: PEERS[s.name][0] for s in specs if s.name in PEERS},
        # Where a `dask` row without address= ran: a cluster named by the environment, or
        # (None) a LocalCluster scaleml started with a worker per core.
        "dask_address_from_environment": ClusterSpec().resolved_address,
    }


def _measure_memories(run: BenchRun, case: Case, runnable: list[BackendSpec], scale: float,
                      say: Callable[[str], None]) -> None:
    """Each runnable backend's peak RSS into ``run.memory`` (one fit each, in a process of its own)."""
    for spec in runnable:
        say(f"memory: {spec.label}, one fit in a process of its own")
        peak = measure_memory(case, spec, scale)
        if peak is not None:
            run.memory[spec.label] = peak


def _rounds(run: BenchRun, case: Case, runnable: list[BackendSpec], data: tuple, frames: dict, warmup: int,
            repeat: int, say: Callable[[str], None]) -> None:
    total = len(runnable) * (warmup + repeat)
    done = 0
    for round_ in range(warmup + repeat):
        timed = round_ >= warmup
        for spec in balanced(runnable, max(round_ - warmup, 0)):
            done += 1
            try:
                m = measure_once(case, spec, data, round_ - warmup, frames)
            except Exception as exc:  # noqa: BLE001 - one backend failing must not lose the others
                reason = failure_line(exc)
                run.skipped[spec.label] = reason
                run.measurements = [m for m in run.measurements if m.backend != spec.label]
                runnable.remove(spec)
                say(f"[{done}/{total}] {spec.label:<20} {reason}")
                continue
            kind = f"repeat {m.repeat + 1}/{repeat}" if timed else "warm-up"
            say(f"[{done}/{total}] {spec.label:<20} {kind:<12} fit {m.fit_s:7.3f} s  {case.metric} {m.score:.4f}")
            if timed:
                run.measurements.append(m)
