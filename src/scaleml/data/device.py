"""Choosing the torch device: ``auto`` falls back quietly, explicit requests fail loudly."""

from __future__ import annotations

from typing import Any

from ..exceptions import BackendUnavailableError, InvalidParameterError


def available_devices() -> list[str]:
    """Devices PyTorch can use here, e.g. ``["cuda:0", "cpu"]``."""
    import torch

    found = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def resolve_device(device: Any) -> Any:
    """A ``torch.device`` for ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    ``"auto"`` picks CUDA, then MPS, then the CPU. An explicit device that is not
    present raises, listing what is.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidParameterError(
            f"device={device!r} is not a device name; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from None
    present = available_devices()
    missing = (
        (chosen.type == "cuda" and (not torch.cuda.is_available()
                                    or (chosen.index or 0) >= torch.cuda.device_count()))
        or (chosen.type == "mps" and "mps" not in present)
    )
    if missing:
        raise BackendUnavailableError(
            f"device={device!r} was requested but is not present; PyTorch sees: {', '.join(present)}. "
            "Use device='auto' to fall back to what is there."
        )
    return chosen
