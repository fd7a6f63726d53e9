"""The one module that builds Dask graphs.

Everything else in daskmix is plain NumPy or plain Python. Only public Dask
APIs are used (``da.blockwise``, ``da.map_blocks``, ``da.reduction``,
``dask.compute``), and every
layer is named ``daskmix-...`` so the dashboard reads like the algorithm.

A pass over the data has the shape::

    X chunk ──blockwise(kernel)──> (1, P) float64 statistics per chunk
            ──reduction(sum, split_every)──> (P,) statistics of the whole data

Dask fuses the per-chunk kernel into the reduction's first step, so on the
dashboard a pass named ``gmm-estep`` shows as ``daskmix-gmm-estep-partial``
(chunk kernels and first sums) and ``daskmix-gmm-estep-aggregate``.

Chunk statistics are usually additive, so the combine step is a plain sum,
done as a tree whose fan-in is ``split_every``; statistics that do not add
(centred moments) pass their own associative ``merge`` to the same tree.

In-memory input runs inline. Every function here that applies a kernel
(:func:`reduce_blocks`, :func:`map_rows`, :func:`take_rows`, :func:`total`)
also takes a NumPy array in place of the dask array: it then runs the same
kernel once, on the whole array as one block, in the calling thread, and
follows it with the same chunk and combine steps a one-chunk graph runs, so
the result is the graph's to the bit; :func:`compute` hands NumPy values back
as they are. No graph is built and no scheduler is involved (a small
in-memory array costs less to compute than to ship to a cluster's workers).
An inline kernel runs BLAS on one thread, as a task of the threaded scheduler
does: the same arithmetic, and on small blocks more BLAS threads only add
hand-offs (five EM iterations on 1,024 x 2 rows took 90 ms with two OpenBLAS
threads on a busy 2-core machine, 6.5 ms with one). Which inputs take this
path is decided by the callers (``daskmix._validation``).

Dask itself is imported when the first graph is built, not with this module:
``import dask.array`` loads numba, sparse and xarray, which ``import daskmix``
must not pay for.
"""

from __future__ import annotations

import contextlib
import functools
import sys

import numpy as np

from daskmix._blas import single_blas_thread
from daskmix._memory import release_freed_memory
from daskmix.exceptions import LostDataError

__all__ = [
    "PREFIX",
    "LostDataError",
    "compute",
    "generate_rows",
    "is_dask_array",
    "is_dask_collection",
    "is_inline",
    "map_row_blocks",
    "map_rows",
    "map_state_reduce",
    "persist_and_compute",
    "reduce_blocks",
    "reduce_row_range",
    "row_ranges",
    "shared",
    "take_rows",
    "total",
]

PREFIX = "daskmix-"


def is_dask_array(X):
    """True when ``X`` is a ``dask.array.Array`` (without importing dask).

    Parameters
    ----------
    X : object

    Returns
    -------
    bool
    """
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(X, da.Array)


def is_dask_collection(X):
    """True when ``X`` is any dask collection (without importing dask).

    Parameters
    ----------
    X : object

    Returns
    -------
    bool
    """
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


def is_inline(X):
    """True when ``X`` is an in-memory NumPy array, which the passes here run inline.

    Parameters
    ----------
    X : object

    Returns
    -------
    bool
    """
    return isinstance(X, np.ndarray)


def _row_starts(X):
    """One-element blocks holding each row block's global first row."""
    import dask.array as da
    from dask.base import tokenize

    starts = np.cumsum((0,) + X.chunks[0][:-1]).astype(np.int64)
    return da.from_array(starts, chunks=1, name=PREFIX + "row-start-" + tokenize(starts))


def _apply_chunk_kernel(X, row_start, *rest, kernel, with_weight, **kwargs):
    sample_weight = rest[0][:, None].astype(np.float64) if with_weight else None
    stats = kernel(X, sample_weight, row_start=int(row_start[0]), **kwargs)
    return stats[None, :]


