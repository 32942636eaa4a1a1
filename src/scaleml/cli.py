"""The ``scaleml`` command: a thin shell over the library.

Heavy modules (scikit-learn, and the engines) are imported inside the commands, so
``scaleml --help`` starts fast and imports neither dask nor torch.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from ._version import __version__

# Where `scaleml explain` may take estimator classes from: importing a dotted path
# runs that module's code, so only these packages are accepted.
ALLOWED_MODULES = ("sklearn", "scaleml")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scaleml")
def main() -> None:
    """Run scikit-learn code on more cores, a Dask cluster or a GPU, and measure which wins."""


def _resolve_estimator_class(name: str) -> type:
    """An estimator class from a scikit-learn class name or an allowed dotted path."""
    if "." in name:
        from .recipes import import_estimator_class

        try:
            return import_estimator_class(name, ALLOWED_MODULES)
        except PermissionError:
            raise click.BadParameter(
                f"{name!r}: only classes from {', '.join(ALLOWED_MODULES)} may be named "
                "(importing other modules would run their code)."
            ) from None
        except (ImportError, TypeError):
            raise click.BadParameter(f"{name!r} is not an importable estimator class.") from None
    classes = _sklearn_estimator_classes()
    if name in classes:
        return classes[name]
    import difflib

    close = difflib.get_close_matches(name, classes, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise click.BadParameter(
        f"{name!r} is not a scikit-learn estimator class name.{hint} "
        "Name a class (RandomForestClassifier) or a dotted path (sklearn.svm.SVC)."
    )


def _instantiate(cls: type) -> Any:
    """``cls()`` with its defaults, or a usage error for a class that needs arguments."""
    try:
        return cls()
    except TypeError as exc:
        raise click.UsageError(
            f"{cls.__name__} cannot be built with default parameters ({exc}); `scaleml explain` takes "
            "classes that can. For a search or other meta-estimator, call "
            "scaleml.explain(estimator, backend=..., X=X, y=y) from Python."
        ) from None


def _sklearn_estimator_classes() -> dict[str, type]:
    """Public estimator classes of scikit-learn's public subpackages, by name.

    Not ``sklearn.utils.all_estimators``: it imports every scikit-learn module,
    array-API shims included, and those import torch and dask when installed.
    """
    import importlib

    import sklearn

    skip = {"externals", "experimental", "exceptions", "datasets", "metrics", "inspection", "callback"}
    classes: dict[str, type] = {}
    for sub in sklearn.__all__:
        if sub in skip:
            continue
        try:
            module = importlib.import_module(f"sklearn.{sub}")
        except ImportError:
            continue  # a function such as sklearn.clone, or an optional part
        for attr in getattr(module, "__all__", ()):
            try:
                obj = getattr(module, attr)
            except (ImportError, AttributeError):
                continue  # experimental classes refuse to load without an opt-in
            if isinstance(obj, type) and hasattr(obj, "fit"):
                classes.setdefault(attr, obj)
    return classes


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    from .backends import parse_options
    from .exceptions import BackendOptionError

    try:
        return parse_options(pairs)
    except BackendOptionError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.argument("steps", nargs=-1, required=True)
@click.option("--backend", "-b", default=None, help="Backend name (default: SCALEML_BACKEND, else local).")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="A backend option; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def explain(steps: tuple[str, ...], backend: str | None, options: tuple[str, ...], as_json: bool) -> None:
    """Say where each step of a pipeline would run, and why, without fitting it.

    STEPS are estimator classes with default parameters, joined into a pipeline:

        scaleml explain StandardScaler RandomForestClassifier -o n_jobs=-1
    """
    from sklearn.pipeline import make_pipeline

    from .exceptions import ScaleMLError
    from .scaled import explain as make_explanation

    estimators = [_instantiate(_resolve_estimator_class(step)) for step in steps]
    estimator = estimators[0] if len(estimators) == 1 else make_pipeline(*estimators)
    try:
        plan = make_explanation(estimator, backend=backend, **_parse_options(options))
    except (ScaleMLError, ImportError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(plan.to_dict(), indent=2, default=repr) if as_json else str(plan))


@main.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--backend", "-b", default=None, help="Backend name or profile (default: SCALEML_BACKEND, else local).")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="A backend option; repeatable.")
@click.option("--verbose", "-v", is_flag=True, help="Progress and dashboard link while it runs; at the end, every fit: where it ran and why.")
@click.option("-m", "module", default=None, metavar="MODULE", help="Run a module as `python -m MODULE` does.")
@click.option("--resume", default=None, metavar="DIR",
              help="Keep each finished search/cross-validation unit in DIR; a rerun reads them back (backend option resume=).")
@click.option("-W", "warning_options", multiple=True, metavar="ARG",
              help="A warning filter, as python -W takes it (error, ignore::DeprecationWarning, ...); repeatable.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def exec_(backend: str | None, options: tuple[str, ...], verbose: bool, module: str | None, resume: str | None,
          warning_options: tuple[str, ...], args: tuple[str, ...]) -> None:
    """Run an unchanged script (or -m module) with a backend active for all of it.

    \b
      scaleml exec --backend dask train.py --epochs 3
      scaleml exec -b local -o n_jobs=-1 -v -m mypackage.train
      scaleml exec -b dask --resume runs/search1 search.py
      scaleml exec -b dask -W error::sklearn.exceptions.ConvergenceWarning train.py

    The script runs as __main__ with its own arguments and exit status. Inside it,
    n_jobs work (GridSearchCV, cross_validate, forests, ...) runs on the backend,
    Dask collections compute on its cluster, and distributed.get_client() returns it.
    """
    from .exceptions import ScaleMLError
    from .runner import run as run_target

    if module is None and not args:
        raise click.UsageError("Name a script to run (scaleml exec [OPTIONS] script.py [ARGS]) or -m MODULE.")
    if warning_options:
        _with_warning_options(warning_options)
    if module is None and args[0].startswith("-"):
        # Unknown options reach here as the script's name: ignore_unknown_options keeps the
        # script's own options (after its name) for the script.
        import difflib

        known = [name for param in click.get_current_context().command.params for name in param.opts]
        close = difflib.get_close_matches(args[0].split("=")[0], known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise click.UsageError(f"No such option: {args[0]}.{hint} Options go before the script's name; the "
                               "script's own options after it.")
    target, rest = (module, list(args)) if module is not None else (args[0], list(args[1:]))
    parsed = _parse_options(options)
    if resume is not None:
        parsed["resume"] = resume
    try:
        status = run_target(target, rest, module=module is not None, backend_name=backend,
                            options=parsed, verbose=verbose)
    except (ScaleMLError, ImportError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt as exc:  # the backend is closed by now
        _exit_as_python_does(exc)
    sys.exit(status)


_WARNINGS_APPLIED = "SCALEML_EXEC_WARNINGS_APPLIED"


def _with_warning_options(warning_options: tuple[str, ...]) -> None:
    """Apply ``-W`` options as ``python -W`` does: Python reads them only as it starts, so
    this process starts again with them in ``PYTHONWARNINGS`` (after any already there,
    which they override, as -W does), and the same arguments; the new process goes on
    (and drops the marker, so that a ``scaleml exec -W`` the script starts applies its own)."""
    if os.environ.pop(_WARNINGS_APPLIED, None) == "1":
        return
    commas = [option for option in warning_options if "," in option]
    if commas:
        raise click.UsageError(f"-W {commas[0]!r}: a comma cannot be passed on here (PYTHONWARNINGS separates filters "
                               "with commas). Run python -W ... -m scaleml exec ... instead.")
    inherited = os.environ.get("PYTHONWARNINGS", "")
    environment = {**os.environ, _WARNINGS_APPLIED: "1",
                   "PYTHONWARNINGS": ",".join([*filter(None, [inherited]), *warning_options])}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)


def _exit_as_python_does(exc: KeyboardInterrupt) -> None:
    """End as ``python script.py`` ends on Ctrl-C: the script's traceback, then killed by
    SIGINT (a shell sees 130), not click's "Aborted!" and status 1."""
    import atexit
    import signal

    from .runner import print_script_traceback

    print_script_traceback(exc, sys.stderr)
    # Python runs the exit handlers before it kills itself: the script's own, and scaleml's
    # (closing any cluster it opened). The signal below would skip them.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    sys.exit(128 + signal.SIGINT)  # where SIGINT does not end the process


