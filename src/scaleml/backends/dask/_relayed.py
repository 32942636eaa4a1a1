"""The worker's side of the relay for scikit-learn's callbacks (see :mod:`._relay`).

On a Dask worker, before a task's batches are unpickled (:func:`relay_here`), each of the
caller's callback sockets that does not exist on this host gets a UNIX listener at that
exact path, piping every connection to the caller's relay. One set per worker process and
relay, closed (listeners, files, folders made) when the relay's control connection ends.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import warnings
from typing import Any

from ...exceptions import CallbackRelayWarning
from ._relay import CHUNK, CONNECT_SECONDS, CONTROL, PIPE, Ticket, _accepting, _close_listening, _splice


class _Relayed:
    """A worker process's listeners for one relay (see the module's docstring)."""

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.paths: set[str] = set()  # bound here by this relay
        self.listeners: list[socket.socket] = []
        self.folders: list[str] = []  # made here, removed when empty
        self.problem: str | None = None  # to warn, once
        self.client = None  # set: connections go through Dask (the TCP relay is out of reach)
        self.usable = True  # False: no way to the caller at all
        direct = None
        if ticket.host:
            try:
                self.control = self._connect(CONTROL)
                threading.Thread(target=self._watch, daemon=True, name="scaleml-callback-relay-control").start()
                return
            except OSError as exc:
                direct = exc
        try:
            import distributed

            self.client = distributed.get_client()  # this worker's: it reaches the scheduler
        except Exception as exc:  # noqa: BLE001 - no way at all: said, and the fit goes on
            self.problem = _unreachable(ticket, direct or exc, through_dask=exc)
            self.usable = False
            return
        if direct is not None:
            self.problem = _unreachable(ticket, direct)
        threading.Thread(target=self._wait_for_end, daemon=True, name="scaleml-callback-tunnel-end").start()

    def _wait_for_end(self) -> None:
        from ._tunnel import wait_for_end

        wait_for_end(self.client, self.ticket.token)
        self._ended()

    def _connect(self, kind: bytes, path: str = "") -> socket.socket:
        conn = socket.create_connection((self.ticket.host, self.ticket.port), timeout=CONNECT_SECONDS)
        header = self.ticket.token + kind
        if kind == PIPE:
            name = os.fsencode(path)
            header += struct.pack("!H", len(name)) + name
        conn.sendall(header)
        conn.settimeout(None)
        return conn

    def _watch(self) -> None:
        """The relay's end (the block ended there, or that process is gone) closes this set."""
        try:
            while self.control.recv(CHUNK):
                pass
        except OSError:
            pass
        self._ended()

    def _ended(self) -> None:
        with _LOCK:
            if _HERE.get(self.ticket.token) is self:
                del _HERE[self.ticket.token]
        self.close()

    def bind(self, path: str) -> None:
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            os.makedirs(folder, mode=0o700)
            self.folders.append(folder)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(128)
        self.paths.add(path)
        self.listeners.append(listener)
        _accepting(listener, lambda conn: self._pipe(conn, path), "scaleml-callback-relay")

    def _pipe(self, conn: socket.socket, path: str) -> None:
        if self.client is not None:
            from ._tunnel import tunnel

            try:
                tunnel(self.client, self.ticket.token, conn, path)
            except Exception:  # noqa: BLE001 - the cluster went away meanwhile: as below
                conn.close()
            return
        try:
            relay = self._connect(PIPE, path)
        except OSError:
            conn.close()  # the relay went away meanwhile: this callback's message is lost, as without it
            return
        _splice(conn, relay)

    def close(self) -> None:
        for listener in self.listeners:
            _close_listening(listener)
        for path in self.paths:
            try:
                os.unlink(path)
            except OSError:
                pass
        for folder in reversed(self.folders):
            try:
                os.rmdir(folder)
            except OSError:  # not empty: something else lives there now
                pass
        self.listeners, self.paths, self.folders = [], set(), []


def _unreachable(ticket: Ticket, exc: BaseException, through_dask: BaseException | None = None) -> str:
    where = f"the Dask worker on {socket.gethostname()}"
    direct = (f"cannot reach the calling process's callback relay at {ticket.host}:{ticket.port} ({exc})"
              if ticket.host else f"has no direct way to the calling process ({exc})")
    if through_dask is None:
        return (
            f"scikit-learn's callbacks on {where} {direct}; they report through the Dask scheduler instead, a round "
            "trip or two per message. For the direct way, let the workers reach the caller on that address and port "
            "(a firewall, NAT), or set the dask backend's callback_address= to an address and port of the caller "
            "they can reach."
        )
    return (
        f"scikit-learn's callbacks on {where} cannot report to the calling process: it {direct}, nor through the "
        f"Dask scheduler ({through_dask}). The fit goes on; what those callbacks record or show is lost (a "
        "ScoringMonitor's log lacks that worker's fits; a ProgressBar's fits there fail as they would plainly). Set "
        "the dask backend's callback_address= to an address and port of the caller the workers can reach."
    )


_LOCK = threading.Lock()
_HERE: dict[bytes, _Relayed] = {}  # this worker process's listeners, by relay token


def relay_here(ticket: Ticket | None) -> str | None:
    """On a worker: listeners for the ticket's sockets missing here (see the module's docstring).

    Returns what to warn, once per worker process and relay, when the relay cannot be
    reached directly (then the connections go through Dask) or at all; None otherwise
    (also when every path exists here: the same host, or a shared ``/tmp``, where
    scikit-learn's own sockets are reached directly). Never raises: a fit must not fail
    for its callbacks' sake.
    """
    if ticket is None:
        return None
    try:
        return _relay_here(ticket)
    except Exception as exc:  # noqa: BLE001 - said, and the fit goes on
        return (f"scikit-learn's callbacks on the Dask worker on {socket.gethostname()} cannot report to the "
                f"calling process: its relay could not be set up there ({type(exc).__name__}: {exc}).")


def _relay_here(ticket: Ticket) -> str | None:
    with _LOCK:
        relayed = _HERE.get(ticket.token)
        missing = [p for p in ticket.paths if (relayed is None or p not in relayed.paths) and not os.path.exists(p)]
        if not missing:
            return None
        said = None
        if relayed is None:
            relayed = _HERE[ticket.token] = _Relayed(ticket)
            said = relayed.problem  # once per worker process and relay
        if relayed.usable:
            for path in missing:
                try:
                    relayed.bind(path)
                except OSError:  # made by another worker process on this host meanwhile: theirs serves it
                    continue
    return said


def say_unrelayed(problem: str | None) -> None:
    """Warn, inside a batch (so that the warning reaches the caller), what :func:`relay_here` found."""
    if problem:
        warnings.warn(problem, CallbackRelayWarning, stacklevel=2)


_ONE_AT_A_TIME = threading.Lock()


def one_at_a_time(ticket: Ticket | None) -> Any:
    """Where a task's batches run: alone among this process's batches that report to
    scikit-learn's callbacks, when it carries a ticket (else anywhere).

    scikit-learn keeps one connection per worker process and listener and shares it among
    the process's threads; two threads sending at once read each other's
    acknowledgements (``UnpicklingError``, ``EOFError``: a ProgressBar's fits fail), on
    any Dask worker with several threads, on this host or another.
    """
    return _ONE_AT_A_TIME if ticket is not None else contextlib.nullcontext()
