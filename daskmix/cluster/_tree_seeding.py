"""k-means on a row sample at a cost per row that grows with log K, not K.

k-means++ and k-means|| compare every row with every centre: O(K) per row
and round, which made a mixture's initialisation cost O(N K) when
everything after it (truncated EM) costs O(N). Here, on a row sample held
in memory (``S`` rows, a few dozen per centre):

:func:`cell_kmeans_plusplus`
    Greedy k-means++ whose distances are refreshed only in the cells of
    the sample near each new centre (cells around ``K / 4`` random rows,
    found with a :class:`daskmix._index.ComponentTree`): O(S / K) distances
    per centre, so O(S) in all, instead of O(S K).
:func:`tree_kmeans`
    That seeding, then Lloyd iterations whose assignment step is a tree
    query (O(D log K) per row, the tree rebuilt over the centres each
    iteration), with :func:`relocate` moving centres that share a group of
    rows to clusters that hold two groups, which Lloyd cannot do.

Measured on 65,536 rows of 4096 unit-variance blobs in 32 dimensions
(centres drawn from N(0, 16 I)), K = 4096, mean squared distance of a row to
its nearest centre (the blobs' own centres give 32, the best partition of
the sample about 30): scikit-learn's greedy k-means++ 61.9 (16.6 s),
:func:`cell_kmeans_plusplus` 69.2 (1.9 s), :func:`tree_kmeans` 30.8.

Both are deterministic given ``rng``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import kmeans_plusplus

from daskmix._blas import single_blas_thread
from daskmix._index import ComponentTree, nearest_in_neighbourhoods

__all__ = ["LLOYD_ITERATIONS", "cell_kmeans_plusplus", "relocate", "tree_kmeans"]

#: Lloyd iterations of :func:`tree_kmeans`.
LLOYD_ITERATIONS = 10
#: Beam of the tree searches of :func:`tree_kmeans`, wider than the default:
#: a misassigned row pulls its centre away and looks like a cluster needing
#: a second centre (measured at 4096 centres on the blobs of the module
#: docstring: nearest-centre recall 0.93-0.96 and a final 38 with a beam
#: of 4; 0.98-1.00 and 30.8 with 16).
SEARCH_BEAM = 16
#: Neighbours per centre searched by the rows in the Lloyd iterations after
#: the first (the centres near each row's two nearest ones).
GRAPH_NEIGHBOURS = 16
#: Most centres :func:`relocate` moves per iteration, as a fraction of them.
RELOCATE_FRACTION = 0.05
#: Up to this many centres, plain k-means++ (O(S K D log K)) is cheap enough.
_PLAIN_MAX = 64


def _seed(rng):
    return int(rng.randint(np.iinfo(np.int32).max))


def _plusplus(rows, weights, n_centres, rng):
    centres, _ = kmeans_plusplus(rows, n_centres, sample_weight=weights, random_state=_seed(rng))
    return centres


#: Centres per cell of :func:`cell_kmeans_plusplus` (the cells hold about
#: ``CENTRES_PER_CELL * rows / n_centres`` rows each).
CENTRES_PER_CELL = 4
#: Candidates drawn per centre by :func:`cell_kmeans_plusplus` (greedy
#: k-means++: the one that lowers the cost most is kept; scikit-learn draws
#: ``2 + log K``, 11 at 16,384 centres, for a seeding that the Lloyd
#: iterations and relocations here refine anyway).
SEED_TRIALS = 3
#: Cells whose rows a new centre refreshes (its own and the nearest others).
NEAR_CELLS = 8


def cell_kmeans_plusplus(rows, weights, n_centres, rng):
    """``n_centres`` rows by greedy k-means++ with distances refreshed near each new centre.

    The rows are split into cells around ``n_centres / CENTRES_PER_CELL``
    random rows (a :class:`ComponentTree` assigns them); choosing a centre
    refreshes the distances of the rows in the ``NEAR_CELLS`` cells
    nearest to it only, and draws go cell first, then
    row. A step costs O(rows / n_centres) distances instead of O(rows), so
    the seeding is O(rows log K) for a sample of ``rows`` rows. Rows far
    from every refreshed cell keep a stale, too large distance, so they
    are drawn more readily: uncovered regions get centres, as in k-means++.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
        At least ``n_centres`` rows.
    weights : ndarray of shape (n_rows,) or None
    n_centres : int
    rng : numpy.random.RandomState

    Returns
    -------
    ndarray of shape (n_centres, n_features), float64
        Distinct rows of ``rows``.
    """
    from daskmix.cluster._seeding_kernels import cell_plusplus

    rows = np.ascontiguousarray(rows, dtype=np.float64)
    if n_centres <= _PLAIN_MAX:
        return _plusplus(rows, weights, n_centres, rng)
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    n_cells = max(1, n_centres // CENTRES_PER_CELL)
    cell_centres = rows[rng.choice(len(rows), n_cells, replace=False)]
    tree = ComponentTree.build(cell_centres, random_state=_seed(rng))
    near = tree.nearest(rows, min(NEAR_CELLS, n_cells), parallel=True).astype(np.int64)
    labels = near[:, 0]
    order = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=n_cells))])
    n_trials = SEED_TRIALS
    ordered_w = w[order]
    first = int(np.searchsorted(np.cumsum(ordered_w), rng.uniform() * ordered_w.sum()))
    chosen = np.empty(n_centres, dtype=np.int64)
    cell_plusplus(rows[order], ordered_w, bounds.astype(np.int64), near[order],
                  min(first, len(rows) - 1), rng.uniform(size=(n_centres, n_trials, 2)),
                  n_trials, chosen)
    return rows[order][chosen]


def _means_of(rows, weights, labels, centres):
    """Weighted means of each label's rows; a centre without rows stays where it is."""
    n_centres = len(centres)
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    one_hot = sp.csr_array((w, (labels, np.arange(len(rows)))), shape=(n_centres, len(rows)))
    mass = np.asarray(one_hot.sum(axis=1)).reshape(-1)
    sums = one_hot @ rows
    out = centres.copy()
    filled = mass > 0
    out[filled] = sums[filled] / mass[filled, None]
    return out


