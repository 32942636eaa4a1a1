"""The epoch loop shared by every scaleml.nn estimator."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass
class TrainingData:
    """Tensors for one fit, already on the device they are read from."""

    X: Any
    y: Any
    X_val: Any = None
    y_val: Any = None


def _autocast(device: Any, precision: str) -> Any:
    import contextlib

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


def run_epochs(
    module: Any,
    optimizer: Any,
    loss_fn: Callable[[Any, Any], Any],
    data: TrainingData,
    *,
    shard: tuple[int, int] | None = None,
    first_epoch: int,
    epochs: int,
    batch_size: int,
    seed: int,
    device: Any,
    precision: str,
    validation_score: Callable[[], float] | None,
    on_epoch_end: Callable[[int, dict[str, float]], bool],
    verbose: int,
) -> None:
    """Train ``module`` for ``epochs`` epochs starting at ``first_epoch``.

    Every epoch's randomness (shuffling, dropout) comes from ``seed + epoch``, so a
    fit resumed at epoch k from a checkpoint continues exactly as the
    uninterrupted fit would have. With ``shard=(rank, world)`` this process
    trains on every world-th sample of the epoch's order, the order cut to a
    multiple of ``world`` so that every process takes the same number of steps,
    in batches of ``batch_size // world``: ``batch_size`` stays the global batch.
    ``on_epoch_end(epoch, record)`` returns False to stop (early stopping).
    """
    import torch

    n = data.X.shape[0]
    for epoch in range(first_epoch, first_epoch + epochs):
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(n, generator=generator).to(data.X.device)
        step = batch_size
        if shard is not None:
            rank, world = shard
            order = order[: (n // world) * world][rank::world]
            step = max(batch_size // world, 1)  # batch_size stays the global batch
        module.train()
        total, seen = 0.0, 0
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed + epoch + (shard[0] * 7919 if shard else 0))  # own dropout per rank
            for begin in range(0, len(order), step):
                index = order[begin:begin + step]
                xb, yb = data.X[index].to(device, non_blocking=True), data.y[index].to(device, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                try:
                    with _autocast(device, precision):
                        output = module(xb)
                    loss = loss_fn(output.float(), yb)
                    loss.backward()
                except RuntimeError as exc:
                    if _is_out_of_memory(exc):
                        raise out_of_memory_error(exc, device, batch_size, "training") from exc
                    raise
                optimizer.step()
                total += float(loss.detach()) * len(index)
                seen += len(index)
        record = {"epoch": epoch + 1, "loss": total / max(seen, 1), "seconds": time.perf_counter() - start}
        if validation_score is not None:
            record["validation_score"] = validation_score()
        if verbose:
            shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items())
            print(f"scaleml.nn: {shown}", file=sys.stderr, flush=True)
        if not on_epoch_end(epoch, record):
            break


def predict_in_batches(module: Any, X: Any, device: Any, batch_size: int, precision: str) -> np.ndarray:
    """Module outputs for ``X`` (a CPU tensor) as a float64 NumPy array, in eval mode.

    Batches hold ``4 * batch_size`` samples (no gradients are kept), so lowering
    the estimator's ``batch_size`` lowers them too.
    """
    import torch

    module.eval()
    outputs = []
    with torch.no_grad():
        step = 4 * batch_size
        for begin in range(0, X.shape[0], step):
            try:
                with _autocast(device, precision):
                    out = module(X[begin:begin + step].to(device))
            except RuntimeError as exc:
                if _is_out_of_memory(exc):
                    raise out_of_memory_error(exc, device, batch_size, "prediction") from exc
                raise
            outputs.append(out.float().cpu().numpy())
    if not outputs:
        return np.empty((0,))
    return np.concatenate(outputs).astype(np.float64)