@main.command()
@click.argument("recipe")
@click.option("--backend", "-b", default=None, help="Backend name or profile (default: SCALEML_BACKEND, else local).")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="A backend option; repeatable.")
@click.option("--scale", default=1.0, show_default=True, help="Size multiplier for generated data.")
@click.option("--allow-any-import", is_flag=True, help="Let the recipe name classes outside the allow-list (trusted recipes only).")
@click.option("--save", "save_path", default=None, type=click.Path(dir_okay=False), help="Save the fitted model here (.skops; load with scaleml.load).")
def run(
    recipe: str,
    backend: str | None,
    options: tuple[str, ...],
    scale: float,
    allow_any_import: bool,
    save_path: str | None,
) -> None:
    """Fit a recipe's pipeline on one backend, score it, and say where each step ran."""
    import time

    from .exceptions import ScaleMLError
    from .recipes import load_recipe
    from .scaled import Scaled

    from .backends import create_backend
    from .bench.runner import PEERS, BackendSpec, read_into_memory

    try:
        loaded = load_recipe(recipe, allow_any_import=allow_any_import)
        from_recipe, spec_options = False, {}
        if backend is None and not os.environ.get("SCALEML_BACKEND", "").strip():
            # The first backend the recipe names, not a peer, with the options it gives it.
            spec = next((s for s in map(BackendSpec.parse, loaded.backends) if s.name not in PEERS), None)
            backend, spec_options, from_recipe = (spec.name, spec.options, True) if spec else (None, {}, False)
        elif backend is not None and ":" in backend:  # name:key=value, as the recipe and bench write it
            spec = BackendSpec.parse(backend)
            backend, spec_options = spec.name, spec.options
        case = loaded.to_case()
        data = case.load(scale)
        if loaded.lazy and not create_backend(backend or "local").out_of_core:
            # Files for a backend that fits in memory: read once into pandas, as bench does.
            data = read_into_memory(data)
        X_train, X_test, y_train, y_test = data
        model = Scaled(case.make_estimator(), backend=backend, **{**spec_options, **_parse_options(options)})
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        score = case.score(model, X_test, y_test)
    except (ScaleMLError, ImportError) as exc:
        raise click.ClickException(str(exc)) from None
    if from_recipe:  # chosen here from the recipe, not by the user's argument
        import dataclasses

        model.plan_ = dataclasses.replace(model.plan_, backend_source="recipe")
    click.echo(str(model.plan_))
    click.echo(f"\n{loaded.name}: fit {fit_s:.3f} s, {case.metric} {score:.4f} on the test set")
    if save_path:
        from .persistence import save, to_trust

        try:
            saved = save(model, save_path)
            needed = to_trust(saved)
        except ScaleMLError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"saved the fitted model to {saved}")
        if needed:
            click.echo(f"load it with scaleml.load({str(saved)!r}, trusted={needed!r}) once you have checked "
                       "that these types are what you expect")


