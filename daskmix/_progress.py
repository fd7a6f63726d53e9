"""Progress reporting for iterative fits: a bar on a terminal, plain lines elsewhere.

On a terminal (and in Jupyter, where ``tqdm.auto`` draws a widget) a fit
shows one tqdm bar. Elsewhere (a batch job, a CI log, a Kubernetes pod's
log: stderr is a file or a pipe) a bar redrawn with carriage returns piles
up into one endless line, so the fit writes plain lines instead: one per
iteration, but at most one every :data:`LOG_INTERVAL` seconds (fast
iterations are summarised by the next line due), and always a last one.

Progress counts what ``max_iter`` counts: EM iterations, or passes over
the data for mini-batch EM (whose updates are fractions of a pass). The
total is shown as "at most ``max_iter``" and never changed: a fit that
converges early ends below it, and says so.

:class:`LineStream` does the same for a writer of ``\\r``-redrawn lines that
is not ours (dask's local progress bar in ``daskmix predict``).
"""

from __future__ import annotations

import sys
import time
from typing import NamedTuple

__all__ = ["LOG_INTERVAL", "FitProgress", "LineStream", "is_terminal"]

#: Seconds between two progress lines when the output is not a terminal.
LOG_INTERVAL = 5.0

#: The bar on a terminal: done "of at most" max_iter, in the unit max_iter counts.
_BAR_FORMAT = "{desc}: |{bar}| {n:.4g} of at most {total:.4g} {unit} [{elapsed}{postfix}]"


def is_terminal(stream):
    """Whether ``stream`` is a terminal, where a redrawn bar reads as one.

    Parameters
    ----------
    stream : file-like

    Returns
    -------
    bool
    """
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # a closed stream
        return False


def _in_jupyter():
    """Whether this is a Jupyter kernel (tqdm.auto's test), where bars are widgets.

    Returns
    -------
    bool
    """
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # an IPython without a shell, or a partial one
        return False


class FitProgress:
    """A context manager that reports the iterations of a fit.

    Parameters
    ----------
    enabled : bool
        When False, nothing is written and every method does nothing.
    total : int
        The most units a run makes (``max_iter``).
    rows_per_step : int
        Rows read by one step, for the rows/s figure.
    description : str
        The line's or bar's label, e.g. ``"GaussianMixture init 1/1"``.
    steps_per_unit : int, default=1
        Steps (calls of :meth:`update`) in one unit: 1 for EM iterations,
        the updates in one pass for mini-batch EM.
    units : str, default="iterations"
        What ``total`` counts, in the plural (``"EM iterations"``, ``"passes"``).

    Notes
    -----
    The output is ``sys.stderr`` as it is when the context is entered.
    """

    def __init__(self, enabled, total, rows_per_step, description, *, steps_per_unit=1,
                 units="iterations"):
        self.enabled = enabled
        self.total = total
        self.rows_per_step = rows_per_step
        self.description = description
        self.steps_per_unit = steps_per_unit
        self.units = units
        self._out = None
        self._start = None
        self._state = None

    def __enter__(self):
        if self.enabled:
            stream, jupyter = sys.stderr, _in_jupyter()
            if jupyter or is_terminal(stream):
                self._out = _Bar(stream, self.total, self.description, self.units, jupyter)
            else:
                self._out = _Lines(stream, self.total, self.description, self.units)
        self._start = time.perf_counter()
        return self

    def phase(self, text):
        """Show what the fit is doing before its first iteration, e.g. "initialising".

        Parameters
        ----------
        text : str
        """
        if self._out is not None:
            self._out.phase(text)

    def start_iterations(self):
        """Mark the end of initialisation: rows/s counts from here."""
        self._start = time.perf_counter()

    def update(self, n_steps, lower_bound):
        """Report step ``n_steps`` (1-based) and its lower bound.

        Parameters
        ----------
        n_steps : int
            Steps done: iterations, or mini-batch updates.
        lower_bound : float
        """
        if self._out is None:
            return
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        self._state = _State(n_steps / self.steps_per_unit, lower_bound,
                             self.rows_per_step * n_steps / elapsed, elapsed)
        self._out.update(self._state)

    def __exit__(self, exc_type, *exc):
        if self._out is not None:
            self._out.close(self._state, finished=exc_type is None)
        return False


