"""The ``tied`` covariance type: one covariance matrix shared by all components."""

from __future__ import annotations

import numpy as np

from daskmix.exceptions import IllDefinedCovarianceError
from daskmix.mixture.covariance._base import CovarianceType
from daskmix.mixture.covariance._linalg import (
    check_shape,
    check_symmetric_positive,
    cholesky_from_precision,
    cholesky_of_inverse,
    eigen_axis,
    floor_eigenvalues,
    times_upper,
)

__all__ = ["TiedCovariance"]


class TiedCovariance(CovarianceType):
    """One full covariance matrix, ``covariances_`` of shape (n_features, n_features)."""

    name = "tied"

    # ---- kernel maths ---------------------------------------------------
    def parameter_shape(self, n_components, n_features):
        return (n_features, n_features)

    def second_moment_shape(self, n_components, n_features):
        return (n_features, n_features)

    def log_det_cholesky(self, prec_chol, n_features):
        return np.sum(np.log(np.diag(prec_chol)))

    def squared_mahalanobis_t(self, D, centres, prec_chol):
        Z = times_upper(D.copy(), prec_chol)
        M = centres @ prec_chol.astype(D.dtype, copy=False)
        sq = M @ Z.T
        sq *= -2.0
        sq += np.einsum("ij,ij->i", Z, Z)[None, :]
        sq += np.einsum("ij,ij->i", M, M)[:, None]
        return sq

    def moments(self, D, resp_t, centres):
        # sum_k resp_nk is the row's sample weight
        root = D * np.sqrt(resp_t.sum(axis=0))[:, None]
        return resp_t.sum(axis=1, dtype=np.float64), resp_t @ D, root.T @ root

    # ---- M-step ------------------------------------------------------------
    def finalize(self, s2, nk, new_centres, old_centres, reg_covar):
        cov = (s2 - (nk[:, None] * new_centres).T @ new_centres) / nk.sum()
        cov.flat[:: cov.shape[0] + 1] += reg_covar
        return cov

    def floor(self, covariances, value):
        return floor_eigenvalues(covariances, value)

    def precision_cholesky(self, covariances):
        try:
            return cholesky_of_inverse(covariances)
        except (np.linalg.LinAlgError, ValueError):
            raise IllDefinedCovarianceError([]) from None

    def principal_axis(self, covariances, k, n_features):
        return eigen_axis(covariances)

    def copy_component(self, covariances, source, target):
        """All components share the one tied covariance: nothing to copy."""

    # ---- estimator binding ---------------------------------------------------
    def check_precisions(self, precisions, n_components, n_features):
        check_shape(precisions, (n_features, n_features), "tied precision")
        check_symmetric_positive(precisions, "tied")

    def precision_cholesky_from_precisions(self, precisions):
        return cholesky_from_precision(precisions)

    def precisions_from_cholesky(self, prec_chol):
        return prec_chol @ prec_chol.T

    def covariances_from_cholesky(self, prec_chol):
        return np.linalg.inv(prec_chol @ prec_chol.T)

    # ---- output ------------------------------------------------------------
    def n_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) / 2.0

    def sample(self, rng, mean, covariances, k, n):
        return rng.multivariate_normal(mean, covariances, int(n))

    def dense_covariances(self, covariances, n_components, n_features):
        shared = np.asarray(covariances, dtype=np.float64)
        return np.array(np.broadcast_to(shared, (n_components,) + shared.shape))
