"""joblib's own Dask test suite, adapted to run against `scaleml.backend("dask")`.

From joblib/test/test_dask.py (joblib 1.6.0). Each test keeps joblib's intent and
changes only how the backend is entered: `scaleml.backend("dask", address=...)`
on real scheduler and worker processes instead of `Client(...)` with
`parallel_config(backend="dask")`. Where scaleml differs on purpose, the test
says why and checks scaleml's behaviour:

- nested Parallel calls run sequentially inside a task (joblib sends them back
  to the cluster): the outer level is already spread over every worker, and a
  nested level sent back queues behind it;
- arguments of at least `broadcast_min_bytes` go to every worker once per fit
  (joblib scatters to one worker), so a lost worker loses no data;
- a cluster without workers fails after `timeout` seconds with a
  ClusterConnectionError (a ConnectionError) naming the scheduler.

Not adapted: test_manual_scatter and test_dask_backend_keywords (joblib's
`scatter=` and `workers=` keywords, which scaleml does not take: it broadcasts by
size); test_errors (joblib refuses to run without a client; scaleml starts a
LocalCluster); test_joblib_warning_inside_dask_daemonic_worker (loky inside a
Dask worker: Dask's behaviour, no backend involved); test_dask_funcname's check
of joblib's own Batch repr (scaleml names tasks `<function>-batch-of-<n>-<id>`,
checked below).
"""

import os
import threading
from math import sqrt
from random import random
from time import sleep, time
from uuid import uuid4

import numpy as np
import pytest
from joblib import Parallel, delayed

import scaleml
from scaleml.engines.dask.cluster import workers_of
from scaleml.exceptions import ClusterConnectionError
from scaleml.planning import Route  # noqa: E402

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(300)


# -- helpers of joblib/test/test_parallel.py that test_dask.py calls (copied; the slow
# task sleeps 5 s, not 30, so the single-threaded workers are free again sooner) --


def _sqrt_with_delay(e, delay):
    if delay:
        sleep(5)
    return sqrt(e)


def _test_parallel_unordered_generator_returns_fastest_first(n_jobs):
    result = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_sqrt_with_delay)(i**2, (i == 1)) for i in range(10)
    )
    quickly_returned = sorted(next(result) for _ in range(9))
    assert quickly_returned == [0] + list(range(2, 10))
    del result


def get_large_object(arg):
    result = np.ones(int(5 * 1e5), dtype=bool)
    result[0] = False
    return result


def _test_deadlock_with_generator(return_as, n_jobs):
    with Parallel(n_jobs=n_jobs, return_as=return_as) as parallel:
        result = parallel(delayed(get_large_object)(i) for i in range(10))
        next(result)
        next(result)
        del result


def _recursive_backend_info(limit=3, **kwargs):
    with Parallel(n_jobs=2) as p:
        this_level = [(type(p._backend).__name__, p._backend.nesting_level)]
        if limit == 0:
            return this_level
        results = p(delayed(_recursive_backend_info)(limit=limit - 1, **kwargs) for i in range(1))
        return this_level + results[0]


# -- the suite ------------------------------------------------------------------------------


def inc(x):
    return x + 1


def noop(*args, **kwargs):
    pass


def slow_raise_value_error(condition, duration=0.05):
    sleep(duration)
    if condition:
        raise ValueError("condition evaluated to True")


def count_events(event_name, client):
    def work(dask_worker):
        count = 0
        for task_state in dask_worker.state.tasks.values():
            count += len([e for e in dask_worker.state.story(task_state) if e[1] == event_name])
        return count

    return client.run(work)


def _forgotten_scatters(client):
    """Wait until the workers have forgotten earlier scattered data (released at the end of
    each block), so that events counted next are this test's own."""
    deadline = time() + 10
    while sum(count_events("receive-from-scatter", client).values()) and time() < deadline:
        sleep(0.1)


@pytest.fixture
def on_cluster(external_cluster):
    """`scaleml.backend("dask")` on the real scheduler and 2 single-threaded workers."""
    address, client = external_cluster

    def enter(**options):
        return scaleml.backend("dask", address=address, **options)

    return enter, client


def test_simple(on_cluster):
    enter, _ = on_cluster
    with enter():
        assert Parallel()(delayed(inc)(i) for i in range(10)) == [inc(i) for i in range(10)]
        with pytest.raises(ValueError, match="condition evaluated to True") as error:
            Parallel()(delayed(slow_raise_value_error)(i == 3) for i in range(10))
        assert Parallel()(delayed(inc)(i) for i in range(10)) == [inc(i) for i in range(10)]
    # scaleml adds the worker's traceback as the cause, so the user's frames are there.
    assert "slow_raise_value_error" in str(error.value.__cause__)


