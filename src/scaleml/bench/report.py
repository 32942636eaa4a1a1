"""Views of a :class:`~scaleml.bench.results.BenchRun`: a terminal table and a chart."""

from __future__ import annotations

from pathlib import Path

from .results import BenchRun


def _speedup(s: object) -> str:
    if s.speedup is None:
        return "-"
    if s.speedup_low is None:
        return f"{s.speedup:.2f}x ({s.verdict or 'reference'})"  # the reference, or one run: no interval
    return f"{s.speedup:.2f}x [{s.speedup_low:.2f}-{s.speedup_high:.2f}] {s.verdict}"


def format_table(run: BenchRun) -> str:
    """The run as a fixed-width table; notes, peers and skipped backends after it."""
    summaries = run.summaries()
    reference = summaries[0].backend if summaries else "-"
    headers = (
        "backend",
        "fit median s",
        "min s",
        "max s",
        "peak RSS MB",
        run.metric,
        f"speed-up vs {reference} [95% interval]",
        "note",
    )
    rows = [
        (
            s.backend,
            f"{s.fit_median_s:.3f}",
            f"{s.fit_min_s:.3f}",
            f"{s.fit_max_s:.3f}",
            f"{s.peak_rss_mb:.0f}" if s.peak_rss_mb is not None else "-",
            f"{s.score:.4f}",
            _speedup(s),
            s.note,
        )
        for s in summaries
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:]))
        return "  ".join([first, *rest])

    repeats = run.provenance.get("repeat", "?")
    partial = f" (PARTIAL: {run.provenance['partial']})" if "partial" in run.provenance else ""
    out = [f"{run.case}: {run.case_description}", f"median of {repeats} interleaved repeats{partial}", ""]
    out += [line(headers).rstrip(), line(tuple("-" * w for w in widths)), *(line(r).rstrip() for r in rows)]
    out.append("")
    out.append("speed-up: the reference's median time over the row's; the interval resamples the interleaved "
               "rounds; 'no measurable difference' when it holds 1.0.")
    if any(s.peak_rss_mb is not None for s in summaries):
        out.append("peak RSS: one fit of the row's backend in a process of its own, with every process it started.")
    if any("same work as local" in s.note for s in summaries):
        out.append("same work as local: the backend places every step as local does; a time difference is noise.")
    if any("unstable" in s.note for s in summaries):
        out.append("unstable: the repeats spread more than 25% around their median; close other programs or "
                   "raise --repeat before trusting these times.")
    for label, description in run.provenance.get("peers", {}).items():
        out.append(f"{label} (a peer, without scaleml): {description}.")
    for label, reason in run.skipped.items():
        out.append(f"{label}: skipped: {reason}")
    return "\n".join(out)


def commits(provenance: dict) -> str:
    """Which scaleml ran (its commit, else its version) and the commit of the folder it ran in."""
    if "scaleml_commit" not in provenance:  # an older file: its one commit is the folder's
        return f"commit {provenance.get('git_commit')} (of the folder it ran in)"
    version = provenance.get("machine", {}).get("packages", {}).get("scaleml")
    scaleml = provenance["scaleml_commit"] or f"{version or '?'} (installed, not a checkout)"
    return f"scaleml {scaleml}, your folder's commit {provenance.get('user_commit')}"


def format_comparison(before: BenchRun, after: BenchRun) -> str:
    """What changed from ``before`` to ``after``: median fit time and score per backend."""
    old = {s.backend: s for s in before.summaries()}
    new = {s.backend: s for s in after.summaries()}
    lines = [
        f"A: {before.case}, {before.provenance.get('date', '?')}, {commits(before.provenance)}",
        f"B: {after.case}, {after.provenance.get('date', '?')}, {commits(after.provenance)}",
    ]
    if before.case != after.case:
        lines.append(f"note: different cases ({before.case} vs {after.case})")
    sa, sb = before.provenance.get("scale", 1.0), after.provenance.get("scale", 1.0)
    if sa != sb:
        lines.append(f"note: different data sizes (--scale {sa} vs {sb}): the times are not comparable")
    ma, mb = before.provenance.get("machine", {}), after.provenance.get("machine", {})
    if (ma.get("cpu"), ma.get("cores_usable")) != (mb.get("cpu"), mb.get("cores_usable")):
        lines.append(f"note: different machines ({ma.get('cpu')} x{ma.get('cores_usable')} vs {mb.get('cpu')} x{mb.get('cores_usable')})")
    lines += ["", f"{'backend':<20} {'A median s':>11} {'B median s':>11} {'B/A':>7} {'A score':>9} {'B score':>9}"]
    for name in [*old, *(n for n in new if n not in old)]:
        a, b = old.get(name), new.get(name)
        ratio = f"{b.fit_median_s / a.fit_median_s:.3f}" if a and b else "-"
        lines.append(
            f"{name:<20} {f'{a.fit_median_s:.3f}' if a else '-':>11} {f'{b.fit_median_s:.3f}' if b else '-':>11} "
            f"{ratio:>7} {f'{a.score:.4f}' if a else '-':>9} {f'{b.score:.4f}' if b else '-':>9}"
        )
    return "\n".join(lines)


def chart_labels(run: BenchRun) -> list[str]:
    """Each bar's label: its median time and the speed-up as the table gives it (the
    interval and its verdict: "no measurable difference" when the interval holds 1.0)."""
    return [f"{s.fit_median_s:.2f} s, {_speedup(s)}" if s.speedup is not None else f"{s.fit_median_s:.2f} s"
            for s in run.summaries()]


def write_chart(run: BenchRun, path: str | Path) -> Path | None:
    """A PNG bar chart of fit times (median bar, min-max whisker, every repeat as a dot).

    Returns None when matplotlib is not installed (``pip install 'scaleml[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    summaries = run.summaries()
    if not summaries:
        return None
    names = [s.backend for s in summaries]
    medians = [s.fit_median_s for s in summaries]
    labels = chart_labels(run)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.6 * len(names)), dpi=120)
    positions = range(len(names))
    ax.barh(positions, medians, color="#4c72b0", alpha=0.85, height=0.6)
    ax.errorbar(
        medians,
        positions,
        xerr=[[m - s.fit_min_s for m, s in zip(medians, summaries)],
              [s.fit_max_s - m for m, s in zip(medians, summaries)]],
        fmt="none",
        ecolor="black",
        capsize=4,
    )
    for i, s in enumerate(summaries):
        times = [m.fit_s for m in run.measurements if m.backend == s.backend]
        ax.plot(times, [i] * len(times), "o", color="black", markersize=3, alpha=0.6)
        ax.text(s.fit_max_s, i, " " + labels[i], va="center", fontsize=8)
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"fit time, seconds (bar: median; whisker: min-max; dots: repeats); "
                  f"speed-up vs {names[0]} [95% interval]", fontsize=9)
    machine = run.provenance.get("machine", {})
    ax.set_title(
        f"{run.case} on {machine.get('cores_usable', '?')} cores, {machine.get('cpu', '')}"[:90],
        fontsize=10,
    )
    ax.set_xlim(0, max(s.fit_max_s for s in summaries) * 2.2)  # room for the labels after the whiskers
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
