"""Shared fixtures: reference data in several chunk layouts, and a compute counter."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback
from sklearn.datasets import make_blobs

N_SAMPLES = 600
N_FEATURES = 3
N_COMPONENTS = 3

#: Row chunkings of N_SAMPLES rows, each exercising a different reduction shape.
CHUNK_LAYOUTS = {
    # the whole array in one task: no combine step at all
    "one-chunk": (N_SAMPLES,),
    # equal chunks: the ordinary case
    "even": (150,) * 4,
    # unequal chunks, including a tiny one: weights must not assume equal sizes
    "ragged": (7, 293, 100, 1, 199),
    # an empty chunk in the middle: kernels must return zero statistics for it
    "zero-length": (250, 0, 350),
}


@pytest.fixture(autouse=True)
def _sync_scheduler():
    """Run every test on the synchronous scheduler unless it asks for another."""
    with dask.config.set(scheduler="sync"):
        yield


@pytest.fixture(scope="session")
def blobs():
    """Three well-separated anisotropic blobs, offset from the origin (float64)."""
    X, y = make_blobs(
        N_SAMPLES, n_features=N_FEATURES, centers=N_COMPONENTS, cluster_std=[1.0, 2.0, 0.5],
        random_state=0,
    )
    rng = np.random.RandomState(1)
    X = X @ (np.eye(N_FEATURES) + 0.3 * rng.randn(N_FEATURES, N_FEATURES)) + 50.0
    return X, y


@pytest.fixture(params=sorted(CHUNK_LAYOUTS))
def chunk_layout(request):
    """Name and row chunks of one layout from CHUNK_LAYOUTS."""
    return request.param, CHUNK_LAYOUTS[request.param]


def as_dask(X, row_chunks):
    """``X`` as a dask array with the given row chunks and one feature chunk."""
    return da.from_array(X, chunks=(row_chunks, (X.shape[1],)))


@pytest.fixture(scope="session")
def process_cluster_client():
    """A client of a LocalCluster with two single-threaded worker processes.

    One per pytest process, shared by the tests that compare the worker
    processes' results with the local schedulers' (starting one costs
    seconds: two interpreters importing daskmix). Use it inside
    ``dask.config.set(scheduler=client)``: it is not the default scheduler,
    so fixtures of wider scope than a test never compute on it unasked. Do
    not kill its workers.
    """
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


class ComputeCounter(Callback):
    """Counts ``dask.compute`` calls on the local schedulers."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _start(self, dsk):
        self.count += 1


@pytest.fixture
def compute_counter():
    """A ComputeCounter registered for the duration of the test."""
    with ComputeCounter() as counter:
        yield counter
