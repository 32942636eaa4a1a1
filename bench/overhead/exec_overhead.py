"""What `scaleml exec --backend local` adds to `python` on a short script.

The same script (iris, a LogisticRegression fit, one print) runs as a fresh
process each way, interleaved A B A B ..., wall time from process start to
exit; the difference of the medians is the runner's overhead (importing
scaleml and its CLI, resolving the backend, running the script through runpy).

    python bench/overhead/exec_overhead.py --repeat 15

Writes bench/results/exec-overhead.json and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
print(LogisticRegression(max_iter=500).fit(X, y).score(X, y))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", default=str(HERE.parent / "results" / "exec-overhead.json"))
    args = parser.parse_args()

    from scaleml import machine
    from scaleml.bench.results import write_json

    script = Path(tempfile.mkdtemp(prefix="scaleml-exec-")) / "short.py"
    script.write_text(SCRIPT)
    commands = {
        "python script.py": [sys.executable, str(script)],
        "scaleml exec --backend local script.py": [sys.executable, "-m", "scaleml", "exec", "--backend", "local", str(script)],
    }
    times: dict[str, list[float]] = {label: [] for label in commands}
    outputs = {}
    for round_ in range(args.repeat + 1):  # the first round warms the file cache, not counted
        for label, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            if round_:
                times[label].append(time.perf_counter() - start)
            outputs[label] = done.stdout
    assert len(set(outputs.values())) == 1, outputs
    base = statistics.median(times["python script.py"])
    print(f"{'command':<42} {'median s':>9} {'min s':>7} {'max s':>7} {'overhead s':>11}")
    summary = {}
    for label, values in times.items():
        median = statistics.median(values)
        summary[label] = {"median_s": median, "min_s": min(values), "max_s": max(values), "overhead_s": median - base}
        print(f"{label:<42} {median:>9.3f} {min(values):>7.3f} {max(values):>7.3f} {median - base:>11.3f}")
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "summary": summary, "times": times})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
