"""BayesianGaussianMixture(algorithm="truncated"): truncated posteriors, batch VI's update."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from daskmix import BayesianGaussianMixture
from daskmix.mixture.variational import ALGORITHMS, WEIGHT_PRIORS
from tests.conftest import as_dask

TRUNCATED_TYPES = sorted(ALGORITHMS["truncated"].covariance_types)
POSTERIOR = ("weights_", "means_", "covariances_", "precisions_cholesky_", "mean_precision_",
             "degrees_of_freedom_")


@pytest.fixture(scope="module")
def many_blobs():
    """Ten blobs in four dimensions, 6,000 rows in four chunks."""
    X, _ = make_blobs(6000, n_features=4, centers=10, random_state=0)
    return X


def fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianGaussianMixture(**params).fit(as_dask(X, (1500,) * 4))


@pytest.mark.parametrize("prior_type", sorted(WEIGHT_PRIORS))
@pytest.mark.parametrize("covariance_type", TRUNCATED_TYPES)
def test_every_component_active_is_batch_vi(many_blobs, covariance_type, prior_type):
    params = dict(n_components=6, covariance_type=covariance_type,
                  weight_concentration_prior_type=prior_type,
                  init_params="random_from_data", random_state=3, max_iter=60)
    batch = fit(many_blobs, **params)
    truncated = fit(many_blobs, algorithm="truncated", n_active=6, **params)
    for name in POSTERIOR:
        expected = getattr(batch, name)
        assert_allclose(getattr(truncated, name), expected, rtol=1e-6,
                        atol=1e-6 * np.max(np.abs(expected)), err_msg=name)
    assert truncated.n_iter_ == batch.n_iter_
    assert_allclose(truncated.lower_bounds_, batch.lower_bounds_, rtol=1e-6)
    assert truncated.n_evaluations_.tolist() == [len(many_blobs) * 6] * truncated.n_iter_


@pytest.mark.parametrize("covariance_type", TRUNCATED_TYPES)
def test_reaches_the_batch_lower_bound(many_blobs, covariance_type):
    """Within 1% of batch VI's lower bound, and never decreasing on the way."""
    params = dict(n_components=16, covariance_type=covariance_type, random_state=0,
                  max_iter=300, tol=1e-3)
    batch = fit(many_blobs, **params)
    truncated = fit(many_blobs, algorithm="truncated", n_active=3, n_neighbors=6, **params)
    assert truncated.lower_bound_ >= batch.lower_bound_ - 0.01 * abs(batch.lower_bound_)
    bounds = np.asarray(truncated.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))
    assert np.all(truncated.n_evaluations_ < len(many_blobs) * 16)


def test_dirichlet_process_prunes_from_many_components(many_blobs):
    model = fit(many_blobs, n_components=64, algorithm="truncated", covariance_type="diag",
                weight_concentration_prior=1e-3, random_state=0, max_iter=300)
    assert np.sum(model.weights_ > 1e-3) == 10


def test_tied_is_refused_with_the_supported_types(many_blobs):
    with pytest.raises(ValueError, match="algorithm='truncated' supports covariance_type in"):
        BayesianGaussianMixture(4, covariance_type="tied", algorithm="truncated",
                                n_active=2).fit(many_blobs)


def test_n_active_above_n_components_is_refused(many_blobs):
    with pytest.raises(ValueError, match="Set n_active <= n_components"):
        BayesianGaussianMixture(2, algorithm="truncated", n_active=3).fit(many_blobs)


def test_a_batch_fit_after_a_truncated_one_drops_its_counters(many_blobs):
    model = fit(many_blobs, n_components=4, algorithm="truncated", n_active=2, random_state=0)
    assert hasattr(model, "neighbors_")
    model.set_params(algorithm="em")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(many_blobs)
    assert not hasattr(model, "neighbors_")
    assert not hasattr(model, "n_evaluations_")
