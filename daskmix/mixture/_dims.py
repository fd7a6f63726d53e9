"""Named axes of covariance-type parameters, learnt from the covariance registry.

Each covariance type knows the shape of its parameters
(``parameter_shape(n_components, n_features)``) and of its second-moment
statistics. Asking for them with two distinct sizes tells which axis counts
components and which features, so model files can name the dimensions of
every type without naming a covariance type anywhere. (Every type expands
its own parameters to full matrices: ``CovarianceType.dense_covariances``.)
"""

from __future__ import annotations

__all__ = ["shape_dims"]

#: Sizes standing for ``n_components`` and ``n_features`` when a shape function
#: is asked which axis is which.
_PROBE_COMPONENTS, _PROBE_FEATURES = 5, 7


def shape_dims(shape_fn):
    """Dimension names of an array whose shape is ``shape_fn(n_components, n_features)``.

    Parameters
    ----------
    shape_fn : callable
        ``shape_fn(n_components, n_features) -> tuple of int``, e.g. a
        covariance type's ``parameter_shape``.

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