def test_dask_backend_uses_autobatching(on_cluster):
    enter, _ = on_cluster
    with enter():
        with Parallel() as parallel:
            backend = parallel._backend
            assert type(backend).__name__ == "DaskJoblibBackend" and backend.compute_batch_size() == 1
            parallel(delayed(lambda: None)() for _ in range(int(1e4)))
            assert backend.compute_batch_size() > 10


def test_calls_dispatched_all_at_once_are_batched_too(on_cluster):
    """scaleml's own: with pre_dispatch="all" (scikit-learn's learning_curve) joblib builds
    every batch before any has run, at the size it has then (1); the caller waits for
    timings once two tasks per worker thread are out, so tiny calls still share tasks."""
    enter, _ = on_cluster
    with enter():
        with Parallel(pre_dispatch="all") as parallel:
            backend = parallel._backend
            assert parallel(delayed(inc)(i) for i in range(2000)) == [inc(i) for i in range(2000)]
            assert backend.calls == 2000 and backend.tasks < 200


def _short(i, fail_at=None):
    sleep(0.002)
    if i == fail_at:
        raise ValueError(f"call {i} failed")
    return i


@pytest.mark.parametrize("return_as", ["list", "generator_unordered"])
def test_the_last_calls_go_out_as_a_few_tasks_not_joblibs_twenty(on_cluster, return_as):
    """scaleml's own: joblib cuts the calls left at the end of its input into ten batches
    per job, a task each of a call or a few: 40 tasks for these 400 calls before. The
    backend takes those batches together as at most two tasks per job; every
    result comes back once, in order where asked, and an error among them is the call's."""
    enter, _ = on_cluster
    with enter():
        with Parallel(n_jobs=-1, return_as=return_as) as parallel:
            backend = parallel._backend
            out = list(parallel(delayed(_short)(i) for i in range(400)))
            assert (out if return_as == "list" else sorted(out)) == list(range(400))
            assert backend.calls == 400 and backend.tasks <= 24
        with pytest.raises(ValueError, match="call 395 failed") as error:
            Parallel(n_jobs=-1)(delayed(_short)(i, fail_at=395) for i in range(400))
        for unpicklable in (1, 395):  # a batch that cannot be sent raises, from the first calls or the last
            with pytest.raises(TypeError, match="pickle"):
                Parallel(n_jobs=-1, timeout=30)(
                    delayed(_short)(i, fail_at=threading.Lock() if i == unpicklable else None) for i in range(400))
        with Parallel(n_jobs=-1, batch_size=1) as parallel:  # a size the caller fixed is kept
            before = parallel._backend.tasks  # the block's backend counts every call made in it
            assert parallel(delayed(_short)(i) for i in range(100)) == list(range(100))
            assert parallel._backend.tasks - before == 100
    assert "_short" in str(error.value.__cause__)


def test_two_open_parallel_objects_each_take_their_own_last_batches(on_cluster):
    """scaleml's own: two ``with Parallel()`` blocks open at once share one backend; the
    last batches of each are taken from that one (taking them from the other hung the
    first call and broke the other's next one)."""
    enter, _ = on_cluster
    with enter():
        with Parallel(n_jobs=-1, timeout=30) as first, Parallel(n_jobs=-1, timeout=30) as second:
            assert second(delayed(_short)(i) for i in range(300)) == list(range(300))
            assert first(delayed(_short)(i) for i in range(300)) == list(range(300))
            assert second(delayed(_short)(i) for i in range(300)) == list(range(300))


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_parallel_unordered_generator_returns_fastest_first_with_dask(on_cluster, n_jobs):
    enter, _ = on_cluster
    with enter():
        _test_parallel_unordered_generator_returns_fastest_first(n_jobs)


@pytest.mark.parametrize("n_jobs", [2, -1])
@pytest.mark.parametrize("return_as", ["generator", "generator_unordered"])
def test_deadlock_with_generator_and_dask(on_cluster, return_as, n_jobs):
    enter, _ = on_cluster
    with enter():
        _test_deadlock_with_generator(return_as, n_jobs)


