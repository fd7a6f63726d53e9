"""Noise level from the finest diagonal wavelet coefficients (Donoho's MAD estimator)."""

from __future__ import annotations

import numpy as np

__all__ = ["estimate_sigma", "haar_diagonal"]

#: the median of |N(0, 1)|: MAD / this is sigma for Gaussian coefficients
_MAD_NORMAL = 0.6744897501960817

#: fewer coefficients than this give no usable median
_MIN_COEFFICIENTS = 16


def haar_diagonal(image):
    """The finest diagonal (HH) coefficients of the orthonormal Haar transform.

    Parameters
    ----------
    image : ndarray of shape (H, W)

    Returns
    -------
    ndarray of shape (H // 2 * W // 2,), float64
        ``(a - b - c + d) / 2`` over the 2 x 2 blocks ``[[a, b], [c, d]]``:
        white noise of variance ``sigma**2`` gives coefficients of the same
        variance, and smooth image content gives nearly none.
    """
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    x = np.asarray(image[:h, :w], dtype=np.float64)
    return ((x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2).ravel()


def estimate_sigma(images):
    """Noise standard deviation: ``median(|HH|) / 0.6745`` over the images' Haar coefficients.

    Parameters
    ----------
    images : list of ndarray of shape (H_i, W_i)
        The image, or tiles of it (coefficients are pooled).

    Returns
    -------
    float or None
        None when the estimate is impossible: fewer than 16 coefficients, or a
        median of zero (a noiseless piecewise-constant image).
    """
    coefficients = np.concatenate([haar_diagonal(im) for im in images])
    if coefficients.size < _MIN_COEFFICIENTS:
        return None
    sigma = float(np.median(np.abs(coefficients))) / _MAD_NORMAL
    return sigma if sigma > 0 else None
