"""Thin, optional xarray adapter: labelled in, labelled out.

When fitting, the last dimension of a DataArray holds the features; every
other dimension holds samples (several are stacked into one). The fitted
estimator remembers the feature dimension by name, with its labels if it has
a coordinate, so later inputs may order their dimensions, and their feature
labels, any way: they are transposed and aligned by name. Row-wise outputs
come back as DataArrays over the same sample dimensions and coordinates,
with a ``component`` dimension where there is one. xarray is imported lazily.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from daskmix._dask import graph as _graph

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
    features : tuple of (str, ndarray or None)
        The feature dimension's name and its coordinate values, if any.
    sample_dims : tuple of str
        The sample dimensions, in the input's order: outputs have them
        first, then their column dimension.
    """

    samples: object
    stacked: bool
    lazy: bool
    features: tuple = (None, None)
    sample_dims: tuple = ()


def _feature_labels(X, dim):
    """Coordinate values of ``dim``, or None if it has no coordinate.

    Parameters
    ----------
    X : xarray.DataArray
    dim : str

    Returns
    -------
    ndarray or None
    """
    return np.asarray(X[dim].values) if dim in X.coords else None


def _align_features(X, dim, labels):
    """``X`` with its ``dim`` labels in the fitted order.

    Parameters
    ----------
    X : xarray.DataArray
    dim : str
        The fitted feature dimension, one of ``X.dims``.
    labels : ndarray or None
        The fitted labels; None (or an unlabelled ``X``) leaves ``X`` as is.

    Returns
    -------
    xarray.DataArray

    Raises
    ------
    ValueError
        If ``X``'s labels are not a reordering of the fitted ones.
    """
    current = _feature_labels(X, dim)
    if labels is None or current is None or (
        len(current) == len(labels) and np.array_equal(current, labels)
    ):
        return X
    missing = [v for v in labels.tolist() if v not in set(current.tolist())]
    extra = [v for v in current.tolist() if v not in set(labels.tolist())]
    if missing or extra or len(current) != len(labels):
        raise ValueError(
            f"X's {dim!r} labels differ from those seen in fit: missing {missing}, "
            f"unexpected {extra}. Select the fitted features, e.g. "
            f"X.sel({dim}={labels.tolist()!r})."
        )
    return X.sel({dim: labels})


def to_2d(X, features=None):
    """Split a DataArray into a 2-D (samples, features) array and its labels.

    Parameters
    ----------
    X : xarray.DataArray
    features : tuple of (str, ndarray or None) or None, default=None
        The fitted feature dimension and labels (``XarrayInfo.features``
        of the training input). None takes the last dimension as the
        features, as ``fit`` does.

    Returns
    -------
    data : ndarray or dask.array.Array of shape (n_samples, n_features)
    info : XarrayInfo

    Raises
    ------
    ValueError
        If ``X`` has fewer than two dimensions, lacks the fitted feature
        dimension, or has other feature labels.
    """
    if X.ndim < 2:
        raise ValueError(
            f"Expected a DataArray with a sample and a feature dimension, got dims "
            f"{X.dims}. Add a feature dimension, e.g. X.expand_dims('feature', axis=-1)."
        )
    if features is None:
        feature_dim = X.dims[-1]
    else:
        feature_dim, labels = features
        if feature_dim not in X.dims:
            raise ValueError(
                f"X has dimensions {X.dims}, but the model was fitted with its features "
                f"along {feature_dim!r}. Rename the feature dimension, e.g. "
                f"X.rename({{{X.dims[-1]!r}: {feature_dim!r}}})."
            )
        X = _align_features(X, feature_dim, labels)
    sample_dims = tuple(dim for dim in X.dims if dim != feature_dim)
    stacked = len(sample_dims) > 1
    if stacked:
        X = X.stack({_STACKED: sample_dims})
        X = X.transpose(_STACKED, feature_dim)
    elif X.dims[-1] != feature_dim:
        X = X.transpose(sample_dims[0], feature_dim)
    template = X.isel({feature_dim: 0}, drop=True)
    lazy = hasattr(X.data, "dask")
    info = XarrayInfo(samples=template, stacked=stacked, lazy=lazy,
                      features=(feature_dim, _feature_labels(X, feature_dim)),
                      sample_dims=sample_dims)
    return X.data, info


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
        out = out.unstack(_STACKED).transpose(*info.sample_dims, ...)
    return out
