"""Thin, optional xarray adapter: labelled in, labelled out.

The last dimension of a DataArray holds the features; every other dimension
holds samples (several are stacked into one). Row-wise outputs come back as
DataArrays over the same sample dimensions and coordinates, with a
``component`` dimension where there is one. xarray is imported lazily.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["is_dataarray", "to_2d", "wrap"]

_STACKED = "__daskmix_sample__"


def is_dataarray(X):
    """True when ``X`` is an ``xarray.DataArray`` (without importing xarray)."""
    xr = sys.modules.get("xarray")
    return xr is not None and isinstance(X, xr.DataArray)


@dataclass
class XarrayInfo:
    """What ``wrap`` needs to rebuild a DataArray over the samples.

    Attributes
    ----------
    samples : xarray.DataArray
        A zero-width template over the sample dimension(s), carrying their coords.
    stacked : bool
        Whether several sample dimensions were stacked into one.
    lazy : bool
        Whether the input was dask-backed (outputs then stay lazy).
    """

    samples: object
    stacked: bool
    lazy: bool


def to_2d(X):
    """Split a DataArray into a 2-D (samples, features) array and its labels.

    Parameters
    ----------
    X : xarray.DataArray
        Features along the last dimension.

    Returns
    -------
    data : ndarray or dask.array.Array of shape (n_samples, n_features)
    info : XarrayInfo
    """
    if X.ndim < 2:
        raise ValueError(
            f"Expected a DataArray with a sample and a feature dimension, got dims "
            f"{X.dims}. Add a feature dimension, e.g. X.expand_dims('feature', axis=-1)."
        )
    feature_dim = X.dims[-1]
    sample_dims = X.dims[:-1]
    stacked = len(sample_dims) > 1
    if stacked:
        X = X.stack({_STACKED: sample_dims})
        X = X.transpose(_STACKED, feature_dim)
    template = X.isel({feature_dim: 0}, drop=True)
    lazy = hasattr(X.data, "dask")
    return X.data, XarrayInfo(samples=template, stacked=stacked, lazy=lazy)


def wrap(result, info, column_dim=None, column_labels=None):
    """Wrap a row-wise array result as a DataArray over the input's samples.

    Parameters
    ----------
    result : dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
    info : XarrayInfo
    column_dim : str or None
    column_labels : array-like or None

    Returns
    -------
    xarray.DataArray
    """
    import xarray as xr

    from daskmix import _graph

    if not info.lazy:
        (result,) = _graph.compute(result)
    template = info.samples
    dims = template.dims
    coords = dict(template.coords)
    if result.ndim == 2:
        dims = dims + (column_dim,)
        if column_labels is not None:
            coords[column_dim] = column_labels
    out = xr.DataArray(result, dims=dims, coords=coords)
    if info.stacked:
        out = out.unstack(_STACKED)
    return out
