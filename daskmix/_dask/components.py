"""Graphs over blocks of components: models whose parameters no one task holds.

A sharded model's per-component arrays are dask arrays with one chunk per
block of components (:func:`from_blocks` reads each block from its store
in its own task). Row-wise outputs then run as a grid of tasks, one per
row chunk and component block::

    X chunk i, block b ──map_rows_by_block──> per-row results of block b
    all blocks of row chunk i ──merge_row_blocks──> per-row results

A (row chunk, block) task reads its block's arrays from the store itself
(when they come from :func:`from_blocks`) and builds the block's kernel
parameters, so it holds one row chunk and one block of the model, and no
block is kept in memory, or copied between workers, for other tasks; the
merge step holds only the blocks' per-row summaries.
:func:`map_component_blocks` runs one task per block (a block's share of
a small sum). Layers are named ``daskmix-...``
(for example ``daskmix-gmm-predict-block``), and a task's key carries its
row chunk and block indices, so the dashboard shows which block runs where.

Dask is imported when the first graph is built, as in
:mod:`daskmix._dask.graph`.
"""

from __future__ import annotations

import numpy as np

from daskmix._dask.graph import PREFIX, is_dask_array

__all__ = [
    "block_starts",
    "from_blocks",
    "map_component_blocks",
    "map_rows_by_block",
    "merge_row_blocks",
    "rows_as_dask",
]

#: Rows per chunk when in-memory input meets a sharded model.
_IN_MEMORY_CHUNK_ROWS = 16384


def _read_block(block_id=None, *, layout, variable, read_block):
    return read_block(layout, variable, block_id[0])


def from_blocks(layout, variable, read_block):
    """A per-component array of a sharded store as a dask array, one chunk per block.

    Parameters
    ----------
    layout : ShardedLayout
        From ``daskmix._model_io._sharded.open_store``.
    variable : str
        The array's name in the store.
    read_block : callable
        ``read_block(layout, variable, index) -> ndarray``: reads and checks
        one block (runs in the task).

    Returns
    -------
    dask.array.Array
        Chunked ``(block sizes, whole, ...)``; computing a chunk reads its
        block from the store.
    """
    import dask.array as da

    _, shape, dtype = layout.variables[variable]
    chunks = (tuple(b - a for a, b in layout.blocks),) + tuple((int(n),) for n in shape[1:])
    array = da.map_blocks(
        _read_block, chunks=chunks, dtype=np.dtype(dtype),
        meta=np.empty((0,) * len(shape), dtype=np.dtype(dtype)),
        token=PREFIX + "read-block-" + variable.strip("_").replace("_", "-"),
        layout=layout, variable=variable, read_block=read_block,
    )
    _SOURCES[array.name] = (layout, variable, read_block)
    return array


#: Where the arrays :func:`from_blocks` made read their blocks, by dask name:
#: a task that needs a block of one reads it itself rather than depending on
#: a shared task that holds it (which would keep the block in memory, and
#: copy it to other workers, until every task that needs it has run).
_SOURCES = {}


def _source(array):
    """``(layout, variable, read_block)`` of an array :func:`from_blocks` made, or None."""
    return _SOURCES.get(array.name) if is_dask_array(array) else None


def block_starts(array):
    """The first component of each block of a block-chunked array.

    Parameters
    ----------
    array : dask.array.Array

    Returns
    -------
    ndarray of int64
    """
    return np.cumsum((0,) + array.chunks[0][:-1]).astype(np.int64)


def _block_arguments(arrays, like):
    """Blockwise arguments for the block arrays that are not read inside the tasks.

    Returns
    -------
    sources : tuple
        Per array, its :func:`_source` (read in the task) or None (a chunk
        passed in).
    pairs : list
        ``[array, index, ...]`` for :func:`dask.array.blockwise`, block
        index array first.
    """
    import dask.array as da

    blocks = like.chunks[0]
    # one chunk per block; the block arrays' chunks along "k" are the blocks
    # (the tasks align by block number: align_arrays=False)
    index = da.from_array(np.arange(len(blocks)), chunks=1,
                          name=f"{PREFIX}block-index-{len(blocks)}")
    pairs = [index, "k"]
    sources = []
    letters = iter("abcdefghlmnopqrstuvwxy")
    for array in arrays:
        source = _source(array)
        sources.append(source)
        if source is not None:
            continue
        if not is_dask_array(array):
            array = np.asarray(array)
            array = da.from_array(array, chunks=(blocks,) + array.shape[1:])
        elif array.chunks[0] != blocks:
            array = array.rechunk({0: blocks})
        pairs += [array, "k" + "".join(next(letters) for _ in range(array.ndim - 1))]
    return tuple(sources), pairs


def _block_value(block_index, chunks, sources, block_func, block_kwargs):
    """``block_func`` of the block's arrays: read here, or the chunks passed in."""
    (index,) = block_index
    chunks = iter(chunks)
    arrays = [next(chunks) if source is None else source[2](source[0], source[1], int(index))
              for source in sources]
    return block_func(*arrays, **block_kwargs)


