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
data, and the memory manager keeps that worker's copy. Once every worker has the
object, one holder per worker for all the objects so far replaces those holders: each
waiting holder is a thread that Dask's worker profiler samples 100 times a second, and
a fit holds several objects (X, y, each fold's indices), which made every worker's event
loop busy enough to slow a 16-worker rehearsal 1.7x (bench/SCALING.md). The holders end
when the fit releases the data, or by themselves once its keys are gone (this process
exited).
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import CancelledError
from typing import Any

from .cluster import workers_of

# How often a holder checks that its data's key still exists (its owner may have exited
# without releasing it). Release does not wait for this: it sets an event holders wake on.
HOLD_POLL_S = 10.0
RELEASE_WAIT_S = 2.0  # how long release waits for the holders to end
LOST = frozenset({"cancelled", "lost", "error"})  # a future's status once its data is gone
SEND_ATTEMPTS = 3  # sends of one object whose every holder left while it was spread
LIVE_CHECK_S = 0.5  # how often a copy round asks which of its targets are still there
MERGE_WAIT_S = 10.0  # how long a put waits for the merged holders to be placed before keeping the old ones too


def _hold(data: Any, keys: list[str], done: str) -> int:
    """Run on a worker: keep ``data`` (one object, or a list of them) wanted here until the
    event ``done`` is set, or every key in ``keys`` is gone (their owner exited without
    releasing them)."""
    from distributed import Event, get_client, secede

    secede()  # waits outside the worker's thread pool: other tasks run meanwhile
    client = get_client()
    event = Event(done, client=client)
    # Asked by key: a Future made here would itself keep the data wanted.
    while not event.wait(timeout=HOLD_POLL_S):
        held = client.sync(client.scheduler.who_has, keys=keys)
        if not any(held.get(key) for key in keys):
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
        self._futures: list[Any] = []  # every object's future and every holder, cancelled on release
        self._data: list[Any] = []  # the objects' futures, in order
        self._events: list[str] = []  # every holder generation's event (one per put, one per merge)
        self._live: list[Any] = []  # the holders not told to end yet
        self._merged: tuple[str, list[Any]] | None = None  # the one-per-worker holders: event, futures
        self.nbytes = 0
        self.objects = 0
        self.workers = 0
        self.rounds = 0

    def put(self, obj: Any) -> Any:
        """A future of ``obj``. When this returns, every worker present then holds a copy,
        or (a round past its deadline) has a holder that fetches one.

        Sent again (at most ``SEND_ATTEMPTS`` times) when every worker that had a copy left, or
        is closing, once it was spread: a `dask worker` stopped by SIGTERM drops its data
        at once, and the first copy lives on one worker until the rounds copy it; a round
        whose source closes mid-copy ends with no new copy.
        """
        from dask.sizeof import sizeof

        for attempt in range(SEND_ATTEMPTS):
            future, have, rounds, keep, event = self._send_and_copy(obj)
            if (future.status not in LOST and self._held_by_a_running_worker(future)) or attempt == SEND_ATTEMPTS - 1:
                break  # (or given up: the tasks will say the data is lost)
            self.client.cancel(keep)
        with self._lock:
            self._futures += keep
            self._live += keep[1:]
            self._data.append(future)
            self.nbytes += sizeof(obj)
            self.objects += 1
            self.workers = max(self.workers, len(have))
            self.rounds = max(self.rounds, rounds)
        self._merge_holders(have, event, keep[1:])
        return future

    def _holders_of(self, future: Any) -> tuple:
        """The workers holding ``future``'s data; none once it is lost (``who_has`` of a
        cancelled future raises FuturesCancelledError, which failed the fit)."""
        if future.status in LOST:
            return ()
        try:
            return tuple(self.client.who_has([future]).get(future.key, ()))
        except CancelledError:
            return ()

    def _held_by_a_running_worker(self, future: Any) -> bool:
        """Whether a worker that is not closing holds ``future``'s data: one stopped by SIGTERM
        still answers for a moment, and a copy only it holds is lost with it."""
        held = self._holders_of(future)
        workers = workers_of(self.client)
        return any(workers.get(w, {}).get("status", "running") == "running" for w in held)

    def _send_and_copy(self, obj: Any) -> tuple[Any, list[str], int, list[Any], str]:
        """Send ``obj`` to one worker, then copy it in rounds to the others; returns its future,
        the workers holding it, the rounds, the futures to keep (its own, then the holders)
        and the holders' event."""
        start = time.monotonic()
        future = self.client.scatter(obj, hash=False)  # one copy, through the scheduler
        # A round waits at most this long (a worker lost mid-copy never reports; the holder
        # left for it fetches the data if it comes back): a minute more than ten of these
        # transfers.
        round_limit = 60 + 10 * (time.monotonic() - start)
        have = sorted(self._holders_of(future))
        waiting = [w for w in sorted(workers_of(self.client)) if w not in have]
        event = self._new_event()  # this object's own holders, ended once the merged ones stand
        keep = [future, *(self._holder(future, w, event) for w in have)]
        rounds = 0
        while waiting:
            rounds += 1
            # As many new copies as holders, each from a holder picked at random by the
            # receiving worker; a worker gone meanwhile is neither source nor target.
            live = set(workers_of(self.client))
            have = [w for w in have if w in live]
            waiting = [w for w in waiting if w in live]
            if not have:
                break  # every holder is gone, and the data with them: put sends it again
            targets, waiting = waiting[:len(have)], waiting[len(have):]
            keep += self._copy_round(future, have, targets, round_limit, event)
            have += targets
        return future, have, rounds, keep, event

    def _new_event(self) -> str:
        with self._lock:
            name = f"{self._done}-{len(self._events)}"
            self._events.append(name)
        return name

    def _merge_holders(self, workers: list[str], event: str, holders: list[Any]) -> None:
        """One holder per worker for every object so far, in place of ``holders`` (the last
        object's, waiting on ``event``) and of the previous merged ones.

        The old holders are told to end only once the scheduler has placed every new one
        on its worker (a task placed there needing the data keeps the copy as well as a
        running one); a new holder not placed within ``MERGE_WAIT_S`` leaves everything as
        it was, more threads but no copy at risk.
        """
        from distributed import Event

        with self._lock:
            # An object lost since (every holder left; sent again as another future) is left
            # out: a task given a cancelled future fails at submit.
            data = [f for f in self._data if f.status not in LOST]
            previous = self._merged
            if previous is None:  # the first object's holders are one per worker already
                self._merged = (event, list(holders))
                return
        merged_event = self._new_event()
        keys = [f.key for f in data]
        # A worker gone meanwhile (retired, scaled down) gets none: pinned there, it would wait forever.
        live = set(workers_of(self.client))
        workers = [w for w in workers if w in live]
        try:
            merged = [self.client.submit(_hold, data, keys, merged_event, workers=[w], allow_other_workers=False,
                                         pure=False, key=f"scaleml-hold-{merged_event}-{w}") for w in workers]
        except CancelledError:
            # An object lost meanwhile (its every holder left): the holders so far stay (more
            # threads, no copy at risk); the next task that needs it sends it again.
            return
        with self._lock:
            self._futures += merged
            self._live += merged
        if not self._placed(merged, workers):
            return
        ended = [event, previous[0]]
        old = set(holders) | set(previous[1])
        for name in ended:
            Event(name, client=self.client).set()
        with self._lock:
            self._merged = (merged_event, merged)
            self._live = [h for h in self._live if h not in old]

    def _placed(self, holders: list[Any], workers: list[str]) -> bool:
        """Whether the scheduler has put each holder on its worker, waiting ``MERGE_WAIT_S``."""
        deadline = time.monotonic() + MERGE_WAIT_S
        wanted = {h.key: w for h, w in zip(holders, workers)}
        while True:
            # Asked of every worker: naming one that has left since raised the scheduler's
            # KeyError, which failed a fit when a `dask worker` got SIGTERM mid-search. A
            # worker gone has nothing left to keep, so its holder counts as placed.
            processing = self.client.processing()
            if all(key in processing[worker] for key, worker in wanted.items() if worker in processing):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def describe(self) -> str:
        """What was sent and how, for a plan: ``"12.0 MB in 2 objects: sent once from here, ..."``."""
        return (f"{self.nbytes / 1e6:.1f} MB in {self.objects} object{'s' * (self.objects != 1)}: sent once from "
                f"this process, copied worker to worker in {self.rounds} round{'s' * (self.rounds != 1)} to "
                f"{self.workers} worker{'s' * (self.workers != 1)}, each copy kept until the fit ended")

    def _copy_round(self, future: Any, have: list[str], targets: list[str], limit: float, event: str) -> list[Any]:
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
            except BaseException as error:  # noqa: BLE001 - handled below, in the caller's thread
                failed.append(error)
            finally:
                finished.set()

        threading.Thread(target=replicate, name="scaleml-spread", daemon=True).start()
        holders: dict[str, Any] = {}
        deadline = time.monotonic() + limit
        next_count = time.monotonic() + LIVE_CHECK_S
        # No copy landing for this long: Dask's replicate is stuck (its lock held by an earlier
        # replicate still trying a worker that left, 30 s per attempt); the holders made below
        # fetch the data themselves. A tenth of the round's limit: several transfers' time.
        stall, progress = limit / 10, time.monotonic()
        while True:
            done = finished.wait(0.05)
            landed = self._holders_of(future)
            if not landed or future.status in LOST:
                break  # the source left with the only copy (replicate then waits on it for minutes): put sends it again
            before = len(holders)
            holders.update({w: self._holder(future, w, event) for w in targets if w in landed and w not in holders})
            progress = time.monotonic() if len(holders) > before else progress
            if time.monotonic() - progress > stall:
                break
            if time.monotonic() > next_count:  # a target that left (retired, scaled down) is waited for no more
                live = set(workers_of(self.client))
                targets = [w for w in targets if w in live]
                next_count = time.monotonic() + LIVE_CHECK_S
            if done or time.monotonic() > deadline or all(w in holders for w in targets):
                # Every target still there has its copy: Dask's replicate may still be trying a
                # worker that left (30 s per connection attempt); it ends by itself.
                break  # past the deadline, the scheduler's replicate ends when the data is released
        if failed:
            # Raised for a worker that left mid-copy, the source included (its data then
            # cancelled: a FuturesCancelledError failed the fit). The holders below fetch
            # what is left; put sends the object again if no running worker holds it.
            live = set(workers_of(self.client))
            targets = [w for w in targets if w in live]
        # A copy the memory manager dropped before its holder came is fetched by the holder.
        holders.update({w: self._holder(future, w, event) for w in targets if w not in holders})
        return list(holders.values())

    def _holder(self, future: Any, worker: str, event: str) -> Any:
        try:
            return self.client.submit(_hold, future, [future.key], event, workers=[worker], allow_other_workers=False,
                                      pure=False, key=f"scaleml-hold-{future.key}-{worker}")
        except CancelledError:  # the data was lost mid-spread (its only holder left): put sends it again
            return future

    def release(self) -> int:
        """Free every copy. Returns how many holders had ended when it returned: all of
        them, but one on a worker that stopped answering (which ends by itself within
        ``HOLD_POLL_S`` once the data is gone)."""
        from distributed import Event, wait
        from distributed import TimeoutError as DaskTimeoutError

        with self._lock:
            futures, self._futures = self._futures, []
            live, self._live = self._live, []
            events, self._events = self._events, []
            self._data, self._merged = [], None
        if not futures or self.client.status != "running":
            return 0
        done = [Event(name, client=self.client) for name in events]
        try:
            for event in done:
                event.set()
            with self.client.as_current():  # wait() asks for the current client; ours is not the default
                wait(futures, timeout=RELEASE_WAIT_S)
        except (OSError, TimeoutError, DaskTimeoutError, CancelledError):
            pass  # the scheduler or the workers are gone (cancelled copies: lost with them); the rest ends by itself
        finally:
            ended = sum(f.status == "finished" for f in live)
            try:
                for event in done:
                    event.clear()  # with no one waiting, the scheduler forgets the event
                self.client.cancel(futures)
            except OSError:
                pass  # the scheduler is gone, and the copies with it
        return ended
