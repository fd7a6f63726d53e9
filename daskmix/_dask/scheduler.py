"""Which scheduler runs the graphs: a ``distributed`` client, a local cluster, the threads.

``distributed`` is imported only when a cluster or client is involved.
"""

from __future__ import annotations

import sys

__all__ = ["active_dashboard", "connect_client", "local_progress_bar", "start_local_cluster"]


def connect_client(address, timeout):
    """A ``distributed.Client`` of the scheduler at ``address``, made the default.

    Parameters
    ----------
    address : str
        A scheduler address (``tcp://host:8786``).
    timeout : float
        Seconds to try to connect.

    Returns
    -------
    distributed.Client
        Close it when done.

    Raises
    ------
    OSError, TimeoutError, ValueError
        If the scheduler cannot be reached or the address is malformed.
    """
    from distributed import Client

    return Client(address, timeout=f"{timeout}s", set_as_default=True)


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


def start_local_cluster(n_workers=2, threads_per_worker=1):
    """Start a ``distributed.LocalCluster`` and make its client the default.

    Parameters
    ----------
    n_workers, threads_per_worker : int, default=2, 1

    Returns
    -------
    distributed.Client
        Close it (``client.close(); client.cluster.close()``) when done.
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                           dashboard_address=":0")
    return Client(cluster)


def local_progress_bar(out):
    """dask's progress bar for computes on the local schedulers.

    Parameters
    ----------
    out : file-like
        Where the bar is drawn, e.g. ``sys.stderr``.

    Returns
    -------
    context manager
    """
    from dask.diagnostics import ProgressBar

    return ProgressBar(out=out)
