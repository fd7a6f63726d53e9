"""Compiled descent of a :class:`daskmix._index.ComponentTree` (numba, no dask).

Imported by the methods that call it, so that importing daskmix loads no
numba. The loop runs row by row and releases the GIL: Dask's threads query
blocks in parallel.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["tree_nearest"]


@numba.njit(cache=True, nogil=True, inline="always")
def _insert(ids, values, filled, item, value):
    """Insert ``item`` into the ascending buffer; returns the new fill (capped)."""
    capacity = ids.shape[0]
    if filled == capacity and value >= values[capacity - 1]:
        return filled
    a = filled if filled < capacity else capacity - 1
    while a > 0 and value < values[a - 1]:
        ids[a] = ids[a - 1]
        values[a] = values[a - 1]
        a -= 1
    ids[a] = item
    values[a] = value
    return filled + 1 if filled < capacity else filled


@numba.njit(cache=True, nogil=True, inline="always")
def _distance(y, table, row):
    total = 0.0
    for j in range(y.shape[0]):
        delta = y[j] - table[row, j]
        total += delta * delta
    return total


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def tree_nearest(X, scale, node_centres, first, count, is_leaf, members, means, beam, out):
    """Beam descent of the tree, then the nearest means of the leaves reached.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    scale : ndarray of shape (n_features,), float64
    node_centres, first, count, is_leaf, members, means
        The tree's arrays (see ``ComponentTree``).
    beam : int
        Nodes kept per level.
    out : ndarray of shape (n_rows, n_nearest), int32
        Filled with component ids, nearest first.
    """
    n, d = X.shape
    n_nearest = out.shape[1]
    n_components = means.shape[0]
    y = np.empty(d)
    current = np.empty(beam, dtype=np.int64)
    current_d = np.empty(beam)
    following = np.empty(beam, dtype=np.int64)
    following_d = np.empty(beam)
    best = np.empty(n_nearest, dtype=np.int64)
    best_d = np.empty(n_nearest)
    for i in range(n):
        for j in range(d):
            y[j] = X[i, j] * scale[j]
        current[0] = 0
        current_d[0] = 0.0
        n_current = 1
        while True:
            expanded = False
            n_following = 0
            for b in range(n_current):
                node = current[b]
                if is_leaf[node]:
                    n_following = _insert(following, following_d, n_following, node,
                                          current_d[b])
                    continue
                expanded = True
                for child in range(first[node], first[node] + count[node]):
                    n_following = _insert(following, following_d, n_following, child,
                                          _distance(y, node_centres, child))
            n_current = n_following
            for b in range(n_current):
                current[b] = following[b]
                current_d[b] = following_d[b]
            if not expanded:
                break
        filled = 0
        for b in range(n_current):
            node = current[b]
            for m in range(first[node], first[node] + count[node]):
                c = members[m]
                filled = _insert(best, best_d, filled, c, _distance(y, means, c))
        # too few means in the leaves reached: the lowest ids not taken
        c = 0
        while filled < n_nearest and c < n_components:
            taken = False
            for a in range(filled):
                if best[a] == c:
                    taken = True
                    break
            if not taken:
                best[filled] = c
                filled += 1
            c += 1
        for a in range(n_nearest):
            out[i, a] = best[a]
