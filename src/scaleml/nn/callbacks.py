"""Small hook objects that extend the training loop (skorch's ``Callback`` shape).

A fit runs ``fit -> fit_loop -> run_epoch -> train_step``; at each point it calls the
same hook of every callback, in list order, with one :class:`Training` object that
holds what the loop knows (the estimator, module, optimizer, epoch, last loss, the
epoch's record) and which a hook may change (``stop``, the epoch's ``record``)::

    on_train_begin
      on_epoch_begin
        on_batch_begin, (train_step: forward, loss; backward), on_after_backward,
        (optimizer step), on_batch_end
      (validation_step on each validation batch, when a callback needs a validation score)
      on_epoch_end          <- training.record is the epoch's history entry
    on_train_end            <- also after early stopping; not after an error

What one step computes (the loss) is the estimator's ``train_step``, not a callback:
override it in a subclass for a custom loss.

``Checkpoint`` callbacks run after all others at each hook, so what they save
includes every other callback's state (``state_dict``/``load_state_dict``).
Under data-parallel training every rank runs its callbacks; ``training.rank``
says which one this is (only rank 0 writes files and prints).

The estimators' ``early_stopping``, ``checkpoint_dir`` and ``verbose`` parameters
are these callbacks with the same defaults: ``EarlyStopping``, ``Checkpoint``,
``ProgressBar``.
"""

from __future__ import annotations

import copy
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import InvalidParameterError
from . import _checkpoint  # the module, not its functions: tests replace save_checkpoint there
from ._precision import autocast


@dataclass
class Training:
    """What the loop shares with callbacks.

    Attributes
    ----------
    estimator : the estimator being fitted
    module : torch.nn.Module
        The network (the plain module, not its DDP or compiled wrapper).
    optimizer : torch.optim.Optimizer
    device : torch.device
    epoch : int
        Index of the current epoch (0-based; the count so far across resumed runs).
    epochs : int
        The epoch index training stops before.
    batch : int
        Index of the current step within the epoch.
    n_batches : int
        Steps in each epoch (on this rank).
    loss : float or None
        The last step's training loss (on ``on_batch_end``; a float, read it there).
    record : dict
        The epoch's history entry (``epoch``, ``loss``, ``lr``, ``seconds``,
        ``validation_score`` when there is a validation set); callbacks may add keys.
    history : list of dict
        Every finished epoch's record (``estimator.history_``).
    stop : bool
        Set to True to end training after this epoch.
    rank, world_size : int
        This process's rank and the number of data-parallel processes (0 and 1 alone).
    fingerprint : str or None
        Identifies this fit's data and parameters (checkpoints); None for ``partial_fit``.
    callbacks : list of Callback
        Every callback of this fit, in the order their hooks run.
    network : torch.nn.Module
        The module as it trains: its ``DistributedDataParallel`` or ``torch.compile``
        wrapper when there is one, else ``module`` itself. Call it through
        :meth:`forward`.
    precision : {"auto", "bf16", "fp32"}
        The estimator's ``precision``, applied by :meth:`autocast`.
    """

    estimator: Any
    module: Any
    optimizer: Any
    device: Any
    epochs: int
    epoch: int = 0
    batch: int = 0
    n_batches: int = 0
    loss: float | None = None
    record: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    stop: bool = False
    rank: int = 0
    world_size: int = 1
    fingerprint: str | None = None
    callbacks: list[Any] = field(default_factory=list)
    loss_tensor: Any = None  # the step's loss before it is read back (reading it waits for the device)
    network: Any = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.network is None:
            self.network = self.module  # trained as it is: no wrapper

    def autocast(self) -> Any:
        """The fit's mixed-precision context: bf16 autocast on CUDA (``precision`` "auto"
        or "bf16") or on the CPU ("bf16"), none otherwise. Run forward passes in it."""
        return autocast(self.device, self.precision)

    def forward(self, X: Any) -> Any:
        """The network's outputs for ``X`` as it trains, as float32.

        Through :attr:`network`, so that under data parallelism the gradients are
        averaged over the ranks, and in :meth:`autocast`. Call it in ``train_step``.

        Parameters
        ----------
        X : torch.Tensor
            A batch of samples on :attr:`device`.

        Returns
        -------
        torch.Tensor
            The outputs (logits for classifiers), float32, attached to the graph.
        """
        with self.autocast():
            output = self.network(X)
        return output.float()