def test_nested_parallelism_with_dask(on_cluster):
    """Deliberate difference: nested levels run sequentially in the task."""
    enter, _ = on_cluster
    data = np.ones(int(1e7), dtype=np.uint8)  # 10 MB: sent to the workers once
    for _ in range(2):
        with enter():
            levels = _recursive_backend_info(data=data)
        assert len(levels) == 4
        assert levels[0][0] == "DaskJoblibBackend" and all(name == "SequentialBackend" for name, _ in levels[1:])


def random2():
    return random()


def test_dont_assume_function_purity(on_cluster):
    enter, _ = on_cluster
    with enter():
        x, y = Parallel()(delayed(random2)() for i in range(2))
    assert x != y


def test_dask_funcname(on_cluster):
    enter, client = on_cluster
    with enter():
        Parallel(batch_size=2, pre_dispatch="all")(delayed(inc)(i) for i in range(4))
    prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "inc-batch-of" in prefixes  # keys: inc-batch-of-2-<id>; Dask's prefix drops the numbers


def test_no_undesired_distributed_cache_hit(on_cluster):
    enter, client = on_cluster
    lists = [[] for _ in range(100)]
    X = np.arange(int(1e6))

    def isolated_operation(list_, data=None):
        if data is not None:
            np.testing.assert_array_equal(data, X)
        list_.append(uuid4().hex)
        return list_

    _forgotten_scatters(client)
    with enter():
        res = Parallel()(delayed(isolated_operation)(list_) for list_ in lists)
        assert sum(count_events("receive-from-scatter", client).values()) == 0  # no large argument: nothing scattered
    assert lists == [[] for _ in range(100)]  # mutated in the workers, not here
    assert all(len(r) == 1 for r in res)
    with enter():
        res = Parallel()(delayed(isolated_operation)(list_, data=X) for list_ in lists)
        assert sum(count_events("receive-from-scatter", client).values()) > 0  # counted before the block releases it
    assert all(len(r) == 1 for r in res)


def test_auto_scatter(on_cluster):
    """Deliberate difference: a large argument goes to every worker once (joblib: one worker)."""
    enter, client = on_cluster
    data1 = np.ones(int(1e4), dtype=np.uint8)
    data2 = np.ones(int(1e4), dtype=np.uint8)
    data_to_process = ([data1] * 3) + ([data2] * 3)
    workers = len(workers_of(client))
    _forgotten_scatters(client)
    with enter(broadcast_min_bytes=1_000):
        Parallel()(delayed(noop)(data, data, i, opt=data) for i, data in enumerate(data_to_process))
        # Counted inside the block: at its end the broadcast data are released, and the
        # workers forget the tasks whose stories hold the events.
        # The same array as arg and kwarg is scattered once and reused by every task: two arrays,
        # each to every worker at most (Dask may copy between workers rather than scatter to each).
        assert 2 <= sum(count_events("receive-from-scatter", client).values()) <= 2 * workers
    _forgotten_scatters(client)
    with enter(broadcast_min_bytes=1_000):
        Parallel()(delayed(noop)(data1[:3], i) for i in range(5))
        assert sum(count_events("receive-from-scatter", client).values()) == 0  # small: inside the task


def test_nested_scatter(on_cluster):
    enter, _ = on_cluster

    def my_sum(x, i, j):
        return np.sum(x)

    def outer_function(array, i):
        with scaleml.backend("dask"):  # inside a task: that level runs there, no cluster started
            results = Parallel()(delayed(my_sum)(array[j:], i, j) for j in range(10))
        return sum(results)

    with enter():
        my_array = np.ones(10000)
        totals = Parallel()(delayed(outer_function)(my_array[i:], i) for i in range(10))
    assert totals == [sum(10000 - i - j for j in range(10)) for i in range(10)]


def test_nested_backend_context_manager(on_cluster):
    enter, _ = on_cluster

    def get_nested_pids():
        pids = set(Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(2)))
        pids |= set(Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(2)))
        return pids

    for _ in range(2):  # no deadlock the second time either
        with enter():
            pid_groups = Parallel(n_jobs=2)(delayed(get_nested_pids)() for _ in range(10))
        for pid_group in pid_groups:
            assert len(set(pid_group)) <= 2


def test_nested_backend_context_manager_implicit_n_jobs(on_cluster):
    """Deliberate difference: the nested level is sequential (joblib: the dask backend, n_jobs=-1)."""
    enter, _ = on_cluster

    def get_nested_implicit_n_jobs():
        with Parallel() as p:
            return type(p._backend).__name__, p.n_jobs

    with enter():
        with Parallel() as p:
            assert type(p._backend).__name__ == "DaskJoblibBackend" and p.n_jobs == -1
            nested = p(delayed(get_nested_implicit_n_jobs)() for _ in range(2))
    assert all(name == "SequentialBackend" for name, _ in nested)


