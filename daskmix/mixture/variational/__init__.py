"""Variational inference for the Bayesian Gaussian mixture.

Registries the estimator asks, as ``GaussianMixture`` asks
``daskmix.mixture.algorithms`` and ``daskmix.mixture.covariance``:

- :data:`ALGORITHMS`: ``BayesianGaussianMixture(algorithm=...)`` to its
  :class:`~daskmix.mixture.algorithms._base.Algorithm`;
- :data:`~daskmix.mixture.variational.wishart.WISHART_TYPES`: the
  conjugate prior of each covariance type;
- :data:`~daskmix.mixture.variational.weights.WEIGHT_PRIORS`: the prior on
  the weights, by ``weight_concentration_prior_type``.

The per-chunk statistics are exact EM's (``daskmix.mixture.kernels``) plus
one scalar; only the update differs (:mod:`~daskmix.mixture.variational.model`).
"""

from daskmix.mixture.algorithms import registered
from daskmix.mixture.variational.batch import BatchVI
from daskmix.mixture.variational.esvi import ESVI
from daskmix.mixture.variational.model import Priors, VariationalModel, VariationalParams
from daskmix.mixture.variational.priors import (
    check_prior_settings,
    data_moments,
    priors_for_data,
)
from daskmix.mixture.variational.stochastic import StochasticVI
from daskmix.mixture.variational.truncated import TruncatedVI
from daskmix.mixture.variational.weights import WEIGHT_PRIORS
from daskmix.mixture.variational.wishart import WISHART_TYPES, get_wishart

__all__ = [
    "ALGORITHMS",
    "WEIGHT_PRIORS",
    "WISHART_TYPES",
    "Priors",
    "VariationalModel",
    "VariationalParams",
    "check_prior_settings",
    "data_moments",
    "get_algorithm",
    "get_wishart",
    "priors_for_data",
]

#: Every variational algorithm, by its ``algorithm`` name.
ALGORITHMS = {a.name: a for a in (BatchVI(), StochasticVI(), TruncatedVI(), ESVI())}


def get_algorithm(name):
    """The variational algorithm registered under ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    Algorithm

    Raises
    ------
    ValueError
        If no algorithm has that name.
    """
    return registered(ALGORITHMS, name)
