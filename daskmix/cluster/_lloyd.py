"""k-means of rows held in the client: k-means++ seeding, then Lloyd iterations.

The procedure of scikit-learn's ``KMeans(n_init=1, algorithm="lloyd")``,
step for step, without its per-call costs (validation, thread-pool
set-up), which dominate on the small samples the mixture initialisation
and k-means|| recluster:

1. rows are centred on their (unweighted) mean, as scikit-learn centres
   dense input before clustering;
2. seeds: greedy k-means++ (:func:`plusplus`: the draws of
   ``sklearn.cluster.kmeans_plusplus`` with the same seed, without its
   argument checks, which cost more than the seeding on small samples);
3. Lloyd iterations, at most ``MAX_ITER``: every row goes to its nearest
   centre (:func:`daskmix.cluster._kmeans_kernels.nearest_centre`, a GEMM),
   each centre moves to the weighted mean of its rows; a centre left with
   no weight takes the row farthest from its own centre (the farthest rows
   go to the empty centres in order), that row's weight moving with it;
4. stop when no label changed (strict convergence) or when the squared
   centre shifts sum to at most ``tol * mean(per-feature variance)``; after
   the second kind of stop, the labels are recomputed for the final
   centres.

Given the same seed the results are scikit-learn's up to rounding (tested
in ``tests/cluster/test_lloyd.py``).
"""

from __future__ import annotations

import numpy as np

from daskmix.cluster._kmeans_kernels import nearest_centre, squared_distances

__all__ = ["MAX_ITER", "TOL", "kmeans", "plusplus"]

#: Most Lloyd iterations (scikit-learn's ``KMeans`` default).
MAX_ITER = 300
#: Relative tolerance on the centre shift (scikit-learn's ``KMeans`` default).
TOL = 1e-4


def plusplus(rows, weights, n_clusters, seed):
    """Greedy k-means++ seeds: ``sklearn.cluster.kmeans_plusplus``'s draws.

    The first seed is a row drawn with probability proportional to its
    weight; each next one is the best, by the weighted sum of squared
    distances to the nearest seed it leaves, of ``2 + int(log k)`` rows
    drawn with probability proportional to weight times squared distance
    to the nearest seed so far (Arthur and Vassilvitskii, *k-means++*,
    SODA 2007, with scikit-learn's greedy local trials).

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features), float64
    weights : ndarray of shape (n_rows,), float64
        Non-negative, with a positive sum.
    n_clusters : int
    seed : int or numpy.random.RandomState

    Returns
    -------
    ndarray of shape (n_clusters, n_features), float64
    """
    rng = seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)
    n_trials = 2 + int(np.log(n_clusters))
    seeds = np.empty((n_clusters, rows.shape[1]))
    seeds[0] = rows[rng.choice(len(rows), p=weights / weights.sum())]
    closest = squared_distances(seeds[:1], rows)[0]
    potential = closest @ weights
    for c in range(1, n_clusters):
        targets = rng.uniform(size=n_trials) * potential
        trials = np.searchsorted(np.cumsum(weights * closest), targets)
        np.minimum(trials, len(rows) - 1, out=trials)
        trial_distances = np.minimum(closest, squared_distances(rows[trials], rows))
        potentials = trial_distances @ weights
        best = int(np.argmin(potentials))
        potential, closest = potentials[best], trial_distances[best]
        seeds[c] = rows[trials[best]]
    return seeds


def _cluster_sums(rows, weights, labels, n_clusters):
    """Weighted sum of the rows of every cluster, and each cluster's weight.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features), float64
    weights : ndarray of shape (n_rows,), float64
    labels : ndarray of shape (n_rows,), int
    n_clusters : int

    Returns
    -------
    sums : ndarray of shape (n_clusters, n_features)
    mass : ndarray of shape (n_clusters,)
    """
    from daskmix.cluster._seeding_kernels import cluster_sums  # numba, loaded when used

    return cluster_sums(rows, weights, labels.astype(np.int64, copy=False), n_clusters)


def _relocate_empty(rows, weights, labels, old_centres, sums, mass):
    """Give every cluster without weight the row farthest from its own centre.

    In place on ``sums`` and ``mass``; the farthest row goes to the first
    empty cluster, the next farthest to the second, and so on.
    """
    empty = np.flatnonzero(mass == 0)
    if not len(empty):
        return
    offsets = rows - old_centres[labels]
    distance = np.einsum("ij,ij->i", offsets, offsets)
    farthest = np.argpartition(distance, -len(empty))[:-len(empty) - 1:-1]
    for cluster, row in zip(empty, farthest):
        weight, donor = weights[row], labels[row]
        sums[donor] -= rows[row] * weight
        sums[cluster] = rows[row] * weight
        mass[cluster] = weight
        mass[donor] -= weight


def _lloyd(rows, weights, centres, tol, max_iter):
    """Lloyd iterations from ``centres``; returns the final centres and labels."""
    n_clusters = len(centres)
    previous = None
    for _ in range(max_iter):
        labels, _ = nearest_centre(rows, centres)
        sums, mass = _cluster_sums(rows, weights, labels, n_clusters)
        _relocate_empty(rows, weights, labels, centres, sums, mass)
        filled = mass > 0
        moved = centres.copy()
        moved[filled] = sums[filled] / mass[filled, None]
        shift = np.sum((moved - centres) ** 2)
        centres = moved
        if previous is not None and np.array_equal(labels, previous):
            return centres, labels  # the centres are the means of these labels
        if shift <= tol:
            break
        previous = labels
    labels, _ = nearest_centre(rows, centres)
    return centres, labels


def kmeans(rows, weights, n_clusters, seed, *, tol=TOL, max_iter=MAX_ITER):
    """k-means of in-memory rows, as ``KMeans(n_clusters, n_init=1, random_state=seed)``.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
        At least ``n_clusters`` rows.
    weights : ndarray of shape (n_rows,)
        Non-negative row weights.
    n_clusters : int
    seed : int
        The k-means++ seeding's random seed.
    tol : float, default=TOL
        Stop when the squared centre shifts sum to at most ``tol`` times the
        mean per-feature variance of the rows.
    max_iter : int, default=MAX_ITER

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_features), float64
    labels : ndarray of shape (n_rows,), int64
        The nearest centre of every row.
    """
    rows = np.asarray(rows, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    mean = rows.mean(axis=0)
    centred = rows - mean
    seeds = plusplus(centred, weights, n_clusters, seed)
    threshold = float(np.mean(np.var(centred, axis=0))) * tol
    centres, labels = _lloyd(centred, weights, seeds, threshold, max_iter)
    return centres + mean, labels
