"""Data and fits shared by the tests on the real cluster."""

from __future__ import annotations

import dask
import dask.array as da
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs

from daskmix import GaussianMixture

#: Fitted attributes of GaussianMixture compared across schedulers.
GMM_FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_")

#: Rows per chunk of the test data.
CHUNK_ROWS = 500


def blobs(n_samples=6000, n_features=4, centers=4, seed=0):
    """Overlapping blobs (so EM needs a few iterations), float64."""
    X, _ = make_blobs(n_samples, n_features=n_features, centers=centers, cluster_std=2.5,
                      center_box=(-8, 8), random_state=seed)
    return X


def as_dask(X, chunk_rows=CHUNK_ROWS):
    """``X`` as a dask array of ``chunk_rows``-row chunks, one feature chunk."""
    return da.from_array(X, chunks=(chunk_rows, -1))


#: GaussianMixture settings per algorithm (with ``covariance_type="diag"``
#: they converge on ``blobs()`` without a ConvergenceWarning). This is the
#: parametrisation point of the cluster tests: an entry here runs in
#: test_cluster_results.py (same result as threads) and in
#: test_worker_failures.py (same result after a worker is killed).
GMM_ALGORITHMS = {
    "em": dict(algorithm="em", tol=1e-3, max_iter=100),
    "minibatch": dict(algorithm="minibatch", batch_size=1000, max_iter=4),
    "truncated": dict(algorithm="truncated", n_active=2, n_neighbors=3, tol=1e-3,
                      max_iter=100),
}


def fit_gmm(X, scheduler, covariance_type="full", algorithm="em"):
    """``GaussianMixture(4, ...)`` fitted on ``X`` with ``scheduler``."""
    params = GMM_ALGORITHMS[algorithm]
    with dask.config.set(scheduler=scheduler):
        return GaussianMixture(4, covariance_type=covariance_type, random_state=0,
                               **params).fit(X)


def assert_same_gmm(actual, expected, rtol=1e-10):
    """Every fitted attribute of two GaussianMixture fits agrees to rounding."""
    for name in GMM_FITTED:
        assert_allclose(getattr(actual, name), getattr(expected, name), rtol=rtol,
                        atol=1e-12, err_msg=name)
    assert actual.n_iter_ == expected.n_iter_
    assert actual.converged_ == expected.converged_


def slow_identity(block, seconds=0.01):
    """``block`` after a pause: makes each task last long enough to be caught running."""
    import time

    time.sleep(seconds)
    return block
