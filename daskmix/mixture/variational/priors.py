"""The priors of a Bayesian Gaussian mixture: validation, and defaults from one pass over the data.

scikit-learn's defaults: ``weight_concentration_prior = 1 / n_components``,
``mean_precision_prior = 1``, ``mean_prior`` the data's mean,
``degrees_of_freedom_prior = n_features`` and ``covariance_prior`` the
data's unbiased covariance (its diagonal for ``diag``, the mean of the
diagonal for ``spherical``). The mean and the covariance cost one pass
(:func:`data_moments`), made only when a default needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import check_array

from daskmix._dask import graph as _graph
from daskmix._errors import raise_if_nonfinite
from daskmix.mixture.covariance import get_covariance_type
from daskmix.mixture.covariance._linalg import check_shape
from daskmix.mixture.kernels.suffstats import StatsLayout, chunk_resp_stats
from daskmix.mixture.variational.model import Priors

__all__ = ["PriorSettings", "check_prior_settings", "data_moments", "priors_for_data"]


@dataclass(frozen=True)
class PriorSettings:
    """The user's priors, validated; None where the default depends on the data.

    Attributes
    ----------
    weight_concentration : float
    mean_precision : float
    mean : ndarray of shape (n_features,) or None
    degrees_of_freedom : float
    covariance : ndarray, float or None
    """

    weight_concentration: float
    mean_precision: float
    mean: object
    degrees_of_freedom: float
    covariance: object

    @property
    def needs_data(self):
        """Whether a default prior is computed from the data's moments."""
        return self.mean is None or self.covariance is None


def check_prior_settings(estimator, n_features, wishart):
    """Validate the estimator's prior parameters (never stored on it).

    Parameters
    ----------
    estimator : BayesianGaussianMixture
    n_features : int
    wishart : WishartFamily

    Returns
    -------
    PriorSettings

    Raises
    ------
    ValueError
        Naming the prior and what it should be.
    """
    mean = estimator.mean_prior
    if mean is not None:
        mean = check_array(mean, dtype=[np.float64, np.float32], ensure_2d=False)
        check_shape(mean, (n_features,), "means")
        mean = mean.astype(np.float64)
    dof = estimator.degrees_of_freedom_prior
    if dof is None:
        dof = float(n_features)
    elif not dof > n_features - 1.0:
        raise ValueError(
            f"The parameter 'degrees_of_freedom_prior' should be greater than "
            f"{n_features - 1}, but got {dof:.3f}."
        )
    covariance = estimator.covariance_prior
    if covariance is not None:
        covariance = wishart.check_prior(covariance, n_features)
    concentration = estimator.weight_concentration_prior
    precision = estimator.mean_precision_prior
    return PriorSettings(
        weight_concentration=(1.0 / estimator.n_components if concentration is None
                              else float(concentration)),
        mean_precision=1.0 if precision is None else float(precision),
        mean=mean, degrees_of_freedom=float(dof), covariance=covariance,
    )


class _Ones:
    """Responsibilities of a single component: every row in it."""

    def __call__(self, X, row_start):
        return np.ones((len(X), 1), dtype=X.dtype)

    def __dask_tokenize__(self):
        return ("daskmix-one-component",)


def data_moments(X, sample_weight, moment_type, shift, split_every):
    """The data's weighted mean and unbiased covariance, in one pass.

    Parameters
    ----------
    X : dask.array.Array or ndarray of shape (n_samples, n_features)
    sample_weight : dask.array.Array, ndarray or None
    moment_type : {"full", "diag"}
        The covariance type of the result: the full matrix or the variances.
    shift : ndarray of shape (n_features,)
        A point near the data (the moments are taken about it).
    split_every : int or None

    Returns
    -------
    mean : ndarray of shape (n_features,)
    covariance : ndarray of shape (n_features, n_features) or (n_features,)
        Scaled by ``W / (W - 1)`` for total weight ``W``, as ``np.cov``.
    """
    covariance = get_covariance_type(moment_type)
    n_features = X.shape[1]
    layout = StatsLayout(1, n_features, covariance.second_moment_shape(1, n_features))
    centres = np.zeros((1, n_features))
    stats = _graph.reduce_blocks(
        X, sample_weight, chunk_resp_stats, size=layout.size, name="bgmm-data-moments",
        split_every=split_every, resp_fn=_Ones(), covariance=covariance,
        shift=np.asarray(shift, dtype=X.dtype), centres=centres.astype(X.dtype),
        layout=layout, check_finite=True,
    )
    (vector,) = _graph.compute(stats)
    stats = layout.unpack(vector)
    raise_if_nonfinite(stats["nonfinite"])
    nk = stats["nk"]
    new_centres = stats["sy"] / nk[:, None]
    variance = covariance.finalize(stats["s2"].copy(), nk, new_centres, centres, 0.0)[0]
    total = float(nk[0])
    return shift + new_centres[0], variance * total / max(total - 1.0, np.finfo(float).eps)


def priors_for_data(settings, wishart, moments):
    """The priors of a fit.

    Parameters
    ----------
    settings : PriorSettings
    wishart : WishartFamily
    moments : tuple or None
        ``data_moments``'s ``(mean, covariance)``; None when
        ``settings.needs_data`` is False.

    Returns
    -------
    Priors
    """
    mean, covariance = settings.mean, settings.covariance
    if mean is None:
        mean = moments[0]
    if covariance is None:
        covariance = wishart.default_prior(moments[1])
    return Priors(settings.weight_concentration, settings.mean_precision, mean,
                  settings.degrees_of_freedom, covariance)
