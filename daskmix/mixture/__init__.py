"""Gaussian mixture models."""

from daskmix.mixture._bayesian_mixture import BayesianGaussianMixture
from daskmix.mixture._gaussian_mixture import GaussianMixture
from daskmix.mixture._selection import select_model

__all__ = ["BayesianGaussianMixture", "GaussianMixture", "select_model"]
