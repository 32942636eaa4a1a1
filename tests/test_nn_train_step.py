"""The overridable steps of scaleml.nn's loop: ``train_step`` (a custom loss) and
``validation_step``, each checked by a witness outside the loop: the batches counted from
the data's size, weights compared with the default's, a loss floor only the custom loss has."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from scaleml.exceptions import CheckpointError  # noqa: E402
from scaleml.nn import CNNClassifier  # noqa: E402
from scaleml.nn.callbacks import Callback  # noqa: E402

pytestmark = pytest.mark.timeout(300)

X, y = load_digits(return_X_y=True)
X, y = (X[:200] / 16.0).reshape(-1, 8, 8), y[:200]  # every digit, ~20 of each
N_CLASSES = 10
SMOOTHING = 0.8  # a floor (2.17) the default model goes under within 3 epochs
STEPS: list[tuple[int, int]] = []  # (epoch, batch) of every train_step call, written by the overrides


class SmoothedCNN(CNNClassifier):
    """A CNN trained with label smoothing: the use the hook is for (a custom loss)."""

    def train_step(self, batch, training):
        STEPS.append((training.epoch, training.batch))
        X, y = batch
        return F.cross_entropy(training.forward(X), y, label_smoothing=SMOOTHING)


class PlainLossCNN(CNNClassifier):
    """The default loss written out in an override: the control for SmoothedCNN."""

    def train_step(self, batch, training):
        X, y = batch
        return F.cross_entropy(training.forward(X), y)


def _cnn(cls=CNNClassifier, **params):
    return cls(**{"channels": (4, 8), "epochs": 3, "batch_size": 64, "learning_rate": 1e-2,
                  "device": "cpu", "random_state": 0, **params})


def _weights(model):
    return [p.detach().cpu().numpy().copy() for p in model.module_.parameters()]


def _smoothed_loss_floor(smoothing: float, n_classes: int) -> float:
    """The least cross-entropy against smoothed targets: the entropy of those targets."""
    high, low = 1 - smoothing + smoothing / n_classes, smoothing / n_classes
    return -(high * math.log(high) + (n_classes - 1) * low * math.log(low))


def test_an_overridden_train_step_runs_once_per_batch_and_changes_training():
    STEPS.clear()
    smoothed = _cnn(SmoothedCNN).fit(X, y)
    batches = math.ceil(len(X) / 64)  # 200 samples in batches of 64: 4 steps an epoch
    assert STEPS == [(epoch, batch) for epoch in range(3) for batch in range(batches)]

    default = _cnn().fit(X, y)
    control = _cnn(PlainLossCNN).fit(X, y)
    for a, b in zip(_weights(default), _weights(control)):
        assert_array_equal(a, b)  # an override computing the default loss trains the default model
    assert any(not np.array_equal(a, b) for a, b in zip(_weights(default), _weights(smoothed)))

    # The epoch's recorded loss is the override's: smoothed targets cannot be fitted below
    # their entropy, which the default model's plain cross-entropy goes under.
    floor = _smoothed_loss_floor(SMOOTHING, N_CLASSES)
    assert all(h["loss"] >= floor for h in smoothed.history_)
    assert default.history_[-1]["loss"] < floor
    assert smoothed.score(X, y) > 0.5  # still a classifier that learned


def test_a_subclass_with_its_own_step_clones_and_searches():
    model = _cnn(SmoothedCNN, epochs=1)
    copy = clone(model)
    assert type(copy) is SmoothedCNN and copy.get_params() == model.get_params()

    STEPS.clear()
    search = GridSearchCV(model, {"epochs": [1, 2]}, cv=2).fit(X, y)
    assert type(search.best_estimator_) is SmoothedCNN
    # 2 folds x (1 + 2 epochs), each fold fitted on 100 samples (2 batches), then the refit
    # on all 200 (4 batches) for the best number of epochs.
    refit_epochs = search.best_params_["epochs"]
    assert len(STEPS) == 2 * (1 + 2) * 2 + refit_epochs * 4
    floor = _smoothed_loss_floor(SMOOTHING, N_CLASSES)
    assert all(h["loss"] >= floor for h in search.best_estimator_.history_)


def test_train_step_must_return_a_scalar_loss():
    class PerSampleLoss(CNNClassifier):
        def train_step(self, batch, training):
            X, y = batch
            return F.cross_entropy(training.forward(X), y, reduction="none")

    with pytest.raises(TypeError, match=r"PerSampleLoss.train_step must return .* scalar .* shape \(64,\)"):
        _cnn(PerSampleLoss).fit(X, y)


VALIDATION_CALLS: list[int] = []


class OracleValidation(CNNClassifier):
    """Scores the validation set with its own labels: a perfect score every epoch."""

    def validation_step(self, batch, training):
        X, y = batch
        VALIDATION_CALLS.append(len(X))
        return F.one_hot(y, N_CLASSES).float()


def test_an_overridden_validation_step_is_what_the_validation_score_scores():
    VALIDATION_CALLS.clear()
    model = _cnn(OracleValidation, epochs=20, batch_size=8, early_stopping=True, n_iter_no_change=2,
                 validation_fraction=0.2).fit(X, y)
    # A perfect first epoch is never beaten by more than tol: stale for 2 epochs, then stop.
    assert model.n_epochs_ == 3
    assert [h["validation_score"] for h in model.history_] == [1.0, 1.0, 1.0]
    held_out = math.ceil(0.2 * len(X))  # train_test_split's test size: 40 samples
    per_epoch = [min(32, held_out - start) for start in range(0, held_out, 4 * 8)]  # batches of 4 x batch_size
    assert VALIDATION_CALLS == per_epoch * 3


def test_a_subclass_fit_never_resumes_a_built_in_estimators_checkpoint(tmp_path):
    class Interrupt(Callback):
        def on_epoch_end(self, training):
            if training.epoch == 1:
                raise KeyboardInterrupt

    interrupted = _cnn(checkpoint_dir=str(tmp_path))
    interrupted._extra_callbacks = [Interrupt()]  # the host's callbacks: not part of the fit's parameters
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, y)
    assert (tmp_path / "checkpoint.pt").exists()
    with pytest.raises(CheckpointError, match="different fit"):
        _cnn(SmoothedCNN, checkpoint_dir=str(tmp_path)).fit(X, y)  # same parameters, another loss
    resumed = _cnn(checkpoint_dir=str(tmp_path)).fit(X, y)  # the same estimator resumes
    assert resumed.callbacks_[-1].resumed_from_ == 1  # the checkpoint after epoch 1


def test_the_guide_example_runs():
    guide = Path(__file__).resolve().parents[1] / "docs" / "guide" / "nn-training-steps.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(), flags=re.S)
    assert blocks, "the guide has a python example"
    for block in blocks:
        exec(compile(block, str(guide), "exec"), {"__name__": "__guide__"})


def test_an_unfitted_estimator_stays_unfitted_through_pickle():
    import pickle

    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from scaleml.nn import CNNClassifier

    with pytest.raises(NotFittedError):
        check_is_fitted(pickle.loads(pickle.dumps(CNNClassifier())))
