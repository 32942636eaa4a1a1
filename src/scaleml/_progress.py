"""Progress of long work: how many tasks are done of those sent, and for how long.

Shown on stderr always with ``verbose``; otherwise only on a terminal, and only
once the work has run a few seconds, so short fits and logs stay quiet.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """Counts work sent and done; prints ``scaleml: 12/36 tasks done, 4.1 s`` now and then.

    Parameters
    ----------
    what : str
        What is counted (``"tasks"``, ``"candidates"``).
    verbose : bool
        Print whatever the stream is, from the first update.
    stream : file, optional
        Where to print (stderr).
    quiet_seconds : float
        Without ``verbose``, nothing is printed before the work has run this long.
    every : float
        Seconds between two printed updates.
    """

    def __init__(self, what: str = "tasks", verbose: bool = False, stream: TextIO | None = None,
                 quiet_seconds: float = 5.0, every: float = 2.0) -> None:
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = verbose or self.tty
        self.quiet_seconds = 0.0 if verbose else quiet_seconds
        self.every = every
        self.sent = self.done = 0
        self._start = time.perf_counter()
        self._last = -every
        self._printed = False
        self._lock = threading.Lock()

    def add_sent(self, n: int = 1) -> None:
        with self._lock:
            if self.sent == self.done:  # a new burst of work (a long block runs many): its own clock
                self._start, self._last = time.perf_counter(), -self.every
            self.sent += n

    def add_done(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self.done == self.sent and self._printed:
                self._maybe_print(final=True)  # the burst is over: end the line, so output after it is clean
                self._printed = False
            else:
                self._maybe_print(final=False)

    def close(self) -> None:
        """The last line (when anything was printed and not yet ended)."""
        with self._lock:
            if self._printed:
                self._maybe_print(final=True)
                self._printed = False

    def _maybe_print(self, final: bool) -> None:
        elapsed = time.perf_counter() - self._start
        if not self.enabled or (not final and (elapsed < self.quiet_seconds or elapsed - self._last < self.every)):
            return
        self._last = elapsed
        line = f"scaleml: {self.done}/{self.sent} {self.what} done, {elapsed:.1f} s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._printed = True
