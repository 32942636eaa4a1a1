"""How sure a speed-up is: a bootstrap interval over interleaved repeats.

Repeats run in rounds (every backend once per round, in turn), so round ``i``'s
times of two backends share the machine's state at that moment. The interval
resamples whole rounds, keeping those pairs together, and takes the ratio of
the medians each time (pyperf's practice: report spread, not a lone number).
"""

from __future__ import annotations

import statistics

# A ratio whose interval includes 1.0 is not a difference this run can show.
LEVEL = 0.95
# Run-to-run spread (max - min) / median beyond which a backend's times are unstable.
UNSTABLE_SPREAD = 0.25


def ratio_interval(reference: list[float], other: list[float], *, resamples: int = 2000,
                   seed: int = 0) -> tuple[float, float]:
    """The ``LEVEL`` interval of median(reference) / median(other) over paired rounds.

    ``reference[i]`` and ``other[i]`` were measured in the same round.
    """
    import numpy as np

    pairs = min(len(reference), len(other))
    if pairs < 2:
        ratio = statistics.median(reference) / statistics.median(other)
        return ratio, ratio
    ref, oth = np.asarray(reference[:pairs]), np.asarray(other[:pairs])
    rounds = np.random.default_rng(seed).integers(0, pairs, size=(resamples, pairs))
    ratios = np.median(ref[rounds], axis=1) / np.median(oth[rounds], axis=1)
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def verdict(low: float, high: float) -> str:
    """``"faster"``, ``"slower"``, or ``"no measurable difference"`` for a speed-up interval."""
    if low <= 1.0 <= high:
        return "no measurable difference"
    return "faster" if low > 1.0 else "slower"


def spread(times: list[float]) -> float:
    """(max - min) / median of one backend's repeats."""
    median = statistics.median(times)
    return (max(times) - min(times)) / median if median > 0 else 0.0
