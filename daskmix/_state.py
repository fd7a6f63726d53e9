"""Estimator state that survives failures: no half-fitted estimator is left behind."""

from __future__ import annotations

import contextlib

__all__ = ["unchanged_on_error"]


@contextlib.contextmanager
def unchanged_on_error(estimator):
    """Restore ``estimator``'s attributes if the body raises.

    ``fit`` and ``partial_fit`` run inside it, so an error (bad input found
    after the first pass, an interrupted computation, a keyboard interrupt)
    leaves the estimator exactly as it was before the call.

    Parameters
    ----------
    estimator : object

    Yields
    ------
    None
    """
    snapshot = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(snapshot)
        raise
