"""Mixture parameters on the client, and the M-step that updates them.

Parameters are held in float64 during a fit whatever the data's dtype; the
chunk kernels receive them cast to the data's dtype (:func:`estep_params`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from daskmix._blas import blas_for_matrices
from daskmix.exceptions import DegenerateComponentWarning
from daskmix.mixture.covariance import IllDefinedCovarianceError
from daskmix.mixture.kernels.suffstats import EStepParams

__all__ = ["DegenerateComponentWarning", "GaussianParams", "estep_params", "params_from_stats"]


@dataclass(frozen=True)
class GaussianParams:
    """Weights, means, covariances and precision Cholesky factors of a mixture.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape set by the covariance type (its fit-time parameters: for
        ``factor``, loadings and noise variances packed together, not the
        dense matrices the estimator publishes).
    prec_chol : ndarray
        Same shape as ``covariances`` (``factor``: its Woodbury factors).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    prec_chol: np.ndarray


def estep_params(covariance, params, dtype, shift=None):
    """Kernel parameters for an E-step in ``dtype``.

    The shift is by default the weighted mean of the means, i.e. the current
    estimate of the data's mean, so shifted data are centred.

    Parameters
    ----------
    covariance : CovarianceType
        The covariance type (an instance from ``mixture.covariance``).
    params : GaussianParams
    dtype : numpy dtype
    shift : ndarray of shape (n_features,) or None, default=None
        A fixed shift instead (stepwise EM keeps one for the whole fit, so
        statistics of different steps add up).

    Returns
    -------
    EStepParams
    """
    if shift is None:
        weights = params.weights / params.weights.sum()
        shift = weights @ params.means
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights)
    return EStepParams(
        covariance=covariance,
        shift=shift.astype(dtype),
        centres=(params.means - shift).astype(dtype),
        prec_chol=np.asarray(params.prec_chol, dtype=dtype),
        log_weights=log_weights.astype(dtype),
    )


def params_from_stats(covariance, stats, shift, old_centres, reg_covar, dtype, *,
                      normalize_weights):
    """M-step: parameters from summed sufficient statistics.

    Follows scikit-learn's ``_estimate_gaussian_parameters`` (including the
    ``10 * eps`` added to every ``nk``). Components that collapse (no weight,
    or a covariance that is not positive definite) are re-seeded by splitting
    the heaviest component, with a :class:`DegenerateComponentWarning`.

    Parameters
    ----------
    covariance : CovarianceType
        The covariance type (an instance from ``mixture.covariance``).
    stats : dict
        Unpacked statistics (see ``kernels.suffstats.StatsLayout``).
    shift : ndarray of shape (n_features,)
        The shift the statistics were computed with.
    old_centres : ndarray of shape (n_components, n_features)
        The centres the second moments were taken about, in shifted coordinates.
    reg_covar : float
    dtype : numpy dtype
        The data's dtype (sets ``eps``).
    normalize_weights : bool
        True in EM (weights sum to one); False at initialisation, where
        scikit-learn divides by the number of samples.

    Returns
    -------
    GaussianParams
    """
    with blas_for_matrices(old_centres.shape[1]):
        eps = 10 * np.finfo(dtype).eps
        nk = stats["nk"] + eps
        new_centres, covariances = covariance.update(stats["s2"], nk, stats["sy"],
                                                     old_centres, reg_covar)
        weights = nk / (nk.sum() if normalize_weights else stats["weight"])
        params = GaussianParams(weights, shift + new_centres, covariances, None)
        empty = np.flatnonzero(stats["nk"] <= np.finfo(np.float64).eps * stats["weight"])
        return _with_precisions(covariance, params, empty)


def _with_precisions(covariance, params, collapsed):
    """Compute precision factors, re-seeding collapsed components first."""
    collapsed = list(collapsed)
    for _ in range(len(params.weights) + 1):
        if collapsed:
            params = _reseed(covariance, params, collapsed)
        try:
            prec_chol = covariance.precision_cholesky(params.covariances)
        except IllDefinedCovarianceError as exc:
            if exc.components.size == 0 or exc.components.size == len(params.weights):
                raise ValueError(str(exc)) from None
            collapsed = list(exc.components)
            continue
        return replace(params, prec_chol=prec_chol)
    raise ValueError(
        "Could not re-seed the collapsed components; increase reg_covar or "
        "decrease n_components."
    )


def _reseed(covariance, params, collapsed):
    """Split the heaviest healthy component into each collapsed one."""
    weights = params.weights.copy()
    means = params.means.copy()
    covariances = params.covariances.copy()
    healthy = np.setdiff1d(np.arange(len(weights)), collapsed)
    if healthy.size == 0:
        raise ValueError(
            "All components collapsed. Increase reg_covar or decrease n_components."
        )
    warnings.warn(
        f"Component(s) {sorted(int(k) for k in collapsed)} collapsed (no points or a "
        "singular covariance) and were re-seeded by splitting the heaviest "
        "component. If this recurs, decrease n_components or increase reg_covar.",
        DegenerateComponentWarning,
        stacklevel=2,
    )
    for k in collapsed:
        j = healthy[np.argmax(weights[healthy])]
        axis = covariance.principal_axis(covariances, j, means.shape[1])
        means[k] = means[j] + axis
        means[j] = means[j] - axis
        weights[k] = weights[j] = weights[j] / 2
        covariance.copy_component(covariances, j, k)
    return GaussianParams(weights, means, covariances, None)
