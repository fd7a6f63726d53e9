"""k-means|| seeding: the paper's sampling rule, chunking invariance, pass budget."""

from __future__ import annotations

import functools

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, pairwise_distances_argmin
from sklearn.metrics.pairwise import euclidean_distances

from daskmix._dask import graph as _graph
from daskmix._random import counter_uniform
from daskmix.cluster._kmeans_kernels import TopRowsLayout, chunk_candidates, merge_top_rows
from daskmix.cluster._seeding import (
    candidate_slots,
    kmeans_parallel_candidates,
    kmeans_parallel_init,
    recluster,
)
from tests.conftest import CHUNK_LAYOUTS, N_COMPONENTS, ComputeCounter, as_dask


@pytest.fixture(scope="module")
def many_blobs():
    """20,000 rows around 10 well-separated centres, in 7 ragged chunks."""
    X, y = make_blobs(20_000, n_features=4, centers=10, cluster_std=0.5,
                      center_box=(-30, 30), random_state=0)
    return X, y, da.from_array(X, chunks=((4000, 3000, 1, 4999, 3000, 3000, 2000), (4,)))


def test_first_candidate_is_uniform_over_rows():
    """Not always row 0: over many seeds every row is drawn about equally often."""
    X = np.arange(20, dtype=np.float64).reshape(10, 2)
    Xd = as_dask(X, (3, 3, 4))
    draws = [kmeans_parallel_candidates(Xd, None, 2, seed, n_rounds=0).index[0]
             for seed in range(300)]
    counts = np.bincount(draws, minlength=10)
    assert (counts > 0).all()
    assert stats.chisquare(counts).pvalue > 1e-3


def test_first_candidate_is_drawn_by_weight():
    """Rows of weight 0 are never drawn; a weight of 3 is drawn 3 times as often as 1."""
    X = np.arange(20, dtype=np.float64).reshape(10, 2)
    weights = np.array([0, 0, 1, 1, 1, 3, 3, 3, 0, 1], dtype=np.float64)
    Xd, wd = as_dask(X, (3, 3, 4)), da.from_array(weights, chunks=((3, 3, 4),))
    draws = [kmeans_parallel_candidates(Xd, wd, 2, seed, n_rounds=0).index[0]
             for seed in range(300)]
    counts = np.bincount(draws, minlength=10)
    assert counts[weights == 0].sum() == 0
    expected = 300 * weights[weights > 0] / weights.sum()
    assert stats.chisquare(counts[weights > 0], expected).pvalue > 1e-3


@pytest.mark.parametrize("oversampling_factor", [0.5, 2.0, 5.0])
def test_about_l_candidates_per_round(many_blobs, oversampling_factor):
    """Each round draws about l = oversampling_factor * k new candidates."""
    _, _, Xd = many_blobs
    k = 10
    per_round = np.concatenate([
        kmeans_parallel_candidates(Xd, None, k, seed, oversampling_factor=oversampling_factor,
                                   n_rounds=5).per_round
        for seed in range(4)
    ])
    assert len(per_round) == 20
    # the count is a sum of Bernoulli draws with mean at most l (Poisson-like)
    expected = oversampling_factor * k
    assert 0.6 * expected <= per_round.mean() <= 1.1 * expected + 1


def test_candidates_follow_the_sampling_rule_exactly(many_blobs):
    """One merged pass selects exactly the rows with u < l w d^2 / phi (brute force)."""
    X, _, Xd = many_blobs
    rng = np.random.RandomState(0)
    centres = X[rng.choice(len(X), 5, replace=False)]
    weights = rng.uniform(0, 2, len(X))
    expected_count, seed = 20.0, 1234
    layout = TopRowsLayout(candidate_slots(expected_count), X.shape[1])
    packed = _graph.reduce_blocks(
        Xd, da.from_array(weights, chunks=(Xd.chunks[0],)), chunk_candidates,
        size=layout.size, name="test-round", split_every=3,
        merge=functools.partial(merge_top_rows, layout=layout),
        layout=layout, centres=centres, seed=seed,
    )
    drawn = layout.unpack(_graph.compute(packed)[0])
    selected = drawn["keys"] > drawn["cost"] / expected_count
    chosen = np.sort(drawn["index"][selected])
    # reference: the rule of Bahmani et al., row by row, in NumPy
    cost = weights * euclidean_distances(X, centres, squared=True).min(axis=1)
    u = counter_uniform(seed, 0, len(X), 1)[:, 0]
    reference = np.flatnonzero(u < expected_count * cost / cost.sum())
    assert_allclose(drawn["cost"], cost.sum(), rtol=1e-10)
    assert_array_equal(chosen, reference)
    assert_array_equal(drawn["rows"][selected], X[drawn["index"][selected]])


