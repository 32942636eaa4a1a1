"""Out-of-core accuracy against passes over the blocks, beside the in-memory fit.

StandardScaler + SGDClassifier(random_state=0) on the generated Parquet set of
recipes/sgd_out_of_core.yaml (8 files of 250,000 x 50 float32, a held-out
file), fitted by the dask-ml backend with 1, 2, 3, 5 and 10 passes (blocks
shuffled after the first pass, seeded), and in memory by scikit-learn (SGD's own
epochs until its stopping rule). Held-out accuracy and fit time of each.

    python bench/out_of_core/epochs.py --passes 1,2,3,5,10

Writes bench/results/epochs.json and prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", default="1,2,3,5,10")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--out", default=str(HERE.parent / "results" / "epochs.json"))
    args = parser.parse_args()

    import pandas as pd
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scaleml import Scaled, machine
    from scaleml.bench.datasets import synthetic_parquet
    from scaleml.bench.results import write_json

    train, test = synthetic_parquet(args.files, 250_000, 50)
    holdout = pd.read_parquet(test)
    X_test, y_test = holdout.drop(columns="label").to_numpy(), holdout["label"].to_numpy()

    def pipe():
        return make_pipeline(StandardScaler(), SGDClassifier(random_state=0))

    rows = []
    for passes in [int(p) for p in args.passes.split(",")]:
        start = time.perf_counter()
        model = Scaled(pipe(), backend="dask-ml", epochs=passes, random_state=0).fit(str(train / "*.parquet"), "label")
        seconds = time.perf_counter() - start
        rows.append({"fit": f"dask-ml, {passes} pass{'es' if passes > 1 else ''}", "passes": passes,
                     "accuracy": float(model.estimator_.score(X_test, y_test)), "seconds": seconds,
                     "plan": model.plan_[-1].reason})
        print(rows[-1]["fit"], round(rows[-1]["accuracy"], 4), f"{seconds:.1f} s", flush=True)
    frames = [pd.read_parquet(path) for path in sorted(train.glob("*.parquet"))]
    data = pd.concat(frames)
    X, y = data.drop(columns="label").to_numpy(), data["label"].to_numpy()
    start = time.perf_counter()
    in_memory = pipe().fit(X, y)
    seconds = time.perf_counter() - start
    rows.append({"fit": f"in memory (scikit-learn, {in_memory[-1].n_iter_} epochs)", "passes": int(in_memory[-1].n_iter_),
                 "accuracy": float(in_memory.score(X_test, y_test)), "seconds": seconds})
    print(f"\n{'fit':<40} {'passes':>6} {'held-out accuracy':>18} {'fit s':>7}")
    for row in rows:
        print(f"{row['fit']:<40} {row['passes']:>6} {row['accuracy']:>18.4f} {row['seconds']:>7.1f}")
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "rows_train": len(X), "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
