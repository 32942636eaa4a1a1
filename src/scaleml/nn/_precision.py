"""Mixed precision: the autocast context every forward pass of a scaleml.nn fit runs in.

Its own module so that the loop (``_training``) and the state it shares with callbacks
and ``train_step`` (``callbacks.Training``) use one rule without importing each other.
"""

from __future__ import annotations

import contextlib
from typing import Any


def autocast(device: Any, precision: str) -> Any:
    """bf16 autocast on CUDA where supported (``precision`` "auto" or "bf16"), or on the CPU
    for "bf16"; no autocast otherwise ("fp32", and "auto" off CUDA)."""
    import torch

    if device.type == "cuda" and precision in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if precision == "bf16" and device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
