"""Rows requested by global index: right rows, any order, small graphs."""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from daskmix._dask import graph as _graph
from daskmix.cluster._sampling import request_rows
from tests.conftest import CHUNK_LAYOUTS, as_dask


@pytest.mark.parametrize("layout", sorted(CHUNK_LAYOUTS))
def test_requested_rows_come_back_in_order_with_repeats(blobs, layout):
    X, _ = blobs
    chunks = CHUNK_LAYOUTS[layout]
    w = np.arange(len(X), dtype=np.float64)
    indices = np.random.RandomState(0).randint(0, len(X), 700)  # repeats, any order
    request = request_rows(as_dask(X, chunks), da.from_array(w, chunks=(chunks,)), indices)
    rows, weights = request.expand(*_graph.compute(request.rows, request.weights))
    assert_array_equal(rows, X[indices])
    assert_array_equal(weights, w[indices])


def test_each_gather_task_carries_only_its_own_indices():
    """The graph grows with the indices, not with indices x chunks."""
    X = da.zeros((1_000_000, 4), chunks=(10_000, 4))
    indices = np.random.RandomState(0).randint(0, 1_000_000, 100_000)
    request = request_rows(X, None, indices)
    size = len(pickle.dumps(dict(request.rows.__dask_graph__())))
    assert size < 2 * indices.nbytes  # one copy is 0.8 MB; one per chunk would be 80 MB
