"""Priors on the mixture weights: one strategy class per ``weight_concentration_prior_type``.

Each class holds the maths of its conjugate family: the posterior
concentration from the expected counts ``nk``, the expected log-weights of
the E-step, the log normaliser of the lower bound and the point estimate
published as ``weights_``. :data:`WEIGHT_PRIORS` is the registry the
estimator asks.
"""

from __future__ import annotations

import abc

import numpy as np
from scipy.special import betaln, digamma, gammaln

__all__ = ["WEIGHT_PRIORS", "DirichletDistribution", "DirichletProcess", "WeightPrior"]


class WeightPrior(abc.ABC):
    """The variational family of the mixture weights.

    A concentration is an ndarray: shape (n_components,) for a Dirichlet
    distribution, (2, n_components) for the Beta parameters of a
    stick-breaking Dirichlet process.
    """

    #: The ``weight_concentration_prior_type`` this class answers to.
    name = None

    @abc.abstractmethod
    def posterior(self, nk, prior):
        """The posterior concentration given expected counts.

        Parameters
        ----------
        nk : ndarray of shape (n_components,)
        prior : float
            ``weight_concentration_prior_``.

        Returns
        -------
        ndarray
        """

    @abc.abstractmethod
    def expected_log_weights(self, concentration):
        """``E[log pi_k]`` under the posterior, shape (n_components,).

        Parameters
        ----------
        concentration : ndarray

        Returns
        -------
        ndarray of shape (n_components,)
        """

    @abc.abstractmethod
    def log_norm(self, concentration):
        """Log normaliser of the posterior (the lower bound's weight term, constants dropped).

        Parameters
        ----------
        concentration : ndarray

        Returns
        -------
        float
        """

    @abc.abstractmethod
    def weights(self, concentration):
        """The expected weights, normalised, shape (n_components,).

        Parameters
        ----------
        concentration : ndarray

        Returns
        -------
        ndarray of shape (n_components,)
        """

    def published(self, concentration):
        """``weight_concentration_`` as scikit-learn publishes it (an ndarray here).

        Parameters
        ----------
        concentration : ndarray

        Returns
        -------
        ndarray or tuple of ndarray
        """
        return concentration

    def from_published(self, value):
        """The concentration ndarray of a published ``weight_concentration_``.

        Parameters
        ----------
        value : ndarray or tuple of ndarray

        Returns
        -------
        ndarray
        """
        return np.asarray(value, dtype=np.float64)


class DirichletProcess(WeightPrior):
    """Stick-breaking Dirichlet process: a Beta(a_k, b_k) posterior per stick."""

    name = "dirichlet_process"

    def posterior(self, nk, prior):
        # b_k = prior + sum of the counts of the components after k
        after = np.concatenate([np.cumsum(nk[::-1])[-2::-1], [0.0]])
        return np.stack([1.0 + nk, prior + after])

    def expected_log_weights(self, concentration):
        a, b = concentration
        digamma_sum = digamma(a + b)
        log_stick = digamma(a) - digamma_sum
        log_rest = np.concatenate([[0.0], np.cumsum(digamma(b) - digamma_sum)[:-1]])
        return log_stick + log_rest

    def log_norm(self, concentration):
        a, b = concentration
        return float(-np.sum(betaln(a, b)))

    def weights(self, concentration):
        a, b = concentration
        total = a + b
        weights = a / total * np.concatenate([[1.0], np.cumprod(b / total)[:-1]])
        return weights / weights.sum()

    def published(self, concentration):
        return (concentration[0].copy(), concentration[1].copy())

    def from_published(self, value):
        return np.stack([np.asarray(part, dtype=np.float64) for part in value])


class DirichletDistribution(WeightPrior):
    """A Dirichlet distribution over the weights of a finite mixture."""

    name = "dirichlet_distribution"

    def posterior(self, nk, prior):
        return prior + nk

    def expected_log_weights(self, concentration):
        return digamma(concentration) - digamma(np.sum(concentration))

    def log_norm(self, concentration):
        return float(gammaln(np.sum(concentration)) - np.sum(gammaln(concentration)))

    def weights(self, concentration):
        return concentration / np.sum(concentration)


#: Every weight prior, by its ``weight_concentration_prior_type``.
WEIGHT_PRIORS = {cls.name: cls() for cls in (DirichletProcess, DirichletDistribution)}
