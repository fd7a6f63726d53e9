"""The same fit whatever the scheduler: synchronous, threads, distributed processes."""

from __future__ import annotations

import warnings

import dask
import numpy as np
import pytest
from dask.utils import key_split
from distributed import get_task_stream
from numpy.testing import assert_allclose

from daskmix import GaussianMixture
from daskmix.exceptions import ConvergenceWarning
from daskmix.mixture.covariance import COVARIANCE_TYPES
from tests._covariance_cases import covariance_settings
from tests.conftest import as_dask

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


@pytest.fixture(scope="module")
def data():
    """Three blobs in 4 features, 3,000 rows in 12 chunks."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(1000, 4) * s + c for s, c in [(1, 0), (0.5, 5), (2, -6)]])
    return X


#: Iterations of every fit: the schedulers must agree after each one, and some
#: starts take over 100 to converge (factor from "random": 107 passes, 40 s on
#: the process cluster).
MAX_ITER = 15


def fit(X, covariance_type, init_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        settings = {**covariance_settings(covariance_type), "max_iter": MAX_ITER}
        return GaussianMixture(3, init_params=init_params, random_state=0,
                               **settings).fit(as_dask(X, (250,) * 12))


#: Each covariance type once, each init several times. The schedulers run the
#: same graphs whatever the pair: the init decides only the first statistics
#: (k-means' graphs for "kmeans", drawn responsibilities for "random"), the
#: covariance type the per-chunk kernels; the full cross (10 fits on each
#: scheduler) checked no code path these 5 do not.
CASES = [("diag", "kmeans"), ("factor", "kmeans"), ("full", "random"),
         ("spherical", "random"), ("tied", "kmeans")]
assert sorted(c for c, _ in CASES) == sorted(COVARIANCE_TYPES)


@pytest.mark.parametrize("covariance_type, init_params", CASES)
def test_threads_and_processes_give_the_sync_result(
    data, covariance_type, init_params, process_cluster_client
):
    reference = fit(data, covariance_type, init_params)
    with dask.config.set(scheduler="threads"):
        threaded = fit(data, covariance_type, init_params)
    with dask.config.set(scheduler=process_cluster_client), get_task_stream(process_cluster_client) as ts:
        distributed = fit(data, covariance_type, init_params)
        labels = distributed.predict(as_dask(data, (250,) * 12)).compute()
    # the work really ran on the workers, under daskmix's layer names
    prefixes = {key_split(task["key"]) for task in ts.data}
    assert "daskmix-gmm-estep-partial" in prefixes
    assert len({task["worker"] for task in ts.data}) == 2
    for other in (threaded, distributed):
        for name in FITTED:
            assert_allclose(getattr(other, name), getattr(reference, name), rtol=1e-9,
                            atol=1e-12, err_msg=name)
        assert other.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(labels, reference.predict(data))
