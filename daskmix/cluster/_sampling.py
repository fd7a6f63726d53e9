"""Rows requested by global index and gathered lazily, whatever the chunking.

Random rows are drawn on the client as global row indices (with a NumPy
``RandomState``), so the rows a fit sees depend on ``random_state`` alone,
not on how the data is split into chunks. Gathering goes through
``daskmix._dask.graph.take_rows``: each chunk selects its own rows, so only the
requested rows travel to the client.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskmix._dask import graph as _graph

__all__ = ["RowRequest", "request_rows"]


@dataclass
class RowRequest:
    """Lazy rows ``X[indices]`` (indices in any order, repeats allowed).

    Attributes
    ----------
    rows : dask.array.Array of shape (n_unique, n_features)
        The distinct requested rows, in increasing row order.
    weights : dask.array.Array of shape (n_unique,) or None
        Their sample weights, if the data has any.
    inverse : ndarray of int64, shape (n_requested,)
        Position in ``rows`` of each requested index.
    """

    rows: object
    weights: object
    inverse: np.ndarray

    def expand(self, rows, weights):
        """Computed distinct rows (and weights) back in the requested order.

        Parameters
        ----------
        rows : ndarray of shape (n_unique, n_features)
            ``self.rows``, computed.
        weights : ndarray of shape (n_unique,) or None
            ``self.weights``, computed.

        Returns
        -------
        rows : ndarray of shape (n_requested, n_features)
        weights : ndarray of shape (n_requested,) or None
        """
        return rows[self.inverse], None if weights is None else weights[self.inverse]


def request_rows(X, sample_weight, indices):
    """Lazily gather the rows ``indices`` of ``X`` and their weights.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    sample_weight : dask.array.Array of shape (n_samples,) or None
    indices : array-like of int
        Global row indices, in any order, repeats allowed.

    Returns
    -------
    RowRequest
        Compute ``rows`` and ``weights`` (in one ``_graph.compute`` with any
        other work), then call ``expand``.
    """
    unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
    rows = _graph.take_rows(X, unique)
    weights = None if sample_weight is None else _graph.take_rows(sample_weight, unique)
    return RowRequest(rows=rows, weights=weights, inverse=inverse.reshape(-1))
