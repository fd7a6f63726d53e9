"""Graphs over blocks of components: models whose parameters no one task holds.

A sharded model's per-component arrays are dask arrays with one chunk per
block of components (:func:`from_blocks` reads each block from its store
in its own task). Row-wise outputs then run as a grid of tasks, one per
row chunk and component block::

    block b's arrays ──map_component_blocks──> block b's kernel parameters
    X chunk i, block b ──map_rows_by_block──> per-row results of block b
    all blocks of row chunk i ──merge_row_blocks──> per-row results

Each task holds one row chunk and one block of the model; the last step
holds only the blocks' per-row summaries. Layers are named ``daskmix-...``
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
    return da.map_blocks(
        _read_block, chunks=chunks, dtype=np.dtype(dtype),
        meta=np.empty((0,) * len(shape), dtype=np.dtype(dtype)),
        token=PREFIX + "read-block-" + variable.strip("_").replace("_", "-"),
        layout=layout, variable=variable, read_block=read_block,
    )


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


def _apply_block_func(*blocks, block_func, block_kwargs):
    out = np.empty(1, dtype=object)
    out[0] = block_func(*blocks, **block_kwargs)
    return out


def map_component_blocks(func, arrays, *, like, name, kwargs=None):
    """``func`` of each block's slices of ``arrays``: one object per block.

    Parameters
    ----------
    func : callable
        ``func(*block_slices, **kwargs)`` returning anything (a block's
        kernel parameters, say); runs in one task per block.
    arrays : sequence of arrays
        Dask arrays chunked along their first axis as ``like`` (whole along
        the others), or NumPy arrays of ``like``'s first length (split into
        its blocks here).
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

    blocks = like.chunks[0]
    pairs = []
    letters = iter("abcdefghjlmnopqrstuvwxyz")
    for array in arrays:
        if not is_dask_array(array):
            array = np.asarray(array)
            array = da.from_array(array, chunks=(blocks,) + array.shape[1:])
        elif array.chunks[0] != blocks:
            array = array.rechunk({0: blocks})
        pairs += [array, "k" + "".join(next(letters) for _ in range(array.ndim - 1))]
    return da.blockwise(
        _apply_block_func, "k", *pairs, block_func=func, block_kwargs=dict(kwargs or {}),
        adjust_chunks={"k": 1}, dtype=object, meta=np.empty((0,), dtype=object),
        concatenate=True, token=PREFIX + name,
    )


def _apply_row_block(X, block, *rows, row_func, **kwargs):
    (block,) = block
    return row_func(X, block, *rows, **kwargs)


def map_rows_by_block(X, blocks, func, *, columns, name, dtype, rows=(), **kwargs):
    """``func`` on every (row chunk, component block) pair: a (rows, blocks) grid of tasks.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    blocks : dask.array.Array of object, shape (n_blocks,)
        From :func:`map_component_blocks`.
    func : callable
        ``func(X_chunk, block, *row_chunks, **kwargs) -> ndarray`` of shape
        (n_chunk_rows, columns of the block).
    columns : int or tuple of int
        Output columns per block (one number for all).
    name : str
        Layer name after ``daskmix-``.
    dtype : numpy dtype
    rows : sequence of dask.array.Array, default=()
        2-D arrays chunked along rows as ``X`` (whole along columns), whose
        row chunk each task also receives.
    **kwargs
        Passed to ``func``.

    Returns
    -------
    dask.array.Array of shape (n_samples, total columns)
        Chunked (X's row chunks, the blocks' columns).
    """
    import dask.array as da

    extra = []
    for row in rows:
        extra += [row, "iz"]
    return da.blockwise(
        _apply_row_block, "ik", X, "ij", blocks, "k", *extra, row_func=func,
        adjust_chunks={"k": columns}, dtype=dtype, meta=np.empty((0, 0), dtype=dtype),
        concatenate=True, token=PREFIX + name, **kwargs,
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
