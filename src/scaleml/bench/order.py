"""The order backends run in within a round of an interleaved benchmark.

Used by ``scaleml bench`` and by the scripts in the repository's ``bench/`` folder.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def balanced(labels: list[T], round_: int) -> list[T]:
    """``labels`` rotated by ``round_ // 2``, reversed on odd rounds.

    A run's neighbour matters on a small machine (on 2 cores, `dask` right after loky
    measured up to 12 % slower than right after another `dask` run), and rotation
    alone keeps every backend behind the same one. Reversing every other round gives
    each backend each neighbour in turn: with three backends, six rounds run all six
    orders.
    """
    if not labels:  # every backend skipped or failed: the rounds go on with nothing to run
        return []
    shift = (round_ // 2) % len(labels)
    order = labels[shift:] + labels[:shift]
    return order[::-1] if round_ % 2 else order
