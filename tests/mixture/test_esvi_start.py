"""ESVI's initialisation: a spherical start, O(K D) in the client, equal to the full one's.

ESVI's run reads only :func:`~daskmix.mixture.variational.blocks.spherical_start`
of the starting posterior and the layout's shift (expected weights times
means). Its initialisation computes a spherical posterior
(``ESVI.start_covariance_type``); the reference is the start of the
estimator's own covariance type (what batch VI starts from), from the
same ``random_state``.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs
from sklearn.utils import check_random_state

from daskmix import BayesianGaussianMixture
from daskmix._validation import check_input
from daskmix.mixture.variational import blocks as B
from daskmix.mixture.variational import get_algorithm


def _start(algorithm, X, **settings):
    """The algorithm's starting posterior and its ESVI start, without a client.

    The priors are validated with ``algorithm="em"`` (ESVI's own check asks
    for a client), then the algorithm is switched for the initialisation.
    """
    est = BayesianGaussianMixture(algorithm="em", **settings)
    data = check_input(est, X, reset=True, min_samples=2)
    est._check_parameters(X.shape[1])
    est.set_params(algorithm=algorithm)
    params = est._initialize_parameters(data, None, check_random_state(0), None)
    priors = est._priors_of_fit[0]
    model = est._model(priors)
    start = B.spherical_start(model, params)
    return params, dict(start, shift=model.weights(params) @ params.means)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_spherical_start_equals_the_full_start(covariance_type, init_params):
    X, _ = make_blobs(500, n_features=4, centers=5, cluster_std=[0.5, 1, 1.5, 2, 3],
                      random_state=1)
    X = X * np.array([1.0, 3.0, 0.5, 2.0])  # unequal variances: the trace matters
    settings = dict(n_components=5, covariance_type=covariance_type, init_params=init_params,
                    weight_concentration_prior_type="dirichlet_distribution", reg_covar=1e-3)
    full, expected = _start("em", X, **settings)
    small, got = _start("esvi", X, **settings)
    # the full path holds the covariance type's layout; ESVI's one variance per component
    assert np.shape(full.covariances)[0] == 5 and np.shape(small.covariances) == (5,)
    for name in ("means", "log_weights", "variances", "shift"):
        assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-12, err_msg=name)


def test_the_start_follows_a_given_covariance_prior():
    X, _ = make_blobs(300, n_features=3, centers=3, random_state=0)
    prior = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 4.0]])
    settings = dict(n_components=3, covariance_type="full", covariance_prior=prior,
                    weight_concentration_prior_type="dirichlet_distribution")
    _, expected = _start("em", X, **settings)
    _, got = _start("esvi", X, **settings)
    assert_allclose(got["variances"], expected["variances"], rtol=1e-12)


def test_esvi_declares_a_spherical_start():
    assert get_algorithm("esvi").start_covariance_type == "spherical"
    assert get_algorithm("em").start_covariance_type is None
