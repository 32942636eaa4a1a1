"""Every exception scaleml raises itself.

Each error says what was wrong, what the valid choices are, and what to do next.
Each also subclasses the built-in exception a caller would naturally catch
(``ValueError``, ``ImportError``, ``ConnectionError``, ``MemoryError``), so code
written against scikit-learn keeps working.
"""


class ScaleMLError(Exception):
    """Base class of every error scaleml raises itself."""


class InvalidParameterError(ScaleMLError, ValueError, TypeError):
    """A parameter of a scaleml estimator, or an option of a backend, that is not allowed.

    The message names the parameter, the value and what is allowed. Both a
    ``ValueError`` and a ``TypeError``, like scikit-learn's own parameter errors,
    so either ``except`` clause catches it.
    """


class BackendOptionError(InvalidParameterError):
    """An option a backend does not accept, or a value it cannot use."""


class UnknownBackendError(ScaleMLError, ValueError):
    """A backend name that no registry entry, plug-in or profile provides."""


class BackendUnavailableError(ScaleMLError, ImportError):
    """A known backend or device that cannot run here (engine not installed, no GPU, ...)."""


class ProfileError(ScaleMLError, ValueError):
    """A backend profile file that cannot be used, with the file and key named."""


class ClusterConnectionError(ScaleMLError, ConnectionError):
    """The Dask scheduler could not be reached, was lost, or has no workers."""


class DataError(ScaleMLError, ValueError):
    """An input that cannot be read as data, with what would work instead."""


class OutOfMemoryBudgetError(ScaleMLError, MemoryError):
    """Work that would load more into memory than its budget allows, with the alternatives."""


class RecipeError(ScaleMLError, ValueError):
    """A recipe that cannot be used; the message names the file, the key and the fix."""


class UntrustedModelError(ScaleMLError, ValueError):
    """A model file that would need trust the caller has not given."""


class ModelTypeNotFoundError(ScaleMLError, ImportError):
    """A saved model needs a class or function this process cannot import (one defined in
    the script that saved it, ``__main__``, or a module not on the path); the message names
    it and where to put it."""


class SavedWithoutWarning(UserWarning):
    """A loaded model was saved without its training-only parameters (scaleml.nn's
    ``callbacks``, ``augment``): it predicts as before; set them again to train it further."""


class CheckpointError(ScaleMLError, ValueError):
    """A checkpoint file that is damaged or belongs to another fit."""


class TrainingInterruptedError(ScaleMLError, RuntimeError):
    """Data-parallel training lost a rank (its Dask worker died); a rerun resumes from the
    last checkpoint when ``checkpoint_dir`` is set."""


class CalibrationError(ScaleMLError, ValueError):
    """A calibration file that cannot be used: damaged, another format, another machine."""


class CalibrationWarning(UserWarning):
    """A calibration file (``scaleml calibrate``) could not be used; defaults were."""


class CallbackRelayWarning(UserWarning):
    """scikit-learn's callbacks on a Dask worker on another host cannot reach the calling
    process's relay directly: they report through the scheduler (slower), or, where even
    that fails, not at all (the fit goes on)."""


__all__ = [
    "BackendOptionError",
    "CalibrationError",
    "CalibrationWarning",
    "CallbackRelayWarning",
    "BackendUnavailableError",
    "CheckpointError",
    "ClusterConnectionError",
    "DataError",
    "InvalidParameterError",
    "ModelTypeNotFoundError",
    "OutOfMemoryBudgetError",
    "ProfileError",
    "RecipeError",
    "SavedWithoutWarning",
    "ScaleMLError",
    "TrainingInterruptedError",
    "UnknownBackendError",
    "UntrustedModelError",
]


class JournalError(ScaleMLError, OSError):
    """A resume journal folder (``resume=``) that cannot be created or written; raised
    before anything is fitted, naming the folder and the fix."""