def outer(nested_require):
    return Parallel(n_jobs=2, prefer="threads")(delayed(middle)(nested_require) for _ in range(1))


def middle(require):
    return Parallel(n_jobs=2, require=require)(delayed(inner)() for _ in range(1))


def inner():
    return type(Parallel()._backend).__name__


@pytest.mark.parametrize("require", [None, "sharedmem"])
def test_correct_nested_backend(on_cluster, require):
    """Deliberate difference: inside a task every level is sequential, which also shares memory."""
    enter, _ = on_cluster
    with enter():
        result = Parallel(n_jobs=2)(delayed(outer)(nested_require=require) for _ in range(1))
    assert result[0][0][0] == "SequentialBackend"


def test_secede_with_no_processes():
    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as cluster:
        with scaleml.backend("dask", address=cluster.scheduler_address):
            assert Parallel(n_jobs=4)(delayed(id)(i) for i in range(2)) is not None


def test_scheduler_tasks_cleanup():
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        with scaleml.backend("dask", address=cluster.scheduler_address) as backend:
            Parallel()(delayed(inc)(i) for i in range(10))
            client = backend.cluster()
        start = time()
        while cluster.scheduler.tasks:
            sleep(0.01)
            assert time() < start + 5
        assert not client.futures
        scaleml.engines.dask.cluster.close_all(cluster.scheduler_address)


@pytest.mark.parametrize("cluster_strategy", ["adaptive", "late_scaling"])
def test_wait_for_workers(cluster_strategy):
    """Submitting is what asks an adaptive cluster for workers: nothing waits before it."""
    cluster = distributed.LocalCluster(n_workers=0, processes=False, threads_per_worker=2, dashboard_address=":0")
    if cluster_strategy == "adaptive":
        cluster.adapt(minimum=0, maximum=2)
    else:
        cluster.scale(2)  # non-blocking: workers come a little later
    try:
        with scaleml.backend("dask", address=cluster.scheduler_address, timeout=60):
            assert Parallel()(delayed(inc)(i) for i in range(10)) == list(range(1, 11))
        assert cluster.scheduler.transition_counter > 0, "the work ran on the cluster's new workers, not here"
    finally:
        scaleml.engines.dask.cluster.close_all(cluster.scheduler_address)
        cluster.close()


def test_wait_for_workers_timeout():
    """Deliberate difference: a ClusterConnectionError naming the scheduler, after `timeout`."""
    cluster = distributed.LocalCluster(n_workers=0, processes=False, threads_per_worker=2, dashboard_address=":0")
    try:
        with scaleml.backend("dask", address=cluster.scheduler_address, timeout=1):
            with pytest.raises(ClusterConnectionError, match="has no workers after 1 s"):
                Parallel()(delayed(inc)(i) for i in range(10))
    finally:
        scaleml.engines.dask.cluster.close_all(cluster.scheduler_address)
        cluster.close()


# -- beyond joblib's suite: what the issue found ---------------------------------------


def test_a_scaled_model_searched_inside_a_dask_block_starts_no_cluster_in_a_worker(on_cluster):
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    enter, _ = on_cluster
    X, y = load_iris(return_X_y=True)
    with enter():
        search = GridSearchCV(scaleml.Scaled(RandomForestClassifier(n_estimators=5, random_state=0), backend="dask"),
                              {"estimator__max_depth": [2, 3]}, cv=2).fit(X, y)
    reference = GridSearchCV(RandomForestClassifier(n_estimators=5, random_state=0), {"max_depth": [2, 3]}, cv=2)
    assert search.best_params_["estimator__max_depth"] == reference.fit(X, y).best_params_["max_depth"]
    assert "inside a task on a Dask worker" in search.best_estimator_.plan_[0].reason or \
        search.best_estimator_.plan_[0].route.on_cluster  # the refit ran here, on the cluster


def interrupting(i):
    if i == 3:
        raise KeyboardInterrupt
    return i


def test_keyboard_interrupt_in_a_task_comes_back_as_keyboard_interrupt(on_cluster):
    enter, client = on_cluster
    workers = set(workers_of(client))
    with enter():
        with pytest.raises(KeyboardInterrupt):
            Parallel()(delayed(interrupting)(i) for i in range(6))
    assert set(workers_of(client)) == workers  # no worker was lost to it
