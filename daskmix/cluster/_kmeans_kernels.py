"""Per-chunk k-means kernels: nearest-centre assignment and partial sums.

Pure NumPy. Squared distances use the GEMM expansion
``|x|^2 - 2 x.c + |c|^2``; only the argmin and the minimum are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rows per tile: keeps the (rows, n_clusters) temporaries small.
TILE_ROWS = 4096

__all__ = ["nearest_centre", "chunk_lloyd_stats", "lloyd_stats_size", "unpack_lloyd", "OneHotNearest"]


def nearest_centre(X, centres):
    """Index of, and squared distance to, the nearest centre of every row.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centres : ndarray of shape (n_clusters, n_features)

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64
    sq_dist : ndarray of shape (n_samples,), float64
    """
    centres = centres.astype(X.dtype, copy=False)
    d2 = X @ centres.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", centres, centres)
    labels = np.argmin(d2, axis=1)
    best = d2[np.arange(len(X)), labels].astype(np.float64)
    best += np.einsum("ij,ij->i", X, X, dtype=np.float64)
    return labels, np.maximum(best, 0.0)


def lloyd_stats_size(n_clusters, n_features):
    """Length of the packed Lloyd statistics vector."""
    return n_clusters + n_clusters * n_features + 2


def chunk_lloyd_stats(X, sample_weight, centres, check_finite=False, row_start=0):
    """Counts, sums and inertia of one chunk for a Lloyd update.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None
    centres : ndarray of shape (n_clusters, n_features)
    check_finite : bool, default=False
    row_start : int, default=0
        Unused; part of the chunk-kernel signature.

    Returns
    -------
    stats : ndarray of shape (lloyd_stats_size(n_clusters, n_features),)
        ``[counts (k), sums (k*d), inertia, nonfinite]``.
    """
    n_clusters, n_features = centres.shape
    out = np.zeros(lloyd_stats_size(n_clusters, n_features))
    if check_finite and not np.isfinite(X).all():
        out[-1] = np.count_nonzero(~np.isfinite(X))
        return out
    sums = np.zeros((n_clusters, n_features))
    for start in range(0, len(X), TILE_ROWS):
        tile = slice(start, start + TILE_ROWS)
        labels, sq_dist = nearest_centre(X[tile], centres)
        w = (np.ones(len(labels)) if sample_weight is None
             else sample_weight[tile, 0].astype(np.float64))
        onehot = np.zeros((n_clusters, len(labels)), dtype=X.dtype)
        onehot[labels, np.arange(len(labels))] = w
        out[:n_clusters] += np.bincount(labels, weights=w, minlength=n_clusters)
        sums += onehot @ X[tile]
        out[-2] += float(w @ sq_dist)
    out[n_clusters:-2] = sums.ravel()
    return out


def unpack_lloyd(stats, n_clusters, n_features):
    """Split packed Lloyd statistics into counts, sums, inertia and nonfinite."""
    counts = stats[:n_clusters]
    sums = stats[n_clusters:-2].reshape(n_clusters, n_features)
    return counts, sums, float(stats[-2]), float(stats[-1])


@dataclass(frozen=True, eq=False)
class OneHotNearest:
    """Responsibilities that put each row on its nearest centre.

    Parameters
    ----------
    centres : ndarray of shape (n_clusters, n_features)
    """

    centres: np.ndarray

    def __call__(self, X, row_start):
        labels, _ = nearest_centre(X, self.centres)
        resp = np.zeros((len(X), len(self.centres)), dtype=X.dtype)
        resp[np.arange(len(X)), labels] = 1
        return resp

    def __dask_tokenize__(self):
        return ("daskmix-onehot-nearest", self.centres)
