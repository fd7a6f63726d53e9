"""In-client k-means (``daskmix.cluster._lloyd``) against scikit-learn's ``KMeans``."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.datasets import load_digits, make_blobs

from daskmix.cluster._lloyd import TOL, _lloyd, kmeans, plusplus

DATA = {
    "blobs-2d": make_blobs(1000, 2, centers=3, random_state=0)[0],
    "digits": load_digits().data,
    "overlapping-16d": make_blobs(4000, 16, centers=12, cluster_std=4.0, random_state=1)[0],
}


def _weights(n, seed, weighted):
    return np.random.RandomState(seed).uniform(0.1, 2.0, n) if weighted else np.ones(n)


@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("n_clusters", [1, 4, 17])
@pytest.mark.parametrize("weighted", [False, True])
def test_plusplus_draws_scikit_learns_seeds(data, n_clusters, weighted):
    X = DATA[data]
    for seed in range(3):
        w = _weights(len(X), seed, weighted)
        expected, _ = kmeans_plusplus(X, n_clusters, sample_weight=w, random_state=seed)
        assert_array_equal(plusplus(X, w, n_clusters, seed), expected)


@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("n_clusters", [3, 10])
@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_is_scikit_learns_kmeans(data, n_clusters, weighted):
    X = DATA[data]
    for seed in range(3):
        w = _weights(len(X), seed, weighted)
        theirs = KMeans(n_clusters, n_init=1, random_state=seed).fit(X, sample_weight=w)
        centres, labels = kmeans(X, w, n_clusters, seed)
        assert_allclose(centres, theirs.cluster_centers_, rtol=1e-10, atol=1e-10)
        assert_array_equal(labels, theirs.labels_)


def test_empty_cluster_takes_the_farthest_row_as_scikit_learn_does():
    """A centre far from every row is emptied at once and moved, as in ``KMeans``."""
    X = DATA["blobs-2d"]
    init = np.vstack([X[:3], [[1e3, 1e3], [-1e3, 1e3]]])
    w = _weights(len(X), 0, True)
    theirs = KMeans(len(init), init=init, n_init=1).fit(X, sample_weight=w)
    mean = X.mean(axis=0)
    tol = float(np.mean(np.var(X - mean, axis=0))) * TOL
    centres, labels = _lloyd(X - mean, w, init - mean, tol, 300)
    assert_allclose(centres + mean, theirs.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert_array_equal(labels, theirs.labels_)
    assert len(np.unique(labels)) == len(init)
