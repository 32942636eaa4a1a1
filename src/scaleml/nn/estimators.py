"""CNNClassifier, MLPClassifier, MLPRegressor: PyTorch networks as scikit-learn estimators."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ..exceptions import DataError
from ._base import COMMON_CONSTRAINTS, POSITIVE_INTS, TorchEstimator, _import_torch
from ._modules import build_cnn, build_mlp
from .sources import is_source, open_source

_COMMON_DOC = """
    epochs : int, default={epochs}
        Passes over the training data in ``fit`` (``partial_fit`` does one).
    batch_size : int, default=64
    learning_rate : float, default=1e-3
        AdamW's learning rate.
    weight_decay : float, default=0.0
    device : str, default="auto"
        ``"auto"``: CUDA, then MPS, then the CPU, recorded in ``device_``.
        An explicit device that is absent raises, listing what is present.
    precision : {{"auto", "bf16", "fp32"}}, default="auto"
        ``"auto"``: bf16 mixed precision on CUDA where supported, fp32 elsewhere.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop after
        ``n_iter_no_change`` epochs without a gain of ``tol``, keep the best epoch.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    tol : float, default=1e-4
    compile : bool or str, default=False
        Train through ``torch.compile`` (``True``: its default backend; a string
        names the backend, e.g. ``"inductor"``). The fitted ``module_`` stays the
        plain module.
    checkpoint_dir : str or None, default=None
        Save a checkpoint after every epoch; a fit of the same data and parameters
        interrupted (killed) resumes there and ends with the same weights
        (the ``Checkpoint`` callback).
    callbacks : list of scaleml.nn.callbacks.Callback or None, default=None
        Hooks into the loop (``LRScheduler``, ``GradientClipping``, your own
        ``Callback`` subclasses; see ``scaleml.nn.callbacks``). Copies of them,
        with what they recorded, are in ``callbacks_`` after fitting. Training
        only: ``scaleml.save`` leaves them out (the loaded model has
        ``callbacks=None`` and predicts the same; set them again to train on).
    augment : callable or None, default=None
        ``augment(batch) -> batch``, applied to each training batch (a tensor on
        the training device) before the forward pass, e.g. random flips for
        augmentation. Its randomness comes from the epoch's seed (use ``torch``'s
        random functions), so a seeded fit is reproducible. Not applied when predicting,
        and left out by ``scaleml.save`` as ``callbacks`` are.
    num_workers : int or "auto", default="auto"
        DataLoader worker processes reading data from disk (image folders, shards,
        Datasets); ``"auto"``: up to 4, leaving a core to training (none inside a
        Dask worker). Arrays in memory need none.
    random_state : int or None, default=None
        Seeds initialisation, shuffling and dropout: equal seeds, equal models (CPU).
    verbose : int, default=0
        A progress bar per epoch and one line per epoch (the ``ProgressBar`` callback).
