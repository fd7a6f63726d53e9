"""Covariance types: one strategy class each, assembled into one registry here."""

from daskmix.mixture.covariance._types import (
    IllDefinedCovarianceError,
    _DiagCovariance,
    _FullCovariance,
    _SphericalCovariance,
    _TiedCovariance,
)
from daskmix.mixture.covariance.factor import _FactorCovariance

__all__ = ["COVARIANCE_TYPES", "IllDefinedCovarianceError", "get_covariance_type"]

#: Every covariance type, by its ``covariance_type`` name.
COVARIANCE_TYPES = {
    cls.name: cls
    for cls in (_FullCovariance, _TiedCovariance, _DiagCovariance, _SphericalCovariance,
                _FactorCovariance)
}


def get_covariance_type(name):
    """The strategy class registered under ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    type
    """
    try:
        return COVARIANCE_TYPES[name]
    except KeyError:
        raise ValueError(
            f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {name!r}"
        ) from None
