"""The interface of a covariance type, split by the four places it is used.

A covariance type is an object: the parameter-free types (``full``,
``tied``, ``diag``, ``spherical``) are instantiated without arguments, and a
type with settings (``factor`` and its ``n_factors``) carries them.
:class:`CovarianceType` is the sum of four abstract interfaces, one per
concern:

:class:`KernelMaths`
    Runs inside Dask tasks on one tile of rows: the design matrix, the log
    densities and the per-tile moments. Pure NumPy, no Dask.
:class:`MStep`
    Runs on the client from the aggregated statistics: new covariances,
    their precision Cholesky factors, re-seeding of collapsed components.
:class:`EstimatorBinding`
    Between the estimator and the fit: validating settings and user-given
    precisions, the initial parameters, the fitted attributes the estimator
    publishes and reads back.
:class:`ModelOutput`
    What a fitted model reports: the number of free parameters (BIC, AIC),
    samples, and every component's covariance as a dense matrix.

Conventions shared by all types
-------------------------------
Kernels work in *shifted coordinates*: a chunk ``X`` is used as
``Y = X - shift`` where ``shift`` is one vector per pass (the weighted mean
of the current means). This keeps the quadratic-form expansions well
conditioned when the data sit far from the origin. ``centres`` are the
current means in shifted coordinates; a type may centre its second-moment
statistic on them (``full``) or on the shift itself (the others, whose
statistic is a matrix product).

Two objects of one type with the same settings are equal, hash alike and
have the same Dask token, so graphs that carry them are built
deterministically.
"""

from __future__ import annotations

import abc

import numpy as np

__all__ = ["CovarianceType", "EstimatorBinding", "KernelMaths", "MStep", "ModelOutput"]


class KernelMaths(abc.ABC):
    """Per-tile maths of a covariance type, run inside tasks (pure NumPy)."""

    @abc.abstractmethod
    def parameter_shape(self, n_components, n_features):
        """Shape of the public ``covariances_``, ``precisions_`` and ``precisions_cholesky_``.

        Parameters
        ----------
        n_components, n_features : int

        Returns
        -------
        tuple of int
        """

    @abc.abstractmethod
    def second_moment_shape(self, n_components, n_features):
        """Shape of the per-chunk second-moment statistic ``s2``.

        Parameters
        ----------
        n_components, n_features : int

        Returns
        -------
        tuple of int
        """

    def design_width(self, n_features, dtype):
        """Number of design columns :meth:`prepare` builds per row.

        Parameters
        ----------
        n_features : int
        dtype : numpy.dtype
            The data's dtype.

        Returns
        -------
        int
        """
        return n_features

    def prepare(self, X, shift):
        """Per-tile design matrix shared by the E-step and the M-step.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Raw rows of a tile.
        shift : ndarray of shape (n_features,)
            In X's dtype.

        Returns
        -------
        D : ndarray of shape (n_samples, n_design), or a type-specific design
            Opaque outside the covariance type; here ``X - shift``.
        """
        return X - shift

    @abc.abstractmethod
    def squared_mahalanobis_t(self, D, centres, prec_chol):
        """Squared Mahalanobis distance of every row to every component.

        Components run along the first axis: reductions over components are
        then reductions over rows of a C-contiguous array, which NumPy
        vectorises, where a reduction over a short last axis is slow.

        Parameters
        ----------
        D : design
            From :meth:`prepare`.
        centres : ndarray of shape (n_components, n_features)
        prec_chol : ndarray
            Fit-time precision factors.

        Returns
        -------
        sq : ndarray of shape (n_components, n_samples)
        """

    @abc.abstractmethod
    def log_det_cholesky(self, prec_chol, n_features):
        """``log det(P)^(1/2)`` per component (a scalar for a shared covariance).

        Parameters
        ----------
        prec_chol : ndarray
            Fit-time precision factors.
        n_features : int

        Returns
        -------
        ndarray of shape (n_components,) or ()
        """

    def log_normaliser(self, prec_chol, n_features, log_weights=None):
        """``log det(P)^(1/2) - d/2 log(2 pi)`` per component, plus ``log_weights``.

        Parameters
        ----------
        prec_chol : ndarray
            Fit-time precision factors.
        n_features : int
        log_weights : ndarray of shape (n_components,) or None

        Returns
        -------
        ndarray of shape (n_components,) or ()
            A scalar for ``tied`` without ``log_weights``.
        """
        offset = self.log_det_cholesky(prec_chol, n_features)
        offset = offset - 0.5 * n_features * np.log(2 * np.pi)
        if log_weights is not None:
            offset = offset + np.asarray(log_weights, dtype=np.float64)
        return np.asarray(offset, dtype=np.float64)

    def log_prob_t(self, D, centres, prec_chol, log_weights=None):
        """Log Gaussian densities, shape (n_components, n_samples).

        Parameters
        ----------
        D : design
            From :meth:`prepare` of shifted data.
        centres : ndarray of shape (n_components, n_features)
            Means in the same shifted coordinates.
        prec_chol : ndarray
            Fit-time precision factors.
        log_weights : ndarray of shape (n_components,) or None, default=None
            Added to each component's row (the weighted log-probabilities
            of the E-step) in the same pass.

        Returns
        -------
        ndarray of shape (n_components, n_samples)
        """
        sq = self.squared_mahalanobis_t(D, centres, prec_chol)
        offset = self.log_normaliser(prec_chol, centres.shape[1], log_weights).astype(sq.dtype)
        sq *= -0.5
        sq += offset.reshape(-1, 1) if offset.ndim else offset
        return sq

    @abc.abstractmethod
    def moments(self, D, resp_t, centres):
        """Zeroth, first and second moments of one tile (plain sums over rows).

        Parameters
        ----------
        D : design
            From :meth:`prepare`.
        resp_t : ndarray of shape (n_components, n_samples)
            Responsibilities times sample weights, components along rows.
        centres : ndarray of shape (n_components, n_features)
            Current means in shifted coordinates.

        Returns
        -------
        nk : ndarray of shape (n_components,)
            ``sum_n r_nk``.
        sy : ndarray of shape (n_components, n_features)
            ``sum_n r_nk y_n``.
        s2 : ndarray of shape ``second_moment_shape``
        """


