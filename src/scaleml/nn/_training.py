"""The loop shared by every scaleml.nn estimator: fit -> epoch -> step, with callbacks.

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

from .callbacks import Training


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

        from .sources import Indexed, as_batch

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
        from ._parquet import blocked_order

        return blocked_order(group_ids[self.positions], generator)

    def close(self) -> None:
        self._loader = None  # its persistent workers end with it


def _autocast(device: Any, precision: str) -> Any:
    import torch

    if device.type == "cuda" and precision in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if precision == "bf16" and device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


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


def run_training(
    training: Training,
    trained: Any,
    loss_fn: Callable[[Any, Any], Any],
    feed: Any,
    *,
    batch_size: int,
    seed: int,
    precision: str,
    augment: Callable[[Any], Any] | None,
    validation_score: Callable[[], float] | None,
) -> None:
    """Train ``trained`` (the module, or its DDP/compiled wrapper) from ``training.epoch``
    up to ``training.epochs``, calling the callbacks' hooks.

    Every epoch's randomness (shuffling, dropout, ``augment``) comes from
    ``seed + epoch``, so a fit resumed at epoch k from a checkpoint continues
    exactly as the uninterrupted fit would have. With ``world_size > 1`` this
    process trains on every world_size-th sample of the epoch's order, the order
    cut to a multiple of the world size so every rank takes the same number of
    steps, in batches of ``batch_size // world_size``: ``batch_size`` stays the
    global batch.
    """
    import torch

    device, optimizer = training.device, training.optimizer
    rank, world = training.rank, training.world_size
    n = len(feed)
    step = max(batch_size // world, 1) if world > 1 else batch_size
    reads_loss = _reads_loss(training)
    _call(training, "on_train_begin")
    while training.epoch < training.epochs and not training.stop:
        epoch = training.epoch
        start = time.perf_counter()
        order = feed.epoch_order(torch.Generator().manual_seed(seed + epoch))
        if world > 1:
            order = order[: (n // world) * world][rank::world]
        training.n_batches = -(-len(order) // step)
        training.record = {"epoch": epoch + 1}
        trained.train()
        total, seen = torch.zeros((), device=device), 0
        devices = [device.index or 0] if device.type == "cuda" else []
        _call(training, "on_epoch_begin")
        lr = optimizer.param_groups[0]["lr"]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed + epoch + rank * 7919)  # own dropout per rank
            with contextlib.closing(feed.batches(order, step, device)) as batches:  # its loader freed on error
                for training.batch, (xb, yb) in enumerate(batches):
                    _call(training, "on_batch_begin")
                    if augment is not None:
                        xb = augment(xb)
                    optimizer.zero_grad(set_to_none=True)
                    try:
                        with _autocast(device, precision):
                            output = trained(xb)
                        loss = loss_fn(output.float(), yb)
                        loss.backward()
                    except RuntimeError as exc:
                        if _is_out_of_memory(exc):
                            raise out_of_memory_error(exc, device, batch_size, "training") from exc
                        raise
                    _call(training, "on_after_backward")
                    optimizer.step()
                    detached = loss.detach()
                    total += detached * len(yb)
                    seen += len(yb)
                    training.loss_tensor = detached
                    training.loss = float(detached) if reads_loss else None
                    _call(training, "on_batch_end")
        # Under data parallelism every rank records the same numbers and takes the same
        # decisions (the loss over all ranks' samples; stop when any rank stops), so the
        # ranks keep calling the collectives together.
        total, seen = _summed(training, [total, float(seen)])
        training.record.update(loss=float(total) / max(seen, 1), lr=lr, seconds=time.perf_counter() - start)
        if validation_score is not None:
            training.record["validation_score"] = _summed(training, [validation_score()])[0] / world
        training.history.append(training.record)
        _call(training, "on_epoch_end")
        training.record.update({k: v.item() for k, v in training.record.items() if isinstance(v, np.generic)})
        training.stop = bool(_summed(training, [float(training.stop)])[0])
        training.epoch += 1
    _call(training, "on_train_end")


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
    from .callbacks import Callback, LRScheduler, ProgressBar

    return any(type(c).on_batch_end is not Callback.on_batch_end and not isinstance(c, (LRScheduler, ProgressBar))
               for c in training.callbacks)


def predict_feed(module: Any, feed: Any, device: Any, batch_size: int, precision: str) -> np.ndarray:
    """Module outputs for every sample of ``feed``, in its order, as float64, in eval mode.

    Batches hold ``4 * batch_size`` samples (no gradients are kept), so lowering
    the estimator's ``batch_size`` lowers them too.
    """
    import torch

    module.eval()
    outputs = []
    order = torch.arange(len(feed))
    with torch.no_grad():
        try:
            for xb, _ in feed.batches(order, 4 * batch_size, device):
                with _autocast(device, precision):
                    out = module(xb)
                outputs.append(out.float().cpu().numpy())
        except RuntimeError as exc:
            if _is_out_of_memory(exc):
                raise out_of_memory_error(exc, device, batch_size, "prediction") from exc
            raise
    if not outputs:
        return np.empty((0,))
    return np.concatenate(outputs).astype(np.float64)
