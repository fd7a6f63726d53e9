"""k-means on a row sample at a cost per row that grows with sqrt(K) or log K, not K.

k-means++ and k-means|| compare every row with every centre: O(K) per row
and round, which is what made a mixture's initialisation cost O(N K) when
everything after it (truncated EM) costs O(N). Here, on a row sample held
in memory:

:func:`two_level_kmeans_plusplus`
    k-means++ seeding in two levels: ``ceil(sqrt(K))`` coarse centres by
    k-means++ over the sample, the rows split by their nearest coarse
    centre, and each cell's share of the ``K`` centres (proportional to its
    weight, at most its number of rows) chosen by k-means++ inside the
    cell. O(S sqrt(K) D log K) for S rows, instead of O(S K D log K).
:func:`tree_kmeans`
    That seeding, then Lloyd iterations whose assignment step is a
    :class:`daskmix._index.ComponentTree` query (O(D log K) per row, rebuilt
    over the centres each iteration). Returns the centres and the final
    labels of the sample.

Both are deterministic given ``rng``. The centres are data rows (seeding)
or means of rows (Lloyd).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.cluster import kmeans_plusplus

from daskmix._index import ComponentTree

__all__ = ["LLOYD_ITERATIONS", "tree_kmeans", "two_level_kmeans_plusplus"]

#: Lloyd iterations of :func:`tree_kmeans`.
LLOYD_ITERATIONS = 5
#: Up to this many centres, plain k-means++ (O(S K D log K)) is cheap enough.
_ONE_LEVEL_MAX = 64


def _seed(rng):
    return int(rng.randint(np.iinfo(np.int32).max))


def _plusplus(rows, weights, n_centres, rng):
    centres, _ = kmeans_plusplus(rows, n_centres, sample_weight=weights, random_state=_seed(rng))
    return centres


def _nearest_dense(rows, centres):
    """Index of the nearest centre of each row (dense, for few centres), in slabs of rows."""
    squares = np.einsum("ij,ij->i", centres, centres)
    labels = np.empty(len(rows), dtype=np.int64)
    slab = max(1, 2**22 // max(len(centres), 1))
    for start in range(0, len(rows), slab):
        part = rows[start : start + slab]
        labels[start : start + slab] = np.argmin(squares[None, :] - 2.0 * part @ centres.T,
                                                 axis=1)
    return labels


def allocate(sizes, weights, total):
    """Split ``total`` centres between cells in proportion to ``weights``, at most ``sizes``.

    Largest remainders; a capped cell's excess goes to the others.

    Parameters
    ----------
    sizes : ndarray of int
        Rows in each cell.
    weights : ndarray of float
    total : int
        At most ``sizes.sum()``.

    Returns
    -------
    ndarray of int
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64).copy()
    quota = np.zeros(len(sizes), dtype=np.int64)
    remaining = int(total)
    while remaining > 0:
        open_cells = (quota < sizes) & (weights > 0)
        if not open_cells.any():
            open_cells = quota < sizes
            weights = np.where(open_cells, 1.0, 0.0)
        share = np.where(open_cells, weights, 0.0)
        exact = remaining * share / share.sum()
        give = np.minimum(np.floor(exact).astype(np.int64), sizes - quota)
        left = remaining - int(give.sum())
        if left > 0:
            order = np.argsort(-(exact - np.floor(exact)), kind="stable")
            for cell in order:
                if left == 0:
                    break
                if open_cells[cell] and quota[cell] + give[cell] < sizes[cell]:
                    give[cell] += 1
                    left -= 1
        quota += give
        remaining = int(total - quota.sum())
        if give.sum() == 0:  # only reachable with every open cell full
            break
    return quota


def two_level_kmeans_plusplus(rows, weights, n_centres, rng):
    """``n_centres`` distinct rows chosen by k-means++ in two levels (see the module).

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
        At least ``n_centres`` rows.
    weights : ndarray of shape (n_rows,) or None
    n_centres : int
    rng : numpy.random.RandomState

    Returns
    -------
    ndarray of shape (n_centres, n_features)
    """
    rows = np.asarray(rows)
    if n_centres <= _ONE_LEVEL_MAX:
        return _plusplus(rows, weights, n_centres, rng)
    n_coarse = math.isqrt(n_centres - 1) + 1
    coarse = _plusplus(rows, weights, n_coarse, rng)
    labels = _nearest_dense(rows, coarse)
    sizes = np.bincount(labels, minlength=n_coarse)
    mass = sizes if weights is None else np.bincount(labels, weights=weights,
                                                     minlength=n_coarse)
    quota = allocate(sizes, mass, n_centres)
    order = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    parts = []
    for cell in np.flatnonzero(quota):
        members = order[bounds[cell] : bounds[cell + 1]]
        cell_weights = None if weights is None else weights[members]
        parts.append(_plusplus(rows[members], cell_weights, int(quota[cell]), rng))
    return np.concatenate(parts)


def _means_of(rows, weights, labels, centres):
    """Weighted means of each label's rows; a centre without rows stays where it is."""
    n_centres, n_features = centres.shape
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    mass = np.bincount(labels, weights=w, minlength=n_centres)
    sums = np.empty((n_centres, n_features))
    for j in range(n_features):
        sums[:, j] = np.bincount(labels, weights=w * rows[:, j], minlength=n_centres)
    out = centres.copy()
    filled = mass > 0
    out[filled] = sums[filled] / mass[filled, None]
    return out


def tree_kmeans(rows, weights, n_centres, rng, *, n_iter=LLOYD_ITERATIONS):
    """k-means of a row sample: two-level k-means++, then Lloyd with tree assignments.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
        At least ``n_centres`` rows.
    weights : ndarray of shape (n_rows,) or None
    n_centres : int
    rng : numpy.random.RandomState
    n_iter : int, default=LLOYD_ITERATIONS

    Returns
    -------
    centres : ndarray of shape (n_centres, n_features), float64
    labels : ndarray of shape (n_rows,), int64
        Each row's (approximately) nearest final centre.
    """
    rows64 = np.asarray(rows, dtype=np.float64)
    centres = np.asarray(two_level_kmeans_plusplus(rows64, weights, n_centres, rng),
                         dtype=np.float64)
    labels = None
    for _ in range(n_iter + 1):
        tree = ComponentTree.build(centres, random_state=_seed(rng))
        labels = tree.nearest(rows64, 1)[:, 0].astype(np.int64)
        if _ == n_iter:
            break
        centres = _means_of(rows64, weights, labels, centres)
    return centres, labels
