"""Compiled per-point loops of truncated variational EM (pure NumPy and numba, no dask).

Truncated EM touches, for each point ``n``, only the components of its
search space ``S(n)`` (a few dozen, whatever the number of components), so
its work is a gather over sparse (point, component) pairs that NumPy cannot
vectorise. The loops here do it in one pass each, release the GIL (Dask's
threads run them in parallel) and keep their temporaries to one tile:

``top_per_column``
    The initial ``K(n)``: the ``n_active`` best of a dense (components,
    rows) tile of log-probabilities.
``order_by_component``
    The rows grouped by their previous best component (a counting sort).
``search_space``
    ``S(n) = (union of g_c for c in K(n)) + random ids``, deduplicated.
``cholesky_log_joints``
    The log-joints ``log pi_c + log N(x_n | c)`` over ``S(n)`` of ``full``
    covariances: a triangular product with the precision Cholesky factor,
    O(D^2) per pair.
``woodbury_log_joints``
    The same for ``factor`` covariances: the Woodbury identity, O(D H) per
    pair.
``group_pairs``
    The pairs of ``K(n)`` grouped by component, for the moments of
    ``factor`` (one (rows, D) x (D, 2H) product per component).
``select``
    The new ``K(n)`` (top ``n_active`` of ``S(n)``), the truncated
    responsibilities (softmax over ``K(n)``), the free energy, and the
    neighbourhood statistics ``(c, k) -> (sum of l_nc - l_nk, count)`` of
    each point's best component ``c``, aggregated in a :class:`PairTable`
    (dense staging per group of rows, emitted as sorted sparse records;
    never a dense table over pairs of components).
``cholesky_moments``
    The M-step's moments of ``full`` covariances from the sparse
    responsibilities.
``folded_tile``
    All of the above for the diagonal family in one loop: the design of a
    row (``_fused.design_row``), its search space, its log-joints (one dot
    product with the component's folded weights, O(D) per pair), the
    selection, the moments and the pair statistics.

``select`` and ``folded_tile`` share one row loop (``_tile_rows``), and
its per-row steps are ``inline`` helpers (``_row_search_space``,
``_row_top``, ``_row_posterior``) shared with ``search_space``, so each is
written once.

All loops run point by point (point-major): a row of the data is read once
and stays in the first-level cache while its few dozen components are
evaluated against it. The caller hands the rows over grouped by their
previous best component, so consecutive rows share most of their search
space: each component's folded weights (``2 D + 1`` numbers for ``diag``)
or Cholesky factor and its moments stay in cache across rows, which is
what a component-major loop (vamm's choice for ``full``) would buy,
without sorting the pairs, and the pair statistics of a group are staged
densely (:class:`PairTable`). Sums are in float64 whatever the data's
dtype.

Which pairs are recorded
------------------------
The pairs ``(c, k)`` of every neighbourhood member ``k`` of ``S(n)`` are
recorded, as vamm records them. A random candidate's pair is recorded only
when its log-joint is at least the lowest of the row's neighbourhood
members: one that is worse than every member cannot displace any of them
from ``g_c`` on this row's evidence. With one random candidate per row,
vamm's rule records about one distinct random pair per row until every
pair of components has one: at 100,000,000 rows and 4096 components the
merged records reached 16.7 million (400 MB), several such sets at once at
the top of the reduction tree; with this rule they are about ``K`` times a
few neighbourhoods.
"""

from __future__ import annotations

import numba
import numpy as np

from daskmix.mixture.kernels.fused import design_row

__all__ = [
    "NO_PAIRS",
    "RECORD_DTYPE",
    "PairTable",
    "cholesky_log_joints",
    "cholesky_moments",
    "folded_tile",
    "gather_rows",
    "group_pairs",
    "merge_records",
    "neighbourhoods_from_records",
    "order_by_component",
    "scatter_rows",
    "search_space",
    "select",
    "top_per_column",
    "woodbury_log_joints",
]

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


