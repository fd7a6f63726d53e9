"""Block-coordinate variational inference: the maths of ESVI, in NumPy.

ESVI (Zhang, Raman, Ji, Yu, Vishwanathan and Dhillon, "Extreme stochastic
variational inference") splits the ``K`` components into ``P`` blocks of
consecutive components and the rows into partitions. One *block step*
takes one row partition and the blocks ``H`` it holds, and

1. redistributes the mass each row puts on the components of ``H`` over
   them: with ``u_ik = E[log pi_k] + E[log N(x_i | theta_k)]`` and
   ``c_i = sum_{k in H} r_ik``, the new ``r_ik = c_i softmax_H(u_i)_k``
   (Lemma 1 of the paper: the exact maximiser of the lower bound over
   those coordinates, so every step is an ascent);
2. updates the posterior of the components of ``H`` from their statistics,
   kept as sums over *all* rows: the totals become ``totals - old
   contribution + new contribution`` of the partition's rows (exact, no
   pass over the other rows).

A step goes through its rows by tiles and does both for each tile, so a
tile sees the posterior its predecessors updated (each half is still an
exact coordinate step). Blocks keep statistics only; posteriors are
computed from them a chunk of components at a time (:class:`Block`), so a
step holds its blocks' statistics plus :data:`CHUNK_BYTES` and one tile of
log-joints, never a second copy of its blocks.

Rows keep at most ``n_active`` (component, responsibility) pairs (ESVI's
top-k variant): a step considers the row's entries in ``H`` plus the
``n_active`` best components of ``H`` by ``u_ik``, keeps the best of those
that fit in the row's free slots (at least the old ones' count, so the
step stays an ascent: the kept set's log-sum-exp is at least the old
set's) and gives them the row's mass on ``H`` by softmax.

The weights: for a Dirichlet *distribution*, a redistribution within ``H``
keeps the sum of the concentrations, so ``E[log pi_k] = digamma(alpha_k) -
digamma(sum alpha)`` is local to the block (the sum is a constant of the
fit). The stick-breaking Dirichlet process couples every component to the
counts after it and is not supported (see :class:`~daskmix.mixture.variational.esvi.ESVI`).

Everything here is plain NumPy on one row partition and a few blocks; the
distributed run (:mod:`~daskmix.mixture.variational.esvi`) calls these
functions in its tasks, and :func:`run_sequential` calls them in one
process, which makes it the reference the distributed run is tested
against.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from daskmix.mixture.covariance._linalg import pack_symmetric, unpack_symmetric
from daskmix.mixture.variational.model import VariationalParams

__all__ = [
    "Block",
    "BlockLayout",
    "Rows",
    "add_rows",
    "block_bound",
    "block_nbytes",
    "block_posterior",
    "block_ranges",
    "blocks_for_rows",
    "components_per_chunk",
    "converged",
    "empty_block",
    "initial_rows",
    "lower_bound",
    "merge_params",
    "neighbour_order",
    "ordered_start",
    "resp_log_resp",
    "run_sequential",
    "schedule",
    "spherical_start",
    "step_rows",
    "stop_window",
]

#: Elements of the (components x rows) tile of log-joints a step evaluates at once.
TILE_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class BlockLayout:
    """What every block step reads besides the rows and the blocks.

    Attributes
    ----------
    model : VariationalModel
        Priors and families (a Dirichlet-distribution weight prior).
    shift : ndarray of shape (n_features,)
        The fit's fixed shift: statistics are sums about it, so that
        contributions computed at different times add up.
    total_concentration : float
        ``sum_k alpha_k``: ``n_components * weight_concentration_prior +``
        the data's total weight (with the ``10 * eps`` of each count); a
        constant of the fit.
    eps : float
        ``10 * eps`` of the data's dtype, added to every count (as batch VI).
    n_active : int
        Entries each row keeps.
    n_components : int
    """

    model: object
    shift: np.ndarray
    total_concentration: float
    eps: float
    n_active: int
    n_components: int


@dataclass
class Rows:
    """One partition of the rows and their truncated variational distributions.

    Attributes
    ----------
    X : ndarray of shape (n_rows, n_features), float64
    weight : ndarray of shape (n_rows,) or None
    ids : ndarray of shape (n_rows, n_active), int64
        Component of each entry; -1 marks an empty slot.
    resp : ndarray of shape (n_rows, n_active)
        Responsibility of each entry (0 in empty slots); a row's entries sum to 1.
    """

    X: np.ndarray
    weight: object
    ids: np.ndarray
    resp: np.ndarray

    @property
    def nbytes(self):
        """Bytes held."""
        return int(self.X.nbytes + self.ids.nbytes + self.resp.nbytes
                   + (0 if self.weight is None else self.weight.nbytes))


@dataclass
class Block:
    """Consecutive components ``[start, stop)`` and their statistics over all rows.

    A block holds statistics only: its posterior is a function of them
    (batch VI's update), computed when a step, the lower bound or the
    fitted model needs it, a chunk of components at a time
    (:func:`block_posterior`), and never kept. Its memory is thus one
    second moment per component, stored as a triangle when the covariance
    type's second moments are symmetric matrices (``full``): ``K_b d (d +
    1) / 2`` numbers instead of the ``3 K_b d^2`` that statistics,
    covariances and precision factors take.

    Attributes
    ----------
    index, start, stop : int
    nk : ndarray of shape (n_block,)
        ``sum_i w_i r_ik``.
    sy : ndarray of shape (n_block, n_features)
        ``sum_i w_i r_ik (x_i - shift)``.
    s2 : ndarray
        Second moments about the shift: the covariance type's layout, or
        the upper triangles of its matrices when ``packed``.
    packed : bool
        Whether ``s2`` holds triangles (:func:`~daskmix.mixture.covariance._linalg.pack_symmetric`).
    shift : ndarray of shape (n_features,)
        The fit's shift (:attr:`BlockLayout.shift`).
    eps : float
        Added to every count (:attr:`BlockLayout.eps`).
    """

    index: int
    start: int
    stop: int
    nk: np.ndarray
    sy: np.ndarray
    s2: np.ndarray
    packed: bool
    shift: np.ndarray
    eps: float

    @property
    def nbytes(self):
        """Bytes held."""
        return int(self.nk.nbytes + self.sy.nbytes + self.s2.nbytes + self.shift.nbytes)

    def __sizeof__(self):
        # what dask's memory accounting reads (``sys.getsizeof``), so that a
        # worker spills and reports blocks by their real size
        return object.__sizeof__(self) + self.nbytes


def block_ranges(n_components, n_blocks):
    """``n_blocks`` ranges of consecutive components, sizes differing by at most one.

    Parameters
    ----------
    n_components, n_blocks : int

    Returns
    -------
    list of (int, int)
    """
    edges = np.linspace(0, n_components, int(n_blocks) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def schedule(n_blocks, n_partitions, rng):
    """The groups of blocks each partition holds in the rounds of one pass.

    The blocks are shuffled into ``n_partitions`` groups (``n_blocks`` is a
    multiple of ``n_partitions``); in round ``j`` partition ``w`` holds group
    ``(w + j) % n_partitions``, so every partition meets every block once a
    pass, every group is held by one partition a round, and the groups
    move around a ring. Reshuffling every pass puts every pair of blocks
    in one group sooner or later: mass moves between blocks only then.

    Parameters
    ----------
    n_blocks, n_partitions : int
    rng : numpy.random.RandomState

    Returns
    -------
    list of list of tuple of int
        ``rounds[j][w]``: the blocks partition ``w`` holds in round ``j``.
    """
    order = rng.permutation(n_blocks)
    size = n_blocks // n_partitions
    groups = [tuple(sorted(int(b) for b in order[g * size:(g + 1) * size]))
              for g in range(n_partitions)]
    return [[groups[(w + j) % n_partitions] for w in range(n_partitions)]
            for j in range(n_partitions)]


def stop_window(n_blocks, n_partitions):
    """Passes over which the lower bound must change by less than ``tol`` to stop.

    A pass only moves mass between blocks that share a group, and some
    pass's grouping may allow little progress: the test spans about the
    passes in which every pair of blocks shares a group once on average,
    ``ceil(C(P, 2) / (n_partitions C(g, 2)))`` for groups of ``g`` blocks
    (1 when every block is in one group).

    Parameters
    ----------
    n_blocks, n_partitions : int

    Returns
    -------
    int
    """
    size = n_blocks // n_partitions
    pairs = n_partitions * size * (size - 1) // 2
    if n_blocks == size:
        return 1
    return max(1, -(-(n_blocks * (n_blocks - 1) // 2) // max(pairs, 1)))


def converged(bounds, window, tol):
    """Whether the lower bound changed by less than ``tol`` over the last ``window`` passes.

    Parameters
    ----------
    bounds : list of float
        One per pass (the first is the bound before any pass).
    window : int
    tol : float

    Returns
    -------
    bool
    """
    return len(bounds) > window and abs(bounds[-1] - bounds[-1 - window]) < tol


# ---- the start ---------------------------------------------------------------
def _mean_variance(covariances, n_components):
    """Each component's mean variance (trace / n_features), whatever the covariance layout."""
    cov = np.asarray(covariances)
    if cov.ndim == 3:
        return np.trace(cov, axis1=1, axis2=2) / cov.shape[1]
    if cov.ndim == 2:
        return cov.mean(axis=1)
    return np.broadcast_to(cov, (n_components,)).astype(np.float64)


