"""Gaussian mixture models."""

from daskmix.mixture._gaussian_mixture import GaussianMixture
from daskmix.mixture._selection import select_model

__all__ = ["GaussianMixture", "select_model"]
