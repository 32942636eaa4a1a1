"""What every scaleml.nn estimator shares: validation, fitting, resuming, predicting."""

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
from ..exceptions import BackendUnavailableError
from ..planning import Placement, PlacementRequest


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
    "checkpoint_dir": [str, os.PathLike, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class TorchEstimator(ValidatedParams, BaseEstimator):
    """Base of the PyTorch estimators. Subclasses set the hooks below and ``__init__``."""

    _accepts_images = False  # whether X may be (n, h, w) or (n, c, h, w)

    def __scaleml_placement__(self, request: PlacementRequest) -> Placement:
        """It trains on its own device, whatever the backend: the one ``device`` resolves to here."""
        from ..data.device import resolve_device

        try:
            device = str(resolve_device(self.device))
        except Exception as exc:  # noqa: BLE001 - an absent explicit device: say so in the plan
            device = f"unavailable ({exc})"
        return Placement(
            request.step, type(self).__name__, device, "PyTorch (scaleml.nn)", "1 process", request.data_form,
            f"{request.backend} backend: a scaleml PyTorch estimator runs on its own device "
            f"(device={self.device!r} -> {device})",
        )

    # -- hooks -------------------------------------------------------------------------

    def _input_shape(self, X: np.ndarray) -> tuple[int, ...]:
        """Per-sample shape the network takes, from validated ``X``."""
        return (X.shape[1],)

    def _to_network_input(self, X: np.ndarray) -> np.ndarray:
        return X

    def _build_module(self, input_shape: tuple[int, ...], n_outputs: int) -> Any:
        raise NotImplementedError

    def _encode_targets(self, y: np.ndarray, reset: bool, classes: Any) -> tuple[Any, int]:
        """``(target tensor, number of network outputs)``; sets class/scale state on reset."""
        raise NotImplementedError

    def _loss(self) -> Any:
        raise NotImplementedError

    # -- fitting -----------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> TorchEstimator:
        """Train a fresh network for ``epochs`` epochs (resuming from ``checkpoint_dir`` if it
        holds an unfinished run of this same fit)."""
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

    def _fingerprint(self, X: np.ndarray, y: Any) -> str:
        params = {k: repr(v) for k, v in sorted(self.get_params().items()) if k not in ("verbose", "checkpoint_dir")}
        digest = hashlib.sha256()
        digest.update(json.dumps(params, sort_keys=True).encode())
        digest.update(np.ascontiguousarray(X).tobytes())
        digest.update(np.ascontiguousarray(np.asarray(y)).tobytes() if np.asarray(y).dtype != object else repr(list(y)).encode())
        return digest.hexdigest()

    def _fit(self, X: Any, y: Any, *, reset: bool, epochs: int, classes: Any, incremental: bool = False) -> TorchEstimator:
        torch = _import_torch()
        from ._checkpoint import load_checkpoint, remove_checkpoint, save_checkpoint
        from ..data.device import resolve_device
        from ._training import TrainingData, run_epochs

        self._validate_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        X, y = self._validate(X, y, reset=reset)
        device = resolve_device(self.device)
        targets, n_outputs = self._encode_targets(y, reset, classes)
        X_net = self._to_network_input(X)
        if reset:
            self.input_shape_ = self._input_shape(X)
            self._seed = int(np.random.RandomState(self.random_state).randint(0, 2**31 - 1))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self._seed)
                self.module_ = self._build_module(self.input_shape_, n_outputs)
            self._n_outputs = n_outputs
            self.history_ = []
            self.n_epochs_ = 0
            self._optimizer = None
        elif tuple(X_net.shape[1:]) != tuple(self.input_shape_):
            raise ValueError(f"X has samples of shape {X_net.shape[1:]}, but this model takes {self.input_shape_}.")
        from .distributed import process_group

        group = process_group()
        if group is not None and device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))  # one GPU per process
        module = self.module_.to(device)
        if device.type == "cuda" and len(self.input_shape_) == 3:
            module = module.to(memory_format=torch.channels_last)
        if self._optimizer is None:
            self._optimizer = torch.optim.AdamW(
                module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
        # Under torch.distributed every process trains a replica on its shard; the
        # gradients are averaged, so the replicas stay equal.
        trained = module if group is None else torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )
        if self.compile:
            options = {} if self.compile is True else {"backend": self.compile}
            trained = torch.compile(trained, **options)  # shares module's parameters
        self.device_ = str(device)

        X_t = torch.as_tensor(np.array(X_net, dtype=np.float32, copy=True))
        data = TrainingData(X_t, targets)
        validation = None
        if self.early_stopping and not incremental:
            data, validation = self._split_validation(X_t, targets)
        if device.type != "cpu" and self._fits_on_device(data, device):
            data = TrainingData(*(t.to(device) if t is not None else None for t in
                                  (data.X, data.y, data.X_val, data.y_val)))

        fingerprint = self._fingerprint(X, y) if (self.checkpoint_dir and not incremental) else None
        first_epoch, best = 0, {"score": -np.inf, "state": None, "stale": 0}
        if fingerprint is not None:
            state = load_checkpoint(self.checkpoint_dir, fingerprint)
            if state is not None:
                module.load_state_dict(state["module"])
                self._optimizer.load_state_dict(state["optimizer"])
                self.history_ = list(state["history"])
                first_epoch = int(state["epoch"])
                best["score"], best["stale"] = float(state["best_score"]), int(state["stale"])
                best["state"] = state.get("best_module")
        else:
            first_epoch = self.n_epochs_

        def on_epoch_end(epoch: int, record: dict[str, float]) -> bool:
            self.history_.append(record)
            self.n_epochs_ = epoch + 1
            keep_going = True
            if validation is not None:
                score = record["validation_score"]
                if score > best["score"] + self.tol:
                    best.update(score=score, stale=0, state=copy.deepcopy(module.state_dict()))
                else:
                    best["stale"] += 1
                    keep_going = best["stale"] < self.n_iter_no_change
            if fingerprint is not None and keep_going and epoch + 1 < epochs and (group is None or group[0] == 0):
                save_checkpoint(self.checkpoint_dir, {
                    "module": module.state_dict(), "optimizer": self._optimizer.state_dict(),
                    "history": self.history_, "epoch": epoch + 1, "best_score": float(best["score"]),
                    "stale": best["stale"], "best_module": best["state"],
                }, fingerprint)
            return keep_going

        remaining = epochs - (first_epoch if fingerprint is not None else 0)
        run_epochs(
            trained, self._optimizer, self._loss(), data, shard=group,
            first_epoch=first_epoch, epochs=max(remaining, 0), batch_size=self.batch_size,
            seed=self._seed, device=device, precision=self.precision,
            validation_score=(lambda: self._score_tensors(module, *validation, device)) if validation else None,
            on_epoch_end=on_epoch_end, verbose=self.verbose,
        )
        if validation is not None and best["state"] is not None:
            module.load_state_dict(best["state"])  # the epoch that scored best on validation
        if fingerprint is not None:
            remove_checkpoint(self.checkpoint_dir)  # finished: the next fit starts afresh
        self.module_ = module
        return self

    def _fits_on_device(self, data: Any, device: Any) -> bool:
        torch = _import_torch()
        if device.type != "cuda":
            return False
        needed = sum(t.element_size() * t.nelement() for t in (data.X, data.y, data.X_val, data.y_val) if t is not None)
        free, _ = torch.cuda.mem_get_info(device)
        return needed < free * 0.5

    def _split_validation(self, X_t: Any, targets: Any) -> tuple[Any, tuple[Any, Any]]:
        from sklearn.model_selection import train_test_split

        from ._training import TrainingData

        index = np.arange(X_t.shape[0])
        stratify = targets.numpy() if hasattr(self, "_is_classifier") else None
        try:
            train, val = train_test_split(index, test_size=self.validation_fraction,
                                          random_state=self._seed, stratify=stratify)
        except ValueError:
            train, val = train_test_split(index, test_size=self.validation_fraction, random_state=self._seed)
        return TrainingData(X_t[train], targets[train]), (X_t[val], targets[val])

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
        from ._training import predict_in_batches

        X = self._validate(X, reset=False)
        X_net = self._to_network_input(X)
        if tuple(X_net.shape[1:]) != tuple(self.input_shape_):
            raise ValueError(f"X has samples of shape {X_net.shape[1:]}, but this model takes {self.input_shape_}.")
        device = self._inference_device()
        module = self.module_.to(device)
        X_t = torch.as_tensor(np.array(X_net, dtype=np.float32, copy=True))
        return predict_in_batches(module, X_t, device, self.batch_size, self.precision)

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
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("_module_weights", None)
        super().__setstate__({**state, "_optimizer": None})
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
