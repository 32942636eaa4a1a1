"""Benchmark results as data: every repeat, with the machine and versions behind it."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2  # 2: memory measured per backend in its own process; speed-up intervals; notes


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (creating folders); values JSON lacks become strings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


@dataclass(frozen=True)
class Measurement:
    """One timed repeat of one backend."""

    backend: str
    repeat: int
    fit_s: float
    score_s: float
    score: float
    peak_rss_mb: float | None


ONE_RUN = "one run: no interval"


@dataclass(frozen=True)
class BackendSummary:
    """The repeats of one backend, reduced.

    ``speedup`` is the reference's median over this one's; ``speedup_low`` and
    ``speedup_high`` its bootstrap interval over paired rounds, and ``verdict``
    what the interval says (``"no measurable difference"`` when it holds 1.0).
    ``peak_rss_mb`` was measured in a process of its own (one fit). ``note`` says
    what to know about the row (``"same work as local"``, ``"unstable"``).
    """

    backend: str
    repeats: int
    fit_median_s: float
    fit_min_s: float
    fit_max_s: float
    score: float
    peak_rss_mb: float | None
    speedup: float | None
    speedup_low: float | None = None
    speedup_high: float | None = None
    verdict: str = ""
    note: str = ""


@dataclass
class BenchRun:
    """One ``scaleml bench`` run.

    Attributes
    ----------
    case : str
        The case's name; ``case_description`` and ``metric`` say what it is.
    backends : list of str
        Backend specs in the order given; the first is the reference for speed-ups.
    measurements : list of Measurement
        Every timed repeat, in the order run (interleaved across backends).
    skipped : dict
        Backend spec -> why it did not run here.
    provenance : dict
        Machine, versions, date, command line, settings; ``scaleml_commit`` (scaleml's
        own, when it runs from a checkout) and ``user_commit`` (the folder the run
        started in); ``partial`` when the run was interrupted.
    memory : dict
        Backend spec -> peak RSS (MB) of one fit in a process of its own (with
        every process it started), so a row's memory is that backend's alone.
    notes : dict
        Backend spec -> what to know about its row (``"same work as local"``).
    """

    case: str
    case_description: str
    metric: str
    backends: list[str]
    measurements: list[Measurement] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def times(self, backend: str) -> list[float]:
        """``backend``'s fit times, in round order."""
        return [m.fit_s for m in sorted(self.measurements, key=lambda m: m.repeat) if m.backend == backend]

    def summaries(self) -> list[BackendSummary]:
        """Median/min/max fit time, score, peak memory and speed-up (with interval) per backend."""
        from .stats import UNSTABLE_SPREAD, ratio_interval, spread, verdict

        out = []
        reference: list[float] | None = None
        for backend in self.backends:
            times = self.times(backend)
            if not times:
                continue
            median = statistics.median(times)
            rows = [m for m in self.measurements if m.backend == backend]
            peaks = [m.peak_rss_mb for m in rows if m.peak_rss_mb is not None]  # schema 1 files
            notes = [self.notes[backend]] if backend in self.notes else []
            if spread(times) > UNSTABLE_SPREAD:
                notes.append(f"unstable: spread {spread(times):.0%}")
            summary = dict(
                backend=backend, repeats=len(times), fit_median_s=median, fit_min_s=min(times),
                fit_max_s=max(times), score=statistics.median(m.score for m in rows),
                peak_rss_mb=self.memory.get(backend, max(peaks) if peaks else None),
                speedup=None, note="; ".join(notes),
            )
            if reference is None:
                reference = times
                summary["speedup"] = 1.0
            elif median > 0 and min(len(reference), len(times)) < 2:
                # One round (--repeat 1): a ratio of two single times, with nothing to say how sure it is.
                summary.update(speedup=statistics.median(reference) / median, verdict=ONE_RUN)
            elif median > 0:
                low, high = ratio_interval(reference, times)
                summary.update(speedup=statistics.median(reference) / median, speedup_low=low, speedup_high=high,
                               verdict=verdict(low, high))
            out.append(BackendSummary(**summary))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "case": self.case,
            "case_description": self.case_description,
            "metric": self.metric,
            "backends": list(self.backends),
            "skipped": dict(self.skipped),
            "provenance": self.provenance,
            "memory": dict(self.memory),
            "notes": dict(self.notes),
            "summary": [asdict(s) for s in self.summaries()],
            "measurements": [asdict(m) for m in self.measurements],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchRun:
        if data.get("schema") not in (1, SCHEMA_VERSION):
            raise ValueError(
                f"Unsupported bench result schema {data.get('schema')!r}; "
                f"this scaleml reads schema {SCHEMA_VERSION}."
            )
        return cls(
            case=data["case"],
            case_description=data["case_description"],
            metric=data["metric"],
            backends=list(data["backends"]),
            measurements=[Measurement(**m) for m in data["measurements"]],
            skipped=dict(data["skipped"]),
            provenance=dict(data["provenance"]),
            memory=dict(data.get("memory", {})),
            notes=dict(data.get("notes", {})),
        )

    def write_json(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def read_json(cls, path: str | Path) -> BenchRun:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_csv(self) -> str:
        """Every measurement as CSV, one row per repeat."""
        buffer = io.StringIO()
        names = list(Measurement.__dataclass_fields__)
        writer = csv.DictWriter(buffer, fieldnames=["case", *names])
        writer.writeheader()
        for m in self.measurements:
            writer.writerow({"case": self.case, **asdict(m)})
        return buffer.getvalue()