@numba.njit(cache=True, nogil=True, inline="always")
def _row_search_space(active_row, neighbours, random_row, seen, stamp, out):
    """``S(n)`` of one row into ``out``; returns ``(|S(n)|, n_structured)``.

    The members from the neighbourhoods come first (``n_structured`` of
    them), then the random candidates not already among them.
    ``seen[k] == stamp`` marks the components already taken (``stamp``
    differs from row to row, so ``seen`` is never cleared).
    """
    m = 0
    for a in range(active_row.shape[0]):
        c = active_row[a]
        for b in range(neighbours.shape[1]):
            k = neighbours[c, b]
            if k < 0:
                break
            if seen[k] != stamp:
                seen[k] = stamp
                out[m] = k
                m += 1
    n_structured = m
    for e in range(random_row.shape[0]):
        k = random_row[e]
        if seen[k] != stamp:
            seen[k] = stamp
            out[m] = k
            m += 1
    return m, n_structured


@numba.njit(cache=True, nogil=True)
def search_space(active, neighbours, random_ids, out, counts, structured):
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
        Filled with the members of ``S(n)``, first ``counts[n]`` entries:
        the neighbourhoods' members, then the random candidates not among
        them.
    counts : ndarray of shape (n_rows,), int64
        Filled with ``|S(n)|``.
    structured : ndarray of shape (n_rows,), int64
        Filled with the number of members from the neighbourhoods (the
        first ones).
    """
    seen = np.full(neighbours.shape[0], -1, dtype=np.int64)
    for i in range(active.shape[0]):
        counts[i], structured[i] = _row_search_space(active[i], neighbours, random_ids[i],
                                                     seen, i, out[i])


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


@numba.njit(cache=True, nogil=True, fastmath=_DOT_FASTMATH)
def woodbury_log_joints(Y, centres, inv_psi, uv_t, offsets, space, counts, out):
    """Log-joints ``offset_c - (sum delta**2 / Psi_c - a'b) / 2`` for ``c`` in ``S(n)``.

    The per-pair form of ``_factor.component_mahalanobis`` (``delta = y -
    mu_c``, ``a = delta' U_c``, ``b = delta' V_c``): O(D H) per pair, each
    of the ``2 H`` products a contiguous dot product over the features.

    Parameters
    ----------
    Y : ndarray of shape (n_rows, n_features)
        Shifted rows.
    centres : ndarray of shape (n_components, n_features)
        Shifted means.
    inv_psi : ndarray of shape (n_components, n_features)
        ``1 / Psi``.
    uv_t : ndarray of shape (n_components, 2 n_factors, n_features), float64
        ``[U | V]`` transposed per component.
    offsets : ndarray of shape (n_components,), float64
        ``log pi_c - log det(Sigma_c) / 2 - D/2 log(2 pi)``.
    space, counts : from :func:`search_space`
    out : ndarray of shape space.shape, float64
    """
    n, d = Y.shape
    n_factors = uv_t.shape[1] // 2
    delta = np.empty(d)
    for i in range(n):
        for s in range(counts[i]):
            c = space[i, s]
            square = 0.0
            for j in range(d):
                delta[j] = Y[i, j] - centres[c, j]
                square += delta[j] * delta[j] * inv_psi[c, j]
            for h in range(n_factors):
                a = 0.0
                b = 0.0
                for j in range(d):
                    a += delta[j] * uv_t[c, h, j]
                    b += delta[j] * uv_t[c, n_factors + h, j]
                square -= a * b
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
    """Sums and counts per pair ``(c, k)`` of one block, as sorted sparse records.

    The passes hand the rows over grouped by their previous best component
    ``g`` (ascending), and most rows keep ``g`` as their best. The pairs of
    those rows are summed in dense arrays over ``k`` (staged: one load and
    two adds per pair) and, when the group ends, appended as the records
    ``(g, k)`` in increasing ``k``: the records of a block come out sorted
    without a hash table or a sort over all of them. A row whose best
    component is not its group's appends its pairs to a separate list of
    extras, sorted and summed by key at the end. Memory grows with the
    pairs seen, never with ``n_components ** 2``.

    The kernels never reallocate: before each tile, :meth:`reserve` makes
    room for every pair the tile can add.

    Parameters
    ----------
    n_components : int
    """

    def __init__(self, n_components):
        self.n_components = n_components
        # staging: the group's component, its staged k, their dense sums
        self.group = np.full(1, -1, dtype=np.int64)
        self.staged = np.empty(n_components, dtype=np.int64)
        self.n_staged = np.zeros(1, dtype=np.int64)
        self.staged_sums = np.zeros(n_components)
        self.staged_counts = np.zeros(n_components)
        # records of flushed groups, then extras: keys, sums, counts, and how many
        self.flushed = _RecordList()
        self.extras = _RecordList()

    def reserve(self, n_pairs):
        """Room for ``n_pairs`` more pairs (plus a flush of every staged pair)."""
        self.flushed.reserve(n_pairs + self.n_components)
        self.extras.reserve(n_pairs)

    @property
    def arrays(self):
        """The table's arrays as one tuple, the argument the kernels take."""
        return (self.group, self.staged, self.n_staged, self.staged_sums, self.staged_counts,
                *self.flushed.arrays, *self.extras.arrays)

    def records(self):
        """The pairs, sorted by key ``c * n_components + k`` (staged pairs included).

        Returns
        -------
        keys : ndarray of int64
        sums, counts : ndarray of :data:`RECORD_DTYPE`
        """
        _flush_staged(self.n_components, self.group, self.staged, self.n_staged,
                      self.staged_sums, self.staged_counts, *self.flushed.arrays)
        return merge_records(*self.flushed.summed_by_key(self.n_components),
                             *self.extras.summed_by_key(self.n_components))


#: The dtype of the sums and counts of the pair records a block emits and
#: the reduction merges (a block accumulates them in float64). float32 holds
#: counts exactly up to 16,777,216 rows per pair and the sums to 7 digits,
#: more than the ranking of neighbours needs, in 16 bytes per record instead
#: of 24.
RECORD_DTYPE = np.float32

#: ``PairTable.arrays`` of no table: :func:`select` and :func:`folded_tile`
#: then skip the pair statistics (inference on new rows needs none).
NO_PAIRS = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64),
            np.zeros(1, dtype=np.int64), np.empty(0), np.empty(0),
            np.empty(0, dtype=np.int64), np.empty(0), np.empty(0), np.zeros(1, dtype=np.int64),
            np.empty(0, dtype=np.int64), np.empty(0), np.empty(0), np.zeros(1, dtype=np.int64))


