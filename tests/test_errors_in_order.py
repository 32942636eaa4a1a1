"""The state behind "the first error in input order" (backends/_errors_in_order.py), driven
by hand: batches finishing in any order, thousands of held errors, two calls on one backend,
a batch never sent. joblib's callbacks are stand-ins that record what they were handed."""

import threading
from types import SimpleNamespace

import pytest

from scaleml.backends._errors_in_order import ErrorsInInputOrder


class _Parallel(SimpleNamespace):
    """What the ordering reads of joblib's Parallel: its timeout; state is kept on it."""


class _Callback:
    """joblib's BatchCompletionCallBack as the ordering sees it: its Parallel and call id."""

    def __init__(self, parallel, call_id, handed):
        self.parallel, self.parallel_call_id, self.handed = parallel, call_id, handed

    def __call__(self, out):
        self.handed.append(out)


class _Backend:
    """The backend under the mixin: ``submit`` keeps the wrapped callback to call later."""

    def __init__(self):
        self.sent = []

    def submit(self, func, callback=None):
        if func == "refused":
            raise RuntimeError("cannot send")
        self.sent.append(callback)
        return len(self.sent) - 1


class _Ordered(ErrorsInInputOrder, _Backend):
    def batch_failed(self, out):
        return out.startswith("error")


def _submit_all(backend, parallel, count, call_id="call-1"):
    handed = []
    for _ in range(count):
        backend.submit("batch", _Callback(parallel, call_id, handed))
    return handed, backend.sent[-count:]


def _one_call(count, timeout=None):
    """A backend and one call of ``count`` batches: what was handed over, the callbacks."""
    return _submit_all(_Ordered(), _Parallel(timeout=timeout), count)


def test_an_error_waits_for_the_batches_before_it_and_successes_do_not():
    handed, callbacks = _one_call(5)
    callbacks[4]("error 4")
    callbacks[2]("error 2")
    callbacks[3]("ok 3")
    assert handed == ["ok 3"]  # a success goes at once; both errors wait for 0 and 1
    callbacks[1]("ok 1")
    assert handed == ["ok 3", "ok 1"]
    callbacks[0]("ok 0")
    assert handed == ["ok 3", "ok 1", "ok 0", "error 2", "error 4"]  # the first error first


def test_after_an_error_is_handed_over_the_rest_go_at_once():
    handed, callbacks = _one_call(4)
    callbacks[0]("error 0")
    callbacks[3]("error 3")
    callbacks[2]("error 2")
    assert handed == ["error 0", "error 3", "error 2"]  # joblib ends the call at the first


def test_thousands_of_held_errors_are_let_go_in_order_without_recursion():
    count = 5000
    handed, callbacks = _one_call(count)
    for index in range(count - 1, 0, -1):
        callbacks[index](f"error {index}")
    assert handed == []
    callbacks[0]("ok 0")
    assert handed == ["ok 0"] + [f"error {index}" for index in range(1, count)]


def test_two_calls_on_one_backend_keep_their_own_order():
    backend = _Ordered()
    first, second = _Parallel(timeout=None), _Parallel(timeout=None)
    handed_first, handed_second = [], []
    for index in range(3):  # submits interleaved, as two threads' calls would
        backend.submit("batch", _Callback(first, "a", handed_first))
        backend.submit("batch", _Callback(second, "b", handed_second))
    a, b = backend.sent[0::2], backend.sent[1::2]
    a[1]("error a1")
    b[0]("ok b0")  # another call's batch lets nothing of the first through
    assert handed_first == [] and handed_second == ["ok b0"]
    b[2]("error b2")
    b[1]("ok b1")
    assert handed_second == ["ok b0", "ok b1", "error b2"]
    a[0]("ok a0")
    assert handed_first == ["ok a0", "error a1"]


def test_a_new_call_on_the_same_parallel_starts_afresh():
    backend, parallel = _Ordered(), _Parallel(timeout=None)
    handed, callbacks = _submit_all(backend, parallel, 2, call_id="first")
    callbacks[1]("error 1")  # held: batch 0 never finishes (the call was abandoned)
    handed_next, next_callbacks = _submit_all(backend, parallel, 1, call_id="second")
    next_callbacks[0]("error 0")
    assert handed == [] and handed_next == ["error 0"]


def test_a_batch_that_could_not_be_submitted_holds_nothing_back():
    backend, parallel = _Ordered(), _Parallel(timeout=None)
    handed, _ = _submit_all(backend, parallel, 1)  # batch 0 still running
    with pytest.raises(RuntimeError, match="cannot send"):
        backend.submit("refused", _Callback(parallel, "call-1", handed))
    later = _Callback(parallel, "call-1", handed)
    backend.submit("batch", later)
    backend.sent[-1]("error 2")
    assert handed == ["error 2"]  # the refused batch ended the call: nothing waits for batch 0


def test_calls_with_a_timeout_keep_joblibs_order():
    """joblib times out the first pending batch: a held error would become a TimeoutError."""
    handed, callbacks = _one_call(2, timeout=1.0)
    callbacks[1]("error 1")
    assert handed == ["error 1"]


def test_batches_finishing_on_many_threads_hand_each_over_once():
    count = 400
    handed, callbacks = _one_call(count)
    outs = [f"error {i}" if i % 7 == 3 else f"ok {i}" for i in range(count)]
    threads = [threading.Thread(target=callbacks[i], args=(outs[i],)) for i in reversed(range(count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(handed) == sorted(outs)
    first_error = next(out for out in handed if out.startswith("error"))
    assert first_error == "error 3"


def test_an_abort_cancels_only_the_failed_calls_batches():
    """What ``abort_everything`` cancels: the batches of the call whose error was handed
    over; none when it has none in flight and another call has; all on any other abort."""
    from scaleml.backends._errors_in_order import ended_calls_only

    backend = _Ordered()
    failing, other = _Parallel(timeout=None), _Parallel(timeout=None)
    _submit_all(backend, failing, 2, call_id="failing")
    _submit_all(backend, other, 2, call_id="other")
    failing_callbacks, other_callbacks = backend.sent[:2], backend.sent[2:]
    ended = backend.ended_calls
    assert ended_calls_only(other_callbacks + failing_callbacks, ended) is None  # no call ended: Ctrl-C and the like
    failing_callbacks[0]("error 0")
    assert ended_calls_only(other_callbacks + failing_callbacks[1:], ended) == [False, False, True]
    failing_callbacks[1]("ok 1")
    _submit_all(backend, failing, 1, call_id="failing again")
    backend.sent[-1]("error 0")  # ended with nothing left in flight
    assert ended_calls_only(other_callbacks, ended) == [False, False]
    assert ended_calls_only(other_callbacks, ended) is None  # each ended call is counted by one abort
    assert _Ordered().ended_calls is not ended  # per backend: another's ended calls change nothing here
