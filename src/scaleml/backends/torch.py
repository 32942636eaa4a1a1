"""The ``torch`` backend: pipeline steps that scikit-learn's Array API support covers
run on PyTorch tensors on a device (CUDA, MPS or the CPU); every other step runs on
the CPU with NumPy. Each decision is in the plan, with its reason.

scikit-learn's Array API dispatch needs SciPy's too, which SciPy reads from the
``SCIPY_ARRAY_API=1`` environment variable when it is first imported; without it
the backend reports itself unavailable and says so.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np

from ._base import Availability, Backend, Option, Placement, describe_estimator


def _check_device(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return None
    return "expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _array_api(step: Any) -> bool:
    from sklearn.utils import get_tags

    try:
        return bool(get_tags(step).array_api_support)
    except Exception:  # noqa: BLE001 - not a scikit-learn estimator: treat as NumPy-only
        return False


def _steps(estimator: Any) -> list[Any]:
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list):
        return [s for _, s in steps if s is not None and not (isinstance(s, str) and s == "passthrough")]
    return [estimator]


class TorchBackend(Backend):
    """Array API steps on torch tensors on ``device``; the rest on the CPU with NumPy.

    Options
    -------
    device : str
        ``"auto"`` (CUDA, then MPS, then the CPU), or an explicit device, which
        must be present.
    """

    name = "torch"
    summary = "Array API steps on PyTorch tensors (CUDA, MPS or CPU)"
    accelerator = True
    requires = ("torch",)
    extra = "torch"
    options = {"device": Option("auto", "torch device for Array API steps ('auto': CUDA, MPS, CPU)", _check_device)}

    @classmethod
    def availability(cls) -> Availability:
        status = super().availability()
        if status and os.environ.get("SCIPY_ARRAY_API") != "1":
            return Availability(
                False,
                "scikit-learn's Array API support needs SciPy's: set SCIPY_ARRAY_API=1 in the "
                "environment before Python starts",
            )
        return status

    def _device(self) -> Any:
        from ..nn._device import resolve_device

        return resolve_device(self.options["device"])

    def _to_tensor(self, X: Any, device: Any) -> Any:
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

    def _run(self, step: Any, method: str, X: Any, y: Any, device: Any, **kwargs: Any) -> Any:
        import sklearn

        if not _array_api(step):
            if method in ("fit", "fit_transform"):
                return getattr(step, method)(self._to_numpy(X), self._to_numpy(y), **kwargs)
            return getattr(step, method)(self._to_numpy(X), **kwargs)
        with sklearn.config_context(array_api_dispatch=True):
            Xt = self._to_tensor(X, device)
            if method in ("fit", "fit_transform", "score"):
                yt = None if y is None else self._to_tensor(np.asarray(self._to_numpy(y)), device)
                return getattr(step, method)(Xt, yt, **kwargs)
            return getattr(step, method)(Xt, **kwargs)

    def fit(self, estimator: Any, X: Any, y: Any = None, **fit_params: Any) -> Any:
        if fit_params:
            raise TypeError(f"The torch backend does not pass fit parameters yet: {sorted(fit_params)}.")
        device = self._device()
        steps = _steps(estimator)
        for step in steps[:-1]:
            X = self._run(step, "fit_transform", X, y, device)
        self._run(steps[-1], "fit", X, y, device)
        for step in steps:  # the fitted estimator is plain scikit-learn on NumPy
            _attributes_to(step, self._to_numpy)
        return estimator

    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        if method == "score":
            return getattr(estimator, method)(X, *args, **kwargs)  # NumPy, as fitted
        device = self._device()
        steps = _steps(estimator)
        for step in steps[:-1]:
            X = self._run(_on_device(step, device, self), "transform", X, None, device)
        out = self._run(_on_device(steps[-1], device, self), method, X, None, device, **kwargs)
        return self._to_numpy(out)

    def place(self, step: str, estimator: Any, data_form: str, data: Any = None) -> Placement:
        name = describe_estimator(estimator)
        device = str(self._device())
        if _array_api(estimator):
            return Placement(
                step, name, device, "scikit-learn Array API on PyTorch", "1 process", data_form,
                f"torch backend: scikit-learn's Array API support covers it, so it runs on torch tensors on {device}",
            )
        return Placement(
            step, name, "cpu", "scikit-learn", "1 process", data_form,
            "torch backend: scikit-learn's Array API support does not cover it, so it runs on the CPU with NumPy",
        )


def _attributes_to(step: Any, convert: Any) -> None:
    for attr, value in list(vars(step).items()):
        if attr.endswith("_") and hasattr(value, "detach"):
            setattr(step, attr, convert(value))


def _on_device(step: Any, device: Any, backend: TorchBackend) -> Any:
    """A shallow copy of a fitted Array API step with its arrays as tensors on ``device``."""
    if not _array_api(step):
        return step
    moved = copy.copy(step)
    for attr, value in list(vars(step).items()):
        if attr.endswith("_") and isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
            setattr(moved, attr, backend._to_tensor(value, device))
    return moved
