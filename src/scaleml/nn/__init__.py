"""PyTorch estimators that behave as scikit-learn estimators.

``CNNClassifier``, ``MLPClassifier`` and ``MLPRegressor`` share one training loop
(seeded, checkpointed, early stopping, mixed precision on CUDA). Importing this
package does not import torch; fitting does.
"""

from .estimators import CNNClassifier, MLPClassifier, MLPRegressor

__all__ = ["CNNClassifier", "MLPClassifier", "MLPRegressor"]
