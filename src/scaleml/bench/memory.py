"""Peak resident memory of this process and every process it started."""

from __future__ import annotations

import json
import subprocess
import threading
from types import TracebackType
from typing import Any

import psutil


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants, now."""
    try:
        family = [process, *process.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0  # the sampled process has ended
    total = 0
    for proc in family:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a worker that ended between listing and reading
    return total


class PeakTreeRSS:
    """Context manager sampling the process tree's RSS in a background thread.

    Worker processes (joblib's loky, local Dask workers) are children of this
    process, so they are counted. ``pid`` samples another process's tree instead
    (a benchmark run in a subprocess). Sampling misses spikes shorter than
    ``interval``; the reading at entry and exit is always included.

    Attributes
    ----------
    peak : int
        Highest total RSS in bytes seen between entry and exit.
    """

    def __init__(self, interval: float = 0.01, pid: int | None = None) -> None:
        self.interval = interval
        self.peak = 0
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        self.peak = max(self.peak, tree_rss(self._process))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakTreeRSS:
        self._sample()
        self._thread = threading.Thread(target=self._run, name="scaleml-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()


def run_measured(command: list[str], timeout: float, interval: float = 0.05) -> tuple[dict[str, Any], str]:
    """Run a benchmark's child process, sampling its process tree's peak RSS.

    The child prints its result as a JSON object on its last line of output.
    Returns ``(result, stdout)``: ``result`` holds ``peak_rss_mb`` and
    ``exit_code``, then the child's JSON fields, or ``error`` (the last line it
    wrote to stderr) if it failed or ran past ``timeout`` seconds (then killed).
    """
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakTreeRSS(interval=interval, pid=proc.pid) as sampler:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    result: dict[str, Any] = {"peak_rss_mb": sampler.peak / 2**20, "exit_code": proc.returncode}
    if proc.returncode == 0:
        result.update(json.loads(out.strip().splitlines()[-1]))
    else:
        result["error"] = err.strip().splitlines()[-1] if err.strip() else "no output"
    return result, out


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def resident() -> tuple[int, int]:
    """This process's resident bytes now and its high-water mark since it started
    (``VmRSS``, ``VmHWM``; Linux). Unlike ``ru_maxrss``, the mark starts afresh at
    ``exec``, so a child started by a large parent does not inherit the parent's peak."""
    return _status_bytes("VmRSS"), _status_bytes("VmHWM")


def peak_growth(fit: Any) -> tuple[Any, int]:
    """Run ``fit()`` in this process and return ``(its result, peak RSS growth in bytes)``.

    The growth is the process's peak resident memory while ``fit`` ran minus its
    resident memory just before: the kernel's high-water mark (VmHWM), reset first
    (``/proc/self/clear_refs``) so that what imports touched and let go earlier does
    not count. Where the mark cannot be reset, a thread samples RSS every 5 ms
    instead (a spike shorter than that is missed). Linux only; call it in a fresh
    process, so that nothing an earlier fit freed is reused (allocators keep it).
    """
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        reset = True
    except OSError:
        reset = False
    before = _status_bytes("VmRSS")
    if reset:
        result = fit()
        return result, _status_bytes("VmHWM") - before
    peak, done = [before], threading.Event()

    def watch() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], _status_bytes("VmRSS"))

    watcher = threading.Thread(target=watch, name="scaleml-rss", daemon=True)
    watcher.start()
    try:
        result = fit()
    finally:
        done.set()
        watcher.join()
    return result, max(peak[0], _status_bytes("VmRSS")) - before
