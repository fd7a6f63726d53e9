"""Named axes of covariance-type parameters, learnt from the covariance registry.

Each covariance strategy class knows the shape of its parameters
(``parameter_shape(n_components, n_features)``) and of its second-moment
statistics. Asking for them with two distinct sizes tells which axis counts
components and which features, so model files can name the dimensions of
every type, and plots can expand every type to full matrices, without
naming a covariance type anywhere.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dense_covariances", "shape_dims"]

#: Sizes standing for ``n_components`` and ``n_features`` when a shape function
#: is asked which axis is which.
_PROBE_COMPONENTS, _PROBE_FEATURES = 5, 7


def shape_dims(shape_fn):
    """Dimension names of an array whose shape is ``shape_fn(n_components, n_features)``.

    Parameters
    ----------
    shape_fn : callable
        ``shape_fn(n_components, n_features) -> tuple of int``, e.g. a
        covariance class's ``parameter_shape``.

    Returns
    -------
    tuple of str
        ``"component"``, ``"feature"`` and ``"feature2"`` (a second feature
        axis), or ``"axisN"`` for an axis of any other size.
    """
    dims = []
    for axis, size in enumerate(shape_fn(_PROBE_COMPONENTS, _PROBE_FEATURES)):
        if size == _PROBE_COMPONENTS:
            dims.append("component")
        elif size == _PROBE_FEATURES:
            dims.append("feature2" if "feature" in dims else "feature")
        else:
            dims.append(f"axis{axis}")
    return tuple(dims)


def dense_covariances(covariance, covariances, n_components, n_features):
    """Every component's full ``n_features x n_features`` covariance matrix.

    An axis the parameters lack is read as the structure the type imposes:
    no component axis means one matrix shared by all components, no second
    feature axis a diagonal matrix, no feature axis at all a multiple of the
    identity.

    Parameters
    ----------
    covariance : type
        Covariance strategy class.
    covariances : ndarray
        ``GaussianMixture.covariances_``.
    n_components, n_features : int

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)

    Raises
    ------
    NotImplementedError
        For a type whose parameters have other axes (a factor model's, say).
    """
    dims = shape_dims(covariance.parameter_shape)
    if not set(dims) <= {"component", "feature", "feature2"}:
        raise NotImplementedError(
            f"cannot expand {covariance.__name__} parameters of dimensions {dims} to "
            "full matrices"
        )
    values = np.asarray(covariances, dtype=np.float64)
    if "component" not in dims:
        values = np.broadcast_to(values, (n_components,) + values.shape)
    if "feature2" in dims:
        return np.array(values)
    if "feature" not in dims:
        values = np.broadcast_to(values[:, None], (n_components, n_features))
    return values[:, :, None] * np.eye(n_features)
