"""The ``diag`` covariance type: one variance per component and feature."""

from __future__ import annotations

import numpy as np

from daskmix.mixture.covariance._diagonal import DiagonalFamily

__all__ = ["DiagCovariance"]


class DiagCovariance(DiagonalFamily):
    """Diagonal covariance matrices, ``covariances_`` of shape (n_components, n_features)."""

    name = "diag"

    def parameter_shape(self, n_components, n_features):
        return (n_components, n_features)

    def second_moment_shape(self, n_components, n_features):
        return (n_components, n_features)

    def _n_squares(self, n_features):
        return n_features

    def _feature_precisions(self, prec_chol, n_features):
        return np.asarray(prec_chol, dtype=np.float64) ** 2

    def log_det_cholesky(self, prec_chol, n_features):
        return np.sum(np.log(prec_chol), axis=1)

    def finalize(self, s2, nk, new_centres, old_centres, reg_covar):
        return s2 / nk[:, None] - new_centres**2 + reg_covar

    def principal_axis(self, covariances, k, n_features):
        axis = np.zeros(n_features)
        j = np.argmax(covariances[k])
        axis[j] = np.sqrt(covariances[k, j])
        return axis

    def n_parameters(self, n_components, n_features):
        return n_components * n_features

    def dense_covariances(self, covariances, n_components, n_features):
        return np.asarray(covariances, dtype=np.float64)[:, :, None] * np.eye(n_features)
