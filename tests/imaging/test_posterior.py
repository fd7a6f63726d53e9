"""Posterior means of patches against a dense NumPy reference, and the patch geometry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.fft import dctn
from scipy.stats import multivariate_normal

from daskmix.imaging._patches import ac_basis, aggregate_band, coverage, patch_band
from daskmix.imaging._posterior import denoise_image, posterior_means
from daskmix.imaging._prior import fit_patch_prior

PATCH = 4


def _fit(covariance_type, noisy_patches):
    options = {"n_factors": 3, "algorithm": "truncated"} if covariance_type == "factor" else {
        "n_factors": None, "algorithm": "em"}
    return fit_patch_prior(
        noisy_patches, PATCH, n_components=4, covariance_type=covariance_type,
        n_active=2, max_iter=10, tol=1e-3, reg_covar=1e-3, random_state=0, **options,
    )


def _noisy_patches(n, seed=0):
    """Patches of a mixture of two textures plus unit noise (noise units)."""
    rng = np.random.default_rng(seed)
    grid = np.add.outer(np.arange(PATCH), np.arange(PATCH)).ravel()
    clean = np.where(rng.random((n, 1)) < 0.5, 3 * np.sin(grid)[None], 2.0 * (grid[None] % 2))
    clean = clean * rng.normal(1, 0.3, (n, 1)) + rng.normal(0, 2, (n, 1))
    return (clean + rng.standard_normal(clean.shape)).astype(np.float32)


def test_ac_basis_is_the_orthonormal_dct_without_its_constant_row():
    patches = np.random.default_rng(1).standard_normal((5, PATCH * PATCH))
    reference = dctn(patches.reshape(5, PATCH, PATCH), norm="ortho", axes=(1, 2))
    np.testing.assert_allclose(patches @ ac_basis(PATCH).T,
                               reference.reshape(5, -1)[:, 1:], atol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "factor"])
def test_posterior_mean_matches_dense_reference(covariance_type):
    prior, mixture = _fit(covariance_type, _noisy_patches(2000))
    patches = _noisy_patches(300, seed=1)
    estimates, labels = posterior_means(patches, prior)

    # dense reference: clean covariance = fitted - I, clipped to PSD by eigenvalues
    basis = ac_basis(PATCH)
    y = patches.astype(np.float64) @ basis.T
    fitted = np.asarray(mixture.covariances_, dtype=np.float64)
    values, vectors = np.linalg.eigh(fitted - np.eye(y.shape[1]))
    clean_cov = [v @ np.diag(np.maximum(w, 0)) @ v.T for w, v in zip(values, vectors)]
    log_post = np.column_stack([
        np.log(mixture.weights_[k])
        + multivariate_normal(mixture.means_[k], c + np.eye(y.shape[1])).logpdf(y)
        for k, c in enumerate(clean_cov)
    ])
    expected_labels = log_post.argmax(axis=1)
    np.testing.assert_array_equal(labels, expected_labels)
    expected = np.empty_like(y)
    for n, k in enumerate(expected_labels):
        mu, c = mixture.means_[k], clean_cov[k]
        expected[n] = mu + c @ np.linalg.solve(c + np.eye(len(mu)), y[n] - mu)
    expected_patches = expected @ basis + patches.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(estimates, expected_patches, atol=2e-4 * np.abs(patches).max())


def test_overlap_average_of_identity_estimates_is_the_image():
    image = np.random.default_rng(2).standard_normal((11, 9)).astype(np.float32)
    out = np.zeros_like(image)
    aggregate_band(out, patch_band(image, PATCH, 0, 11 - PATCH + 1), PATCH, 0)
    np.testing.assert_allclose(out / np.outer(coverage(11, PATCH), coverage(9, PATCH)),
                               image, rtol=1e-6)


def test_coverage_counts_the_patches_over_each_pixel():
    counts = np.zeros(10)
    for start in range(10 - PATCH + 1):
        counts[start:start + PATCH] += 1
    np.testing.assert_array_equal(coverage(10, PATCH), counts)


def test_denoise_image_is_the_weighted_average_of_each_pixels_patch_estimates():
    prior, _ = _fit("full", _noisy_patches(2000))
    image = np.random.default_rng(3).standard_normal((10, 13)).astype(np.float32) * 3
    out = denoise_image(image, prior)
    sums, counts = np.zeros(image.shape), np.zeros(image.shape)
    for i in range(10 - PATCH + 1):
        for j in range(13 - PATCH + 1):
            patch = image[i:i + PATCH, j:j + PATCH].reshape(1, -1)
            est, (label,) = posterior_means(patch, prior)
            # the inverse of the estimate's posterior variance (noise units; the
            # patch mean's variance is the 1)
            gain = np.eye(len(prior.means[label])) - np.linalg.inv(
                prior.clean_covariances[label] + np.eye(len(prior.means[label])))
            weight = 1 / (1 + np.trace(gain))
            sums[i:i + PATCH, j:j + PATCH] += weight * est.reshape(PATCH, PATCH)
            counts[i:i + PATCH, j:j + PATCH] += weight
    np.testing.assert_allclose(out, sums / counts, atol=1e-4)


def _dense_labels(patches, prior):
    """Every component's score, whatever the prior's search."""
    from dataclasses import replace

    from daskmix.imaging._posterior import assign_components

    return assign_components(patches, replace(prior, search=None))


def test_truncated_search_equals_dense_scores_when_it_covers_every_component():
    # K <= n_neighbors: every row's search space holds all components
    prior, _ = fit_patch_prior(
        _noisy_patches(2000), PATCH, n_components=6, covariance_type="full", n_factors=None,
        algorithm="truncated", n_active=2, max_iter=10, tol=1e-3, reg_covar=1e-3,
        random_state=0,
    )
    assert prior.search is not None
    patches = _noisy_patches(500, seed=2)
    _, labels = posterior_means(patches, prior)
    np.testing.assert_array_equal(labels, _dense_labels(patches, prior))


def test_truncated_search_assigns_like_the_dense_scores_with_many_components():
    # K = 40 > n_neighbors = 15: each patch sees a fraction of the components
    patches = _noisy_patches(6000)
    prior, _ = fit_patch_prior(
        patches, PATCH, n_components=40, covariance_type="full", n_factors=None,
        algorithm="truncated", n_active=3, max_iter=5, tol=1e-3, reg_covar=1e-3,
        random_state=0,
    )
    test = _noisy_patches(2000, seed=3)
    labels = posterior_means(test, prior)[1]
    dense = _dense_labels(test, prior)
    assert np.mean(labels == dense) > 0.95
    # where they differ, the search's pick scores almost as well
    scores = _scores(test, prior)
    rows = np.arange(len(test))
    assert np.all(scores[rows, labels] >= scores[rows, dense] - 2.0)


def _scores(patches, prior):
    """log pi_k + log N(y | mu_k, C_k + I) up to a shared constant, as the dense path computes them."""
    z = patches @ prior.whiten - prior.whiten_offset
    return prior.log_norm - 0.5 * (z * z) @ prior.block_sum


def test_sample_patches_draws_distinct_grid_patches_of_every_window():
    from numpy.lib.stride_tricks import sliding_window_view

    from daskmix.imaging._patches import sample_patches

    # pixel values identify their position, so a patch identifies its corner
    windows = [np.arange(30 * 40, dtype=np.float32).reshape(30, 40),
               10_000 + np.arange(20 * 25, dtype=np.float32).reshape(20, 25)]
    stride = 2
    everything = np.concatenate([
        sliding_window_view(w, (PATCH, PATCH))[::stride, ::stride].reshape(-1, PATCH * PATCH)
        for w in windows])
    np.testing.assert_array_equal(
        sample_patches(windows, PATCH, stride, 10**6, np.random.default_rng(0)), everything)
    drawn = sample_patches(windows, PATCH, stride, 150, np.random.default_rng(0))
    assert drawn.shape == (150, PATCH * PATCH)
    corners = drawn[:, 0]
    assert len(np.unique(corners)) == 150
    assert set(corners) <= set(everything[:, 0])
    # both windows contribute about in proportion to their grids (13 x 19, 9 x 11)
    from_second = np.mean(corners >= 10_000)
    assert 0.15 < from_second < 0.45
    again = sample_patches(windows, PATCH, stride, 150, np.random.default_rng(0))
    np.testing.assert_array_equal(again, drawn)
