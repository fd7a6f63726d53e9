"""``covariance_floor``: every M-step keeps each covariance's eigenvalues above a known noise variance."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import daskmix
from daskmix import GaussianMixture
from daskmix.exceptions import ConvergenceWarning
from tests.conftest import as_dask

TYPES = ("full", "tied", "diag", "spherical", "factor")


def _options(covariance_type):
    return {"n_factors": 1} if covariance_type == "factor" else {}


def _dense(model):
    """Every component's covariance as a dense matrix."""
    n_features = model.means_.shape[1]
    return model._covariance.dense_covariances(model.covariances_, model.n_components,
                                               n_features)


@pytest.fixture(scope="module")
def blobs_3d():
    """Three anisotropic blobs in three features."""
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-3.0, 7.0, 4.0]])
    scales = np.array([[1.0, 0.4, 0.2], [0.3, 1.5, 0.5], [0.8, 0.8, 0.1]])
    labels = rng.integers(0, 3, 900)
    return centres[labels] + rng.normal(size=(900, 3)) * scales[labels]


@pytest.fixture(scope="module")
def anisotropic():
    """Rows whose covariance has eigenvalues 4, 0.09 and 0.0025."""
    rng = np.random.default_rng(7)
    return rng.normal(size=(3000, 3)) * [2.0, 0.3, 0.05]


def _fit_one(X, covariance_type, floor, reg_covar=1e-6):
    return GaussianMixture(1, covariance_type=covariance_type, covariance_floor=floor,
                           reg_covar=reg_covar, random_state=0,
                           **_options(covariance_type)).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_one_component_is_the_floored_sample_covariance(anisotropic, covariance_type):
    # the constrained maximum-likelihood estimate: the sample covariance's
    # eigenvalues below the floor raised to it
    model = _fit_one(anisotropic, covariance_type, 0.05)
    sample = np.cov(anisotropic, rowvar=False, bias=True) + 1e-6 * np.eye(3)
    values, vectors = np.linalg.eigh(sample)
    expected = vectors @ np.diag(np.maximum(values, 0.05)) @ vectors.T
    assert_allclose(_dense(model)[0], expected, rtol=1e-8, atol=1e-12)


def test_one_component_diag_and_spherical(anisotropic):
    variances = anisotropic.var(axis=0) + 1e-6
    diag = _fit_one(anisotropic, "diag", 0.05)
    assert_allclose(diag.covariances_[0], np.maximum(variances, 0.05), rtol=1e-8)
    spherical = _fit_one(anisotropic, "spherical", 2.0)
    assert_allclose(spherical.covariances_[0], max(variances.mean(), 2.0), rtol=1e-8)


def test_factor_floor_bounds_the_noise_variances(anisotropic):
    free = _fit_one(anisotropic, "factor", None)
    assert free.noise_variance_.min() < 0.05  # the floor below binds
    model = _fit_one(anisotropic, "factor", 0.05)
    assert model.noise_variance_.min() >= 0.05 - 1e-12
    assert np.linalg.eigvalsh(_dense(model)).min() >= 0.05 - 1e-10


@pytest.mark.parametrize("covariance_type", TYPES)
def test_every_fitted_eigenvalue_is_above_the_floor_and_the_bound_never_decreases(
    blobs_3d, covariance_type
):
    X = blobs_3d
    floor = 0.5 * float(np.median(np.var(X, axis=0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GaussianMixture(3, covariance_type=covariance_type, covariance_floor=floor,
                                max_iter=30, tol=0.0, random_state=1,
                                **_options(covariance_type)).fit(X)
    assert np.linalg.eigvalsh(_dense(model)).min() >= floor * (1 - 1e-9)
    bounds = np.asarray(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_a_floor_below_every_eigenvalue_changes_nothing(blobs_3d, covariance_type):
    options = dict(n_components=3, covariance_type=covariance_type, max_iter=15,
                   random_state=3, **_options(covariance_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        free = GaussianMixture(**options).fit(blobs_3d)
        floored = GaussianMixture(covariance_floor=1e-9, **options).fit(blobs_3d)
    assert_allclose(floored.covariances_, free.covariances_, rtol=1e-12, atol=1e-15)
    assert_allclose(floored.means_, free.means_, rtol=1e-12, atol=1e-15)


def test_deconvolution_recovers_the_clean_covariances():
    # clean components of rank one observed through isotropic noise: the
    # floored fit minus the noise variance is the clean covariance
    rng = np.random.default_rng(11)
    n, noise = 60_000, 0.5
    directions = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.6, 0.8, 0.0]])
    labels = rng.integers(0, 2, n)
    clean = (rng.normal(size=(n, 1)) * 2.0) * directions[labels] + 8.0 * labels[:, None]
    X = clean + rng.normal(scale=np.sqrt(noise), size=clean.shape)
    model = GaussianMixture(2, covariance_floor=noise, random_state=0).fit(X)
    order = np.argsort(model.means_[:, 0])
    recovered = model.covariances_[order] - noise * np.eye(4)
    truth = 4.0 * np.einsum("ki,kj->kij", directions, directions)
    assert np.linalg.eigvalsh(recovered).min() >= -1e-6
    assert_allclose(recovered, truth, atol=0.1)


def test_chunking_does_not_change_a_floored_fit(blobs_3d):
    options = dict(n_components=3, covariance_floor=0.3, max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        eager = GaussianMixture(**options).fit(blobs_3d)
        lazy = GaussianMixture(**options).fit(as_dask(blobs_3d, 97))
    assert_allclose(lazy.covariances_, eager.covariances_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("floor", [0.0, -1.0, "big"])
def test_a_floor_that_is_not_positive_is_refused(blobs_3d, floor):
    with pytest.raises(ValueError, match="covariance_floor"):
        GaussianMixture(2, covariance_floor=floor).fit(blobs_3d)


def test_model_files_keep_the_floor(blobs_3d, tmp_path):
    model = GaussianMixture(2, covariance_floor=0.25, random_state=0).fit(blobs_3d)
    model.save(tmp_path / "m.nc")
    loaded = daskmix.load(tmp_path / "m.nc")
    assert loaded.covariance_floor == 0.25
    assert_allclose(loaded.predict_proba(blobs_3d), model.predict_proba(blobs_3d))