@main.command()
@click.option("--output", default=None, type=click.Path(dir_okay=False),
              help="Write here instead of the user's config folder (read it back with backend option calibration=).")
@click.option("--no-dask", is_flag=True, help="Skip the Dask probes (no LocalCluster is started).")
@click.option("--show", is_flag=True, help="Print the constants in use and where they come from; measure nothing.")
@click.option("--refine", "refine_with", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A JSON file `scaleml bench` wrote (in its --out folder) of a built-in search case with sklearn and "
                   "local:n_jobs=-1 and/or dask rows: the parallel efficiency it measured replaces the probes'. "
                   "Repeatable (each constant takes the median).")
def calibrate(output: str | None, no_dask: bool, show: bool, refine_with: tuple[str, ...]) -> None:
    """Measure what backend="auto" needs to know about this machine (under a minute).

    Short probes in a fresh process: starting loky workers and a LocalCluster, the
    cost of one task on each, how fast data reaches workers, and how much of a
    core a fit keeps when all are busy. The figures, with their provenance, go to
    the user's config folder (SCALEML_CONFIG_DIR overrides it); without them auto
    uses conservative defaults that prefer running in this process. With --refine,
    nothing is probed: the stored figures are refined with bench results of your
    own workloads.
    """
    import dataclasses

    from .backends.auto import _calibration
    from .exceptions import ScaleMLError

    if refine_with:
        if show or no_dask:
            raise click.UsageError("--refine measures nothing and refines the stored figures: give it without "
                                   "--show or --no-dask (run `scaleml calibrate --show` after it).")
        constants = _refine_calibration(output, refine_with)
    elif show:
        constants = _calibration.load(output)
    else:
        click.echo("scaleml calibrate: timing loky workers" + ("" if no_dask else " and a LocalCluster")
                   + " in a fresh process ...", err=True)
        try:
            constants, provenance = _calibration.calibrate(with_dask=not no_dask)
        except ScaleMLError as exc:
            raise click.ClickException(str(exc)) from None
        path = _calibration.save(constants, provenance, output)
        constants = dataclasses.replace(constants, source=f"measured now, saved to {path}")
    for field in dataclasses.fields(constants):
        value = getattr(constants, field.name)
        click.echo(f"{field.name:<16} {value:.4g}" if isinstance(value, float) else f"{field.name:<16} {value}")


