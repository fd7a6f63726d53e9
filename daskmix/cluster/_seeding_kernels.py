"""Compiled k-means steps on a row sample in the client (numba, no dask).

k-means++ over a row sample split into cells (see
:func:`daskmix.cluster._tree_seeding.cell_kmeans_plusplus`) and the centre
sums of Lloyd iterations (see :mod:`daskmix.cluster._lloyd`). Imported by
the functions that call them, so that importing daskmix loads no numba.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["cell_plusplus", "cluster_sums", "row_distances"]


@numba.njit(cache=True, nogil=True, inline="always")
def _squared_distance(rows, i, centre):
    total = 0.0
    for j in range(rows.shape[1]):
        delta = rows[i, j] - centre[j]
        total += delta * delta
    return total


@numba.njit(cache=True, nogil=True)
def _draw(cell_cost, bounds, cost, u_cell, u_row):
    """A row drawn with probability proportional to ``cost`` (cell first, then row)."""
    total = cell_cost.sum()
    if not total > 0.0:
        return -1
    target = u_cell * total
    cell = 0
    while cell < len(cell_cost) - 1 and (target >= cell_cost[cell] or cell_cost[cell] <= 0.0):
        target -= cell_cost[cell]
        cell += 1
    start, stop = bounds[cell], bounds[cell + 1]
    target = u_row * cell_cost[cell]
    for i in range(start, stop):
        target -= cost[i]
        if target < 0.0 and cost[i] > 0.0:
            return i
    for i in range(stop - 1, start - 1, -1):  # rounding: the last row with a cost
        if cost[i] > 0.0:
            return i
    return -1


@numba.njit(cache=True, nogil=True)
def cell_plusplus(rows, weights, bounds, near_cells, first, uniforms, n_trials, out):
    """Greedy k-means++ whose distances are refreshed only near each new centre.

    ``rows`` are grouped by cell (cell ``j`` holds rows ``bounds[j] ..
    bounds[j + 1]``). Each row keeps ``w d^2``, ``d`` its distance to the
    nearest centre chosen so far among those whose near cells include its
    cell; a new centre (row ``r``) refreshes the rows of the cells
    ``near_cells[r]`` only. Each step draws ``n_trials``
    candidates with probability proportional to ``w d^2`` and keeps the one
    that lowers the total most (scikit-learn's greedy k-means++).

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features), float64
    weights : ndarray of shape (n_rows,), float64
    bounds : ndarray of shape (n_cells + 1,), int64
    near_cells : ndarray of shape (n_rows, n_near), int64
        The cells nearest each row (its own among them).
    first : int
        Row of the first centre.
    uniforms : ndarray of shape (n_centres, n_trials, 2), float64
    n_trials : int
    out : ndarray of shape (n_centres,), int64
        Filled with the chosen rows.
    """
    n = rows.shape[0]
    n_cells = len(bounds) - 1
    n_centres = out.shape[0]
    cell_of = np.empty(n, dtype=np.int64)
    for cell in range(n_cells):
        for i in range(bounds[cell], bounds[cell + 1]):
            cell_of[i] = cell
    cost = np.empty(n)
    cell_cost = np.zeros(n_cells)
    centre = rows[first].copy()
    for i in range(n):
        cost[i] = weights[i] * _squared_distance(rows, i, centre)
        cell_cost[cell_of[i]] += cost[i]
    out[0] = first
    for k in range(1, n_centres):
        best_row = -1
        best_gain = -1.0
        for t in range(n_trials):
            row = _draw(cell_cost, bounds, cost, uniforms[k, t, 0], uniforms[k, t, 1])
            if row < 0:
                break
            gain = 0.0
            for b in range(near_cells.shape[1]):
                cell = near_cells[row, b]
                for i in range(bounds[cell], bounds[cell + 1]):
                    c = weights[i] * _squared_distance(rows, i, rows[row])
                    if c < cost[i]:
                        gain += cost[i] - c
            if gain > best_gain:
                best_gain = gain
                best_row = row
        if best_row < 0:  # every row is a centre already: any unused row
            for i in range(n):
                used = False
                for a in range(k):
                    if out[a] == i:
                        used = True
                        break
                if not used:
                    best_row = i
                    break
        out[k] = best_row
        for b in range(near_cells.shape[1]):
            cell = near_cells[best_row, b]
            total = 0.0
            for i in range(bounds[cell], bounds[cell + 1]):
                c = weights[i] * _squared_distance(rows, i, rows[best_row])
                if c < cost[i]:
                    cost[i] = c
                total += cost[i]
            cell_cost[cell] = total
        cost[best_row] = 0.0


@numba.njit(cache=True, nogil=True)
def row_distances(rows, centres, ids, out):
    """``out[i] = |rows[i] - centres[ids[i]]|^2``.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features), float64
    centres : ndarray of shape (n_centres, n_features), float64
    ids : ndarray of shape (n_rows,), int64
    out : ndarray of shape (n_rows,), float64
    """
    for i in range(rows.shape[0]):
        out[i] = _squared_distance(rows, i, centres[ids[i]])


@numba.njit(cache=True, nogil=True)
def cluster_sums(rows, weights, labels, n_clusters):
    """Weighted sum of the rows of every cluster, and each cluster's weight.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features), float64
    weights : ndarray of shape (n_rows,), float64
    labels : ndarray of shape (n_rows,), int64
    n_clusters : int

    Returns
    -------
    sums : ndarray of shape (n_clusters, n_features), float64
    mass : ndarray of shape (n_clusters,), float64
    """
    sums = np.zeros((n_clusters, rows.shape[1]))
    mass = np.zeros(n_clusters)
    for i in range(rows.shape[0]):
        c = labels[i]
        w = weights[i]
        mass[c] += w
        for j in range(rows.shape[1]):
            sums[c, j] += w * rows[i, j]
    return sums, mass
