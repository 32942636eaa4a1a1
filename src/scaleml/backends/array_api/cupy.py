"""The ``cupy`` backend: Array API steps on CuPy arrays on a CUDA GPU.

Where CuPy or a CUDA device is missing, it falls back to NumPy for every step,
with a warning and the reason in the plan (CuPy has no CPU build, so this is the
normal case on machines without a GPU).
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np

from ._base import ArrayAPIBackend
from ...planning import Record
from .._base import Availability


class CuPyBackend(ArrayAPIBackend):
    """Array API steps on CuPy arrays on the current CUDA device; NumPy without one."""

    name = "cupy"
    summary = "Array API steps on CuPy arrays on a CUDA GPU (NumPy fallback)"
    library = "CuPy"
    accelerator = True
    extra = "gpu"

    @classmethod
    def availability(cls) -> Availability:
        from .torch import scipy_array_api_problem

        problem = scipy_array_api_problem()
        return Availability(False, problem) if problem else Availability(True)

    def _fallback_reason(self) -> str:
        if importlib.util.find_spec("cupy") is None:
            return "CuPy is not installed (pip install 'scaleml[gpu]' on a CUDA machine)"
        return "CuPy sees no CUDA device"

    def _device(self) -> Any:
        if importlib.util.find_spec("cupy") is None:
            return None
        import cupy

        try:
            return cupy.cuda.Device() if cupy.cuda.runtime.getDeviceCount() > 0 else None
        except Exception:  # noqa: BLE001 - no driver, no device: the NumPy fallback
            return None

    def run(self, estimator: Any, method: str, X: Any, y: Any, record: Record, placements: list[Any],
            fit_params: dict) -> Any:
        if self._device() is None:
            # Scaled.fit -> Backend.fit -> _fit -> run: the warning points at the user's fit call.
            warnings.warn(f"The cupy backend runs on NumPy here: {self._fallback_reason()}.",
                          RuntimeWarning, stacklevel=5)
        return super().run(estimator, method, X, y, record, placements, fit_params)

    def _device_name(self, device: Any) -> str:
        return f"cuda:{device.id}"

    def _to_device(self, X: Any, device: Any) -> Any:
        import cupy

        array = X if isinstance(X, cupy.ndarray) else np.asarray(X)
        with device:
            return cupy.asarray(array.astype(np.float32) if array.dtype == np.float64 else array)

    @staticmethod
    def _to_numpy(X: Any) -> Any:
        return X.get() if hasattr(X, "get") and type(X).__module__.startswith("cupy") else X
