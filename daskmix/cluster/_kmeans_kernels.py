"""Per-chunk k-means kernels: nearest-centre assignment, partial sums, seeding.

Pure NumPy, no dask import. Squared distances use the GEMM expansion
``|x|^2 - 2 x.c + |c|^2``, with the matrix product in the data's dtype (so
float32 stays float32) and the row norms in float64. Chunks are processed in
tiles of ``TILE_ROWS`` rows, so the (rows, n_clusters) temporaries stay
small whatever the chunk size.

Two families of chunk kernels follow ``daskmix._dask.graph.reduce_blocks``'s
signature ``kernel(X, sample_weight, row_start=..., **params) -> (size,)``:

* additive statistics: :func:`chunk_lloyd_stats` (counts, sums, inertia) and
  :func:`chunk_nearest_stats` (weight nearest each centre, inertia);
* k-means|| draws: :func:`chunk_first_centre` and :func:`chunk_candidates`
  keep the rows with the largest random keys, merged by :func:`merge_top_rows`
  (see :class:`TopRowsLayout`).

Row-wise kernels (:func:`chunk_labels`, :func:`chunk_distances`) serve
``predict`` and ``transform``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskmix._errors import raise_if_nonfinite
from daskmix._random import counter_uniform

#: Rows per tile: keeps the (rows, n_clusters) temporaries small.
TILE_ROWS = 4096

__all__ = [
    "TILE_ROWS",
    "row_tiles",
    "nearest_centre",
    "squared_distances",
    "chunk_lloyd_stats",
    "lloyd_stats_size",
    "unpack_lloyd",
    "OneHotNearest",
    "nearest_stats_size",
    "chunk_nearest_stats",
    "unpack_nearest",
    "chunk_labels",
    "chunk_distances",
    "TopRowsLayout",
    "merge_top_rows",
    "chunk_first_centre",
    "chunk_candidates",
]


def row_tiles(n_rows, tile_rows=TILE_ROWS):
    """Consecutive row slices of at most ``tile_rows`` rows.

    Parameters
    ----------
    n_rows : int
    tile_rows : int, default=TILE_ROWS

    Yields
    ------
    slice
    """
    for start in range(0, n_rows, tile_rows):
        yield slice(start, min(start + tile_rows, n_rows))


def _centre_terms(X, centres):
    """``|c|^2 - 2 x.c`` for every row and centre, in ``X``'s dtype.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centres : ndarray of shape (n_clusters, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_clusters)
        The squared distances minus each row's ``|x|^2``.
    """
    centres = centres.astype(X.dtype, copy=False)
    d2 = X @ centres.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", centres, centres)
    return d2


def _row_norms(X):
    """Squared norm of every row, accumulated in float64.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples,), float64
    """
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


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
    d2 = _centre_terms(X, centres)
    labels = np.argmin(d2, axis=1)
    best = d2[np.arange(len(X)), labels].astype(np.float64)
    best += _row_norms(X)
    return labels, np.maximum(best, 0.0)


def squared_distances(X, centres):
    """Squared Euclidean distance of every row to every centre.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centres : ndarray of shape (n_clusters, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_clusters), float64
        Clipped at zero (the expansion can round slightly below).
    """
    d2 = _centre_terms(X, centres).astype(np.float64)
    d2 += _row_norms(X)[:, None]
    return np.maximum(d2, 0.0, out=d2)


def _count_nonfinite(X):
    """Number of NaN or infinite values in ``X`` (one cheap pass when it is clean).

    Parameters
    ----------
    X : ndarray

    Returns
    -------
    int
    """
    if np.isfinite(X).all():
        return 0
    return int(np.count_nonzero(~np.isfinite(X)))


def _weights(sample_weight, tile, n_rows):
    """Float64 weights of the rows ``tile``: ones when ``sample_weight`` is None.

    Parameters
    ----------
    sample_weight : ndarray of shape (n_samples, 1) or None
    tile : slice
    n_rows : int
        Rows in the tile.

    Returns
    -------
    ndarray of shape (n_rows,), float64
    """
    if sample_weight is None:
        return np.ones(n_rows)
    return sample_weight[tile, 0].astype(np.float64)


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
    if check_finite:
        out[-1] = _count_nonfinite(X)
        if out[-1]:
            return out
    sums = np.zeros((n_clusters, n_features))
    for tile in row_tiles(len(X)):
        labels, sq_dist = nearest_centre(X[tile], centres)
        w = _weights(sample_weight, tile, len(labels))
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


# ---- nearest-centre statistics and row-wise outputs --------------------------


def nearest_stats_size(n_centres):
    """Length of the packed vector of :func:`chunk_nearest_stats`.

    Parameters
    ----------
    n_centres : int

    Returns
    -------
    int
        ``n_centres + 2``.
    """
    return n_centres + 2


def chunk_nearest_stats(X, sample_weight, centres, check_finite=False, row_start=0):
    """Weight of the rows nearest each centre, and the inertia, of one chunk.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None
    centres : ndarray of shape (n_centres, n_features)
    check_finite : bool, default=False
        Count non-finite values first (and return only that count if any).
    row_start : int, default=0
        Unused; part of the chunk-kernel signature.

    Returns
    -------
    stats : ndarray of shape (nearest_stats_size(n_centres),)
        ``[weights (n_centres), inertia, nonfinite]``; the inertia is
        ``sum_i w_i min_c |x_i - c|^2``.
    """
    n_centres = len(centres)
    out = np.zeros(nearest_stats_size(n_centres))
    if check_finite:
        out[-1] = _count_nonfinite(X)
        if out[-1]:
            return out
    for tile in row_tiles(len(X)):
        labels, sq_dist = nearest_centre(X[tile], centres)
        w = _weights(sample_weight, tile, len(labels))
        out[:n_centres] += np.bincount(labels, weights=w, minlength=n_centres)
        out[-2] += float(w @ sq_dist)
    return out


def unpack_nearest(stats, n_centres):
    """Split the vector of :func:`chunk_nearest_stats`.

    Parameters
    ----------
    stats : ndarray of shape (nearest_stats_size(n_centres),)
    n_centres : int

    Returns
    -------
    weights : ndarray of shape (n_centres,)
    inertia : float
    nonfinite : float
    """
    return stats[:n_centres], float(stats[-2]), float(stats[-1])


def chunk_labels(X, centres):
    """Index of the nearest centre of every row of one chunk (``predict``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centres : ndarray of shape (n_clusters, n_features)

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
        int32 as scikit-learn's k-means labels.

    Raises
    ------
    ValueError
        If the chunk holds NaN or infinity (raised when the task runs).
    """
    raise_if_nonfinite(_count_nonfinite(X))
    labels = np.empty(len(X), dtype=np.int32)
    for tile in row_tiles(len(X)):
        labels[tile] = np.argmin(_centre_terms(X[tile], centres), axis=1)
    return labels


def chunk_distances(X, centres):
    """Euclidean distance of every row of one chunk to every centre (``transform``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centres : ndarray of shape (n_clusters, n_features)

    Returns
    -------
    distances : ndarray of shape (n_samples, n_clusters), dtype of ``X``

    Raises
    ------
    ValueError
        If the chunk holds NaN or infinity (raised when the task runs).
    """
    raise_if_nonfinite(_count_nonfinite(X))
    out = np.empty((len(X), len(centres)), dtype=X.dtype)
    for tile in row_tiles(len(X)):
        out[tile] = np.sqrt(squared_distances(X[tile], centres))
    return out


# ---- k-means|| draws: the rows with the largest random keys ------------------

#: Leading sums of a packed top-rows vector: cost, weight, non-finite count.
_N_SUMS = 3


@dataclass(frozen=True)
class TopRowsLayout:
    """Packing of a k-means|| pass: three sums and the rows with the largest keys.

    The vector reads ``[cost, weight, nonfinite, keys (n_keep),
    global row index (n_keep), rows (n_keep * n_features)]``, rows sorted by
    decreasing key (ties: smaller row index first). Unused slots have key
    ``-inf`` and index ``-1``. The sums add up across chunks, and the top
    rows of a union are the top rows of the chunks' top rows, so
    :func:`merge_top_rows` is an exact, associative merge whatever the
    chunking.

    Parameters
    ----------
    n_keep : int
        Rows kept.
    n_features : int
    """

    n_keep: int
    n_features: int

    @property
    def size(self):
        """Length of the packed vector."""
        return _N_SUMS + self.n_keep * (2 + self.n_features)

    def pack(self, cost, weight, nonfinite, keys, index, rows):
        """Pack the sums and the ``n_keep`` rows with the largest keys.

        Parameters
        ----------
        cost, weight, nonfinite : float
        keys : ndarray of shape (n,)
        index : ndarray of shape (n,)
            Global row indices.
        rows : ndarray of shape (n, n_features)

        Returns
        -------
        ndarray of shape (size,), float64
        """
        m, d = self.n_keep, self.n_features
        out = np.zeros(self.size)
        out[:_N_SUMS] = cost, weight, nonfinite
        out[_N_SUMS:_N_SUMS + m] = -np.inf
        out[_N_SUMS + m:_N_SUMS + 2 * m] = -1
        if len(keys):
            if len(keys) > m:
                part = np.argpartition(-keys, m - 1)[:m]
            else:
                part = np.arange(len(keys))
            top = part[np.lexsort((index[part], -keys[part]))]
            n_top = len(top)
            out[_N_SUMS:_N_SUMS + n_top] = keys[top]
            out[_N_SUMS + m:_N_SUMS + m + n_top] = index[top]
            out[_N_SUMS + 2 * m:].reshape(m, d)[:n_top] = rows[top]
        return out

    def unpack(self, vector):
        """Split a packed vector.

        Parameters
        ----------
        vector : ndarray of shape (size,)

        Returns
        -------
        dict
            ``cost``, ``weight``, ``nonfinite`` (floats); ``keys`` (n_used,),
            ``index`` (n_used,) int64 and ``rows`` (n_used, n_features) of the
            used slots, by decreasing key.
        """
        m, d = self.n_keep, self.n_features
        keys = vector[_N_SUMS:_N_SUMS + m]
        index = vector[_N_SUMS + m:_N_SUMS + 2 * m]
        rows = vector[_N_SUMS + 2 * m:].reshape(m, d)
        used = index >= 0
        return {
            "cost": float(vector[0]),
            "weight": float(vector[1]),
            "nonfinite": float(vector[2]),
            "keys": keys[used],
            "index": index[used].astype(np.int64),
            "rows": rows[used],
        }


def merge_top_rows(stacked, layout):
    """Merge packed top-rows vectors: sums add, the largest keys of all are kept.

    Parameters
    ----------
    stacked : ndarray of shape (m, layout.size)
    layout : TopRowsLayout

    Returns
    -------
    ndarray of shape (layout.size,)
    """
    m, d = layout.n_keep, layout.n_features
    sums = stacked[:, :_N_SUMS].sum(axis=0)
    keys = stacked[:, _N_SUMS:_N_SUMS + m].ravel()
    index = stacked[:, _N_SUMS + m:_N_SUMS + 2 * m].ravel()
    rows = stacked[:, _N_SUMS + 2 * m:].reshape(-1, d)
    used = index >= 0
    return layout.pack(*sums, keys[used], index[used], rows[used])


def _chunk_weight(X, sample_weight):
    """Total weight of a chunk (its row count when unweighted).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None

    Returns
    -------
    float
    """
    return float(len(X)) if sample_weight is None else float(sample_weight.sum())


def chunk_first_centre(X, sample_weight, layout, seed, check_finite=False, row_start=0):
    """Draw k-means||'s first centre: the row with the largest key ``log(u) / w``.

    With ``u`` uniform per global row (``counter_uniform``), the row with the
    largest ``log(u) / w`` is drawn with probability proportional to its
    weight (Efraimidis and Spirakis, 2006), whatever the chunking. The pass
    also counts non-finite values and sums the weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None
    layout : TopRowsLayout
        ``n_keep=1`` for one centre.
    seed : int
    check_finite : bool, default=False
    row_start : int, default=0
        Global index of the chunk's first row.

    Returns
    -------
    ndarray of shape (layout.size,)
    """
    weight = _chunk_weight(X, sample_weight)
    nonfinite = _count_nonfinite(X) if check_finite else 0
    index = np.arange(row_start, row_start + len(X), dtype=np.float64)
    if nonfinite:
        return layout.pack(0.0, weight, nonfinite, index[:0], index[:0], X[:0])
    keys = np.log(counter_uniform(seed, row_start, len(X), 1)[:, 0])
    if sample_weight is not None:
        with np.errstate(divide="ignore"):
            keys /= sample_weight[:, 0]
    return layout.pack(0.0, weight, 0, keys, index, X)


def chunk_candidates(X, sample_weight, layout, centres, seed, row_start=0):
    """One k-means|| round on one chunk: costs and the rows with the largest ``cost / u``.

    A row is a candidate when ``u < l * cost / phi`` (Bahmani et al.'s
    ``p = min(1, l d^2 / phi)``), that is when its key ``cost / u`` exceeds
    ``phi / l``. ``phi``, the total cost, is only known once every chunk is
    done, so each chunk keeps its ``n_keep`` largest keys and the client
    applies the threshold after the merge: one pass per round.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None
    layout : TopRowsLayout
    centres : ndarray of shape (n_centres, n_features)
        The candidates so far.
    seed : int
        The round's key for ``counter_uniform``.
    row_start : int, default=0
        Global index of the chunk's first row.

    Returns
    -------
    ndarray of shape (layout.size,)
        ``cost`` is ``sum_i w_i min_c |x_i - c|^2`` over the chunk.
    """
    cost = np.empty(len(X))
    for tile in row_tiles(len(X)):
        _, sq_dist = nearest_centre(X[tile], centres)
        cost[tile] = sq_dist * _weights(sample_weight, tile, len(sq_dist))
    keys = cost / counter_uniform(seed, row_start, len(X), 1)[:, 0]
    index = np.arange(row_start, row_start + len(X), dtype=np.float64)
    return layout.pack(float(cost.sum()), _chunk_weight(X, sample_weight), 0, keys, index, X)
