"""Which Dask scheduler a command runs on: the local threads, or a distributed cluster.

``distributed`` is imported only when a cluster or client is involved.
"""

from __future__ import annotations

import contextlib
import sys

from daskmix.cli._errors import EXIT_SCHEDULER, CLIError

__all__ = ["active_dashboard", "connect", "start_local_cluster"]


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
    from distributed import Client

    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=True)
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


def active_dashboard():
    """The dashboard link of the active ``distributed`` client, if any.

    Returns
    -------
    str or None
    """
    if "distributed" not in sys.modules:  # no client can exist without the import
        return None
    from distributed import default_client

    try:
        return default_client().dashboard_link
    except ValueError:
        return None


def start_local_cluster():
    """Start a 2-worker ``distributed.LocalCluster`` and make it the default.

    Returns
    -------
    distributed.Client
        Close it (``client.close(); client.cluster.close()``) when done.
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
    return Client(cluster)
