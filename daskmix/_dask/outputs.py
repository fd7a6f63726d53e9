"""Output writers: a lazy row-wise dask array written chunk by chunk, never gathered.

Each function returns a lazy write; computing it (through
:func:`daskmix._dask.graph.compute`) writes every chunk from the task that
made it. Choosing the format, and writing atomically, is the caller's job
(``daskmix.cli._outputs``). Sparse chunks (``sparse.COO``, as truncated
inference's ``predict_proba`` makes them) are written dense, each chunk
densified by the task that writes it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["store_rows", "to_table", "to_zarr"]


def _todense(block):
    return block.todense()


def _dense(result):
    """``result`` with NumPy chunks: sparse chunks densified one by one, lazily.

    Parameters
    ----------
    result : dask.array.Array

    Returns
    -------
    dask.array.Array
    """
    if isinstance(result._meta, np.ndarray):
        return result
    return result.map_blocks(_todense, dtype=result.dtype,
                             meta=np.empty((0,) * result.ndim, dtype=result.dtype))


def store_rows(result, target):
    """The lazy write of ``result`` into ``target[rows] = block``, without a lock.

    Parameters
    ----------
    result : dask.array.Array
    target : object
        Supports ``target[slices] = block`` from several tasks at once (for
        example ``daskmix.cli._npy.NpyRowsWriter``: disjoint rows of one file).

    Returns
    -------
    dask collection
    """
    import dask.array as da

    return da.store(_dense(result), target, lock=False, compute=False)


def to_zarr(result, path):
    """The lazy write of ``result`` to a new zarr array at ``path``.

    Parameters
    ----------
    result : dask.array.Array
    path : str

    Returns
    -------
    dask collection

    Raises
    ------
    ImportError
        If zarr is not installed.
    """
    return _dense(result).to_zarr(path, compute=False)


def _frame(result, column):
    """A dask DataFrame of ``result``'s columns, named after ``column``.

    Parameters
    ----------
    result : dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
    column : str
        The column's name, or the prefix of ``column_0``, ``column_1``, ...

    Returns
    -------
    dask.dataframe.DataFrame
    """
    import dask.dataframe as dd

    if result.ndim == 1:
        return dd.from_dask_array(result[:, None], columns=[column])
    names = [f"{column}_{j}" for j in range(result.shape[1])]
    return dd.from_dask_array(result, columns=names)


def to_table(result, path, fmt, column):
    """The lazy write of ``result`` as a parquet dataset or one CSV file.

    Parameters
    ----------
    result : dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
    path : str
    fmt : {"parquet", "csv"}
    column : str
        Column name (or prefix, for 2-D results).

    Returns
    -------
    dask collection
    """
    frame = _frame(_dense(result), column)
    if fmt == "parquet":
        return frame.to_parquet(path, write_index=False, compute=False)
    return frame.to_csv(path, single_file=True, index=False, compute=False)
