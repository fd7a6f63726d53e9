"""Compiled descent of a :class:`daskmix._index.ComponentTree` (numba, no dask).

Imported by the methods that call them, so that importing daskmix loads no
numba. The loops run row by row on the calling thread and release the GIL:
Dask's threads query blocks in parallel, and the client splits its own
queries between threads (``daskmix._index._in_threads``). numba's own
parallel loops are not used: its OpenMP threads spin after a loop and
slowed the NumPy and BLAS work around them (measured: a tree build 1.3 s
before a parallel query, 3.7-4.7 s after).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["graph_nearest", "plusplus", "tree_nearest"]


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
def _nearest_rows(X, start, stop, scale, node_centres, first, count, is_leaf, members, means,
                  beam, out):
    """:func:`tree_nearest` for rows ``start .. stop``.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    start, stop : int
    scale : ndarray of shape (n_features,), float64
    node_centres, first, count, is_leaf, members, means
        The tree's arrays (see ``ComponentTree``).
    beam : int
        Nodes kept per level.
    out : ndarray of shape (n_rows, n_nearest), int32
        Filled with component ids, nearest first.
    """
    d = X.shape[1]
    n_nearest = out.shape[1]
    n_components = means.shape[0]
    y = np.empty(d)
    current = np.empty(beam, dtype=np.int64)
    current_d = np.empty(beam)
    following = np.empty(beam, dtype=np.int64)
    following_d = np.empty(beam)
    best = np.empty(n_nearest, dtype=np.int64)
    best_d = np.empty(n_nearest)
    for i in range(start, stop):
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


@numba.njit(cache=True, nogil=True)
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
    _nearest_rows(X, 0, X.shape[0], scale, node_centres, first, count, is_leaf, members,
                  means, beam, out)


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def graph_nearest(X, means, starts, neighbours, out):
    """The nearest means of each row among the neighbours of its start components.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    means : ndarray of shape (n_components, n_features), float64
    starts : ndarray of shape (n_rows, n_starts), int64
        Components whose neighbourhoods each row searches (-1: none).
    neighbours : ndarray of shape (n_components, n_neighbors), int64
        Each component's neighbourhood (itself among them; -1 padded).
    out : ndarray of shape (n_rows, n_nearest), int64
        Filled with distinct component ids, nearest first (-1 where the
        neighbourhoods hold fewer).
    """
    n, d = X.shape
    n_nearest = out.shape[1]
    best = np.empty(n_nearest, dtype=np.int64)
    best_d = np.empty(n_nearest)
    y = np.empty(d)
    for i in range(n):
        for j in range(d):
            y[j] = X[i, j]
        filled = 0
        for s in range(starts.shape[1]):
            start = starts[i, s]
            if start < 0:
                continue
            for b in range(neighbours.shape[1]):
                c = neighbours[start, b]
                if c < 0:
                    break
                seen = False
                for a in range(filled):
                    if best[a] == c:
                        seen = True
                        break
                if not seen:
                    filled = _insert(best, best_d, filled, c, _distance(y, means, c))
        for a in range(n_nearest):
            out[i, a] = best[a] if a < filled else -1


@numba.njit(cache=True, nogil=True)
def plusplus(points, first, uniforms, out):
    """Plain k-means++ sampling of ``len(out)`` starting centres (a tree split's start).

    Parameters
    ----------
    points : ndarray of shape (n_points, n_features), float64
    first : int
        Index of the first centre.
    uniforms : ndarray of shape (n_centres,), float64
        One uniform draw per later centre.
    out : ndarray of shape (n_centres, n_features), float64
        Filled with the chosen points.
    """
    n = points.shape[0]
    closest = np.empty(n)
    out[0] = points[first]
    for i in range(n):
        closest[i] = _distance(points[i], out, 0)
    for k in range(1, out.shape[0]):
        total = closest.sum()
        pick = 0
        if total > 0.0:
            target = uniforms[k] * total
            while pick < n - 1 and target >= closest[pick]:
                target -= closest[pick]
                pick += 1
        else:
            pick = min(int(uniforms[k] * n), n - 1)
        out[k] = points[pick]
        for i in range(n):
            d = _distance(points[i], out, k)
            if d < closest[i]:
                closest[i] = d
