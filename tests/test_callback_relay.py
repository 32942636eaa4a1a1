"""The relay that carries scikit-learn's callbacks from workers on other hosts grants
nothing beyond them: it needs its token, reaches only sockets directly inside this
process's multiprocessing temp dir, and leaves multiprocessing's key handshake end to
end (``src/scaleml/backends/dask/_relay.py``; the whole way is rehearsed with workers on
simulated hosts in ``test_remote_callbacks.py``)."""

from __future__ import annotations

import multiprocessing.util
import os
import socket
import struct
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, Listener, answer_challenge, deliver_challenge

import pytest

from scaleml.backends.dask._relay import PIPE, CallbackRelay

KEY = os.urandom(32)


@pytest.fixture
def relay():
    relay = CallbackRelay("127.0.0.1", 0, multiprocessing.util.get_temp_dir())
    yield relay
    relay.close()


@pytest.fixture
def listener():
    """A multiprocessing Listener as scikit-learn's callbacks open them (in the temp dir)."""
    listener = Listener(authkey=KEY, backlog=8)
    accepted: list = []

    def accept():
        try:
            accepted.append(listener.accept())
        except (OSError, EOFError, AuthenticationError) as exc:
            accepted.append(exc)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener, accepted, thread
    listener.close()


def _ask(relay: CallbackRelay, token: bytes, path: str) -> socket.socket:
    conn = socket.create_connection((relay.host, relay.port), timeout=10)
    name = os.fsencode(path)
    conn.sendall(token + PIPE + struct.pack("!H", len(name)) + name)
    conn.settimeout(None)  # a multiprocessing Connection on it blocks, as scikit-learn's does
    return conn


def _closed(conn: socket.socket) -> bool:
    """Whether the relay closed ``conn`` (a reset when it left bytes unread)."""
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_peer_without_the_token_reaches_nothing(relay, listener):
    target, accepted, thread = listener
    conn = _ask(relay, os.urandom(32), target.address)
    assert _closed(conn)
    thread.join(timeout=1)
    assert accepted == []  # the listener saw no connection


def test_only_sockets_directly_inside_the_temp_dir(relay, tmp_path):
    outside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    outside.bind(str(tmp_path / "elsewhere"))
    outside.listen(1)
    outside.settimeout(0.5)
    for path in (str(tmp_path / "elsewhere"), os.path.join(relay.folder, "..", os.path.basename(tmp_path), "elsewhere")):
        assert _closed(_ask(relay, relay.token, path))
    with pytest.raises(socket.timeout):
        outside.accept()
    outside.close()


def test_the_key_handshake_runs_end_to_end(relay, listener):
    target, accepted, thread = listener
    conn = Connection(_ask(relay, relay.token, target.address).detach())
    answer_challenge(conn, KEY)  # as multiprocessing's Client does, through the relay
    deliver_challenge(conn, KEY)
    conn.send({"event": "end", "path": [0, 1]})
    thread.join(timeout=10)
    assert accepted[0].recv() == {"event": "end", "path": [0, 1]}


def test_a_wrong_key_is_refused_by_the_listener_itself(relay, listener):
    target, accepted, thread = listener
    conn = Connection(_ask(relay, relay.token, target.address).detach())
    with pytest.raises((AuthenticationError, EOFError, ConnectionError)):
        answer_challenge(conn, os.urandom(32))
        deliver_challenge(conn, os.urandom(32))
    thread.join(timeout=10)
    assert accepted and isinstance(accepted[0], (AuthenticationError, EOFError, OSError))
