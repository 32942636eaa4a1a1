"""scikit-learn's callbacks report from workers on other hosts as they do plainly (issue #31).

``sklearn.callback``'s worker copies send their messages to this process over a UNIX socket
in its multiprocessing temp dir; a worker on another host has no such path. Rehearsed
faithfully: this test (the client) in this machine's own namespaces, the scheduler on
the simulated switch, two
real ``dask worker`` processes each in a network namespace of its own (the
``bench/rehearsal`` harness, namespaces named ``cbk-<pid>-...``) *and* a mount namespace
with this process's multiprocessing temp folder hidden (a network namespace alone still shares the filesystem, and with
it every UNIX socket path). Each test compares with the same code run plainly, and
witnesses where the tasks ran (the workers' pids are the processes started here, their
network namespaces are not this one, their ``/tmp`` lacks this process's sockets). The
relay put out of the workers' reach (``callback_address`` on this machine's loopback)
rehearses a firewall: the callbacks then go through the scheduler.
"""

from __future__ import annotations

import multiprocessing.util
import os
import re
import sys
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("distributed")
callback = pytest.importorskip("sklearn.callback")

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from rehearsal.hosts import WorkersElsewhere, why_not  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import scaleml  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PREFIX = "cbk-"  # namespaces of this test, apart from other users' (the rehearsal's own: sml-); addresses: free_subnet
X, Y = make_classification(n_samples=120, n_features=6, random_state=0)

_REASON = why_not(PREFIX)
if _REASON:
    pytest.skip(_REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """``(address, client, cluster)``: a real cluster whose 2 workers (2 threads each: tasks
    run side by side on a worker, and so do their connections back) are on other hosts."""
    import distributed

    from scaleml.engines.dask.cluster import close_all

    tests = str(Path(__file__).resolve().parent)
    cluster = WorkersElsewhere(2, tmp_path_factory.mktemp("remote-callbacks"), prefix=PREFIX, threads=2,
                               pythonpath=tests)
    client = None
    try:
        cluster.start()  # removes what a run killed outright left first (namespaces whose owner is gone)
        client = distributed.Client(cluster.address, timeout=30, set_as_default=False)
        client.wait_for_workers(2, timeout=60)
        yield cluster.address, client, cluster
    finally:
        if client is not None:
            close_all(cluster.address)  # scaleml's shared connection, before the scheduler goes
            client.close()
        cluster.close()


def _our_sockets() -> list[str]:
    folder = multiprocessing.util.get_temp_dir()
    return [os.path.join(folder, name) for name in os.listdir(folder)]


def test_the_workers_are_on_other_hosts(remote):
    """The witness: the tasks run in the worker processes started here, in network namespaces
    not this one, whose /tmp lacks this process's callback sockets."""
    address, client, cluster = remote
    monitor = callback.ScoringMonitor(scoring="accuracy")  # opens its listener here, now
    paths = _our_sockets()
    assert paths, "the ScoringMonitor opened no socket in this process's multiprocessing temp dir"
    pids = client.run(os.getpid)
    assert sorted(pids.values()) == sorted(cluster.workers.values())
    here = os.readlink("/proc/self/ns/net")
    assert set(client.run(os.readlink, "/proc/self/ns/net").values()).isdisjoint({here})
    for path in paths:
        assert not any(client.run(os.path.exists, path).values()), path
    del monitor


def _logged(monitor_to_rows):
    monitor = callback.ScoringMonitor(scoring="accuracy")
    search = GridSearchCV(LogisticRegression(max_iter=20).set_callbacks(monitor), {"C": [0.1, 1.0]}, cv=3)
    search.fit(X, Y)
    return monitor_to_rows(monitor)


def _rows(monitor):
    data = monitor.get_logs(select="most_recent").data
    return sorted(str(sorted(row.items())) for row in data)


def test_scoring_monitor_logs_as_plainly_from_other_hosts(remote):
    address, client, cluster = remote
    plain = _logged(_rows)
    with scaleml.backend("dask", address=address):
        there = _logged(_rows)
    assert there == plain and len(plain) > 6  # every iteration of 6 fits on the workers, and the refit here
    # The workers' relays close as the block ends: nothing of this process's is left there.
    assert _left_on_workers(client) == []


def _holds_anything(folder):
    return os.path.isdir(folder) and bool(os.listdir(folder))


def _left_on_workers(client, within: float = 10.0) -> list[str]:
    """This process's socket paths that still exist on a worker after ``within`` seconds, and
    their folders if anything is left in them (the folder itself stays on the rehearsal's
    workers: the empty tmpfs that hides this process's folder there is mounted on it)."""
    deadline = time.monotonic() + within
    while True:
        left = [p for p in _our_sockets() if any(client.run(os.path.exists, p).values())]
        left += [f for f in {os.path.dirname(p) for p in _our_sockets()}
                 if any(client.run(_holds_anything, f).values())]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _bars(capsys, run):
    run()
    out = capsys.readouterr().out
    return re.sub(r"\d+:\d\d:\d\d", "T", out)  # elapsed times differ


@pytest.mark.parametrize("way", ["relay", "through the scheduler"])
def test_progress_bar_shows_as_plainly_from_other_hosts(remote, capsys, monkeypatch, way):
    """Plainly, a ProgressBar fails every fit on such a worker (its socket is not there);
    through the relay, or the scheduler when the relay is out of the workers' reach
    (``callback_address`` on this machine's loopback), the same bars as plainly."""
    address, client, cluster = remote
    options = {"callback_address": "127.0.0.1"} if way == "through the scheduler" else {}
    monkeypatch.setenv("COLUMNS", "200")  # rich's width: every bar's line whole

    def search():
        GridSearchCV(LogisticRegression(max_iter=20), {"C": [0.1, 1.0]}, cv=3).set_callbacks(
            callback.ProgressBar()).fit(X, Y)

    plain = _bars(capsys, search)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scaleml.exceptions.CallbackRelayWarning)  # the other test's subject
        with scaleml.backend("dask", address=address, **options):
            there = _bars(capsys, search)
    assert plain.count("100%") == len(plain.splitlines()) > 6  # the search, its 6 fits and the refit, done
    # The same bars, each done; in parallel, fits' bars are listed as the fits begin (as with loky).
    assert sorted(there.splitlines()) == sorted(plain.splitlines())


def test_a_worker_that_cannot_reach_the_caller_reports_through_the_scheduler(remote):
    """The relay on an address the workers cannot reach (this machine's loopback, which in
    their namespaces is their own): each worker that ran a task says so, once, and its
    callbacks report through the Dask scheduler instead: the same log as plainly."""
    address, client, cluster = remote
    from scaleml.exceptions import CallbackRelayWarning

    plain = _logged(_rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with scaleml.backend("dask", address=address, callback_address="127.0.0.1"):
            there = _logged(_rows)
    said = [str(w.message) for w in caught if w.category is CallbackRelayWarning]
    assert 1 <= len(said) <= 2, said  # one per worker that ran a task
    assert all("127.0.0.1:" in text and "through the Dask scheduler" in text for text in said)
    assert there == plain
    assert _left_on_workers(client) == []


def test_a_callback_address_not_of_this_machine_is_a_clear_error(remote):
    address, client, cluster = remote
    from scaleml.exceptions import ClusterConnectionError

    with pytest.raises(ClusterConnectionError, match=r"callback_address='198\.51\.100\.7:47000': cannot listen there"):
        with scaleml.backend("dask", address=address, callback_address="198.51.100.7:47000"):  # TEST-NET-2
            _logged(_rows)