def neighbour_order(means, n_blocks):
    """An order of the components in which each block holds neighbouring means.

    Recursive bisection: a set of components is split at the median of
    its means' projections on their principal axis, into parts of sizes
    proportional to the blocks each gets, down to one block. Components
    that compete for the same rows then mostly share a block, and a step
    on one block can move their rows' mass between them (mass moves
    between blocks only when they are held together).

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)
    n_blocks : int

    Returns
    -------
    ndarray of shape (n_components,)
        A permutation: block ``b`` holds components ``order[start:stop]``
        of :func:`block_ranges`.
    """
    sizes = [b - a for a, b in block_ranges(len(means), n_blocks)]

    def split(index, sizes):
        if len(sizes) == 1:
            return [index]
        half = len(sizes) // 2
        n_left = sum(sizes[:half])
        centred = means[index] - means[index].mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        ranked = index[np.argsort(centred @ axis, kind="stable")]
        return split(ranked[:n_left], sizes[:half]) + split(ranked[n_left:], sizes[half:])

    return np.concatenate(split(np.arange(len(means)), sizes))


def ordered_start(start, n_blocks):
    """``start`` with its components in :func:`neighbour_order` for ``n_blocks`` blocks.

    Parameters
    ----------
    start : dict
        :func:`spherical_start`'s.
    n_blocks : int

    Returns
    -------
    dict
    """
    order = neighbour_order(start["means"], n_blocks)
    return {name: np.asarray(value)[order] for name, value in start.items()}


