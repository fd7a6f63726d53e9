"""On a real cluster (``dask scheduler`` + 2 ``dask worker`` processes), the threaded result."""

from __future__ import annotations

import dask
import numpy as np
import pytest
from dask.utils import key_split
from distributed import get_task_stream
from numpy.testing import assert_allclose

from daskmix import GaussianMixture, IncrementalPCA, MiniBatchKMeans
from tests.distributed._fits import (
    GMM_ALGORITHMS,
    as_dask,
    assert_same_gmm,
    blobs,
    fit_gmm,
)


@pytest.fixture(scope="module")
def X():
    """6,000 x 4 overlapping blobs in 12 chunks."""
    return as_dask(blobs())


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_exact_em_on_the_cluster_equals_threads(cluster, X, covariance_type):
    _, client = cluster
    threaded = fit_gmm(X, "threads", covariance_type)
    with get_task_stream(client) as stream:
        distributed = fit_gmm(X, client, covariance_type)
    assert_same_gmm(distributed, threaded)
    # the E-steps ran on both worker processes, under daskmix's names
    estep = [t for t in stream.data if key_split(t["key"]) == "daskmix-gmm-estep-partial"]
    assert len({t["worker"] for t in estep}) == 2
    assert threaded.n_iter_ > 2  # a real iterative fit, not a one-step convergence


@pytest.mark.parametrize("algorithm", sorted(set(GMM_ALGORITHMS) - {"em"}))
def test_other_algorithms_on_the_cluster_equal_threads(cluster, X, algorithm):
    _, client = cluster
    threaded = fit_gmm(X, "threads", "diag", algorithm=algorithm)
    distributed = fit_gmm(X, client, "diag", algorithm=algorithm)
    assert_same_gmm(distributed, threaded)


@pytest.mark.parametrize("gamma", [1.0, 0.5])
def test_async_em_on_the_cluster(cluster, X, gamma):
    """gamma=1 is exact EM; gamma<1 ends within 0.5% of its log-likelihood."""
    _, client = cluster
    exact = fit_gmm(X, "threads", "diag")
    with client.as_current(), dask.config.set(scheduler=client):
        model = GaussianMixture(4, covariance_type="diag", random_state=0,
                                algorithm="async", gamma=gamma, tol=1e-3,
                                max_iter=100).fit(X)
    if gamma == 1.0:
        assert_same_gmm(model, exact)
    else:
        with dask.config.set(scheduler="threads"):
            expected, actual = exact.score(X), model.score(X)
        assert abs(actual - expected) <= 0.005 * abs(expected)


def test_predictions_on_the_cluster_equal_threads(cluster, X):
    _, client = cluster
    model = fit_gmm(X, "threads", "full")
    with dask.config.set(scheduler="threads"):
        expected = model.predict_proba(X).compute()
    with dask.config.set(scheduler=client):
        actual = model.predict_proba(X).compute()
    assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


def fit_kmeans(X, scheduler):
    with dask.config.set(scheduler=scheduler):
        return MiniBatchKMeans(4, batch_size=700, max_iter=5, random_state=0,
                               n_init=1).fit(X)


def test_minibatch_kmeans_on_the_cluster_equals_threads(cluster, X):
    _, client = cluster
    threaded = fit_kmeans(X, "threads")
    distributed = fit_kmeans(X, client)
    assert_allclose(distributed.cluster_centers_, threaded.cluster_centers_, rtol=1e-10)
    assert_allclose(distributed.inertia_, threaded.inertia_, rtol=1e-10)
    assert distributed.n_steps_ == threaded.n_steps_
    with dask.config.set(scheduler=client):
        labels = distributed.predict(X).compute()
    np.testing.assert_array_equal(labels, threaded.predict(X.compute()))


def test_incremental_pca_on_the_cluster_equals_threads(cluster, X):
    _, client = cluster
    with dask.config.set(scheduler="threads"):
        threaded = IncrementalPCA(3).fit(X)
        expected = threaded.transform(X).compute()
    with dask.config.set(scheduler=client):
        distributed = IncrementalPCA(3).fit(X)
        actual = distributed.transform(X).compute()
    for name in ("components_", "explained_variance_", "mean_", "singular_values_"):
        assert_allclose(getattr(distributed, name), getattr(threaded, name), rtol=1e-10,
                        atol=1e-12, err_msg=name)
    assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)