def _refine_calibration(output: str | None, results: tuple[str, ...]) -> Any:
    """The stored calibration refined with bench ``results``, saved back; returns the constants."""
    import dataclasses
    from pathlib import Path

    from ._cli_bench import read_result_file
    from .backends.auto import _calibration
    from .bench.refine import refine
    from .exceptions import ScaleMLError

    path = Path(output) if output else _calibration.calibration_path()
    if not path.exists():
        raise click.ClickException(f"No calibration at {path} to refine: run `scaleml calibrate` first.")
    try:
        document = json.loads(path.read_text())
        constants = _calibration.parse(document, str(path))
    except (OSError, ValueError) as exc:  # CalibrationError is a ValueError, as is bad JSON
        raise click.ClickException(f"{exc} Run `scaleml calibrate` to measure this machine again.") from None
    runs = [(result, read_result_file(result)) for result in dict.fromkeys(results)]
    recorded = document.get("provenance")
    try:
        refined, provenance, found, notes = refine(constants, recorded if isinstance(recorded, dict) else {}, runs)
    except ScaleMLError as exc:
        raise click.ClickException(str(exc)) from None
    for note in notes:
        click.echo(f"not used: {note}", err=True)
    if not found:
        raise click.ClickException("The bench results measured no constant this calibration can take (see "
                                   "'not used' above); the calibration is left as it was.")
    for r in found:
        click.echo(f"refined: {r.describe()}", err=True)
    for name in dict.fromkeys(r.constant for r in found):
        click.echo(f"{name}: {getattr(constants, name):.3f} -> {getattr(refined, name):.3f}", err=True)
    saved = _calibration.save(refined, provenance, path)
    return dataclasses.replace(refined, source=f"refined now, saved to {saved}")


from ._cli_bench import bench, bench_memory  # noqa: E402 - the group above must exist first
from ._cli_cluster import cluster  # noqa: E402
from ._cli_info import info  # noqa: E402

main.add_command(info)
main.add_command(cluster)
main.add_command(bench)
main.add_command(bench_memory)
