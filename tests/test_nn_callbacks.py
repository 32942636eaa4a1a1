"""The training loop's callbacks: order and arguments of the hooks, stopping, LR schedules,
gradient clipping, resuming with every callback's state."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris

torch = pytest.importorskip("torch")

from scaleml.exceptions import InvalidParameterError  # noqa: E402
from scaleml.nn import MLPClassifier  # noqa: E402
from scaleml.nn.callbacks import Callback, EarlyStopping, GradientClipping, LRScheduler  # noqa: E402

X, y = load_iris(return_X_y=True)
X = (X - X.mean(axis=0)) / X.std(axis=0)


class Recorder(Callback):
    """Writes down every hook it sees, with the arguments the docs promise."""

    def __init__(self):
        self.events = []

    def on_train_begin(self, training):
        self.events.append(("train_begin", training.epoch, training.epochs))

    def on_epoch_begin(self, training):
        self.events.append(("epoch_begin", training.epoch, training.n_batches))

    def on_batch_begin(self, training):
        self.events.append(("batch_begin", training.epoch, training.batch))

    def on_after_backward(self, training):
        grads = [p.grad for p in training.module.parameters()]
        self.events.append(("after_backward", training.batch, all(g is not None for g in grads)))

    def on_batch_end(self, training):
        self.events.append(("batch_end", training.batch, isinstance(training.loss, float)))

    def on_epoch_end(self, training):
        self.events.append(("epoch_end", training.epoch, sorted(training.record), len(training.history)))

    def on_train_end(self, training):
        self.events.append(("train_end", training.epoch))


def _mlp(**params):
    return MLPClassifier(**{"hidden_layer_sizes": (8,), "epochs": 2, "batch_size": 64, "random_state": 0, **params})


def test_hooks_fire_in_order_with_their_arguments():
    recorder = Recorder()
    model = _mlp(callbacks=[recorder]).fit(X, y)  # 150 samples, batches of 64: 3 steps an epoch
    assert recorder.events == []  # the parameter is left as given; the fit's copy did the work
    events = model.callbacks_[0].events
    step = lambda e, b: [("batch_begin", e, b), ("after_backward", b, True), ("batch_end", b, True)]  # noqa: E731
    expected = [("train_begin", 0, 2)]
    for epoch in range(2):
        expected += [("epoch_begin", epoch, 3)] + step(epoch, 0) + step(epoch, 1) + step(epoch, 2)
        expected += [("epoch_end", epoch, ["epoch", "loss", "lr", "seconds"], epoch + 1)]
    expected += [("train_end", 2)]
    assert events == expected


def test_a_callback_can_stop_training():
    class StopAfterTwo(Callback):
        def on_epoch_end(self, training):
            training.stop = training.epoch >= 1

    model = _mlp(epochs=10, callbacks=[StopAfterTwo(), Recorder()]).fit(X, y)
    assert model.n_epochs_ == 2 and len(model.history_) == 2
    assert model.callbacks_[1].events[-1] == ("train_end", 2)


def test_an_lr_scheduler_changes_the_learning_rate_as_scheduled():
    model = _mlp(epochs=5, learning_rate=0.01, callbacks=[LRScheduler("StepLR", step_size=2, gamma=0.5)]).fit(X, y)
    assert [h["lr"] for h in model.history_] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])
    per_batch = _mlp(epochs=2, learning_rate=0.01,
                     callbacks=[LRScheduler(torch.optim.lr_scheduler.ExponentialLR, step_every="batch", gamma=0.5)])
    per_batch.fit(X, y)
    assert [h["lr"] for h in per_batch.history_] == pytest.approx([0.01, 0.01 * 0.5**3])  # 3 steps an epoch
    with pytest.raises(InvalidParameterError, match="has no 'StepLRR'"):
        _mlp(callbacks=[LRScheduler("StepLRR")]).fit(X, y)


def test_plateau_scheduler_reads_the_validation_score():
    # No EarlyStopping: the scheduler itself asks for the held-out set its score needs.
    model = _mlp(epochs=8, learning_rate=0.05, callbacks=[
        LRScheduler("ReduceLROnPlateau", patience=0, factor=0.5)]).fit(X, y)
    lrs = [h["lr"] for h in model.history_]
    scores = [h["validation_score"] for h in model.history_]
    for k in range(1, len(lrs)):  # halved exactly after an epoch that did not beat the best score
        improved = scores[k - 1] > max(scores[:k - 1], default=-1.0) * (1 + 1e-4)
        assert lrs[k] == pytest.approx(lrs[k - 1] * (1.0 if improved else 0.5))
    assert min(lrs) < lrs[0]


def test_gradient_clipping_bounds_the_gradient_norm():
    class Norms(Callback):
        def __init__(self):
            self.norms = []

        def on_after_backward(self, training):
            grads = [p.grad.norm() for p in training.module.parameters()]
            self.norms.append(float(torch.linalg.vector_norm(torch.stack(grads))))

    plain = _mlp(callbacks=[Norms()]).fit(X, y)
    clipped = _mlp(callbacks=[GradientClipping(max_norm=0.01), Norms()]).fit(X, y)
    assert max(plain.callbacks_[0].norms) > 0.05
    assert max(clipped.callbacks_[1].norms) <= 0.01 * (1 + 1e-4)


class _Interrupt(Callback):
    """Fails at the start of one epoch the first time (as a killed process would stop)."""

    armed = True

    def __init__(self, at=3):
        self.at = at

    def on_epoch_begin(self, training):
        if type(self).armed and training.epoch == self.at:
            type(self).armed = False
            raise KeyboardInterrupt


def test_resuming_restores_every_callbacks_state(tmp_path):
    callbacks = [LRScheduler("StepLR", step_size=2, gamma=0.5), _Interrupt(at=3)]
    params = {"epochs": 6, "learning_rate": 0.01, "early_stopping": True, "n_iter_no_change": 50}
    _Interrupt.armed = True
    with pytest.raises(KeyboardInterrupt):
        _mlp(**params, callbacks=callbacks, checkpoint_dir=str(tmp_path)).fit(X, y)
    resumed = _mlp(**params, callbacks=callbacks, checkpoint_dir=str(tmp_path)).fit(X, y)
    straight = _mlp(**params, callbacks=callbacks).fit(X, y)  # _Interrupt is disarmed now
    assert [h["lr"] for h in resumed.history_] == [h["lr"] for h in straight.history_]
    assert [h["validation_score"] for h in resumed.history_] == [h["validation_score"] for h in straight.history_]
    for a, b in zip(resumed.module_.state_dict().values(), straight.module_.state_dict().values()):
        assert_array_equal(a.numpy(), b.numpy())
    assert not (tmp_path / "checkpoint.pt").exists()


def test_partial_fit_after_fit_holds_nothing_out_and_saves_nothing(tmp_path):
    model = _mlp(early_stopping=True, checkpoint_dir=str(tmp_path)).fit(X, y)
    assert "validation_score" in model.history_[-1]
    model.partial_fit(X, y)
    assert "validation_score" not in model.history_[-1]  # one epoch on all the data given
    assert not list(tmp_path.iterdir())


def test_a_numpy_metric_in_the_record_survives_a_resume(tmp_path):
    class Metric(Callback):
        def on_epoch_end(self, training):
            training.record["half_loss"] = np.float64(training.record["loss"] / 2)

    params = {"epochs": 5, "callbacks": [Metric(), _Interrupt(at=3)], "checkpoint_dir": str(tmp_path)}
    _Interrupt.armed = True
    with pytest.raises(KeyboardInterrupt):
        _mlp(**params).fit(X, y)
    resumed = _mlp(**params).fit(X, y)
    assert [type(h["half_loss"]) for h in resumed.history_] == [float] * 5


def test_partial_fit_keeps_one_schedule_across_calls():
    model = _mlp(learning_rate=0.01, callbacks=[LRScheduler("StepLR", step_size=1, gamma=0.5)])
    for _ in range(3):
        model.partial_fit(X, y, classes=np.unique(y))
    assert [h["lr"] for h in model.history_] == pytest.approx([0.01, 0.005, 0.0025])


@pytest.mark.parametrize("bad", [Recorder(), [print], ["EarlyStopping"]])
def test_callbacks_that_are_not_callbacks_are_refused(bad):
    with pytest.raises(InvalidParameterError, match="callbacks"):
        _mlp(callbacks=bad).fit(X, y)


def test_callbacks_do_not_travel_with_a_saved_model():
    import pickle

    model = _mlp(callbacks=[LRScheduler("StepLR", step_size=1), EarlyStopping()]).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert restored.callbacks_ is None and isinstance(restored.callbacks[0], LRScheduler)
    assert_array_equal(restored.predict(X), model.predict(X))
