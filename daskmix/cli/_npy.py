"""``.npy`` files as dask arrays, read and written a block of rows at a time.

:class:`NpyRows` and :class:`NpyRowsWriter` are what ``dask.array.from_array``
and ``dask.array.store`` see: they pickle as the file's path (never its
data), and memory-map the file in whichever process reads or writes a
block, so the file is never loaded whole, by the client or by a worker, and
distributed workers read it straight from a shared file system.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["NpyRows", "NpyRowsWriter"]


class NpyRows:
    """A ``.npy`` file, memory-mapped on first access in each process.

    Parameters
    ----------
    path : str or os.PathLike

    Raises
    ------
    ValueError
        If the file is not a ``.npy`` array NumPy can memory-map (an object
        array, say).
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        self.shape = array.shape
        self.dtype = array.dtype
        self.ndim = array.ndim
        self._array = None

    def _mapped(self):
        """The memory map of this process, opened on first use."""
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return self._array

    def __getitem__(self, key):
        """The rows ``key`` of the file (a view of the memory map)."""
        return np.asarray(self._mapped()[key])

    def __getstate__(self):
        """Pickle the path and metadata only."""
        state = dict(self.__dict__)
        state["_array"] = None  # the path travels, not the mapping
        return state


class NpyRowsWriter:
    """A ``.npy`` file of a given shape, written one block at a time.

    Creating the writer creates the file (header and zeroed data); each
    assignment memory-maps it and writes its block.

    Parameters
    ----------
    path : str or os.PathLike
    shape : tuple of int
    dtype : numpy dtype
    """

    def __init__(self, path, shape, dtype):
        self.path = os.path.abspath(os.fspath(path))
        array = np.lib.format.open_memmap(self.path, mode="w+", dtype=dtype, shape=shape)
        array.flush()
        del array
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def __setitem__(self, key, value):
        """Write ``value`` to the rows ``key`` of the file."""
        array = np.load(self.path, mmap_mode="r+", allow_pickle=False)
        array[key] = value
        array.flush()
