"""Data kept on every worker for a fit (scaleml.engines.dask.spread), on a real LocalCluster whose
memory manager runs every 100 ms (2 s by default) so that its dropping of replicas shows."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

from scaleml.engines.dask.spread import Spread  # noqa: E402

pytestmark = pytest.mark.timeout(180)

FAST_AMM = {"distributed.scheduler.active-memory-manager.interval": "100ms"}


@pytest.fixture(scope="module")
def client():
    with dask.config.set(FAST_AMM):
        with distributed.LocalCluster(n_workers=3, threads_per_worker=1, dashboard_address=None) as cluster:
            with distributed.Client(cluster) as client:
                yield client


def _holders(client, future):
    return set(client.who_has([future]).get(future.key, ()))


def _settle(client, seconds=1.0):
    time.sleep(seconds)  # ten memory-manager cycles


def test_dask_broadcast_alone_keeps_one_copy(client):
    """Why Spread exists: the memory manager drops the copies of a broadcast."""
    future = client.scatter(np.ones(200_000), broadcast=True, hash=False)
    _settle(client)
    assert len(_holders(client, future)) == 1
    client.cancel(future)


def test_every_worker_keeps_its_copy_until_released(client):
    spread = Spread(client)
    data = np.arange(300_000.0)
    future = spread.put(data)
    _settle(client)
    assert _holders(client, future) == set(client.nthreads())
    # Work on the data still runs on every worker (holders wait outside the thread pool).
    sums = client.gather([client.submit(np.sum, future, workers=[w], pure=False) for w in client.nthreads()])
    assert sums == [data.sum()] * 3
    # Every holder ended on its worker before release returned (they wake on its event).
    assert spread.release() == 3
    assert not any(client.processing().values()), "a holder outlived the release"
    deadline = time.monotonic() + 10
    while future.key in client.who_has() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert future.key not in client.who_has()


def test_holders_end_when_their_owner_goes_away(client):
    """A process that exits without releasing: its data and holders go with it."""
    owner = textwrap.dedent("""
        import sys, numpy as np, distributed
        from scaleml.engines.dask.spread import Spread
        client = distributed.Client(sys.argv[1])
        future = Spread(client).put(np.ones(100_000))
        print(future.key, flush=True)
        import os; os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", owner, client.scheduler.address], capture_output=True, text=True,
                         timeout=120)
    key = out.stdout.split()[0]
    deadline = time.monotonic() + 30
    while (any(client.processing().values()) or key in client.who_has()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(client.processing().values()) and key not in client.who_has()


def test_a_worker_waits_on_one_holder_however_many_objects_it_keeps(client):
    """Each waiting holder is a thread Dask's worker profiler samples 100 times a second;
    a fit keeps several objects (X, y, each fold's indices): one holder per worker keeps
    them all, and every copy still survives the memory manager."""
    spread = Spread(client)
    objects = [np.full(100_000, float(i)) for i in range(4)]
    futures = [spread.put(obj) for obj in objects]
    _settle(client)
    for future in futures:
        assert _holders(client, future) == set(client.nthreads())
    holding = {w: [k for k in keys if str(k).startswith("scaleml-hold-")] for w, keys in client.processing().items()}
    assert all(len(keys) == 1 for keys in holding.values()), holding
    assert spread.release() == 3
    assert not any(client.processing().values()), "a holder outlived the release"
