"""The data layer: the forms data comes in, blocks of rows, clusters and devices.

Neutral ground shared by the backends and by scaleml's own estimators; it knows
neither. Nothing here imports an engine (dask, torch) until it is used.

    forms      is_lazy, is_path, is_dask, describe_data, array_kind
    blocks     Blocks: in-memory or lazy (Dask, Parquet/CSV) data as ordered blocks
    files      reading Parquet/CSV paths lazily
    cluster    the owner of Dask connections; the cluster the active work may use
    device     torch device resolution: "auto" falls back quietly, explicit fails loudly
"""

from .blocks import Blocks
from .forms import array_kind, describe_data, is_dask, is_lazy, is_path

__all__ = ["Blocks", "array_kind", "describe_data", "is_dask", "is_lazy", "is_path"]