class MStep(abc.ABC):
    """Client-side maths from the aggregated statistics to new parameters."""

    @abc.abstractmethod
    def finalize(self, s2, nk, new_centres, old_centres, reg_covar):
        """Covariances from the summed statistic (``reg_covar`` is added here only).

        Parameters
        ----------
        s2 : ndarray of shape ``second_moment_shape``
        nk : ndarray of shape (n_components,)
        new_centres, old_centres : ndarray of shape (n_components, n_features)
            Updated and previous means, in the shifted coordinates of ``s2``.
        reg_covar : float

        Returns
        -------
        covariances : ndarray
            Fit-time covariances.
        """

    #: Lower bound on every covariance's eigenvalues, or None (the
    #: estimator's ``covariance_floor``); :meth:`update` applies it.
    covariance_floor = None

    def floor(self, covariances, value):
        """The covariances nearest to ``covariances`` whose eigenvalues are all ``>= value``.

        It is the constrained maximiser of the M-step (for a dense covariance,
        the scatter matrix with its eigenvalues below ``value`` raised to
        it), so EM with a floor still never decreases the likelihood: it fits
        a mixture of Gaussians observed through isotropic noise of variance
        ``value``.

        Parameters
        ----------
        covariances : ndarray
            Fit-time covariances.
        value : float
            Positive.

        Returns
        -------
        ndarray
            Same layout.
        """
        raise NotImplementedError(
            f"covariance_type={self.name!r} does not support covariance_floor"
        )

    def update(self, s2, nk, sy, old_centres, reg_covar):
        """M-step: new centres (weighted means) and :meth:`finalize`'s covariances.

        The covariances are floored (:meth:`floor`) when
        :attr:`covariance_floor` is set.

        Parameters
        ----------
        s2 : ndarray of shape ``second_moment_shape``
        nk : ndarray of shape (n_components,)
        sy : ndarray of shape (n_components, n_features)
        old_centres : ndarray of shape (n_components, n_features)
        reg_covar : float

        Returns
        -------
        new_centres : ndarray of shape (n_components, n_features)
        covariances : ndarray
            Fit-time covariances.
        """
        new_centres = sy / nk[:, None]
        covariances = self.finalize(s2, nk, new_centres, old_centres, reg_covar)
        if self.covariance_floor is not None:
            covariances = self.floor(covariances, self.covariance_floor)
        return new_centres, covariances

    def second_moment_about_shift(self, s2, nk, sy, centres):
        """The statistic of :meth:`KernelMaths.moments` taken about the shift instead.

        Statistics from different parameters (the steps of stepwise EM) only
        add up about one common point. The types whose statistic is already
        about the shift return it unchanged.

        Parameters
        ----------
        s2 : ndarray of shape ``second_moment_shape``
            As :meth:`KernelMaths.moments` returned it for ``centres``.
        nk : ndarray of shape (n_components,)
        sy : ndarray of shape (n_components, n_features)
        centres : ndarray of shape (n_components, n_features)

        Returns
        -------
        ndarray of shape ``second_moment_shape``
        """
        return s2

    @abc.abstractmethod
    def precision_cholesky(self, covariances):
        """Fit-time precision factors of fit-time ``covariances``.

        Parameters
        ----------
        covariances : ndarray

        Returns
        -------
        prec_chol : ndarray

        Raises
        ------
        IllDefinedCovarianceError
            Naming the components whose covariance is not positive definite.
        """

    @abc.abstractmethod
    def principal_axis(self, covariances, k, n_features):
        """Standard deviation times the direction of largest variance of component k.

        Parameters
        ----------
        covariances : ndarray
            Fit-time covariances.
        k, n_features : int

        Returns
        -------
        axis : ndarray of shape (n_features,)
        """

    def copy_component(self, covariances, source, target):
        """Give component ``target`` the covariance of ``source``, in place.

        Parameters
        ----------
        covariances : ndarray
            Fit-time covariances.
        source, target : int
        """
        covariances[target] = covariances[source]


