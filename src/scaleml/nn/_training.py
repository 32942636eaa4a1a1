"""The loop shared by every scaleml.nn estimator: fit_loop -> run_epoch -> train_step,
with callbacks (:class:`TrainingLoop`, which the estimators inherit).

Data reaches the loop as a *feed*: :class:`TensorFeed` for arrays in memory
(batches are slices of one tensor) or :class:`StreamFeed` for sources on disk
(batches are read by a ``DataLoader``). Both serve the batches of the same
seeded order, so the same samples give the same model in either form.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from ._parquet import blocked_order
from ._precision import autocast
from .callbacks import Callback, LRScheduler, ProgressBar, Training
from .sources import Indexed, as_batch


class TensorFeed:
    """Samples in one tensor (on the CPU, or on the device when they fit there)."""

    seed = 0  # unused: nothing here draws random numbers

    def __init__(self, X: Any, y: Any):
        self.X, self.y = X, y

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, positions: np.ndarray) -> TensorFeed:
        import torch

        index = torch.as_tensor(positions, device=self.X.device)
        return TensorFeed(self.X[index], self.y[index])

    def to(self, device: Any) -> TensorFeed:
        return TensorFeed(self.X.to(device), self.y.to(device))

    def batches(self, order: Any, step: int, device: Any) -> Iterator[tuple[Any, Any]]:
        order = order.to(self.X.device)
        for begin in range(0, len(order), step):
            index = order[begin:begin + step]
            yb = self.y[index].to(device, non_blocking=True) if self.y is not None else None
            yield self.X[index].to(device, non_blocking=True), yb

    def targets(self) -> Any:
        return self.y

    def epoch_order(self, generator: Any) -> Any:
        import torch

        return torch.randperm(len(self), generator=generator)


class _EpochBatches:
    """The batch sampler of a persistent DataLoader: the epoch's batches are set before
    each pass (the sampler is read in the training process, so this is safe)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def loader_workers(requested: Any) -> int:
    """DataLoader worker processes: ``"auto"`` is up to 4, leaving a core to training,
    and none inside a daemonic process (a Dask worker), which may not have children."""
    if multiprocessing.current_process().daemon:
        return 0
    if requested == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, min(4, cores - 1))
    return int(requested)


