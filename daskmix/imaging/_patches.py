"""Patch geometry: the DCT basis, patch extraction, overlap averaging. Pure NumPy.

A patch is a ``p x p`` window of the image, flattened row by row into a
vector of ``d = p * p`` values. Patches are taken at every pixel offset
(stride 1) when denoising and on a coarser grid when fitting. An orthonormal
2-D DCT splits a patch into its mean (the DC coefficient) and ``d - 1`` AC
coefficients; being orthonormal, it keeps white noise white with the same
variance, so the noise model of the AC coefficients is exactly
``sigma**2 * I``.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "ac_basis",
    "aggregate_band",
    "coverage",
    "patch_band",
    "sample_patches",
    "spread_weights",
]


@functools.lru_cache(maxsize=8)
def ac_basis(patch_size):
    """The AC rows of the orthonormal 2-D DCT-II of a ``p x p`` patch.

    Parameters
    ----------
    patch_size : int
        ``p``.

    Returns
    -------
    ndarray of shape (p * p - 1, p * p), float64
        Orthonormal rows, each orthogonal to the constant patch; with the
        constant row ``1 / p`` they form an orthonormal basis.
    """
    p = patch_size
    k = np.arange(p)[:, None]
    n = np.arange(p)[None, :]
    dct = np.cos(np.pi * (2 * n + 1) * k / (2 * p)) * np.sqrt(2.0 / p)
    dct[0] /= np.sqrt(2.0)
    basis = np.kron(dct, dct)
    basis.setflags(write=False)
    return basis[1:]


def sample_patches(windows, patch_size, stride, n_patches, rng):
    """Up to ``n_patches`` patches drawn without replacement from the stride grids of ``windows``.

    Every patch whose top-left corner lies on a window's grid of step
    ``stride`` is equally likely; all of them when they are fewer than
    ``n_patches``.

    Parameters
    ----------
    windows : list of ndarray of shape (h, w)
        Each at least ``patch_size`` on both sides.
    patch_size, stride, n_patches : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (min(n_patches, n_candidates), patch_size ** 2)
        In the windows' dtype, in window and row-major corner order.
    """
    views = [sliding_window_view(w, (patch_size, patch_size))[::stride, ::stride]
             for w in windows]
    counts = np.array([v.shape[0] * v.shape[1] for v in views])
    total = int(counts.sum())
    if total <= n_patches:
        return np.concatenate([v.reshape(-1, patch_size * patch_size) for v in views])
    chosen = np.sort(rng.choice(total, size=n_patches, replace=False))
    edges = np.concatenate([[0], np.cumsum(counts)])
    parts = []
    for view, start, stop in zip(views, edges[:-1], edges[1:]):
        local = chosen[(chosen >= start) & (chosen < stop)] - start
        rows, cols = np.divmod(local, view.shape[1])
        parts.append(view[rows, cols].reshape(-1, patch_size * patch_size))
    return np.concatenate(parts)


def patch_band(image, patch_size, row_start, row_stop):
    """All patches whose top rows are ``row_start`` to ``row_stop - 1``.

    Parameters
    ----------
    image : ndarray of shape (H, W)
    patch_size : int
    row_start, row_stop : int
        Rows of patch corners, ``0 <= row_start < row_stop <= H - patch_size + 1``.

    Returns
    -------
    ndarray of shape ((row_stop - row_start) * (W - patch_size + 1), patch_size ** 2)
        A contiguous copy, row-major over corners.
    """
    band = image[row_start : row_stop + patch_size - 1]
    windows = sliding_window_view(band, (patch_size, patch_size))
    return np.ascontiguousarray(windows).reshape(-1, patch_size * patch_size)


def aggregate_band(out, estimates, patch_size, row_start):
    """Add patch estimates of one band into ``out`` where their patches lie.

    Parameters
    ----------
    out : ndarray of shape (H, W)
        Sums of overlapping estimates; updated in place.
    estimates : ndarray of shape (n_rows * (W - patch_size + 1), patch_size ** 2)
        Estimates of the patches :func:`patch_band` returned for the same rows.
    patch_size : int
    row_start : int
    """
    p = patch_size
    n_cols = out.shape[1] - p + 1
    est = estimates.reshape(-1, n_cols, p, p)
    n_rows = est.shape[0]
    for i in range(p):
        rows = out[row_start + i : row_start + i + n_rows]
        for j in range(p):
            rows[:, j : j + n_cols] += est[:, :, i, j]


def spread_weights(total, weights, patch_size, row_start):
    """Add each patch's weight to every pixel of the patch.

    Parameters
    ----------
    total : ndarray of shape (H, W)
        Sums of weights; updated in place.
    weights : ndarray of shape (n_rows, W - patch_size + 1)
        One weight per patch corner of rows ``row_start`` to ``row_start + n_rows - 1``.
    patch_size : int
    row_start : int
    """
    n_rows, n_cols = weights.shape
    # a box sum: first along columns, then along rows
    by_cols = np.zeros((n_rows, n_cols + patch_size - 1), dtype=total.dtype)
    for j in range(patch_size):
        by_cols[:, j : j + n_cols] += weights
    for i in range(patch_size):
        total[row_start + i : row_start + i + n_rows] += by_cols


def coverage(length, patch_size):
    """How many stride-1 patches cover each pixel of a line of ``length`` pixels.

    Parameters
    ----------
    length : int
        At least ``patch_size``.
    patch_size : int

    Returns
    -------
    ndarray of shape (length,), float64
        The 2-D count is the outer product of the row and column counts.
    """
    idx = np.arange(length)
    first = np.maximum(idx - patch_size + 1, 0)
    last = np.minimum(idx, length - patch_size)
    return (last - first + 1).astype(np.float64)