class EstimatorBinding(abc.ABC):
    """Between the estimator and the fit: settings, user input, fitted attributes."""

    #: Names of the estimator parameters this type reads (its constructor's
    #: keyword arguments); :func:`~daskmix.mixture.covariance.get_covariance_type`
    #: passes them.
    settings = ()
    #: Fitted attributes only this type sets (removed when another type is fitted).
    extra_attributes = ()

    def check_settings(self, estimator, n_features):
        """Raise ``ValueError`` for estimator settings this type cannot fit.

        Parameters
        ----------
        estimator : GaussianMixture
        n_features : int
        """

    @abc.abstractmethod
    def check_precisions(self, precisions, n_components, n_features):
        """Validate user-given ``precisions_init`` (shape and definiteness).

        Parameters
        ----------
        precisions : ndarray
        n_components, n_features : int

        Raises
        ------
        ValueError
        """

    @abc.abstractmethod
    def precision_cholesky_from_precisions(self, precisions):
        """Precision Cholesky factors from user-given precisions.

        Parameters
        ----------
        precisions : ndarray of shape ``parameter_shape``

        Returns
        -------
        ndarray of shape ``parameter_shape``
        """

    @abc.abstractmethod
    def covariances_from_cholesky(self, prec_chol):
        """Covariances ``inv(U @ U.T)`` from precision Cholesky factors.

        Parameters
        ----------
        prec_chol : ndarray of shape ``parameter_shape``

        Returns
        -------
        ndarray of shape ``parameter_shape``
        """

    @abc.abstractmethod
    def precisions_from_cholesky(self, prec_chol):
        """Precisions ``U @ U.T`` from their Cholesky factors.

        Parameters
        ----------
        prec_chol : ndarray of shape ``parameter_shape``

        Returns
        -------
        ndarray of shape ``parameter_shape``
        """

    def initial_type(self):
        """The type whose covariances the initialisation computes (this one here).

        Returns
        -------
        CovarianceType
        """
        return self

    def from_initial(self, covariances, prec_chol):
        """Fit-time ``(covariances, prec_chol)`` from those of :meth:`initial_type`.

        Parameters
        ----------
        covariances, prec_chol : ndarray
            In :meth:`initial_type`'s layout.

        Returns
        -------
        covariances, prec_chol : ndarray
            Unchanged here.
        """
        return covariances, prec_chol

    def fitted_attributes(self, covariances, prec_chol):
        """Public fitted attributes of fit-time parameters.

        Parameters
        ----------
        covariances, prec_chol : ndarray
            Fit-time parameters.

        Returns
        -------
        dict of str to ndarray
            ``covariances_``, ``precisions_cholesky_`` and ``precisions_``.
        """
        return {
            "covariances_": covariances,
            "precisions_cholesky_": prec_chol,
            "precisions_": self.precisions_from_cholesky(prec_chol),
        }

    def params_from_fitted(self, estimator):
        """Fit-time ``(covariances, prec_chol)``, float64, of a fitted estimator.

        Parameters
        ----------
        estimator : GaussianMixture

        Returns
        -------
        covariances, prec_chol : ndarray
        """
        return (np.asarray(estimator.covariances_, dtype=np.float64),
                np.asarray(estimator.precisions_cholesky_, dtype=np.float64))


