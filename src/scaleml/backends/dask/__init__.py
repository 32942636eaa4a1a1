"""The ``dask`` backend: scikit-learn's joblib work as Dask tasks.

``backend.py`` is the backend (options, placement, fit); ``_joblib.py`` joblib's
backend on a Dask client (batching, sending, results); ``_tasks.py`` what a task
carries and runs on a worker; ``_broadcast.py`` the large arguments sent to every
worker once.
"""

from .backend import DaskBackend

__all__ = ["DaskBackend"]
