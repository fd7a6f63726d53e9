"""One block's share of a truncated-EM pass, and the merge of block results.

Pure NumPy (the loops are in ``kernels.truncated``, imported by the
functions that call them, so that importing this module does not load
numba); no dask import. A
block receives the pass's global inputs (:class:`PassInputs`: parameters,
neighbourhoods, random key) and its rows' ``K(n)``, and returns its rows'
new ``K(n)`` and a :class:`BlockStats`: everything the root needs, all of
it additive:

* the M-step's moments from the truncated responsibilities, packed as
  exact EM packs them (``kernels.suffstats.StatsLayout``: ``nk``, ``sy``, ``s2``,
  then ``loglik`` holding the truncated free energy, ``weight`` and the
  non-finite count);
* the number of (point, component) evaluations, ``sum_n |S(n)|``;
* the neighbourhood statistics as sparse records ``(key = c * K + k, sum
  of w (l_nc - l_nk), sum of w)``, sorted by key, aggregated inside the
  block and merged by key up the reduction tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskmix._kernels import TILE_ROWS, count_nonfinite, row_tiles, total_weight
from daskmix._random import counter_uniform
from daskmix.mixture.kernels.suffstats import _tiles, _weighted_log_prob_t

__all__ = [
    "SMALL_IDS_MAX_COMPONENTS",
    "BlockStats",
    "PassInputs",
    "active_dtype",
    "initial_active_block",
    "merge_block_stats",
    "random_candidates",
    "resp_log_resp",
    "tree_active_block",
    "truncated_block",
]

#: Beam of the tree search of each point's first ``K(n)`` (truncated
#: inference searches with the same beam). Wider finds more of each point's
#: nearest means and costs more per point; the warm-up passes repair the
#: misses near the true nearest mean, not those in another part of the tree.
#: Measured: 2048 components started on 2048 blobs (10 rows each, 4-D),
#: one component lost all its rows with a beam of 4 in one of four draws,
#: none with 8; 8192 rows and 4096 components (2 rows per component),
#: components re-seeded: 18-19 with 4, 9-10 with 8, 0-1 with 16.
ACTIVE_BEAM = 8

#: ``K(n)`` holds uint16 component ids up to this many components, int32
#: beyond. ``K(n)`` is the only per-row state a fit keeps, and a pass holds
#: the old and the new one: at 100,000,000 rows with ``n_active=3``, 1.2 GB
#: instead of 2.4 GB.
SMALL_IDS_MAX_COMPONENTS = 2**16


def active_dtype(n_components):
    """The dtype of ``K(n)`` (and of the search kernels' component ids) for ``n_components``.

    Parameters
    ----------
    n_components : int

    Returns
    -------
    numpy.dtype
        uint16 up to :data:`SMALL_IDS_MAX_COMPONENTS` components, else int32.
    """
    return np.dtype(np.uint16 if n_components <= SMALL_IDS_MAX_COMPONENTS else np.int32)


@dataclass(frozen=True, eq=False)
class PassInputs:
    """What every block of one pass receives.

    Attributes
    ----------
    covariance : CovarianceType
    evaluator : type
        Pair evaluator (``_truncated_pairs``).
    tables : tuple of ndarray
        The evaluator's per-component arrays.
    shift : ndarray of shape (n_features,)
        In the data's dtype.
    neighbours : ndarray of shape (n_components, n_neighbors), int32
        ``g_c`` (``g_c[0] == c``, padded with -1).
    random_key : int
        Key of this pass's random candidates (see :func:`random_candidates`).
    n_random : int
        Random candidates per row.
    layout : StatsLayout
    with_moments : bool
        False for the E-only warm-up passes.
    check_finite : bool
        Count non-finite values (the first pass).
    """

    covariance: object
    evaluator: type
    tables: tuple
    shift: np.ndarray
    neighbours: np.ndarray
    random_key: int
    n_random: int
    layout: object
    with_moments: bool
    check_finite: bool

    def __dask_tokenize__(self):
        return ("daskmix-truncated-inputs", self.covariance.name, self.evaluator.__name__,
                self.tables, self.shift, self.neighbours, self.random_key, self.n_random,
                self.layout, self.with_moments, self.check_finite)


@dataclass
class BlockStats:
    """Additive results of one or more blocks.

    Attributes
    ----------
    vector : ndarray of shape (layout.size,)
        Packed moments, free energy (``loglik``), weight, non-finite count.
    evaluations : int
        ``sum_n |S(n)|``.
    keys : ndarray of int64
        Sorted pair keys ``c * n_components + k``.
    sums, counts : ndarray of float32
        Per key: ``sum w (l_nc - l_nk)`` and ``sum w`` over the rows whose
        best component is ``c`` and whose search space holds ``k``.
    """

    vector: np.ndarray
    evaluations: int
    keys: np.ndarray
    sums: np.ndarray
    counts: np.ndarray


def random_candidates(random_key, row_start, n_rows, n_random, n_components):
    """The random candidates of rows ``row_start ..``, keyed by global row.

    Counter-based (``_random.counter_uniform``): the draws of a row depend
    on ``random_key`` and its global index only, not on the chunking, the
    scheduler or the order in which blocks run.

    Parameters
    ----------
    random_key : int
    row_start, n_rows, n_random, n_components : int

    Returns
    -------
    ndarray of shape (n_rows, n_random), int32
    """
    u = counter_uniform(random_key, row_start, n_rows, n_random)
    return np.minimum((u * n_components).astype(np.int32), n_components - 1)


def initial_active_block(X, row_start, *, params, n_active):
    """Initial ``K(n)`` of one block: each row's ``n_active`` most probable components.

    One exact E-step's worth of evaluations (``n_components`` per row, as
    matrix products through the covariance type's ``log_prob_t``), once per
    fit: the truncated passes then start from the best truncation for the
    initial parameters instead of a random one, which random candidates
    and neighbourhoods would need many passes to repair.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    row_start : int
        Unused (part of the row-block signature).
    params : EStepParams
    n_active : int

    Returns
    -------
    ndarray of shape (n_rows, n_active), :func:`active_dtype`
        Best first; ties broken by component index.
    """
    from daskmix.mixture.kernels import truncated as kernels

    n_components = params.centres.shape[0]
    out = np.empty((X.shape[0], n_active), dtype=active_dtype(n_components))
    for tile in _tiles(X, params.covariance, n_components):
        log_prob_t = _weighted_log_prob_t(params.covariance.prepare(X[tile], params.shift),
                                          params)
        kernels.top_per_column(log_prob_t, out[tile])
    return out


def tree_active_block(X, row_start, *, tree, n_active):
    """Initial ``K(n)`` of one block: each row's ``n_active`` nearest means, from a tree.

    O(log K) per row (:meth:`daskmix._index.ComponentTree.nearest`) instead
    of the O(K) of :func:`initial_active_block`; the order is by Euclidean
    distance, not by log-probability, which the first pass's search over
    the neighbourhoods corrects.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    row_start : int
        Unused (part of the row-block signature).
    tree : ComponentTree
        Over the initial means.
    n_active : int

    Returns
    -------
    ndarray of shape (n_rows, n_active), :func:`active_dtype`
    """
    return tree.nearest(X, n_active, beam=ACTIVE_BEAM).astype(active_dtype(tree.n_components))


def _gathered(source, index):
    """``source[index]`` along rows, without the GIL (``kernels.gather_rows``).

    ``source`` has one or two dimensions.
    """
    from daskmix.mixture.kernels import truncated as kernels

    out = np.empty((len(index),) + source.shape[1:], dtype=source.dtype)
    kernels.gather_rows(source.reshape(len(source), -1), index, out.reshape(len(index), -1))
    return out


def _empty_stats(layout, nonfinite=0):
    from daskmix.mixture.kernels.truncated import RECORD_DTYPE

    empty = np.empty(0, dtype=RECORD_DTYPE)
    return BlockStats(layout.zeros(nonfinite=nonfinite), 0, np.empty(0, dtype=np.int64), empty,
                      empty.copy())


def truncated_block(X, sample_weight, active, row_start, inputs):
    """One block's E-step (and moments) of a truncated-EM pass.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    sample_weight : ndarray of shape (n_rows,) or None
    active : ndarray of shape (n_rows, n_active), :func:`active_dtype`
        The rows' ``K(n)`` from the previous pass.
    row_start : int
        Global index of the block's first row.
    inputs : PassInputs

    Returns
    -------
    new_active : ndarray of shape (n_rows, n_active), like ``active``
    stats : BlockStats
    """
    from daskmix.mixture.kernels import truncated as kernels

    layout = inputs.layout
    n_rows = active.shape[0]
    n_components = layout.n_components
    new_active = np.empty_like(active)
    bad = count_nonfinite(X) if inputs.check_finite else 0
    if bad or n_rows == 0:
        new_active[...] = active
        return new_active, _empty_stats(layout, bad)
    evaluator, covariance = inputs.evaluator, inputs.covariance
    acc = (evaluator.new_moments(covariance, n_components, layout.n_features)
           if inputs.with_moments else None)
    table = kernels.PairTable(n_components)
    # Rows grouped by their previous best component (first in K(n)): the
    # rows of a tile then share search spaces, so the components' weights
    # and factors and their moments stay in cache, and the pair table
    # stages each group's pairs densely.
    order = kernels.order_by_component(active[:, 0], n_components)
    # the rows' small per-row arrays in that order, once per block (the tiles
    # are then slices); the rows themselves are gathered a tile at a time.
    # Gathers and scatters are compiled: NumPy's hold the GIL.
    previous = _gathered(active, order)
    randoms = _gathered(random_candidates(inputs.random_key, row_start, n_rows,
                                          inputs.n_random, n_components), order)
    row_weights = (np.ones(n_rows) if sample_weight is None else _gathered(
        np.asarray(sample_weight, dtype=np.float64).reshape(-1), order))
    sorted_active = np.empty_like(previous)
    resp = np.empty(previous.shape)
    # the gathered rows and, for the evaluators that use them, the
    # search-space temporaries (ids and log-joints, 12 bytes per candidate)
    # of one tile stay near 2 MB.
    rows_buffer = np.empty((min(TILE_ROWS, n_rows), X.shape[1]), dtype=X.dtype)
    free_energy = 0.0
    evaluations = 0
    for tile in row_tiles(n_rows, TILE_ROWS):
        tile_X = rows_buffer[: tile.stop - tile.start]
        kernels.gather_rows(X, order[tile], tile_X)
        energy, count = evaluator.evaluate_tile(
            covariance, inputs, tile_X, previous[tile], randoms[tile], row_weights[tile],
            sorted_active[tile], resp[tile], table, acc,
        )
        free_energy += energy
        evaluations += count
    kernels.scatter_rows(sorted_active, order, new_active)
    if acc is not None:
        nk, sy, s2 = evaluator.finish_moments(covariance, acc, layout.n_features)
    else:
        nk = sy = s2 = 0.0
    extra = {}
    if "resp_log_resp" in layout.offsets():
        # variational layouts also sum w q log q over the truncated posteriors
        extra["resp_log_resp"] = resp_log_resp(resp, row_weights)
    # ``pack`` broadcasts the zeros of an E-only pass to the fields' shapes
    vector = layout.pack(nk=nk, sy=sy, s2=s2, loglik=free_energy,
                         weight=total_weight(sample_weight, n_rows), nonfinite=0, **extra)
    keys, sums, counts = table.records()
    return new_active, BlockStats(vector, int(evaluations), keys, sums, counts)


def resp_log_resp(resp, row_weights):
    """``sum_n w_n sum_k q_nk log q_nk`` of weighted responsibilities ``resp = w q``.

    Parameters
    ----------
    resp : ndarray of shape (n_rows, n_active)
        Each row's ``w_n`` times its truncated posterior.
    row_weights : ndarray of shape (n_rows,)

    Returns
    -------
    float
    """
    w = np.broadcast_to(np.asarray(row_weights, dtype=np.float64)[:, None], resp.shape)
    kept = (resp > 0) & (w > 0)
    return float(np.sum(resp[kept] * np.log(resp[kept] / w[kept])))


def merge_block_stats(parts):
    """Merge the results of several blocks (sum; sorted records merged by key, linearly).

    Parameters
    ----------
    parts : list of BlockStats

    Returns
    -------
    BlockStats
    """
    from daskmix.mixture.kernels import truncated as kernels

    if len(parts) == 1:
        return parts[0]
    vector = np.sum([p.vector for p in parts], axis=0)
    evaluations = sum(int(p.evaluations) for p in parts)
    records = (parts[0].keys, parts[0].sums, parts[0].counts)
    for p in parts[1:]:
        records = kernels.merge_records(*records, p.keys, p.sums, p.counts)
    return BlockStats(vector, evaluations, *records)
