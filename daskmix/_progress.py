"""Progress reporting for iterative fits: one tqdm bar per fit.

``tqdm.auto`` draws a text bar in a terminal and a widget in Jupyter. The bar
counts iterations and shows the current lower bound and the rows processed
per second.
"""

from __future__ import annotations

import time

__all__ = ["FitProgress"]


class FitProgress:
    """A context manager that reports iterations of a fit.

    Parameters
    ----------
    enabled : bool
        When False, nothing is drawn and ``update`` does nothing.
    total : int
        Expected number of iterations (``max_iter``).
    rows_per_iteration : int
        Rows read by one iteration, for the rows/s figure.
    description : str
    """

    def __init__(self, enabled, total, rows_per_iteration, description):
        self.enabled = enabled
        self.total = total
        self.rows_per_iteration = rows_per_iteration
        self.description = description
        self._bar = None
        self._start = None

    def __enter__(self):
        if self.enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=self.description, unit="iter")
        self._start = time.perf_counter()
        return self

    def phase(self, text):
        """Show what the fit is doing before its first iteration, e.g. "initialising"."""
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def start_iterations(self):
        """Mark the end of initialisation: rows/s counts from here."""
        self._start = time.perf_counter()

    def update(self, n_iter, lower_bound):
        """Report iteration ``n_iter`` (1-based) and its lower bound."""
        if self._bar is None:
            return
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = self.rows_per_iteration * n_iter / elapsed
        self._bar.set_postfix(
            {"lower bound": f"{lower_bound:.6g}", "rows/s": f"{rate:.3g}"}, refresh=False
        )
        self._bar.update(1)

    def __exit__(self, exc_type, *exc):
        if self._bar is not None:
            if exc_type is None and self._bar.n < self.total:
                # converged early: the bar ends full, at the iterations done
                self._bar.total = self._bar.n
                self._bar.refresh()
            self._bar.close()
        return False