class Callback:
    """Base class: override the hooks you need; each gets the :class:`Training`."""

    def on_train_begin(self, training: Training) -> None: ...
    def on_epoch_begin(self, training: Training) -> None: ...
    def on_batch_begin(self, training: Training) -> None: ...
    def on_after_backward(self, training: Training) -> None: ...
    def on_batch_end(self, training: Training) -> None: ...
    def on_epoch_end(self, training: Training) -> None: ...
    def on_train_end(self, training: Training) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback (tensors, numbers, strings, lists)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def __repr__(self) -> str:
        # From the constructor's arguments, so that a checkpoint's fingerprint is
        # the same in every process (no memory addresses).
        names = [p for p in inspect.signature(type(self).__init__).parameters if p not in ("self", "kwargs")]
        args = ", ".join(f"{n}={stable_repr(getattr(self, n, None))}" for n in names)
        return f"{type(self).__name__}({args})"


def stable_repr(value: Any) -> str:
    """``repr`` without memory addresses: functions and classes by their qualified name,
    other objects' addresses left out (a checkpoint's fingerprint must be the same in
    every process; functions are known by name, not by their code)."""
    import re

    if isinstance(value, (list, tuple)):
        inner = ", ".join(stable_repr(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
        return f"{value.__module__}.{value.__qualname__}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``tol`` for ``patience`` epochs.

    Needs a validation set: the estimator holds out ``validation_fraction`` of the
    training data whenever an EarlyStopping callback is present.

    Parameters
    ----------
    monitor : str, default="validation_score"
        A key of the epoch record; higher is better unless ``lower_is_better``.
    patience : int, default=5
    tol : float, default=1e-4
    lower_is_better : bool, default=False
    restore_best : bool, default=True
        At the end, load the weights of the best epoch.
    """

    needs_validation = True

    def __init__(self, monitor: str = "validation_score", patience: int = 5, tol: float = 1e-4,
                 lower_is_better: bool = False, restore_best: bool = True):
        if not isinstance(patience, int) or patience < 1:
            raise InvalidParameterError(f"EarlyStopping's patience must be an int >= 1. Got {patience!r} instead.")
        self.monitor, self.patience, self.tol = monitor, patience, tol
        self.lower_is_better, self.restore_best = lower_is_better, restore_best

    def on_train_begin(self, training: Training) -> None:
        self.best_score_, self.stale_, self.best_state_ = -float("inf"), 0, None

    def on_epoch_end(self, training: Training) -> None:
        if self.monitor not in training.record:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r}, which the epoch record lacks "
                           f"(it has {sorted(training.record)}).")
        score = training.record[self.monitor] * (-1 if self.lower_is_better else 1)
        if score > self.best_score_ + self.tol:
            self.best_score_, self.stale_ = score, 0
            self.best_state_ = copy.deepcopy(training.module.state_dict())
        else:
            self.stale_ += 1
            if self.stale_ >= self.patience:
                training.stop = True

    def on_train_end(self, training: Training) -> None:
        if self.restore_best and self.best_state_ is not None:
            training.module.load_state_dict(self.best_state_)  # the epoch that scored best

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": float(self.best_score_), "stale": self.stale_, "best_state": self.best_state_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score_, self.stale_ = float(state["best_score"]), int(state["stale"])
        self.best_state_ = state["best_state"]


class Checkpoint(Callback):
    """Save after every epoch; a fit of the same data and parameters resumes there.

    Written atomically and verified by hash (see ``scaleml.nn._checkpoint``);
    removed when the fit finishes, so the next fit starts afresh. The saved state
    holds the module, optimizer, history and every other callback's
    ``state_dict``. Under data-parallel training rank 0 writes it; every rank of
    a resumed run reads it, so ``dirname`` must be on storage all ranks see.

    Parameters
    ----------
    dirname : str or path
    """

    def __init__(self, dirname: Any):
        self.dirname = dirname

    def on_train_begin(self, training: Training) -> None:
        self.resumed_from_ = None
        if training.fingerprint is None:
            return
        state = _checkpoint.load_checkpoint(self.dirname, training.fingerprint)
        if state is None:
            return
        training.module.load_state_dict(state["module"])
        training.optimizer.load_state_dict(state["optimizer"])
        training.history[:] = list(state["history"])
        training.epoch = int(state["epoch"])
        saved = state["callbacks"]
        for index, callback in enumerate(_others(training, self)):
            key = f"{index}:{type(callback).__name__}"
            if key in saved:
                callback.load_state_dict(saved[key])
        self.resumed_from_ = training.epoch

    def on_epoch_end(self, training: Training) -> None:
        last = training.epoch + 1 >= training.epochs
        if training.fingerprint is None or training.rank != 0 or training.stop or last:
            return  # nothing to resume after the last epoch: the fit is finishing
        _checkpoint.save_checkpoint(self.dirname, {
            "module": training.module.state_dict(), "optimizer": training.optimizer.state_dict(),
            "history": [_plain(record) for record in training.history], "epoch": training.epoch + 1,
            "callbacks": {f"{i}:{type(c).__name__}": c.state_dict() for i, c in enumerate(_others(training, self))},
        }, training.fingerprint)

    def on_train_end(self, training: Training) -> None:
        if training.fingerprint is not None and training.rank == 0:
            _checkpoint.remove_checkpoint(self.dirname)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """NumPy scalars (a metric a callback added) as Python numbers: a checkpoint is read back
    with ``weights_only=True``, which loads tensors and plain values only."""
    return {k: v.item() if hasattr(v, "item") and getattr(v, "ndim", None) == 0 else v for k, v in record.items()}


def _others(training: Training, checkpoint: Checkpoint) -> list[Callback]:
    return [c for c in training.callbacks if not isinstance(c, Checkpoint) and getattr(c, "checkpointed", True)]


class LRScheduler(Callback):
    """Change the learning rate with any ``torch.optim.lr_scheduler`` policy.

    Parameters
    ----------
    policy : str or class
        A scheduler class, or its name in ``torch.optim.lr_scheduler``
        (``"StepLR"``, ``"CosineAnnealingLR"``, ``"OneCycleLR"``, ``"ReduceLROnPlateau"``).
    step_every : {"epoch", "batch"}, default="epoch"
        When ``scheduler.step()`` is called.
    monitor : str, default="validation_score"
        The record key passed to ``ReduceLROnPlateau.step``; its ``mode`` defaults
        to "max" for scores and "min" for keys ending in ``loss``. A validation
        score holds out ``validation_fraction`` of the training data.
    **kwargs
        The scheduler's own arguments (``step_size=10, gamma=0.5``).

    Notes
    -----
    The learning rate each epoch trained with is in the history (``lr``).
    """

    def __init__(self, policy: Any = "StepLR", step_every: str = "epoch", monitor: str = "validation_score",
                 **kwargs: Any):
        if step_every not in ("epoch", "batch"):
            raise InvalidParameterError(f"LRScheduler's step_every must be 'epoch' or 'batch'. Got {step_every!r} instead.")
        self.policy, self.step_every, self.monitor, self.kwargs = policy, step_every, monitor, kwargs
        self.scheduler_: Any = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={stable_repr(v)}" for k, v in sorted(self.kwargs.items()))
        return f"LRScheduler({stable_repr(self.policy)}, step_every={self.step_every!r}, monitor={self.monitor!r}, {args})"

    def _policy(self) -> Any:
        import torch.optim.lr_scheduler as schedulers

        if isinstance(self.policy, str):
            found = getattr(schedulers, self.policy, None)
            if not inspect.isclass(found):
                raise InvalidParameterError(
                    f"LRScheduler: torch.optim.lr_scheduler has no {self.policy!r}. Use a class name from it "
                    "(StepLR, MultiStepLR, CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau, ...) or pass a class."
                )
            return found
        return self.policy

    @property
    def needs_validation(self) -> bool:
        """A plateau schedule on a validation score needs a held-out set."""
        return self._is_plateau_policy() and self.monitor.startswith("validation")

    def _is_plateau_policy(self) -> bool:
        import torch.optim.lr_scheduler as schedulers

        policy = self._policy()
        return inspect.isclass(policy) and issubclass(policy, schedulers.ReduceLROnPlateau)

    def on_train_begin(self, training: Training) -> None:
        # Kept across partial_fit calls on the same optimizer, so a schedule spans them.
        if self.scheduler_ is None or getattr(self.scheduler_, "optimizer", None) is not training.optimizer:
            kwargs = dict(self.kwargs)
            if self._is_plateau_policy():  # scores grow as they improve, losses shrink
                kwargs.setdefault("mode", "min" if self.monitor.endswith("loss") else "max")
            self.scheduler_ = self._policy()(training.optimizer, **kwargs)

    def on_batch_end(self, training: Training) -> None:
        if self.step_every == "batch" and not self._is_plateau_policy():
            self.scheduler_.step()

    def on_epoch_end(self, training: Training) -> None:
        if self._is_plateau_policy():
            if self.monitor not in training.record:
                raise KeyError(f"LRScheduler monitors {self.monitor!r}, which the epoch record lacks (it has "
                               f"{sorted(training.record)}); use monitor='loss' or a key a callback records.")
            self.scheduler_.step(training.record[self.monitor])
        elif self.step_every == "epoch":
            self.scheduler_.step()

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler_.state_dict()} if self.scheduler_ is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "scheduler" in state and self.scheduler_ is not None:
            self.scheduler_.load_state_dict(state["scheduler"])


class GradientClipping(Callback):
    """Clip the gradients' norm before each optimizer step (``torch.nn.utils.clip_grad_norm_``).

    Parameters
    ----------
    max_norm : float
    norm_type : float, default=2.0
    """

    def __init__(self, max_norm: float, norm_type: float = 2.0):
        if not isinstance(max_norm, (int, float)) or max_norm <= 0:
            raise InvalidParameterError(f"GradientClipping's max_norm must be a number > 0. Got {max_norm!r} instead.")
        self.max_norm, self.norm_type = max_norm, norm_type

    def on_after_backward(self, training: Training) -> None:
        import torch

        torch.nn.utils.clip_grad_norm_(training.module.parameters(), self.max_norm, norm_type=self.norm_type)


class ProgressBar(Callback):
    """A progress bar over each epoch's steps (tqdm, to stderr, on a terminal), then one line per epoch.

    Printed by rank 0 only. The estimators add it when ``verbose`` is set.
    """

    def on_epoch_begin(self, training: Training) -> None:
        self.bar_ = None
        if training.rank == 0:
            from tqdm.auto import tqdm

            self.bar_ = tqdm(total=training.n_batches, desc=f"epoch {training.epoch + 1}/{training.epochs}",
                             unit="batch", leave=False, file=sys.stderr, mininterval=0.5,
                             disable=None)  # None: a bar on a terminal only, not in logs

    def on_batch_end(self, training: Training) -> None:
        if self.bar_ is not None:
            self.bar_.update(1)

    def on_epoch_end(self, training: Training) -> None:
        if self.bar_ is not None:
            self.bar_.close()
        if training.rank == 0:
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in training.record.items())
            print(f"scaleml.nn: {shown}", file=sys.stderr, flush=True)


def ordered(callbacks: list[Callback]) -> list[Callback]:
    """Checkpoints last, so that they save the state the others have just updated."""
    return [c for c in callbacks if not isinstance(c, Checkpoint)] + [c for c in callbacks if isinstance(c, Checkpoint)]


def check_callbacks(callbacks: Any, owner: str) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise InvalidParameterError(
            f"The 'callbacks' parameter of {owner} must be a list of scaleml.nn.callbacks.Callback objects. "
            f"Got {callbacks!r} instead."
        )
    bad = [c for c in callbacks if not isinstance(c, Callback)]
    if bad:
        raise InvalidParameterError(
            f"The 'callbacks' parameter of {owner} holds {bad[0]!r}, which is not a Callback. "
            "Subclass scaleml.nn.callbacks.Callback and override the hooks you need."
        )
    return list(callbacks)
