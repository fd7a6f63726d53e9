"""The k-means tree over component means (daskmix._index.ComponentTree)."""

from __future__ import annotations

import numpy as np
import pytest

from daskmix._index import ComponentTree


def _dense_nearest(X, means, n):
    distances = ((X[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    return np.argsort(distances, axis=1, kind="stable")[:, :n]


@pytest.fixture(scope="module")
def means():
    return np.random.RandomState(0).randn(700, 5) * 3


def test_a_beam_covering_every_leaf_is_the_exact_search(means):
    """With the beam wider than any level, every leaf is reached: dense nearest means."""
    tree = ComponentTree.build(means, branching=4, leaf_size=8)
    X = np.random.RandomState(1).randn(300, 5) * 3
    found = tree.nearest(X, 3, beam=len(tree.first))
    np.testing.assert_array_equal(found, _dense_nearest(X, means, 3))


def test_each_component_is_in_exactly_one_leaf(means):
    tree = ComponentTree.build(means, branching=5)
    np.testing.assert_array_equal(np.sort(tree.members), np.arange(len(means)))
    leaves = np.flatnonzero(tree.is_leaf)
    assert tree.count[leaves].sum() == len(means)
    assert tree.count[leaves].max() <= 5
    # internal nodes: children sit after their parent, breadth first
    internal = np.flatnonzero(~tree.is_leaf)
    assert np.all(tree.first[internal] > internal)


def test_the_default_beam_finds_most_nearest_means():
    """Rows near a mean (blobs) find it with the default beam: recall well above chance."""
    rng = np.random.RandomState(2)
    centres = rng.randn(2048, 8) * 4
    X = centres[rng.randint(0, 2048, 2000)] + rng.randn(2000, 8) * 0.5
    tree = ComponentTree.build(centres)
    found = tree.nearest(X, 1)[:, 0]
    exact = _dense_nearest(X, centres, 1)[:, 0]
    assert np.mean(found == exact) > 0.95
    # parallel and serial loops agree row for row
    np.testing.assert_array_equal(tree.nearest(X, 2, parallel=True), tree.nearest(X, 2))


def test_rows_reaching_few_means_are_completed_with_distinct_ids():
    means = np.arange(40, dtype=np.float64).reshape(20, 2)
    tree = ComponentTree.build(means, branching=2, leaf_size=2)
    found = tree.nearest(means[:5], 12, beam=1)
    assert found.shape == (5, 12)
    for row in found:
        assert len(set(row.tolist())) == 12 and row.min() >= 0


def test_identical_means_and_scale():
    means = np.zeros((50, 3))
    tree = ComponentTree.build(means)
    assert sorted(tree.members.tolist()) == list(range(50))
    found = tree.nearest(np.ones((4, 3)), 5)
    assert all(len(set(row.tolist())) == 5 for row in found)
    # a scale weighs the features: the first feature alone decides here
    means = np.array([[0.0, 0.0], [1.0, 100.0], [3.0, 0.0]])
    tree = ComponentTree.build(means, scale=[1.0, 0.0], leaf_size=1, branching=2)
    assert tree.nearest(np.array([[0.9, 0.0]]), 1, beam=3)[0, 0] == 1


def test_n_nearest_is_checked(means):
    tree = ComponentTree.build(means)
    with pytest.raises(ValueError, match="n_nearest"):
        tree.nearest(means[:2], len(means) + 1)
