"""Saving and loading fitted models without executing code on load.

``save`` writes the fitted scikit-learn estimator in skops' format, which loads
without running arbitrary code: types beyond skops' trusted defaults must be
named by the caller. Pickle files load only with ``trusted=True``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from .exceptions import ScaleMLError, UntrustedModelError



def save(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a fitted model to ``path`` (``.skops``), written atomically.

    A :class:`scaleml.Scaled` is saved as its fitted ``estimator_``: a plain
    scikit-learn estimator that loads and predicts without scaleml's backends.
    """
    import skops.io as sio
    from sklearn.utils.validation import check_is_fitted

    from .scaled import Scaled

    check_is_fitted(model)
    estimator = model.estimator_ if isinstance(model, Scaled) else model
    path = Path(path)
    if path.suffix != ".skops":
        raise ScaleMLError(f"Save models as .skops files (safe to load), not {path.suffix or 'no suffix'}: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sio.dump(estimator, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a half file under the real name
    return path


def load(path: str | os.PathLike[str], trusted: bool | list[str] | None = None) -> Any:
    """Load a model saved by :func:`save` (or a pickle, when trusted).

    Parameters
    ----------
    path : path
        A ``.skops`` file, or a ``.pkl``/``.pickle``/``.joblib`` file.
    trusted : None, list of str, or True
        For ``.skops``: extra type names to trust beyond skops' defaults (the
        error lists the ones the file needs); ``True`` trusts all of them. For a
        pickle: must be ``True``, since unpickling runs code from the file.

    Raises
    ------
    UntrustedModelError
        If the file needs trust that was not given; the message says what to pass.
    """
    path = Path(path)
    if not path.is_file():
        raise ScaleMLError(f"No model file at {path}.")
    if path.suffix in (".pkl", ".pickle", ".joblib"):
        if trusted is not True:
            raise UntrustedModelError(
                f"{path} is a pickle: loading it runs code stored in the file. Pass trusted=True "
                "only for files you made or fully trust; prefer scaleml.save(..., '.skops')."
            )
        if path.suffix == ".joblib":
            import joblib

            return joblib.load(path)
        with path.open("rb") as handle:
            return pickle.load(handle)
    import skops.io as sio

    needed = sio.get_untrusted_types(file=path)
    if trusted is True:
        allowed = needed
    else:
        # scaleml's own estimator classes are trusted as scikit-learn's are by skops:
        # what they rebuild on load (a network from its NumPy weights) runs no code from
        # the file. Only those classes, by exact name: any other scaleml callable (a
        # function a crafted file names) is as untrusted as anyone's, and a custom
        # module= class stays the caller's to trust.
        needing = _needing_trust(needed)
        allowed = list(trusted or []) + [t for t in needed if t not in needing]
        missing = sorted(set(needing) - set(allowed))
        if missing:
            raise UntrustedModelError(
                f"{path} contains types that are not trusted by default: {missing}. Check that "
                f"they are what you expect, then pass trusted={missing!r}."
            )
    return sio.load(path, trusted=allowed)


def to_trust(path: str | os.PathLike[str]) -> list[str]:
    """The types in a saved ``.skops`` model that :func:`load` needs named in ``trusted=``:
    those skops does not trust by default, less scaleml's own estimators."""
    import skops.io as sio

    return _needing_trust(sio.get_untrusted_types(file=Path(path)))


def _needing_trust(untrusted: list[str]) -> list[str]:
    """``untrusted`` (skops' list) less scaleml's own estimator classes, sorted."""
    own = _own_estimator_types()
    return sorted(t for t in untrusted if t not in own)


def _own_estimator_types() -> set[str]:
    """The exact type names of scaleml's own estimators, as skops writes them."""
    from .linear_model import LinearRegression, LogisticRegression, Ridge
    from .nn import CNNClassifier, MLPClassifier, MLPRegressor
    from .search import HyperbandSearchCV, SuccessiveHalvingSearchCV

    classes = (LinearRegression, LogisticRegression, Ridge, CNNClassifier, MLPClassifier, MLPRegressor,
               HyperbandSearchCV, SuccessiveHalvingSearchCV)
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in classes}
