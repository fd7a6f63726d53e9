"""Covariance types: one small strategy class each, looked up in a registry.

Every piece of maths that depends on the covariance type lives here, behind
one interface, so that the EM loop, the chunk kernels and the estimator never
branch on ``covariance_type`` (scikit-learn spreads the same logic over nine
``if/elif`` sites).

Conventions shared by all types
-------------------------------
Kernels work in *shifted coordinates*: a chunk ``X`` is used as
``Y = X - shift`` where ``shift`` is one vector per pass (the weighted mean of
the current means). This keeps the quadratic-form expansions below well
conditioned when the data sit far from the origin.

``second_moment(Y, resp, centres)`` returns the type's second-moment
statistic of one chunk, a plain sum over rows (so chunks combine by
addition); ``finalize(s2, nk, new_centres, old_centres, reg_covar)`` turns the
summed statistic into covariances. ``centres`` are the current means in
shifted coordinates; a type may centre its statistic on them (``full``) or
on the shift itself (the others, whose statistic is a matrix product).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

__all__ = ["COVARIANCE_TYPES", "get_covariance_type", "IllDefinedCovarianceError"]

_ILL_DEFINED_MESSAGE = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed "
    "samples). Try to decrease the number of components, increase reg_covar, "
    "or scale the input data."
)


class IllDefinedCovarianceError(ValueError):
    """A covariance is not positive definite.

    Parameters
    ----------
    components : ndarray of int
        Indices of the components whose covariance failed.
    """

    def __init__(self, components):
        self.components = np.asarray(components, dtype=int)
        super().__init__(_ILL_DEFINED_MESSAGE)


def _cholesky_of_inverse(cov):
    """Upper factor ``U`` with ``U @ U.T = inv(cov)`` (scikit-learn's layout).

    Parameters
    ----------
    cov : ndarray of shape (n_features, n_features)

    Returns
    -------
    prec_chol : ndarray of shape (n_features, n_features)

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``cov`` is not positive definite.
    """
    if not np.all(np.isfinite(cov)):
        raise np.linalg.LinAlgError("non-finite covariance")
    cov_chol = linalg.cholesky(cov, lower=True)
    return linalg.solve_triangular(
        cov_chol, np.eye(cov.shape[0], dtype=cov.dtype), lower=True
    ).T


def _flip(a):
    return a[..., ::-1, ::-1]


def _cholesky_from_precision(precision):
    """Upper factor ``U`` with ``U @ U.T = precision``, without inverting.

    Parameters
    ----------
    precision : ndarray of shape (n_features, n_features)

    Returns
    -------
    prec_chol : ndarray of shape (n_features, n_features)
    """
    return _flip(linalg.cholesky(_flip(precision), lower=True))


def _squared_norms_full(Y, centres, prec_chols):
    """Squared Mahalanobis distances for one or more precision factors.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_features)
    centres : ndarray of shape (n_components, n_features)
    prec_chols : ndarray of shape (n_components, n_features, n_features)
        Upper precision Cholesky factors, one per component.

    Returns
    -------
    sq : ndarray of shape (n_samples, n_components)
    """
    n_components = centres.shape[0]
    sq = np.empty((Y.shape[0], n_components), dtype=Y.dtype)
    for k in range(n_components):
        z = Y @ prec_chols[k]
        z -= centres[k] @ prec_chols[k]
        np.einsum("ij,ij->i", z, z, out=sq[:, k])
    return sq


def _check_symmetric_positive(precision, name):
    if not (
        np.allclose(precision, precision.T) and np.all(np.linalg.eigvalsh(precision) > 0)
    ):
        raise ValueError(f"'{name} precision' should be symmetric, positive-definite")


def _check_positive(precision, name):
    if np.any(np.less_equal(precision, 0.0)):
        raise ValueError(f"'{name} precision' should be positive")


class _CovarianceType:
    """Interface of a covariance type. Subclasses are stateless."""

    name: str

    @staticmethod
    def parameter_shape(n_components, n_features):
        """Shape of ``covariances_``, ``precisions_`` and ``precisions_cholesky_``."""
        raise NotImplementedError

    @staticmethod
    def second_moment_shape(n_components, n_features):
        """Shape of the per-chunk second-moment statistic."""
        raise NotImplementedError

    @staticmethod
    def second_moment(Y, resp, centres):
        """Second-moment statistic of one chunk (a plain sum over rows).

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_features)
            Shifted data.
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities, already multiplied by the sample weights.
        centres : ndarray of shape (n_components, n_features)
            Current means in shifted coordinates.

        Returns
        -------
        s2 : ndarray of shape ``second_moment_shape``
        """
        raise NotImplementedError

    @staticmethod
    def finalize(s2, nk, new_centres, old_centres, reg_covar):
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
        covariances : ndarray of shape ``parameter_shape``
        """
        raise NotImplementedError

    @classmethod
    def precision_cholesky(cls, covariances):
        """Precision Cholesky factors of ``covariances``.

        Raises
        ------
        IllDefinedCovarianceError
            Naming the components whose covariance is not positive definite.
        """
        raise NotImplementedError

    @staticmethod
    def precision_cholesky_from_precisions(precisions):
        """Precision Cholesky factors from user-given precisions."""
        raise NotImplementedError

    @staticmethod
    def precisions_from_cholesky(prec_chol):
        """Precisions ``U @ U.T`` from their Cholesky factors."""
        raise NotImplementedError

    @staticmethod
    def covariances_from_cholesky(prec_chol):
        """Covariances ``inv(U @ U.T)`` from precision Cholesky factors."""
        raise NotImplementedError

    @staticmethod
    def log_det_cholesky(prec_chol, n_features):
        """Sum of the log-diagonals of the precision factors, shape (n_components,) or ()."""
        raise NotImplementedError

    @staticmethod
    def squared_mahalanobis(Y, centres, prec_chol):
        """Squared Mahalanobis distance of every row to every component.

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_features)
        centres : ndarray of shape (n_components, n_features)
        prec_chol : ndarray of shape ``parameter_shape``

        Returns
        -------
        sq : ndarray of shape (n_samples, n_components)
        """
        raise NotImplementedError

    @staticmethod
    def n_parameters(n_components, n_features):
        """Number of free covariance parameters."""
        raise NotImplementedError

    @staticmethod
    def check_precisions(precisions, n_components, n_features):
        """Validate user-given ``precisions_init`` (shape and definiteness)."""
        raise NotImplementedError

    @staticmethod
    def sample(rng, mean, covariances, k, n):
        """Draw ``n`` points from component ``k``.

        Parameters
        ----------
        rng : numpy.random.RandomState
        mean : ndarray of shape (n_features,)
        covariances : ndarray of shape ``parameter_shape``
        k, n : int

        Returns
        -------
        X : ndarray of shape (n, n_features)
        """
        raise NotImplementedError

    @staticmethod
    def principal_axis(covariances, k, n_features):
        """Standard deviation times the direction of largest variance of component k.

        Parameters
        ----------
        covariances : ndarray of shape ``parameter_shape``
        k, n_features : int

        Returns
        -------
        axis : ndarray of shape (n_features,)
        """
        raise NotImplementedError

    @staticmethod
    def copy_component(covariances, source, target):
        """Give component ``target`` the covariance of ``source``, in place."""
        covariances[target] = covariances[source]

    @classmethod
    def log_prob(cls, Y, centres, prec_chol):
        """Log Gaussian densities, shape (n_samples, n_components).

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_features)
            Shifted data.
        centres : ndarray of shape (n_components, n_features)
            Means in the same shifted coordinates.
        prec_chol : ndarray of shape ``parameter_shape``
        """
        n_features = Y.shape[1]
        sq = cls.squared_mahalanobis(Y, centres, prec_chol)
        log_det = np.asarray(cls.log_det_cholesky(prec_chol, n_features), dtype=Y.dtype)
        sq *= -0.5
        sq += log_det - np.asarray(0.5 * n_features * np.log(2 * np.pi), dtype=Y.dtype)
        return sq


