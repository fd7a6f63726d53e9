"""Initial k-means centres: k-means|| over the whole data, or a method on a row sample.

k-means|| (Bahmani, Moseley, Vattani, Kumar and Vassilvitskii, *Scalable
K-Means++*, PVLDB 2012), as the paper states it:

1. the first candidate is one row drawn at random (with probability
   proportional to its weight), by keys on global row indices, so the draw
   does not depend on the chunking;
2. each of ``n_rounds`` rounds (default ``N_ROUNDS = 5``) keeps every row
   independently with probability ``min(1, l * w d^2 / phi)``, where ``d`` is
   the distance to the nearest candidate so far, ``phi`` the total weighted
   cost and ``l = oversampling_factor * n_clusters`` (default ``2 k``): about
   ``l`` new candidates per round. The uniforms come from
   ``daskmix._random.counter_uniform`` keyed on the global row index, so the
   candidates do not depend on the chunking either;
3. one pass weights each candidate by the (weighted) rows nearest to it;
4. the client reclusters the ``~ 1 + n_rounds * l`` weighted candidates into
   ``n_clusters`` centres with weighted k-means++ and Lloyd iterations
   (:func:`daskmix.cluster._lloyd.kmeans`, scikit-learn's ``KMeans``
   procedure).

Each round is **one** pass: every chunk returns its cost and the rows with
the largest keys ``w d^2 / u``; after the tree merge the client keeps those
whose key exceeds ``phi / l``, which is exactly the rule ``u < l w d^2 / phi``
(see ``chunk_candidates``). A chunk keeps ``candidate_slots(l)`` rows, far
more than the round can select (the chance of selecting more is below
1e-18), so the sample is exact. Passes over the data, each one
``dask.compute``: ``n_rounds + 2`` (first candidate, rounds, weights); fewer
when the data has fewer distinct rows than candidates.

On a row sample (``init_size`` rows gathered in one compute, as
scikit-learn's ``MiniBatchKMeans`` does): k-means++ (scikit-learn's greedy
``kmeans_plusplus``), ``"random"`` rows, or a callable.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from daskmix._dask import graph as _graph
from daskmix._errors import raise_if_nonfinite
from daskmix.cluster._kmeans_kernels import (
    TopRowsLayout,
    chunk_candidates,
    chunk_first_centre,
    chunk_nearest_stats,
    merge_top_rows,
    nearest_centre,
    nearest_stats_size,
    unpack_nearest,
)
from daskmix.cluster._lloyd import kmeans

__all__ = [
    "N_ROUNDS",
    "OVERSAMPLING_FACTOR",
    "Candidates",
    "candidate_slots",
    "kmeans_parallel_candidates",
    "kmeans_parallel_init",
    "recluster",
    "seed_from_sample",
]

#: k-means|| rounds after the first candidate (the paper's experiments use about 5).
N_ROUNDS = 5
#: Expected new candidates per round, per cluster (``l = 2 k``, as Spark's default).
OVERSAMPLING_FACTOR = 2.0


def candidate_slots(expected):
    """Rows each chunk keeps in a k-means|| round expecting ``expected`` candidates.

    The number selected is a sum of independent Bernoulli draws with mean at
    most ``l = expected``; ``l + 10 sqrt(l) + 20`` is more than ten standard
    deviations above it, so (Bernstein's inequality) more are selected with
    probability below 1e-18.

    Parameters
    ----------
    expected : float

    Returns
    -------
    int
    """
    return math.ceil(expected + 10.0 * math.sqrt(expected) + 20.0)


@dataclass
class Candidates:
    """The weighted candidates of k-means||.

    Attributes
    ----------
    rows : ndarray of shape (n_candidates, n_features), float64
        The first candidate, then each round's candidates by row index.
    index : ndarray of shape (n_candidates,), int64
        Their global row indices.
    weights : ndarray of shape (n_candidates,)
        Weight of the rows nearest each candidate; sums to ``total_weight``.
    per_round : list of int
        New candidates of each round that ran.
    total_weight : float
        Sum of the sample weights (the number of rows when unweighted).
    """

    rows: np.ndarray
    index: np.ndarray
    weights: np.ndarray
    per_round: list
    total_weight: float


def _top_rows_pass(X, sample_weight, kernel, layout, name, split_every, **params):
    """Run one pass of a top-rows kernel (one compute) and unpack its result.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    sample_weight : dask.array.Array of shape (n_samples,) or None
    kernel : callable
        ``chunk_first_centre`` or ``chunk_candidates``.
    layout : TopRowsLayout
    name : str
        Layer name after ``daskmix-``.
    split_every : int or None
    **params
        Passed to ``kernel``.

    Returns
    -------
    dict
        ``TopRowsLayout.unpack`` of the merged result.
    """
    stats = _graph.reduce_blocks(
        X, sample_weight, kernel, size=layout.size, name=name, split_every=split_every,
        merge=functools.partial(merge_top_rows, layout=layout), layout=layout, **params,
    )
    (vector,) = _graph.compute(stats)
    return layout.unpack(vector)


def kmeans_parallel_candidates(
    X, sample_weight, n_clusters, random_state=None, *, n_rounds=N_ROUNDS,
    oversampling_factor=OVERSAMPLING_FACTOR, split_every=None,
):
    """Draw and weight the k-means|| candidates (steps 1 to 3 of the module notes).

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        One chunk along the features; NaN or infinity raise ``ValueError``
        after the first pass.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Chunked like ``X``'s rows.
    n_clusters : int
    random_state : int, RandomState instance or None, default=None
    n_rounds : int, default=N_ROUNDS
    oversampling_factor : float, default=OVERSAMPLING_FACTOR
        ``l = oversampling_factor * n_clusters`` candidates expected per round.
    split_every : int or None, default=None

    Returns
    -------
    Candidates
    """
    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int64).max, size=n_rounds + 1, dtype=np.int64)
    n_features = X.shape[1]
    first = _top_rows_pass(
        X, sample_weight, chunk_first_centre, TopRowsLayout(1, n_features),
        "kmeans-parallel-first", split_every, seed=int(seeds[0]), check_finite=True,
    )
    raise_if_nonfinite(first["nonfinite"])
    rows, index = [first["rows"]], [first["index"]]
    expected = oversampling_factor * n_clusters
    layout = TopRowsLayout(candidate_slots(expected), n_features)
    per_round = []
    for seed in seeds[1:]:
        centres = np.concatenate(rows).astype(X.dtype)
        drawn = _top_rows_pass(
            X, sample_weight, chunk_candidates, layout, "kmeans-parallel-round",
            split_every, centres=centres, seed=int(seed),
        )
        if not drawn["cost"] > 0:
            break  # every row sits on a candidate: nothing left to draw
        chosen = drawn["keys"] > drawn["cost"] / expected
        order = np.argsort(drawn["index"][chosen], kind="stable")
        rows.append(drawn["rows"][chosen][order])
        index.append(drawn["index"][chosen][order])
        per_round.append(int(chosen.sum()))
    rows, index = np.concatenate(rows), np.concatenate(index)
    stats = _graph.reduce_blocks(
        X, sample_weight, chunk_nearest_stats, size=nearest_stats_size(len(rows)),
        name="kmeans-parallel-weights", split_every=split_every,
        centres=rows.astype(X.dtype),
    )
    (vector,) = _graph.compute(stats)
    weights, _, _ = unpack_nearest(vector, len(rows))
    return Candidates(rows=rows, index=index, weights=weights.copy(), per_round=per_round,
                      total_weight=first["weight"])


def recluster(rows, weights, n_clusters, random_state=None):
    """Weighted k-means++ and Lloyd on the candidates, in the client.

    :func:`daskmix.cluster._lloyd.kmeans`: scikit-learn's ``KMeans`` with
    ``n_init=1`` and a seed drawn from ``random_state``.

    Parameters
    ----------
    rows : ndarray of shape (n_candidates, n_features)
    weights : ndarray of shape (n_candidates,)
    n_clusters : int
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_features), float64
        With fewer weighted candidates than clusters (data with fewer
        distinct rows than clusters), every candidate is a centre and the
        heaviest ones are repeated.
    labels : ndarray of shape (n_candidates,), int64
        The nearest centre of every candidate.
    """
    rng = check_random_state(random_state)
    keep = weights > 0
    kept, kept_weights = rows[keep].astype(np.float64), weights[keep]
    if len(kept) <= n_clusters:
        order = np.argsort(-kept_weights, kind="stable")
        centres = kept[np.resize(order, n_clusters)]
        return centres, nearest_centre(np.asarray(rows, dtype=np.float64), centres)[0]
    centres, labels = kmeans(kept, kept_weights, n_clusters,
                             rng.randint(np.iinfo(np.int32).max))
    if not keep.all():
        labels, _ = nearest_centre(np.asarray(rows, dtype=np.float64), centres)
    return centres, labels


def kmeans_parallel_init(
    X, sample_weight, n_clusters, random_state=None, *, n_rounds=N_ROUNDS,
    oversampling_factor=OVERSAMPLING_FACTOR, split_every=None,
):
    """k-means|| initial centres of (possibly weighted) dask data.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        One chunk along the features, known chunk sizes.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Chunked like ``X``'s rows.
    n_clusters : int
    random_state : int, RandomState instance or None, default=None
        The same value gives the same centres whatever the chunking.
    n_rounds : int, default=N_ROUNDS
    oversampling_factor : float, default=OVERSAMPLING_FACTOR
    split_every : int or None, default=None

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_features), float64

    Notes
    -----
    ``n_rounds + 2`` passes over the data, each one ``dask.compute``; see
    the module notes.
    """
    rng = check_random_state(random_state)
    candidates = kmeans_parallel_candidates(
        X, sample_weight, n_clusters, rng, n_rounds=n_rounds,
        oversampling_factor=oversampling_factor, split_every=split_every,
    )
    centres, _ = recluster(candidates.rows, candidates.weights, n_clusters, rng)
    return centres


def seed_from_sample(init, rows, weights, n_clusters, random_state):
    """Initial centres from an in-memory row sample, as scikit-learn seeds them.

    Parameters
    ----------
    init : {"k-means++", "random"} or callable
        ``"k-means++"``: scikit-learn's greedy, weighted k-means++;
        ``"random"``: ``n_clusters`` distinct rows drawn with probability
        proportional to their weight; a callable is called as
        ``init(rows, n_clusters, random_state=random_state)``.
    rows : ndarray of shape (n_rows, n_features)
    weights : ndarray of shape (n_rows,) or None
    n_clusters : int
    random_state : RandomState instance

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_features), float64
    """
    weights = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    if isinstance(init, str) and init == "k-means++":
        from sklearn.cluster import kmeans_plusplus  # slow to import: loaded when first used

        centres, _ = kmeans_plusplus(
            rows, n_clusters, sample_weight=weights.astype(rows.dtype),
            random_state=random_state,
        )
    elif isinstance(init, str) and init == "random":
        total = weights.sum()
        p = weights / total if total > 0 else None
        if p is not None and np.count_nonzero(p) < n_clusters:
            p = None  # too few weighted rows to draw from: draw uniformly
        centres = rows[random_state.choice(len(rows), size=n_clusters, replace=False, p=p)]
    else:
        centres = check_array(init(rows, n_clusters, random_state=random_state),
                              dtype=[np.float64, np.float32])
        if centres.shape != (n_clusters, rows.shape[1]):
            raise ValueError(
                f"The callable init returned centres of shape {centres.shape}; "
                f"expected ({n_clusters}, {rows.shape[1]}) (n_clusters, n_features)."
            )
    return np.asarray(centres, dtype=np.float64)
