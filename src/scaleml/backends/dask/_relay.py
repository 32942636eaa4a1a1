"""scikit-learn's callbacks report from Dask workers on other hosts, through a relay.

``sklearn.callback``'s worker copies (``ProgressBar``, ``ScoringMonitor``) send their
messages to the calling process with ``multiprocessing.connection`` over a UNIX socket in
that process's multiprocessing temp dir (``multiprocessing.util.get_temp_dir()``). A
worker on another host has no such path: ``ProgressBar`` fails the fit, ``ScoringMonitor``
loses what the workers scored. So, with public APIs only:

- here (:class:`Relaying`, :class:`CallbackRelay`), while a block sends tasks and this process has such
  sockets, a TCP relay listens on this machine's address as the workers reach it (the
  local address of the route to the scheduler, or the ``callback_address`` option); each
  task carries a :class:`Ticket`: the relay's address, a random token, and the paths of
  the sockets (a short list). A connection that gives the token and one of those paths
  (a socket directly inside the temp dir, nothing else) is piped, bytes both ways, to it.
- on a worker (:func:`._relayed.relay_here`, before the task's batches are unpickled: a
  ``ScoringMonitor`` probes its listener as it is rebuilt), each path that does not exist
  there (it does on this host, or where ``/tmp`` is shared: skipped) gets a UNIX listener
  at that exact path, piping each connection to the relay. One set per worker process
  and relay, kept while the relay's control connection lasts: when the block ends here,
  the worker's listeners close and its files go; connections already made stay (scikit-learn
  keeps one per worker process and listener, and reuses it in later fits).

multiprocessing's authkey handshake runs end to end, so the relay grants nothing to
whoever lacks the key; the token keeps strangers from reaching the sockets at all.
A worker that cannot reach the relay (a firewall, NAT) says so once
(:class:`~scaleml.exceptions.CallbackRelayWarning`, replayed here as the batch's own
warning) and carries its connections through the Dask scheduler instead
(:mod:`._tunnel`); on a cluster reached over TLS that is the only way unless
``callback_address`` is given (the relay is plain TCP).
"""

from __future__ import annotations

import hmac
import os
import socket
import stat
import struct
import sys
import threading
import warnings
import weakref
from typing import Any, NamedTuple

from ...exceptions import CallbackRelayWarning, ClusterConnectionError

TOKEN_BYTES = 32
CONTROL, PIPE = b"C", b"P"
CONNECT_SECONDS = 5.0  # to reach the relay; a firewall that drops packets costs this once per worker
HEADER_SECONDS = 10.0  # for a peer to say who it is and what it wants
CHUNK = 1 << 16
LISTENER_NAME = b"ListenerHandle"


class Ticket(NamedTuple):
    """What a task carries for its worker to relay: where, the token, which sockets."""

    host: str
    port: int
    token: bytes
    paths: tuple[str, ...]


def sockets_in(folder: str) -> tuple[str, ...]:
    """The UNIX sockets directly inside ``folder`` (this process's multiprocessing temp dir)."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return ()
    for entry in entries:
        try:
            if stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode):
                found.append(entry.path)
        except OSError:  # gone meanwhile (a listener closed)
            continue
    return tuple(sorted(found))


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways between ``a`` and ``b`` until both sides have finished; close both."""
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(CHUNK):
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)  # the far side sees the end, as it would plainly
        except OSError:
            pass

    other = threading.Thread(target=copy, args=(b, a), daemon=True, name="scaleml-callback-pipe")
    other.start()
    copy(a, b)
    other.join()
    a.close()
    b.close()


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed before its header")
        data += chunk
    return data


def _close_listening(sock: socket.socket) -> None:
    """Close a listening socket, waking the thread blocked in its accept() (Linux: shutdown)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _accepting(sock: socket.socket, serve: Any, name: str) -> None:
    """Serve each connection ``sock`` accepts in a thread of its own, until ``sock`` closes."""
    def loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True, name=name).start()

    threading.Thread(target=loop, daemon=True, name=f"{name}-accept").start()


class CallbackRelay:
    """This process's relay for one block: a TCP listener on ``host:port`` (0: any free
    port; no ``host``: none) and its way through Dask (:class:`._tunnel.TunnelEnd`).

    Parameters
    ----------
    host : str or None
        An address of this machine the workers reach; None: through Dask only.
    port : int
        0 picks a free (ephemeral) port.
    folder : str
        The multiprocessing temp dir whose sockets may be reached.
    client : distributed.Client or None
        The block's client, for the way through Dask (None: none).
    """

    def __init__(self, host: str | None, port: int, folder: str, client: Any = None) -> None:
        from ._tunnel import TunnelEnd

        self.folder = folder
        self.token = os.urandom(TOKEN_BYTES)
        self._sock = None
        self.host, self.port = "", 0
        if host:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self._sock = socket.create_server((host, port), family=family, backlog=128)
            self.host, self.port = host, self._sock.getsockname()[1]
        self._controls: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._tunnel = TunnelEnd(client, self.token, self._socket) if client is not None else None
        if self._sock is not None:
            _accepting(self._sock, self._serve, "scaleml-callback-relay")

    def ticket(self, paths: tuple[str, ...]) -> Ticket:
        return Ticket(self.host, self.port, self.token, paths)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(HEADER_SECONDS)
            token = _read_exactly(conn, TOKEN_BYTES)
            kind = _read_exactly(conn, 1)
            if not hmac.compare_digest(token, self.token):
                raise PermissionError("wrong token")
            if kind == CONTROL:
                with self._lock:
                    if not self._closed:
                        self._controls.append(conn)  # held open: its end tells the worker the block ended
                        return
                raise ConnectionError("closed")
            (size,) = struct.unpack("!H", _read_exactly(conn, 2))
            target = self._socket(os.fsdecode(_read_exactly(conn, size)))
            conn.settimeout(None)
        except (OSError, ValueError):
            conn.close()
            return
        _splice(conn, target)

    def _socket(self, path: str) -> socket.socket:
        """A connection to ``path``, which must be a socket directly inside this process's temp dir."""
        if os.path.dirname(path) != self.folder or not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise PermissionError(f"{path!r} is not a socket of this process")
        target = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            target.connect(path)
        except OSError:
            target.close()
            raise
        return target

    def close(self) -> None:
        """Stop accepting and end the control connections (the workers then close their
        listeners); connections already relayed go on until either side ends them."""
        with self._lock:
            self._closed = True
            controls, self._controls = self._controls, []
        if self._sock is not None:
            _close_listening(self._sock)
        for conn in controls:
            _close_listening(conn)
        if self._tunnel is not None:
            self._tunnel.close()


