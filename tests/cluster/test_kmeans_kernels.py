"""k-means chunk kernels against NumPy and scikit-learn references, no scheduler."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import pairwise_distances_argmin
from sklearn.metrics.pairwise import euclidean_distances

from daskmix._kernels import TILE_ROWS
from daskmix.cluster._kmeans_kernels import (
    TopRowsLayout,
    chunk_distances,
    chunk_labels,
    chunk_nearest_stats,
    merge_top_rows,
    squared_distances,
    unpack_nearest,
)


@pytest.fixture(scope="module")
def data():
    """More rows than one tile, offset from the origin, and five centres."""
    rng = np.random.RandomState(0)
    X = rng.randn(TILE_ROWS + 123, 5) + 40.0
    return X, X[rng.choice(len(X), 5, replace=False)] + 0.1


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 1e-3)])
def test_distances_match_scikit_learn(data, dtype, rtol):
    X, centres = data
    X = X.astype(dtype)
    reference = euclidean_distances(X.astype(np.float64), centres)
    out = chunk_distances(X, centres)
    assert out.dtype == dtype
    assert_allclose(out, reference, rtol=rtol, atol=rtol)
    assert_allclose(squared_distances(X, centres), reference**2, rtol=rtol * 10, atol=rtol)


def test_labels_match_scikit_learn(data):
    X, centres = data
    labels = chunk_labels(X, centres)
    assert labels.dtype == np.int32
    assert_array_equal(labels, pairwise_distances_argmin(X, centres))


@pytest.mark.parametrize("weighted", [False, True])
def test_nearest_stats_match_a_brute_force(data, weighted):
    X, centres = data
    w = np.random.RandomState(1).uniform(0, 2, len(X)) if weighted else None
    stats = chunk_nearest_stats(X, None if w is None else w[:, None], centres)
    weights, inertia, nonfinite = unpack_nearest(stats, len(centres))
    d2 = euclidean_distances(X, centres, squared=True)
    ones = np.ones(len(X)) if w is None else w
    assert_allclose(weights, np.bincount(d2.argmin(axis=1), weights=ones, minlength=5))
    assert_allclose(inertia, d2.min(axis=1) @ ones, rtol=1e-9)
    assert nonfinite == 0


def test_nearest_stats_count_non_finite_values(data):
    X, centres = data
    X = X.copy()
    X[3, 1], X[7, 2] = np.nan, -np.inf
    _, _, nonfinite = unpack_nearest(chunk_nearest_stats(X, None, centres, check_finite=True), 5)
    assert nonfinite == 2
    with pytest.raises(ValueError, match="NaN or infinity"):
        chunk_labels(X, centres)


def test_top_rows_merge_in_any_grouping_equals_one_pack():
    """Packing parts then merging them, in any tree, equals packing everything at once."""
    rng = np.random.RandomState(0)
    layout = TopRowsLayout(n_keep=6, n_features=2)
    keys, rows = rng.rand(40), rng.randn(40, 2)
    index = np.arange(40, dtype=np.float64)
    whole = layout.pack(4.0, 40.0, 0, keys, index, rows)
    bounds = [0, 3, 3, 17, 18, 40]  # includes an empty part
    parts = [layout.pack(1.0, b - a, 0, keys[a:b], index[a:b], rows[a:b])
             for a, b in itertools.pairwise(bounds)]
    flat = merge_top_rows(np.stack(parts), layout)
    tree = merge_top_rows(np.stack([merge_top_rows(np.stack(parts[:2]), layout),
                                    merge_top_rows(np.stack(parts[2:]), layout)]), layout)
    for merged in (flat, tree):
        assert_array_equal(merged[3:], whole[3:])
        assert_allclose(merged[:3], [5.0, 40.0, 0.0])
    top = layout.unpack(whole)
    assert_array_equal(top["index"], np.argsort(-keys)[:6])
    assert_array_equal(top["rows"], rows[np.argsort(-keys)[:6]])


def test_top_rows_with_fewer_rows_than_slots():
    layout = TopRowsLayout(n_keep=4, n_features=1)
    packed = layout.pack(0.0, 2.0, 0, np.array([0.5, 2.0]), np.array([10.0, 11.0]),
                         np.array([[1.0], [2.0]]))
    top = layout.unpack(packed)
    assert_array_equal(top["index"], [11, 10])
    assert_array_equal(top["rows"], [[2.0], [1.0]])
