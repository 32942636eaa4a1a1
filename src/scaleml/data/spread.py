"""Data a fit needs on every worker: sent once from this process, copied among the workers.

``client.scatter(obj, broadcast=True)`` looks like the way, and is not, on today's Dask:
the scheduler's Active Memory Manager drops every replica but one within seconds
(``ReduceReplicas``: a key held by no waiting task on a worker needs one copy), so tasks
fetch the data again, all from the one holder left. Where a copy takes longer than the
manager's pass (2 s: 200 MB on 1 Gbit/s), the broadcast itself never ends, its copies
dropped as fast as ``replicate`` makes them (bench/SCALING.md: 8 and 16 simulated
workers, each receiving the data over and over for minutes).

:class:`Spread` sends the data once (through the scheduler, to one worker), then
copies it in rounds that double the holders (1, 2, 4, ...; each new copy fetched from a
holder the receiving worker picks at random: Dask's ``replicate``), so N workers hold it
after log2(N) rounds, and keeps every copy: on each worker, as soon as its copy lands, a
*holder* task that depends on the data leaves the worker's thread pool (``secede``) and
waits: while it waits, the scheduler counts a task on that worker still needing the
data, and the memory manager keeps that worker's copy. The holders end when the fit
releases the data, or by themselves once its key is gone (this process exited).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from .cluster import workers_of

# How often a holder checks that its data's key still exists (its owner may have exited
# without releasing it). Release does not wait for this: it sets an event holders wake on.
HOLD_POLL_S = 10.0
RELEASE_WAIT_S = 2.0  # how long release waits for the holders to end


def _hold(data: Any, key: str, done: str) -> int:
    """Run on a worker: keep ``data`` wanted here until the event ``done`` is set, or the
    data's ``key`` is gone (its owner exited without releasing it)."""
    from distributed import Event, get_client, secede

    secede()  # waits outside the worker's thread pool: other tasks run meanwhile
    client = get_client()
    event = Event(done, client=client)
    # Asked by key: a Future made here would itself keep the data wanted.
    while not event.wait(timeout=HOLD_POLL_S):
        if not client.sync(client.scheduler.who_has, keys=[key]).get(key):
            break
    return 0


class Spread:
    """Objects sent once and kept on every worker of ``client``'s cluster until :meth:`release`.

    Parameters
    ----------
    client : distributed.Client
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._done = f"scaleml-spread-done-{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._futures: list[Any] = []
        self.nbytes = 0
        self.objects = 0
        self.workers = 0
        self.rounds = 0

    def put(self, obj: Any) -> Any:
        """A future of ``obj``. When this returns, every worker present then holds a copy,
        or (a round past its deadline) has a holder that fetches one."""
        from dask.sizeof import sizeof

        start = time.monotonic()
        future = self.client.scatter(obj, hash=False)  # one copy, through the scheduler
        # A round waits at most this long (a worker lost mid-copy never reports; the holder
        # left for it fetches the data if it comes back): a minute more than ten of these
        # transfers.
        round_limit = 60 + 10 * (time.monotonic() - start)
        have = sorted(self.client.who_has([future]).get(future.key, ()))
        waiting = [w for w in sorted(workers_of(self.client)) if w not in have]
        keep = [future, *(self._holder(future, w) for w in have)]
        rounds = 0
        while waiting:
            rounds += 1
            # As many new copies as holders, each from a holder picked at random by the
            # receiving worker; a worker gone meanwhile is neither source nor target.
            live = set(workers_of(self.client))
            have = [w for w in have if w in live]
            waiting = [w for w in waiting if w in live]
            if not have:
                break  # every holder is gone, and the data with them: the tasks will say so
            targets, waiting = waiting[:len(have)], waiting[len(have):]
            keep += self._copy_round(future, have, targets, round_limit)
            have += targets
        with self._lock:
            self._futures += keep
            self.nbytes += sizeof(obj)
            self.objects += 1
            self.workers = max(self.workers, len(have))
            self.rounds = max(self.rounds, rounds)
        return future

    def describe(self) -> str:
        """What was sent and how, for a plan: ``"12.0 MB in 2 objects: sent once from here, ..."``."""
        return (f"{self.nbytes / 1e6:.1f} MB in {self.objects} object{'s' * (self.objects != 1)}: sent once from "
                f"this process, copied worker to worker in {self.rounds} round{'s' * (self.rounds != 1)} to "
                f"{self.workers} worker{'s' * (self.workers != 1)}, each copy kept until the fit ended")

    def _copy_round(self, future: Any, have: list[str], targets: list[str], limit: float) -> list[Any]:
        """Copy ``future``'s data to ``targets``, waiting at most ``limit`` seconds; returns
        their holders.

        Each copy gets its holder as soon as the scheduler records it, while the round's
        other copies are still on their way: a copy left unheld for a memory-manager
        pass (every 2 s) is dropped, and the round has to make it again. Held only at
        the round's end, copies that took longer than that were dropped as fast as they
        were made, and 200 MB never reached 16 workers on 1 Gbit/s links (the rehearsal).
        """
        finished = threading.Event()
        failed: list[BaseException] = []

        def replicate() -> None:
            try:
                self.client.replicate([future], n=len(have) + len(targets), workers=have + targets)
            except BaseException as error:  # noqa: BLE001 - raised below, in the caller's thread
                failed.append(error)
            finally:
                finished.set()

        threading.Thread(target=replicate, name="scaleml-spread", daemon=True).start()
        holders: dict[str, Any] = {}
        deadline = time.monotonic() + limit
        while True:
            done = finished.wait(0.05)
            landed = self.client.who_has([future]).get(future.key, ())
            holders.update({w: self._holder(future, w) for w in targets if w in landed and w not in holders})
            if done or time.monotonic() > deadline:
                break  # past the deadline, the scheduler's replicate ends when the data is released
        if failed:
            raise failed[0]
        # A copy the memory manager dropped before its holder came is fetched by the holder.
        holders.update({w: self._holder(future, w) for w in targets if w not in holders})
        return list(holders.values())

    def _holder(self, future: Any, worker: str) -> Any:
        return self.client.submit(_hold, future, future.key, self._done, workers=[worker], allow_other_workers=False,
                                  pure=False, key=f"scaleml-hold-{future.key}-{worker}")

    def release(self) -> int:
        """Free every copy. Returns how many holders had ended when it returned: all of
        them, but one on a worker that stopped answering (which ends by itself within
        ``HOLD_POLL_S`` once the data is gone)."""
        from distributed import Event, wait
        from distributed import TimeoutError as DaskTimeoutError

        with self._lock:
            futures, self._futures = self._futures, []
        if not futures or self.client.status != "running":
            return 0
        done = Event(self._done, client=self.client)
        try:
            done.set()
            with self.client.as_current():  # wait() asks for the current client; ours is not the default
                wait(futures, timeout=RELEASE_WAIT_S)
        except (OSError, TimeoutError, DaskTimeoutError):
            pass  # the scheduler or a worker is gone; whatever is left ends by itself
        finally:
            ended = sum(f.status == "finished" for f in futures if str(f.key).startswith("scaleml-hold-"))
            try:
                done.clear()  # with no one waiting, the scheduler forgets the event
                self.client.cancel(futures)
            except OSError:
                pass  # the scheduler is gone, and the copies with it
        return ended
