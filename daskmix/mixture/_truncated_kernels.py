"""Compiled per-point loops of truncated variational EM (pure NumPy and numba, no dask).

Truncated EM touches, for each point ``n``, only the components of its
search space ``S(n)`` (a few dozen, whatever the number of components), so
its work is a gather over sparse (point, component) pairs that NumPy cannot
vectorise. The loops here do it in one pass each, release the GIL (Dask's
threads run them in parallel) and keep their temporaries to one tile:

``top_per_column``
    The initial ``K(n)``: the ``n_active`` best of a dense (components,
    rows) tile of log-probabilities.
``search_space``
    ``S(n) = (union of g_c for c in K(n)) + random ids``, deduplicated.
``folded_log_joints`` / ``cholesky_log_joints``
    The log-joints ``log pi_c + log N(x_n | c)`` over ``S(n)``: a dot
    product of the row's design with the component's folded weights
    (``diag``, ``spherical``: O(D) per pair), or a triangular product with
    the precision Cholesky factor (``full``: O(D^2) per pair).
``group_pairs``
    The pairs of ``S(n)`` (or ``K(n)``) grouped by component, for the
    evaluators that work one component at a time with matrix products
    (``factor``: one (rows, D) x (D, 2H) product per component).
``select``
    The new ``K(n)`` (top ``n_active`` of ``S(n)``), the truncated
    responsibilities (softmax over ``K(n)``), the free energy, and the
    neighbourhood statistics ``(c, k) -> (sum of l_nc - l_nk, count)`` of
    each point's best component ``c``, aggregated in a :class:`PairTable`
    (one small open-addressing region per ``c``; never a dense table over
    pairs of components).
``folded_moments`` / ``cholesky_moments``
    The M-step's moments from the sparse responsibilities.

All loops run point by point (point-major): a row of the data is read once
and stays in the first-level cache while its few dozen components are
evaluated against it. The caller hands the rows over grouped by their
previous best component, so consecutive rows share most of their search
space: each component's folded weights (``2 D + 1`` numbers for ``diag``)
or Cholesky factor, its moments and its pair-table region stay in cache
across rows, which is what a component-major loop (vamm's choice for
``full``) would buy, without sorting the pairs. Sums are in float64
whatever the data's dtype.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "EMPTY_KEY",
    "PairTable",
    "cholesky_log_joints",
    "cholesky_moments",
    "folded_log_joints",
    "folded_moments",
    "group_pairs",
    "search_space",
    "select",
    "smallest_per_component",
    "top_per_column",
]

#: Marks a free slot of the pair table.
EMPTY_KEY = -1
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
#: Lets LLVM reorder the dot products' sums into SIMD lanes: 2.6x faster
#: log-joints (measured: 0.38 s instead of 1.0 s per million rows with 46
#: ``diag`` evaluations of 32 features each, one core). The order is fixed by
#: the compiled code, so results stay deterministic; they differ from a
#: sequential sum by rounding only.
_DOT_FASTMATH = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True)
def top_per_column(log_prob_t, out):
    """The ``out.shape[1]`` largest entries of each column, best first (ties: lower row).

    Reads the (n_components, n_rows) array row by row (contiguous), keeping
    a short sorted buffer per column.

    Parameters
    ----------
    log_prob_t : ndarray of shape (n_components, n_rows)
    out : ndarray of shape (n_rows, n_keep), int32
        Filled with the row indices (components).
    """
    n_components, n = log_prob_t.shape
    n_keep = out.shape[1]
    values = np.full((n, n_keep), -np.inf)
    out[:] = -1
    for k in range(n_components):
        for j in range(n):
            v = log_prob_t[k, j]
            if out[j, n_keep - 1] >= 0 and v <= values[j, n_keep - 1]:
                continue
            a = n_keep - 1
            while a > 0 and (out[j, a - 1] < 0 or v > values[j, a - 1]):
                values[j, a] = values[j, a - 1]
                out[j, a] = out[j, a - 1]
                a -= 1
            values[j, a] = v
            out[j, a] = k


@numba.njit(cache=True, nogil=True)
def search_space(active, neighbours, random_ids, out, counts):
    """Deduplicated search spaces ``S(n)``.

    Parameters
    ----------
    active : ndarray of shape (n_rows, n_active), int32
        ``K(n)``.
    neighbours : ndarray of shape (n_components, n_neighbors), int32
        ``g_c``, ``g_c[0] == c``, padded with -1.
    random_ids : ndarray of shape (n_rows, n_random), int32
        Random candidates of each row.
    out : ndarray of shape (n_rows, n_active * n_neighbors + n_random), int32
        Filled with the members of ``S(n)``, first ``counts[n]`` entries.
    counts : ndarray of shape (n_rows,), int64
        Filled with ``|S(n)|``.
    """
    n, n_active = active.shape
    n_neighbors = neighbours.shape[1]
    seen = np.full(neighbours.shape[0], -1, dtype=np.int64)
    for i in range(n):
        m = 0
        for a in range(n_active):
            c = active[i, a]
            for b in range(n_neighbors):
                k = neighbours[c, b]
                if k < 0:
                    break
                if seen[k] != i:
                    seen[k] = i
                    out[i, m] = k
                    m += 1
        for e in range(random_ids.shape[1]):
            k = random_ids[i, e]
            if seen[k] != i:
                seen[k] = i
                out[i, m] = k
                m += 1
        counts[i] = m


@numba.njit(cache=True, nogil=True, fastmath=_DOT_FASTMATH)
def folded_log_joints(design, weights, space, counts, out):
    """Log-joints ``design[n] . weights[c]`` for ``c`` in ``S(n)``.

    Parameters
    ----------
    design : ndarray of shape (n_rows, n_design)
        The rows' design (``[y, q(y), 1]`` of the diagonal family).
    weights : ndarray of shape (n_components, n_design), float64
        Folded weights: the log-joint of a row is one dot product.
    space, counts : from :func:`search_space`
    out : ndarray of shape space.shape, float64
        Filled with the log-joints (first ``counts[n]`` entries of a row).
    """
    n, width = design.shape
    for i in range(n):
        for s in range(counts[i]):
            c = space[i, s]
            total = 0.0
            for j in range(width):
                total += design[i, j] * weights[c, j]
            out[i, s] = total


@numba.njit(cache=True, nogil=True, fastmath=_DOT_FASTMATH)
def cholesky_log_joints(Y, centres, factors_t, offsets, space, counts, out):
    """Log-joints ``offset_c - |(y - mu_c)' U_c|^2 / 2`` for ``c`` in ``S(n)``.

    Parameters
    ----------
    Y : ndarray of shape (n_rows, n_features)
        Shifted rows.
    centres : ndarray of shape (n_components, n_features), float64
        Shifted means.
    factors_t : ndarray of shape (n_components, n_features, n_features), float64
        Transposed upper precision Cholesky factors ``U_c.T``: row ``j``
        holds column ``j`` of ``U_c``, whose first ``j + 1`` entries are the
        non-zero ones, contiguous.
    offsets : ndarray of shape (n_components,), float64
        ``log pi_c + log det(U_c) - D/2 log(2 pi)``.
    space, counts : from :func:`search_space`
    out : ndarray of shape space.shape, float64
    """
    n, d = Y.shape
    delta = np.empty(d)
    for i in range(n):
        for s in range(counts[i]):
            c = space[i, s]
            for j in range(d):
                delta[j] = Y[i, j] - centres[c, j]
            square = 0.0
            for j in range(d):
                z = 0.0
                for t in range(j + 1):
                    z += delta[t] * factors_t[c, j, t]
                square += z * z
            out[i, s] = offsets[c] - 0.5 * square


@numba.njit(cache=True, nogil=True)
def group_pairs(ids, counts, n_components):
    """The pairs ``(row, slot)`` of ``ids`` grouped by component (a counting sort).

    Only the components present get a group, in order of first
    appearance; inside a group the rows keep their order. The work is
    linear in the number of pairs (plus one ``n_components`` scratch
    array, as :func:`search_space`), never a sort over all components.

    Parameters
    ----------
    ids : ndarray of shape (n_rows, width), int32
        Component ids per row (``S(n)`` or ``K(n)``), distinct in a row.
    counts : ndarray of shape (n_rows,), int64
        The first ``counts[n]`` entries of row ``n`` are pairs.
    n_components : int

    Returns
    -------
    rows, slots : ndarray of shape (n_pairs,), int64
        The pairs, group after group.
    components : ndarray of shape (n_groups,), int64
        The component of each group.
    starts : ndarray of shape (n_groups + 1,), int64
        Group ``g`` is ``rows[starts[g]:starts[g + 1]]``.
    """
    n = ids.shape[0]
    group_of = np.full(n_components, -1, dtype=np.int64)
    total = 0
    for i in range(n):
        total += counts[i]
    components = np.empty(min(total, n_components), dtype=np.int64)
    sizes = np.zeros(min(total, n_components), dtype=np.int64)
    n_groups = 0
    for i in range(n):
        for s in range(counts[i]):
            c = ids[i, s]
            g = group_of[c]
            if g < 0:
                g = n_groups
                group_of[c] = g
                components[g] = c
                n_groups += 1
            sizes[g] += 1
    starts = np.zeros(n_groups + 1, dtype=np.int64)
    for g in range(n_groups):
        starts[g + 1] = starts[g] + sizes[g]
    fill = starts[:n_groups].copy()
    rows = np.empty(total, dtype=np.int64)
    slots = np.empty(total, dtype=np.int64)
    for i in range(n):
        for s in range(counts[i]):
            g = group_of[ids[i, s]]
            rows[fill[g]] = i
            slots[fill[g]] = s
            fill[g] += 1
    return rows, slots, components[:n_groups].copy(), starts


class PairTable:
    """Sums and counts per pair ``(c, k)``, one small hash region per ``c``.

    Region ``c`` is an open-addressing table (linear probing, at most half
    full, doubled when needed) over the ``k`` of the pairs ``(c, k)``. A
    point adds all its pairs to the region of its best component, so its
    few dozen updates hit one small, cached region; a single table over all
    pairs would miss the cache on nearly every update. Memory grows with
    the pairs seen, never with ``n_components ** 2``.

    Parameters
    ----------
    n_components : int
    """

    def __init__(self, n_components):
        self.start = np.zeros(n_components, dtype=np.int64)
        self.capacity = np.zeros(n_components, dtype=np.int64)
        self.used = np.zeros(n_components, dtype=np.int64)
        # last region each k was looked up in, and its slot there: rows come
        # grouped by best component, so most lookups repeat the previous row's
        self.owner = np.full(n_components, -1, dtype=np.int64)
        self.slot = np.zeros(n_components, dtype=np.int64)
        self.pool_used = np.zeros(1, dtype=np.int64)
        self.keys = np.full(1 << 12, EMPTY_KEY, dtype=np.int32)
        self.sums = np.zeros(1 << 12)
        self.counts = np.zeros(1 << 12)

    @property
    def arrays(self):
        """The arrays :func:`select` updates, in its order."""
        return (self.start, self.capacity, self.used, self.owner, self.slot, self.pool_used,
                self.keys, self.sums, self.counts)

    def replace_pool(self, keys, sums, counts):
        """Take the (possibly reallocated) pool arrays back from :func:`select`."""
        self.keys, self.sums, self.counts = keys, sums, counts

    def records(self):
        """The pairs, sorted by key ``c * n_components + k``.

        Returns
        -------
        keys : ndarray of int64
        sums, counts : ndarray of float64
        """
        keys, sums, counts = _records(self.start, self.capacity, self.used, self.keys,
                                      self.sums, self.counts)
        order = np.argsort(keys, kind="stable")
        return keys[order], sums[order], counts[order]


@numba.njit(cache=True, nogil=True)
def _probe(keys, start, capacity, k):
    """The slot of ``k`` in a region, or the free slot where it goes."""
    mask = capacity - 1
    h = np.int64((np.uint64(k) * _HASH_MULTIPLIER) >> np.uint64(32)) & mask
    while keys[start + h] != EMPTY_KEY and keys[start + h] != k:
        h = (h + 1) & mask
    return start + h


@numba.njit(cache=True, nogil=True)
def _reserve(c, extra, start, capacity, used, owner, slot_of, pool_used, keys, sums, counts):
    """Room for ``extra`` more keys in region ``c``; returns the pool arrays."""
    need = used[c] + extra
    if 2 * need <= capacity[c]:
        return keys, sums, counts
    new_capacity = max(capacity[c], 16)
    while 2 * need > new_capacity:
        new_capacity *= 2
    if pool_used[0] + new_capacity > keys.shape[0]:
        size = max(2 * keys.shape[0], pool_used[0] + new_capacity)
        grown_keys = np.full(size, EMPTY_KEY, dtype=np.int32)
        grown_sums = np.zeros(size)
        grown_counts = np.zeros(size)
        grown_keys[: pool_used[0]] = keys[: pool_used[0]]
        grown_sums[: pool_used[0]] = sums[: pool_used[0]]
        grown_counts[: pool_used[0]] = counts[: pool_used[0]]
        keys, sums, counts = grown_keys, grown_sums, grown_counts
    new_start = pool_used[0]
    pool_used[0] += new_capacity
    for h in range(start[c], start[c] + capacity[c]):
        if keys[h] != EMPTY_KEY:
            slot = _probe(keys, new_start, new_capacity, keys[h])
            keys[slot] = keys[h]
            sums[slot] = sums[h]
            counts[slot] = counts[h]
            if owner[keys[h]] == c:
                slot_of[keys[h]] = slot
    start[c] = new_start
    capacity[c] = new_capacity
    return keys, sums, counts


@numba.njit(cache=True, nogil=True)
def _records(start, capacity, used, keys, sums, counts):
    n_components = start.shape[0]
    total = 0
    for c in range(n_components):
        total += used[c]
    out_keys = np.empty(total, dtype=np.int64)
    out_sums = np.empty(total)
    out_counts = np.empty(total)
    at = 0
    for c in range(n_components):
        for h in range(start[c], start[c] + capacity[c]):
            if used[c] and keys[h] != EMPTY_KEY:
                out_keys[at] = c * n_components + keys[h]
                out_sums[at] = sums[h]
                out_counts[at] = counts[h]
                at += 1
    return out_keys, out_sums, out_counts


@numba.njit(cache=True, nogil=True)
def smallest_per_component(first, second, score, n_keep, out):
    """The ``n_keep`` ``second`` with the smallest ``score`` per ``first``.

    Parameters
    ----------
    first, second : ndarray of int64
        Pairs, sorted by ``first``.
    score : ndarray of float64
    n_keep : int
    out : ndarray of shape (n_components, 1 + n_keep), int32
        Row ``c`` (for every ``c`` that has pairs) gets ``c``, then its
        kept ``second`` by increasing score (ties: the smaller ``second``),
        then -1 padding.
    """
    n = first.shape[0]
    begin = 0
    while begin < n:
        c = first[begin]
        end = begin
        while end < n and first[end] == c:
            end += 1
        out[c, 0] = c
        for a in range(n_keep):
            best = -1
            for i in range(begin, end):
                if second[i] < 0:
                    continue
                if (best < 0 or score[i] < score[best]
                        or (score[i] == score[best] and second[i] < second[best])):
                    best = i
            if best < 0:
                out[c, 1 + a] = -1
            else:
                out[c, 1 + a] = second[best]
                second[best] = -1 - second[best]  # taken
        for i in range(begin, end):
            if second[i] < 0:
                second[i] = -1 - second[i]
        begin = end


@numba.njit(cache=True, nogil=True)
def select(space, counts, log_joints, row_weights, active, resp, start, capacity, used,
           owner, slot_of, pool_used, keys, sums, pair_counts):
    """New ``K(n)``, responsibilities, free energy and neighbourhood statistics.

    For each row: ``c`` = the best component of ``S(n)``; every other
    ``k`` of ``S(n)`` adds ``w (l_nc - l_nk)`` and ``w`` to the pair
    ``(c, k)`` of the :class:`PairTable`; ``K(n)`` becomes the
    ``n_active`` best of ``S(n)`` (ties broken by position in ``S(n)``),
    and its responsibilities the softmax of their log-joints, times ``w``.

    Parameters
    ----------
    space, counts : from :func:`search_space`
    log_joints : ndarray of shape space.shape, float64
    row_weights : ndarray of shape (n_rows,), float64
        Sample weights (ones when there are none).
    active : ndarray of shape (n_rows, n_active), int32
        Filled with the new ``K(n)``.
    resp : ndarray of shape (n_rows, n_active), float64
        Filled with the weighted responsibilities.
    start, capacity, used, owner, slot_of, pool_used, keys, sums, pair_counts : ndarray
        ``PairTable.arrays``; updated.

    Returns
    -------
    free_energy : float
        ``sum_n w_n logsumexp_{c in K(n)} l_nc``.
    evaluations : int
        ``sum_n |S(n)|``.
    keys, sums, pair_counts : ndarray
        The pool arrays, reallocated if they had to grow.
    """
    n, n_active = active.shape
    top_values = np.empty(n_active)
    top_ids = np.empty(n_active, dtype=np.int64)
    free_energy = 0.0
    evaluations = 0
    for i in range(n):
        m = counts[i]
        evaluations += m
        w = row_weights[i]
        # the n_active best, best first, in one pass (insertion into a short
        # sorted buffer; most candidates fail the first comparison)
        filled = 0
        best_at = 0
        for s in range(m):
            v = log_joints[i, s]
            if filled == n_active and v <= top_values[n_active - 1]:
                continue
            a = filled if filled < n_active else n_active - 1
            while a > 0 and v > top_values[a - 1]:
                top_values[a] = top_values[a - 1]
                top_ids[a] = top_ids[a - 1]
                a -= 1
            top_values[a] = v
            top_ids[a] = space[i, s]
            if a == 0:
                best_at = s
            if filled < n_active:
                filled += 1
        top = top_values[0]
        total = 0.0
        for a in range(n_active):
            total += np.exp(top_values[a] - top)
        log_norm = top + np.log(total)
        free_energy += w * log_norm
        for a in range(n_active):
            active[i, a] = top_ids[a]
            resp[i, a] = w * np.exp(top_values[a] - log_norm)
        if w == 0.0:
            continue
        c = top_ids[0]
        if 2 * (used[c] + m - 1) > capacity[c]:
            # rare; a call returning arrays costs about 0.5 us, so not per row
            keys, sums, pair_counts = _reserve(c, m - 1, start, capacity, used, owner,
                                               slot_of, pool_used, keys, sums, pair_counts)
        for s in range(m):
            if s == best_at:
                continue
            k = space[i, s]
            if owner[k] == c:
                h = slot_of[k]
            else:
                h = _probe(keys, start[c], capacity[c], k)
                if keys[h] == EMPTY_KEY:
                    keys[h] = k
                    used[c] += 1
                owner[k] = c
                slot_of[k] = h
            sums[h] += w * (top - log_joints[i, s])
            pair_counts[h] += w
    return free_energy, evaluations, keys, sums, pair_counts


@numba.njit(cache=True, nogil=True)
def folded_moments(design, active, resp, out):
    """``out[c] += r_nc design[n]`` over the pairs of ``K(n)``: ``resp_t @ design``, sparse.

    Parameters
    ----------
    design : ndarray of shape (n_rows, n_design)
    active : ndarray of shape (n_rows, n_active), int32
    resp : ndarray of shape (n_rows, n_active), float64
    out : ndarray of shape (n_components, n_design), float64
        Added to.
    """
    n, width = design.shape
    for i in range(n):
        for a in range(active.shape[1]):
            r = resp[i, a]
            if r == 0.0:
                continue
            c = active[i, a]
            for j in range(width):
                out[c, j] += r * design[i, j]


@numba.njit(cache=True, nogil=True)
def cholesky_moments(Y, centres, active, resp, nk, sy, scatter):
    """Full-covariance moments from sparse responsibilities.

    ``nk[c] += r``, ``sy[c] += r y`` (about the shift) and the upper
    triangle of ``scatter[c] += r (y - mu_c)(y - mu_c)'`` (centred on the
    current means, as ``_FullCovariance.moments``); the caller mirrors the
    triangle.

    Parameters
    ----------
    Y : ndarray of shape (n_rows, n_features)
    centres : ndarray of shape (n_components, n_features), float64
    active : ndarray of shape (n_rows, n_active), int32
    resp : ndarray of shape (n_rows, n_active), float64
    nk : ndarray of shape (n_components,), float64
    sy : ndarray of shape (n_components, n_features), float64
    scatter : ndarray of shape (n_components, n_features, n_features), float64
        Upper triangles added to.
    """
    n, d = Y.shape
    delta = np.empty(d)
    for i in range(n):
        for a in range(active.shape[1]):
            r = resp[i, a]
            if r == 0.0:
                continue
            c = active[i, a]
            nk[c] += r
            for j in range(d):
                sy[c, j] += r * Y[i, j]
                delta[j] = Y[i, j] - centres[c, j]
            for j in range(d):
                rd = r * delta[j]
                for t in range(j, d):
                    scatter[c, j, t] += rd * delta[t]
