"""Wishart posteriors of the precisions: one class per covariance type, in one registry.

The covariance type's own class (``daskmix.mixture.covariance``) keeps the
log-density kernels, the per-chunk moments, the M-step's covariances and
the precision Cholesky factors; a Wishart family adds only what the
conjugate prior changes: the posterior degrees of freedom, the posterior
scale from the prior and the component moments, the validation of
``covariance_prior`` and its default from the data's covariance.
``factor`` has no conjugate prior and no entry: :func:`get_wishart`
rejects it.

As in scikit-learn, the published ``covariances_`` are the posterior
scale matrices divided by the degrees of freedom, so that their inverses
are the expected precisions ``E[Lambda_k]``.
"""

from __future__ import annotations

import abc

import numpy as np
from sklearn.utils.validation import check_array

from daskmix.mixture.covariance._linalg import check_positive, check_shape, check_symmetric_positive

__all__ = ["WISHART_TYPES", "WishartFamily", "get_wishart"]


class WishartFamily(abc.ABC):
    """The Wishart (or Gamma) posterior of one covariance type."""

    #: The ``covariance_type`` this family answers to.
    name = None
    #: The covariance type whose one-component moments give the default prior.
    moment_type = "diag"

    def degrees_of_freedom_shape(self, n_components):
        """Shape of ``degrees_of_freedom_``: one value per component here.

        Parameters
        ----------
        n_components : int

        Returns
        -------
        tuple of int
        """
        return (n_components,)

    @abc.abstractmethod
    def prior_shape(self, n_features):
        """Shape of ``covariance_prior_`` (``()`` for a float).

        Parameters
        ----------
        n_features : int

        Returns
        -------
        tuple of int
        """

    def degrees_of_freedom(self, prior, nk):
        """Posterior degrees of freedom, ``prior + nk`` per component.

        Parameters
        ----------
        prior : float
        nk : ndarray of shape (n_components,)

        Returns
        -------
        ndarray of shape (n_components,), or () for a shared precision
        """
        return prior + nk

    @abc.abstractmethod
    def scale(self, prior, nk, sk, deviation, shrink):
        """Posterior scale (unnormalised covariance), the shape of ``covariances_``.

        Parameters
        ----------
        prior : ndarray or float
            ``covariance_prior_``.
        nk : ndarray of shape (n_components,)
        sk : ndarray
            The M-step covariances of the components (``reg_covar`` added).
        deviation : ndarray of shape (n_components, n_features)
            Component means of the data minus ``mean_prior_``.
        shrink : ndarray of shape (n_components,)
            ``mean_precision_prior_ / mean_precision_``.

        Returns
        -------
        ndarray
        """

    @abc.abstractmethod
    def check_prior(self, prior, n_features):
        """A validated float64 copy of a user-given ``covariance_prior``.

        Parameters
        ----------
        prior : array-like or float
        n_features : int

        Returns
        -------
        ndarray or float

        Raises
        ------
        ValueError
            For a wrong shape, or a prior that is not positive (definite).
        """

    def prior_from(self, prior):
        """This family's ``covariance_prior_`` for a validated prior of any family.

        The family's own prior is returned as it is; a family that can
        summarise another's prior (the spherical one: its mean variance)
        overrides this.

        Parameters
        ----------
        prior : ndarray or float
            A ``covariance_prior_`` (full, diagonal or spherical layout).

        Returns
        -------
        ndarray or float

        Raises
        ------
        ValueError
            If this family cannot take ``prior``.
        """
        if np.shape(prior) != self.prior_shape(np.shape(prior)[0] if np.ndim(prior) else 0):
            raise ValueError(
                f"A {self.name} Wishart posterior cannot start from a covariance_prior "
                f"of shape {np.shape(prior)}."
            )
        return prior

    @abc.abstractmethod
    def default_prior(self, covariance):
        """The default ``covariance_prior_`` from the data's (unbiased) covariance.

        Parameters
        ----------
        covariance : ndarray
            The one-component covariance of :attr:`moment_type`: the full
            matrix (n_features, n_features) or the variances (n_features,).

        Returns
        -------
        ndarray or float
        """


