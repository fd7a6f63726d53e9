"""BayesianGaussianMixture(algorithm="minibatch"): stochastic VI and partial_fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from daskmix import BayesianGaussianMixture
from daskmix.mixture.variational import ALGORITHMS
from tests.conftest import as_dask

MINIBATCH_TYPES = sorted(ALGORITHMS["minibatch"].covariance_types)


@pytest.fixture(scope="module")
def six_blobs():
    """Six blobs in four dimensions, 12,000 rows."""
    X, _ = make_blobs(12_000, n_features=4, centers=6, random_state=0)
    return X


def fit(X, chunks=(3000,) * 4, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianGaussianMixture(**params).fit(as_dask(X, chunks))


@pytest.mark.parametrize("covariance_type", MINIBATCH_TYPES)
def test_reaches_the_batch_lower_bound(six_blobs, covariance_type):
    params = dict(n_components=8, covariance_type=covariance_type, random_state=0,
                  max_iter=100)
    batch = fit(six_blobs, **params)
    stochastic = fit(six_blobs, algorithm="minibatch", batch_size=1000, **params)
    assert stochastic.lower_bound_ >= batch.lower_bound_ - 0.01 * abs(batch.lower_bound_)
    assert stochastic.n_steps_ >= 12
    assert stochastic.n_samples_seen_ == 1000 * stochastic.n_steps_


def test_does_not_depend_on_the_chunking(six_blobs):
    params = dict(n_components=6, covariance_type="diag", algorithm="minibatch",
                  batch_size=1500, random_state=0, max_iter=3)
    fits = [fit(six_blobs, chunks=chunks, **params)
            for chunks in [(12_000,), (7, 4993, 3000, 4000)]]
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        assert_allclose(getattr(fits[1], name), getattr(fits[0], name), rtol=1e-9,
                        err_msg=name)
    assert fits[1].lower_bound_ == pytest.approx(fits[0].lower_bound_, rel=1e-12)


def test_partial_fit_makes_one_update_per_chunk(six_blobs):
    model = BayesianGaussianMixture(6, covariance_type="diag", algorithm="minibatch",
                                    random_state=0)
    X = as_dask(six_blobs, (3000,) * 4)
    for calls in range(1, 4):
        model.partial_fit(X)
        assert model.n_steps_ == 4 * calls
        assert model.n_iter_ == calls
        assert len(model.lower_bounds_) == calls
    # the rows of every blob end up with one component of weight about 1/6
    big = np.sort(model.weights_)[::-1][:6]
    assert_allclose(big, 1 / 6, atol=0.03)
    assert_allclose(model.predict_proba(six_blobs[:10]).sum(axis=1), 1.0)


def test_partial_fit_after_fit_continues_from_the_posterior(six_blobs):
    model = fit(six_blobs, n_components=6, covariance_type="full", algorithm="minibatch",
                batch_size=2000, random_state=0, max_iter=2)
    bound = model.score(six_blobs)
    model.partial_fit(six_blobs[:3000])
    assert model.n_steps_ == 1
    assert model.score(six_blobs) == pytest.approx(bound, rel=0.05)


def test_partial_fit_only_with_a_stochastic_algorithm():
    assert hasattr(BayesianGaussianMixture(algorithm="minibatch"), "partial_fit")
    assert not hasattr(BayesianGaussianMixture(algorithm="em"), "partial_fit")
    assert not hasattr(BayesianGaussianMixture(algorithm="truncated"), "partial_fit")
