"""Gaussian mixture models."""

from daskmix.mixture._gaussian_mixture import GaussianMixture

__all__ = ["GaussianMixture"]
