"""A managed LocalCluster in a process of its own.

Worker processes are started with multiprocessing's spawn, which imports the
main module of the process that starts them. Started from a user's script, that
is the script itself: a script without an ``if __name__ == "__main__":`` guard
would run again in every worker (and fail as "Nanny failed to start"). Started
from here, the main module is this one, so the user's script runs exactly once.

Run by :mod:`scaleml.engines.dask.cluster` as ``python -m scaleml.engines.dask._cluster_host
'<LocalCluster options as JSON>'``: it prints one JSON line (scheduler address,
dashboard link) and closes the cluster when its standard input closes, which
happens when the process that started it closes the pipe, exits or dies.

:class:`ClusterHost` is the starting side; :func:`main` the host's.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any


class ClusterHost:
    """A LocalCluster run by ``python -m scaleml.engines.dask._cluster_host`` (see there why).

    The host exits, closing its cluster, when its standard input closes: on
    :meth:`close`, and also when this process ends in any way, SIGKILL included.
    """

    START_SECONDS = 120.0  # a cold LocalCluster on a loaded 2-core machine takes ~10 s

    def __init__(self, options: Any, timeout: float, *, module: str = "scaleml.engines.dask._cluster_host",
                 args: tuple[str, ...] = (), detach: bool = False, log: Any = None,
                 what: str = "a local Dask cluster", close_seconds: float = 30.0) -> None:
        """Start ``python -m module '<options as JSON>' *args`` and read its first line.

        ``detach``: the host outlives this process (its standard input is not a pipe from
        here; it ends on SIGTERM), for ``scaleml cluster up``. ``log``: an open file for its
        standard error (default: a temporary file). A host that prints ``{"error": ...}``
        or nothing within the timeout is ended and raises ClusterConnectionError.
        """
        import subprocess
        import tempfile

        self.close_seconds = close_seconds
        self._log = log if log is not None else tempfile.TemporaryFile(mode="w+")
        # Workers import what tasks name by reference (a user's own module, say)
        # from the same paths as this process.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(options), *args],
            stdin=subprocess.DEVNULL if detach else subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, env=env,
            # Its own session: Ctrl-C in a terminal stops this process (which then closes the
            # host cleanly), not the workers mid-task with a traceback each.
            start_new_session=True,
        )
        line = self._first_line(max(timeout, self.START_SECONDS))
        try:
            started = json.loads(line)
            problem = started.get("error")
        except (ValueError, AttributeError):
            started, problem = None, None
        if started is None or problem:
            self.close()
            if not problem:
                self._log.seek(0)
                detail = self._log.read().strip().splitlines()[-1:] or ["it printed nothing"]
                problem = f"Could not start {what}: {detail[0]}"
            from ...exceptions import ClusterConnectionError

            raise ClusterConnectionError(problem) from None
        self.record = started
        self.address, self.dashboard_link = started["address"], started["dashboard"]

    def _first_line(self, seconds: float) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(seconds)
        return result[0] if result else ""

    @property
    def pid(self) -> int:
        return self._process.pid

    def close(self, timeout: float | None = None) -> None:
        """Ask the host to close its cluster and wait for it to exit (killed after ``timeout``,
        default ``close_seconds``)."""
        import subprocess

        timeout = self.close_seconds if timeout is None else timeout

        if self._process.poll() is None:
            try:
                if self._process.stdin is not None:
                    self._process.stdin.close()
                else:
                    self._process.terminate()
                self._process.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._log):
            if stream is not None and not stream.closed:
                stream.close()


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# distributed's default for every worker a Nanny starts. glibc then returns freed memory
# over 64 KiB to the system at once, and gets it back on the next allocation: numpy's
# temporaries in small fits pay for that (GaussianNB fits on digits took 2x as long,
# bench/BENCHMARKS.md). loky's workers keep glibc's own setting; so do these.
DASK_MALLOC_TRIM_THRESHOLD = 65536


def worker_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """The environment Dask sets for new workers (``distributed.nanny.pre-spawn-environ``),
    without distributed's default malloc trim threshold. Another value set in Dask's config
    is kept (65536 itself cannot be told from the default: set 65537 to keep trimming);
    a variable set in the shell that starts the cluster wins anyway (distributed's rule)."""
    environ = dict(environ)
    if str(environ.get("MALLOC_TRIM_THRESHOLD_")) == str(DASK_MALLOC_TRIM_THRESHOLD):
        del environ["MALLOC_TRIM_THRESHOLD_"]
    return environ


# distributed samples the stack of each worker's running task every 10 ms for the
# dashboard's profile page. On the managed cluster's workers that cost 4 % of a
# scikit-learn fit's time (a fold of RFE on breast_cancer: 30.3 ms against 29.1 ms with
# no sampling and 29.0 ms at 50 ms, bench/BENCHMARKS.md); every 50 ms the profile is
# still there, coarser.
DASK_PROFILE_INTERVAL = "10ms"
PROFILE_INTERVAL = "50ms"


def profile_interval(configured: Any) -> Any:
    """The workers' stack-sampling interval: 50 ms for distributed's default 10 ms, any
    other value set in Dask's config as it is."""
    return PROFILE_INTERVAL if str(configured) == DASK_PROFILE_INTERVAL else configured


def main() -> None:
    options = json.loads(sys.argv[1])
    signal.signal(signal.SIGTERM, _exit)  # close the workers on SIGTERM too
    import dask
    from distributed import LocalCluster

    key = "distributed.nanny.pre-spawn-environ"
    dask.config.set({key: worker_environ(dask.config.get(key, {}))})
    key = "distributed.worker.profile.interval"
    dask.config.set({key: profile_interval(dask.config.get(key, DASK_PROFILE_INTERVAL))})
    cluster = LocalCluster(processes=True, dashboard_address=":0", silence_logs=40, **options)
    try:
        print(json.dumps({"address": cluster.scheduler_address, "dashboard": cluster.dashboard_link}), flush=True)
        sys.stdin.read()  # until the starting process closes the pipe or dies
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close(timeout=10)


if __name__ == "__main__":
    main()