class _RecordList:
    """A growable list of records ``(key, sum, count)``; the kernels append in place."""

    def __init__(self):
        self.keys = np.empty(0, dtype=np.int64)
        self.sums = np.empty(0)
        self.counts = np.empty(0)
        self.size = np.zeros(1, dtype=np.int64)

    @property
    def arrays(self):
        return self.keys, self.sums, self.counts, self.size

    def reserve(self, extra):
        """Capacity for ``extra`` more records (doubling)."""
        need = int(self.size[0]) + extra
        if need <= len(self.keys):
            return
        capacity = max(need, 2 * len(self.keys))
        n = int(self.size[0])
        for name in ("keys", "sums", "counts"):
            old = getattr(self, name)
            grown = np.empty(capacity, dtype=old.dtype)
            grown[:n] = old[:n]
            setattr(self, name, grown)

    def summed_by_key(self, n_components):
        """The records sorted by key, those of equal keys added.

        Already sorted lists are copied; others go through
        :func:`_sum_by_key` (a counting sort by ``c``, then dense staging per
        ``c``: linear, no sort over all records).
        """
        n = int(self.size[0])
        keys, sums, counts = self.keys[:n], self.sums[:n], self.counts[:n]
        if n < 2 or np.all(keys[1:] > keys[:-1]):
            return keys.copy(), sums.copy(), counts.copy()
        out = _RecordList()
        out.reserve(n)
        _sum_by_key(keys, sums, counts, n_components, *out.arrays)
        size = int(out.size[0])
        return out.keys[:size], out.sums[:size], out.counts[:size]


