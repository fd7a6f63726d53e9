"""Per-chunk PCA moments, their merge, and the spectrum: pure NumPy, no dask import.

A chunk of ``n`` rows is summarised by its count, its column mean and its
*centred* scatter ``(X - mean).T @ (X - mean)``, packed into one flat float64
vector (see :class:`MomentsLayout`)::

    [n, nonfinite, mean (n_features), scatter (n_features * n_features)]

Summaries merge exactly (Chan, Golub and LeVeque's pairwise update, written
for any number of parts)::

    n       = sum_i n_i
    mean    = sum_i n_i mean_i / n
    scatter = sum_i scatter_i + sum_i n_i (mean_i - mean)(mean_i - mean).T

Every term of the merged scatter is positive semi-definite and built from
differences of means, never from raw second moments, so nothing cancels:
the result does not depend on how the rows were split or in which order the
parts were merged, beyond rounding. The same merge, with a chunk replaced by
the truncated summary ``(n_seen, mean_, V.T S**2 V)`` of an incremental PCA,
is scikit-learn's incremental (Ross et al.) update: the term between the
two means is its "mean correction" row, squared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils.extmath import svd_flip

from daskmix._errors import raise_if_nonfinite
from daskmix._kernels import PackedLayout, count_nonfinite, row_tiles

__all__ = [
    "MomentsLayout",
    "chunk_inverse_transform",
    "chunk_moments",
    "chunk_transform",
    "merge_moments",
    "merge_packed_moments",
    "moments_size",
    "scatter_spectrum",
    "unpack_moments",
]

@dataclass(frozen=True)
class MomentsLayout(PackedLayout):
    """Packing of a chunk's PCA summary.

    Parameters
    ----------
    n_features : int
    """

    n_features: int

    @property
    def fields(self):
        """Row count, non-finite count, column mean, centred scatter."""
        d = self.n_features
        return (("n", ()), ("nonfinite", ()), ("mean", (d,)), ("scatter", (d, d)))


def moments_size(n_features):
    """Length of a packed moments vector.

    Parameters
    ----------
    n_features : int

    Returns
    -------
    int
        ``2 + n_features + n_features**2``.
    """
    return MomentsLayout(n_features).size


def unpack_moments(vector, n_features):
    """Split a packed moments vector into its parts.

    Parameters
    ----------
    vector : ndarray of shape (moments_size(n_features),)
    n_features : int

    Returns
    -------
    n : float
        Number of rows.
    nonfinite : float
        Number of non-finite input values found (0 when the data are clean).
    mean : ndarray of shape (n_features,)
    scatter : ndarray of shape (n_features, n_features)
        Centred scatter, ``sum_rows (x - mean)(x - mean).T``.
    """
    fields = MomentsLayout(n_features).unpack(vector)
    return float(fields["n"]), float(fields["nonfinite"]), fields["mean"], fields["scatter"]


def chunk_moments(X, sample_weight=None, row_start=0):
    """Count, mean and centred scatter of one chunk (the reduction's chunk kernel).

    The exact chunk mean is taken first (accumulated in float64); rows are
    then centred on it, rounded to the chunk's dtype, tile by tile, and the
    scatter of each tile is one matrix product in the chunk's dtype,
    accumulated in float64. The rounding of the mean is removed exactly at
    the end (``scatter -= n r r.T`` with ``r`` the mean of the centred rows,
    which is tiny), so float32 chunks stay float32 in the products without
    a biased result.

    Non-finite values are detected from the result (a NaN or infinity makes
    its column's sum of squares non-finite), so clean data pay no extra
    pass; only a bad chunk counts its non-finite values.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Float32 or float64; may have zero rows.
    sample_weight : None
        Unused (PCA has no sample weights); part of the chunk-kernel signature.
    row_start : int, default=0
        Unused; part of the chunk-kernel signature.

    Returns
    -------
    stats : ndarray of shape (moments_size(n_features),)
        Packed ``[n, nonfinite, mean, scatter]`` in float64; all zeros for
        an empty chunk, and only ``nonfinite`` set when the chunk holds NaN
        or infinity.

    Raises
    ------
    ValueError
        If finite values are so large that their squares overflow float64.
    """
    n, d = X.shape
    layout = MomentsLayout(d)
    if n == 0:
        return layout.zeros()
    # non-finite input is reported below, from the result: no warnings here
    with np.errstate(invalid="ignore", over="ignore"):
        mean = X.mean(axis=0, dtype=np.float64)
        shift = mean.astype(X.dtype)
        scatter = np.zeros((d, d))
        residual = np.zeros(d)
        # tiles bound the centred copy while keeping the product long
        for tile in row_tiles(n):
            centred = X[tile] - shift
            scatter += centred.T @ centred
            residual += centred.sum(axis=0, dtype=np.float64)
        residual /= n
        scatter -= n * np.outer(residual, residual)
    if not (np.isfinite(np.diagonal(scatter)).all() and np.isfinite(mean).all()):
        nonfinite = count_nonfinite(X)
        if not nonfinite:
            raise ValueError(
                "The scatter of X overflows float64 (its values are finite but too "
                "large to square). Rescale X first, e.g. with "
                "sklearn.preprocessing.StandardScaler or X / abs(X).max()."
            )
        return layout.zeros(nonfinite=nonfinite)
    return layout.pack(n=n, nonfinite=0, mean=shift + residual, scatter=scatter)


def merge_moments(counts, means, scatters):
    """Merge the summaries of disjoint row sets into the summary of their union.

    Parameters
    ----------
    counts : ndarray of shape (n_parts,)
        Rows in each part; parts with 0 rows are ignored.
    means : ndarray of shape (n_parts, n_features)
    scatters : ndarray of shape (n_parts, n_features, n_features) or (n_parts, n_features)
        Centred scatters, or only their diagonals (per-feature sums of
        squared deviations).

    Returns
    -------
    n : float
    mean : ndarray of shape (n_features,)
    scatter : ndarray of shape (n_features, n_features) or (n_features,)
        About the merged mean; zeros when every part is empty.
    """
    counts = np.asarray(counts, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    scatters = np.asarray(scatters, dtype=np.float64)
    n = counts.sum()
    if n == 0:
        return 0.0, np.zeros(means.shape[1]), np.zeros(scatters.shape[1:])
    mean = counts @ means / n
    deviation = means - mean
    if scatters.ndim == 3:
        between = (deviation.T * counts) @ deviation
    else:
        between = counts @ deviation**2
    return float(n), mean, scatters.sum(axis=0) + between


def merge_packed_moments(stacked, n_features):
    """Merge a stack of packed moments vectors (the reduction's combine step).

    Parameters
    ----------
    stacked : ndarray of shape (n_parts, moments_size(n_features))
    n_features : int

    Returns
    -------
    ndarray of shape (moments_size(n_features),)
        The packed summary of all parts; ``nonfinite`` is summed.
    """
    layout = MomentsLayout(n_features)
    parts = layout.views(stacked)
    n, mean, scatter = merge_moments(parts["n"], parts["mean"], parts["scatter"])
    return layout.pack(n=n, nonfinite=parts["nonfinite"].sum(), mean=mean, scatter=scatter)


def scatter_spectrum(scatter, n_rows):
    """Singular values and right singular vectors of any ``A`` with ``A.T @ A = scatter``.

    The eigen-decomposition of the (symmetric, positive semi-definite)
    scatter gives what an SVD of ``A`` would: ``S = sqrt(eigenvalues)`` in
    decreasing order and ``Vt = eigenvectors.T``, keeping the
    ``min(n_rows, n_features)`` values an SVD of an ``n_rows``-row matrix
    returns. Signs follow scikit-learn's ``svd_flip(u_based_decision=False)``
    (the largest entry of each component is positive). Rounding can make
    the smallest eigenvalues slightly negative; they are clipped to 0.

    Parameters
    ----------
    scatter : ndarray of shape (n_features, n_features)
    n_rows : int
        Rows of the matrix the scatter stands for.

    Returns
    -------
    S : ndarray of shape (min(n_rows, n_features),)
    Vt : ndarray of shape (min(n_rows, n_features), n_features)
    """
    eigenvalues, eigenvectors = np.linalg.eigh(scatter)
    keep = min(int(n_rows), scatter.shape[0])
    eigenvalues = eigenvalues[::-1][:keep]
    Vt = eigenvectors[:, ::-1][:, :keep].T
    _, Vt = svd_flip(None, Vt, u_based_decision=False)
    return np.sqrt(np.maximum(eigenvalues, 0.0)), Vt


def chunk_transform(X, components, mean_projection, scale):
    """Project one chunk on the principal components.

    Computes ``(X @ components.T - mean_projection) / scale`` without a
    centred copy of the chunk.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    components : ndarray of shape (n_components, n_features)
        In the chunk's dtype.
    mean_projection : ndarray of shape (n_components,)
        ``mean_ @ components.T``.
    scale : ndarray of shape (n_components,) or None
        Standard deviation of each component when whitening.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
        In the chunk's dtype.

    Raises
    ------
    ValueError
        If the chunk holds NaN or infinity (raised when the task runs).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        out = X @ components.T
        out -= mean_projection
        if scale is not None:
            out /= scale
    if not np.isfinite(out).all():
        raise_if_nonfinite(count_nonfinite(X))
    return out


def chunk_inverse_transform(Y, loadings, mean):
    """Map one chunk of projections back to the feature space.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_components)
    loadings : ndarray of shape (n_components, n_features)
        ``components_``, times ``sqrt(explained_variance_)`` row-wise when
        whitening.
    mean : ndarray of shape (n_features,)

    Returns
    -------
    ndarray of shape (n_samples, n_features)
    """
    out = Y @ loadings
    out += mean
    return out