"""


# Parameters predicting never reads: scaleml.save leaves them out (set to None in the saved
# copy), so a model trained with a script's own callback or augment function loads anywhere.
_TRAINING_ONLY = ("callbacks", "augment")


class _ClassifierTargets:
    _is_classifier = True

    def _encode_targets(self, y: Any, reset: bool, classes: Any) -> tuple[Any, int]:
        torch = _import_torch()
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self.classes_ = np.unique(classes if classes is not None else y)
            if len(self.classes_) < 2:
                raise ValueError("Classifier can't train when only one class is present.")
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y has labels {unseen.tolist()} not in classes_ {self.classes_.tolist()}; "
                             "pass every class to the first partial_fit via classes=.")
        return torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long), len(self.classes_)

    def _loss(self) -> Any:
        return _import_torch().nn.functional.cross_entropy

    def _score_outputs(self, logits: np.ndarray, targets: np.ndarray) -> float:
        return float((logits.argmax(axis=1) == targets).mean())

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean accuracy on ``X, y``; for an image folder or labelled source, on its own labels."""
        from sklearn.metrics import accuracy_score

        if is_source(X):
            source = open_source(X, y, owner=type(self).__name__)
            return float(accuracy_score(source.labels, self.predict(source), sample_weight=sample_weight))
        return super().score(X, y, sample_weight=sample_weight)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        logits = self._forward(X)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample."""
        logits = self._forward(X)  # first: raises NotFittedError before classes_ is read
        return self.classes_[logits.argmax(axis=1)]


class CNNClassifier(_ClassifierTargets, ClassifierMixin, TorchEstimator):
    """A convolutional network classifier that behaves as a scikit-learn estimator.

    Images as ``(n, h, w)``, ``(n, c, h, w)``, or flat ``(n, c*h*w)`` with
    ``image_shape``; flat input without it is read as one-channel square images
    when the width is a square number, else as 1 x width images.

    Data that stays on disk is streamed, never loaded whole: ``fit(folder)`` for
    a folder of images with one subfolder per class (``scaleml.nn.ImageFolder``
    to resize), ``fit("x_*.npy", "y_*.npy")`` for ``.npy`` shards, or
    ``fit(dataset)`` for any ``torch.utils.data.Dataset`` of ``(image, label)``;
    ``predict``/``score`` take the same. Inside ``scaleml.backend("dask")`` (or
    ``Scaled(..., backend="dask")``) it trains data-parallel, one rank per Dask
    worker (``scaleml.nn.distributed``).

    Parameters
    ----------
    image_shape : tuple or None, default=None
        ``(h, w)`` or ``(c, h, w)`` of flat input.
    channels : tuple of int, default=(32, 64)
        Output channels of the 3x3 convolution layers of the default network.
    dropout : float, default=0.25
    module : callable or None, default=None
        Your own network: ``module(input_shape, n_outputs)`` returning a
        ``torch.nn.Module`` (a Module subclass with that signature works).
    """ + _COMMON_DOC.format(epochs=20)

    _accepts_images = True
    __scaleml_training_only__ = _TRAINING_ONLY
    _parameter_constraints = {**COMMON_CONSTRAINTS, "image_shape": [tuple, list, None], "channels": [POSITIVE_INTS]}

    def __init__(self, image_shape=None, channels=(32, 64), dropout=0.25, module=None, epochs=20,
                 batch_size=64, learning_rate=1e-3, weight_decay=0.0, device="auto", precision="auto",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5, tol=1e-4,
                 compile=False, checkpoint_dir=None, callbacks=None, augment=None, num_workers="auto",
                 random_state=None, verbose=0):
        self.image_shape = image_shape
        self.channels = channels
        self.dropout = dropout
        self.module = module
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.device = device
        self.precision = precision
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.callbacks = callbacks
        self.augment = augment
        self.num_workers = num_workers
        self.random_state = random_state
        self.verbose = verbose

    def _to_network_input(self, X: np.ndarray) -> np.ndarray:
        if X.ndim == 4:
            return X
        if X.ndim == 3:
            return X[:, None, :, :]
        shape = tuple(self.image_shape) if self.image_shape is not None else None
        if shape is None:
            side = math.isqrt(X.shape[1])
            shape = (1, side, side) if side * side == X.shape[1] else (1, 1, X.shape[1])
        elif len(shape) == 2:
            shape = (1, *shape)
        if int(np.prod(shape)) != X.shape[1]:
            raise ValueError(f"image_shape={self.image_shape} holds {int(np.prod(shape))} values but X has "
                             f"{X.shape[1]} features per sample.")
        return X.reshape(len(X), *shape)

    def _source_shape(self, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(sample_shape) == 2:
            return (1, *sample_shape)
        if len(sample_shape) != 3:
            raise DataError(f"CNNClassifier takes images (h, w) or (c, h, w); the source's samples have shape "
                            f"{sample_shape}.")
        return tuple(sample_shape)

    def _build_module(self, input_shape: tuple[int, ...], n_outputs: int) -> Any:
        if self.module is not None:
            return self.module(input_shape, n_outputs)
        return build_cnn(input_shape, n_outputs, tuple(self.channels), self.dropout)


class _MLP(TorchEstimator):
    __scaleml_training_only__ = _TRAINING_ONLY
    _parameter_constraints = {**COMMON_CONSTRAINTS, "hidden_layer_sizes": [POSITIVE_INTS]}

    def __init__(self, hidden_layer_sizes=(100,), dropout=0.0, module=None, epochs=50, batch_size=64,
                 learning_rate=1e-3, weight_decay=0.0, device="auto", precision="auto",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5, tol=1e-4,
                 compile=False, checkpoint_dir=None, callbacks=None, augment=None, num_workers="auto",
                 random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.module = module
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.device = device
        self.precision = precision
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.callbacks = callbacks
        self.augment = augment
        self.num_workers = num_workers
        self.random_state = random_state
        self.verbose = verbose

    def _build_module(self, input_shape: tuple[int, ...], n_outputs: int) -> Any:
        if self.module is not None:
            return self.module(input_shape, n_outputs)
        return build_mlp(input_shape[0], n_outputs, tuple(self.hidden_layer_sizes), self.dropout)


_MLP_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
    dropout : float, default=0.0
    module : callable or None, default=None
        Your own network: ``module(input_shape, n_outputs)``.
""" + _COMMON_DOC.format(epochs=50)


class MLPClassifier(_ClassifierTargets, ClassifierMixin, _MLP):
    __doc__ = "A multi-layer perceptron classifier in PyTorch, as a scikit-learn estimator.\n" + _MLP_DOC


class MLPRegressor(RegressorMixin, _MLP):
    __doc__ = ("A multi-layer perceptron regressor in PyTorch, as a scikit-learn estimator.\n\n"
               "Targets are standardised for training and scaled back in ``predict``.\n" + _MLP_DOC)

    def _encode_targets(self, y: Any, reset: bool, classes: Any) -> tuple[Any, int]:
        torch = _import_torch()
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        if reset:
            self._y_1d = y.ndim == 1
            self._y_mean = y2.mean(axis=0)
            std = y2.std(axis=0)
            self._y_scale = np.where(std > 0, std, 1.0)
        return torch.as_tensor((y2 - self._y_mean) / self._y_scale, dtype=torch.float32), y2.shape[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _loss(self) -> Any:
        return _import_torch().nn.functional.mse_loss

    def _score_outputs(self, pred: np.ndarray, truth: np.ndarray) -> float:
        return float(1 - ((truth - pred) ** 2).sum() / max(((truth - truth.mean(axis=0)) ** 2).sum(), 1e-12))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, on the scale of the training targets."""
        out = self._forward(X) * self._y_scale + self._y_mean
        return out.ravel() if self._y_1d else out