def relocate(rows, weights, centres, nearest, fraction=None):
    """Move the centres that matter least to the clusters that need one most.

    With each row's two nearest centres, the cost of removing centre ``c``
    is ``sum w (d_2^2 - d_1^2)`` over its rows (they would go to their second
    nearest), and the excess of a cluster is its ``sum w d_1^2`` above that
    of a cluster of the median spread and its mass. Up to ``fraction * K``
    centres whose removal costs less than half the largest excesses move
    to the farthest row of those clusters: a
    cluster holding two groups of rows gets a second centre, taken from
    two centres sharing one group. Lloyd's iterations cannot make such
    moves (they only move centres within their own rows).

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features), float64
    weights : ndarray of shape (n_rows,), float64
    centres : ndarray of shape (n_centres, n_features)
    nearest : ndarray of shape (n_rows, 2), int
        Each row's nearest and second-nearest centres.
    fraction : float or None, default=None
        Most centres moved, as a fraction of ``n_centres`` (None:
        :data:`RELOCATE_FRACTION`).

    Returns
    -------
    centres : ndarray of shape (n_centres, n_features)
        A copy, some rows moved.
    moves : ndarray of shape (n_moved, 2), int64
        ``(moved centre, cluster it went to)`` pairs.
    """
    fraction = RELOCATE_FRACTION if fraction is None else fraction
    n_centres = len(centres)
    first, second = nearest[:, 0], nearest[:, 1]
    from daskmix.cluster._seeding_kernels import row_distances

    d1, d2 = np.empty(len(rows)), np.empty(len(rows))
    centres64 = np.ascontiguousarray(centres, dtype=np.float64)
    row_distances(rows, centres64, np.ascontiguousarray(first, dtype=np.int64), d1)
    row_distances(rows, centres64, np.ascontiguousarray(second, dtype=np.int64), d2)
    carried = np.bincount(first, weights=weights * d1, minlength=n_centres)
    removal = np.bincount(first, weights=weights * np.maximum(d2 - d1, 0.0),
                          minlength=n_centres)
    mass = np.bincount(first, weights=weights, minlength=n_centres)
    # what splitting a cluster would gain: its cost above that of a typical
    # cluster of its mass
    spread = carried / np.maximum(mass, np.finfo(np.float64).tiny)
    typical = np.median(spread[mass > 0]) if np.any(mass > 0) else 0.0
    excess = carried - mass * typical
    budget = max(1, int(fraction * n_centres))
    heavy = np.argsort(-excess, kind="stable")[:budget]
    light = np.argsort(removal, kind="stable")[:budget]
    out = centres.copy()
    # the farthest row of each cluster
    order = np.lexsort((-d1, first))
    starts = np.searchsorted(first[order], np.arange(n_centres))
    moves = []
    taken = np.zeros(n_centres, dtype=bool)
    taken[heavy] = True
    j = 0
    for donor in light:
        if taken[donor]:
            continue
        while j < len(heavy) and removal[donor] >= 0.5 * excess[heavy[j]]:
            j += 1
        if j >= len(heavy):
            break
        receiver = heavy[j]
        out[donor] = rows[order[starts[receiver]]]
        taken[donor] = True
        j += 1
        moves.append((donor, receiver))
    return out, np.asarray(moves, dtype=np.int64).reshape(-1, 2)


