"""A worker process killed in the middle of a fit: the fit completes with the same result.

Each test runs on 2 live workers (``mended_cluster``: ``dask scheduler`` + 2
``dask worker`` processes without nanny, one scheduler per module, killed
workers replaced by new ones between tests). A killer thread SIGKILLs one
worker while it runs tasks of the fit's third-last ``dask.compute`` (after
the initialisation and the first iterations), as when a machine or a pod
is lost. The scheduler
then reruns the lost tasks on the remaining worker, recomputing the lost
chunks from their source, and the fit must end exactly where an undisturbed
fit ends. Input that lived only in the lost worker's memory
(``client.scatter``) cannot be recomputed: daskmix says so.
"""

from __future__ import annotations

import threading
import time

import dask.array as da
import pytest
from dask.utils import key_split
from distributed import futures_of

from daskmix._dask import graph as _graph
from daskmix.exceptions import LostDataError
from tests.distributed._fits import (
    CHUNK_ROWS,
    GMM_ALGORITHMS,
    as_dask,
    assert_same_gmm,
    blobs,
    fit_gmm,
    slow_identity,
)

#: The functions every compute of a fit goes through.
COMPUTES = ("compute", "persist_and_compute")


def wrap_computes(monkeypatch, before):
    """Make ``before()`` run ahead of every call of the functions in :data:`COMPUTES`."""
    for name in COMPUTES:
        original = getattr(_graph, name)

        def wrapped(*args, original=original, **kwargs):
            before()
            return original(*args, **kwargs)

        monkeypatch.setattr(_graph, name, wrapped)


class ComputeCounter:
    """Counts the computes of a fit (the calls of :data:`COMPUTES`)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        wrap_computes(monkeypatch, self.count)

    def count(self):
        self.calls += 1


def undisturbed_fit(X, algorithm, monkeypatch):
    """The fit on the threaded scheduler, and how many computes it made."""
    with monkeypatch.context() as patch:
        counter = ComputeCounter(patch)
        model = fit_gmm(X, "threads", "diag", algorithm)
    return model, counter.calls


class WorkerKiller:
    """Kill ``worker`` once the fit's ``kill_at``-th compute runs tasks on it.

    Installed as a wrapper of the functions in :data:`COMPUTES` (every
    compute of a fit goes through one of them): at the chosen call, a thread polls the
    scheduler until the victim is processing a ``daskmix-`` task, then
    SIGKILLs its process.
    """

    def __init__(self, cluster, client, worker, monkeypatch, kill_at):
        self.cluster, self.client, self.worker = cluster, client, worker
        self.address = cluster.worker_address(worker, client)
        self.kill_at = kill_at
        self.calls = 0
        self.killed_while_running = None  # the daskmix task the victim was running
        self._thread = None
        wrap_computes(monkeypatch, self.count)

    def count(self):
        self.calls += 1
        if self.calls == self.kill_at:
            self._thread = threading.Thread(target=self._kill_when_busy, daemon=True)
            self._thread.start()

    def _kill_when_busy(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = self.client.processing(workers=[self.address]).get(self.address, ())
            keys = [key_split(k) for k in running if key_split(k).startswith("daskmix-")]
            if keys:
                self.worker.kill()
                self.killed_while_running = keys[0]
                return
            time.sleep(0.005)

    def check_killed(self):
        """Assert the victim died while running a task of the fit."""
        self._thread.join(timeout=30)
        assert self.killed_while_running is not None, "the worker never ran a task"
        assert self.worker.process.poll() is not None
        assert self.calls > self.kill_at  # the fit went on after the kill
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        assert self.address not in workers


def slow_input():
    """The test data, each chunk taking a moment to produce (read from its source)."""
    return as_dask(blobs()).map_blocks(slow_identity, dtype=float)


@pytest.mark.parametrize("algorithm", sorted(GMM_ALGORITHMS))
def test_fit_survives_a_killed_worker(mended_cluster, monkeypatch, algorithm):
    cluster, client = mended_cluster
    undisturbed, n_computes = undisturbed_fit(as_dask(blobs()), algorithm, monkeypatch)
    killer = WorkerKiller(cluster, client, cluster.workers[0], monkeypatch,
                          kill_at=n_computes - 2)
    survived = fit_gmm(slow_input(), client, "diag", algorithm)
    killer.check_killed()
    assert_same_gmm(survived, undisturbed)


def test_persisted_input_is_recomputed_from_its_source(mended_cluster, monkeypatch):
    cluster, client = mended_cluster
    undisturbed, n_computes = undisturbed_fit(as_dask(blobs()), "em", monkeypatch)
    persisted = client.persist(slow_input())
    client.gather(futures_of(persisted))  # every chunk is in a worker's memory
    # both workers hold part of the persisted data
    holders = {w for ws in client.who_has(persisted).values() for w in ws}
    assert len(holders) == 2
    killer = WorkerKiller(cluster, client, cluster.workers[1], monkeypatch,
                          kill_at=n_computes - 2)
    survived = fit_gmm(persisted, client, "diag")
    killer.check_killed()
    assert_same_gmm(survived, undisturbed)


def test_scattered_input_lost_with_its_worker_is_reported(mended_cluster, monkeypatch):
    cluster, client = mended_cluster
    X = blobs()
    victim = cluster.workers[0]
    address = cluster.worker_address(victim, client)
    chunks = [X[i:i + CHUNK_ROWS] for i in range(0, len(X), CHUNK_ROWS)]
    futures = client.scatter(chunks, workers=[address])  # only the victim holds them
    scattered = da.concatenate([
        da.from_delayed(f, shape=c.shape, dtype=c.dtype) for f, c in zip(futures, chunks)
    ]).map_blocks(slow_identity, dtype=float)
    killer = WorkerKiller(cluster, client, victim, monkeypatch, kill_at=3)
    with pytest.raises(LostDataError, match=r"lived only in the memory of a worker that is "
                       r"gone .*client\.scatter.*persist\(\)"):
        fit_gmm(scattered, client, "diag")
    killer._thread.join(timeout=30)
    assert killer.killed_while_running is not None
