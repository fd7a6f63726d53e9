"""Per-chunk k-means kernels: nearest-centre assignment, partial sums, seeding.

Pure NumPy, no dask import. Squared distances use the GEMM expansion
``|x|^2 - 2 x.c + |c|^2``, with the matrix product in the data's dtype (so
float32 stays float32) and the row norms in float64. Chunks are processed in
tiles of ``daskmix._kernels.TILE_ROWS`` rows, so the (rows, n_clusters)
temporaries stay small whatever the chunk size.

Two families of chunk kernels follow ``daskmix._dask.graph.reduce_blocks``'s
signature ``kernel(X, sample_weight, row_start=..., **params) -> (size,)``:

* additive statistics: :func:`chunk_lloyd_stats` (counts, sums, inertia; see
  :class:`LloydLayout`) and :func:`chunk_nearest_stats` (weight nearest each
  centre, inertia; see :class:`NearestLayout`);
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
from daskmix._kernels import PackedLayout, count_nonfinite, row_tiles, row_weights, total_weight
from daskmix._random import counter_uniform

__all__ = [
    "LloydLayout",
    "NearestLayout",
    "OneHotNearest",
    "TopRowsLayout",
    "chunk_candidates",
    "chunk_distances",
    "chunk_first_centre",
    "chunk_labels",
    "chunk_lloyd_stats",
    "chunk_nearest_stats",
    "lloyd_stats_size",
    "merge_top_rows",
    "nearest_centre",
    "nearest_stats_size",
    "squared_distances",
    "unpack_lloyd",
    "unpack_nearest",
]


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


def _weighted_sum(weights, values):
    """``sum_i w_i v_i`` in float64; the plain sum when ``weights`` is None.

    Parameters
    ----------
    weights : ndarray of shape (n,) or None
    values : ndarray of shape (n,), float64

    Returns
    -------
    float
    """
    return float(values.sum() if weights is None else weights @ values)


@dataclass(frozen=True)
class LloydLayout(PackedLayout):
    """Packing of one chunk's Lloyd statistics.

    Parameters
    ----------
    n_clusters, n_features : int
    """

    n_clusters: int
    n_features: int

    @property
    def fields(self):
        """Weight and weighted sum of the rows nearest each centre, inertia, non-finite count."""
        k, d = self.n_clusters, self.n_features
        return (("counts", (k,)), ("sums", (k, d)), ("inertia", ()), ("nonfinite", ()))


def lloyd_stats_size(n_clusters, n_features):
    """Length of the packed Lloyd statistics vector."""
    return LloydLayout(n_clusters, n_features).size


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
        Packed as :class:`LloydLayout` says.
    """
    n_clusters, n_features = centres.shape
    layout = LloydLayout(n_clusters, n_features)
    nonfinite = count_nonfinite(X) if check_finite else 0
    if nonfinite:
        return layout.zeros(nonfinite=nonfinite)
    counts = np.zeros(n_clusters)
    sums = np.zeros((n_clusters, n_features))
    inertia = 0.0
    for tile in row_tiles(len(X)):
        labels, sq_dist = nearest_centre(X[tile], centres)
        w = row_weights(sample_weight, tile)
        onehot = np.zeros((n_clusters, len(labels)), dtype=X.dtype)
        onehot[labels, np.arange(len(labels))] = 1 if w is None else w
        counts += np.bincount(labels, weights=w, minlength=n_clusters)
        sums += onehot @ X[tile]
        inertia += _weighted_sum(w, sq_dist)
    return layout.pack(counts=counts, sums=sums, inertia=inertia, nonfinite=0)


def unpack_lloyd(stats, n_clusters, n_features):
    """Split packed Lloyd statistics into counts, sums, inertia and nonfinite."""
    fields = LloydLayout(n_clusters, n_features).unpack(stats)
    return fields["counts"], fields["sums"], float(fields["inertia"]), float(fields["nonfinite"])


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


