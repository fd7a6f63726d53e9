"""covariance_type="factor": a mixture of factor analysers, against dense references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal
from sklearn.decomposition import FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from daskmix import GaussianMixture
from daskmix.mixture._params import GaussianParams, estep_params, params_from_stats
from daskmix.mixture.covariance.factor import FactorCovariance
from daskmix.mixture.kernels.factor import (
    component_mahalanobis,
    component_moments,
    unpack_woodbury,
    woodbury_factors,
)
from daskmix.mixture.kernels.suffstats import StatsLayout, chunk_em_stats, chunk_log_prob_resp
from tests.conftest import as_dask

N_FEATURES, N_FACTORS, N_COMPONENTS = 6, 2, 3


def factor_params(n_components=N_COMPONENTS, n_features=N_FEATURES, n_factors=N_FACTORS,
                  seed=0):
    """Random weights, means far from the origin, loadings and noise variances."""
    rng = np.random.RandomState(seed)
    weights = rng.dirichlet(np.ones(n_components) * 5)
    means = rng.randn(n_components, n_features) * 4 + 50
    loadings = rng.randn(n_components, n_features, n_factors) * 1.5
    noise = rng.uniform(0.2, 1.0, size=(n_components, n_features))
    return weights, means, loadings, noise


def dense_of(loadings, noise):
    return loadings @ np.swapaxes(loadings, 1, 2) + np.stack([np.diag(p) for p in noise])


def factor_data(n_samples=600, seed=0, **kwargs):
    """Rows drawn from a factor mixture (the generative model itself)."""
    weights, means, loadings, noise = factor_params(seed=seed, **kwargs)
    rng = np.random.RandomState(seed + 100)
    labels = rng.choice(len(weights), size=n_samples, p=weights)
    z = rng.randn(n_samples, loadings.shape[2])
    X = (means[labels] + np.einsum("nh,ndh->nd", z, loadings[labels])
         + rng.randn(n_samples, means.shape[1]) * np.sqrt(noise[labels]))
    return X


def packed_params(weights, means, loadings, noise):
    covariance = FactorCovariance(loadings.shape[2])
    packed = np.concatenate([loadings, noise[:, :, None]], axis=2)
    return covariance, GaussianParams(weights, means, packed,
                                      covariance.precision_cholesky(packed))


def fit(X, **kwargs):
    settings = dict(covariance_type="factor", n_factors=N_FACTORS, random_state=0)
    settings.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**settings).fit(X)


# ---- kernels -----------------------------------------------------------------
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_log_densities_match_dense_gaussian(dtype, rtol):
    """Woodbury log-densities equal scipy's with covariance Lambda Lambda' + Psi."""
    weights, means, loadings, noise = factor_params()
    covariance, params = packed_params(weights, means, loadings, noise)
    X = factor_data(200, seed=1)
    dense = dense_of(loadings, noise)
    expected = np.stack(
        [multivariate_normal(m, c).logpdf(X) for m, c in zip(means, dense)], axis=1
    )
    kernel = estep_params(covariance, params, dtype)
    Y = (X - kernel.shift).astype(dtype)
    got = covariance.log_prob_t(covariance.prepare(Y, np.zeros_like(Y[0])), kernel.centres,
                                kernel.prec_chol).T
    assert got.dtype == dtype
    assert_allclose(got, expected, rtol=rtol)
    mixture = np.log(np.exp(expected) @ weights)
    assert_allclose(chunk_log_prob_resp(X.astype(dtype), kernel, "score_samples"), mixture,
                    rtol=rtol)


def test_woodbury_factors_match_dense_inverse_and_determinant():
    _, _, loadings, noise = factor_params()
    inv_psi, U, V, l_inv, log_det = woodbury_factors(loadings, noise)
    dense = dense_of(loadings, noise)
    assert_allclose(log_det, np.linalg.slogdet(dense)[1], rtol=1e-12)
    precision = np.stack([np.diag(p) for p in inv_psi]) - V @ np.swapaxes(U, 1, 2)
    assert_allclose(precision, np.linalg.inv(dense), rtol=1e-9, atol=1e-12)
    L = np.eye(N_FACTORS) + np.swapaxes(loadings, 1, 2) @ (loadings / noise[:, :, None])
    assert_allclose(l_inv, np.linalg.inv(L), rtol=1e-12)
    packed = np.concatenate([inv_psi[:, :, None], U, V], axis=2)
    unpacked = unpack_woodbury(packed)
    assert_allclose(unpacked[3], l_inv, rtol=1e-10, atol=1e-14)
    assert_allclose(FactorCovariance(N_FACTORS).log_det_cholesky(packed, N_FEATURES), -0.5 * log_det,
                    rtol=1e-12)


def test_pair_pieces_give_the_log_joint_of_any_row_and_component():
    """What sparse-pair algorithms call: woodbury + component_mahalanobis + log_normaliser."""
    weights, means, loadings, noise = factor_params()
    covariance, params = packed_params(weights, means, loadings, noise)
    X = factor_data(40, seed=17)
    inv_psi, U, V, _, log_det = covariance.woodbury(params.prec_chol)
    assert_allclose(log_det, np.linalg.slogdet(dense_of(loadings, noise))[1], rtol=1e-12)
    offsets = covariance.log_normaliser(params.prec_chol, N_FEATURES, np.log(weights))
    dense = dense_of(loadings, noise)
    for k in range(N_COMPONENTS):
        rows = X[k::N_COMPONENTS]
        sq, z = component_mahalanobis(rows - means[k], inv_psi[k],
                                      np.concatenate([U[k], V[k]], axis=1))
        expected = np.log(weights[k]) + multivariate_normal(means[k], dense[k]).logpdf(rows)
        assert_allclose(offsets[k] - 0.5 * sq, expected, rtol=1e-10)
        beta = loadings[k].T @ np.linalg.inv(dense[k])
        assert_allclose(z, (rows - means[k]) @ beta.T, rtol=1e-9, atol=1e-12)


def reference_statistics(X, resp, means, loadings, noise):
    """Ghahramani and Hinton's expected statistics, from the dense covariance."""
    out = []
    for k in range(len(means)):
        dense = loadings[k] @ loadings[k].T + np.diag(noise[k])
        beta = loadings[k].T @ np.linalg.inv(dense)          # E[z | x] = beta (x - mu)
        delta = X - means[k]
        z = delta @ beta.T
        z_tilde = np.hstack([z, np.ones((len(X), 1))])
        r = resp[:, k]
        post_cov = np.eye(loadings.shape[2]) - beta @ loadings[k]
        A = (z_tilde * r[:, None]).T @ z_tilde
        A[:-1, :-1] += r.sum() * post_cov
        B = (delta * r[:, None]).T @ z_tilde
        u = r @ delta**2
        out.append((B, u, A))
    return out


