"""What Scaled(backend="local") adds to a fit, in absolute time.

The interleaved comparison on a ~1 s fit (`make bench-overhead`) answers "is the
overhead under 2 %?" only as far as the machine's noise allows (a few % here). This
script measures the overhead itself: the same fit, bare and wrapped, on an
estimator so fast that almost all of the wrapped time is scaleml's own work
(clone, backend resolution, plan). The difference, divided by a 1 s fit, is the
overhead ratio.

Usage: python bench/overhead/overhead.py [--out bench/results/overhead-absolute.json]
"""

from __future__ import annotations

import argparse
import statistics
import timeit

from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scaleml import Scaled, machine
from scaleml.bench.results import write_json

X, y = load_iris(return_X_y=True)

CASES = {
    "DummyClassifier": lambda: DummyClassifier(),
    "StandardScaler+LogisticRegression": lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000)
    ),
}


def per_call(statement, number: int, repeat: int) -> list[float]:
    return [t / number for t in timeit.repeat(statement, number=number, repeat=repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/overhead-absolute.json")
    parser.add_argument("--number", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    results = {}
    for name, make in CASES.items():
        estimator = make()
        bare_times, scaled_times = [], []
        # Interleave bare and wrapped rounds so drift touches both alike.
        for _ in range(args.repeat):
            bare_times += per_call(lambda: make().fit(X, y), args.number, 1)
            scaled_times += per_call(lambda: Scaled(estimator).fit(X, y), args.number, 1)
        bare, scaled = statistics.median(bare_times), statistics.median(scaled_times)
        results[name] = {
            "bare_fit_median_us": bare * 1e6,
            "scaled_fit_median_us": scaled * 1e6,
            "overhead_us": (scaled - bare) * 1e6,
            "overhead_share_of_1s_fit": (scaled - bare) / 1.0,
            "bare_fit_us": [t * 1e6 for t in bare_times],
            "scaled_fit_us": [t * 1e6 for t in scaled_times],
        }
        print(
            f"{name:<36} bare {bare * 1e6:9.1f} us  Scaled {scaled * 1e6:9.1f} us  "
            f"overhead {(scaled - bare) * 1e6:7.1f} us = {(scaled - bare) * 100:.4f} % of a 1 s fit"
        )
    record = {
        "what": "Scaled(backend='local').fit minus the bare fit, per call (median)",
        **machine.provenance(machine.script_command("bench/overhead/overhead.py")),
        "number": args.number,
        "repeat": args.repeat,
        "results": results,
    }
    print(f"wrote {write_json(args.out, record)}")


if __name__ == "__main__":
    main()
