"""Progress of long work: how many tasks are done of those sent, and for how long.

Shown on stderr always with ``verbose``; otherwise only on a terminal, and only
once the work has run a few seconds, so short fits and logs stay quiet.

One piece of work (a fit) is one count and one clock: joblib sends its tasks in
bursts (a search's candidates, then the refit's trees), and a burst that follows
the last one within ``same_work_within`` seconds adds to its total and keeps its
clock (``1/4 ... 16/16 ... 17/18 tasks done, 2.6 s``, the total growing as more is
sent). Work that starts after a longer pause, or after :func:`begin_work` says a
new fit began (``scaleml exec -v``'s fit log knows where the script's fits begin),
starts again from ``0/n``, its clock from the fit's start.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO


_WORK = {"generation": 0, "started": 0.0}  # the latest fit begun, and when (time.perf_counter)
_WORK_LOCK = threading.Lock()


def begin_work(now: float | None = None) -> None:
    """A new fit begins (in any thread): the next task sent starts a new count, timed from now."""
    with _WORK_LOCK:
        _WORK["generation"] += 1
        _WORK["started"] = time.perf_counter() if now is None else now


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
    same_work_within : float
        Tasks sent this soon after all those before were done continue the same work
        (its count and clock); after a longer pause, new work starts its own.
    clock : callable
        Seconds, as ``time.perf_counter`` (tests pass their own).
    """

    def __init__(self, what: str = "tasks", verbose: bool = False, stream: TextIO | None = None,
                 quiet_seconds: float = 5.0, every: float = 2.0, same_work_within: float = 1.0,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = verbose or self.tty
        self.quiet_seconds = 0.0 if verbose else quiet_seconds
        self.every = every
        self.same_work_within = same_work_within
        self.clock = clock
        self.sent = self.done = 0
        self._start = clock()
        self._last = -every
        self._idle_since: float | None = None  # when the last burst ended; None before any work
        self._generation = _WORK["generation"]  # the fit (begin_work) this count belongs to
        self._printed = False
        self._lock = threading.Lock()

    def add_sent(self, n: int = 1) -> None:
        with self._lock:
            now = self.clock()
            with _WORK_LOCK:
                generation, fit_started = _WORK["generation"], _WORK["started"]
            new_fit, self._generation = generation != self._generation, generation
            if self.sent == self.done and (new_fit or self._idle_since is None
                                           or now - self._idle_since > self.same_work_within):
                # New work (a block kept open runs many fits): its own count and clock.
                self.sent = self.done = 0
                self._start, self._last = (fit_started if new_fit else now), -self.every
            self.sent += n

    def add_done(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self.done == self.sent:
                self._idle_since = self.clock()
            if self.done == self.sent and self._printed:
                # All sent is done (more may follow): end the line, so output after it is clean.
                self._maybe_print(final=True)
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
        elapsed = self.clock() - self._start
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
