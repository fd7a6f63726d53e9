"""k-means on a row sample with tree assignments (daskmix.cluster._tree_seeding)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from daskmix.cluster._tree_seeding import cell_kmeans_plusplus, relocate, tree_kmeans


def _inertia(rows, centres):
    distances = (rows**2).sum(1)[:, None] - 2 * rows @ centres.T + (centres**2).sum(1)
    return float(np.maximum(distances.min(axis=1), 0).mean())


@pytest.fixture(scope="module")
def blob_rows():
    """8 rows each of 512 unit blobs in 6 dimensions, centres from N(0, 25 I)."""
    rng = np.random.RandomState(0)
    centres = rng.randn(512, 6) * 5
    labels = np.repeat(np.arange(512), 8)
    return centres[labels] + rng.randn(len(labels), 6), centres


def test_cell_seeding_picks_distinct_rows(blob_rows):
    rows, _ = blob_rows
    seeds = cell_kmeans_plusplus(rows, None, 512, np.random.RandomState(0))
    assert seeds.shape == (512, 6)
    matches = (rows[None, :, :] == seeds[:, None, :]).all(axis=2)
    assert np.all(matches.sum(axis=1) >= 1)  # each seed is a row
    assert len(np.unique(seeds, axis=0)) == 512  # all distinct


def test_tree_kmeans_is_as_good_as_scikit_learn(blob_rows):
    """Same sample, same K: the partition's cost is within 3% of scikit-learn's KMeans."""
    rows, _ = blob_rows
    centres, labels = tree_kmeans(rows, None, 512, np.random.RandomState(0))
    reference = KMeans(512, n_init=1, random_state=0).fit(rows)
    assert _inertia(rows, centres) <= 1.03 * reference.inertia_ / len(rows)
    # the labels are each row's nearest centre (up to the tree's rare misses)
    exact = np.argmin((rows**2).sum(1)[:, None] - 2 * rows @ centres.T
                      + (centres**2).sum(1), axis=1)
    assert np.mean(labels == exact) > 0.99


def test_weights_act_as_repeated_rows(blob_rows):
    """Weight 2 on every row is the same problem: the same centres."""
    rows, _ = blob_rows
    a, _ = tree_kmeans(rows, None, 128, np.random.RandomState(3))
    b, _ = tree_kmeans(rows, np.full(len(rows), 2.0), 128, np.random.RandomState(3))
    np.testing.assert_allclose(a, b)


def test_relocate_moves_a_shared_centre_to_a_merged_cluster():
    """Two centres on blob A, one centre for blobs B and C: one of A's moves into B or C."""
    rng = np.random.RandomState(1)
    blob = {name: rng.randn(50, 2) * 0.1 + offset
            for name, offset in (("A", (0, 0)), ("B", (10, 0)), ("C", (10, 10)))}
    rows = np.concatenate([blob["A"], blob["B"], blob["C"]])
    centres = np.array([[0.0, 0.05], [0.0, -0.05], [10.0, 5.0], [-30.0, 0.0]])
    distances = ((rows[:, None] - centres[None]) ** 2).sum(2)
    nearest = np.argsort(distances, axis=1)[:, :2]
    moved, moves = relocate(rows, np.ones(len(rows)), centres, nearest, fraction=0.25)
    assert moves.shape == (1, 2) and moves[0, 1] == 2  # into the B+C cluster
    changed = np.flatnonzero(np.any(moved != centres, axis=1))
    assert len(changed) == 1 and changed[0] in (0, 1, 3)
    assert moved[changed[0]][0] == pytest.approx(10.0, abs=1.0)  # now in B or C
