"""``scaleml bench``: backends side by side on a recipe or a built-in case (the CLI's largest command)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import click


@click.command()
@click.argument("recipe", required=False)
@click.option("--case", "case_name", default=None, help="Built-in case instead of a recipe (default digits-forest-search; see --list-cases).")
@click.option(
    "--backends",
    default=None,
    help="Comma-separated backends, each NAME or NAME:KEY=VALUE[:KEY=VALUE]. Peers without scaleml: "
    "'sklearn' (the bare estimator), 'loky' (joblib loky, n_jobs=-1), 'joblib-dask' (joblib's own dask "
    "backend). Default: the recipe's list, else sklearn, local, local:n_jobs=-1 and every other "
    "backend available here.",
)
@click.option("--repeat", default=5, show_default=True, help="Timed repeats per backend (interleaved).")
@click.option("--warmup", default=1, show_default=True, help="Untimed fits per backend first.")
@click.option("--scale", default=1.0, show_default=True, help="Size multiplier for generated data.")
@click.option("--memory/--no-memory", default=True, show_default=True, help="Measure each backend's peak RSS: one fit in a process of its own.")
@click.option("--out", "out_dir", default="scaleml-results", show_default=True, type=click.Path(file_okay=False), help="Folder for the JSON, CSV and PNG results.")
@click.option("--allow-any-import", is_flag=True, help="Let the recipe name classes outside the allow-list (trusted recipes only).")
@click.option("--compare", nargs=2, type=click.Path(exists=True, dir_okay=False), default=None, metavar="A.json B.json", help="Show what changed between two result files, and exit.")
@click.option("--list-cases", is_flag=True, help="List the built-in cases and exit.")
def bench(
    recipe: str | None,
    case_name: str | None,
    backends: str | None,
    repeat: int,
    warmup: int,
    scale: float,
    memory: bool,
    out_dir: str,
    allow_any_import: bool,
    compare: tuple[str, str] | None,
    list_cases: bool,
) -> None:
    """Run a recipe (or a built-in case) on several backends side by side.

    Prints a table and writes JSON (every repeat, with provenance), CSV and a PNG
    chart. Backends that cannot run here are listed as skipped, with the reason.
    """
    from .bench.cases import CASES
    from .bench.report import format_comparison, format_table
    from .bench.runner import run_bench
    from .exceptions import ScaleMLError

    if list_cases:
        for case in CASES.values():
            click.echo(f"{case.name:<24} {case.description}")
        return
    try:
        if compare:
            click.echo(format_comparison(*(read_result_file(path) for path in compare)))
            return
        case, specs = _case_and_specs(recipe, case_name, backends, allow_any_import)
        run = run_bench(
            case,
            specs,
            repeat=repeat,
            warmup=warmup,
            scale=scale,
            memory=memory,
            command=_command_line(click.get_current_context(), specs),
        )
    except (ScaleMLError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_table(run))
    json_path = _write_results(run, Path(out_dir), case.name)
    from .engines.dask.cluster import CONNECTIONS, close_all

    if CONNECTIONS.running():  # say so, rather than pause in silence at exit
        click.echo("closing the Dask cluster scaleml started (a few seconds)...", err=True)
        close_all()
    # Fail (exit status 1) after writing: what did run is kept, and the message says where.
    failed = [label for label, reason in run.skipped.items() if reason.startswith("failed")]
    if failed or "partial" in run.provenance:
        problem = f"{', '.join(failed)} failed (see above)" if failed else run.provenance["partial"]
        raise click.ClickException(f"the run is incomplete: {problem}; its results are in {json_path}.")


def _case_and_specs(recipe: str | None, case_name: str | None, backends: str | None,
                    allow_any_import: bool) -> tuple[Any, list]:
    """The case to run (the recipe's, or a built-in one) and the backends to run it on.

    ``--backends`` wins over the recipe's list, which wins over the default rows.

    Raises
    ------
    ScaleMLError
        Both a recipe and ``--case``, a recipe that does not load, an unknown case;
        ValueError for a backend spec that does not parse.
    """
    from .bench.cases import get_case
    from .bench.runner import BackendSpec
    from .exceptions import ScaleMLError

    if recipe and case_name:
        raise ScaleMLError("Give a recipe or --case, not both.")
    recipe_backends: list[str] = []
    if recipe:
        from .recipes import load_recipe

        loaded = load_recipe(recipe, allow_any_import=allow_any_import)
        case, recipe_backends = loaded.to_case(allow_any_import), loaded.backends
    else:
        case = get_case(case_name or "digits-forest-search")
    listed = backends.split(",") if backends else recipe_backends
    specs = [BackendSpec.parse(s) for s in listed] if listed else _default_specs()
    return case, specs


def _write_results(run: Any, out_dir: Path, name: str) -> Path:
    """Write the run's JSON, CSV and chart as ``out_dir/name-<date>.*``, say where, and return the JSON's path.

    The date in the name is to the second; a second run within the same second
    gets ``-2``, ``-3``, ... rather than overwriting the first.
    """
    from .bench.report import write_chart

    stamp = run.provenance["date"].replace(":", "").replace("+0000", "Z")
    base = out_dir / f"{name}-{stamp}"
    n = 1
    while base.with_suffix(".json").exists():  # two runs in one second
        n += 1
        base = out_dir / f"{name}-{stamp}-{n}"
    json_path = run.write_json(base.with_suffix(".json"))
    base.with_suffix(".csv").write_text(run.to_csv())
    chart = write_chart(run, base.with_suffix(".png"))
    click.echo(f"\nwrote {json_path}, {base.with_suffix('.csv')}" + (f", {chart}" if chart else ""))
    if chart is None:
        click.echo(_no_chart_reason(run))
    return json_path


@click.command("bench-memory", hidden=True)
@click.argument("origin")
@click.argument("backend")
@click.option("--scale", default=1.0)
def bench_memory(origin: str, backend: str, scale: float) -> None:
    """(Internal) One fit of a bench case on one backend, in this process: `scaleml bench` measures its memory."""
    from .bench.cases import get_case
    from .bench.runner import BackendSpec, measure_once

    kind, *where = json.loads(origin)
    if kind == "case":
        case = get_case(where[0])
    else:
        from .recipes import load_recipe

        case = load_recipe(where[0], allow_any_import=bool(where[1])).to_case(bool(where[1]))
    measured = measure_once(case, BackendSpec.parse(backend), case.load(scale), 0)
    click.echo(json.dumps({"fit_s": measured.fit_s}))


def _no_chart_reason(run: Any) -> str:
    import importlib.util

    if not run.summaries():
        return "(no chart: no backend finished a timed fit)"
    if importlib.util.find_spec("matplotlib") is None:
        return "(no chart: pip install 'scaleml[plot]' for matplotlib)"
    return "(no chart: matplotlib could not draw it)"


def _command_line(ctx: click.Context, specs: list) -> str:
    """The bench command with every setting spelled out, to rerun it as it ran."""
    values = dict(ctx.params, backends=",".join(spec.label for spec in specs))
    args = []
    for param in ctx.command.params:
        value = values[param.name]
        if isinstance(param, click.Argument):
            args += [str(value)] if value else []
            continue
        if param.name in ("list_cases", "compare") or value is None:
            continue
        if param.is_flag:
            if value or param.secondary_opts:
                args.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            args += [param.opts[0], str(value)]
    return shlex.join(["scaleml", "bench", *args])


def _default_specs() -> list:
    from .backends import available
    from .bench.runner import BARE, BackendSpec

    import importlib.util

    specs = [BackendSpec(BARE), BackendSpec("local"), BackendSpec("local", {"n_jobs": -1})]
    for b in available():
        # Without CuPy the cupy backend is local under another name: not worth a row.
        if b.available and b.name != "local" and not (b.name == "cupy" and importlib.util.find_spec("cupy") is None):
            specs.append(BackendSpec(b.name))
    return specs


def read_result_file(path: str) -> Any:
    """The :class:`BenchRun` in a result file, or a one-line error naming the file (the CSV
    beside the JSON gave a bare "Expecting value")."""
    from .bench.results import BenchRun

    try:
        return BenchRun.read_json(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{path} is not a result file `scaleml bench` wrote ({type(exc).__name__}: "
                                   f"{exc}); give the .json file from its --out folder.") from None
