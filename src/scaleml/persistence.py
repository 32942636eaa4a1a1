"""Saving and loading fitted models without executing code on load.

``save`` writes the fitted scikit-learn estimator in skops' format, which loads
without running arbitrary code: types beyond skops' trusted defaults (and
scaleml's own estimators and callbacks) must be named by the caller. Pickle
files load only with ``trusted=True``.

What only training reads (scaleml.nn's ``callbacks`` and ``augment``) is left out
of the file, so a model trained with a script's own callback loads in any process;
a class predicting does need (a ``module=`` network) must be importable where the
model is loaded, and ``load`` names one that is not, with where to move it.
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

from .exceptions import ModelTypeNotFoundError, SavedWithoutWarning, ScaleMLError, UntrustedModelError


def save(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a fitted model to ``path`` (``.skops``), written atomically.

    A :class:`scaleml.Scaled` is saved as its fitted ``estimator_``: a plain
    scikit-learn estimator that loads and predicts without scaleml's backends.
    Parameters only training reads (scaleml.nn's ``callbacks`` and ``augment``)
    are saved as None, wherever the model holds such an estimator (a Pipeline's
    step, a search's ``estimator``): ``model`` itself is not changed, the loaded
    model predicts the same, and :func:`load` says what was left out.

    Warns when the file needs a class or function defined in the running script
    (``__main__``): no other program can import it; move it into a module.
    """
    import skops.io as sio
    from sklearn.utils.validation import check_is_fitted

    from ._training_only import without_training_only
    from .scaled import Scaled

    check_is_fitted(model)
    estimator = without_training_only(model.estimator_ if isinstance(model, Scaled) else model)
    path = Path(path)
    if path.suffix != ".skops":
        raise ScaleMLError(f"Save models as .skops files (safe to load), not {path.suffix or 'no suffix'}: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sio.dump(estimator, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a half file under the real name
    in_script = [t for t in sio.get_untrusted_types(file=path) if t.startswith("__main__.")]
    if in_script:
        warnings.warn(f"{path} needs {', '.join(in_script)}, defined in the running script (__main__): "
                      f"another program can load it only if it defines the same name. {_MOVE_IT}",
                      UserWarning, stacklevel=2)
    return path


_MOVE_IT = ("Move the class into a module of its own (e.g. my_parts.py, in a folder on the path), import it "
            "from there where you train, then fit and save again.")


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
    ModelTypeNotFoundError
        If the file needs a class or function this process cannot import (one defined
        in the script that saved it, or a module not on the path); checked before trust.
    UntrustedModelError
        If the file needs trust that was not given; the message says what to pass.

    Warns
    -----
    SavedWithoutWarning
        When :func:`save` left training-only parameters out (e.g. ``callbacks``): the
        model predicts as saved; set them again (``set_params``) to train it further.
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
    _check_importable(needed, path)
    model = sio.load(path, trusted=_allowed(needed, trusted, path))
    _say_what_was_left_out(model, path)
    return model


def _allowed(needed: list[str], trusted: bool | list[str] | None, path: Path) -> list[str]:
    """The types to let skops load: ``needed`` when trusted=True, else skops' untrusted
    types that are scaleml's own or named in ``trusted``; raises for any other."""
    if trusted is True:
        allowed = needed
    else:
        # scaleml's own estimator and callback classes are trusted as scikit-learn's are by skops:
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
    return allowed


def _check_importable(needed: list[str], path: Path) -> None:
    """Raise, naming it and the fix, for a type in ``needed`` that cannot be imported here:
    one defined in another program's ``__main__``, or one whose top-level module is not
    installed. Nothing is imported (trust has not been given yet)."""
    import importlib.util

    for name in needed:
        if name.startswith("__main__."):
            found: Any = sys.modules.get("__main__")
            for part in name.split(".")[1:]:
                found = getattr(found, part, None)
            if found is None:
                short = name.rsplit(".", 1)[-1]
                raise ModelTypeNotFoundError(
                    f"{path} needs {name}: {short} was defined in the script that trained and saved the "
                    f"model (__main__), so no other program can import it. {_MOVE_IT} (Or define the same "
                    f"{short} in this script before scaleml.load.)"
                )
            continue
        top = name.split(".", 1)[0]
        if importlib.util.find_spec(top) is None:
            raise ModelTypeNotFoundError(
                f"{path} needs {name}, but no module {top!r} can be imported here: install it, or add the "
                f"folder holding {top}.py (or the {top}/ package) to PYTHONPATH."
            )


def _say_what_was_left_out(model: Any, path: Path) -> None:
    from ._training_only import saved_without

    left_out = saved_without(model)
    if not left_out:
        return
    held = "; ".join(f"{owner}: " + ", ".join(f"{name}={_short(value)}" for name, value in params.items())
                     for owner, params in left_out.items())
    names = sorted({name for params in left_out.values() for name in params})
    warnings.warn(
        f"{path} was saved without what only training reads ({held}). It predicts as it did; to train it "
        f"further, set them again: set_params({', '.join(f'{n}=...' for n in names)}).",
        SavedWithoutWarning, stacklevel=3,
    )


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_trust(path: str | os.PathLike[str]) -> list[str]:
    """The types in a saved ``.skops`` model that :func:`load` needs named in ``trusted=``:
    those skops does not trust by default, less scaleml's own estimators."""
    import skops.io as sio

    return _needing_trust(sio.get_untrusted_types(file=Path(path)))


def _needing_trust(untrusted: list[str]) -> list[str]:
    """``untrusted`` (skops' list) less scaleml's own estimator and callback classes, sorted."""
    own = _own_types()
    return sorted(t for t in untrusted if t not in own)


def _own_types() -> set[str]:
    """The exact type names of scaleml's own estimators and nn callbacks, as skops writes
    them. Loading one sets its attributes from the file and runs none of its code (a
    network is rebuilt from NumPy weights); files from ``save`` hold no callbacks, but
    older files and ``skops.io.dump`` of a model do."""
    from .linear_model import LinearRegression, LogisticRegression, Ridge
    from .nn import CNNClassifier, MLPClassifier, MLPRegressor, callbacks
    from .search import HyperbandSearchCV, SuccessiveHalvingSearchCV

    classes = [LinearRegression, LogisticRegression, Ridge, CNNClassifier, MLPClassifier, MLPRegressor,
               HyperbandSearchCV, SuccessiveHalvingSearchCV]
    classes += [value for value in vars(callbacks).values()
                if isinstance(value, type) and issubclass(value, callbacks.Callback)]
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in classes}
