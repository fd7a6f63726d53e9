"""The one module that runs tasks as ``distributed`` futures.

``daskmix._dask.graph`` builds Dask graphs that a pass computes all at once; this
module is its counterpart for algorithms that cannot wait for a whole pass
(asynchronous EM): it submits one task per row block of a persisted dask
array, hands results back one at a time as they finish
(``distributed.as_completed``), resubmits tasks lost with a worker, and
cancels what is left when the caller is done. Nothing else in daskmix
imports ``distributed`` for this.

Tasks are keyed ``("daskmix-async-<name>-<token>", block)``, so they read
``daskmix-async-<name>`` on the dashboard.

A task can be addressed to a worker (``submit(..., worker=address)``): it
then runs there while that worker is alive (its block is copied there if
it lives elsewhere, as Dask does for any task placed away from its data),
and wherever the scheduler chooses if that worker dies. The caller learns
the live workers and their threads from :meth:`BlockTasks.workers` and
where each block's data lies from :meth:`BlockTasks.holders`; that is all
the placement it needs to keep every worker busy without queueing work on
it.

The blocks are the chunks of the array after ``client.persist``: the data
stay on the workers for the whole run and every task reads its block where
it lives, or where Dask copied it for a task addressed to another worker.
An array that is already persisted (all its chunks are futures) is used as
it is; otherwise :class:`BlockTasks` persists it and releases that copy
when it closes. A worker that dies takes its blocks with it; the scheduler
recomputes them from their source (the array's graph), which is why the
data must not come from ``client.scatter``.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass

import numpy as np
from dask.core import flatten
from distributed import KilledWorker, as_completed, futures_of, get_client, wait
from distributed.comm.core import CommClosedError

from daskmix._dask import graph as _graph
from daskmix.exceptions import NoClientError

__all__ = ["PREFIX", "BlockTasks", "NoClientError", "block_futures", "client_for"]

logger = logging.getLogger(__name__)

#: Every task this module submits is named ``daskmix-async-...``.
PREFIX = _graph.PREFIX + "async-"


def client_for(purpose):
    """The default ``distributed`` client, or an error saying how to get one.

    Parameters
    ----------
    purpose : str
        What needs the client, e.g. ``'algorithm="async"'``; starts the
        error message.

    Returns
    -------
    distributed.Client

    Raises
    ------
    NoClientError
        When no client exists in this process.
    """
    try:
        return get_client()
    except ValueError:
        raise NoClientError(
            f"{purpose} runs its E-steps as dask.distributed futures and needs a "
            "distributed Client, but there is none. Start one before fit, e.g. "
            "`from distributed import Client, LocalCluster; client = "
            "Client(LocalCluster())`, or connect to a cluster with Client(address); "
            'or use algorithm="em", which runs on any Dask scheduler.'
        ) from None


def block_futures(client, array):
    """``array`` persisted on the workers, and the future of each row block.

    Parameters
    ----------
    client : distributed.Client
    array : dask.array.Array
        One chunk along every axis but the first.

    Returns
    -------
    array : dask.array.Array
        ``array`` itself if all its chunks already are futures, else a
        persisted copy.
    futures : list of distributed.Future
        One per row block, in row order.
    """
    held = {future.key: future for future in futures_of(array)}
    keys = list(flatten(array.__dask_keys__()))
    if not all(key in held for key in keys):
        array = client.persist(array)
        held = {future.key: future for future in futures_of(array)}
        keys = list(flatten(array.__dask_keys__()))
    return array, [held[key] for key in keys]


def _run_block(kernel, block, weight, row_start, kwargs):
    """Apply ``kernel`` to one block on a worker (the task every future runs).

    Parameters
    ----------
    kernel : callable
        ``kernel(X_block, w_block, row_start=int, **kwargs) -> ndarray``, the
        chunk-kernel contract of :func:`daskmix._dask.graph.reduce_blocks`.
    block : ndarray of shape (n_block, n_features)
    weight : ndarray of shape (n_block,) or None
    row_start : int
        Global index of the block's first row.
    kwargs : dict
        The kernel's other arguments.

    Returns
    -------
    ndarray
    """
    w = None if weight is None else np.asarray(weight, dtype=np.float64)[:, None]
    return kernel(block, w, row_start=row_start, **kwargs)


#: Errors of a task's future that mean the task was lost, not that it failed:
#: its workers kept dying (``KilledWorker``), the scheduler cancelled it, or
#: the connection to the worker holding its result closed.
_LOST = (KilledWorker, CancelledError, CommClosedError)


@dataclass
class _Task:
    """What a running future computes, to report it or submit it again."""

    block: int
    tag: object
    kwargs: dict
    worker: str | None = None
    attempts: int = 1


class BlockTasks:
    """Tasks on the row blocks of a persisted array, reported as they finish.

    Parameters
    ----------
    client : distributed.Client
    X : dask.array.Array of shape (n_samples, n_features)
        One chunk along the features; persisted here unless it already is.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Chunked like ``X``'s rows; persisted likewise.
    kernel : callable
        ``kernel(X_block, w_block, row_start=int, **kwargs) -> ndarray``;
        ``w_block`` is float64 of shape (n_block, 1) or None. It must be
        importable on the workers (a module-level function of daskmix).
    name : str
        Task name after ``daskmix-async-``, e.g. ``"estep"``.
    max_attempts : int, default=3
        Times one task is submitted in all before a lost or killed task is
        reported as an error.

    Notes
    -----
    Use it as a context manager: leaving cancels the tasks still running
    and releases the copy of ``X`` persisted here (the workers hold it for
    the duration: plan cluster memory for the whole of ``X``, or persist
    ``X`` yourself to keep it there across fits).
    """

    def __init__(self, client, X, sample_weight, kernel, *, name, max_attempts=3):
        self.client = client
        self._X, self._blocks = block_futures(client, X)
        if sample_weight is None:
            self._weight, self._weights = None, [None] * len(self._blocks)
        else:
            self._weight, self._weights = block_futures(client, sample_weight)
        self._rows = tuple(int(n) for n in self._X.chunks[0])
        self._row_starts = np.cumsum((0,) + self._rows[:-1]).tolist()
        self._kernel = kernel
        self._name = PREFIX + name
        self._max_attempts = int(max_attempts)
        self._live = {}
        # results are fetched one by one in next_report: as_completed's own
        # gathering drops a future whose worker dies before its result arrives
        self._completed = as_completed()
        self._calls = 0
        self._workers = None  # cached {address: nthreads}; see workers()

    @property
    def n_blocks(self):
        """Number of row blocks."""
        return len(self._blocks)

    def block_rows(self):
        """Rows of each block.

        Returns
        -------
        tuple of int
        """
        return self._rows

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def workers(self):
        """The live workers and their threads.

        Asked of the scheduler on the first call, then again once every
        ``n_blocks`` reports and after a task was lost (a worker may have
        left or joined); cached in between, because each question is a
        round trip to the scheduler.

        Returns
        -------
        dict of str to int
            Worker address to number of threads.
        """
        if self._workers is None:
            self._workers = {
                address: int(info.get("nthreads", 1))
                for address, info in self.client.scheduler_info()["workers"].items()
            }
        return dict(self._workers)

    def holders(self):
        """The workers holding each block's data (one round trip to the scheduler).

        Waits until the blocks are in memory (persisting them here only
        started their computation; the first E-steps would wait anyway).

        Returns
        -------
        list of set of str
            One set per block.
        """
        wait(self._blocks)
        who_has = self.client.who_has(self._blocks)
        return [set(who_has.get(future.key, ())) for future in self._blocks]

    def submit(self, block, tag, worker=None, **kwargs):
        """Start ``kernel`` on ``block``; its report will carry ``tag``.

        Parameters
        ----------
        block : int
        tag : object
            Returned with the result (e.g. the parameters' version).
        worker : str or None, default=None
            Address of the worker to run on while it is alive (the block is
            copied there if needed); ``None`` lets the scheduler choose
            (where the block lives).
        **kwargs
            The kernel's arguments besides the block, its weights and
            ``row_start``; small NumPy data, sent with the task.
        """
        self._start(_Task(int(block), tag, kwargs, worker))

    def _start(self, task):
        key = (f"{self._name}-{uuid.uuid4().hex}", task.block)
        placement = {}
        if task.worker is not None and task.attempts == 1:
            # a retry goes wherever the scheduler can run it: the worker it
            # was addressed to may be the one that died
            placement = {"workers": [task.worker], "allow_other_workers": True}
        future = self.client.submit(
            _run_block, self._kernel, self._blocks[task.block], self._weights[task.block],
            self._row_starts[task.block], task.kwargs, key=key, pure=False, **placement,
        )
        self._live[future.key] = (future, task)
        self._completed.add(future)

    def running(self):
        """The tag and the addressed worker of the task running on each block that has one.

        Returns
        -------
        dict of int to (object, str or None)
            Block to ``(tag, worker)``; ``worker`` is the address given to
            :meth:`submit`.
        """
        return {task.block: (task.tag, task.worker) for _, task in self._live.values()}

    def cancel(self, blocks):
        """Cancel the running tasks of ``blocks``; their results will not be reported.

        Parameters
        ----------
        blocks : iterable of int
        """
        blocks = set(blocks)
        doomed = [key for key, (_, task) in self._live.items() if task.block in blocks]
        futures = [self._live.pop(key)[0] for key in doomed]
        if futures:
            self.client.cancel(futures)

    def next_report(self):
        """Wait for the next task to finish; its block, tag and result.

        A result lost with its worker is recomputed by the scheduler (this
        waits for it). A task whose workers kept dying (``KilledWorker``),
        that the scheduler cancelled, or whose result could not be fetched
        (closed connection) is submitted again, up to ``max_attempts`` in
        all; tasks the caller cancelled are skipped.

        Returns
        -------
        block : int
        tag : object
        worker : str or None
            The worker the task was addressed to (see :meth:`submit`).
        result : ndarray

        Raises
        ------
        RuntimeError
            If no task is running (a caller's bug: it would wait forever).
        daskmix.exceptions.LostDataError
            If a block's data was lost with a worker and cannot be
            recomputed (data placed with ``client.scatter``).
        Exception
            The exception a task raised, with its traceback.
        """
        while True:
            if not self._live:
                raise RuntimeError("next_report() called with no task running")
            future = self._unreported() or next(self._completed)
            entry = self._live.pop(future.key, None)
            if entry is None:
                continue  # cancelled by the caller
            task = entry[1]
            try:
                # waits while the scheduler recomputes a result lost with a worker
                result = future.result()
            except _LOST as error:
                self._retry_or_raise(task, error)
                continue
            if self._calls % max(len(self._blocks), 1) == 0:
                self._workers = None  # ask again: workers may have joined or left
            return task.block, task.tag, task.worker, result

    def _unreported(self):
        """A finished future ``as_completed`` has not yielded, once every ``n_blocks`` calls.

        A safety net: should a future's completion never reach the
        ``as_completed`` queue (seen rarely after a worker died mid-task),
        its block would otherwise never report again. Scanning the running
        futures every ``n_blocks`` reports costs O(1) per report.

        Returns
        -------
        distributed.Future or None
        """
        self._calls += 1
        if self._calls % max(len(self._blocks), 1):
            return None
        for future, _ in self._live.values():
            if future.done():
                return future
        return None

    def _retry_or_raise(self, task, error):
        """Submit a task lost with a worker again, or raise after ``max_attempts``."""
        lost = _graph._lost_data_error(error)
        if lost is not None:
            raise lost from error
        if task.attempts >= self._max_attempts:
            raise RuntimeError(
                f"block {task.block}'s task failed {task.attempts} times "
                f"({type(error).__name__}: {error}); the cluster keeps losing the "
                "workers that run it (check their memory limits and logs)."
            ) from error
        logger.warning("resubmitting block %d's task after %s", task.block,
                       type(error).__name__)
        task.attempts += 1
        self._workers = None  # a worker may have died
        self._start(task)

    def close(self):
        """Cancel the running tasks and release the blocks persisted here."""
        futures = [future for future, _ in self._live.values()]
        self._live.clear()
        if futures:
            self.client.cancel(futures)
        self._completed.clear()
        self._blocks = self._weights = []
        self._X = self._weight = None