def test_component_moments_are_the_expected_complete_data_statistics():
    _, means, loadings, noise = factor_params()
    X = factor_data(300, seed=2)
    resp = np.random.RandomState(3).dirichlet(np.ones(N_COMPONENTS), size=len(X))
    _, _, V, l_inv, _ = woodbury_factors(loadings, noise)
    for k, (B, u, A) in enumerate(reference_statistics(X, resp, means, loadings, noise)):
        delta = X - means[k]
        block = component_moments(delta.copy(), delta @ V[k], resp[:, k], l_inv[k])
        assert_allclose(block[:N_FEATURES, : N_FACTORS + 1], B, rtol=1e-10, atol=1e-10)
        assert_allclose(block[:N_FEATURES, N_FACTORS + 1], u, rtol=1e-10)
        assert_allclose(block[N_FEATURES:, : N_FACTORS + 1], A, rtol=1e-10, atol=1e-10)
        assert_array_equal(block[N_FEATURES:, N_FACTORS + 1], 0.0)


def test_em_step_is_the_ghahramani_hinton_update():
    """One pass + M-step equals the textbook MFA update computed with dense algebra."""
    weights, means, loadings, noise = factor_params()
    covariance, params = packed_params(weights, means, loadings, noise)
    X = factor_data(500, seed=4)
    dense = dense_of(loadings, noise)
    log_joint = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(X)
                          for w, m, c in zip(weights, means, dense)], axis=1)
    resp = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)

    kernel = estep_params(covariance, params, np.float64)
    layout = StatsLayout(N_COMPONENTS, N_FEATURES,
                         covariance.second_moment_shape(N_COMPONENTS, N_FEATURES))
    stats = layout.unpack(chunk_em_stats(X, None, kernel, layout))
    new = params_from_stats(covariance, stats, kernel.shift, kernel.centres, 1e-6,
                            np.float64, normalize_weights=True)

    for k in range(N_COMPONENTS):
        beta = loadings[k].T @ np.linalg.inv(dense[k])
        r = resp[:, k]
        Ez = (X - means[k]) @ beta.T
        Ez_tilde = np.hstack([Ez, np.ones((len(X), 1))])
        second = (Ez_tilde * r[:, None]).T @ Ez_tilde
        second[:-1, :-1] += r.sum() * (np.eye(N_FACTORS) - beta @ loadings[k])
        W = ((X * r[:, None]).T @ Ez_tilde) @ np.linalg.inv(second)
        psi = np.diag((X * r[:, None]).T @ X - W @ (Ez_tilde * r[:, None]).T @ X) / r.sum()
        assert_allclose(new.means[k], W[:, -1], rtol=1e-9)
        assert_allclose(new.covariances[k, :, :-1], W[:, :-1], rtol=1e-7, atol=1e-9)
        assert_allclose(new.covariances[k, :, -1], psi, rtol=1e-6)
    assert_allclose(new.weights, resp.mean(axis=0), rtol=1e-9)


