"""What every scaleml.nn estimator shares: validation, fitting, resuming, predicting.

``fit`` prepares a fit (data, device, network, callbacks) and hands it to the loop
it inherits from :class:`~scaleml.nn._training.TrainingLoop`:
``fit -> fit_loop -> run_epoch -> train_step``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import Interval, Predicate, RealNotInt, StrOptions, ValidatedParams
from ..exceptions import BackendUnavailableError, DataError
from ..planning import Placement, PlacementRequest, Route
from ._training import StreamFeed, TensorFeed, TrainingLoop, loader_workers, predict_feed
from .callbacks import Checkpoint, EarlyStopping, ProgressBar, Training, check_callbacks, ordered, stable_repr
from .distributed import process_group, shared_from_rank0
from .sources import fingerprint_of, is_source, open_source


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise BackendUnavailableError(
            "scaleml.nn needs PyTorch: pip install 'scaleml[torch]' (on a machine without a GPU, "
            "install a CPU build of torch first)."
        ) from None
    return torch


POSITIVE_INT = Interval(Integral, 1, None)
POSITIVE_INTS = Predicate(
    lambda v: isinstance(v, (tuple, list)) and all(isinstance(n, Integral) and not isinstance(n, bool) and n > 0 for n in v),
    "a tuple of positive ints",
)

COMMON_CONSTRAINTS = {
    "module": [callable, None],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "epochs": [POSITIVE_INT],
    "batch_size": [POSITIVE_INT],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "device": [Predicate(lambda v: isinstance(v, str) and bool(v), "a device name: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")],
    "precision": [StrOptions({"auto", "bf16", "fp32"})],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(RealNotInt, 0, 1, closed="neither")],
    "n_iter_no_change": [POSITIVE_INT],
    "tol": [Interval(Real, 0, None, closed="left")],
    "compile": ["boolean", str],
    "callbacks": [list, None],
    "augment": [callable, None],
    "num_workers": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    "checkpoint_dir": [str, os.PathLike, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class TorchEstimator(TrainingLoop, ValidatedParams, BaseEstimator):
    """Base of the PyTorch estimators. Subclasses set the hooks below and ``__init__``;
    subclasses of the estimators may override ``train_step`` and ``validation_step``."""

    _accepts_images = False  # whether X may be (n, h, w) or (n, c, h, w)

    __scaleml_reads_files__ = True  # streams image folders and shards itself (paths reach fit)

    def __scaleml_placement__(self, request: PlacementRequest) -> Placement:
        """On the backend's cluster: one data-parallel rank per Dask worker. Else on its own
        device, whatever the backend: the one ``device`` resolves to here."""
        from ..engines.dask.cluster import in_dask_worker
        from ..data.device import resolve_device

        if request.cluster is not None and not in_dask_worker():
            where = "cpu" if self.device == "cpu" else "each worker's own GPU when every worker has one, else cpu"
            return Placement(
                request.step, type(self).__name__, where,
                "PyTorch DistributedDataParallel (scaleml.nn)", f"one rank per Dask worker on {request.cluster}",
                request.data_form,
                f"{request.backend} backend: a scaleml PyTorch estimator trains data-parallel on the backend's "
                "cluster (gloo on CPU workers, nccl on GPU workers), each rank on its share of every epoch",
                Route.TORCH_DISTRIBUTED,
            )
        try:
            device = str(resolve_device(self.device))
        except Exception as exc:  # noqa: BLE001 - an absent explicit device: say so in the plan
            device = f"unavailable ({exc})"
        return Placement(
            request.step, type(self).__name__, device, "PyTorch (scaleml.nn)", "1 process", request.data_form,
            f"{request.backend} backend: a scaleml PyTorch estimator runs on its own device "
            f"(device={self.device!r} -> {device})", Route.TORCH,
        )

    # -- hooks -------------------------------------------------------------------------

    def _to_network_input(self, X: np.ndarray) -> np.ndarray:
        return X

    def _build_module(self, input_shape: tuple[int, ...], n_outputs: int) -> Any:
        raise NotImplementedError

    def _encode_targets(self, y: np.ndarray, reset: bool, classes: Any) -> tuple[Any, int]:
        """``(target tensor, number of network outputs)``; sets class/scale state on reset."""
        raise NotImplementedError

    def _loss(self) -> Any:
        """The default ``train_step``'s loss function: ``loss(outputs, targets)`` -> a scalar tensor."""
        raise NotImplementedError

    # -- fitting -----------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> TorchEstimator:
        """Train a fresh network for ``epochs`` epochs (resuming from ``checkpoint_dir`` if it
        holds an unfinished run of this same fit).

        ``X``: arrays, or data streamed from disk (an image folder, ``.npy``
        shards with ``y`` their labels, a ``torch`` Dataset); ``y`` may be None
        only for sources that carry their labels.
        """
        return self._fit(X, y, reset=True, epochs=self.epochs, classes=None)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> TorchEstimator:
        """Train one more epoch on ``X, y``; the first call builds the network.

        For classifiers, pass every class in ``classes`` on the first call.
        """
        first = not hasattr(self, "module_")
        return self._fit(X, y, reset=first, epochs=1, classes=classes, incremental=True)

    def _validate(self, X: Any, y: Any = None, reset: bool = False) -> Any:
        allow_nd = self._accepts_images
        if y is None:
            return validate_data(self, X, reset=reset, dtype=[np.float32, np.float64], allow_nd=allow_nd)
        return validate_data(
            self, X, y, reset=reset, dtype=[np.float32, np.float64], allow_nd=allow_nd,
            multi_output=not hasattr(self, "_is_classifier"), y_numeric=not hasattr(self, "_is_classifier"),
        )

    def _fingerprint(self, X: Any, y: Any) -> str:
        skip = ("verbose", "checkpoint_dir", "num_workers")
        params = {k: stable_repr(v) for k, v in sorted(self.get_params().items()) if k not in skip}
        digest = hashlib.sha256(b"scaleml.nn checkpoint v2")
        digest.update(json.dumps(params, sort_keys=True).encode())
        cls = type(self)
        if not cls.__module__.startswith("scaleml.nn."):
            # A subclass may train differently (its own train_step): its checkpoints are its
            # own. The built-ins' fingerprints stay as they were, so their checkpoints resume.
            digest.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        if not isinstance(X, np.ndarray):
            digest.update(fingerprint_of(X).encode())
            return digest.hexdigest()
        digest.update(np.ascontiguousarray(X).tobytes())
        digest.update(np.ascontiguousarray(np.asarray(y)).tobytes() if np.asarray(y).dtype != object else repr(list(y)).encode())
        return digest.hexdigest()

    def _fit_callbacks(self, incremental: bool) -> list[Any]:
        """The user's callbacks (copies, kept in ``callbacks_``) and those the parameters ask for."""
        if incremental and getattr(self, "callbacks_", None) is not None:
            chosen = self.callbacks_  # partial_fit continues the same callbacks (an LR schedule spans calls)
        else:
            chosen = [copy.deepcopy(c) for c in check_callbacks(self.callbacks, type(self).__name__)]
            if self.early_stopping and not any(isinstance(c, EarlyStopping) for c in chosen):
                chosen.append(EarlyStopping(patience=self.n_iter_no_change, tol=self.tol))
            if self.checkpoint_dir and not any(isinstance(c, Checkpoint) for c in chosen):
                chosen.append(Checkpoint(self.checkpoint_dir))
            if self.verbose and not any(isinstance(c, ProgressBar) for c in chosen):
                chosen.append(ProgressBar())
        if incremental:  # one epoch on the data given: nothing to hold out or to resume
            chosen = [c for c in chosen if not isinstance(c, (EarlyStopping, Checkpoint))]
        # Callbacks the training's host adds (a Dask rank's stop signal); not parameters,
        # so not in the checkpoint's fingerprint.
        return ordered([*getattr(self, "_extra_callbacks", []), *chosen])

    def _prepare(self, X: Any, y: Any, reset: bool, classes: Any) -> tuple[Any, Any, tuple[int, ...], Any]:
        """``(feed, n_outputs, per-sample network shape, (X, y) for the checkpoint fingerprint)``
        for arrays or a source (then ``(source, None)``)."""
        torch = _import_torch()
        if is_source(X):
            source = open_source(X, y, owner=type(self).__name__)
            targets, n_outputs = self._encode_targets(source.labels, reset, classes)
            shape = self._source_shape(source.sample_shape)
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_  # set by array fits only: a source has no feature count
            feed = StreamFeed(source, targets, num_workers=loader_workers(self.num_workers))
            return feed, n_outputs, shape, (source, None)
        X, y = self._validate(X, y, reset=reset)
        targets, n_outputs = self._encode_targets(y, reset, classes)
        X_net = self._to_network_input(X)
        feed = TensorFeed(torch.as_tensor(np.array(X_net, dtype=np.float32, copy=True)), targets)
        return feed, n_outputs, tuple(X_net.shape[1:]), (X, y)

    def _source_shape(self, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The network's per-sample shape for samples of ``sample_shape`` read from a source."""
        if len(sample_shape) != 1:
            raise DataError(
                f"{type(self).__name__} takes vectors, but the source's samples have shape {sample_shape}. "
                "Use CNNClassifier for images."
            )
        return tuple(sample_shape)

    def _fit(self, X: Any, y: Any, *, reset: bool, epochs: int, classes: Any, incremental: bool = False) -> TorchEstimator:
        torch = _import_torch()
        from ..engines.dask.current import backend_client
        from ..data.device import resolve_device

        self._validate_params()
        if y is None and not is_source(X):
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        group = process_group()
        client = backend_client() if group is None and not incremental else None
        if client is not None:
            return self._fit_on_cluster(client, X, y)
        feed, n_outputs, shape, identity = self._prepare(X, y, reset, classes)
        device = resolve_device(self.device)
        if group is not None and device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))  # one GPU per process
        if reset:
            self._start_fresh(shape, n_outputs, group, device)
        elif tuple(shape) != tuple(self.input_shape_):
            raise ValueError(f"X has samples of shape {shape}, but this model takes {self.input_shape_}.")
        feed.seed = self._seed  # a DataLoader's workers (randomness in a Dataset) follow the fit's seed
        module, network = self._network_on(device, group)
        callbacks = self._fit_callbacks(incremental)
        feed, validation = self._training_feeds(feed, callbacks, device)
        first = self.n_epochs_ if incremental else 0
        training = Training(
            estimator=self, module=module, network=network, optimizer=self._optimizer, device=device,
            epochs=first + epochs, epoch=first, history=self.history_, rank=group[0] if group else 0,
            world_size=group[1] if group else 1, fingerprint=self._checkpoint_name(callbacks, identity, group, device),
            callbacks=callbacks, precision=self.precision,
        )
        try:
            self.fit_loop(training, feed, validation)
        finally:
            for part in (feed, validation):
                getattr(part, "close", lambda: None)()
        self.n_epochs_ = training.epoch
        self.callbacks_ = callbacks
        self.module_ = module
        return self

    def _fit_on_cluster(self, client: Any, X: Any, y: Any) -> TorchEstimator:
        """Fit with one DDP rank per worker of ``client``'s cluster; take rank 0's fitted state."""
        from ._dask_ddp import fit_on_cluster  # lazily: it reaches Dask's connection code

        fitted = fit_on_cluster(self, client, X, y)
        params = self.get_params(deep=False)
        for name in [k for k in vars(self) if k.endswith("_") and k not in params]:
            delattr(self, name)  # nothing stale from an earlier fit
        self.__dict__.update({k: v for k, v in vars(fitted).items() if k not in params})
        return self

    def _start_fresh(self, shape: tuple[int, ...], n_outputs: int, group: Any, device: Any) -> None:
        """A new network from the fit's seed, and an empty history (``fit``, a first ``partial_fit``)."""
        torch = _import_torch()
        self.input_shape_ = shape
        self._seed = int(np.random.RandomState(self.random_state).randint(0, 2**31 - 1))
        if group is not None:  # random_state=None draws differently on each rank: use rank 0's
            self._seed = shared_from_rank0(self._seed, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed)
            self.module_ = self._build_module(self.input_shape_, n_outputs)
        self._n_outputs = n_outputs
        self.history_ = []
        self.n_epochs_ = 0
        self._optimizer = None
        self.callbacks_ = None

    def _network_on(self, device: Any, group: Any) -> tuple[Any, Any]:
        """``(module, network)``: the module on ``device`` (its optimizer made on first use),
        and what trains it: its DDP and/or compiled wrapper, or the module itself."""
        torch = _import_torch()
        module = self.module_.to(device)
        if device.type == "cuda" and len(self.input_shape_) == 3:
            module = module.to(memory_format=torch.channels_last)
        if self._optimizer is None:
            self._optimizer = torch.optim.AdamW(
                module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
        # Under torch.distributed every process trains a replica on its shard; the
        # gradients are averaged, so the replicas stay equal.
        network = module if group is None else torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )
        if self.compile:
            options = {} if self.compile is True else {"backend": self.compile}
            network = torch.compile(network, **options)  # shares module's parameters
        self.device_ = str(device)
        return module, network

    def _training_feeds(self, feed: Any, callbacks: list[Any], device: Any) -> tuple[Any, Any]:
        """``(training feed, validation feed or None)``: a validation set held out when a
        callback needs one; both moved to the device when they fit there."""
        validation = None
        if any(getattr(c, "needs_validation", False) for c in callbacks):
            feed, validation = self._split_validation(feed)
        if isinstance(feed, TensorFeed) and device.type != "cpu" and self._fits_on_device(feed, validation, device):
            feed, validation = feed.to(device), (validation.to(device) if validation is not None else None)
        return feed, validation

    def _checkpoint_name(self, callbacks: list[Any], identity: tuple[Any, Any], group: Any, device: Any) -> str | None:
        """The fit's fingerprint when a Checkpoint callback needs one, the same on every rank."""
        checkpointing = any(type(c).__name__ == "Checkpoint" for c in callbacks)
        fingerprint = self._fingerprint(*identity) if checkpointing else None
        if fingerprint is not None and group is not None:
            fingerprint = shared_from_rank0(fingerprint, device)  # one name for the checkpoint on every rank
        return fingerprint

    def _fits_on_device(self, feed: Any, validation: Any, device: Any) -> bool:
        torch = _import_torch()
        if device.type != "cuda":
            return False
        parts = [feed.X, feed.y] + ([validation.X, validation.y] if validation is not None else [])
        needed = sum(t.element_size() * t.nelement() for t in parts)
        free, _ = torch.cuda.mem_get_info(device)
        return needed < free * 0.5

    def _split_validation(self, feed: Any) -> tuple[Any, Any]:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(feed))
        stratify = feed.targets().cpu().numpy() if hasattr(self, "_is_classifier") else None
        try:
            train, val = train_test_split(index, test_size=self.validation_fraction,
                                          random_state=self._seed, stratify=stratify)
        except ValueError:
            train, val = train_test_split(index, test_size=self.validation_fraction, random_state=self._seed)
        return feed.subset(train), feed.subset(val)

    # -- predicting --------------------------------------------------------------------

    def _inference_device(self) -> Any:
        from ..data.device import resolve_device

        try:
            return resolve_device(self.device_)
        except Exception:  # noqa: BLE001 - trained on a GPU this machine lacks: use the CPU
            return resolve_device("cpu")

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "module_")
        torch = _import_torch()
        device = self._inference_device()
        if is_source(X):
            source = open_source(X, None, owner=type(self).__name__, labels=False)
            shape = self._source_shape(source.sample_shape)
            feed: Any = StreamFeed(source, None, num_workers=loader_workers(self.num_workers))
        else:
            X = self._validate(X, reset=False)
            X_net = self._to_network_input(X)
            shape = tuple(X_net.shape[1:])
            feed = TensorFeed(torch.as_tensor(np.array(X_net, dtype=np.float32, copy=True)), None)
        if tuple(shape) != tuple(self.input_shape_):
            raise ValueError(f"X has samples of shape {shape}, but this model takes {self.input_shape_}.")
        module = self.module_.to(device)
        try:
            return predict_feed(module, feed, device, self.batch_size, self.precision)
        finally:
            getattr(feed, "close", lambda: None)()

    # -- saving: the network as NumPy weights, so pickles and skops files load anywhere --

    def __getstate__(self) -> dict[str, Any]:
        # The network is stored as its weights (NumPy arrays) and rebuilt on load:
        # a GPU-trained model loads on a CPU-only machine, and skops (which cannot
        # store torch objects) saves it like any other estimator.
        state = dict(super().__getstate__())
        module = state.pop("module_", None)
        if module is not None:
            state["_module_weights"] = {name: _to_numpy(value) for name, value in module.state_dict().items()}
        state.pop("_optimizer", None)  # partial_fit after loading starts a fresh optimizer
        state.pop("callbacks_", None)  # the fit's callback copies: they hold its optimizer and weights
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("_module_weights", None)
        # callbacks_ (dropped on saving) comes back only on a fitted model: an unfitted
        # one given a fitted attribute would pass check_is_fitted.
        fitted = {"callbacks_": None} if weights is not None else {}
        super().__setstate__({**state, "_optimizer": None, **fitted})
        if weights is not None:
            torch = _import_torch()
            module = self._build_module(tuple(self.input_shape_), self._n_outputs)
            module.load_state_dict({name: torch.as_tensor(value) for name, value in weights.items()})
            self.module_ = module


def _to_numpy(tensor: Any) -> np.ndarray:
    torch = _import_torch()
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()  # no NumPy twin: stored as float32
    return tensor.numpy().copy()
