"""Backends that run scikit-learn's Array API steps on another array library.

Each pipeline step that scikit-learn's Array API support covers (its
``array_api_support`` tag) runs on the library's arrays on a device; every other
step runs on the CPU with NumPy; the plan says which, and why. Fitted attributes
come back as NumPy, so ``estimator_`` predicts anywhere. Subclasses say how to
find the device and move arrays (:mod:`.torch`, :mod:`.cupy`).
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import numpy as np

from ._base import Backend, Placement, describe_estimator, top_level_steps, self_placement


def array_api(step: Any) -> bool:
    """Whether scikit-learn's Array API support covers ``step``."""
    from sklearn.utils import get_tags

    try:
        return bool(get_tags(step).array_api_support)
    except Exception:  # noqa: BLE001 - not a scikit-learn estimator: treat as NumPy-only
        return False


# Beyond this, squares overflow float64 and libraries disagree on the garbage
# (NaN in NumPy, finite values in PyTorch): such input goes the NumPy way.
_SAFE_MAGNITUDE = 1e150


def _check_magnitude(X: Any) -> None:
    if isinstance(X, np.ndarray) and X.dtype.kind == "f" and X.size:
        finite = np.abs(X[np.isfinite(X)])
        if finite.size and finite.max() > _SAFE_MAGNITUDE:
            raise ValueError(f"values beyond {_SAFE_MAGNITUDE:g} overflow when squared")


class ArrayAPIBackend(Backend):
    """Shared fit/predict logic; subclasses implement the four hooks."""

    library = ""  # for plans: "PyTorch", "CuPy"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Steps that ran on NumPy after the device path refused their input, with
        # what it said, for the plan.
        self._fell_back: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # -- hooks ---------------------------------------------------------------------------

    def _device(self) -> Any:
        """The device Array API steps run on, or None to run everything on NumPy."""
        raise NotImplementedError

    def _to_device(self, X: Any, device: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def _to_numpy(X: Any) -> Any:
        raise NotImplementedError

    def _fallback_reason(self) -> str:
        return ""

    # -- shared ----------------------------------------------------------------------------

    def _on_device(self, step: Any, device: Any) -> bool:
        return device is not None and array_api(step)

    def _run_numpy(self, step: Any, method: str, X: Any, y: Any, **kwargs: Any) -> Any:
        if method in ("fit", "fit_transform"):
            return getattr(step, method)(self._to_numpy(X), self._to_numpy(y), **kwargs)
        return getattr(step, method)(self._to_numpy(X), **kwargs)

    def _run(self, step: Any, method: str, X: Any, y: Any, device: Any, numpy_step: Any = None,
             **kwargs: Any) -> Any:
        import sklearn

        if not self._on_device(step, device):
            return self._run_numpy(step, method, X, y, **kwargs)
        try:
            _check_magnitude(X)
            with sklearn.config_context(array_api_dispatch=True):
                Xd = self._to_device(X, device)
                if method in ("fit", "fit_transform"):
                    yd = None if y is None else self._to_device(np.asarray(self._to_numpy(y)), device)
                    return getattr(step, method)(Xd, yd, **kwargs)
                return getattr(step, method)(Xd, **kwargs)
        except (ValueError, TypeError, RuntimeError) as exc:
            # Input the device path cannot take (strings, NaN, wrong shapes, ...): run the
            # step on NumPy, so the error is scikit-learn's own, word for word as on
            # the local backend; if NumPy copes, the step simply ran there.
            target = numpy_step if numpy_step is not None else step
            self._fell_back[target] = (str(exc).splitlines() or [type(exc).__name__])[0]
            return self._run_numpy(target, method, X, y, **kwargs)

    def fit(self, estimator: Any, X: Any, y: Any = None, **fit_params: Any) -> Any:
        if fit_params:
            raise TypeError(f"The {self.name} backend does not pass fit parameters yet: {sorted(fit_params)}.")
        device = self._device()
        steps = [step for _, step in top_level_steps(estimator)]
        for step in steps[:-1]:
            X = self._run(step, "fit_transform", X, y, device)
        self._run(steps[-1], "fit", X, y, device)
        for step in steps:  # the fitted estimator is plain scikit-learn on NumPy
            for attr, value in list(vars(step).items()):
                converted = self._to_numpy(value) if attr.endswith("_") else value
                if converted is not value:
                    setattr(step, attr, converted)
        return estimator

    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        device = self._device()
        if method == "score" or device is None:
            return getattr(estimator, method)(X, *args, **kwargs)  # NumPy, as fitted
        steps = [step for _, step in top_level_steps(estimator)]
        for step in steps[:-1]:
            X = self._run(self._moved(step, device), "transform", X, None, device, numpy_step=step)
        out = self._run(self._moved(steps[-1], device), method, X, None, device, numpy_step=steps[-1], **kwargs)
        return self._to_numpy(out)

    def _moved(self, step: Any, device: Any) -> Any:
        """A shallow copy of a fitted Array API step with its arrays on ``device``."""
        if not self._on_device(step, device):
            return step
        moved = copy.copy(step)
        for attr, value in list(vars(step).items()):
            if attr.endswith("_") and isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
                setattr(moved, attr, self._to_device(value, device))
        return moved

    def place(self, step: str, estimator: Any, data_form: str, data: Any = None) -> Placement:
        own_placement = self_placement(self, step, estimator, data_form, data)
        if own_placement is not None:
            return own_placement
        name = describe_estimator(estimator)
        device = self._device()
        if device is None:
            return Placement(step, name, "cpu", "scikit-learn", "1 process", data_form,
                             f"{self.name} backend: {self._fallback_reason()}, so it runs on NumPy")
        if estimator in self._fell_back:
            return Placement(
                step, name, "cpu", "scikit-learn", "1 process", data_form,
                f"{self.name} backend: the {self.library} path refused the input "
                f"({self._fell_back[estimator]}), so it ran on NumPy",
            )
        if array_api(estimator):
            return Placement(
                step, name, str(device), f"scikit-learn Array API on {self.library}", "1 process", data_form,
                f"{self.name} backend: scikit-learn's Array API support covers it, so it runs on "
                f"{self.library} arrays on {device}",
            )
        return Placement(
            step, name, "cpu", "scikit-learn", "1 process", data_form,
            f"{self.name} backend: scikit-learn's Array API support does not cover it, so it runs "
            "on the CPU with NumPy",
        )