def _check_shape(param, shape, name):
    if param.shape != tuple(shape):
        raise ValueError(
            f"The parameter '{name}' should have the shape of {tuple(shape)}, "
            f"but got {param.shape}"
        )


class _DiagonalFamily(_CovarianceType):
    """Shared maths of ``diag`` and ``spherical``: per-feature variances."""

    @staticmethod
    def second_moment_shape(n_components, n_features):
        return (n_components, n_features)

    @staticmethod
    def second_moment(Y, resp, centres):
        return resp.T @ (Y * Y)

    @staticmethod
    def _variances(s2, nk, new_centres, reg_covar):
        return s2 / nk[:, None] - new_centres**2 + reg_covar

    @classmethod
    def precision_cholesky(cls, covariances):
        cov = np.asarray(covariances)
        bad = ~(np.isfinite(cov) & (cov > 0))
        if bad.any():
            components = np.nonzero(bad.reshape(len(cov), -1).any(axis=1))[0]
            raise IllDefinedCovarianceError(components)
        return 1.0 / np.sqrt(cov)

    @staticmethod
    def precision_cholesky_from_precisions(precisions):
        return np.sqrt(precisions)

    @staticmethod
    def precisions_from_cholesky(prec_chol):
        return prec_chol**2

    @staticmethod
    def covariances_from_cholesky(prec_chol):
        return 1.0 / prec_chol**2


