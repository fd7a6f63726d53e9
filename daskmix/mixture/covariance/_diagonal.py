"""The diagonal family: what ``diag`` and ``spherical`` share."""

from __future__ import annotations

import abc

import numpy as np

from daskmix.exceptions import IllDefinedCovarianceError
from daskmix.mixture.covariance._base import CovarianceType
from daskmix.mixture.covariance._linalg import check_positive, check_shape

__all__ = ["DiagonalFamily"]


class DiagonalFamily(CovarianceType):
    """Shared maths of ``diag`` and ``spherical``.

    The design matrix is ``[Y, q(Y), 1]`` with ``q`` the squared features
    (``diag``) or the squared norm (``spherical``). The quadratic form
    ``sum_j p_kj (y_j - c_kj)^2`` is then one product ``W @ D.T`` with
    ``W_k = [-2 p_k c_k, p_k, sum_j p_kj c_kj^2]``, and all M-step moments
    (``sy``, ``s2`` and ``nk``) come from the one product ``resp_t @ D``.
    Truncated EM evaluates single (row, component) pairs as dot products
    of the rows of :meth:`log_prob_weights` and splits its sums with
    :meth:`moments_from_product`.
    """

    @abc.abstractmethod
    def _n_squares(self, n_features):
        """Columns of q(Y): ``n_features`` for diag, 1 for spherical."""

    @abc.abstractmethod
    def _feature_precisions(self, prec_chol, n_features):
        """Per-feature precisions, shape (n_components, n_features), float64."""

    def floor(self, covariances, value):
        # the eigenvalues of a diagonal covariance are its entries
        return np.maximum(covariances, value)

    # ---- kernel maths ---------------------------------------------------
    def design_width(self, n_features, dtype):
        return n_features + self._n_squares(n_features) + 1

    def per_feature_squares(self, n_features):
        """True when the design holds each feature's square (``diag``), False for their sum.

        Parameters
        ----------
        n_features : int

        Returns
        -------
        bool
        """
        return self._n_squares(n_features) == n_features

    def prepare(self, X, shift):
        # compiled on first use: importing the covariance types does not load numba
        from daskmix.mixture.kernels.fused import diagonal_design

        return diagonal_design(X, shift, self.per_feature_squares(X.shape[1]))

    def _quadratic_weights(self, centres, prec_chol):
        """``W`` with ``W @ D.T`` the squared Mahalanobis distances, float64."""
        d = centres.shape[1]
        centres = centres.astype(np.float64)
        p = self._feature_precisions(prec_chol, d)
        return np.concatenate(
            [-2.0 * centres * p, p[:, : self._n_squares(d)],
             np.sum(centres**2 * p, axis=1, keepdims=True)],
            axis=1,
        )

    def squared_mahalanobis_t(self, D, centres, prec_chol):
        return self._quadratic_weights(centres, prec_chol).astype(D.dtype) @ D.T

    def log_prob_weights(self, centres, prec_chol, log_weights=None):
        """Folded weights ``W``: the log densities of a design ``D`` are ``W @ D.T``.

        The factor -0.5 and the per-component offsets are folded in (the
        design's last column is ones).

        Parameters
        ----------
        centres : ndarray of shape (n_components, n_features)
        prec_chol : ndarray of shape ``parameter_shape``
        log_weights : ndarray of shape (n_components,) or None

        Returns
        -------
        ndarray of shape (n_components, n_design), float64
        """
        weights = -0.5 * self._quadratic_weights(centres, prec_chol)
        weights[:, -1] += self.log_normaliser(prec_chol, centres.shape[1], log_weights)
        return weights

    def log_prob_t(self, D, centres, prec_chol, log_weights=None):
        return self.log_prob_weights(centres, prec_chol, log_weights).astype(D.dtype) @ D.T

    def moments_from_product(self, both, n_features):
        """``nk``, ``sy`` and ``s2`` from the product ``resp_t @ D``.

        Parameters
        ----------
        both : ndarray of shape (n_components, n_design)
            Responsibilities times the design, however computed (truncated
            EM sums it over sparse pairs).
        n_features : int

        Returns
        -------
        nk, sy, s2 : as :meth:`moments`
        """
        d = n_features
        s2 = both[:, d:-1]
        return both[:, -1], both[:, :d], (s2[:, 0] if self._n_squares(d) == 1 else s2)

    def moments(self, D, resp_t, centres):
        return self.moments_from_product(resp_t @ D, centres.shape[1])

    # ---- M-step ------------------------------------------------------------
    def precision_cholesky(self, covariances):
        cov = np.asarray(covariances)
        bad = ~(np.isfinite(cov) & (cov > 0))
        if bad.any():
            components = np.nonzero(bad.reshape(len(cov), -1).any(axis=1))[0]
            raise IllDefinedCovarianceError(components)
        return 1.0 / np.sqrt(cov)

    # ---- estimator binding ---------------------------------------------------
    def check_precisions(self, precisions, n_components, n_features):
        check_shape(precisions, self.parameter_shape(n_components, n_features),
                    f"{self.name} precision")
        check_positive(precisions, self.name)

    def precision_cholesky_from_precisions(self, precisions):
        return np.sqrt(precisions)

    def precisions_from_cholesky(self, prec_chol):
        return prec_chol**2

    def covariances_from_cholesky(self, prec_chol):
        return 1.0 / prec_chol**2

    # ---- output ------------------------------------------------------------
    def sample(self, rng, mean, covariances, k, n):
        return mean + rng.standard_normal(size=(n, len(mean))) * np.sqrt(covariances[k])