class StreamFeed:
    """Samples read from a source one at a time by a ``DataLoader`` (workers, pinned
    memory on CUDA, prefetch); ``positions`` picks which of the source's samples."""

    def __init__(self, source: Any, targets: Any, positions: np.ndarray | None = None, num_workers: int = 0,
                 seed: int = 0):
        self.source, self.all_targets = source, targets
        self.positions = np.arange(len(source)) if positions is None else np.asarray(positions)
        self.num_workers, self.seed = num_workers, seed
        self._loader: Any = None
        self._sampler = _EpochBatches()

    def __len__(self) -> int:
        return len(self.positions)

    def subset(self, positions: np.ndarray) -> StreamFeed:
        return StreamFeed(self.source, self.all_targets, self.positions[positions], self.num_workers, self.seed)

    def to(self, device: Any) -> StreamFeed:
        return self

    def _loader_for(self, device: Any) -> Any:
        from torch.utils.data import DataLoader

        if self._loader is None:
            import torch

            workers = self.num_workers
            # Its own generator, from the estimator's seed: a DataLoader draws its workers'
            # base seed (randomness in a Dataset) from the global RNG otherwise, which
            # would shift dropout away from the in-memory path's.
            self._loader = DataLoader(
                Indexed(self.source), batch_sampler=self._sampler, collate_fn=as_batch, num_workers=workers,
                pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                prefetch_factor=4 if workers else None,
                # fork on Linux: workers start in milliseconds and share the memory maps.
                multiprocessing_context="fork" if workers and sys.platform.startswith("linux") else None,
                generator=torch.Generator().manual_seed(self.seed),
            )
        return self._loader

    def batches(self, order: Any, step: int, device: Any) -> Iterator[tuple[Any, Any]]:
        picked = self.positions[order.cpu().numpy()]
        self._sampler.batches = [picked[b:b + step].tolist() for b in range(0, len(picked), step)]
        for xb, index in self._loader_for(device):
            yb = self.all_targets[index].to(device, non_blocking=True) if self.all_targets is not None else None
            yield xb.to(device, non_blocking=True), yb

    def targets(self) -> Any:
        import torch

        return self.all_targets[torch.as_tensor(self.positions)]

    def epoch_order(self, generator: Any) -> Any:
        """A global shuffle, or for sources read by row group (Parquet) a blocked one."""
        import torch

        group_ids = getattr(self.source, "group_ids", None)
        if group_ids is None:
            return torch.randperm(len(self), generator=generator)
        return blocked_order(group_ids[self.positions], generator)

    def close(self) -> None:
        self._loader = None  # its persistent workers end with it


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def out_of_memory_error(exc: BaseException, device: Any, batch_size: int, during: str) -> MemoryError:
    """A MemoryError that names the batch size to lower."""
    smaller = max(batch_size // 2, 1)
    return MemoryError(
        f"{device} ran out of memory during {during} with batch_size={batch_size} "
        f"({'4 x ' if during == 'prediction' else ''}batch_size samples per batch). Lower batch_size "
        f"(try batch_size={smaller}), use a smaller network, or train on another device. "
        f"(The device said: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    )


def _call(training: Training, hook: str) -> None:
    for callback in training.callbacks:
        getattr(callback, hook)(training)


class TrainingLoop:
    """The training loop of the scaleml.nn estimators: ``fit_loop -> run_epoch -> train_step``,
    and ``validation_step`` over the validation set after each epoch that needs a score.

    Override :meth:`train_step` (a custom loss) or :meth:`validation_step` in a subclass;
    the loop keeps the rest for it: callbacks, seeding, mixed precision, data-parallel
    averaging, checkpoints. The estimator supplies ``batch_size``, ``augment``, ``_seed``,
    ``_loss()`` and ``_score_outputs``.
    """

    def fit_loop(self, training: Training, feed: Any, validation: Any = None) -> None:
        """Train from ``training.epoch`` up to ``training.epochs``, or until a callback sets
        ``training.stop``, calling the callbacks' hooks. ``fit`` and ``partial_fit`` call it.

        Every epoch's randomness (shuffling, dropout, ``augment``) comes from
        ``seed + epoch``, so a fit resumed at epoch k from a checkpoint continues
        exactly as the uninterrupted fit would have.

        Parameters
        ----------
        training : scaleml.nn.callbacks.Training
            The fit's state, shared with the callbacks and the steps.
        feed : TensorFeed or StreamFeed
            The training samples.
        validation : TensorFeed or StreamFeed or None
            Held-out samples, scored after each epoch (``validation_score``).
        """
        _call(training, "on_train_begin")
        while training.epoch < training.epochs and not training.stop:
            self.run_epoch(training, feed, validation)
            training.epoch += 1
        _call(training, "on_train_end")

    def run_epoch(self, training: Training, feed: Any, validation: Any = None) -> None:
        """Train one epoch (``training.epoch``), then record it in the history.

        With ``world_size > 1`` this process trains on every world_size-th sample of
        the epoch's order, the order cut to a multiple of the world size so every
        rank takes the same number of steps, in batches of ``batch_size //
        world_size``: ``batch_size`` stays the global batch.

        Parameters
        ----------
        training : scaleml.nn.callbacks.Training
        feed : TensorFeed or StreamFeed
        validation : TensorFeed or StreamFeed or None
        """
        start = time.perf_counter()
        order = self._rank_order(training, feed)
        step = max(self.batch_size // training.world_size, 1) if training.world_size > 1 else self.batch_size
        training.n_batches = -(-len(order) // step)
        training.record = {"epoch": training.epoch + 1}
        training.network.train()
        _call(training, "on_epoch_begin")
        lr = training.optimizer.param_groups[0]["lr"]
        total, seen = self._train_batches(training, feed, order, step)
        self._record_epoch(training, total, seen, lr=lr, start=start, validation=validation)

    def train_step(self, batch: tuple[Any, Any], training: Training) -> Any:
        """The loss of one training batch: override it for a custom loss.

        The loop calls it once per batch, after the callbacks' ``on_batch_begin``
        and with the gradients zeroed; it then calls ``loss.backward()``, the
        callbacks' ``on_after_backward`` and the optimizer's step. Get the network's
        outputs with ``training.forward(X)``: it runs the network as it trains
        (averaging gradients over data-parallel ranks) in the fit's mixed precision.

        Parameters
        ----------
        batch : tuple of (torch.Tensor, torch.Tensor)
            ``(X, y)`` on ``training.device``. ``X`` after ``augment``; ``y``
            encoded: class indices (int64) for classifiers, standardised targets
            (float32, ``(n, n_outputs)``) for regressors.
        training : scaleml.nn.callbacks.Training
            The fit's state: ``training.epoch``, ``training.batch``, ``training.module``, ...

        Returns
        -------
        loss : torch.Tensor
            A scalar tensor, the batch's mean loss (``history_``'s ``loss`` is its
            mean over the epoch's samples).

        Examples
        --------
        Label smoothing on a CNN:

        >>> import torch.nn.functional as F
        >>> from scaleml.nn import CNNClassifier
        >>> class SmoothedCNN(CNNClassifier):
        ...     def train_step(self, batch, training):
        ...         X, y = batch
        ...         return F.cross_entropy(training.forward(X), y, label_smoothing=0.1)
        """
        X, y = batch
        return self._loss()(training.forward(X), y)

    def validation_step(self, batch: tuple[Any, Any], training: Training) -> Any:
        """The network's outputs for one validation batch, which the estimator scores.

        Called after each epoch that needs a ``validation_score`` (early stopping,
        a plateau schedule), on batches of ``4 * batch_size``, with the module in
        eval mode and no gradients. The outputs of every batch, in order, are
        scored together (accuracy for classifiers, R² for regressors) into the
        epoch's ``validation_score``.

        Parameters
        ----------
        batch : tuple of (torch.Tensor, torch.Tensor)
            ``(X, y)`` on ``training.device``, ``y`` encoded as in :meth:`train_step`.
        training : scaleml.nn.callbacks.Training

        Returns
        -------
        outputs : torch.Tensor
            ``(len(X), n_outputs)``: logits for classifiers, standardised
            predictions for regressors.
        """
        X, _ = batch
        with training.autocast():
            output = training.module(X)  # the plain module: no DDP collectives, no recompiling for eval
        return output.float()

    # -- the parts of an epoch ---------------------------------------------------------

    def _rank_order(self, training: Training, feed: Any) -> Any:
        """This rank's samples of the epoch, in the epoch's seeded order."""
        import torch

        order = feed.epoch_order(torch.Generator().manual_seed(self._seed + training.epoch))
        world = training.world_size
        if world > 1:
            order = order[: (len(feed) // world) * world][training.rank::world]
        return order

    def _train_batches(self, training: Training, feed: Any, order: Any, step: int) -> tuple[Any, int]:
        """Every step of the epoch: ``(the summed loss, a tensor on the device; samples seen)``."""
        import torch

        device = training.device
        total, seen = torch.zeros((), device=device), 0
        reads_loss = _reads_loss(training)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self._seed + training.epoch + training.rank * 7919)  # own dropout per rank
            with contextlib.closing(feed.batches(order, step, device)) as batches:  # its loader freed on error
                for training.batch, batch in enumerate(batches):
                    loss, size = self._optimizer_step(training, batch, reads_loss)
                    total += loss * size
                    seen += size
        return total, seen

    def _optimizer_step(self, training: Training, batch: tuple[Any, Any], reads_loss: bool) -> tuple[Any, int]:
        """One step around :meth:`train_step`, with the callbacks' batch hooks:
        ``(the detached loss, the batch's size)``."""
        X, y = batch
        _call(training, "on_batch_begin")
        if self.augment is not None:
            X = self.augment(X)
        training.optimizer.zero_grad(set_to_none=True)
        try:
            loss = _checked_loss(self.train_step((X, y), training), type(self).__name__)
            loss.backward()
        except RuntimeError as exc:
            if _is_out_of_memory(exc):
                raise out_of_memory_error(exc, training.device, self.batch_size, "training") from exc
            raise
        _call(training, "on_after_backward")
        training.optimizer.step()
        detached = loss.detach()
        training.loss_tensor = detached
        training.loss = float(detached) if reads_loss else None
        _call(training, "on_batch_end")
        return detached, len(y)

    def _record_epoch(self, training: Training, total: Any, seen: int, *, lr: float, start: float,
                      validation: Any) -> None:
        """The epoch's history entry, then ``on_epoch_end``, then whether any rank stops."""
        # Under data parallelism every rank records the same numbers and takes the same
        # decisions (the loss over all ranks' samples; stop when any rank stops), so the
        # ranks keep calling the collectives together.
        total, seen = _summed(training, [total, float(seen)])
        training.record.update(loss=float(total) / max(seen, 1), lr=lr, seconds=time.perf_counter() - start)
        if validation is not None:
            score = self._validation_score(training, validation)
            training.record["validation_score"] = _summed(training, [score])[0] / training.world_size
        training.history.append(training.record)
        _call(training, "on_epoch_end")
        training.record.update({k: v.item() for k, v in training.record.items() if isinstance(v, np.generic)})
        training.stop = bool(_summed(training, [float(training.stop)])[0])

    def _validation_score(self, training: Training, validation: Any) -> float:
        """The estimator's score of :meth:`validation_step`'s outputs over the validation set."""
        training.module.eval()
        outputs = collect_outputs(validation, lambda batch: self.validation_step(batch, training),
                                  training.device, self.batch_size)
        training.module.train()
        return self._score_outputs(outputs, validation.targets().cpu().numpy())


def _checked_loss(loss: Any, owner: str) -> Any:
    """``loss`` if it is a scalar tensor; else a TypeError that says what train_step must return."""
    import torch

    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else repr(loss)
        raise TypeError(f"{owner}.train_step must return the batch's loss as a scalar torch.Tensor "
                        f"(the loop calls backward on it); it returned {shape}.")
    return loss


def _summed(training: Training, values: list[Any]) -> list[float]:
    """``values`` summed over the data-parallel ranks (as they are, alone)."""
    if training.world_size == 1:
        return [float(v) for v in values]
    import torch
    import torch.distributed as dist

    device = training.device if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.stack([torch.as_tensor(v, dtype=torch.float64).to(device) for v in values])
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def _reads_loss(training: Training) -> bool:
    """Reading a step's loss waits for the device; do it only for callbacks that override
    ``on_batch_end`` and are not the built-ins that ignore it."""
    return any(type(c).on_batch_end is not Callback.on_batch_end and not isinstance(c, (LRScheduler, ProgressBar))
               for c in training.callbacks)


def collect_outputs(feed: Any, step: Callable[[tuple[Any, Any]], Any], device: Any, batch_size: int) -> np.ndarray:
    """``step(batch)`` for every batch of ``feed``, in its order, as one float64 array; no gradients.

    Batches hold ``4 * batch_size`` samples (no gradients are kept), so lowering
    the estimator's ``batch_size`` lowers them too.
    """
    import torch

    outputs = []
    order = torch.arange(len(feed))
    with torch.no_grad():
        try:
            for batch in feed.batches(order, 4 * batch_size, device):
                outputs.append(step(batch).float().cpu().numpy())
        except RuntimeError as exc:
            if _is_out_of_memory(exc):
                raise out_of_memory_error(exc, device, batch_size, "prediction") from exc
            raise
    if not outputs:
        return np.empty((0,))
    return np.concatenate(outputs).astype(np.float64)


def predict_feed(module: Any, feed: Any, device: Any, batch_size: int, precision: str) -> np.ndarray:
    """Module outputs for every sample of ``feed``, in its order, as float64, in eval mode."""
    module.eval()

    def forward(batch: tuple[Any, Any]) -> Any:
        with autocast(device, precision):
            return module(batch[0])

    return collect_outputs(feed, forward, device, batch_size)
