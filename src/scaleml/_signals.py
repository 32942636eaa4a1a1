"""SIGTERM during scaleml's work: unwind like Ctrl-C so worker processes are shut down.

With the default disposition SIGTERM (``kill``, job schedulers, container
stops) ends the process at once, and worker processes it started (joblib's
loky pool) outlive it. While a backend works, SIGTERM instead raises
``SystemExit(143)`` in the main thread: cleanup runs (``finally`` blocks,
atexit: pools and clusters closed) and the exit status is the usual 128 + 15.
A handler the application installed itself is left alone.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    print("scaleml: SIGTERM received during a fit; shutting down workers and exiting.", file=sys.stderr)
    raise SystemExit(128 + signum)


class SigtermAsExit:
    """Context manager: SIGTERM raises SystemExit(143) inside the block (main thread only)."""

    def __init__(self) -> None:
        self._previous: Any = None

    def __enter__(self) -> SigtermAsExit:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous is not None and signal.getsignal(signal.SIGTERM) is _exit_on_sigterm:
            signal.signal(signal.SIGTERM, self._previous)
        self._previous = None