class ModelOutput(abc.ABC):
    """What a fitted model reports about its covariances."""

    @abc.abstractmethod
    def n_parameters(self, n_components, n_features):
        """Number of free covariance parameters (for BIC and AIC).

        Parameters
        ----------
        n_components, n_features : int

        Returns
        -------
        float
        """

    @abc.abstractmethod
    def sample(self, rng, mean, covariances, k, n):
        """Draw ``n`` points from component ``k``.

        Parameters
        ----------
        rng : numpy.random.RandomState
        mean : ndarray of shape (n_features,)
        covariances : ndarray of shape ``parameter_shape``
            The public ``covariances_``.
        k, n : int

        Returns
        -------
        X : ndarray of shape (n, n_features)
        """

    @abc.abstractmethod
    def dense_covariances(self, covariances, n_components, n_features):
        """Every component's full ``n_features x n_features`` covariance matrix.

        Parameters
        ----------
        covariances : ndarray of shape ``parameter_shape``
            The public ``covariances_``.
        n_components, n_features : int

        Returns
        -------
        ndarray of shape (n_components, n_features, n_features), float64
        """


class CovarianceType(KernelMaths, MStep, EstimatorBinding, ModelOutput):
    """A covariance type: the four interfaces, a registry name and its settings.

    Subclasses set :attr:`name` (the ``covariance_type`` they answer to)
    and, if they take settings, :attr:`~EstimatorBinding.settings` naming
    their constructor's keyword arguments, stored as attributes of the same
    names. Equality, hashing, ``repr`` and the Dask token follow from those.
    Every built-in type takes ``covariance_floor`` (see :meth:`MStep.floor`).

    Parameters
    ----------
    covariance_floor : float or None, default=None
        Lower bound on the covariances' eigenvalues.
    """

    #: The ``covariance_type`` this class answers to.
    name = None

    settings = ("covariance_floor",)

    def __init__(self, covariance_floor=None):
        self.covariance_floor = covariance_floor

    def _setting_values(self):
        return tuple(getattr(self, setting) for setting in self.settings)

    def __repr__(self):
        args = ", ".join(f"{s}={getattr(self, s)!r}" for s in self.settings)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(other) is type(self) and other._setting_values() == self._setting_values()

    def __hash__(self):
        return hash((type(self).__qualname__, self.name, self._setting_values()))

    def __dask_tokenize__(self):
        return ("daskmix-covariance", type(self).__module__, type(self).__qualname__,
                self._setting_values())
