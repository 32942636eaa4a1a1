"""Dask's engine glue: connections and managed clusters (``cluster.py``, with
``_cluster_host.py``, the LocalCluster in a process of its own), and data spread to
every worker and held for a fit (``spread.py``).

``close_all()`` closes every Dask client and managed cluster scaleml opened. It was
``scaleml.data.cluster.close_all()`` until 0.1.0, when Dask's glue moved out of the
engine-free data layer.
"""

from .cluster import close_all

__all__ = ["close_all"]
