"""Input adapters: in-memory arrays, dask DataFrames and data files as dask collections.

The files are ``.npy`` (memory-mapped a chunk at a time), zarr, parquet and CSV.

Every input daskmix reads becomes a dask array (or, from parquet and CSV, a
dask DataFrame) here; what to accept and how to explain a refusal is
decided by the callers (``daskmix._validation`` for estimators,
``daskmix.cli._inputs`` for the command line). Nothing here reads data
beyond metadata, with one documented exception: a dask DataFrame's
partition lengths (:func:`dataframe_to_array`).
"""

from __future__ import annotations

import uuid

import numpy as np

from daskmix._dask import graph as _graph

__all__ = [
    "ReadOnlyRows",
    "dataframe_to_array",
    "from_memory",
    "from_npy",
    "from_zarr",
    "is_dask_dataframe",
    "read_table",
    "weights_from_memory",
]


class ReadOnlyRows:
    """An in-memory array as ``da.from_array`` sees it, minus ``copy``.

    ``da.from_array`` copies any array that has a ``copy`` method (dask
    2024.12 and later), which would double the memory of every fit and
    prediction on NumPy input. This wrapper exposes only what ``from_array``
    needs, so chunks are views of the caller's array; daskmix never writes
    to them.

    Parameters
    ----------
    array : ndarray
    """

    def __init__(self, array):
        self._array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.ndim = array.ndim

    def __getitem__(self, key):
        return self._array[key]


def from_memory(X, chunk_rows):
    """A 2-D in-memory array as a dask array whose chunks are views of it.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    chunk_rows : int
        Rows per chunk; one chunk along the features.

    Returns
    -------
    dask.array.Array of shape (n_samples, n_features)
        A fresh name per call: the caller's array may change between calls.
    """
    import dask.array as da

    return da.from_array(
        ReadOnlyRows(X), chunks=(chunk_rows, -1), name="daskmix-input-" + uuid.uuid4().hex,
        asarray=False, meta=np.empty((0, 0), dtype=X.dtype),
    )


def weights_from_memory(sample_weight, row_chunks):
    """In-memory sample weights as a dask array chunked like the rows of X.

    Parameters
    ----------
    sample_weight : ndarray of shape (n_samples,)
    row_chunks : tuple of int

    Returns
    -------
    dask.array.Array of shape (n_samples,)
    """
    import dask.array as da

    return da.from_array(sample_weight, chunks=(row_chunks,),
                         name="daskmix-sample-weight-" + uuid.uuid4().hex)


def is_dask_dataframe(X):
    """True when ``X`` is a dask DataFrame or Series (without importing ``dask.dataframe``).

    Parameters
    ----------
    X : object

    Returns
    -------
    bool
    """
    module = type(X).__module__ or ""
    return module.startswith("dask") and hasattr(X, "to_dask_array")


def dataframe_to_array(X):
    """A dask DataFrame as a dask array with known chunk sizes.

    This is daskmix's one compute during input validation, and it cannot be
    avoided: a dask DataFrame does not know how many rows each partition
    holds, and every algorithm needs the row chunks (to place sample
    weights, draw rows, name rows in state arrays). The lengths are counted
    in one pass over the partitions, as ``X.to_dask_array(lengths=True)``
    does, but through :func:`daskmix._dask.graph.compute`, so that a lost
    worker raises ``LostDataError``. Call ``X.to_dask_array(lengths=True)``
    once yourself, and persist the result, to pay for it only once.

    Parameters
    ----------
    X : dask.dataframe.DataFrame

    Returns
    -------
    dask.array.Array of shape (n_rows, n_columns)
    """
    (lengths,) = _graph.compute(X.map_partitions(len))
    return X.to_dask_array(lengths=tuple(int(n) for n in lengths))


def from_npy(rows, chunk_rows, token):
    """A memory-mappable ``.npy`` file as a dask array.

    Parameters
    ----------
    rows : object
        ``shape``, ``dtype``, ``ndim`` and ``__getitem__`` over rows, opened
        in each task (``daskmix.cli._npy.NpyRows``).
    chunk_rows : int
    token : tuple
        What identifies the file's content (path, modification time,
        size): the graph's name derives from it.

    Returns
    -------
    dask.array.Array
    """
    import dask.array as da
    from dask.base import tokenize

    return da.from_array(
        rows, chunks=(chunk_rows, -1), asarray=False,
        meta=np.empty((0, 0), dtype=rows.dtype),
        name="daskmix-npy-" + tokenize(*token),
    )


def from_zarr(path, component=None):
    """A zarr array (or the array ``component`` of a group) as a dask array.

    Parameters
    ----------
    path : str
        A local path or an fsspec URL.
    component : str or None

    Returns
    -------
    dask.array.Array
        The store's own chunks.
    """
    import dask.array as da

    return da.from_zarr(path, component=component)


def read_table(path, fmt, columns=None):
    """Parquet or CSV files as a dask DataFrame.

    Parameters
    ----------
    path : str
        A file, a directory (parquet) or a glob pattern; local or an fsspec URL.
    fmt : {"parquet", "csv"}
    columns : list of str or None
        The columns to read; None reads all.

    Returns
    -------
    dask.dataframe.DataFrame
    """
    import dask.dataframe as dd

    if fmt == "parquet":
        return dd.read_parquet(path, columns=columns)
    return dd.read_csv(path, usecols=columns)
