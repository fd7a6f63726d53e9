"""A covariance type registered from outside the package is fitted end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from daskmix import GaussianMixture
from daskmix.mixture.covariance import COVARIANCE_TYPES, get_covariance_type
from daskmix.mixture.covariance.spherical import SphericalCovariance
from tests.conftest import as_dask


class UnitCovariance(SphericalCovariance):
    """Isotropic components of a fixed variance ``variance`` (a toy: nothing to estimate)."""

    name = "unit"
    settings = ("variance",)

    def __init__(self, variance=1.0):
        self.variance = float(variance)

    def finalize(self, s2, nk, new_centres, old_centres, reg_covar):
        return np.full(len(nk), self.variance)

    def n_parameters(self, n_components, n_features):
        return 0


@pytest.fixture
def unit_type():
    """Register ``UnitCovariance`` for one test, and remove it afterwards."""
    COVARIANCE_TYPES[UnitCovariance.name] = UnitCovariance
    try:
        yield UnitCovariance
    finally:
        del COVARIANCE_TYPES[UnitCovariance.name]


def test_a_registered_type_is_looked_up_with_its_settings(unit_type):
    covariance = get_covariance_type("unit", variance=2.0, n_factors=3)
    assert covariance == UnitCovariance(2.0) and covariance != UnitCovariance(1.0)


def _unit_em(X, weights, means, n_iter):
    """Plain NumPy EM for isotropic unit-variance components (the reference)."""
    for _ in range(n_iter):
        log_resp = np.log(weights) - 0.5 * ((X[:, None, :] - means) ** 2).sum(axis=2)
        resp = np.exp(log_resp - log_resp.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)
        nk = resp.sum(axis=0)
        weights, means = nk / len(X), resp.T @ X / nk[:, None]
    return weights, means


def test_a_registered_type_is_fitted_end_to_end(unit_type, blobs):
    X, y = blobs
    means_init = np.stack([X[y == k].mean(axis=0) + 0.5 for k in range(3)])
    init = {"weights_init": np.full(3, 1 / 3), "means_init": means_init,
            "precisions_init": np.ones(3)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(3, covariance_type="unit", algorithm="em", max_iter=5, tol=0.0,
                             **init).fit(as_dask(X, (150,) * 4))
    weights, means = _unit_em(X, np.full(3, 1 / 3), means_init, gm.n_iter_)
    assert_allclose(gm.weights_, weights, rtol=1e-10)
    assert_allclose(gm.means_, means, rtol=1e-10)
    assert_allclose(gm.covariances_, 1.0)
    assert_allclose(gm.precisions_cholesky_, 1.0)
    n_free = 3 * X.shape[1] + 3 - 1
    assert np.isclose(gm.bic(X), -2 * gm.score(X) * len(X) + n_free * np.log(len(X)))


def test_the_registry_is_read_at_validation_time(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(2, covariance_type="unit").fit(X)
