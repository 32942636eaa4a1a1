"""The ``torch`` backend: Array API steps on PyTorch tensors (CUDA, MPS or the CPU).

scikit-learn's Array API dispatch needs SciPy's too, which SciPy reads from the
``SCIPY_ARRAY_API=1`` environment variable when it is first imported; without it
the backend reports itself unavailable and says so.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..._validation import Predicate
from ._base import ArrayAPIBackend
from .._base import Availability, Option


DEVICE_NAME = Predicate(lambda v: isinstance(v, str) and bool(v), "a device name: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def scipy_array_api_problem() -> str:
    """Why scikit-learn's Array API dispatch cannot run in this process, or ''."""
    if os.environ.get("SCIPY_ARRAY_API") != "1":
        return (
            "scikit-learn's Array API support needs SciPy's: set SCIPY_ARRAY_API=1 in the "
            "environment before Python starts"
        )
    return ""


class TorchBackend(ArrayAPIBackend):
    """Array API steps on torch tensors on ``device``; the rest on the CPU with NumPy.

    Options
    -------
    device : str
        ``"auto"`` (CUDA, then MPS, then the CPU), or an explicit device, which
        must be present.
    """

    name = "torch"
    summary = "Array API steps on PyTorch tensors (CUDA, MPS or CPU)"
    library = "PyTorch"
    accelerator = True
    requires = ("torch",)
    extra = "torch"
    options = {"device": Option("auto", "torch device for Array API steps ('auto': CUDA, MPS, CPU)", [DEVICE_NAME])}

    @classmethod
    def availability(cls) -> Availability:
        status = super().availability()
        problem = scipy_array_api_problem()
        return Availability(False, problem) if status and problem else status

    def _device(self) -> Any:
        from ...data.device import resolve_device

        return resolve_device(self.options["device"])

    def _device_name(self, device: Any) -> str:
        if device.type == "cuda" and device.index is None:  # "cuda" alone means the current GPU
            import torch

            return f"cuda:{torch.cuda.current_device()}"
        return str(device)

    def _to_device(self, X: Any, device: Any) -> Any:
        import torch

        if isinstance(X, torch.Tensor):
            return X.to(device)
        array = np.asarray(X)
        if device.type != "cpu" and array.dtype == np.float64:
            array = array.astype(np.float32)  # GPUs (and MPS) are built for float32
        return torch.as_tensor(array, device=device)

    @staticmethod
    def _to_numpy(X: Any) -> Any:
        return X.detach().cpu().numpy() if hasattr(X, "detach") else X