class _State(NamedTuple):
    """One report: units done, the lower bound, rows per second, seconds since the start."""

    done: float
    lower_bound: float
    rate: float
    elapsed: float


class _Bar:
    """A tqdm bar (a widget in Jupyter), redrawn in place.

    Parameters
    ----------
    stream : file-like
    total : int
    description, units : str
    jupyter : bool
        Whether to let ``tqdm.auto`` draw a notebook widget.
    """

    def __init__(self, stream, total, description, units, jupyter):
        if jupyter:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
        self._total = total
        self._bar = tqdm(total=total, desc=description, unit=units, file=stream,
                         bar_format=_BAR_FORMAT)

    def phase(self, text):
        """Show ``text`` (e.g. "initialising") after the bar."""
        self._bar.set_postfix_str(text)

    def update(self, state):
        """Move the bar to ``state`` (a :class:`_State`)."""
        self._bar.set_postfix({"lower bound": f"{state.lower_bound:.6g}",
                               "rows/s": f"{state.rate:.3g}"}, refresh=False)
        self._bar.update(state.done - self._bar.n)

    def close(self, state, finished):
        """Close the bar; when the fit ended before ``total``, it says "done" there."""
        if finished and state is not None and state.done < self._total:
            self._bar.set_postfix_str(f"{self._bar.postfix}, done", refresh=True)
        self._bar.close()


class _Lines:
    """Plain lines: the first iteration's at once, then at most one every :data:`LOG_INTERVAL` s.

    Parameters
    ----------
    stream : file-like
    total : int
    description, units : str
    """

    def __init__(self, stream, total, description, units):
        self._stream = stream
        self._total = total
        self._description = description
        self._units = units
        self._written = -float("inf")  # when the last iteration's line was written

    def _write(self, text):
        """Write ``text`` as one line, after the description."""
        self._stream.write(f"{self._description}: {text}\n")
        self._stream.flush()

    def _describe(self, state):
        """``state`` (a :class:`_State`) in words."""
        return (f"{state.done:.4g} of at most {self._total} {self._units}, lower bound "
                f"{state.lower_bound:.6g}, {state.rate:.3g} rows/s, {state.elapsed:.1f} s")

    def phase(self, text):
        """Write ``text`` (e.g. "initialising") as a line; it does not delay the next one."""
        self._write(text)

    def update(self, state):
        """Write ``state`` if :data:`LOG_INTERVAL` seconds passed since the last line."""
        if time.perf_counter() - self._written >= LOG_INTERVAL:
            self._write(self._describe(state))
            self._written = time.perf_counter()

    def close(self, state, finished):
        """Write where the fit ended ("done after ...", or "stopped after ..." on an error)."""
        if state is None:
            self._write("done, no iterations" if finished else "stopped before iterating")
            return
        self._write(f"{'done' if finished else 'stopped'} after {self._describe(state)}")


class LineStream:
    """A text stream that turns ``\\r``-redrawn progress into lines, every few seconds.

    A progress bar that redraws itself by writing ``"\\r" + state`` reads
    well on a terminal and as one endless line in a log. Written to this
    stream, each state replaces the previous one, and a state becomes a
    line when :data:`LOG_INTERVAL` seconds have passed since the last line
    (the first one at once); a ``"\\n"`` writes the latest state as a line.

    Parameters
    ----------
    stream : file-like
        Where the lines go (e.g. ``sys.stderr`` when it is a pipe).
    """

    def __init__(self, stream):
        self._stream = stream
        self._latest = None
        self._written = -float("inf")

    def _emit(self):
        """Write the latest state as a line, if there is one not written yet."""
        if self._latest:
            self._stream.write(self._latest.rstrip() + "\n")
            self._stream.flush()
            self._written = time.perf_counter()
        self._latest = None

    def write(self, text):
        """Take ``text``: redrawn states and line ends.

        Parameters
        ----------
        text : str

        Returns
        -------
        int
            ``len(text)``, as ``io.TextIOBase.write`` returns.
        """
        for part in text.replace("\n", "\r\n\r").split("\r"):
            if part == "\n":
                self._emit()
            elif part:
                self._latest = part
                if time.perf_counter() - self._written >= LOG_INTERVAL:
                    self._emit()
        return len(text)

    def flush(self):
        """Flush the underlying stream (a pending state waits for its time)."""
        self._stream.flush()
