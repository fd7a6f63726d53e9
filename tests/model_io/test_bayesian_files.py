"""Model files of BayesianGaussianMixture: save then load gives back the same estimator."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import daskmix
from daskmix import BayesianGaussianMixture
from daskmix.mixture.variational import WEIGHT_PRIORS, WISHART_TYPES
from tests.conftest import as_dask
from tests.model_io._support import assert_same_state


@pytest.mark.parametrize("prior_type", sorted(WEIGHT_PRIORS))
@pytest.mark.parametrize("covariance_type", sorted(WISHART_TYPES))
@pytest.mark.parametrize("storage", ["model.nc", "model.zarr"])
def test_round_trip_is_exact(blobs, covariance_type, prior_type, storage, tmp_path):
    X, _ = blobs
    model = BayesianGaussianMixture(
        3, covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
        random_state=0,
    ).fit(as_dask(X, (300, 300)))
    model.save(tmp_path / storage)
    loaded = daskmix.load(tmp_path / storage)
    assert_same_state(model, loaded)
    assert loaded.get_params() == model.get_params()
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert_array_equal(loaded.score_samples(X), model.score_samples(X))


def test_loaded_model_warm_starts_like_the_saved_one(blobs, tmp_path):
    X, _ = blobs
    params = dict(covariance_type="tied", mean_prior=X.mean(axis=0),
                  covariance_prior=np.cov(X.T), warm_start=True, max_iter=3, tol=0.0,
                  random_state=0)
    model = BayesianGaussianMixture(3, **params)
    with pytest.warns(daskmix.exceptions.ConvergenceWarning):
        model.fit(X)
    model.save(tmp_path / "model.nc")
    loaded = daskmix.load(tmp_path / "model.nc")
    assert_array_equal(loaded.mean_prior, params["mean_prior"])
    for est in (model, loaded):
        with pytest.warns(daskmix.exceptions.ConvergenceWarning):
            est.fit(X)
    assert_same_state(model, loaded)


def test_truncated_fit_keeps_its_counters(blobs, tmp_path):
    X, _ = blobs
    model = BayesianGaussianMixture(4, covariance_type="diag", algorithm="truncated",
                                    n_active=2, n_neighbors=2, random_state=0).fit(X)
    model.save(tmp_path / "model.nc")
    loaded = daskmix.load(tmp_path / "model.nc")
    assert_same_state(model, loaded)


def test_minibatch_fit_keeps_its_counters(blobs, tmp_path):
    X, _ = blobs
    model = BayesianGaussianMixture(3, covariance_type="full", algorithm="minibatch",
                                    batch_size=100, random_state=0).fit(X)
    model.save(tmp_path / "model.nc")
    loaded = daskmix.load(tmp_path / "model.nc")
    assert_same_state(model, loaded)
    assert loaded.n_steps_ == model.n_steps_
