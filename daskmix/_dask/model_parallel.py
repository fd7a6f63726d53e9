"""Tasks pinned to workers, for model-parallel algorithms (ESVI).

:mod:`daskmix._dask.futures` runs one stateless task per row block wherever
the scheduler likes; a model-parallel algorithm instead keeps *state* on
the workers: each worker owns a partition of the rows (with their local
variational distributions) and, at any time, a few blocks of the model's
parameters, which travel from worker to worker. This module gives such an
algorithm what it needs and nothing else:

- the data persisted on the workers and its chunks assigned to
  partitions (:meth:`PinnedTasks.assign_chunks`: consecutive chunks,
  balanced rows);
- tasks pinned to a worker (:meth:`PinnedTasks.submit`, ``workers=[w]``,
  never moved elsewhere: the state they produce must stay where the next
  task expects it), named ``daskmix-<name>-...`` so that the dashboard's
  task stream shows which block runs on which worker;
- waiting that notices a lost worker (:meth:`PinnedTasks.wait`,
  :meth:`PinnedTasks.gather`): a task pinned to a dead worker would
  otherwise wait forever, so the wait polls the scheduler's workers and
  raises :class:`WorkerLost` naming them;
- what a run leaves on the workers when it ends (:class:`PinnedBlocks`):
  one result per block of components, where it was computed, and tasks
  pinned next to each, so that the caller (writing a model store block by
  block) moves only small results to the client.

Nothing here knows the algorithm: the caller passes the functions the
tasks run (module-level functions, importable on the workers).
"""

from __future__ import annotations

import itertools
import uuid
import weakref
from concurrent.futures import CancelledError

import numpy as np
from distributed import KilledWorker
from distributed import wait as _wait
from distributed.comm.core import CommClosedError

from daskmix._dask import graph as _graph
from daskmix._dask.futures import block_futures, client_for
from daskmix.exceptions import NoClientError, WorkerLostError

__all__ = ["PinnedBlocks", "PinnedTasks", "WorkerLost", "blocks_per_worker", "client_for",
           "ordered_transfer_bytes"]

#: Seconds between two checks of the workers while waiting.
POLL_SECONDS = 0.5

#: Errors of a future that mean it was lost with a worker.
_LOST = (KilledWorker, CancelledError, CommClosedError)


def blocks_per_worker(default=3):
    """Parameter blocks per worker (``P / n_workers``), from dask's configuration.

    ``dask.config.set({"daskmix.esvi.blocks-per-worker": 4})`` changes it.

    Parameters
    ----------
    default : int, default=3

    Returns
    -------
    int
    """
    import dask

    return int(dask.config.get("daskmix.esvi.blocks-per-worker", default))


def ordered_transfer_bytes(default=1 << 24):
    """Bytes from which a group of parameter blocks moves one block at a time.

    ``dask.config.set({"daskmix.esvi.ordered-transfer-bytes": 0})`` orders
    every transfer (see ``daskmix.mixture.variational.esvi``): it bounds a
    worker's parameter memory at ``1 / W + 1 / P`` of the model, at the
    cost of ``W g`` transfer latencies per round, which only pays for
    large blocks.

    Parameters
    ----------
    default : int, default=16 MiB

    Returns
    -------
    int
    """
    import dask

    return int(dask.config.get("daskmix.esvi.ordered-transfer-bytes", default))


class WorkerLost(RuntimeError):
    """Workers that held pinned state left the cluster.

    Parameters
    ----------
    addresses : set of str
    names : dict of str to str
        Worker address to the name it registered with.
    """

    def __init__(self, addresses, names):
        self.addresses = set(addresses)
        self.names = dict(names)
        described = ", ".join(f"{a} ({names.get(a, '?')})" for a in sorted(self.addresses))
        super().__init__(f"worker(s) {described} left the cluster")


#: Seconds a model-parallel fit waits for a worker when the cluster has none yet.
WAIT_FOR_WORKERS_SECONDS = 30


def _wait_for_a_worker(client, name):
    """Return once the scheduler has a worker; raise ``NoClientError`` after a wait.

    A cluster just started (or a scheduler whose workers are still
    connecting) reports no worker for a moment; pinning tasks needs one.
    """
    if client.scheduler_info(n_workers=-1)["workers"]:
        return
    try:
        client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_SECONDS)
    except TimeoutError:
        raise NoClientError(
            f"algorithm={name!r} pins its tasks to workers, but the scheduler of the "
            f"current client has had no worker for {WAIT_FOR_WORKERS_SECONDS} s. Start "
            "workers (dask worker <scheduler address>) and fit again."
        ) from None


