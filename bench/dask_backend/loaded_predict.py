"""A model fitted on `dask`, pickled, loaded in a fresh process: how long do 3 rows take to predict?

Each source tree given (this checkout by default; an older checkout with
``--compare-src`` for the figure before a change) fits
``Scaled(LogisticRegression(), backend="dask")`` once and pickles it; then fresh
processes, interleaved across the source trees, load it and predict 3 NumPy
rows. Each reports the predict call's time, the whole process's wall time, and
whether it started processes or imported distributed.

    python bench/dask_backend/loaded_predict.py --repeat 7 --compare-src /tmp/scaleml-before/src

Writes bench/results/loaded-predict.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIT = """
import pickle, sys
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from scaleml import Scaled
X, y = make_classification(n_samples=2_000, n_features=20, random_state=0)
model = Scaled(LogisticRegression(max_iter=500), backend="dask").fit(X, y)
open(sys.argv[1], "wb").write(pickle.dumps(model))
import numpy as np
np.save(sys.argv[2], X[:3])
"""
PREDICT = """
import json, pickle, sys, time
import numpy as np, psutil
model = pickle.loads(open(sys.argv[1], "rb").read())
rows = np.load(sys.argv[2])
start = time.perf_counter()
model.predict(rows)
seconds = time.perf_counter() - start
children = len(psutil.Process().children(recursive=True))
print(json.dumps({"predict_s": seconds, "children": children, "distributed": "distributed" in sys.modules}))
"""


def _env(src: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": src}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compare-src", action="append", default=[], help="another scaleml src folder (before a change)")
    parser.add_argument("--out", default=str(HERE.parent / "results" / "loaded-predict.json"))
    args = parser.parse_args()

    from scaleml import machine
    from scaleml.bench.results import write_json

    sources = {"this checkout": str(HERE.parents[1] / "src"), **{f"before ({s})": s for s in args.compare_src}}
    work = Path(tempfile.mkdtemp(prefix="scaleml-loaded-"))
    files = {}
    for label, src in sources.items():
        model, rows = work / f"{len(files)}.pkl", work / f"{len(files)}.npy"
        subprocess.run([sys.executable, "-c", FIT, str(model), str(rows)], env=_env(src), check=True)
        files[label] = (model, rows)
    runs: dict[str, list[dict]] = {label: [] for label in sources}
    for _ in range(args.repeat):  # interleaved: A B A B ...
        for label, src in sources.items():
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", PREDICT, *map(str, files[label])], env=_env(src),
                                  capture_output=True, text=True, check=True, timeout=300)
            record = json.loads(done.stdout.strip().splitlines()[-1])
            record["process_s"] = time.perf_counter() - start
            runs[label].append(record)
    print(f"{'source':<40} {'predict median s':>17} {'min':>7} {'max':>7} {'process s':>10}  started processes / distributed")
    summary = {}
    for label, records in runs.items():
        times = [r["predict_s"] for r in records]
        summary[label] = {"predict_median_s": statistics.median(times), "predict_min_s": min(times),
                          "predict_max_s": max(times), "process_median_s": statistics.median(r["process_s"] for r in records),
                          "children": max(r["children"] for r in records),
                          "distributed_imported": any(r["distributed"] for r in records)}
        s = summary[label]
        print(f"{label:<40} {s['predict_median_s']:>17.4f} {s['predict_min_s']:>7.4f} {s['predict_max_s']:>7.4f} "
              f"{s['process_median_s']:>10.2f}  {s['children']} / {s['distributed_imported']}")
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "sources": sources, "summary": summary, "runs": runs})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
