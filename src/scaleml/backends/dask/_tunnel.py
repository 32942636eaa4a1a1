"""The callback relay's way through Dask itself, for workers that cannot reach the caller.

A worker behind a firewall or NAT (or on a cluster reached over TLS, where the relay's
plain TCP is not used) still reaches the scheduler, and so does the caller. Each
connection a worker's listener accepts is then carried by two ``distributed.Queue``
(``-up``, ``-down``), announced on the relay's own queue (:func:`tunnel`); the caller's
:class:`TunnelEnd` connects it to the socket, as the TCP relay does. Bytes pass through
the scheduler, a round trip or two per callback message (milliseconds), over the
cluster's own comms (TLS when the cluster uses it). The end of the block is a
``distributed.Event`` the workers wait on (:func:`wait_for_end`).
"""

from __future__ import annotations

import hashlib
import socket
import threading
import uuid
from typing import Any, Callable

CHUNK = 1 << 16


def _names(token: bytes) -> tuple[str, str]:
    """The relay's announcement queue and end event (named from a hash: names are visible)."""
    base = "scaleml-callbacks-" + hashlib.sha256(token).hexdigest()[:24]
    return base + "-new", base + "-ended"


def _to_queue(sock: socket.socket, queue: Any) -> None:
    """Bytes from ``sock`` into ``queue``, in order; b"" marks the end."""
    try:
        while data := sock.recv(CHUNK):
            queue.put(data)
    except OSError:
        pass
    try:
        queue.put(b"")
    except Exception:  # noqa: BLE001 - the cluster is gone: nothing is waiting for it
        pass


def _from_queue(queue: Any, sock: socket.socket) -> None:
    """Bytes from ``queue`` onto ``sock`` until b"", then the end of what ``sock`` sends."""
    try:
        while data := queue.get():
            sock.sendall(data)
    except Exception:  # noqa: BLE001 - a closed socket or a lost cluster: the connection ends
        pass
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _carry(sock: socket.socket, up: Any, down: Any) -> None:
    """``sock``'s bytes into ``up`` and ``down``'s onto it, until both ends are done; close all."""
    other = threading.Thread(target=_to_queue, args=(sock, up), daemon=True, name="scaleml-callback-tunnel")
    other.start()
    _from_queue(down, sock)
    other.join()
    sock.close()
    for queue in (up, down):
        try:
            queue.close()
        except Exception:  # noqa: BLE001 - as above
            pass


class TunnelEnd:
    """The caller's end: connects each announced connection to ``connect(path)``.

    Parameters
    ----------
    client : distributed.Client
    token : bytes
        The relay's token (names its queue and event).
    connect : callable
        ``connect(path) -> socket``: the caller's socket at ``path``, refused (OSError)
        unless it is one of this process's callback sockets.
    """

    def __init__(self, client: Any, token: bytes, connect: Callable[[str], socket.socket]) -> None:
        import distributed

        self.client = client
        self.connect = connect
        new, ended = _names(token)
        self._new = distributed.Queue(new, client=client)
        self._ended = distributed.Event(ended, client=client)
        threading.Thread(target=self._accept, daemon=True, name="scaleml-callback-tunnel-accept").start()

    def _accept(self) -> None:
        while True:
            try:
                item = self._new.get()
            except Exception:  # noqa: BLE001 - the client closed: no more connections
                return
            if item is None:  # the block's end
                try:
                    self._new.close()
                except Exception:  # noqa: BLE001 - as above
                    pass
                return
            threading.Thread(target=self._serve, args=tuple(item), daemon=True, name="scaleml-callback-tunnel").start()

    def _serve(self, name: str, path: str) -> None:
        import distributed

        up = distributed.Queue(name + "-up", client=self.client)
        down = distributed.Queue(name + "-down", client=self.client)
        try:
            target = self.connect(path)
        except OSError:
            down.put(b"")  # refused: the worker's side ends
            return
        _carry(target, down, up)  # what the worker sends comes up; ours goes down

    def close(self) -> None:
        """The block's end: workers close their listeners; this end stops accepting."""
        try:
            self._ended.set()  # wakes every worker waiting on it; cleared, it leaves the scheduler
            self._ended.clear()
            self._new.put(None)
        except Exception:  # noqa: BLE001 - the cluster is gone already
            pass


def tunnel(client: Any, token: bytes, conn: socket.socket, path: str) -> None:
    """A worker's end: carry ``conn`` (a connection to ``path`` here) to the caller's socket."""
    import distributed

    name = "scaleml-callbacks-" + uuid.uuid4().hex
    up = distributed.Queue(name + "-up", client=client)
    down = distributed.Queue(name + "-down", client=client)
    distributed.Queue(_names(token)[0], client=client).put([name, path])
    _carry(conn, up, down)


def wait_for_end(client: Any, token: bytes) -> None:
    """Block until the caller's block ends (or the cluster is gone)."""
    import distributed

    try:
        distributed.Event(_names(token)[1], client=client).wait()
    except Exception:  # noqa: BLE001 - a lost scheduler ends it too
        pass