class FullWishart(WishartFamily):
    """A Wishart posterior per component."""

    name = "full"
    moment_type = "full"

    def prior_shape(self, n_features):
        return (n_features, n_features)

    def scale(self, prior, nk, sk, deviation, shrink):
        outer = deviation[:, :, None] * deviation[:, None, :]
        return prior + nk[:, None, None] * (sk + shrink[:, None, None] * outer)

    def check_prior(self, prior, n_features):
        prior = check_array(prior, dtype=[np.float64, np.float32], ensure_2d=False)
        check_shape(prior, (n_features, n_features), f"{self.name} covariance_prior")
        check_symmetric_positive(prior, self.name)
        return prior.astype(np.float64)

    def default_prior(self, covariance):
        return np.atleast_2d(covariance)


class TiedWishart(FullWishart):
    """One Wishart posterior shared by all components (their counts pooled)."""

    name = "tied"

    def degrees_of_freedom_shape(self, n_components):
        return ()

    def degrees_of_freedom(self, prior, nk):
        return np.float64(prior + nk.sum() / len(nk))

    def scale(self, prior, nk, sk, deviation, shrink):
        n_components = len(nk)
        between = (nk * shrink * deviation.T) @ deviation
        return prior + sk * nk.sum() / n_components + between / n_components


class DiagWishart(WishartFamily):
    """Independent Gamma posteriors of each component's per-feature precisions."""

    name = "diag"

    def prior_shape(self, n_features):
        return (n_features,)

    def scale(self, prior, nk, sk, deviation, shrink):
        return prior + nk[:, None] * (sk + shrink[:, None] * deviation**2)

    def check_prior(self, prior, n_features):
        prior = check_array(prior, dtype=[np.float64, np.float32], ensure_2d=False)
        check_shape(prior, (n_features,), f"{self.name} covariance_prior")
        check_positive(prior, self.name)
        return prior.astype(np.float64)

    def default_prior(self, covariance):
        return np.asarray(covariance, dtype=np.float64)


class SphericalWishart(WishartFamily):
    """A Gamma posterior of each component's single precision."""

    name = "spherical"

    def prior_shape(self, n_features):
        return ()

    def scale(self, prior, nk, sk, deviation, shrink):
        return prior + nk * (sk + shrink * np.mean(deviation**2, axis=1))

    def check_prior(self, prior, n_features):
        value = float(np.asarray(prior, dtype=np.float64))
        if not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"The parameter 'spherical covariance_prior' should be a positive float, "
                f"but got {prior!r}"
            )
        return np.float64(value)

    def default_prior(self, covariance):
        return np.float64(np.mean(covariance))

    def prior_from(self, prior):
        """The mean variance of any prior: a full matrix's trace over ``n_features``.

        The spherical posterior's scale is then the mean of the diagonal of
        the full (or diagonal) posterior's scale, from the same statistics.
        """
        prior = np.asarray(prior, dtype=np.float64)
        return np.float64(np.mean(np.diagonal(prior) if prior.ndim == 2 else prior))


#: Every Wishart family, by the ``covariance_type`` it serves.
WISHART_TYPES = {cls.name: cls() for cls in (FullWishart, TiedWishart, DiagWishart,
                                             SphericalWishart)}


def get_wishart(covariance_type):
    """The Wishart family of ``covariance_type``.

    Parameters
    ----------
    covariance_type : str

    Returns
    -------
    WishartFamily

    Raises
    ------
    ValueError
        For a covariance type without a conjugate prior (``"factor"``).
    """
    try:
        return WISHART_TYPES[covariance_type]
    except KeyError:
        raise ValueError(
            f"BayesianGaussianMixture supports covariance_type in {sorted(WISHART_TYPES)}, "
            f"got covariance_type={covariance_type!r}: it has no conjugate prior. Use "
            "GaussianMixture for it."
        ) from None