def _eigen_axis(cov):
    values, vectors = np.linalg.eigh(cov)
    return vectors[:, -1] * np.sqrt(max(values[-1], 0.0))


class _DiagCovariance(_DiagonalFamily):
    name = "diag"

    @staticmethod
    def parameter_shape(n_components, n_features):
        return (n_components, n_features)

    @classmethod
    def finalize(cls, s2, nk, new_centres, old_centres, reg_covar):
        return cls._variances(s2, nk, new_centres, reg_covar)

    @staticmethod
    def log_det_cholesky(prec_chol, n_features):
        return np.sum(np.log(prec_chol), axis=1)

    @staticmethod
    def squared_mahalanobis(Y, centres, prec_chol):
        precisions = (prec_chol**2).astype(Y.dtype, copy=False)
        sq = (Y * Y) @ precisions.T
        sq -= 2.0 * (Y @ (centres * precisions).T)
        sq += np.sum(centres**2 * precisions, axis=1)
        return sq

    @staticmethod
    def n_parameters(n_components, n_features):
        return n_components * n_features

    @staticmethod
    def principal_axis(covariances, k, n_features):
        axis = np.zeros(n_features)
        j = np.argmax(covariances[k])
        axis[j] = np.sqrt(covariances[k, j])
        return axis

    @staticmethod
    def check_precisions(precisions, n_components, n_features):
        _check_shape(precisions, (n_components, n_features), "diag precision")
        _check_positive(precisions, "diag")

    @staticmethod
    def sample(rng, mean, covariances, k, n):
        return mean + rng.standard_normal(size=(n, len(mean))) * np.sqrt(covariances[k])


class _SphericalCovariance(_DiagonalFamily):
    name = "spherical"

    @staticmethod
    def parameter_shape(n_components, n_features):
        return (n_components,)

    @classmethod
    def finalize(cls, s2, nk, new_centres, old_centres, reg_covar):
        return cls._variances(s2, nk, new_centres, reg_covar).mean(axis=1)

    @staticmethod
    def log_det_cholesky(prec_chol, n_features):
        return n_features * np.log(prec_chol)

    @staticmethod
    def squared_mahalanobis(Y, centres, prec_chol):
        precisions = (prec_chol**2).astype(Y.dtype, copy=False)
        sq = np.einsum("ij,ij->i", Y, Y)[:, None] - 2.0 * (Y @ centres.T)
        sq += np.sum(centres**2, axis=1)
        sq *= precisions
        return sq

    @staticmethod
    def n_parameters(n_components, n_features):
        return n_components

    @staticmethod
    def principal_axis(covariances, k, n_features):
        axis = np.zeros(n_features)
        axis[0] = np.sqrt(covariances[k])
        return axis

    @staticmethod
    def check_precisions(precisions, n_components, n_features):
        _check_shape(precisions, (n_components,), "spherical precision")
        _check_positive(precisions, "spherical")

    @staticmethod
    def sample(rng, mean, covariances, k, n):
        return mean + rng.standard_normal(size=(n, len(mean))) * np.sqrt(covariances[k])


