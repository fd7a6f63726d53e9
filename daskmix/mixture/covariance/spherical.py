"""The ``spherical`` covariance type: one variance per component."""

from __future__ import annotations

import numpy as np

from daskmix.mixture.covariance._diagonal import DiagonalFamily

__all__ = ["SphericalCovariance"]


class SphericalCovariance(DiagonalFamily):
    """Multiples of the identity, ``covariances_`` of shape (n_components,)."""

    name = "spherical"

    def parameter_shape(self, n_components, n_features):
        return (n_components,)

    def second_moment_shape(self, n_components, n_features):
        return (n_components,)

    def _n_squares(self, n_features):
        return 1

    def _feature_precisions(self, prec_chol, n_features):
        return np.repeat((np.asarray(prec_chol, dtype=np.float64) ** 2)[:, None], n_features,
                         axis=1)

    def log_det_cholesky(self, prec_chol, n_features):
        return n_features * np.log(prec_chol)

    def finalize(self, s2, nk, new_centres, old_centres, reg_covar):
        # the mean over features of the diagonal variances, as scikit-learn
        n_features = new_centres.shape[1]
        return (s2 / nk - np.sum(new_centres**2, axis=1)) / n_features + reg_covar

    def principal_axis(self, covariances, k, n_features):
        axis = np.zeros(n_features)
        axis[0] = np.sqrt(covariances[k])
        return axis

    def n_parameters(self, n_components, n_features):
        return n_components

    def dense_covariances(self, covariances, n_components, n_features):
        variances = np.asarray(covariances, dtype=np.float64)
        return variances[:, None, None] * np.eye(n_features)