@numba.njit(cache=True, nogil=True)
def _sum_by_key(keys, sums, counts, n_components, out_keys, out_sums, out_counts, out_size):
    """Records (any order, repeated keys, positive counts) summed by key, sorted, appended."""
    order = order_by_component(keys // n_components, n_components)
    group = np.full(1, -1, dtype=np.int64)
    staged = np.empty(n_components, dtype=np.int64)
    n_staged = np.zeros(1, dtype=np.int64)
    staged_sums = np.zeros(n_components)
    staged_counts = np.zeros(n_components)
    for i in order:
        c = keys[i] // n_components
        if c != group[0]:
            _flush_staged(n_components, group, staged, n_staged, staged_sums, staged_counts,
                          out_keys, out_sums, out_counts, out_size)
            group[0] = c
        k = keys[i] - c * n_components
        if staged_counts[k] == 0.0:
            staged[n_staged[0]] = k
            n_staged[0] += 1
        staged_sums[k] += sums[i]
        staged_counts[k] += counts[i]
    _flush_staged(n_components, group, staged, n_staged, staged_sums, staged_counts, out_keys,
                  out_sums, out_counts, out_size)


@numba.njit(cache=True, nogil=True)
def _flush_staged(n_components, group, staged, n_staged, staged_sums, staged_counts, keys,
                  sums, counts, size):
    """Append the staged pairs of the group as records, in increasing ``k``."""
    n = n_staged[0]
    if n == 0:
        return
    c = group[0]
    staged[:n].sort()
    at = size[0]
    for a in range(n):
        k = staged[a]
        keys[at + a] = c * n_components + k
        sums[at + a] = staged_sums[k]
        counts[at + a] = staged_counts[k]
        staged_sums[k] = 0.0
        staged_counts[k] = 0.0
    size[0] = at + n
    n_staged[0] = 0


@numba.njit(cache=True, nogil=True)
def gather_rows(source, index, out):
    """``out[i] = source[index[i]]`` (``np.take`` along rows, without the GIL).

    NumPy's ``take`` and fancy indexing hold the GIL: in Dask's threads the
    blocks' gathers then run one at a time (measured: two 125,000-row blocks
    in two threads took 1.37x one block's time; with these, the kernels
    scale to both cores).

    Parameters
    ----------
    source : ndarray of shape (n, width)
    index : ndarray of shape (m,), int64
    out : ndarray of shape (m, width)
    """
    for i in range(index.shape[0]):
        row = index[i]
        for j in range(source.shape[1]):
            out[i, j] = source[row, j]


@numba.njit(cache=True, nogil=True)
def scatter_rows(source, index, out):
    """``out[index[i]] = source[i]``, the inverse of :func:`gather_rows`, without the GIL."""
    for i in range(index.shape[0]):
        row = index[i]
        for j in range(source.shape[1]):
            out[row, j] = source[i, j]


@numba.njit(cache=True, nogil=True)
def order_by_component(first, n_components):
    """Row indices grouped by ``first`` (ascending), rows in order inside a group.

    A counting sort: O(rows + n_components), the stable ``argsort`` of
    ``first`` without its O(rows log rows).

    Parameters
    ----------
    first : ndarray of shape (n_rows,), int32
        Values in ``[0, n_components)``.
    n_components : int

    Returns
    -------
    ndarray of shape (n_rows,), int64
    """
    ends = np.zeros(n_components + 1, dtype=np.int64)
    for i in range(first.shape[0]):
        ends[first[i] + 1] += 1
    for c in range(n_components):
        ends[c + 1] += ends[c]
    out = np.empty(first.shape[0], dtype=np.int64)
    for i in range(first.shape[0]):
        out[ends[first[i]]] = i
        ends[first[i]] += 1
    return out


@numba.njit(cache=True, nogil=True)
def neighbourhoods_from_records(keys, sums, counts, log_weights, out):
    """``g_c`` from merged pair records: ``c``, then the ``k`` of smallest estimated KL.

    The score of a record ``(c, k)`` is ``sums / counts + log pi_k - log
    pi_c``; row ``c`` of ``out`` (for every ``c`` that has records) becomes
    ``c`` followed by the ``out.shape[1] - 1`` components ``k`` of smallest
    score (ties: the smaller ``k``), padded with -1. One pass over the
    records, a short sorted buffer per component.

    Parameters
    ----------
    keys : ndarray of int64
        Sorted keys ``c * n_components + k``.
    sums, counts : ndarray of float32 or float64
    log_weights : ndarray of shape (n_components,)
    out : ndarray of shape (n_components, G), int32
        Rows of components with records are overwritten.
    """
    n_components, width = out.shape
    n_keep = width - 1
    best_scores = np.empty(max(n_keep, 1))
    best_ids = np.empty(max(n_keep, 1), dtype=np.int64)
    n = keys.shape[0]
    i = 0
    while i < n:
        c = keys[i] // n_components
        filled = 0
        while i < n and keys[i] // n_components == c:
            k = keys[i] - c * n_components
            score = np.float64(sums[i]) / np.float64(counts[i]) + log_weights[k] - log_weights[c]
            i += 1
            # keys are sorted, so k grows: an equal score never displaces
            if n_keep == 0 or (filled == n_keep and not score < best_scores[n_keep - 1]):
                continue
            a = filled if filled < n_keep else n_keep - 1
            while a > 0 and score < best_scores[a - 1]:
                best_scores[a] = best_scores[a - 1]
                best_ids[a] = best_ids[a - 1]
                a -= 1
            best_scores[a] = score
            best_ids[a] = k
            if filled < n_keep:
                filled += 1
        out[c, 0] = c
        for a in range(n_keep):
            out[c, 1 + a] = best_ids[a] if a < filled else -1


@numba.njit(cache=True, nogil=True)
def merge_records(keys_a, sums_a, counts_a, keys_b, sums_b, counts_b):
    """Two sorted record lists merged into one, the sums and counts of equal keys added.

    The output is allocated at its exact size (a first pass counts the keys
    the lists share) and holds its sums and counts in :data:`RECORD_DTYPE`:
    at the top of a pass's reduction tree the lists hold millions of
    records each (4096 components have 16.7 million pairs), and a list
    sized ``len(a) + len(b)`` then copied out doubled the merge's peak.

    Parameters
    ----------
    keys_a, keys_b : ndarray of int64
        Sorted, each without duplicates.
    sums_a, counts_a, sums_b, counts_b : ndarray of float32 or float64

    Returns
    -------
    keys : ndarray of int64
    sums, counts : ndarray of float32
        Equal keys' values added in float64, then rounded.
    """
    na, nb = keys_a.shape[0], keys_b.shape[0]
    shared = 0
    i = j = 0
    while i < na and j < nb:
        if keys_a[i] < keys_b[j]:
            i += 1
        elif keys_b[j] < keys_a[i]:
            j += 1
        else:
            shared += 1
            i += 1
            j += 1
    size = na + nb - shared
    keys = np.empty(size, dtype=np.int64)
    sums = np.empty(size, dtype=RECORD_DTYPE)
    counts = np.empty(size, dtype=RECORD_DTYPE)
    i = j = 0
    for m in range(size):
        if j == nb or (i < na and keys_a[i] < keys_b[j]):
            keys[m], sums[m], counts[m] = keys_a[i], sums_a[i], counts_a[i]
            i += 1
        elif i == na or keys_b[j] < keys_a[i]:
            keys[m], sums[m], counts[m] = keys_b[j], sums_b[j], counts_b[j]
            j += 1
        else:
            keys[m] = keys_a[i]
            sums[m] = np.float64(sums_a[i]) + np.float64(sums_b[j])
            counts[m] = np.float64(counts_a[i]) + np.float64(counts_b[j])
            i += 1
            j += 1
    return keys, sums, counts


@numba.njit(cache=True, nogil=True, inline="always")
def _row_top(space_row, values, m, top_values, top_ids):
    """The ``len(top_ids)`` best of a row's ``m`` candidates, best first; returns the best's slot.

    Insertion into a short sorted buffer (most candidates fail the first
    comparison); ties keep the earlier candidate.
    """
    n_keep = top_ids.shape[0]
    filled = 0
    best_at = 0
    for s in range(m):
        v = values[s]
        if filled == n_keep and v <= top_values[n_keep - 1]:
            continue
        a = filled if filled < n_keep else n_keep - 1
        while a > 0 and v > top_values[a - 1]:
            top_values[a] = top_values[a - 1]
            top_ids[a] = top_ids[a - 1]
            a -= 1
        top_values[a] = v
        top_ids[a] = space_row[s]
        if a == 0:
            best_at = s
        if filled < n_keep:
            filled += 1
    return best_at


@numba.njit(cache=True, nogil=True, inline="always")
def _row_posterior(top_values, top_ids, weight, active_row, resp_row):
    """``K(n)`` and ``w`` times the softmax over it; returns ``log sum exp`` of ``K(n)``.

    ``n_active - 1`` exponentials and one logarithm per row (``exp`` is a
    libm call here, the most expensive step of the selection).
    """
    top = top_values[0]
    resp_row[0] = 1.0
    total = 1.0
    for a in range(1, top_values.shape[0]):
        resp_row[a] = np.exp(top_values[a] - top)
        total += resp_row[a]
    scale = weight / total
    for a in range(top_values.shape[0]):
        active_row[a] = top_ids[a]
        resp_row[a] *= scale
    return top + np.log(total)


def select(space, counts, log_joints, row_weights, previous, active, resp, table,
           log_norms=None, structured=None):
    """New ``K(n)``, responsibilities, free energy and neighbourhood statistics.

    For each row: ``c`` = the best component of ``S(n)``; every other
    ``k`` of ``S(n)`` adds ``w (l_nc - l_nk)`` and ``w`` to the pair
    ``(c, k)`` of the :class:`PairTable`, except a random candidate whose
    log-joint is below every neighbourhood member's (see the module
    notes); ``K(n)`` becomes the
    ``n_active`` best of ``S(n)`` (ties broken by position in ``S(n)``),
    and its responsibilities the softmax of their log-joints, times ``w``.

    Parameters
    ----------
    space, counts : from :func:`search_space`
    log_joints : ndarray of shape space.shape, float64
    row_weights : ndarray of shape (n_rows,), float64
        Sample weights (ones when there are none).
    previous : ndarray of shape (n_rows, n_active), int32
        The previous ``K(n)`` (its first column is the staging group).
    active : ndarray of shape (n_rows, n_active), int32
        Filled with the new ``K(n)``.
    resp : ndarray of shape (n_rows, n_active), float64
        Filled with the weighted responsibilities.
    table : tuple
        ``PairTable.arrays`` (after ``PairTable.reserve`` for the tile's
        pairs), updated; :data:`NO_PAIRS` skips the pair statistics.
    log_norms : ndarray of shape (n_rows,) or None, default=None
        Filled with each row's ``logsumexp_{c in K(n)} l_nc`` (unweighted),
        if given.
    structured : ndarray of shape (n_rows,), int64, or None, default=None
        How many of each row's first members come from the neighbourhoods
        (``search_space``'s ``structured``); the others are random
        candidates. None: every member is a neighbourhood member.

    Returns
    -------
    free_energy : float
        ``sum_n w_n logsumexp_{c in K(n)} l_nc``.
    evaluations : int
        ``sum_n |S(n)|``.
    """
    no_rows = np.empty((0, 1))
    structured = counts if structured is None else structured
    return _tile_rows(no_rows, np.empty(1), True, no_rows, space, counts, structured, log_joints,
                      previous, np.empty((0, 1), dtype=np.int32),
                      np.empty((len(previous), 0), dtype=np.int32), row_weights, active, resp,
                      no_rows, _row_output(log_norms), *table)


def _row_output(log_norms):
    """``log_norms``, or a zero-length array (the row loop then writes none)."""
    return np.empty(0) if log_norms is None else log_norms


def folded_tile(X, shift, per_feature_squares, weights, previous, neighbours, random_ids,
                row_weights, active, resp, moments, table, log_norms=None):
    """A whole truncated-EM tile of the diagonal family, one row at a time.

    :func:`search_space`, the log-joints, :func:`select` and the moments
    fused: each row's design ``[y, q(y), 1]`` (``_fused.design_row``),
    search space and log-joints stay in the first-level cache instead of
    going through tile-sized arrays (measured: a 125,000-row block of 32
    features at 1024 components in about 45 ms instead of 100 ms, one
    core).

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Raw rows.
    shift : ndarray of shape (n_features,)
        In X's dtype.
    per_feature_squares : bool
        True for ``diag``, False for ``spherical``.
    weights : ndarray of shape (n_components, width), float64
        Folded weights, possibly followed by zero columns (``width >=
        n_design``).
    previous : ndarray of shape (n_rows, n_active), int32
        The previous ``K(n)``.
    neighbours : ndarray of shape (n_components, n_neighbors), int32
    random_ids : ndarray of shape (n_rows, n_random), int32
    row_weights : ndarray of shape (n_rows,), float64
    active, resp : ndarray of shape (n_rows, n_active)
        Filled as by :func:`select`.
    moments : ndarray of shape (n_components, width), float64
        ``r_nc design[n]`` added over the pairs of the new ``K(n)`` (zero
        past the design); a zero-row array skips the moments (warm-up
        passes).
    table : tuple
        ``PairTable.arrays`` (after ``PairTable.reserve`` for the tile's
        pairs), updated; :data:`NO_PAIRS` skips the pair statistics.
    log_norms : ndarray of shape (n_rows,) or None, default=None
        As for :func:`select`.

    Returns
    -------
    free_energy, evaluations
        As :func:`select`.
    """
    none = np.empty((0, 1), dtype=np.int32)
    no_counts = np.empty(0, dtype=np.int64)
    return _tile_rows(X, shift, per_feature_squares, weights, none, no_counts, no_counts,
                      np.empty((0, 1)), previous, neighbours, random_ids, row_weights, active,
                      resp, moments, _row_output(log_norms), *table)


@numba.njit(cache=True, nogil=True, fastmath=_DOT_FASTMATH)
def _tile_rows(X, shift, per_feature_squares, weights, given_space, given_counts,
               given_structured, given_log_joints, previous, neighbours, random_ids,
               row_weights, active, resp, moments, log_norms, group, staged, n_staged,
               staged_sums, staged_counts, keys, sums, pair_counts, size, extra_keys,
               extra_sums, extra_counts, extra_size):
    """The row loop of :func:`select` and :func:`folded_tile`, written once.

    A row's search space and log-joints are either given (``select``: the
    tile-sized arrays of the other evaluators) or computed here
    (``folded_tile``: ``given_space`` has no rows). Then: the ``n_active``
    best, the softmax, the row's log-sum-exp (if ``log_norms`` has rows),
    the moments (if ``moments`` has rows) and the pair statistics (unless
    the table is :data:`NO_PAIRS`, whose ``group`` is empty). The pair
    statistics are written out in this loop, not in a
    helper: an inlined helper taking the table's thirteen arrays cost
    reference counting on each of them per row (measured 17 ms of 60 per
    125,000-row block).
    """
    n, n_active = active.shape
    n_components = staged_sums.shape[0]
    width = weights.shape[1]
    given = given_space.shape[0] > 0
    design = np.zeros(width, dtype=X.dtype)  # columns past the design stay zero
    capacity = max(n_active * neighbours.shape[1] + random_ids.shape[1],
                   given_space.shape[1])
    space = np.empty(capacity, dtype=np.int64)
    values = np.empty(capacity)
    seen = np.full(neighbours.shape[0], -1, dtype=np.int64)
    top_values = np.empty(n_active)
    top_ids = np.empty(n_active, dtype=np.int64)
    with_moments = moments.shape[0] > 0
    with_norms = log_norms.shape[0] > 0
    with_pairs = group.shape[0] > 0
    free_energy = 0.0
    evaluations = 0
    for i in range(n):
        if given:
            m = given_counts[i]
            n_structured = given_structured[i]
            for s in range(m):
                space[s] = given_space[i, s]
                values[s] = given_log_joints[i, s]
        else:
            design_row(X[i], shift, per_feature_squares, design)
            m, n_structured = _row_search_space(previous[i], neighbours, random_ids[i], seen,
                                                i, space)
            for s in range(m):
                c = space[s]
                total = 0.0
                for j in range(width):
                    total += design[j] * weights[c, j]
                values[s] = total
        evaluations += m
        w = row_weights[i]
        best_at = _row_top(space, values, m, top_values, top_ids)
        log_norm = _row_posterior(top_values, top_ids, w, active[i], resp[i])
        free_energy += w * log_norm
        if with_norms:
            log_norms[i] = log_norm
        if with_moments:
            for a in range(n_active):
                r = resp[i, a]
                if r != 0.0:
                    c = active[i, a]
                    for j in range(width):
                        moments[c, j] += r * design[j]
        if w == 0.0 or not with_pairs:
            continue
        # the pair statistics of the row's best component (PairTable):
        # staged if it is the row's group, appended as extras otherwise
        g = previous[i, 0]
        if g != group[0]:
            _flush_staged(n_components, group, staged, n_staged, staged_sums, staged_counts,
                          keys, sums, pair_counts, size)
            group[0] = g
        best = space[best_at]
        top = values[best_at]
        # a random candidate below every neighbourhood member records no pair
        floor = np.inf
        for s in range(n_structured):
            if values[s] < floor:
                floor = values[s]
        if best == g:
            staged_count = n_staged[0]
            for s in range(m):
                if s == best_at or (s >= n_structured and values[s] < floor):
                    continue
                k = space[s]
                if staged_counts[k] == 0.0:
                    staged[staged_count] = k
                    staged_count += 1
                staged_sums[k] += w * (top - values[s])
                staged_counts[k] += w
            n_staged[0] = staged_count
        else:
            at = extra_size[0]
            for s in range(m):
                if s != best_at and (s < n_structured or values[s] >= floor):
                    extra_keys[at] = best * n_components + space[s]
                    extra_sums[at] = w * (top - values[s])
                    extra_counts[at] = w
                    at += 1
            extra_size[0] = at
    return free_energy, evaluations


@numba.njit(cache=True, nogil=True)
def cholesky_moments(Y, centres, active, resp, nk, sy, scatter):
    """Full-covariance moments from sparse responsibilities.

    ``nk[c] += r``, ``sy[c] += r y`` (about the shift) and the upper
    triangle of ``scatter[c] += r (y - mu_c)(y - mu_c)'`` (centred on the
    current means, as ``FullCovariance.moments``); the caller mirrors the
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