def route_address(scheduler: str) -> str | None:
    """This machine's address on the route to ``scheduler`` (``tcp://host:port``), which is
    where the workers reach it when they reach the scheduler through the same network;
    None for a scheduler in this process (``inproc://``) or an address not read."""
    from urllib.parse import urlsplit

    parts = urlsplit(scheduler)
    if parts.scheme == "inproc" or not parts.hostname:
        return None
    try:
        family, _, _, _, where = socket.getaddrinfo(parts.hostname, parts.port or 8786, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(where)  # a UDP "connect" sends nothing: it only picks the route
            return probe.getsockname()[0]
    except OSError:
        return None


class Relaying:
    """A block's relay, opened when a task first carries this process's callback sockets.

    Parameters
    ----------
    callback_address : str or None
        ``host`` or ``host:port`` to listen on (None: the route to the scheduler, a free port).
    """

    def __init__(self, callback_address: str | None) -> None:
        self.callback_address = callback_address
        self._relay: CallbackRelay | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()

    def ticket(self, client: Any, payload: bytes) -> Ticket | None:
        """What a task sent by ``client`` carries: the sockets in this process's
        multiprocessing temp dir and the relay to them; None when there are none, or when
        its ``payload`` (the pickled batches) holds no scikit-learn callback's listener."""
        import multiprocessing.util

        # scikit-learn's ProgressBar and ScoringMonitor hold their listener's address in a
        # ListenerHandle, pickled by name: a batch without that name reports to no socket
        # (a search carries a callback context whether or not callbacks are set).
        if "sklearn.callback" not in sys.modules or LISTENER_NAME not in payload:
            return None
        folder = multiprocessing.util.get_temp_dir()
        paths = sockets_in(folder)
        if not paths:
            return None
        with self._lock:
            if self._relay is None:
                self._relay = self._open(folder, client)
                # A block whose cluster was lost never releases its backend: closed when it is dropped.
                self._finalizer = weakref.finalize(self, self._relay.close)
            return self._relay.ticket(paths)

    def _open(self, folder: str, client: Any) -> CallbackRelay:
        """The relay on ``callback_address``, else on the route to the scheduler; over TLS,
        through Dask only unless an address was given (the TCP relay is plain). One that
        cannot listen: an error when the address was given, else through Dask only."""
        given = self.callback_address
        host, _, port = (given or "").rpartition(":")
        if not host:  # no port given: "host", or nothing
            host, port = given or "", "0"
        scheduler = getattr(client.scheduler, "address", "") or ""
        if scheduler.startswith("tls://") and not given:
            return CallbackRelay(None, 0, folder, client)
        host = host.strip("[]") or route_address(scheduler) or "127.0.0.1"
        try:
            return CallbackRelay(host, int(port or 0), folder, client)
        except (OSError, ValueError) as exc:
            if given:
                raise ClusterConnectionError(
                    f"callback_address={given!r}: cannot listen there for scikit-learn's callbacks ({exc}). Give an "
                    "address of this machine that the workers reach (host or host:port, IPv6 in brackets), with a "
                    "free port, or leave it None."
                ) from exc
            warnings.warn(
                f"scikit-learn's callbacks from Dask workers on other hosts go through the scheduler (slower): no "
                f"relay could listen on {host}, this machine's address on the route to the scheduler {scheduler} "
                f"({exc}). Set the dask backend's callback_address= to an address of this machine the workers reach.",
                CallbackRelayWarning, stacklevel=4,
            )
            return CallbackRelay(None, 0, folder, client)

    def close(self) -> None:
        """The block's end: the relay stops (see :meth:`CallbackRelay.close`); a later task opens another."""
        with self._lock:
            self._relay, finalizer, self._finalizer = None, self._finalizer, None
        if finalizer is not None:
            finalizer()  # the relay's close, once
