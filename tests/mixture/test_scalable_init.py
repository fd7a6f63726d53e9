"""Truncated EM's initialisation at O(1) cost per row: sample k-means, tree-found K(n) and g_c."""

from __future__ import annotations

import dask
import numpy as np
import pytest

from daskmix import GaussianMixture
from daskmix._index import ComponentTree
from daskmix.mixture.algorithms.truncated import initial_neighbours, tree_neighbours
from tests.conftest import as_dask

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_BLOBS = 256


@pytest.fixture(scope="module")
def blob_data():
    """24 rows each of 256 unit blobs in 4 dimensions (6,144 rows), centres from N(0, 100 I)."""
    rng = np.random.RandomState(0)
    centres = rng.randn(N_BLOBS, 4) * 10
    labels = rng.randint(0, N_BLOBS, 24 * N_BLOBS)
    return centres[labels] + rng.randn(len(labels), 4)


def _truncated(**params):
    return GaussianMixture(N_BLOBS, covariance_type="diag", algorithm="truncated",
                           random_state=0, tol=0.0, **params)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_chunking_and_scheduler_do_not_change_the_initialisation(blob_data, init_params):
    reference = _truncated(init_params=init_params, max_iter=2).fit(
        as_dask(blob_data, (1024,) * 6))
    ragged = _truncated(init_params=init_params, max_iter=2).fit(
        as_dask(blob_data, (7, 3000, 1, 3136)))
    with dask.config.set(scheduler="threads"):
        threaded = _truncated(init_params=init_params, max_iter=2).fit(
            as_dask(blob_data, (2000, 4144)))
    for other in (ragged, threaded):
        np.testing.assert_allclose(other.lower_bounds_, reference.lower_bounds_, rtol=1e-10)
        np.testing.assert_allclose(other.means_, reference.means_, rtol=1e-9, atol=1e-9)


def test_scalable_start_is_as_good_as_the_dense_one(blob_data):
    """The sample k-means start ends as high as exact EM's k-means|| start (within 1%)."""
    X = as_dask(blob_data, (2048,) * 3)
    dense = GaussianMixture(N_BLOBS, covariance_type="diag", max_iter=0,
                            random_state=0).fit(X)
    from_dense = _truncated(max_iter=10, weights_init=dense.weights_, means_init=dense.means_,
                            precisions_init=dense.precisions_).fit(X)
    scalable = _truncated(max_iter=10).fit(X)
    assert scalable.lower_bound_ >= from_dense.lower_bound_ - 0.01 * abs(from_dense.lower_bound_)


def test_tree_neighbourhoods_start_with_the_component_and_are_near(blob_data):
    means = blob_data[::24][:N_BLOBS]
    tree = ComponentTree.build(means)
    found = tree_neighbours(tree, means, 6)
    exact = initial_neighbours(means, 6)
    np.testing.assert_array_equal(found[:, 0], np.arange(N_BLOBS))
    assert all(len(set(row.tolist())) == 6 for row in found)
    overlap = np.mean([len(set(a[1:]) & set(b[1:])) / 5 for a, b in zip(found, exact)])
    assert overlap > 0.9
    # as wide as the components allow
    assert tree_neighbours(ComponentTree.build(means[:4]), means[:4], 6).shape == (4, 4)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied"])
@pytest.mark.parametrize("n_features", [3, 40])
def test_sparse_one_hot_moments_equal_the_dense_ones(covariance_type, n_features):
    """The sample partition's statistics (sparse responsibilities) are the dense ones."""
    import scipy.sparse as sp

    from daskmix.mixture.covariance import get_covariance_type

    rng = np.random.RandomState(0)
    covariance = get_covariance_type(covariance_type)
    X, labels = rng.randn(300, n_features), rng.randint(0, 7, 300)
    centres = rng.randn(7, n_features)
    dense = np.zeros((7, 300))
    dense[labels, np.arange(300)] = rng.uniform(0.5, 2.0, 300)  # weighted rows
    D = covariance.prepare(X, np.zeros(n_features))
    for expected, got in zip(covariance.moments(D, dense, centres),
                             covariance.moments(D, sp.csr_array(dense), centres)):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10, atol=1e-10)


def test_truncated_factor_fit_from_the_scalable_start():
    """Mixtures of factor analysers start from full covariances of the sample partition."""
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 20) @ rng.randn(20, 20) + 5
    gm = GaussianMixture(16, covariance_type="factor", n_factors=3, algorithm="truncated",
                         max_iter=3, random_state=0).fit(as_dask(X, (1000,) * 3))
    assert np.isfinite(gm.lower_bound_) and gm.loadings_.shape == (16, 20, 3)