@pytest.mark.parametrize("weighted", [False, True])
def test_candidate_weights_count_the_rows_nearest_each(many_blobs, weighted):
    X, _, Xd = many_blobs
    w = np.random.RandomState(1).uniform(0, 3, len(X)) if weighted else None
    wd = None if w is None else da.from_array(w, chunks=(Xd.chunks[0],))
    found = kmeans_parallel_candidates(Xd, wd, 10, 0)
    nearest = pairwise_distances_argmin(X, found.rows)
    expected = np.bincount(nearest, weights=w, minlength=len(found.rows))
    assert_allclose(found.weights, expected, rtol=1e-10)
    total = len(X) if w is None else w.sum()
    assert_allclose(found.weights.sum(), total, rtol=1e-12)
    assert_allclose(found.total_weight, total, rtol=1e-12)
    assert_allclose(found.rows, X[found.index])
    assert len(np.unique(found.index)) == len(found.index)


@pytest.mark.parametrize("weighted", [False, True])
def test_same_candidates_and_centres_whatever_the_chunking(blobs, weighted):
    X, _ = blobs
    w = np.random.RandomState(2).uniform(0.5, 2, len(X)) if weighted else None
    results = []
    for chunks in CHUNK_LAYOUTS.values():
        wd = None if w is None else da.from_array(w, chunks=(chunks,))
        found = kmeans_parallel_candidates(as_dask(X, chunks), wd, N_COMPONENTS, 7)
        centres = kmeans_parallel_init(as_dask(X, chunks), wd, N_COMPONENTS, 7)
        results.append((found, centres))
    (first, first_centres), rest = results[0], results[1:]
    for found, centres in rest:
        assert_array_equal(found.index, first.index)
        assert found.per_round == first.per_round
        assert_allclose(found.weights, first.weights, rtol=1e-12)
        assert_allclose(centres, first_centres, rtol=1e-10)


def test_pass_budget_is_rounds_plus_two(many_blobs):
    _, _, Xd = many_blobs
    with ComputeCounter() as counter:
        kmeans_parallel_init(Xd, None, 10, 0, n_rounds=4)
    assert counter.count == 4 + 2


def test_seeds_find_well_separated_blobs(many_blobs):
    X, y, Xd = many_blobs
    centres = kmeans_parallel_init(Xd, None, 10, 3)
    assert centres.shape == (10, 4)
    assert adjusted_rand_score(y, pairwise_distances_argmin(X, centres)) == 1.0


def test_fewer_distinct_rows_than_clusters():
    """Three distinct rows, five clusters: rounds stop, every row is a centre."""
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 0.0]]), 40, axis=0)
    found = kmeans_parallel_candidates(as_dask(X, (50, 50, 20)), None, 5, 0)
    assert len(found.per_round) < 5
    centres = kmeans_parallel_init(as_dask(X, (50, 50, 20)), None, 5, 0)
    assert centres.shape == (5, 2)
    assert {tuple(c) for c in centres} == {(0.0, 0.0), (5.0, 5.0), (9.0, 0.0)}


def test_recluster_weights_the_candidates():
    """A heavy candidate pulls its centre; unweighted it would sit in the middle."""
    rows = np.array([[0.0], [1.0], [10.0]])
    centres, _ = recluster(rows, np.array([1.0, 99.0, 1.0]), 2, 0)
    assert_allclose(np.sort(centres[:, 0]), [0.99, 10.0])


def test_nan_is_reported_after_the_first_pass(blobs):
    X, _ = blobs
    X = X.copy()
    X[123, 1] = np.nan
    with ComputeCounter() as counter, pytest.raises(ValueError, match="NaN or infinity"):
        kmeans_parallel_init(as_dask(X, (150,) * 4), None, 3, 0)
    assert counter.count == 1
