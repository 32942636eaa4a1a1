"""The resume journal: each finished unit of a search or cross-validation, kept on disk.

With ``resume=DIR`` (an option of ``local``, ``dask`` and ``dask-ml``) every joblib
call to one of scikit-learn's unit functions (:data:`UNITS`) is looked up in ``DIR``
before it is sent; a unit found there is not fitted again, and one fitted now is
written as soon as its result reaches this process. A rerun of a killed script
therefore fits only what the first run had not finished.

A unit's key is a SHA-256 of what determines its result: the function's name, every
argument (the estimator with its parameters, X and y, the fold's indices, the scorer,
fit parameters; each hashed from its pickle, :mod:`._journal_keys`), and
the versions of scikit-learn, NumPy and scaleml. Arguments that only shape messages
or callbacks (``verbose``, progress counters, the calling search) are left out.

An entry is one line of JSON appended, in one ``write``, to the run's own log
(``journal-<random>.jsonl``; every run, and every process sharing the folder, writes
its own): a kill mid-write cuts that line only. It holds the key and the result
(:mod:`._journal_codec`: plain values, no pickle) under a SHA-256 checksum; a line
that does not parse, whose checksum or key does not match, is damaged: refitted and
written again, never used. Files of other names in the folder are never read. A file
per entry, written to a temporary name, fsynced and renamed, cost 2-3 ms a unit here
(as much as a millisecond fit); nothing is fsynced, since a killed process loses
nothing the kernel has and a line torn by a machine crash fails its checksum.

Matching calls by their function relies on scikit-learn's private names, so they are
listed once, here: a function not in :data:`UNITS` (a new scikit-learn, or a unit
whose result cannot be written as plain data, such as ``return_estimator=True``'s
fitted models) is simply run, as without a journal.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._validation import Predicate
from ..exceptions import JournalError
from ._base import Option
from ._journal_codec import NotJournaled, decode, encode
from ._journal_keys import Fingerprints

FORMAT = 1

# scikit-learn's unit functions (module.qualname) -> the arguments that do not change
# the result. The searches (GridSearchCV, RandomizedSearchCV, the halving searches),
# cross_validate / cross_val_score, validation_curve and learning_curve run
# _fit_and_score; cross_val_predict _fit_and_predict; permutation_test_score
# _permutation_test_score; permutation_importance _calculate_permutation_scores.
UNITS: dict[str, frozenset[str]] = {
    "sklearn.model_selection._validation._fit_and_score":
        frozenset({"verbose", "split_progress", "candidate_progress", "caller", "callback_ctx"}),
    "sklearn.model_selection._validation._fit_and_predict": frozenset(),
    "sklearn.model_selection._validation._permutation_test_score": frozenset(),
    "sklearn.inspection._permutation_importance._calculate_permutation_scores": frozenset(),
}

RESUME = Option(
    None, "folder of the resume journal: finished search and cross-validation units are kept there and "
    "read back, not refitted, on a rerun (None: no journal)",
    [Predicate(lambda v: isinstance(v, (str, os.PathLike)) and bool(os.fspath(v).strip()),
               "a folder path (created if missing)"), None],
)


def unit_name(func: Any) -> str | None:
    """The :data:`UNITS` name of a joblib call's function (scikit-learn's ``delayed``
    wraps it), or None when it is not a journaled unit."""
    target = getattr(func, "function", func)
    name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
    return name if name in UNITS else None


def _versions() -> dict[str, str]:
    import numpy
    import sklearn

    from .._version import __version__

    return {"scikit-learn": sklearn.__version__, "numpy": numpy.__version__, "scaleml": __version__}


class _Stored:
    """Stands, in a joblib batch, for a call whose result the journal holds: returns it."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def __call__(self) -> Any:
        return self.result


class Pending:
    """The units of one batch that run now and are written when their results arrive:
    ``units`` is ``(position in the batch, key, unit name)`` per unit."""

    __slots__ = ("journal", "units")

    def __init__(self, journal: Journal, units: list[tuple[int, str, str]]) -> None:
        self.journal = journal
        self.units = units

    def write(self, results: list) -> None:
        self.journal.write_results(self, results)