def spherical_start(model, params):
    """What the rows' initial distributions read of the starting posterior: O(K D) numbers.

    Parameters
    ----------
    model : VariationalModel
    params : VariationalParams

    Returns
    -------
    dict
        ``means`` (K, D), ``log_weights`` (K,) and ``variances`` (K,): the
        expected weights' logarithms and each component's mean variance.
    """
    n_components = params.means.shape[0]
    with np.errstate(divide="ignore"):
        log_weights = np.log(model.weights(params))
    return {"means": np.array(params.means, dtype=np.float64), "log_weights": log_weights,
            "variances": _mean_variance(params.covariances, n_components)}


def initial_rows(X, weight, start, n_active):
    """Rows with their ``n_active`` nearest means and spherical responsibilities.

    ``r_ik`` is proportional to ``w_k N(x_i | m_k, s_k^2 I)`` over the
    row's ``n_active`` nearest means (Euclidean), with the starting
    weights, means and mean variances of :func:`spherical_start`: the whole
    model is never needed at once.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    weight : ndarray of shape (n_rows,) or None
    start : dict
        :func:`spherical_start`'s.
    n_active : int

    Returns
    -------
    Rows
    """
    X = np.asarray(X, dtype=np.float64)
    means, variances = start["means"], start["variances"]
    n_components, n_features = means.shape
    n_active = min(int(n_active), n_components)
    ids = np.empty((len(X), n_active), dtype=np.int64)
    resp = np.empty((len(X), n_active))
    step = max(1, TILE_ELEMENTS // n_components)
    half_norms = 0.5 * np.einsum("kd,kd->k", means, means)
    for lo in range(0, len(X), step):
        x = X[lo:lo + step]
        # squared distance up to the row's own norm, which does not change the order
        score = half_norms - x @ means.T
        near = (np.argpartition(score, n_active - 1, axis=1)[:, :n_active]
                if n_active < n_components else np.broadcast_to(np.arange(n_components),
                                                                score.shape))
        diff = x[:, None, :] - means[near]
        log_joint = (start["log_weights"][near]
                     - 0.5 * n_features * np.log(variances[near])
                     - 0.5 * np.einsum("ncd,ncd->nc", diff, diff) / variances[near])
        ids[lo:lo + step] = near
        resp[lo:lo + step] = _softmax(log_joint)
    w = None if weight is None else np.asarray(weight, dtype=np.float64)
    return Rows(X, w, ids, resp)


def _softmax(log_joint, axis=-1):
    """Softmax along ``axis``; -inf entries get 0."""
    top = np.max(log_joint, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(log_joint - np.where(np.isfinite(top), top, 0.0))
        return e / np.maximum(e.sum(axis=axis, keepdims=True), np.finfo(float).tiny)


# ---- statistics and the block posterior -------------------------------------------
#: Bytes of dense second moments (or precision factors) built at once: a
#: block's posterior and changes of statistics are made a chunk of
#: components at a time, so that no step holds more than this besides the
#: blocks themselves.
CHUNK_BYTES = 1 << 23


def components_per_chunk(n_features):
    """Components whose dense ``n_features``-square matrices fill :data:`CHUNK_BYTES`.

    Parameters
    ----------
    n_features : int

    Returns
    -------
    int
    """
    return max(1, CHUNK_BYTES // (8 * n_features * n_features))


def _chunks(block):
    """Ranges ``(a, b)`` of the block's components (relative to ``start``), a chunk each."""
    n_block, n_features = block.sy.shape
    size = components_per_chunk(n_features)
    return [(a, min(a + size, n_block)) for a in range(0, n_block, size)]


def _dense_resp_t(rows, lo, hi, start, stop, ids=None, resp=None):
    """Weighted responsibilities of rows ``lo:hi`` on components ``[start, stop)``, (K_b, n)."""
    ids = rows.ids[lo:hi] if ids is None else ids
    resp = rows.resp[lo:hi] if resp is None else resp
    out = np.zeros((stop - start, hi - lo))
    inside = (ids >= start) & (ids < stop)
    row, slot = np.nonzero(inside)
    values = resp[row, slot]
    if rows.weight is not None:
        values = values * rows.weight[lo:hi][row]
    np.add.at(out, (ids[row, slot] - start, row), values)
    return out


def _moments_about_shift(covariance, D, resp_t, centres):
    """``(nk, sy, s2)`` of a tile, second moments about the shift."""
    nk, sy, s2 = covariance.moments(D, resp_t, centres)
    s2 = covariance.second_moment_about_shift(np.array(s2, dtype=np.float64), nk, sy, centres)
    return np.asarray(nk, dtype=np.float64), np.asarray(sy, dtype=np.float64), s2


def _tile_rows(n_rows, n_components):
    return max(1, min(n_rows, TILE_ELEMENTS // max(n_components, 1)))


def _stored_shape(n_block, n_features, layout):
    """The shape of a block's stored ``s2``, and whether it holds triangles."""
    shape = layout.model.covariance.second_moment_shape(n_block, n_features)
    if len(shape) == 3:  # symmetric matrices: their triangles
        return (n_block, n_features * (n_features + 1) // 2), True
    return shape, False


def block_nbytes(n_block, n_features, layout):
    """Bytes of a block of ``n_block`` components (as :attr:`Block.nbytes`).

    Parameters
    ----------
    n_block, n_features : int
    layout : BlockLayout

    Returns
    -------
    int
    """
    shape, _ = _stored_shape(n_block, n_features, layout)
    return 8 * (n_block * (1 + n_features) + int(np.prod(shape)) + n_features)


def empty_block(index, start, stop, n_features, layout):
    """Block ``index`` of components ``[start, stop)`` with zero statistics.

    Parameters
    ----------
    index, start, stop, n_features : int
    layout : BlockLayout

    Returns
    -------
    Block
    """
    n_block = stop - start
    shape, packed = _stored_shape(n_block, n_features, layout)
    return Block(int(index), int(start), int(stop), np.zeros(n_block),
                 np.zeros((n_block, n_features)), np.zeros(shape), packed,
                 np.asarray(layout.shift, dtype=np.float64), float(layout.eps))


def _second_moments(block, a, b):
    """Components ``a:b``'s second moments in the covariance type's layout (a new array)."""
    if block.packed:
        return unpack_symmetric(block.s2[a:b], block.sy.shape[1])
    return np.array(block.s2[a:b])


def _add_moments(block, a, b, sign, moments):
    """``block``'s statistics of components ``a:b`` plus ``sign`` times ``moments``, in place."""
    nk, sy, s2 = moments
    block.nk[a:b] += sign * nk
    block.sy[a:b] += sign * sy
    block.s2[a:b] += sign * (pack_symmetric(s2) if block.packed else s2)


def _centres(block, a, b):
    """Where the moments of components ``a:b`` are centred (their data means; 0 if empty)."""
    nk = block.nk[a:b, None]
    return np.where(nk > 0, block.sy[a:b] / np.where(nk > 0, nk, 1.0), 0.0)


def add_rows(block, rows, layout):
    """Add a partition's statistics on the block's components to ``block``, in place.

    Parameters
    ----------
    block : Block
    rows : Rows
    layout : BlockLayout

    Returns
    -------
    Block
        ``block``.
    """
    covariance = layout.model.covariance
    step = _tile_rows(len(rows.X), block.stop - block.start)
    for lo in range(0, len(rows.X), step):
        hi = min(lo + step, len(rows.X))
        D = None
        for a, b in _chunks(block):
            resp_t = _dense_resp_t(rows, lo, hi, block.start + a, block.start + b)
            if not resp_t.any():
                continue
            if D is None:
                D = covariance.prepare(rows.X[lo:hi], layout.shift)
            _add_moments(block, a, b, 1.0,
                         _moments_about_shift(covariance, D, resp_t, _centres(block, a, b)))
    return block


def _posterior(block, model, a, b):
    """The posterior of components ``a:b`` of ``block`` (batch VI's update of their statistics)."""
    counts = block.nk[a:b] + block.eps
    sy = block.sy[a:b]
    centres, sk = model.covariance.update(_second_moments(block, a, b), counts, sy,
                                          np.zeros_like(sy), model.reg_covar)
    return model.update(counts, block.shift + centres, sk)


def _log_weights(layout, params):
    """The per-component constants of the E-step for a block's posterior.

    :meth:`VariationalModel.log_weights` with ``E[log pi_k]`` taken against
    the fit's total concentration instead of the block's own sum.
    """
    concentration = params.weight_concentration
    return (layout.model.log_weights(params) + digamma(np.sum(concentration))
            - digamma(layout.total_concentration))


def _held(blocks):
    """The held blocks' components, concatenated in block order."""
    return np.concatenate([np.arange(b.start, b.stop) for b in blocks])


# ---- the step -------------------------------------------------------------------
def _log_joints(blocks, D, layout, n_rows):
    """``u_ik`` of a tile's rows on every held component, (n_rows, K_H), a chunk at a time."""
    covariance = layout.model.covariance
    u = np.empty((n_rows, sum(b.stop - b.start for b in blocks)))
    column = 0
    for block in blocks:
        for a, b in _chunks(block):
            p = _posterior(block, layout.model, a, b)
            u[:, column:column + b - a] = covariance.log_prob_t(
                D, p.means - layout.shift, p.prec_chol, _log_weights(layout, p)).T
            column += b - a
    return u


def _move_statistics(block, rows, lo, hi, new_ids, new_resp, D, layout):
    """Change ``block``'s statistics by rows ``lo:hi``'s change of responsibilities, in place."""
    covariance = layout.model.covariance
    for a, b in _chunks(block):
        start, stop = block.start + a, block.start + b
        old_t = _dense_resp_t(rows, lo, hi, start, stop)
        new_t = _dense_resp_t(rows, lo, hi, start, stop, new_ids, new_resp)
        if np.array_equal(old_t, new_t):
            continue
        centres = _centres(block, a, b)
        old = _moments_about_shift(covariance, D, old_t, centres)
        new = _moments_about_shift(covariance, D, new_t, centres)
        _add_moments(block, a, b, 1.0, new)
        _add_moments(block, a, b, -1.0, old)


def step_rows(rows, blocks, layout):
    """One block step: rows' mass on the held blocks redistributed (Lemma 1), blocks updated.

    The rows go by tiles (:data:`TILE_ELEMENTS` log-joints at a time); each
    tile's rows move their mass given the blocks' current posterior, then
    the blocks' statistics change by the tile's change of
    responsibilities, so the next tile sees the updated posterior. Both
    are exact coordinate steps (the rows' distributions given the
    posterior, then the posterior given every row's distribution), so the
    lower bound never decreases.

    Parameters
    ----------
    rows : Rows
    blocks : list of Block
        The blocks the partition holds (their components are the
        coordinates of the step). Updated in place.
    layout : BlockLayout

    Returns
    -------
    Rows
        A new object; ``rows`` is unchanged.
    """
    covariance = layout.model.covariance
    n_rows = len(rows.X)
    comps = _held(blocks)
    order = np.argsort(comps, kind="stable")
    sorted_comps = comps[order]
    n_held = len(comps)
    n_active = rows.ids.shape[1]
    n_candidates = min(n_active, n_held)
    new_ids = rows.ids.copy()
    new_resp = rows.resp.copy()
    step = _tile_rows(n_rows, n_held)
    for lo in range(0, n_rows, step):
        hi = min(lo + step, n_rows)
        ids, resp = rows.ids[lo:hi], rows.resp[lo:hi]
        pos = np.clip(np.searchsorted(sorted_comps, ids), 0, n_held - 1)
        local = order[pos]  # index into the held components
        inside = (ids >= 0) & (sorted_comps[pos] == ids)
        mass = np.where(inside, resp, 0.0).sum(axis=1)
        active = mass > 0
        if not active.any():
            continue
        D = covariance.prepare(rows.X[lo:hi], layout.shift)
        n = hi - lo
        u = _log_joints(blocks, D, layout, n)
        # candidates: the row's entries in H and the n_active best components of H
        if n_candidates < n_held:
            best = np.argpartition(-u, n_candidates - 1, axis=1)[:, :n_candidates]
        else:
            best = np.broadcast_to(np.arange(n_held), (n, n_held))
        cand = np.concatenate([np.where(inside, local, -1), best], axis=1)
        cand.sort(axis=1)
        duplicate = np.zeros_like(cand, dtype=bool)
        duplicate[:, 1:] = cand[:, 1:] == cand[:, :-1]
        valid = (cand >= 0) & ~duplicate
        score = np.where(valid, np.take_along_axis(u, np.maximum(cand, 0), axis=1), -np.inf)
        del u
        # the best ones that fit: every slot not taken by another block's entry
        capacity = n_active - ((ids >= 0) & ~inside).sum(axis=1)
        rank = np.argsort(-score, axis=1, kind="stable")
        cand = np.take_along_axis(cand, rank, axis=1)
        score = np.take_along_axis(score, rank, axis=1)
        keep = (np.arange(cand.shape[1]) < capacity[:, None]) & np.isfinite(score)
        score = np.where(keep, score, -np.inf)
        new_h = mass[:, None] * _softmax(score)
        # the rows' new entries: those outside H, then the kept ones of H
        out_ids = np.where(inside, -1, ids)
        out_resp = np.where(inside, 0.0, resp)
        kept_ids = np.where(keep, comps[np.maximum(cand, 0)], -1)
        all_ids = np.concatenate([out_ids, kept_ids], axis=1)
        all_resp = np.concatenate([out_resp, np.where(keep, new_h, 0.0)], axis=1)
        slot_order = np.argsort(all_ids < 0, axis=1, kind="stable")[:, :n_active]
        tile_ids = np.take_along_axis(all_ids, slot_order, axis=1)
        tile_resp = np.take_along_axis(all_resp, slot_order, axis=1)
        tile_ids[~active] = ids[~active]
        tile_resp[~active] = resp[~active]
        new_ids[lo:hi], new_resp[lo:hi] = tile_ids, tile_resp
        for block in blocks:
            _move_statistics(block, rows, lo, hi, tile_ids, tile_resp, D, layout)
    return Rows(rows.X, rows.weight, new_ids, new_resp)


def resp_log_resp(rows):
    """``sum_i w_i sum_k r_ik log r_ik`` over a partition's entries.

    Parameters
    ----------
    rows : Rows

    Returns
    -------
    float
    """
    r = rows.resp
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0).sum(axis=1)
    if rows.weight is not None:
        terms = terms * rows.weight
    return float(terms.sum())


def block_bound(block, layout):
    """A block's share of the lower bound (the posterior's terms of its components).

    Parameters
    ----------
    block : Block
    layout : BlockLayout

    Returns
    -------
    float
    """
    # the model's bound of each chunk of components, minus its Dirichlet
    # normaliser's shared part (gammaln of the chunk's concentration sum),
    # added once for the whole fit in :func:`lower_bound`
    total = 0.0
    for a, b in _chunks(block):
        p = _posterior(block, layout.model, a, b)
        total += (layout.model.lower_bound(p, 0.0)
                  + float(gammaln(np.sum(p.weight_concentration))))
    return total


def lower_bound(resp_log_resps, block_bounds, layout):
    """The evidence lower bound (constants dropped, as batch VI's ``lower_bound_``).

    Parameters
    ----------
    resp_log_resps : iterable of float
        :func:`resp_log_resp` of every partition.
    block_bounds : iterable of float
        :func:`block_bound` of every block.
    layout : BlockLayout

    Returns
    -------
    float
    """
    return float(-sum(resp_log_resps) + sum(block_bounds)
                 - gammaln(layout.total_concentration))


# ---- assembling a model -----------------------------------------------------------
def block_posterior(block, model, components=None):
    """A block's posterior, from its statistics (made a chunk of components at a time).

    Parameters
    ----------
    block : Block
    model : VariationalModel
    components : (int, int) or None, default=None
        Only the components ``start + a`` to ``start + b`` of ``(a, b)``
        (made at once: a caller holding one piece of a large block at a
        time asks for pieces of :func:`components_per_chunk`); None for all.

    Returns
    -------
    VariationalParams
    """
    if components is not None:
        return _posterior(block, model, *components)
    return merge_params([(a, _posterior(block, model, a, b)) for a, b in _chunks(block)])


def merge_params(parts):
    """The whole posterior from the posteriors of blocks covering every component.

    Parameters
    ----------
    parts : list of (int, VariationalParams)
        Each block's first component and :func:`block_posterior`.

    Returns
    -------
    VariationalParams
    """
    parts = sorted(parts, key=lambda part: part[0])
    names = vars(parts[0][1])
    return VariationalParams(**{
        name: np.concatenate([np.atleast_1d(getattr(p, name)) for _, p in parts])
        for name in names
    })


def blocks_for_rows(partitions, ranges, layout):
    """The blocks of the statistics of ``partitions`` (the first posterior's, from the rows).

    Parameters
    ----------
    partitions : list of Rows
    ranges : list of (int, int)
    layout : BlockLayout

    Returns
    -------
    list of Block
    """
    n_features = partitions[0].X.shape[1]
    blocks = []
    for index, (start, stop) in enumerate(ranges):
        block = empty_block(index, start, stop, n_features, layout)
        for rows in partitions:
            add_rows(block, rows, layout)
        blocks.append(block)
    return blocks


def run_sequential(partitions, layout, n_blocks, *, max_iter, tol, random_state,
                   on_step=None):
    """ESVI in one process: the reference of the distributed run.

    Every pass runs the rounds of :func:`schedule`; within a round, each
    partition steps with the group of blocks it holds (the groups are
    disjoint, so the order within a round does not matter: the distributed
    run computes them at once).

    Parameters
    ----------
    partitions : list of Rows
        Their initial distributions (:func:`initial_rows`).
    layout : BlockLayout
    n_blocks : int
        A multiple of ``len(partitions)``.
    max_iter : int
        Most passes.
    tol : float
        Stop when the lower bound changed by less over the last
        :func:`stop_window` passes.
    random_state : numpy.random.RandomState
        Draws each pass's groups.
    on_step : callable or None
        ``on_step(lower_bound)`` after every block step (for tests; costs a
        lower bound per step).

    Returns
    -------
    dict
        ``blocks``, ``partitions``, ``lower_bounds`` (one per pass),
        ``n_iter`` and ``converged``.
    """
    partitions = list(partitions)
    ranges = block_ranges(layout.n_components, n_blocks)
    blocks = blocks_for_rows(partitions, ranges, layout)
    window = stop_window(n_blocks, len(partitions))
    history, done = [], False

    def bound():
        return lower_bound([resp_log_resp(r) for r in partitions],
                           [block_bound(b, layout) for b in blocks], layout)

    history.append(bound())
    if on_step is not None:
        on_step(history[-1])
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        for groups in schedule(n_blocks, len(partitions), random_state):
            for w, group in enumerate(groups):
                held = [blocks[b] for b in group]
                partitions[w] = step_rows(partitions[w], held, layout)
                if on_step is not None:
                    on_step(bound())
        history.append(bound())
        if converged(history, window, tol):
            done = True
            break
    return {"blocks": blocks, "partitions": partitions, "lower_bounds": history[1:],
            "n_iter": n_iter, "converged": done}

