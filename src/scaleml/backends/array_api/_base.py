"""Backends that run scikit-learn's Array API steps on another array library.

Each pipeline step that scikit-learn's Array API support covers (its
``array_api_support`` tag) runs on the library's arrays on a device; every other
step runs on the CPU with NumPy; the plan says which, and why. Fitted attributes
come back as NumPy, so ``estimator_`` predicts anywhere. Subclasses say how to
find the device and move arrays (:mod:`.torch`, :mod:`.cupy`).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np

from ...data.forms import array_kind
from ...exceptions import InvalidParameterError
from ...planning import Placement, Record, Route, describe_estimator, walk
from .._base import Backend


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
    """Shared fit/predict logic; subclasses implement the device hooks."""

    library = ""  # for plans: "PyTorch", "CuPy"

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

    def _device_name(self, device: Any) -> str:
        """The device as plans name it: ``"cpu"``, ``"cuda:0"``, ``"mps"``."""
        return str(device)

    # -- shared ----------------------------------------------------------------------------

    def _on_device(self, step: Any, device: Any) -> bool:
        return device is not None and array_api(step)

    def _run_numpy(self, step: Any, method: str, X: Any, y: Any, observe: Any = None, **kwargs: Any) -> Any:
        X = self._to_numpy(X)
        if observe is not None:
            observe("input", array_kind(X))
        if method in ("fit", "fit_transform"):
            return getattr(step, method)(X, self._to_numpy(y), **kwargs)
        return getattr(step, method)(X, **kwargs)

    def _run(self, step: Any, method: str, X: Any, y: Any, device: Any, numpy_step: Any = None,
             observe: Any = None, **kwargs: Any) -> Any:
        """``step.<method>`` on ``device`` when the step is covered, else (or if the device
        path refuses the input) on NumPy. ``observe(fact, value)`` hears the array type
        the step received (``"input"``) and a refusal (``"fallback"``)."""
        import sklearn

        if not self._on_device(step, device):
            return self._run_numpy(step, method, X, y, observe, **kwargs)
        try:
            _check_magnitude(X)
            with sklearn.config_context(array_api_dispatch=True):
                Xd = self._to_device(X, device)
                if observe is not None:
                    observe("input", array_kind(Xd))
                if method in ("fit", "fit_transform"):
                    yd = None if y is None else self._to_device(np.asarray(self._to_numpy(y)), device)
                    return getattr(step, method)(Xd, yd, **kwargs)
                return getattr(step, method)(Xd, **kwargs)
        except (ValueError, TypeError, RuntimeError) as exc:
            # Input the device path cannot take (strings, NaN, wrong shapes, ...): run the
            # step on NumPy, so the error is scikit-learn's own, word for word as on
            # the local backend; if NumPy copes, the step simply ran there.
            if observe is not None:
                observe("fallback", (str(exc).splitlines() or [type(exc).__name__])[0])
            return self._run_numpy(numpy_step if numpy_step is not None else step, method, X, y, observe, **kwargs)

    def check_fit(self, estimator: Any, method: str, X: Any, fit_params: dict) -> None:
        if fit_params:
            raise InvalidParameterError(f"The {self.name} backend does not pass fit parameters yet: {sorted(fit_params)}.")
        self.refuse_lazy(X, method)

    def run(self, estimator: Any, method: str, X: Any, y: Any, record: Record, placements: list[Placement],
            fit_params: dict) -> Any:
        """Fit each step where its placement says, each on the output of the one before."""
        device = self._device()
        leaves = [step for _, step in walk(estimator)]
        transform_last = method == "fit_transform"
        for index, (step, placement) in enumerate(zip(leaves, placements)):
            on_device = placement.route is Route.ARRAY_API
            step_method = "fit" if index == len(leaves) - 1 and not transform_last else "fit_transform"
            observe = functools.partial(self._observe, record, placement.step)
            result = self._run(step, step_method, X, y, device if on_device else None, observe=observe)
            X = result if step_method == "fit_transform" else X
        for step in leaves:  # the fitted estimator is plain scikit-learn on NumPy
            for attr, value in list(vars(step).items()):
                converted = self._to_numpy(value) if attr.endswith("_") else value
                if converted is not value:
                    setattr(step, attr, converted)
        return self._to_numpy(X) if transform_last else estimator

    def _observe(self, record: Record, path: str, fact: str, value: Any) -> None:
        if fact == "fallback":
            record.fallback(path, f"{self.name} backend: the {self.library} path refused the input ({value}), "
                                  "so it ran on NumPy", device="cpu", engine="scikit-learn", route=Route.IN_PROCESS)
        else:
            record.observe(path, **{fact: value})

    def call(self, estimator: Any, method: str, X: Any, *args: Any, **kwargs: Any) -> Any:
        self.refuse_lazy(X, method)
        device = self._device()
        if method == "score" or device is None:
            return getattr(estimator, method)(X, *args, **kwargs)  # NumPy, as fitted
        leaves = [step for _, step in walk(estimator)]
        if method == "inverse_transform":  # back through every step, last first
            for step in reversed(leaves):
                X = self._run(self._moved(step, device), method, X, None, device, numpy_step=step, **kwargs)
            return self._to_numpy(X)
        for step in leaves[:-1]:
            X = self._run(self._moved(step, device), "transform", X, None, device, numpy_step=step)
        out = self._run(self._moved(leaves[-1], device), method, X, None, device, numpy_step=leaves[-1], **kwargs)
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

    def decide(self, path: str, step: Any, data_form: str) -> Placement:
        name = describe_estimator(step)
        device = self._device()
        if device is None:
            return Placement(path, name, "cpu", "scikit-learn", "1 process", data_form,
                             f"{self.name} backend: {self._fallback_reason()}, so it runs on NumPy", Route.IN_PROCESS)
        if array_api(step):
            where = self._device_name(device)
            return Placement(
                path, name, where, f"scikit-learn Array API on {self.library}", "1 process", data_form,
                f"{self.name} backend: scikit-learn's Array API support covers it, so it runs on "
                f"{self.library} arrays on {where}", Route.ARRAY_API,
            )
        return Placement(
            path, name, "cpu", "scikit-learn", "1 process", data_form,
            f"{self.name} backend: scikit-learn's Array API support does not cover it, so it runs "
            "on the CPU with NumPy", Route.IN_PROCESS,
        )