def _apply_block_func(block_index, *chunks, sources, block_func, block_kwargs):
    out = np.empty(1, dtype=object)
    out[0] = _block_value(block_index, chunks, sources, block_func, block_kwargs)
    return out


def map_component_blocks(func, arrays, *, like, name, kwargs=None):
    """``func`` of each block's slices of ``arrays``: one object per block.

    Parameters
    ----------
    func : callable
        ``func(*block_slices, **kwargs)`` returning anything small (a
        block's share of a sum, say); runs in one task per block.
    arrays : sequence of arrays
        Dask arrays chunked along their first axis as ``like`` (whole along
        the others), or NumPy arrays of ``like``'s first length (split into
        its blocks here). A block of an array :func:`from_blocks` made is
        read by the task itself.
    like : dask.array.Array
        Sets the blocks.
    name : str
        Layer name after ``daskmix-``.
    kwargs : dict or None, default=None
        Keyword arguments of ``func`` (small NumPy values or plain objects).

    Returns
    -------
    dask.array.Array of object, shape (n_blocks,)
        One chunk per block.
    """
    import dask.array as da

    sources, pairs = _block_arguments(arrays, like)
    return da.blockwise(
        _apply_block_func, "k", *pairs, sources=sources, block_func=func,
        block_kwargs=dict(kwargs or {}), adjust_chunks={"k": 1}, dtype=object,
        meta=np.empty((0,), dtype=object), concatenate=True, align_arrays=False,
        token=PREFIX + name,
    )


def _apply_row_block(X, *rest, n_rows, sources, block_func, block_kwargs, row_func):
    rows, (block_index, *chunks) = rest[:n_rows], rest[n_rows:]
    block = _block_value(block_index, chunks, sources, block_func, block_kwargs)
    return row_func(X, block, *rows)


def map_rows_by_block(X, func, arrays, *, like, block_func, block_kwargs=None, columns, name,
                      dtype, rows=()):
    """``func`` on every (row chunk, component block) pair: a (rows, blocks) grid of tasks.

    Each task builds its block's parameters itself, with ``block_func``,
    from the block's slices of ``arrays`` (reading a block of an array
    :func:`from_blocks` made from the store), so a task holds one block of
    the model and no block outlives the task that needs it.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    func : callable
        ``func(X_chunk, block, *row_chunks) -> ndarray`` of shape
        (n_chunk_rows, columns of the block).
    arrays : sequence of arrays
        As for :func:`map_component_blocks`.
    like : dask.array.Array
        Sets the blocks.
    block_func : callable
        ``block_func(*block_slices, **block_kwargs)``, the ``block`` passed
        to ``func``.
    block_kwargs : dict or None, default=None
    columns : int or tuple of int
        Output columns per block (one number for all).
    name : str
        Layer name after ``daskmix-``.
    dtype : numpy dtype
    rows : sequence of dask.array.Array, default=()
        2-D arrays chunked along rows as ``X`` (whole along columns), whose
        row chunk each task also receives.

    Returns
    -------
    dask.array.Array of shape (n_samples, total columns)
        Chunked (X's row chunks, the blocks' columns).
    """
    import dask.array as da

    extra = []
    for row in rows:
        extra += [row, "iz"]
    sources, pairs = _block_arguments(arrays, like)
    return da.blockwise(
        _apply_row_block, "ik", X, "ij", *extra, *pairs, n_rows=len(rows), sources=sources,
        block_func=block_func, block_kwargs=dict(block_kwargs or {}), row_func=func,
        adjust_chunks={"k": columns}, dtype=dtype, meta=np.empty((0, 0), dtype=dtype),
        concatenate=True, align_arrays=False, token=PREFIX + name,
    )


def merge_row_blocks(per_block, func, *, columns, name, dtype):
    """``func`` of all blocks' columns of each row chunk, in one task per row chunk.

    Parameters
    ----------
    per_block : dask.array.Array of shape (n_samples, n_columns)
        From :func:`map_rows_by_block`.
    func : callable
        ``func(chunk) -> ndarray`` of shape (n_chunk_rows, columns), where
        ``chunk`` holds every block's columns side by side, in block order.
    columns : int
    name : str
        Layer name after ``daskmix-``.
    dtype : numpy dtype

    Returns
    -------
    dask.array.Array of shape (n_samples, columns)
    """
    import dask.array as da

    return da.blockwise(
        func, "iz", per_block, "ik", new_axes={"z": columns}, dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype), concatenate=True, token=PREFIX + name,
    )


def rows_as_dask(X):
    """``X`` as a dask array of row chunks (a dask array is returned as it is).

    Parameters
    ----------
    X : ndarray or dask.array.Array of shape (n_samples, n_features)

    Returns
    -------
    dask.array.Array
    """
    if is_dask_array(X):
        return X
    import dask.array as da

    return da.from_array(X, chunks=(_IN_MEMORY_CHUNK_ROWS, -1))
