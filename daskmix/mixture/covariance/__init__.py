"""Covariance types: one strategy class per module, assembled into one registry here.

Every piece of maths that depends on the covariance type lives in this
package, behind the interface of :class:`~daskmix.mixture.covariance._base.CovarianceType`
(split by concern: kernel maths, M-step, estimator binding, model output),
so that the EM loop, the chunk kernels and the estimator never branch on
``covariance_type`` (scikit-learn spreads the same logic over nine
``if/elif`` sites).

A new covariance type is one module with a subclass of ``CovarianceType``
and one entry in :data:`COVARIANCE_TYPES`.
"""

from daskmix.exceptions import IllDefinedCovarianceError
from daskmix.mixture.covariance._base import CovarianceType
from daskmix.mixture.covariance.diag import DiagCovariance
from daskmix.mixture.covariance.factor import FactorCovariance
from daskmix.mixture.covariance.full import FullCovariance
from daskmix.mixture.covariance.spherical import SphericalCovariance
from daskmix.mixture.covariance.tied import TiedCovariance

__all__ = [
    "COVARIANCE_TYPES",
    "CovarianceType",
    "IllDefinedCovarianceError",
    "get_covariance_type",
]

#: Every covariance type class, by its ``covariance_type`` name.
COVARIANCE_TYPES = {
    cls.name: cls
    for cls in (FullCovariance, TiedCovariance, DiagCovariance, SphericalCovariance,
                FactorCovariance)
}


def get_covariance_type(name, **settings):
    """The covariance type registered under ``name``, with its settings bound.

    Parameters
    ----------
    name : str
        A key of :data:`COVARIANCE_TYPES`.
    **settings
        Estimator parameters (for instance ``estimator.get_params()``). The
        type reads those its class names in ``settings`` (``factor``:
        ``n_factors``) and ignores the others.

    Returns
    -------
    CovarianceType

    Raises
    ------
    ValueError
        For an unknown name, or settings the type refuses (``factor``
        without ``n_factors``).
    """
    try:
        cls = COVARIANCE_TYPES[name]
    except KeyError:
        raise ValueError(
            f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {name!r}"
        ) from None
    return cls(**{key: settings[key] for key in cls.settings if key in settings})
