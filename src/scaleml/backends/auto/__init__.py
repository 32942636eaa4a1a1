"""The ``auto`` backend: each fit placed where its probe fits predict it runs fastest.

``backend.py`` is the backend; ``_cost.py`` times probe fits and predicts each
candidate; ``_calibration.py`` stores the machine's constants; ``_probes.py``
measures them for ``scaleml calibrate``. Finding the joblib work in an estimator is
shared with the other backends (``backends/_structure.py``).
"""

from .backend import AutoBackend

__all__ = ["AutoBackend"]