class Journal:
    """One journal folder, opened for a run (see the module's docstring).

    Parameters
    ----------
    directory : str or path
        Created if missing; it must be writable.

    Raises
    ------
    JournalError
        When the folder cannot be created or written, before anything is fitted.

    Attributes
    ----------
    counts : dict
        ``reused`` (units read, not fitted), ``fitted`` (units run and written),
        ``damaged`` (entries refused: refitted), ``unwritable`` (results that cannot
        be kept as plain data: fitted every time).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(os.path.abspath(os.path.expanduser(os.fspath(directory))))
        self._check_writable()
        self.counts = {"reused": 0, "fitted": 0, "damaged": 0, "unwritable": 0}
        self._lock = threading.Lock()
        self._index()
        self._fingerprints = Fingerprints()
        self._versions = _versions()
        self._signatures: dict[str, inspect.Signature] = {}

    def _check_writable(self) -> None:
        fix = "give resume= a folder this process can write (or make it writable), or leave resume out"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".probe-", delete=True) as probe:
                probe.write(b"scaleml")
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as exc:
            raise JournalError(f"The resume journal {str(self.directory)!r} cannot be written "
                               f"({exc.strerror or exc}): nothing was fitted. To resume, {fix}.") from exc

    # -- keys ---------------------------------------------------------------------------------

    def key(self, name: str, func: Any, args: tuple, kwargs: dict) -> str | None:
        """The unit's key, or None when an argument cannot be hashed (then it is not journaled)."""
        target = getattr(func, "function", func)
        try:
            signature = self._signatures.get(name) or self._signatures.setdefault(name, inspect.signature(target))
            bound = signature.bind(*args, **kwargs).arguments
            parts = {arg: self._fingerprints.of(value) for arg, value in bound.items() if arg not in UNITS[name]}
        except Exception:  # noqa: BLE001 - an argument that does not hash (a generator): run it, unjournaled
            return None
        described = json.dumps({"format": FORMAT, "unit": name, "versions": self._versions, "arguments": parts},
                               sort_keys=True)
        return hashlib.sha256(described.encode()).hexdigest()

    # -- entries ------------------------------------------------------------------------------

    def _index(self) -> None:
        """Every entry line of the folder's logs, by key (the last one of a key wins); lines
        that do not parse (a write cut short by a kill) are counted as damaged."""
        self._entries: dict[str, str] = {}
        self._log: int | None = None  # this run's log, opened on the first write
        for log in sorted(self.directory.glob("journal-*.jsonl")):
            try:
                text = log.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue  # a folder named like a log, or unreadable: not ours to judge
            for line in text.splitlines():
                try:
                    key = json.loads(line)["key"]
                except (ValueError, TypeError, KeyError):
                    self.counts["damaged"] += 1
                    continue
                if type(key) is str:
                    self._entries[key] = line

    @staticmethod
    def _checksum(key: str, name: Any, result: Any) -> str:
        body = json.dumps({"key": key, "unit": name, "result": result}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()

    def read(self, key: str) -> tuple[bool, Any]:
        """``(True, result)`` for a sound entry of ``key``; ``(False, None)`` when there is
        none or it is damaged (counted; the unit is refitted and written again)."""
        line = self._entries.get(key)
        if line is None:
            return False, None
        try:
            entry = json.loads(line)
            if (type(entry) is dict and entry.get("scaleml_journal") == FORMAT and entry.get("key") == key
                    and entry.get("sha256") == self._checksum(key, entry.get("unit"), entry.get("result"))):
                return True, decode(entry["result"])
        except (ValueError, TypeError, KeyError):
            pass
        with self._lock:
            self.counts["damaged"] += 1
        return False, None

    def write(self, key: str, name: str, result: Any) -> None:
        """Append one unit's entry to this run's log, as one ``write``; a result that is not
        plain data is counted, not written."""
        try:
            encoded = encode(result)
        except NotJournaled:
            with self._lock:
                self.counts["unwritable"] += 1
            return
        entry = {"scaleml_journal": FORMAT, "key": key, "unit": name, "result": encoded,
                 "sha256": self._checksum(key, name, encoded)}
        line = (json.dumps(entry) + "\n").encode()
        with self._lock:
            if self._log is None:
                path = self.directory / f"journal-{uuid.uuid4().hex}.jsonl"
                self._log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.write(self._log, line)
            self.counts["fitted"] += 1

    def close(self) -> None:
        """Close this run's log (its entries are in the kernel's hands after each write)."""
        with self._lock:
            log, self._log = self._log, None
        if log is not None:
            os.close(log)

    # -- batches ------------------------------------------------------------------------------

    def prepare(self, items: Any) -> Pending | None:
        """Look a joblib batch's calls up: a found unit's call is replaced, in ``items``, by its
        stored result; the units to run and write are returned (None when there are none)."""
        if type(items) is not list:
            return None
        units = []
        for position, (func, args, kwargs) in enumerate(items):
            name = unit_name(func)
            key = None if name is None else self.key(name, func, args, kwargs)
            if key is None:
                continue
            found, result = self.read(key)
            if found:
                items[position] = (_Stored(result), (), {})
                with self._lock:
                    self.counts["reused"] += 1
            else:
                units.append((position, key, name))
        return Pending(self, units) if units else None

    def write_results(self, pending: Pending, results: list) -> None:
        """Write the units of a batch that ran, from the batch's results (in its order)."""
        for position, key, name in pending.units:
            if position < len(results):
                self.write(key, name, results[position])

    def summary(self, before: dict[str, int] | None = None) -> dict[str, int]:
        """The counts since ``before`` (a copy of :attr:`counts` taken earlier)."""
        with self._lock:
            now = dict(self.counts)
        return {k: v - (before or {}).get(k, 0) for k, v in now.items()}


_STATE = threading.local()  # .journal: the journal of the block open on this thread


def active_journal() -> Journal | None:
    """The journal of the ``resume=`` block open on this thread, if any."""
    return getattr(_STATE, "journal", None)


@contextmanager
def journaling(directory: str | os.PathLike | None, record: Any = None) -> Iterator[Journal | None]:
    """Open the journal at ``directory`` (None: no journal) for the block on this thread.

    A block inside another of the same folder shares its journal. At the end, what the
    block reused and fitted is written to ``record`` (a fit's plan) when given, else,
    for the outermost block, said in one line on stderr.
    """
    if directory is None:
        yield None
        return
    outer = active_journal()
    same = outer is not None and outer.directory == Path(os.path.abspath(os.path.expanduser(os.fspath(directory))))
    journal = outer if same else Journal(directory)
    before = journal.summary() if same else None  # a new journal's count includes lines damaged at opening
    _STATE.journal = journal
    try:
        yield journal
    finally:
        _STATE.journal = outer
        if not same:
            journal.close()
        _tell(journal, journal.summary(before), record, quiet=same)


def _tell(journal: Journal, counts: dict[str, int], record: Any, quiet: bool) -> None:
    facts = {"journal": str(journal.directory), "journal_reused": counts["reused"],
             "journal_fitted": counts["fitted"]}
    facts.update({f"journal_{k}": counts[k] for k in ("damaged", "unwritable") if counts[k]})
    if record is not None:
        record.observe(None, **facts)
    elif not quiet and any(counts.values()):
        extra = "".join(f", {counts[k]} {k}" for k in ("damaged", "unwritable") if counts[k])
        print(f"scaleml: resume journal {journal.directory}: {counts['reused']} units read back, "
              f"{counts['fitted']} fitted and written{extra}", file=sys.stderr)


@contextmanager
def around(context: Any, directory: str | os.PathLike | None, record: Any = None) -> Iterator[Any]:
    """``context`` (a backend's ``fitting``) inside the journal of ``directory``: the journal
    opened first, so that a folder that cannot be written stops the fit before anything
    runs. A dry run (``record.dry_run``: explain) opens no journal."""
    if record is not None and getattr(record, "dry_run", False):
        directory = None
    with journaling(directory, record), context as value:
        yield value
