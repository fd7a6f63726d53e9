"""What every per-chunk kernel shares: pure NumPy, no dask import.

* :class:`PackedLayout`: named statistics of fixed shapes packed into one flat
  float64 vector, so that a chunk's statistics travel between workers as one
  small array and chunks combine by adding vectors (or by a merge that reads
  the fields by name). The mixture, k-means and PCA statistics are layouts.
* Tiling: :data:`TILE_ROWS` and :func:`row_tiles`, so that a kernel's
  (rows, ...) temporaries stay small whatever the chunk size.
* :func:`count_nonfinite`: the non-finite check folded into a pass.
* :func:`row_weights` and :func:`total_weight`: the sample weights of a
  chunk, given as ``None`` (every row weighs 1) or an array of shape
  ``(n_rows, 1)``.
"""

from __future__ import annotations

import abc
import functools
import math

import numpy as np

__all__ = [
    "TILE_ROWS",
    "PackedLayout",
    "count_nonfinite",
    "row_tiles",
    "row_weights",
    "total_weight",
]

#: Most rows per tile inside a chunk. Long enough for the matrix products to
#: run near peak speed; short enough that a tile of rows, and a tile's
#: (rows, n_components) temporaries, stay in cache.
TILE_ROWS = 4096


class PackedLayout(abc.ABC):
    """Named float64 fields of fixed shapes, packed one after the other in a flat vector.

    A subclass says which fields, in which order, through :attr:`fields`;
    this class does the packing. Fields of shape ``()`` hold scalars such as
    a log-likelihood or the count of non-finite values.

    :meth:`views` keeps any leading axes of its input: it reads one packed
    vector as well as a stack of them (the input of a merge), and writing
    into the views writes into the vector.
    """

    @property
    @abc.abstractmethod
    def fields(self):
        """Tuple of ``(name, shape)`` pairs, in packing order."""

    @functools.cached_property
    def _slices(self):
        slices, start = {}, 0
        for name, shape in self.fields:
            stop = start + math.prod(shape)
            slices[name] = (slice(start, stop), tuple(shape))
            start = stop
        return slices

    @property
    def size(self):
        """Length of the packed vector."""
        return sum(where.stop - where.start for where, _ in self._slices.values())

    def offsets(self):
        """Where each field sits in the packed vector.

        Returns
        -------
        dict of str to slice
        """
        return {name: where for name, (where, _) in self._slices.items()}

    def pack(self, **values):
        """Pack every field into one new float64 vector.

        Parameters
        ----------
        **values : array_like
            One value per field, of the field's shape (or broadcastable to it).

        Returns
        -------
        ndarray of shape (size,), float64

        Raises
        ------
        KeyError
            If a field is missing.
        TypeError
            If a value names no field.
        """
        unknown = set(values) - set(self._slices)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)}")
        out = np.empty(self.size)
        for name, (where, shape) in self._slices.items():
            out[where] = np.broadcast_to(np.asarray(values[name], dtype=np.float64), shape).ravel()
        return out

    def zeros(self, **values):
        """A zero vector with only the given fields set.

        Parameters
        ----------
        **values : array_like
            Values of some fields, for example ``nonfinite=3`` for a chunk
            that reports only its non-finite values.

        Returns
        -------
        ndarray of shape (size,), float64
        """
        out = np.zeros(self.size)
        views = self.views(out)
        for name, value in values.items():
            views[name][...] = value
        return out

    def views(self, vector):
        """Every field of packed vectors, as views.

        Parameters
        ----------
        vector : ndarray of shape (..., size)
            One packed vector, or a stack of them.

        Returns
        -------
        dict of str to ndarray
            Field ``name`` has shape ``vector.shape[:-1] + shape``; writing
            into it writes into ``vector``.
        """
        vector = np.asarray(vector)
        lead = vector.shape[:-1]
        return {
            name: vector[..., where].reshape(lead + shape)
            for name, (where, shape) in self._slices.items()
        }

    def unpack(self, vector):
        """The statistics of packed vectors, by name, as their readers use them.

        By default the fields themselves (:meth:`views`); a layout whose
        readers want something else (the used slots only, say) overrides it.

        Parameters
        ----------
        vector : ndarray of shape (..., size)

        Returns
        -------
        dict of str to ndarray
        """
        return self.views(vector)


def row_tiles(n_rows, tile_rows=TILE_ROWS):
    """Consecutive row slices of at most ``tile_rows`` rows.

    Parameters
    ----------
    n_rows : int
    tile_rows : int, default=TILE_ROWS

    Yields
    ------
    slice
    """
    for start in range(0, n_rows, tile_rows):
        yield slice(start, min(start + tile_rows, n_rows))


def count_nonfinite(X):
    """Number of NaN or infinite values in ``X`` (one cheap pass when it has none).

    Parameters
    ----------
    X : ndarray

    Returns
    -------
    int
    """
    if np.isfinite(X).all():
        return 0
    return int(np.count_nonzero(~np.isfinite(X)))


def row_weights(sample_weight, rows, dtype=np.float64):
    """Weights of some rows of a chunk as a 1-D array, or None when unweighted.

    None lets a kernel skip the multiplication rather than multiply by ones.

    Parameters
    ----------
    sample_weight : ndarray of shape (n_samples, 1) or None
    rows : slice or ndarray of int
    dtype : dtype, default=float64
        Usually the dtype of the products the weights enter.

    Returns
    -------
    ndarray of shape (n_rows,) or None
    """
    if sample_weight is None:
        return None
    return sample_weight[rows, 0].astype(dtype, copy=False)


def total_weight(sample_weight, n_rows):
    """Total weight of a chunk: its row count when unweighted.

    Parameters
    ----------
    sample_weight : ndarray or None
    n_rows : int

    Returns
    -------
    float
    """
    if sample_weight is None:
        return float(n_rows)
    return float(np.sum(sample_weight, dtype=np.float64))
