"""PyTorch estimators that behave as scikit-learn estimators.

``CNNClassifier``, ``MLPClassifier`` and ``MLPRegressor`` share one training loop
(fit -> epoch -> step, extended by ``scaleml.nn.callbacks``; seeded, checkpointed,
mixed precision on CUDA). They train on arrays, on data streamed from disk
(``ImageFolder``, ``ArrayShards``, ``ParquetImages``, any ``torch`` Dataset), and data-parallel over
a Dask cluster inside ``scaleml.backend("dask")``. Importing this package does
not import torch; fitting does.
"""

from .estimators import CNNClassifier, MLPClassifier, MLPRegressor
from ._parquet import ParquetImages
from .sources import ArrayShards, ImageFolder

__all__ = ["ArrayShards", "CNNClassifier", "ImageFolder", "MLPClassifier", "MLPRegressor", "ParquetImages"]
