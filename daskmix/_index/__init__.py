"""A search tree over component means: approximate nearest means in O(log K) per row.

Truncated EM evaluates a few dozen components per point whatever the number
of components ``K``; what still cost O(K) per point was finding a point's
first candidates (at initialisation, and for new data in ``predict``) and
the k-means assignments of the seeding. :class:`ComponentTree` answers
"which means are nearest to this row" by descending a hierarchical k-means
tree over the means (Nistér and Stewénius's vocabulary tree, Muja and
Lowe's FLANN k-means tree):

* **build** (client side, O(K b D) per level, ``log_b K`` levels; BLAS on one
  thread: its products are small, and a multithreaded BLAS on a busy
  machine made each split's products milliseconds long): the means
  are split into ``branching`` groups by a few Lloyd iterations seeded by
  k-means++, each group recursively, until a group has at most
  ``leaf_size`` means;
* **query** (compiled, on the workers): each row descends with a beam of
  ``beam`` nodes (at each level the ``beam`` children nearest the row among
  those of the current nodes), then ranks the means of the leaves it reached
  by their distance. A row costs about ``beam * branching * log_b K``
  distances.

The answer is approximate: the true nearest mean can sit in a leaf the beam
dropped. Callers refine it: truncated EM's passes search the components'
neighbourhoods, which repairs a wrong start within a pass or two.

Distances are squared Euclidean, optionally after multiplying every feature
by ``scale`` (e.g. one over its typical standard deviation). Everything is
float64; rows of any float dtype are read as they are.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
from dataclasses import dataclass

import numpy as np

from daskmix._blas import single_blas_thread

__all__ = ["ComponentTree", "nearest_in_neighbourhoods"]

#: Children per internal node.
BRANCHING = 16
#: Nodes kept per level of the descent.
BEAM = 4
#: Lloyd iterations per split while building.
SPLIT_ITERATIONS = 2


def _plusplus(points, n_groups, rng):
    """``n_groups`` starting centres by (plain) k-means++ sampling (compiled)."""
    from daskmix._index import _kernels

    centres = np.empty((n_groups, points.shape[1]))
    _kernels.plusplus(np.ascontiguousarray(points), int(rng.randint(len(points))),
                      rng.uniform(size=n_groups), centres)
    return centres


def _split(points, n_groups, rng, n_iter):
    """Labels of ``points`` in ``n_groups`` k-means groups (k-means++ start, Lloyd)."""
    centres = _plusplus(points, n_groups, rng)
    squares = np.einsum("ij,ij->i", points, points)
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(n_iter + 1):
        distances = squares[:, None] - 2.0 * points @ centres.T + np.einsum(
            "ij,ij->i", centres, centres)[None, :]
        labels = np.argmin(distances, axis=1)
        counts = np.bincount(labels, minlength=n_groups)
        one_hot = np.zeros((n_groups, len(points)))
        one_hot[labels, np.arange(len(points))] = 1.0
        sums = one_hot @ points
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return labels


#: Rows per piece of work of :func:`_in_threads`.
_THREAD_ROWS = 8192


def _in_threads(n_rows, work):
    """``work(rows)`` over slices of ``n_rows`` rows, on one thread per core.

    The compiled loops release the GIL, so the slices run in parallel.
    """
    slices = [slice(start, min(start + _THREAD_ROWS, n_rows))
              for start in range(0, n_rows, _THREAD_ROWS)]
    workers = min(len(slices), os.cpu_count() or 1)
    if workers <= 1:
        for rows in slices:
            work(rows)
        return
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for done in pool.map(work, slices):
            del done


def nearest_in_neighbourhoods(X, means, starts, neighbours, n_nearest):
    """Each row's nearest means among the neighbourhoods of its start components.

    The refinement step that follows a tree query, or replaces it when the
    rows' previous nearest components are known (Lloyd iterations): O(S G)
    distances per row for ``S`` starts and neighbourhoods of ``G``. Runs on
    every core (numba threads): for the client, not inside Dask tasks.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    means : ndarray of shape (n_components, n_features)
    starts : ndarray of shape (n_rows, n_starts), int
        -1 for none.
    neighbours : ndarray of shape (n_components, n_neighbors), int
        Each component's neighbourhood, itself among them, -1 padded.
    n_nearest : int

    Returns
    -------
    ndarray of shape (n_rows, n_nearest), int64
        Distinct ids, nearest first; -1 where the neighbourhoods hold fewer.
    """
    from daskmix._index import _kernels

    out = np.empty((len(X), int(n_nearest)), dtype=np.int64)
    X = np.ascontiguousarray(X)
    means = np.ascontiguousarray(means, dtype=np.float64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    neighbours = np.ascontiguousarray(neighbours, dtype=np.int64)
    _in_threads(len(X), lambda rows: _kernels.graph_nearest(X[rows], means, starts[rows],
                                                            neighbours, out[rows]))
    return out


@dataclass(frozen=True, eq=False)
class ComponentTree:
    """A k-means tree over ``K`` means; see the module docstring.

    Build it with :meth:`build`. Nodes are stored breadth first, the
    children of a node contiguous; node 0 is the root.

    Attributes
    ----------
    node_centres : ndarray of shape (n_nodes, n_features), float64
        Mean of the (scaled) means below each node.
    first, count : ndarray of shape (n_nodes,), int64
        An internal node's children are nodes ``first .. first + count``; a
        leaf's means are ``members[first : first + count]``.
    is_leaf : ndarray of shape (n_nodes,), bool
    members : ndarray of shape (n_components,), int32
        Component ids, leaf by leaf.
    means : ndarray of shape (n_components, n_features), float64
        The scaled means.
    scale : ndarray of shape (n_features,), float64
        Per-feature factor applied to the rows before measuring distances.
    """

    node_centres: np.ndarray
    first: np.ndarray
    count: np.ndarray
    is_leaf: np.ndarray
    members: np.ndarray
    means: np.ndarray
    scale: np.ndarray

    @classmethod
    def build(cls, means, *, scale=None, branching=BRANCHING, leaf_size=None,
              random_state=0):
        """The tree over ``means``.

        Parameters
        ----------
        means : array-like of shape (n_components, n_features)
        scale : array-like of shape (n_features,) or None, default=None
            Features are multiplied by it before distances are taken (None:
            plain Euclidean).
        branching : int, default=16
            Children per internal node (at least 2).
        leaf_size : int or None, default=None
            Most means per leaf (None: ``branching``).
        random_state : int, default=0
            Seed of the k-means++ starts of the splits.

        Returns
        -------
        ComponentTree
        """
        with single_blas_thread():
            return cls._build(means, scale, branching, leaf_size, random_state)

    @classmethod
    def _build(cls, means, scale, branching, leaf_size, random_state):
        means = np.asarray(means, dtype=np.float64)
        n_components, n_features = means.shape
        scale = (np.ones(n_features) if scale is None
                 else np.asarray(scale, dtype=np.float64).reshape(n_features))
        points = means * scale
        leaf_size = branching if leaf_size is None else int(leaf_size)
        rng = np.random.RandomState(random_state)
        node_centres, first, count, is_leaf = [points.mean(axis=0)], [0], [0], [False]
        members = []
        pending = collections.deque([(0, np.arange(n_components))])
        while pending:
            node, ids = pending.popleft()
            if len(ids) <= max(leaf_size, 1):
                is_leaf[node] = True
                first[node], count[node] = len(members), len(ids)
                members.extend(ids.tolist())
                continue
            labels = _split(points[ids], min(branching, len(ids)), rng, SPLIT_ITERATIONS)
            groups = [ids[labels == j] for j in np.unique(labels)]
            if len(groups) == 1:  # identical means: any even split
                groups = np.array_split(ids, min(branching, len(ids)))
            first[node], count[node] = len(node_centres), len(groups)
            for group in groups:
                pending.append((len(node_centres), group))
                node_centres.append(points[group].mean(axis=0))
                first.append(0)
                count.append(0)
                is_leaf.append(False)
        return cls(
            node_centres=np.ascontiguousarray(node_centres, dtype=np.float64),
            first=np.asarray(first, dtype=np.int64),
            count=np.asarray(count, dtype=np.int64),
            is_leaf=np.asarray(is_leaf, dtype=np.bool_),
            members=np.asarray(members, dtype=np.int32),
            means=np.ascontiguousarray(points),
            scale=scale,
        )

    @property
    def n_components(self):
        """Number of means indexed."""
        return len(self.members)

    def nearest(self, X, n_nearest, *, beam=BEAM, parallel=False):
        """The (approximately) ``n_nearest`` nearest means of each row, nearest first.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
        n_nearest : int
            At most ``n_components``.
        beam : int, default=4
            Nodes kept per level; larger is slower and closer to exact.
        parallel : bool, default=False
            Split the rows between threads, one per core: for calls from
            the client, not from inside Dask tasks, which run in parallel
            already.

        Returns
        -------
        ndarray of shape (n_rows, n_nearest), int32
            Distinct component ids. When the leaves reached hold fewer than
            ``n_nearest`` means, the row is completed by the lowest ids not
            already taken (the callers' searches replace them).
        """
        from daskmix._index import _kernels

        n_nearest = int(n_nearest)
        if not 1 <= n_nearest <= self.n_components:
            raise ValueError(f"n_nearest={n_nearest} must be in [1, {self.n_components}]")
        out = np.empty((len(X), n_nearest), dtype=np.int32)
        X = np.ascontiguousarray(X)

        def query(rows):
            _kernels.tree_nearest(X[rows], self.scale, self.node_centres, self.first,
                                  self.count, self.is_leaf, self.members, self.means, int(beam),
                                  out[rows])

        if parallel:
            _in_threads(len(X), query)
        else:
            query(slice(None))
        return out

    def __dask_tokenize__(self):
        return ("daskmix-component-tree", self.node_centres, self.members, self.means,
                self.scale)
