"""A pytest plugin that runs any test session inside a scaleml backend.

Held against code we did not write (DESIGN.md, principle 14): scikit-learn's own
tests, or a project's, run unchanged with every test inside ``scaleml.backend(...)``::

    pytest -p scaleml.pytest_plugin --scaleml-backend dask --pyargs sklearn.model_selection
    pytest -p scaleml.pytest_plugin --scaleml-backend local --scaleml-option n_jobs=-1 tests/

Options (pytest's own ``-o`` is taken, so they are long names):

``--scaleml-backend NAME``
    The backend or profile. Without it the plugin does nothing.
``--scaleml-option KEY=VALUE``
    A backend option, as ``scaleml exec -o``; repeatable.
``--scaleml-xfail FILE``
    The expected failures (default: the file shipped with scaleml,
    ``scaleml/pytest_expected_failures.yaml``).

The backend is created once for the session (a Dask cluster starts once, at the
first test that sends work) and entered around each test's setup, call and
teardown, so every test gets a fresh joblib configuration and its own broadcast
data, released when it ends. The backend is stopped when the session ends.

Each expected failure is marked ``xfail(strict=True)``: a test that starts
passing (the behaviour was fixed) fails the run as XPASS(strict), so the list
never keeps an entry that no longer says something true. An entry may set
``strict: false`` for a test whose outcome depends on timing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEFAULT_XFAIL = Path(__file__).with_name("pytest_expected_failures.yaml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scaleml", "run every test inside a scaleml backend")
    group.addoption("--scaleml-backend", default=None, metavar="NAME",
                    help="Run every test inside scaleml.backend(NAME) (a backend or profile).")
    group.addoption("--scaleml-option", action="append", default=[], metavar="KEY=VALUE",
                    help="A backend option (as `scaleml exec -o`); repeatable.")
    group.addoption("--scaleml-xfail", default=None, metavar="FILE",
                    help="Expected failures (YAML); default: the file shipped with scaleml.")


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("--scaleml-backend", default=None)
    if not name:
        return
    from .backends import create_backend, parse_options
    from .exceptions import ScaleMLError

    try:
        instance = create_backend(name, **parse_options(config.getoption("--scaleml-option")))
    except ScaleMLError as exc:
        raise pytest.UsageError(f"--scaleml-backend {name}: {exc}") from None
    path = Path(config.getoption("--scaleml-xfail") or DEFAULT_XFAIL)
    entries = [entry for entry in load_expected_failures(path) if entry.applies_to(instance.name)]
    config.pluginmanager.register(_BackendSession(instance, entries, path), "scaleml-backend-session")


@dataclass(frozen=True)
class ExpectedFailure:
    """One entry of the expected-failures file.

    Attributes
    ----------
    tests : tuple of str
        Test id patterns, ``module.dotted.name::test_name[params]``, where ``*``
        matches any characters (brackets are literal).
    backends : tuple of str
        The backends it fails on; empty means every backend.
    reason : str
        Why it cannot pass there.
    strict : bool
        Whether an unexpected pass fails the run (the default).
    """

    tests: tuple[str, ...]
    backends: tuple[str, ...]
    reason: str
    strict: bool = True

    def applies_to(self, backend: str) -> bool:
        return not self.backends or backend in self.backends

    def matches(self, test_id: str) -> bool:
        return any(re.fullmatch(".*".join(map(re.escape, test.split("*"))), test_id) for test in self.tests)


def load_expected_failures(path: Path) -> list[ExpectedFailure]:
    """Read the expected-failures YAML file: a list of ``{test, backends, reason[, strict]}``
    (``test`` one pattern or a list of them).

    Raises
    ------
    pytest.UsageError
        The file is missing, or an entry lacks ``test`` or ``reason``.
    """
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except OSError as exc:
        raise pytest.UsageError(f"--scaleml-xfail: cannot read {path}: {exc.strerror}.") from None
    if not isinstance(raw, list):
        raise pytest.UsageError(f"{path}: expected a list of entries (- test: ..., backends: [...], reason: ...).")
    entries = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict) or not item.get("test") or not item.get("reason"):
            raise pytest.UsageError(f"{path}: entry {number} needs a `test` pattern and a `reason`; got {item!r}.")
        tests, backends = (_strings(item.get(key) or ()) for key in ("test", "backends"))
        entries.append(ExpectedFailure(tests, backends, str(item["reason"]).strip(),
                                       bool(item.get("strict", True))))
    return entries


def _strings(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(map(str, value))


def stable_id(item: pytest.Item) -> str:
    """``module.dotted.name::Class::test[params]``: the same wherever the tests are installed
    (``--pyargs`` node ids are paths relative to the rootdir)."""
    module = getattr(item, "module", None)
    if module is None:
        return item.nodeid
    names = item.nodeid.split("::")[1:]
    return "::".join([module.__name__, *names])


class _BackendSession:
    """The plugin's state for one session: the backend instance and the entries that apply."""

    def __init__(self, instance: Any, entries: list[ExpectedFailure], path: Path) -> None:
        self.instance = instance
        self.entries = entries
        self.path = path

    def pytest_report_header(self, config: pytest.Config) -> str:
        options = self.instance.changed_options()
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        return (f"scaleml: every test inside scaleml.backend({self.instance.name!r}{', ' + shown if shown else ''}); "
                f"{len(self.entries)} expected failures for it from {self.path}")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            ident = stable_id(item)
            entry = next((e for e in self.entries if e.matches(ident)), None)
            if entry is not None:
                item.add_marker(pytest.mark.xfail(reason=f"scaleml {self.instance.name}: {entry.reason}",
                                                  strict=entry.strict))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any) -> Any:
        from ._config import backend

        with backend(self.instance):
            return (yield)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.instance.stop()
