"""Posterior means of clean patches and their overlap average. Pure NumPy, BLAS-shaped.

For a block of patches the work is two matrix products: one against all
components' whitening maps (the assignment: each patch goes to the component
of highest posterior probability) and one per component against its Wiener
filter (the exact posterior mean under that component). Patches are taken a
band of rows at a time, so memory stays at a few megabytes per band whatever
the image size.
"""

from __future__ import annotations

import numpy as np

from daskmix.imaging._patches import aggregate_band, patch_band, spread_weights
from daskmix.mixture.kernels.truncated_inference import search_rows

__all__ = ["assign_components", "denoise_image", "posterior_means"]

#: patches per band: the whitened scores of one band take
#: ``_BAND_PATCHES * K * (d - 1) * 4`` bytes (4 MB for K = 16, d = 64)
_BAND_PATCHES = 1024


def assign_components(patches, prior):
    """The most probable component of each noisy patch.

    By every component's score (two matrix products), or, when the prior
    carries the mixture's truncated search, by the best component of each
    patch's search space (``O(n_active * n_neighbors)`` components a patch,
    whatever ``K``).

    Parameters
    ----------
    patches : ndarray of shape (n, d), float32
        Noisy patches in noise units.
    prior : PatchPrior

    Returns
    -------
    ndarray of shape (n,), intp
    """
    if prior.search is not None:
        coefficients = patches @ prior.ac_basis_t
        return search_rows(coefficients, prior.search)[0][:, 0].astype(np.intp)
    z = patches @ prior.whiten
    z -= prior.whiten_offset
    z *= z
    # squared norms of the K blocks of z, as one more matrix product
    sq = z @ prior.block_sum
    return np.argmax(prior.log_norm.astype(np.float32) - 0.5 * sq, axis=1)


def posterior_means(patches, prior):
    """Each patch's posterior mean under its most probable component.

    Parameters
    ----------
    patches : ndarray of shape (n, d), float32
        Noisy patches in noise units.
    prior : PatchPrior

    Returns
    -------
    estimates : ndarray of shape (n, d), float32
    labels : ndarray of shape (n,), intp
    """
    labels = assign_components(patches, prior)
    estimates = np.empty_like(patches)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(prior.n_components + 1))
    for k in range(prior.n_components):
        rows = order[bounds[k] : bounds[k + 1]]
        if rows.size:
            estimates[rows] = patches[rows] @ prior.filters[k] + prior.shifts[k]
    return estimates, labels


def denoise_image(image, prior):
    """Replace every patch by its posterior mean and average the overlaps.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        Noisy image in noise units; ``H, W >= patch_size``.
    prior : PatchPrior

    Returns
    -------
    ndarray of shape (H, W), float32
    """
    p = prior.patch_size
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape
    n_rows = height - p + 1
    band_rows = max(1, _BAND_PATCHES // (width - p + 1))
    out = np.zeros(image.shape, dtype=np.float32)
    total = np.zeros(image.shape, dtype=np.float32)
    n_cols = width - p + 1
    for start in range(0, n_rows, band_rows):
        stop = min(start + band_rows, n_rows)
        estimates, labels = posterior_means(patch_band(image, p, start, stop), prior)
        weights = prior.patch_weights[labels]
        estimates *= weights[:, None]
        aggregate_band(out, estimates, p, start)
        spread_weights(total, weights.reshape(-1, n_cols), p, start)
    out /= total
    return out
