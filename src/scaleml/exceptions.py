"""Exceptions raised by scaleml.

Every error says what was wrong, what the valid choices are, and what to do next.
They subclass the built-in exception a caller would naturally catch (``ValueError``,
``ImportError``) so code written against scikit-learn keeps working.
"""


class ScaleMLError(Exception):
    """Base class of every error scaleml raises itself."""


class UnknownBackendError(ScaleMLError, ValueError):
    """A backend name that no registry entry or plug-in provides."""


class BackendUnavailableError(ScaleMLError, ImportError):
    """A known backend that cannot run here (engine not installed, no device, ...)."""


class BackendOptionError(ScaleMLError, ValueError, TypeError):
    """An option a backend does not accept, or a value it cannot use.

    Both a ``ValueError`` and a ``TypeError``, like scikit-learn's own parameter
    errors, so either ``except`` clause catches it.
    """
