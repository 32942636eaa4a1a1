"""Benchmark results as data: every repeat, with the machine and versions behind it."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


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


@dataclass(frozen=True)
class BackendSummary:
    """The repeats of one backend, reduced."""

    backend: str
    repeats: int
    fit_median_s: float
    fit_min_s: float
    fit_max_s: float
    score: float
    peak_rss_mb: float | None
    speedup: float | None


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
        Machine, versions, git commit, date, command line, settings.
    """

    case: str
    case_description: str
    metric: str
    backends: list[str]
    measurements: list[Measurement] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def summaries(self) -> list[BackendSummary]:
        """Median/min/max fit time, score, peak memory and speed-up per backend."""
        out = []
        reference = None
        for backend in self.backends:
            rows = [m for m in self.measurements if m.backend == backend]
            if not rows:
                continue
            times = [m.fit_s for m in rows]
            median = statistics.median(times)
            if reference is None:
                reference = median
            peaks = [m.peak_rss_mb for m in rows if m.peak_rss_mb is not None]
            out.append(
                BackendSummary(
                    backend=backend,
                    repeats=len(rows),
                    fit_median_s=median,
                    fit_min_s=min(times),
                    fit_max_s=max(times),
                    score=statistics.median(m.score for m in rows),
                    peak_rss_mb=max(peaks) if peaks else None,
                    speedup=reference / median if median > 0 else None,
                )
            )
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
            "summary": [asdict(s) for s in self.summaries()],
            "measurements": [asdict(m) for m in self.measurements],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchRun:
        if data.get("schema") != SCHEMA_VERSION:
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