def test_tiles_add_up(monkeypatch):
    """Statistics do not depend on the tile size."""
    import daskmix.mixture.kernels.suffstats as suffstats

    covariance, params = packed_params(*factor_params())
    X = factor_data(1500, seed=5)
    kernel = estep_params(covariance, params, np.float64)
    layout = StatsLayout(N_COMPONENTS, N_FEATURES,
                         covariance.second_moment_shape(N_COMPONENTS, N_FEATURES))
    monkeypatch.setattr(suffstats, "tile_rows", lambda n_components, n_design=1: 256)
    tiled = chunk_em_stats(X, None, kernel, layout)
    monkeypatch.setattr(suffstats, "tile_rows", lambda n_components, n_design=1: 10**6)
    assert_allclose(tiled, chunk_em_stats(X, None, kernel, layout), rtol=1e-10, atol=1e-9)


# ---- fitting -------------------------------------------------------------------
def test_one_component_reaches_the_factor_analysis_mle():
    """K=1: the converged fit's log-likelihood equals scikit-learn's FactorAnalysis."""
    X = factor_data(800, seed=6, n_components=1)
    fa = FactorAnalysis(N_FACTORS, tol=1e-10, max_iter=10_000, svd_method="lapack").fit(X)
    gm = fit(X, n_components=1, tol=1e-10, max_iter=2000, reg_covar=0.0)
    assert gm.converged_
    assert_allclose(gm.score(X), fa.score(X), rtol=1e-8)
    assert_allclose(gm.noise_variance_[0], fa.noise_variance_, rtol=1e-3)
    assert_allclose(gm.means_[0], X.mean(axis=0), rtol=1e-10)
    assert_allclose(gm.covariances_[0], fa.get_covariance(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("reg_covar", [1e-6, 0.5])
def test_lower_bounds_never_decrease(reg_covar):
    """Exact EM (reg_covar=0.5 floors some Psi: still the constrained maximiser)."""
    X = factor_data(600, seed=7)
    gm = fit(X, n_components=3, tol=0.0, max_iter=40, reg_covar=reg_covar,
             init_params="random")
    bounds = np.asarray(gm.lower_bounds_)
    assert len(bounds) == 40
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    assert bounds[-1] > bounds[0] + 1e-3
    if reg_covar == 0.5:
        assert np.any(gm.noise_variance_ == 0.5)
        assert np.all(gm.noise_variance_ >= 0.5)


def test_chunking_and_split_every_do_not_change_the_fit(chunk_layout):
    _, chunks = chunk_layout
    X = factor_data(600, seed=8)
    reference = fit(X, max_iter=15, tol=0.0, n_components=3)
    chunked = fit(as_dask(X, chunks), max_iter=15, tol=0.0, n_components=3, split_every=2)
    for name in ("weights_", "means_", "covariances_", "loadings_", "noise_variance_",
                 "precisions_"):
        assert_allclose(getattr(chunked, name), getattr(reference, name), rtol=1e-9,
                        atol=1e-11, err_msg=name)
    assert_allclose(chunked.lower_bounds_, reference.lower_bounds_, rtol=1e-12)


def test_float32_agrees_with_float64():
    X = factor_data(600, seed=9)
    start = fit(X, n_components=3, max_iter=0)
    init = dict(n_components=3, max_iter=10, tol=0.0, weights_init=start.weights_,
                means_init=start.means_, precisions_init=start.precisions_)
    gm64 = fit(X, **init)
    gm32 = fit(X.astype(np.float32), **init)
    for name in ("weights_", "means_", "covariances_", "noise_variance_", "precisions_"):
        value = getattr(gm32, name)
        assert value.dtype == np.float32, name
        assert_allclose(value, getattr(gm64, name), rtol=2e-3, atol=2e-4, err_msg=name)
    assert_allclose(gm32.lower_bounds_, gm64.lower_bounds_, rtol=1e-5)


def test_fitted_attributes_are_consistent():
    X = factor_data(600, seed=10)
    gm = fit(X, n_components=3, max_iter=20)
    loadings, noise = gm.loadings_, gm.noise_variance_
    assert loadings.shape == (3, N_FEATURES, N_FACTORS)
    assert noise.shape == (3, N_FEATURES)
    assert_allclose(gm.covariances_, dense_of(loadings, noise), rtol=1e-12)
    assert_allclose(gm.precisions_, np.linalg.inv(gm.covariances_), rtol=1e-8, atol=1e-10)
    U = gm.precisions_cholesky_
    assert_allclose(np.tril(U, -1), 0.0)
    assert_allclose(U @ np.swapaxes(U, 1, 2), gm.precisions_, rtol=1e-12, atol=1e-12)
    dense = gm._covariance.dense_covariances(gm.covariances_, 3, N_FEATURES)
    assert_allclose(dense, gm.covariances_)


def test_predict_score_sample_and_information_criteria():
    X = factor_data(600, seed=11)
    gm = fit(X, n_components=3, max_iter=30)
    densities = np.stack(
        [np.log(w) + multivariate_normal(m, c).logpdf(X)
         for w, m, c in zip(gm.weights_, gm.means_, gm.covariances_)], axis=1
    )
    expected = np.logaddexp.reduce(densities, axis=1)
    assert_allclose(gm.score_samples(X), expected, rtol=1e-10)
    assert_allclose(gm.score(X), expected.mean(), rtol=1e-10)
    proba = gm.predict_proba(X)
    assert_allclose(proba, np.exp(densities - expected[:, None]), rtol=1e-8, atol=1e-12)
    assert_array_equal(gm.predict(X), np.argmax(densities, axis=1))
    n_cov = N_FEATURES * (N_FACTORS + 1) - N_FACTORS * (N_FACTORS - 1) / 2
    n_parameters = 3 * n_cov + 3 * N_FEATURES + 2
    assert_allclose(gm.bic(X), -2 * expected.sum() + n_parameters * np.log(len(X)))
    assert_allclose(gm.aic(X), -2 * expected.sum() + 2 * n_parameters)
    samples, labels = gm.sample(4000)
    assert samples.shape == (4000, N_FEATURES)
    assert np.bincount(labels, minlength=3).sum() == 4000
    for k in range(3):
        drawn = samples[labels == k]
        assert_allclose(drawn.mean(axis=0), gm.means_[k],
                        atol=5 * np.sqrt(np.diag(gm.covariances_[k]).max() / len(drawn)))


def test_precisions_init_of_a_factor_covariance_is_kept_exactly():
    """Dense precisions_init: the start is their factor form, exact for such a matrix."""
    weights, means, loadings, _ = factor_params()
    noise = np.full((N_COMPONENTS, N_FEATURES), 0.4)   # isotropic: PPCA form is exact
    dense = dense_of(loadings, noise)
    X = factor_data(300, seed=12)
    gm = fit(X, n_components=3, max_iter=0, weights_init=weights, means_init=means,
             precisions_init=np.linalg.inv(dense))
    assert_allclose(gm.covariances_, dense, rtol=1e-9, atol=1e-9)
    assert_allclose(gm.noise_variance_, noise, rtol=1e-9)


def test_one_point_initial_components_start_with_nonzero_loadings():
    """Zero loadings are a fixed point of EM; "random_from_data" must not give them."""
    X = factor_data(300, seed=18)
    start = fit(X, n_components=3, max_iter=0, init_params="random_from_data")
    assert np.all(np.linalg.norm(start.loadings_, axis=1) > 0)
    assert np.all(start.noise_variance_ > 0)


def test_warm_start_continues_where_it_stopped():
    X = factor_data(600, seed=13)
    once = fit(X, n_components=3, max_iter=12, tol=0.0)
    twice = fit(X, n_components=3, max_iter=6, tol=0.0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        twice.fit(X)
    assert_allclose(twice.covariances_, once.covariances_, rtol=1e-10, atol=1e-12)
    assert_allclose(twice.means_, once.means_, rtol=1e-12)


def test_refitting_another_type_drops_the_factor_attributes():
    X = factor_data(300, seed=14)
    gm = fit(X, n_components=2, max_iter=5)
    assert hasattr(gm, "loadings_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.set_params(covariance_type="diag", max_iter=5).fit(X)
    assert not hasattr(gm, "loadings_") and not hasattr(gm, "noise_variance_")


# ---- bad parameters --------------------------------------------------------------
@pytest.mark.parametrize(
    "settings, match",
    [
        ({"n_factors": None}, "needs n_factors"),
        ({"n_factors": N_FEATURES}, "must be smaller than the number of features"),
        ({"n_factors": 2, "algorithm": "minibatch"}, "supports algorithm in"),
        ({"n_factors": 2, "precisions_init": np.ones((3, N_FEATURES))}, "should have the shape"),
    ],
)
def test_bad_settings_raise_clear_errors_and_leave_the_estimator_unfitted(settings, match):
    X = factor_data(100, seed=15)
    gm = GaussianMixture(3, covariance_type="factor", **settings)
    with pytest.raises(ValueError, match=match):
        gm.fit(X)
    assert not hasattr(gm, "weights_")


def test_zero_factors_is_rejected_by_the_constraint():
    with pytest.raises(InvalidParameterError, match="n_factors"):
        GaussianMixture(2, covariance_type="factor", n_factors=0).fit(factor_data(50))


def test_partial_fit_is_rejected_clearly():
    X = factor_data(200, seed=16)
    gm = GaussianMixture(2, covariance_type="factor", n_factors=2)
    with pytest.raises(ValueError, match="does not support stepwise EM"):
        gm.partial_fit(X)
    assert not hasattr(gm, "weights_")