class PinnedTasks:
    """The data on the workers and tasks pinned to them.

    Parameters
    ----------
    client : distributed.Client
    X : dask.array.Array of shape (n_samples, n_features)
        One chunk along the features; persisted here unless it already is
        (kept for the run: a lost partition is rebuilt from it).
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Chunked like ``X``'s rows.
    name : str
        Task names start ``daskmix-<name>-``.
    """

    def __init__(self, client, X, sample_weight, *, name):
        self.client = client
        _wait_for_a_worker(client, name)
        self._X, self._chunks = block_futures(client, X)
        if sample_weight is None:
            self._weight, self._weights = None, [None] * len(self._chunks)
        else:
            self._weight, self._weights = block_futures(client, sample_weight)
        self._rows = [int(n) for n in self._X.chunks[0]]
        self._prefix = _graph.PREFIX + name + "-"
        # weak: the caller decides which results stay alive
        self._submitted = weakref.WeakSet()
        info = client.scheduler_info(n_workers=-1)["workers"]
        self.names = {address: str(w.get("name", address)) for address, w in info.items()}

    # ---- workers -------------------------------------------------------
    def workers(self):
        """The live workers' addresses, sorted.

        Returns
        -------
        list of str
        """
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        self.names.update({a: str(w.get("name", a)) for a, w in info.items()})
        return sorted(info)

    def assign_chunks(self, n_partitions):
        """Consecutive chunks per partition, with about equal rows.

        The assignment depends only on the chunks and ``n_partitions``, not
        on where the chunks live, so that a fit is reproducible (each
        partition's chunks are copied once to its worker).

        Parameters
        ----------
        n_partitions : int

        Returns
        -------
        list of list of int
            Chunk indices of each partition, in row order.
        """
        ends = np.cumsum(self._rows)
        targets = np.arange(1, n_partitions) * ends[-1] / n_partitions
        cuts = [0, *(int(np.searchsorted(ends, t, side="left")) + 1 for t in targets),
                len(self._rows)]
        cuts = np.maximum.accumulate(np.minimum(cuts, len(self._rows)))
        return [list(range(int(a), int(b))) for a, b in itertools.pairwise(cuts)]

    # ---- tasks ------------------------------------------------------------
    def _key(self, label):
        return f"{self._prefix}{label}-{uuid.uuid4().hex[:12]}"

    def submit(self, fn, *args, worker, label, **kwargs):
        """Run ``fn(*args, **kwargs)`` on ``worker`` only; its key reads ``label``.

        Parameters
        ----------
        fn : callable
            Importable on the workers.
        *args, **kwargs
            Futures among them are passed as their results.
        worker : str
        label : str
            E.g. ``"step-blocks-3-5-on-worker-1"``.

        Returns
        -------
        distributed.Future
        """
        future = self.client.submit(fn, *args, key=self._key(label), workers=[worker],
                                    allow_other_workers=False, pure=False, **kwargs)
        self._submitted.add(future)
        return future

    def submit_on_chunks(self, fn, chunks, *, worker, label, **kwargs):
        """Run ``fn(X_blocks, weight_blocks, **kwargs)`` on the listed chunks, on ``worker``.

        Parameters
        ----------
        fn : callable
        chunks : list of int
        worker, label : str
        **kwargs
            Passed on.

        Returns
        -------
        distributed.Future
        """
        return self.submit(fn, [self._chunks[c] for c in chunks],
                           [self._weights[c] for c in chunks], worker=worker, label=label,
                           **kwargs)

    def wait(self, futures, workers):
        """Wait for ``futures``; raise :class:`WorkerLost` if one of ``workers`` left.

        Parameters
        ----------
        futures : list of distributed.Future
        workers : iterable of str
            The workers the run's state lives on.

        Raises
        ------
        WorkerLost
            Naming the lost workers.
        Exception
            The exception a task raised.
        """
        workers = set(workers)
        missing = set()
        while True:
            try:
                done = _wait(futures, timeout=POLL_SECONDS, return_when="ALL_COMPLETED")
            except TimeoutError:
                done = None
            # missing from two answers of the scheduler in a row: one answer
            # has been seen to lack live workers
            lost = missing & (workers - set(self.workers()))
            if lost:
                raise WorkerLost(lost, self.names)
            missing = workers - set(self.workers())
            if missing:
                continue
            if done is None:
                continue
            for future in futures:
                if future.status == "error":
                    error = future.exception()
                    if isinstance(error, _LOST):
                        raise WorkerLost(workers - set(self.workers()) or {"?"},
                                         self.names) from error
                    future.result()  # raises the task's exception with its traceback
                if future.status == "cancelled":
                    raise WorkerLost(workers - set(self.workers()) or {"?"}, self.names)
            return

    def gather(self, futures, workers):
        """The results of ``futures`` (small ones), noticing lost workers as :meth:`wait` does.

        Each result is fetched with a timeout: a result whose worker died
        after it finished would otherwise be waited for forever (its task
        is pinned to that worker).

        Parameters
        ----------
        futures : list of distributed.Future
        workers : iterable of str

        Returns
        -------
        list
        """
        self.wait(futures, workers)
        workers = set(workers)
        results = []
        for future in futures:
            missing = set()
            while True:
                try:
                    results.append(future.result(timeout=POLL_SECONDS))
                    break
                except TimeoutError:
                    lost = missing & (workers - set(self.workers()))
                    if lost:
                        raise WorkerLost(lost, self.names) from None
                    missing = workers - set(self.workers())
                except _LOST as error:
                    raise WorkerLost(workers - set(self.workers()) or {"?"},
                                     self.names) from error
        return results

    def cancel(self, futures):
        """Cancel ``futures`` (those still running stop; results are released).

        Parameters
        ----------
        futures : list of distributed.Future
        """
        futures = [f for f in futures if f is not None]
        if futures:
            self.client.cancel(futures)

    def close(self):
        """Cancel every task submitted here and release the persisted data."""
        pending = [f for f in list(self._submitted) if not f.done()]
        if pending:
            self.client.cancel(pending)
        self._submitted = weakref.WeakSet()
        self._chunks = self._weights = []
        self._X = self._weight = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class PinnedBlocks:
    """One result per block of components, left on the worker that computed it.

    A model-parallel run hands this over instead of gathering its blocks
    into the client: :meth:`submit` runs a task on a block's worker (reading
    the block there), :meth:`gather` fetches small results. The futures are
    held until :meth:`release` (or until this object is dropped).

    Parameters
    ----------
    tasks : PinnedTasks
        The run's (closed or not): its client, worker names and waits.
    futures : list of distributed.Future
        Each block's result, finished, in component order.
    workers : list of str
        The worker holding each block.
    ranges : list of (int, int)
        Each block's ``(start, stop)`` components.
    """

    def __init__(self, tasks, futures, workers, ranges):
        self._tasks = tasks
        self.futures = list(futures)
        self.workers = list(workers)
        self.ranges = [(int(a), int(b)) for a, b in ranges]

    def __len__(self):
        return len(self.futures)

    def submit(self, index, fn, *args, label, **kwargs):
        """Run ``fn(*args, **kwargs)`` on the worker holding block ``index``.

        Parameters
        ----------
        index : int
        fn : callable
            Importable on the workers.
        *args, **kwargs
            Futures among them (:attr:`futures` ``[index]``, say) are passed
            as their results.
        label : str
            The task's key reads ``daskmix-<name>-<label>-...``.

        Returns
        -------
        distributed.Future
        """
        return self._tasks.submit(fn, *args, worker=self.workers[index], label=label,
                                  **kwargs)

    def gather(self, futures):
        """The results of ``futures`` (small ones).

        Parameters
        ----------
        futures : list of distributed.Future

        Returns
        -------
        list

        Raises
        ------
        daskmix.exceptions.WorkerLostError
            If a worker holding a block left the cluster: its block is lost.
        Exception
            The exception a task raised.
        """
        try:
            return self._tasks.gather(futures, set(self.workers))
        except WorkerLost as lost:
            raise WorkerLostError(
                f"{lost} after the fit, holding fitted blocks of components, which are "
                "lost with it. Fit again."
            ) from lost

    def release(self):
        """Cancel the blocks' futures (their results are dropped on the workers)."""
        self._tasks.cancel(self.futures)
        self.futures = []