def tree_kmeans(rows, weights, n_centres, rng, *, n_iter=LLOYD_ITERATIONS):
    """k-means of a row sample: cell k-means++, then Lloyd with tree assignments.

    The first assignment queries a :class:`ComponentTree` over the seeds;
    each Lloyd iteration then moves the centres to their rows' means, moves
    a few with :func:`relocate`, and reassigns every row among the
    ``GRAPH_NEIGHBOURS`` centres nearest to its two previous ones (found
    with a tree over the centres): O(G D) per row and iteration.

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
    with single_blas_thread():
        return _tree_kmeans(rows, weights, n_centres, rng, n_iter)


def _tree_kmeans(rows, weights, n_centres, rng, n_iter):
    rows64 = np.ascontiguousarray(rows, dtype=np.float64)
    w = np.ones(len(rows64)) if weights is None else np.asarray(weights, dtype=np.float64)
    centres = np.asarray(cell_kmeans_plusplus(rows64, weights, n_centres, rng),
                         dtype=np.float64)
    width = min(2, n_centres)
    tree = ComponentTree.build(centres, random_state=_seed(rng))
    nearest = tree.nearest(rows64, width, beam=SEARCH_BEAM, parallel=True).astype(np.int64)
    for _ in range(n_iter):
        centres = _means_of(rows64, w, nearest[:, 0], centres)
        moves = np.empty((0, 2), dtype=np.int64)
        if width == 2:
            centres, moves = relocate(rows64, w, centres, nearest)
        # the rows search the neighbourhoods of their two nearest centres
        # (of the centres' nearest centres, found with a tree): O(G) per row
        tree = ComponentTree.build(centres, random_state=_seed(rng))
        graph = tree.nearest(centres, min(GRAPH_NEIGHBOURS, n_centres), beam=SEARCH_BEAM,
                             parallel=True)
        if graph.shape[1] > 1:
            # a moved centre sits on the farthest row of its new cluster, maybe
            # outside the cluster centre's nearest ones: its rows must see it
            graph[moves[:, 1], -1] = moves[:, 0]
        found = nearest_in_neighbourhoods(rows64, centres, nearest, graph, width)
        # a row that found fewer keeps its previous ids (only with width > found)
        nearest = np.where(found >= 0, found, nearest)
    return centres, nearest[:, 0]
