"""The default networks: a small CNN for images and an MLP for vectors."""

from __future__ import annotations

from typing import Any


def build_cnn(input_shape: tuple[int, int, int], n_outputs: int, channels: tuple[int, ...], dropout: float) -> Any:
    """Conv-ReLU blocks, adaptive pooling to 4x4 (any image size works), two dense layers."""
    from torch import nn

    layers: list[Any] = []
    in_channels = input_shape[0]
    for out_channels in channels:
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers += [
        nn.AdaptiveMaxPool2d((4, 4)),
        nn.Flatten(),
        nn.Linear(in_channels * 16, 128),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(128, n_outputs),
    ]
    return nn.Sequential(*layers)


def build_mlp(n_features: int, n_outputs: int, hidden_layer_sizes: tuple[int, ...], dropout: float) -> Any:
    """Dense-ReLU(-Dropout) layers, then a linear output."""
    from torch import nn

    layers: list[Any] = []
    width = n_features
    for size in hidden_layer_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)
