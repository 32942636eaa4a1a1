"""The ``dask-ml`` backend: lazy data (Dask collections, Parquet/CSV paths) out of core.

``backend.py`` is the backend (options, the memory budget, placement per step);
``_lazy_steps.py`` the ways a step is fitted on lazy data (streamed with
``partial_fit``, loaded whole, a blocked twin, column parts) and lazy predictions.
"""

from .backend import DaskMLBackend

__all__ = ["DaskMLBackend"]
