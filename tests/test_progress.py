"""Progress output of fits: a bar on a terminal, plain lines every few seconds in a log.

A fake clock stands in for ``time.perf_counter`` so that which iterations
get a line is decided by the rule alone, not by the machine's speed.
"""

from __future__ import annotations

import io
import re
import sys

import pytest

from daskmix import _progress
from daskmix._progress import FitProgress, LineStream


class _Clock:
    """``time.perf_counter`` advanced by hand."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(_progress, "time", clock)
    return clock


def _fit(clock, seconds_per_step, n_steps, **options):
    """Report ``n_steps`` steps, ``seconds_per_step`` apart, after a phase line."""
    with FitProgress(True, 100, 10, "fit", **options) as bar:
        bar.phase("initialising")
        clock.now += 30.0  # initialisation: not counted in rows/s
        bar.start_iterations()
        for step in range(1, n_steps + 1):
            clock.now += seconds_per_step
            bar.update(step, -float(step))


def test_fast_iterations_give_a_line_every_interval(clock, capsys):
    _fit(clock, 1.0, 20)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "fit: initialising"
    logged = [int(m.group(1)) for m in map(re.compile(r"fit: (\d+) of at most").match, lines)
              if m]
    interval = int(_progress.LOG_INTERVAL)
    assert logged == list(range(1, 21, interval))  # the first at once, then every interval
    # the last line: where the fit ended, with rows/s = 10 rows x 20 steps / 20 s
    assert lines[-1] == ("fit: done after 20 of at most 100 iterations, lower bound -20, "
                         "10 rows/s, 20.0 s")


def test_slow_iterations_give_a_line_each(clock, capsys):
    _fit(clock, _progress.LOG_INTERVAL + 1, 3)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "fit: initialising", "fit: 1 of at most 100 iterations",
        "fit: 2 of at most 100 iterations", "fit: 3 of at most 100 iterations",
        "fit: done after 3 of at most 100 iterations"]


def test_steps_are_counted_in_units_of_max_iter(clock, capsys, monkeypatch):
    monkeypatch.setattr(_progress, "LOG_INTERVAL", 0.0)
    _fit(clock, 1.0, 6, steps_per_unit=4, units="passes")
    done = re.findall(r"fit: (?:done after )?([\d.]+) of at most 100 passes",
                      capsys.readouterr().err)
    assert [float(d) for d in done] == [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.5]


def test_an_interrupted_fit_says_where_it_stopped(clock, capsys):
    def interrupted_fit():
        with FitProgress(True, 100, 10, "fit") as bar:
            clock.now += 1.0
            bar.update(1, -1.0)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_fit()
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "fit: stopped after 1 of at most 100 iterations")


def test_disabled_writes_nothing(clock, capsys):
    with FitProgress(False, 100, 10, "fit") as bar:
        bar.phase("initialising")
        bar.update(1, -1.0)
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_a_bar_whose_total_stays_max_iter(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with FitProgress(True, 10, 10, "fit", steps_per_unit=4, units="passes") as bar:
        for step in range(1, 7):
            bar.update(step, -float(step))
    states = terminal.getvalue().split("\r")
    assert len(states) > 2  # redrawn in place
    assert re.search(r"^fit: \|.*\| 1\.5 of at most 10 passes \[.*lower bound=-6, rows/s=.*, "
                     r"done\]\s*$", states[-1]), states[-1]


def test_line_stream_turns_redraws_into_lines_every_interval(clock):
    out = io.StringIO()
    stream = LineStream(out)
    for seconds, text in [(0, "\r[  ] 0%"), (1, "\r[# ] 50%"), (_progress.LOG_INTERVAL, "\r[##] 90%"),
                          (0, "\r[##] 100%"), (0, "\n")]:
        clock.now += seconds
        assert stream.write(text) == len(text)
    # the first state at once; 50% within the interval is dropped; the last on "\n"
    assert out.getvalue() == "[  ] 0%\n[##] 90%\n[##] 100%\n"
