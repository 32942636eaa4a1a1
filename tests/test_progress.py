"""Progress of long work: on with verbose, quiet in logs, on a terminal only once work runs long."""

import io

from scaleml._progress import Progress


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
