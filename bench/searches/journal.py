"""The resume journal's cost, and what resuming saves: tiny_fits' ten workloads with ``resume=``.

For each workload of ``bench/dask_backend/tiny_fits.py`` and each backend (``local
n_jobs=-1``, ``dask``), four runs per round, in an order that changes each round
(``scaleml.bench.order.balanced``):

- ``plain``: no journal;
- ``journal``: a fresh journal (every unit hashed, fitted and written): the overhead,
  ``journal / plain`` (target <= 1.03);
- ``resume 50 %``: a journal holding every other unit (the rest deleted): what a rerun
  after a crash half way costs, ``resume 50 % / plain``;
- ``resume 100 %``: every unit read back (the floor: refits and what is not a unit).

    python bench/searches/journal.py --rounds 3
    python bench/searches/journal.py --rounds 0 --workloads svc_grid_iris --backends local   # smoke run

Writes bench/results/journal.json and prints a table of medians.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from scaleml.bench.order import balanced

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "dask_backend"))

from tiny_fits import WORKLOADS  # noqa: E402 - the workloads measured, unchanged

VARIANTS = ("plain", "journal", "resume 50 %", "resume 100 %")


def _journal(kind: str, full: Path) -> str | None:
    """A journal folder for one run: none, empty, half of ``full``'s entries, or all of them."""
    if kind == "plain":
        return None
    folder = Path(tempfile.mkdtemp(prefix="journal-bench-"))
    lines = [] if kind == "journal" else [
        line for log in sorted(full.glob("journal-*.jsonl")) for line in log.read_text().splitlines(keepends=True)]
    (folder / "journal-bench.jsonl").write_text("".join(lines[:: 2 if kind == "resume 50 %" else 1]))
    return str(folder)


def _timed(scaleml, backend, options, workload, folder):
    extra = {} if folder is None else {"resume": folder}
    with scaleml.backend(backend, **options, **extra):
        start = time.perf_counter()
        workload()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (after one untimed round)")
    parser.add_argument("--backends", default="local,dask")
    parser.add_argument("--workloads", default=",".join(w.__name__ for w in WORKLOADS))
    parser.add_argument("--out", default=str(HERE.parent / "results" / "journal.json"))
    args = parser.parse_args()

    import scaleml
    from scaleml import machine
    from scaleml.bench.results import write_json

    options = {"local": {"n_jobs": -1}, "dask": {}}
    workloads = [w for w in WORKLOADS if w.__name__ in args.workloads.split(",")]
    backends = args.backends.split(",")
    times = {f"{w.__name__} {b}": {v: [] for v in VARIANTS} for w in workloads for b in backends}
    for workload in workloads:
        for backend in backends:
            full = Path(tempfile.mkdtemp(prefix="journal-bench-full-"))
            _timed(scaleml, backend, options[backend], workload, str(full))  # untimed: fills the full journal
            for round_ in range(args.rounds + 1):  # round 0 warms up, not counted
                for variant in balanced(list(VARIANTS), round_):
                    folder = _journal(variant, full)
                    seconds = _timed(scaleml, backend, options[backend], workload, folder)
                    if round_:
                        times[f"{workload.__name__} {backend}"][variant].append(seconds)
                    if folder is not None:
                        shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(full, ignore_errors=True)
    summary = _report(times)
    write_json(args.out, {"provenance": machine.provenance(machine.script_command(__file__)),
                          "rounds": args.rounds, "summary": summary, "times": times})
    print(f"wrote {args.out}")


def _report(times: dict) -> dict:
    print(f"\n{'workload backend':<44} " + " ".join(f"{v:>13}" for v in VARIANTS) + "  overhead  saved at 50 %")
    summary = {}
    for name, by_variant in times.items():
        if not all(by_variant.values()):
            continue  # --rounds 0: nothing timed
        medians = {v: statistics.median(t) for v, t in by_variant.items()}
        summary[name] = {**medians, "journal_over_plain": medians["journal"] / medians["plain"],
                         "resume_50_over_plain": medians["resume 50 %"] / medians["plain"]}
        print(f"{name:<44} " + " ".join(f"{medians[v]:>13.3f}" for v in VARIANTS)
              + f"  {summary[name]['journal_over_plain']:>8.3f}  {1 - summary[name]['resume_50_over_plain']:>11.1%}")
    return summary


if __name__ == "__main__":
    main()