class _FullCovariance(_CovarianceType):
    name = "full"

    @staticmethod
    def parameter_shape(n_components, n_features):
        return (n_components, n_features, n_features)

    @staticmethod
    def second_moment_shape(n_components, n_features):
        return (n_components, n_features, n_features)

    @staticmethod
    def second_moment(Y, resp, centres):
        n_components, n_features = centres.shape
        s2 = np.empty((n_components, n_features, n_features), dtype=Y.dtype)
        for k in range(n_components):
            diff = Y - centres[k]
            np.matmul((diff * resp[:, k : k + 1]).T, diff, out=s2[k])
        return s2

    @staticmethod
    def finalize(s2, nk, new_centres, old_centres, reg_covar):
        delta = new_centres - old_centres
        cov = s2 / nk[:, None, None] - delta[:, :, None] * delta[:, None, :]
        n_features = cov.shape[-1]
        cov.reshape(len(cov), -1)[:, :: n_features + 1] += reg_covar
        return cov

    @classmethod
    def precision_cholesky(cls, covariances):
        prec_chol = np.empty_like(covariances)
        failed = []
        for k, cov in enumerate(covariances):
            try:
                prec_chol[k] = _cholesky_of_inverse(cov)
            except (np.linalg.LinAlgError, ValueError):
                failed.append(k)
        if failed:
            raise IllDefinedCovarianceError(failed)
        return prec_chol

    @staticmethod
    def precision_cholesky_from_precisions(precisions):
        return np.stack([_cholesky_from_precision(p) for p in precisions])

    @staticmethod
    def precisions_from_cholesky(prec_chol):
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)

    @staticmethod
    def covariances_from_cholesky(prec_chol):
        return np.linalg.inv(prec_chol @ np.swapaxes(prec_chol, -1, -2))

    @staticmethod
    def log_det_cholesky(prec_chol, n_features):
        return np.sum(np.log(np.diagonal(prec_chol, axis1=-2, axis2=-1)), axis=-1)

    @staticmethod
    def squared_mahalanobis(Y, centres, prec_chol):
        return _squared_norms_full(Y, centres, prec_chol.astype(Y.dtype, copy=False))

    @staticmethod
    def n_parameters(n_components, n_features):
        return n_components * n_features * (n_features + 1) / 2.0

    @staticmethod
    def principal_axis(covariances, k, n_features):
        return _eigen_axis(covariances[k])

    @staticmethod
    def check_precisions(precisions, n_components, n_features):
        _check_shape(precisions, (n_components, n_features, n_features), "full precision")
        for precision in precisions:
            _check_symmetric_positive(precision, "full")

    @staticmethod
    def sample(rng, mean, covariances, k, n):
        return rng.multivariate_normal(mean, covariances[k], int(n))


class _TiedCovariance(_CovarianceType):
    name = "tied"

    @staticmethod
    def parameter_shape(n_components, n_features):
        return (n_features, n_features)

    @staticmethod
    def second_moment_shape(n_components, n_features):
        return (n_features, n_features)

    @staticmethod
    def second_moment(Y, resp, centres):
        # sum_k resp_nk is the row's sample weight
        return (Y * resp.sum(axis=1, keepdims=True)).T @ Y

    @staticmethod
    def finalize(s2, nk, new_centres, old_centres, reg_covar):
        cov = (s2 - (nk[:, None] * new_centres).T @ new_centres) / nk.sum()
        cov.flat[:: cov.shape[0] + 1] += reg_covar
        return cov

    @classmethod
    def precision_cholesky(cls, covariances):
        try:
            return _cholesky_of_inverse(covariances)
        except (np.linalg.LinAlgError, ValueError):
            raise IllDefinedCovarianceError([]) from None

    @staticmethod
    def precision_cholesky_from_precisions(precisions):
        return _cholesky_from_precision(precisions)

    @staticmethod
    def precisions_from_cholesky(prec_chol):
        return prec_chol @ prec_chol.T

    @staticmethod
    def covariances_from_cholesky(prec_chol):
        return np.linalg.inv(prec_chol @ prec_chol.T)

    @staticmethod
    def log_det_cholesky(prec_chol, n_features):
        return np.sum(np.log(np.diag(prec_chol)))

    @staticmethod
    def squared_mahalanobis(Y, centres, prec_chol):
        prec_chol = prec_chol.astype(Y.dtype, copy=False)
        Z = Y @ prec_chol
        M = centres @ prec_chol
        sq = np.einsum("ij,ij->i", Z, Z)[:, None] - 2.0 * (Z @ M.T)
        sq += np.einsum("ij,ij->i", M, M)
        return sq

    @staticmethod
    def n_parameters(n_components, n_features):
        return n_features * (n_features + 1) / 2.0

    @staticmethod
    def principal_axis(covariances, k, n_features):
        return _eigen_axis(covariances)

    @staticmethod
    def copy_component(covariances, source, target):
        """All components share the one tied covariance: nothing to copy."""

    @staticmethod
    def check_precisions(precisions, n_components, n_features):
        _check_shape(precisions, (n_features, n_features), "tied precision")
        _check_symmetric_positive(precisions, "tied")

    @staticmethod
    def sample(rng, mean, covariances, k, n):
        return rng.multivariate_normal(mean, covariances, int(n))


COVARIANCE_TYPES = {
    cls.name: cls
    for cls in (_FullCovariance, _TiedCovariance, _DiagCovariance, _SphericalCovariance)
}


def get_covariance_type(name):
    """The strategy class registered under ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    type
    """
    try:
        return COVARIANCE_TYPES[name]
    except KeyError:
        raise ValueError(
            f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {name!r}"
        ) from None
