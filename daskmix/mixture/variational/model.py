"""The variational posterior of a Bayesian Gaussian mixture and its coordinate-ascent updates.

:class:`VariationalModel` binds the priors, the covariance type, its
Wishart family and the weight prior; its methods are the maths of batch VI
(Bishop, *Pattern Recognition and Machine Learning*, 2006, section 10.2;
Blei and Jordan, 2006, for the Dirichlet process), in scikit-learn's
parametrisation:

- :meth:`VariationalModel.update`: the posterior from the component
  moments ``(nk, xk, sk)`` that exact EM's M-step computes;
- :meth:`VariationalModel.estep_params`: the E-step as a Gaussian
  mixture's log-densities at the expected precisions (the covariance
  type's kernel, unchanged) plus one constant per component,
  ``E[log pi_k] + (E[log det Lambda_k] - d log nu_k - d / beta_k) / 2``,
  folded into the log-weights;
- :meth:`VariationalModel.lower_bound`: the evidence lower bound,
  constants dropped, from the responsibilities' ``sum r log r``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import digamma, gammaln

from daskmix.mixture._params import GaussianParams, estep_params
from daskmix.mixture.covariance import IllDefinedCovarianceError

__all__ = ["Priors", "VariationalModel", "VariationalParams"]


@dataclass(frozen=True)
class Priors:
    """The priors of a fit, validated, with the data-dependent defaults filled in.

    Attributes
    ----------
    weight_concentration : float
    mean_precision : float
    mean : ndarray of shape (n_features,)
    degrees_of_freedom : float
    covariance : ndarray or float
        The shape of the Wishart family's prior.
    """

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: object


@dataclass(frozen=True)
class VariationalParams:
    """The variational posterior.

    Attributes
    ----------
    weight_concentration : ndarray
        Shape (n_components,) (Dirichlet distribution) or (2, n_components)
        (Dirichlet process).
    mean_precision : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    degrees_of_freedom : ndarray of shape (n_components,), or () for ``tied``
    covariances : ndarray
        Posterior scales divided by the degrees of freedom (the covariance
        type's layout).
    prec_chol : ndarray
        Cholesky factors of the expected precisions.
    """

    weight_concentration: np.ndarray
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    covariances: np.ndarray
    prec_chol: np.ndarray


def _trailing(values, ndim):
    """``values`` with axes appended up to ``ndim`` dimensions (for broadcasting)."""
    values = np.asarray(values)
    return values.reshape(values.shape + (1,) * (ndim - values.ndim))


@dataclass(frozen=True)
class VariationalModel:
    """Priors and families of a Bayesian Gaussian mixture, and the updates of batch VI.

    Attributes
    ----------
    priors : Priors
    covariance : CovarianceType
    wishart : WishartFamily
    weight_prior : WeightPrior
    reg_covar : float
    """

    priors: Priors
    covariance: object
    wishart: object
    weight_prior: object
    reg_covar: float

    # ---- posterior ---------------------------------------------------------
    def update(self, nk, xk, sk):
        """The posterior given component moments.

        Parameters
        ----------
        nk : ndarray of shape (n_components,)
            Expected counts (with scikit-learn's ``10 * eps`` added).
        xk : ndarray of shape (n_components, n_features)
            Component means of the data.
        sk : ndarray
            Component covariances (``reg_covar`` added), the covariance
            type's layout.

        Returns
        -------
        VariationalParams

        Raises
        ------
        ValueError
            If a posterior covariance is not positive definite.
        """
        priors = self.priors
        concentration = self.weight_prior.posterior(nk, priors.weight_concentration)
        mean_precision = priors.mean_precision + nk
        means = (priors.mean_precision * priors.mean + nk[:, None] * xk) / mean_precision[:, None]
        dof = self.wishart.degrees_of_freedom(priors.degrees_of_freedom, nk)
        scale = self.wishart.scale(priors.covariance, nk, sk, xk - priors.mean,
                                   priors.mean_precision / mean_precision)
        covariances = scale / _trailing(dof, np.ndim(scale))
        try:
            prec_chol = self.covariance.precision_cholesky(covariances)
        except IllDefinedCovarianceError as exc:
            raise ValueError(str(exc)) from None
        return VariationalParams(concentration, mean_precision, means, np.asarray(dof),
                                 covariances, prec_chol)

    def m_step(self, stats, dtype):
        """The posterior from the statistics of an E-step pass.

        Parameters
        ----------
        stats : dict
            Unpacked statistics, with the ``shift`` and ``centres`` of the
            pass (as ``ExactPass.unpack`` adds them).
        dtype : numpy dtype
            The data's dtype (sets ``eps``, as in exact EM).

        Returns
        -------
        VariationalParams
        """
        nk = stats["nk"] + 10 * np.finfo(dtype).eps
        new_centres, sk = self.covariance.update(stats["s2"], nk, stats["sy"],
                                                 stats["centres"], self.reg_covar)
        return self.update(nk, stats["shift"] + new_centres, sk)

    def from_gaussian(self, params, total_weight):
        """The posterior of the moments an initial Gaussian mixture holds.

        Parameters
        ----------
        params : GaussianParams
            As the initialisation computes them (weights ``nk / total_weight``).
        total_weight : float

        Returns
        -------
        VariationalParams
        """
        return self.update(params.weights * total_weight, params.means, params.covariances)

    # ---- E-step ------------------------------------------------------------
    def weights(self, params):
        """The expected weights (``weights_``)."""
        return self.weight_prior.weights(params.weight_concentration)

    def log_weights(self, params):
        """The per-component constants of the E-step, shape (n_components,).

        Parameters
        ----------
        params : VariationalParams

        Returns
        -------
        ndarray of shape (n_components,)
        """
        n_features = params.means.shape[1]
        dof = params.degrees_of_freedom
        # E[log det Lambda] = sum_i digamma((nu - i) / 2) + d log 2 + log det(W)
        # and log det(W) = log det(prec_chol)^2 - d log(nu): the kernel adds
        # log det(prec_chol), these terms the rest
        log_lambda = n_features * np.log(2.0) + np.sum(
            digamma(0.5 * np.subtract.outer(dof, np.arange(n_features))), axis=-1)
        return (self.weight_prior.expected_log_weights(params.weight_concentration)
                - 0.5 * n_features * np.log(dof)
                + 0.5 * (log_lambda - n_features / params.mean_precision))

    def estep_params(self, params, dtype, shift=None):
        """Kernel parameters of a variational E-step in ``dtype``.

        Parameters
        ----------
        params : VariationalParams
        dtype : numpy dtype
        shift : ndarray of shape (n_features,) or None, default=None
            A fixed shift (stochastic VI keeps one for the whole fit); None
            for the expected weights' mean of the means.

        Returns
        -------
        EStepParams
        """
        gaussian = GaussianParams(self.weights(params), params.means, params.covariances,
                                  params.prec_chol)
        kernel_params = estep_params(self.covariance, gaussian, dtype, shift=shift)
        return replace(kernel_params, log_weights=self.log_weights(params).astype(dtype))

    # ---- lower bound -------------------------------------------------------
    def lower_bound(self, params, resp_log_resp):
        """Evidence lower bound (constants dropped), scikit-learn's ``lower_bound_``.

        Parameters
        ----------
        params : VariationalParams
            After the M-step.
        resp_log_resp : float
            ``sum_n w_n sum_k r_nk log r_nk`` of the E-step before it.

        Returns
        -------
        float
        """
        n_components, n_features = params.means.shape
        dof = params.degrees_of_freedom
        log_det = (self.covariance.log_det_cholesky(params.prec_chol, n_features)
                   - 0.5 * n_features * np.log(dof))
        log_wishart_norm = -(
            dof * log_det + dof * n_features * 0.5 * np.log(2.0)
            + np.sum(gammaln(0.5 * np.subtract.outer(dof, np.arange(n_features))), axis=-1)
        )
        # a shared precision counts once per component, as in scikit-learn
        log_wishart = np.sum(np.broadcast_to(log_wishart_norm, (n_components,)))
        return float(
            -resp_log_resp - log_wishart
            - self.weight_prior.log_norm(params.weight_concentration)
            - 0.5 * n_features * np.sum(np.log(params.mean_precision))
        )
