"""Row-range graphs: the statistics of rows start:stop, and lazy concatenations of ranges."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from dask.base import tokenize
from numpy.testing import assert_allclose, assert_array_equal

from daskmix._dask import graph as _graph


def moments(X, sample_weight, row_start=0):
    """Weighted count, sum and sum of squares of a block: a small additive kernel."""
    w = np.ones((len(X), 1)) if sample_weight is None else sample_weight
    return np.concatenate([[w.sum()], (w * X).sum(axis=0), (w * X**2).sum(axis=0)])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(1000, 3)), rng.uniform(size=1000)


@pytest.mark.parametrize("chunks", [(1000,), (100,) * 10, (7, 493, 0, 250, 250)])
@pytest.mark.parametrize("start, stop", [(0, 1000), (95, 105), (333, 334), (120, 990)])
def test_statistics_of_a_row_range(data, chunks, start, stop):
    X, w = data
    Xd = da.from_array(X, chunks=(chunks, 3))
    wd = da.from_array(w, chunks=(chunks,))
    stats = _graph.reduce_row_range(Xd, wd, start, stop, moments, size=7, name="test-moments",
                                    task_rows=64)
    (vector,) = _graph.compute(stats)
    assert_allclose(vector, moments(X[start:stop], w[start:stop, None]), rtol=1e-12)


def test_pieces_do_not_depend_on_the_chunks(data):
    X, _ = data
    results = []
    for chunks in [(1000,), (100,) * 10, (7, 493, 0, 250, 250)]:
        Xd = da.from_array(X, chunks=(chunks, 3))
        stats = _graph.reduce_row_range(Xd, None, 120, 990, moments, size=7,
                                        name="test-moments", task_rows=100)
        results.append(_graph.compute(stats)[0])
    for other in results[1:]:
        assert_array_equal(other, results[0])


def test_a_long_range_runs_as_parallel_tasks_of_bounded_rows(data):
    X, _ = data
    seen = []

    def recording(block, sample_weight, row_start=0):
        seen.append(len(block))
        return moments(block, sample_weight)

    stats = _graph.reduce_row_range(da.from_array(X, chunks=(1000, 3)), None, 0, 1000,
                                    recording, size=7, name="test-moments", task_rows=300)
    _graph.compute(stats)
    assert sorted(seen) == [250, 250, 250, 250]


def test_row_range_graphs_are_deterministic(data):
    X, _ = data
    Xd = da.from_array(X, chunks=(100, 3))
    with dask.config.set({"tokenize.ensure-deterministic": True}):
        a = _graph.reduce_row_range(Xd, None, 10, 500, moments, size=7, name="test-moments")
        b = _graph.reduce_row_range(Xd, None, 10, 500, moments, size=7, name="test-moments")
        assert a.name == b.name and tokenize(a) == tokenize(b)
    assert a.name.startswith("daskmix-test-moments")


def test_row_ranges_concatenate_lazily(data):
    X, w = data
    ranges = [(0, 10), (500, 620), (990, 1000)]
    Xd = da.from_array(X, chunks=(100, 3))
    rows = _graph.row_ranges(Xd, ranges)
    assert isinstance(rows, da.Array)
    assert_array_equal(rows.compute(), np.concatenate([X[a:b] for a, b in ranges]))
    weights = _graph.row_ranges(da.from_array(w, chunks=100), ranges)
    assert_array_equal(weights.compute(), np.concatenate([w[a:b] for a, b in ranges]))