@dataclass(frozen=True)
class NearestLayout(PackedLayout):
    """Packing of :func:`chunk_nearest_stats`.

    Parameters
    ----------
    n_centres : int
    """

    n_centres: int

    @property
    def fields(self):
        """Weight of the rows nearest each centre, inertia, non-finite count."""
        return (("weights", (self.n_centres,)), ("inertia", ()), ("nonfinite", ()))


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
    return NearestLayout(n_centres).size


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
        Packed as :class:`NearestLayout` says; the inertia is
        ``sum_i w_i min_c |x_i - c|^2``.
    """
    n_centres = len(centres)
    layout = NearestLayout(n_centres)
    nonfinite = count_nonfinite(X) if check_finite else 0
    if nonfinite:
        return layout.zeros(nonfinite=nonfinite)
    weights = np.zeros(n_centres)
    inertia = 0.0
    for tile in row_tiles(len(X)):
        labels, sq_dist = nearest_centre(X[tile], centres)
        w = row_weights(sample_weight, tile)
        weights += np.bincount(labels, weights=w, minlength=n_centres)
        inertia += _weighted_sum(w, sq_dist)
    return layout.pack(weights=weights, inertia=inertia, nonfinite=0)


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
    fields = NearestLayout(n_centres).unpack(stats)
    return fields["weights"], float(fields["inertia"]), float(fields["nonfinite"])


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
    raise_if_nonfinite(count_nonfinite(X))
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
    raise_if_nonfinite(count_nonfinite(X))
    out = np.empty((len(X), len(centres)), dtype=X.dtype)
    for tile in row_tiles(len(X)):
        out[tile] = np.sqrt(squared_distances(X[tile], centres))
    return out


# ---- k-means|| draws: the rows with the largest random keys ------------------

@dataclass(frozen=True)
class TopRowsLayout(PackedLayout):
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
    def fields(self):
        """The three sums, then the kept rows' keys, global indices and values."""
        m, d = self.n_keep, self.n_features
        return (
            ("cost", ()),
            ("weight", ()),
            ("nonfinite", ()),
            ("keys", (m,)),
            ("index", (m,)),
            ("rows", (m, d)),
        )

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
        m = self.n_keep
        out = self.zeros(cost=cost, weight=weight, nonfinite=nonfinite, keys=-np.inf, index=-1)
        if len(keys):
            if len(keys) > m:
                part = np.argpartition(-keys, m - 1)[:m]
            else:
                part = np.arange(len(keys))
            top = part[np.lexsort((index[part], -keys[part]))]
            n_top = len(top)
            slots = self.views(out)
            slots["keys"][:n_top] = keys[top]
            slots["index"][:n_top] = index[top]
            slots["rows"][:n_top] = rows[top]
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
        slots = self.views(vector)
        used = slots["index"] >= 0
        return {
            "cost": float(slots["cost"]),
            "weight": float(slots["weight"]),
            "nonfinite": float(slots["nonfinite"]),
            "keys": slots["keys"][used],
            "index": slots["index"][used].astype(np.int64),
            "rows": slots["rows"][used],
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
    parts = layout.views(stacked)
    index = parts["index"].ravel()
    used = index >= 0
    return layout.pack(
        parts["cost"].sum(), parts["weight"].sum(), parts["nonfinite"].sum(),
        parts["keys"].ravel()[used], index[used],
        parts["rows"].reshape(-1, layout.n_features)[used],
    )


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
    weight = total_weight(sample_weight, len(X))
    nonfinite = count_nonfinite(X) if check_finite else 0
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
        w = row_weights(sample_weight, tile)
        cost[tile] = sq_dist if w is None else sq_dist * w
    keys = cost / counter_uniform(seed, row_start, len(X), 1)[:, 0]
    index = np.arange(row_start, row_start + len(X), dtype=np.float64)
    return layout.pack(float(cost.sum()), total_weight(sample_weight, len(X)), 0, keys, index, X)
