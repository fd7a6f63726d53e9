"""Which Dask scheduler a command runs on: the local threads, or a distributed cluster.

The ``distributed`` calls are in ``daskmix._dask.scheduler``; this module
turns their failures into command-line errors.
"""

from __future__ import annotations

import contextlib

from daskmix._dask import scheduler as _scheduler
from daskmix.cli._errors import EXIT_SCHEDULER, CLIError

__all__ = ["connect"]


@contextlib.contextmanager
def connect(address, timeout):
    """Run the block with a ``distributed.Client`` of ``address`` as the default.

    Parameters
    ----------
    address : str or None
        A scheduler address (``tcp://host:8786``); None runs on the local
        threaded scheduler.
    timeout : float
        Seconds to try to connect.

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    CLIError
        With ``EXIT_SCHEDULER`` if the scheduler cannot be reached.
    """
    if address is None:
        yield None
        return
    try:
        client = _scheduler.connect_client(address, timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(
            f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}: {exc}). "
            "Check the address (e.g. tcp://10.0.0.5:8786) and that the scheduler is "
            "running, or raise --connect-timeout.",
            EXIT_SCHEDULER,
        ) from None
    try:
        yield client
    finally:
        client.close()
