"""Progress of long work: on with verbose, quiet in logs, on a terminal only once work runs long;
and the report exec -v prints at the end (one line per fit)."""

import io

from scaleml._progress import Progress, begin_work


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_prints_done_of_sent_and_a_last_line():
    out = io.StringIO()
    progress = Progress("tasks", verbose=True, stream=out, every=0.0)
    for _ in range(3):
        progress.add_sent()
    progress.add_done()
    progress.add_done(2)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("scaleml: 1/3 tasks done, ") and lines[-1].startswith("scaleml: 3/3 tasks done, ")


def test_quiet_in_a_log_and_on_a_terminal_for_short_work():
    log, terminal = io.StringIO(), Terminal()
    for stream in (log, terminal):
        progress = Progress("tasks", stream=stream, quiet_seconds=60.0, every=0.0)
        progress.add_sent()
        progress.add_done()
        progress.close()
    assert log.getvalue() == "" and terminal.getvalue() == ""


def test_a_terminal_sees_long_work_on_one_line():
    terminal = Terminal()
    progress = Progress("candidates", stream=terminal, quiet_seconds=0.0, every=0.0)
    progress.add_sent(2)
    progress.add_done()
    progress.add_done()
    progress.close()
    text = terminal.getvalue()
    assert text.startswith("\rscaleml: 1/2 candidates done") and text.endswith("\n") and text.count("\n") == 1


def test_each_burst_of_work_has_its_own_clock():
    """A block open for long, then a short burst: still quiet (the clock starts with the burst)."""
    terminal = Terminal()
    progress = Progress("tasks", stream=terminal, quiet_seconds=60.0, every=0.0)
    progress._start -= 3600  # the block was entered an hour ago
    progress.add_sent()
    progress.add_done()
    assert terminal.getvalue() == ""


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_one_fit_is_one_growing_total_on_one_clock():
    """The issue's GridSearchCV: joblib sent 4, then more up to 16, then the refit's 2 after all
    16 were done. One count and one clock for the fit; the next fit, after a pause, starts anew."""
    out, clock = io.StringIO(), Clock()
    progress = Progress("tasks", verbose=True, stream=out, every=0.0, clock=clock)
    progress.add_sent(4)
    clock.now += 0.6
    progress.add_done()
    progress.add_sent(12)
    clock.now += 1.9
    progress.add_done(15)  # 16/16: all sent so far is done
    clock.now += 0.05
    progress.add_sent(2)  # the refit, at once
    clock.now += 0.05
    progress.add_done()
    progress.add_done()
    clock.now += 30  # the script does something else, then fits again
    progress.add_sent(3)
    clock.now += 0.5
    progress.add_done()
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["scaleml: 1/4 tasks done, 0.6 s", "scaleml: 16/16 tasks done, 2.5 s",
                         "scaleml: 17/18 tasks done, 2.6 s", "scaleml: 18/18 tasks done, 2.6 s"]
    assert lines[4] == "scaleml: 1/3 tasks done, 0.5 s"


def test_a_new_fit_starts_a_new_count_timed_from_its_start():
    """Fits a script runs back to back (exec -v's fit log says where each begins): the second
    does not continue the first's count, and its clock starts with the fit, not its first task."""
    out, clock = io.StringIO(), Clock()
    progress = Progress("tasks", verbose=True, stream=out, every=0.0, clock=clock)
    begin_work(now=clock.now)
    progress.add_sent(2)
    clock.now += 1.0
    progress.add_done(2)
    begin_work(now=clock.now + 0.1)  # the next fit, at once
    clock.now += 0.5  # it prepares for 0.4 s before sending anything
    progress.add_sent(4)
    clock.now += 0.5
    progress.add_done()
    progress.close()
    lines = out.getvalue().splitlines()
    assert "scaleml: 1/4 tasks done, 0.9 s" in lines and not any("/6 " in line for line in lines)


def test_the_exec_report_aligns_its_columns_to_the_longest_name():
    """The issue's report: a long name (permutation_importance(HistGradientBoostingRegressor)) pushed
    its line's columns out of line. Times line up under the longest name; a name past the column's
    limit has a line of its own and its columns the next."""
    from types import SimpleNamespace

    from scaleml._fit_log import _NAME_WIDTH, FitLog, FitRecord

    log = FitLog(SimpleNamespace(name="dask"))
    log.fits = [FitRecord("LogisticRegression", 0.5, "1 process"),
                FitRecord("permutation_importance(HistGradientBoostingRegressor)", 12.25, "Dask: 8 tasks"),
                FitRecord("GridSearchCV(RandomForestClassifier)", 3.0, "Dask: 16 tasks")]
    lines = log.format("--backend").splitlines()[1:]
    assert len({line.index(" s  ") for line in lines}) == 1, lines  # the seconds column lines up
    assert len({line.index("Dask") if "Dask" in line else line.index("1 process") for line in lines}) == 1
    log.fits.append(FitRecord("x" * (_NAME_WIDTH + 10), 1.0, "this process"))
    lines = log.format("--backend").splitlines()[1:]
    assert lines[3].strip() == "4  " + "x" * (_NAME_WIDTH + 10) and lines[4].index(" s  ") == lines[0].index(" s  ")