def _sum_blocks(x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _keep_blocks(x, axis, keepdims):
    """The reduction's chunk step when a ``merge`` combines: the (1, P) row as is."""
    return x


def _merge_blocks(x, axis, keepdims, merge):
    """Merge a stack of statistics vectors (m, P) with ``merge``.

    Parameters
    ----------
    x : ndarray of shape (m, P)
    axis : tuple
        Always (0,); part of dask's combine signature.
    keepdims : bool
        True returns shape (1, P), False shape (P,).
    merge : callable
        ``merge(x) -> ndarray (P,)``.

    Returns
    -------
    ndarray of shape (1, P) or (P,)
    """
    out = merge(x)
    return out[None, :] if keepdims else out


def reduce_blocks(X, sample_weight, kernel, *, size, name, split_every=None, merge=None,
                  **kwargs):
    """Apply ``kernel`` to every row block and sum (or ``merge``) the results in a tree.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        One chunk along the features.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Chunked like ``X``'s rows.
    kernel : callable
        ``kernel(X_block, w_block, row_start=int, **kwargs) -> ndarray (size,)``;
        ``w_block`` is a float64 array of shape (n_block, 1) or None, and
        ``row_start`` the global index of the block's first row.
    size : int
        Length of the statistics vector.
    name : str
        Layer name after ``daskmix-``, e.g. ``"gmm-estep"``.
    split_every : int or None
        Fan-in of the tree reduction; None lets dask's configuration decide.
    merge : callable or None
        ``merge(stacked (m, size)) -> ndarray (size,)``, an associative merge
        of statistics that do not simply add (e.g. centred moments); None
        sums.
    **kwargs
        Passed to ``kernel``; small NumPy parameters or plain objects.

    Returns
    -------
    stats : dask.array.Array of shape (size,)
        Lazy sum (or merge) over all blocks; an ndarray, computed inline,
        when ``X`` is a NumPy array (``sample_weight`` then an ndarray or
        None).
    """
    with_weight = sample_weight is not None
    if merge is None:
        chunk = combine = _sum_blocks
    else:
        chunk, combine = _keep_blocks, functools.partial(_merge_blocks, merge=merge)
    if is_inline(X):
        rest = (np.asarray(sample_weight),) if with_weight else ()
        with single_blas_thread():
            part = _apply_chunk_kernel(X, np.zeros(1, dtype=np.int64), *rest, kernel=kernel,
                                       with_weight=with_weight, **kwargs)
        # what dask's reduction makes of a single block
        return combine(chunk(part, axis=(0,), keepdims=True), axis=(0,), keepdims=False)

    import dask.array as da

    args = (X, "ij", _row_starts(X), "i")
    if with_weight:
        args += (sample_weight, "i")
    parts = da.blockwise(
        _apply_chunk_kernel,
        "ij",
        *args,
        kernel=kernel,
        with_weight=with_weight,
        adjust_chunks={"i": 1, "j": size},
        align_arrays=False,
        dtype=np.float64,
        meta=np.empty((0, 0), dtype=np.float64),
        token=PREFIX + name,
        **kwargs,
    )
    return da.reduction(
        parts,
        chunk=chunk,
        aggregate=combine,
        combine=combine,
        axis=0,
        keepdims=False,
        dtype=np.float64,
        split_every=split_every,
        name=PREFIX + name,
        meta=np.empty((0,), dtype=np.float64),
    )


#: Most rows one task of :func:`reduce_row_range` processes.
RANGE_TASK_ROWS = 2**14


def _even_split(n_rows, max_rows):
    """Sizes of the fewest near-equal pieces of ``n_rows`` rows, none over ``max_rows``.

    Parameters
    ----------
    n_rows, max_rows : int

    Returns
    -------
    tuple of int
        Sizes summing to ``n_rows``, differing by at most one.
    """
    n_pieces = max(1, -(-int(n_rows) // int(max_rows)))
    base, extra = divmod(int(n_rows), n_pieces)
    return tuple(base + (i < extra) for i in range(n_pieces))


def reduce_row_range(X, sample_weight, start, stop, kernel, *, size, name, split_every=None,
                     task_rows=RANGE_TASK_ROWS, **kwargs):
    """Apply ``kernel`` to the rows ``start:stop`` of ``X`` and sum the results.

    The range is cut out lazily (``X[start:stop]``: a dask array read from
    zarr, a memory map or any other lazy source reads only those rows) and
    re-split into pieces of at most ``task_rows`` rows whose boundaries
    depend on ``start``, ``stop`` and ``task_rows`` only, so the statistics
    are the same whatever the chunks of ``X``, and a long range still runs
    as parallel tasks. The slicing and re-splitting layers keep dask's
    names (``getitem``, ``rechunk-*``); the kernel and the sum are named
    ``daskmix-<name>``.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Chunked like ``X``'s rows.
    start, stop : int
        The rows, ``0 <= start < stop <= n_samples``.
    kernel : callable
        As for :func:`reduce_blocks`; ``row_start`` is relative to ``start``.
    size : int
        Length of the statistics vector.
    name : str
        Layer name after ``daskmix-``.
    split_every : int or None
    task_rows : int, default=RANGE_TASK_ROWS
        Most rows per task.
    **kwargs
        Passed to ``kernel``.

    Returns
    -------
    stats : dask.array.Array of shape (size,)
    """
    pieces = _even_split(stop - start, task_rows)
    X = X[start:stop].rechunk({0: pieces})
    if sample_weight is not None:
        sample_weight = sample_weight[start:stop].rechunk((pieces,))
    return reduce_blocks(X, sample_weight, kernel, size=size, name=name,
                         split_every=split_every, **kwargs)


def row_ranges(X, ranges):
    """Lazily concatenate the row ranges ``X[a:b]`` for ``(a, b)`` in ``ranges``.

    Only the chunks the ranges touch are read.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, ...)
    ranges : sequence of (int, int)

    Returns
    -------
    dask.array.Array of shape (sum of b - a, ...)
    """
    import dask.array as da

    return da.concatenate([X[int(a):int(b)] for a, b in ranges], axis=0)


def map_rows(X, func, *, name, n_columns=None, dtype, meta=None, **kwargs):
    """Lazily apply a row-wise ``func`` to every block of ``X``.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    func : callable
        ``func(X_block, **kwargs)`` returning (n_block,) or (n_block, n_columns).
    name : str
        Layer name after ``daskmix-``.
    n_columns : int or None
        None for a 1-D output.
    dtype : numpy dtype
    meta : array-like or None, default=None
        An empty array of the blocks' type, when ``func`` returns something
        else than NumPy arrays (``sparse.COO``, say); None for NumPy.
    **kwargs
        Passed to ``func``.

    Returns
    -------
    dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
        An ndarray, computed inline, when ``X`` is a NumPy array.
    """
    if is_inline(X):
        with single_blas_thread():
            return func(X, **kwargs)

    import dask.array as da

    if n_columns is None:
        return da.map_blocks(
            func, X, drop_axis=1, dtype=dtype,
            meta=np.empty((0,), dtype=dtype) if meta is None else meta,
            token=PREFIX + name, **kwargs,
        )
    return da.map_blocks(
        func, X, chunks=(X.chunks[0], (n_columns,)), dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype) if meta is None else meta,
        token=PREFIX + name, **kwargs,
    )


def _generate_block(block_info=None, block_id=None, *, chunk_func, **kwargs):
    (start, stop), _ = block_info[None]["array-location"]
    return chunk_func(start, stop, block_id[0], **kwargs)


def generate_rows(chunk_func, row_chunks, n_columns, *, name, dtype, **kwargs):
    """A lazy 2-D array whose every row block is made by ``chunk_func`` in its own task.

    Nothing is computed and nothing is held in the graph but ``kwargs``:
    a block is made when a task needs it, and made again on every pass (the
    array is not persisted).

    Parameters
    ----------
    chunk_func : callable
        ``chunk_func(start, stop, block_index, **kwargs) -> ndarray of shape
        (stop - start, n_columns)``: the rows ``start:stop``, the
        ``block_index``-th row block.
    row_chunks : tuple of int
        Rows per block.
    n_columns : int
    name : str
        Layer name after ``daskmix-``.
    dtype : numpy dtype
    **kwargs
        Passed to ``chunk_func``; small NumPy parameters or plain objects.

    Returns
    -------
    dask.array.Array of shape (sum(row_chunks), n_columns)
    """
    import dask.array as da

    return da.map_blocks(
        _generate_block, chunks=(tuple(row_chunks), (int(n_columns),)), dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype), token=PREFIX + name, chunk_func=chunk_func,
        **kwargs,
    )


def _take_block_rows(block, local):
    """Rows ``local`` (indices within the block) of one block."""
    return block[local]


def take_rows(X, indices):
    """Lazily gather the rows ``indices`` (sorted, unique) of ``X`` or of a 1-D array.

    Each block selects its own rows, so only the gathered rows travel, and
    each task carries only its own block's indices (as a chunk of a dask
    array of block-local indices), so the graph grows with the number of
    indices, not with indices x blocks.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, ...)
    indices : ndarray of int, sorted and unique

    Returns
    -------
    dask.array.Array of shape (len(indices), ...)
        An ndarray when ``X`` is a NumPy array.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if is_inline(X):
        return _take_block_rows(X, indices)

    import dask.array as da
    from dask.base import tokenize

    bounds = np.cumsum((0,) + X.chunks[0])
    counts = tuple(int(c) for c in np.diff(np.searchsorted(indices, bounds)))
    # side="right" puts an index on the last block starting at or before it,
    # which skips zero-length blocks
    local = indices - bounds[np.searchsorted(bounds, indices, side="right") - 1]
    local = da.from_array(local, chunks=(counts,),
                          name=PREFIX + "row-index-" + tokenize(local, counts))
    axes = "ijklmnop"[:X.ndim]
    return da.blockwise(
        _take_block_rows, axes, X, axes, local, axes[0],
        adjust_chunks={axes[0]: counts}, align_arrays=False,
        dtype=X.dtype, meta=np.empty((0,) * X.ndim, dtype=X.dtype),
        token=PREFIX + "take-rows",
    )


def total(x, name):
    """Lazy sum of a 1-D dask array, as a named tree reduction.

    Parameters
    ----------
    x : dask.array.Array of shape (n,)
        Or an ndarray, summed inline.
    name : str
        Layer name after ``daskmix-``.

    Returns
    -------
    dask.array.Array of shape ()
        An ndarray when ``x`` is one.
    """
    if is_inline(x):
        return _sum_blocks(_sum_blocks(x, (0,), True), (0,), False)

    import dask.array as da

    return da.reduction(
        x, chunk=_sum_blocks, aggregate=_sum_blocks, combine=_sum_blocks, axis=0,
        keepdims=False, dtype=np.float64, name=PREFIX + name,
        meta=np.empty((), dtype=np.float64),
    )


def _blas_threads(collections, scheduler):
    """BLAS thread limit for a compute: 1 on the local threaded scheduler.

    The threaded scheduler already runs one task per core; a multithreaded
    BLAS inside each task would oversubscribe the cores. ``distributed``
    workers limit their BLAS threads themselves, and the synchronous
    scheduler runs one task at a time, so both keep BLAS as configured.
    """
    import dask.threaded

    if _scheduler_get(collections, scheduler) is dask.threaded.get:
        return single_blas_thread()
    return contextlib.nullcontext()


def _scheduler_get(collections, scheduler):
    """The ``get`` function Dask would compute ``collections`` with."""
    import dask
    from dask.base import get_scheduler

    dask_collections = [c for c in collections if dask.is_dask_collection(c)]
    return get_scheduler(scheduler=scheduler, collections=dask_collections or None)


def _runs_in_process(collections, scheduler):
    """Whether ``collections`` compute in this process (the threaded or synchronous scheduler)."""
    import dask.local
    import dask.threaded

    return _scheduler_get(collections, scheduler) in (dask.threaded.get, dask.local.get_sync)


def _lost_data_error(exc):
    """The daskmix error for a ``distributed`` cancellation, or None for another error.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    LostDataError or None
    """
    # "lost dependencies" when the data was lost before the graph was
    # submitted, "already forgotten" when the scheduler released it since
    if type(exc).__name__ != "FutureCancelledError" or not any(
        word in str(exc.reason) for word in ("lost", "forgotten")
    ):
        return None
    return LostDataError(
        f"the computation was cancelled by the Dask scheduler ({exc.reason}): part of the "
        "input lived only in the memory of a worker that is gone (data placed with "
        "client.scatter, or futures made into a dask array) and cannot be recomputed. "
        "Build the input from its source instead (da.from_zarr, dd.read_parquet, "
        "da.from_array, ...), and call .persist() on it if it should stay in the "
        "workers' memory: the scheduler then recomputes lost chunks from the source."
    )


#: Values :func:`compute` returns as they are (no graph to run).
_CONCRETE = (np.ndarray, np.generic, int, float)


def compute(*collections, scheduler=None):
    """``dask.compute`` with daskmix's policies: one call, no BLAS oversubscription.

    Parameters
    ----------
    *collections : dask collections or plain values
    scheduler : str, callable or None
        Passed to ``dask.compute``.

    Returns
    -------
    tuple
        Computed values, one per argument; NumPy arrays and scalars (the
        results of inline passes) are handed back as they are.

    Raises
    ------
    LostDataError
        If a ``distributed`` worker holding input that cannot be recomputed
        (scattered data) was lost.
    """
    if all(isinstance(c, _CONCRETE) for c in collections):
        return collections

    import dask

    with _blas_threads(collections, scheduler):
        try:
            return dask.compute(*collections, scheduler=scheduler)
        except Exception as exc:
            lost = _lost_data_error(exc)
            if lost is None:
                raise
            raise lost from exc


# ---- passes that carry per-row state (truncated EM's K(n)) ----------------


def _apply_row_block(X, row_start, *, row_func, **kwargs):
    return row_func(X, int(row_start[0]), **kwargs)


def map_row_blocks(X, func, *, name, n_columns, dtype, **kwargs):
    """Lazily apply ``func(X_block, row_start, **kwargs)`` to every row block.

    Like :func:`map_rows`, but ``func`` also receives the global index of
    the block's first row (for draws keyed by row).

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    func : callable
        Returns an array of shape (n_block, n_columns).
    name : str
        Layer name after ``daskmix-``.
    n_columns : int
    dtype : numpy dtype
    **kwargs
        Passed to ``func``.

    Returns
    -------
    dask.array.Array of shape (n_samples, n_columns)
    """
    import dask.array as da

    return da.blockwise(
        _apply_row_block, "ij", X, "ij", _row_starts(X), "i", row_func=func,
        adjust_chunks={"j": n_columns}, align_arrays=False, dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype), token=PREFIX + name, **kwargs,
    )


def _only_block(x):
    """The block of an index contracted with ``concatenate=False`` (one chunk: a list of one)."""
    while isinstance(x, list):
        (x,) = x
    return x


def _apply_state_kernel(X, row_start, state, *rest, kernel, with_weight, **kwargs):
    # the feature and state-column indices are contracted over one chunk
    # each; concatenate=False hands those blocks over without a copy
    X, state = _only_block(X), _only_block(state)
    sample_weight = rest[0] if with_weight else None
    out = np.empty(1, dtype=object)
    out[0] = kernel(X, sample_weight, state, int(row_start[0]), **kwargs)
    return out


def _new_state(part):
    return part[0][0]


def _stats_of_part(part, axis, keepdims):
    return part[0][1]


def _merge_objects(parts, axis, keepdims, merge):
    return merge(parts if isinstance(parts, list) else [parts])


def _merge_objects_final(parts, axis, keepdims, merge):
    out = np.empty((), dtype=object)
    out[()] = _merge_objects(parts, axis, keepdims, merge)
    return out


def shared(value, name):
    """``value`` as one node of the graph, for the tasks of a pass to depend on.

    Passed as a keyword argument to :func:`map_state_reduce`,
    :func:`map_row_blocks` or :func:`map_rows`, a large value (a mixture's
    parameters at tens of thousands of components) is then stored once in
    the graph and reaches each worker once, instead of being embedded in,
    and shipped with, every task.

    Parameters
    ----------
    value : object
        Tokenized by content (``__dask_tokenize__`` where defined).
    name : str
        Layer name after ``daskmix-``.

    Returns
    -------
    dask.delayed.Delayed
    """
    import dask

    return dask.delayed(value, pure=True, name=PREFIX + name + "-" + dask.base.tokenize(value))


def map_state_reduce(X, sample_weight, state, kernel, *, merge, name, split_every=None,
                     **kwargs):
    """One pass that updates per-row state and tree-reduces per-block statistics.

    Every block ``i`` runs ``kernel(X_i, w_i, state_i, row_start, **kwargs)
    -> (new_state_i, stats_i)`` once; the new state stays chunked like
    ``X``'s rows, and the statistics (any Python objects, e.g. sparse
    records of variable length) are merged in a tree by ``merge``. Compute
    both together with :func:`persist_and_compute`, so every block runs
    once. Layers: ``daskmix-<name>`` (the kernel), ``daskmix-<name>-state``
    and ``daskmix-<name>-stats`` (``-partial`` / ``-aggregate``).

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        One chunk along the features.
    sample_weight : dask.array.Array of shape (n_samples,) or None
    state : dask.array.Array of shape (n_samples, n_state)
        Chunked like ``X``'s rows, one chunk along columns.
    kernel : callable
        ``w_i`` is the block's 1-D float weights or None.
    merge : callable
        ``merge(list of stats) -> stats``, associative.
    name : str
        Layer name after ``daskmix-``.
    split_every : int or None
    **kwargs
        Passed to ``kernel``.

    Returns
    -------
    new_state : dask.array.Array of shape (n_samples, n_state)
    stats : dask.array.Array of shape (), dtype object
        Holds the merged statistics object.
    """
    import dask.array as da

    with_weight = sample_weight is not None
    state = state.rechunk({0: X.chunks[0], 1: -1})
    args = (X, "ij", _row_starts(X), "i", state, "ik")
    if with_weight:
        args += (sample_weight, "i")
    parts = da.blockwise(
        _apply_state_kernel, "i", *args, kernel=kernel, with_weight=with_weight,
        adjust_chunks={"i": 1}, align_arrays=False, concatenate=False, dtype=object,
        meta=np.empty((0,), dtype=object), token=PREFIX + name, **kwargs,
    )
    new_state = da.map_blocks(
        _new_state, parts, new_axis=[1], chunks=(X.chunks[0], state.chunks[1]),
        dtype=state.dtype, meta=np.empty((0, 0), dtype=state.dtype),
        token=PREFIX + name + "-state",
    )
    stats = da.reduction(
        parts, chunk=_stats_of_part,
        combine=functools.partial(_merge_objects, merge=merge),
        aggregate=functools.partial(_merge_objects_final, merge=merge),
        axis=0, keepdims=False, concatenate=False, dtype=object,
        split_every=split_every, name=PREFIX + name + "-stats",
        meta=np.empty((), dtype=object),
    )
    return new_state, stats


def persist_and_compute(state, result, scheduler=None):
    """Persist ``state`` and compute ``result`` from one execution of their graph.

    On the local schedulers the persisted state is a dask array of
    concrete in-memory blocks; on ``distributed`` it stays in the workers'
    memory (and is recomputed from its inputs if a worker is lost).

    Parameters
    ----------
    state : dask collection
    result : dask collection
        Small; brought to the client.
    scheduler : str, callable or None

    Returns
    -------
    state : dask collection
        Persisted.
    value : object
        The computed ``result``.
    """
    import dask

    with _blas_threads([state, result], scheduler):
        try:
            state, result = dask.persist(state, result, scheduler=scheduler)
            (value,) = dask.compute(result, scheduler=scheduler)
        except Exception as exc:
            lost = _lost_data_error(exc)
            if lost is None:
                raise
            raise lost from exc
    if _runs_in_process([state, result], scheduler):
        # the pass's transient blocks were freed here: give their pages back
        release_freed_memory()
    return state, value
