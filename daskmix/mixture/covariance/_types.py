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

``prepare(X, shift)`` builds a tile's design matrix from raw rows, ``log_prob_t`` evaluates the
log densities with components along the first axis, and ``moments(D,
resp_t, centres)`` returns the tile's first and second moments, plain sums
over rows (so tiles and chunks combine by addition);
``finalize(s2, nk, new_centres, old_centres, reg_covar)`` turns the summed
statistic into covariances. ``centres`` are the current means in shifted
coordinates; a type may centre its statistic on them (``full``) or on the
shift itself (the others, whose statistic is a matrix product).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.linalg.blas import get_blas_funcs

from daskmix.exceptions import IllDefinedCovarianceError
from daskmix.mixture.kernels.fused import diagonal_design

__all__ = [
    "IllDefinedCovarianceError",
    "_CovarianceType",
    "_DiagCovariance",
    "_FullCovariance",
    "_SphericalCovariance",
    "_TiedCovariance",
]

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


def _times_upper(A, upper):
    """``A @ upper`` for an upper-triangular ``upper``, overwriting ``A``.

    A triangular matrix product (BLAS ``trmm``) does half the work of a
    general one. ``A`` is C-ordered, so its transpose is the Fortran-ordered
    operand BLAS updates in place: ``A.T := upper.T @ A.T``.

    Parameters
    ----------
    A : ndarray of shape (n_samples, n_features), C-contiguous
        Overwritten.
    upper : ndarray of shape (n_features, n_features)
        Only its upper triangle is read.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        The product, in ``A``'s memory when BLAS could work in place.
    """
    trmm = get_blas_funcs("trmm", dtype=A.dtype)
    upper = np.asfortranarray(upper, dtype=A.dtype)
    return trmm(1.0, upper, A.T, side=0, lower=0, trans_a=1, overwrite_b=1).T


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
    def design_width(n_features, dtype):
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

    @staticmethod
    def prepare(X, shift):
        """Per-tile design matrix shared by the E-step and the M-step.

        The diagonal types append the squared features and a column of ones,
        so that each step is one matrix product; the others use ``X - shift``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Raw rows of a tile.
        shift : ndarray of shape (n_features,)
            In X's dtype.

        Returns
        -------
        D : ndarray of shape (n_samples, n_design), or a type-specific design
            Opaque outside the covariance type; for the plain types, its first
            ``n_features`` columns are ``X - shift``.
        """
        return X - shift

    @staticmethod
    def moments(D, resp_t, centres):
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

    @staticmethod
    def second_moment_about_shift(s2, nk, sy, centres):
        """The statistic of :meth:`moments` taken about the shift instead.

        Statistics from different parameters (the steps of stepwise EM) only
        add up about one common point. The types whose statistic is already
        about the shift return it unchanged.

        Parameters
        ----------
        s2 : ndarray of shape ``second_moment_shape``
            As :meth:`moments` returned it for ``centres``.
        nk : ndarray of shape (n_components,)
        sy : ndarray of shape (n_components, n_features)
        centres : ndarray of shape (n_components, n_features)

        Returns
        -------
        ndarray of shape ``second_moment_shape``
        """
        return s2

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
    def squared_mahalanobis_t(D, centres, prec_chol):
        """Squared Mahalanobis distance of every row to every component.

        Components run along the first axis: reductions over components are
        then reductions over rows of a C-contiguous array, which NumPy
        vectorises, where a reduction over a short last axis is slow.

        Parameters
        ----------
        D : design
            From :meth:`prepare`.
        centres : ndarray of shape (n_components, n_features)
        prec_chol : ndarray of shape ``parameter_shape``

        Returns
        -------
        sq : ndarray of shape (n_components, n_samples)
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

    # ---- hooks for types whose fit-time parameters differ from the public ones
    # (``factor``); the defaults are what every other type does.

    #: Fitted attributes only this type sets (removed when another type is fitted).
    extra_attributes = ()
    #: Whether statistics taken at different parameters can be pooled
    #: (:meth:`second_moment_about_shift`), as stepwise EM and ``partial_fit`` do.
    supports_stepwise = True

    @classmethod
    def for_estimator(cls, estimator):
        """The strategy for ``estimator``'s settings (a type with settings binds them).

        Parameters
        ----------
        estimator : GaussianMixture

        Returns
        -------
        type or instance
            The class itself here.
        """
        return cls

    @classmethod
    def check_settings(cls, estimator, n_features):
        """Raise ``ValueError`` for estimator settings this type cannot fit (none here)."""

    @classmethod
    def initial_type(cls):
        """The type whose covariances the initialisation computes (this one here)."""
        return cls

    @classmethod
    def from_initial(cls, covariances, prec_chol):
        """Fit-time ``(covariances, prec_chol)`` from those of :meth:`initial_type`."""
        return covariances, prec_chol

    @classmethod
    def update(cls, s2, nk, sy, old_centres, reg_covar):
        """M-step: new centres (weighted means) and :meth:`finalize`'s covariances.

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
        covariances : ndarray of shape ``parameter_shape``
        """
        new_centres = sy / nk[:, None]
        return new_centres, cls.finalize(s2, nk, new_centres, old_centres, reg_covar)

    @classmethod
    def fitted_attributes(cls, covariances, prec_chol):
        """Public fitted attributes (name -> float64 array) of fit-time parameters."""
        return {
            "covariances_": covariances,
            "precisions_cholesky_": prec_chol,
            "precisions_": cls.precisions_from_cholesky(prec_chol),
        }

    @classmethod
    def params_from_fitted(cls, estimator):
        """Fit-time ``(covariances, prec_chol)``, float64, of a fitted estimator."""
        return (np.asarray(estimator.covariances_, dtype=np.float64),
                np.asarray(estimator.precisions_cholesky_, dtype=np.float64))

    @classmethod
    def log_normaliser(cls, prec_chol, n_features, log_weights=None):
        """``log det(P)^(1/2) - d/2 log(2 pi)`` per component, plus ``log_weights``.

        Parameters
        ----------
        prec_chol : ndarray of shape ``parameter_shape``
        n_features : int
        log_weights : ndarray of shape (n_components,) or None

        Returns
        -------
        ndarray of shape (n_components,) or ()
            A scalar for ``tied`` without ``log_weights``.
        """
        offset = cls.log_det_cholesky(prec_chol, n_features)
        offset = offset - 0.5 * n_features * np.log(2 * np.pi)
        if log_weights is not None:
            offset = offset + np.asarray(log_weights, dtype=np.float64)
        return np.asarray(offset, dtype=np.float64)

    @classmethod
    def log_prob_t(cls, D, centres, prec_chol, log_weights=None):
        """Log Gaussian densities, shape (n_components, n_samples).

        Parameters
        ----------
        D : design
            From :meth:`prepare` of shifted data.
        centres : ndarray of shape (n_components, n_features)
            Means in the same shifted coordinates.
        prec_chol : ndarray of shape ``parameter_shape``
        log_weights : ndarray of shape (n_components,) or None, default=None
            Added to each component's row (the weighted log-probabilities
            of the E-step) in the same pass.
        """
        sq = cls.squared_mahalanobis_t(D, centres, prec_chol)
        offset = cls.log_normaliser(prec_chol, centres.shape[1], log_weights).astype(sq.dtype)
        sq *= -0.5
        sq += offset.reshape(-1, 1) if offset.ndim else offset
        return sq

    @classmethod
    def log_prob(cls, Y, centres, prec_chol):
        """Log Gaussian densities, shape (n_samples, n_components).

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_features)
            Shifted data.
        centres : ndarray of shape (n_components, n_features)
        prec_chol : ndarray of shape ``parameter_shape``
        """
        return cls.log_prob_t(cls.prepare(Y, np.zeros_like(Y[0])), centres, prec_chol).T


def _check_shape(param, shape, name):
    if param.shape != tuple(shape):
        raise ValueError(
            f"The parameter '{name}' should have the shape of {tuple(shape)}, "
            f"but got {param.shape}"
        )


class _DiagonalFamily(_CovarianceType):
    """Shared maths of ``diag`` and ``spherical``.

    The design matrix is ``[Y, q(Y), 1]`` with ``q`` the squared features
    (``diag``) or the squared norm (``spherical``). The quadratic form
    ``sum_j p_kj (y_j - c_kj)^2`` is then one product ``W @ D.T`` with
    ``W_k = [-2 p_k c_k, p_k, sum_j p_kj c_kj^2]``, and all M-step moments
    (``sy``, ``s2`` and ``nk``) come from the one product ``resp_t @ D``.
    """

    #: Columns of q(Y): n_features for diag, 1 for spherical.
    @staticmethod
    def _n_squares(n_features):
        raise NotImplementedError

    @classmethod
    def design_width(cls, n_features, dtype):
        return n_features + cls._n_squares(n_features) + 1

    @classmethod
    def per_feature_squares(cls, n_features):
        """True when the design holds each feature's square (``diag``), False for their sum."""
        return cls._n_squares(n_features) == n_features

    @classmethod
    def prepare(cls, X, shift):
        return diagonal_design(X, shift, cls.per_feature_squares(X.shape[1]))

    @staticmethod
    def _feature_precisions(prec_chol, n_features):
        raise NotImplementedError

    @classmethod
    def _quadratic_weights(cls, centres, prec_chol):
        """``W`` with ``W @ D.T`` the squared Mahalanobis distances, float64."""
        d = centres.shape[1]
        centres = centres.astype(np.float64)
        p = cls._feature_precisions(prec_chol, d)
        return np.concatenate(
            [-2.0 * centres * p, p[:, : cls._n_squares(d)],
             np.sum(centres**2 * p, axis=1, keepdims=True)],
            axis=1,
        )

    @classmethod
    def squared_mahalanobis_t(cls, D, centres, prec_chol):
        return cls._quadratic_weights(centres, prec_chol).astype(D.dtype) @ D.T

    @classmethod
    def log_prob_weights(cls, centres, prec_chol, log_weights=None):
        """Folded weights ``W``: the log densities of a design ``D`` are ``W @ D.T``.

        The factor -0.5 and the per-component offsets are folded in (the
        design's last column is ones). Truncated EM evaluates single
        (row, component) pairs as dot products of these rows.

        Parameters
        ----------
        centres : ndarray of shape (n_components, n_features)
        prec_chol : ndarray of shape ``parameter_shape``
        log_weights : ndarray of shape (n_components,) or None

        Returns
        -------
        ndarray of shape (n_components, n_design), float64
        """
        weights = -0.5 * cls._quadratic_weights(centres, prec_chol)
        weights[:, -1] += cls.log_normaliser(prec_chol, centres.shape[1], log_weights)
        return weights

    @classmethod
    def log_prob_t(cls, D, centres, prec_chol, log_weights=None):
        return cls.log_prob_weights(centres, prec_chol, log_weights).astype(D.dtype) @ D.T

    @classmethod
    def moments_from_product(cls, both, n_features):
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
        return both[:, -1], both[:, :d], (s2[:, 0] if cls._n_squares(d) == 1 else s2)

    @classmethod
    def moments(cls, D, resp_t, centres):
        return cls.moments_from_product(resp_t @ D, centres.shape[1])

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

    @staticmethod
    def second_moment_shape(n_components, n_features):
        return (n_components, n_features)

    @staticmethod
    def _n_squares(n_features):
        return n_features

    @staticmethod
    def _feature_precisions(prec_chol, n_features):
        return np.asarray(prec_chol, dtype=np.float64) ** 2

    @staticmethod
    def finalize(s2, nk, new_centres, old_centres, reg_covar):
        return s2 / nk[:, None] - new_centres**2 + reg_covar

    @staticmethod
    def log_det_cholesky(prec_chol, n_features):
        return np.sum(np.log(prec_chol), axis=1)


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

    @staticmethod
    def second_moment_shape(n_components, n_features):
        return (n_components,)

    @staticmethod
    def _n_squares(n_features):
        return 1

    @staticmethod
    def _feature_precisions(prec_chol, n_features):
        return np.repeat((np.asarray(prec_chol, dtype=np.float64) ** 2)[:, None], n_features, axis=1)

    @staticmethod
    def finalize(s2, nk, new_centres, old_centres, reg_covar):
        # the mean over features of the diagonal variances, as scikit-learn
        n_features = new_centres.shape[1]
        return (s2 / nk - np.sum(new_centres**2, axis=1)) / n_features + reg_covar

    @staticmethod
    def log_det_cholesky(prec_chol, n_features):
        return n_features * np.log(prec_chol)


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


#: Most features for which ``full`` uses the expanded quadratic form: its
#: design holds d(d+1)/2 products per row; beyond about 48 features the direct
#: form's per-component products are large enough to be faster (measured).
_PAIRWISE_MAX_FEATURES = 48


class _PairwiseDesign:
    """Design of a tile for the expanded full-covariance quadratic form.

    With ``y`` a shifted row and ``P_k`` a precision matrix,
    ``(y - c_k)' P_k (y - c_k) = sum_{i<=j} a_kij y_i y_j - 2 (P_k c_k)' y + c_k' P_k c_k``
    with ``a_kii = P_kii`` and ``a_kij = 2 P_kij`` off the diagonal. Stacking the
    d(d+1)/2 products ``y_i y_j``, then ``y``, then a one gives one design
    column per row, so the E-step of every component is one matrix product
    ``W @ t``, and the M-step's ``nk``, ``sum r y`` and ``sum r y y'`` are
    the one product ``resp_t @ t.T``. Both are long, well-shaped GEMMs, where
    the per-component triangular products and rank-k updates of the direct
    form are 32 small ones.

    The design is kept features-major, shape (n_design, n_rows): each row of
    products ``y_i * y[i:]`` is then one contiguous vector multiply, three
    times faster to build than the rows-major layout.

    The expansion cancels: its terms grow like ``|y|^2 / sigma^2`` while the
    result stays near ``n_features`` for rows close to a component. In
    float64, about the shift, that loses ``log10((|c_k| / sigma_k)^2)`` of
    16 digits (4 at a separation of 100 standard deviations), so only
    float64 tiles use it; float32 keeps the direct form centred on the means.

    Parameters
    ----------
    t : ndarray of shape (n_design, n_rows)
        Products, then shifted coordinates, then ones.
    n_features : int
    """

    __slots__ = ("t", "n_features")

    def __init__(self, t, n_features):
        self.t = t
        self.n_features = n_features

    @staticmethod
    def width(n_features):
        """Design rows for ``n_features`` features."""
        return n_features * (n_features + 1) // 2 + n_features + 1

    @classmethod
    def build(cls, X, shift):
        """The design of raw rows ``X`` about ``shift``.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
        shift : ndarray of shape (n_features,)

        Returns
        -------
        _PairwiseDesign
        """
        n, d = X.shape
        n_products = d * (d + 1) // 2
        t = np.empty((cls.width(d), n), dtype=X.dtype)
        Yt = t[n_products : n_products + d]
        np.subtract(X, shift, out=Yt.T)
        start = 0
        for i in range(d):
            np.multiply(Yt[i:], Yt[i], out=t[start : start + d - i])
            start += d - i
        t[-1] = 1.0
        return cls(t, d)

    def quadratic_form_t(self, centres, prec_chol):
        """Squared Mahalanobis distances, shape (n_components, n_rows)."""
        d = self.n_features
        precisions = prec_chol @ np.swapaxes(prec_chol, -1, -2)
        upper_i, upper_j = np.triu_indices(d)
        pairs = precisions[:, upper_i, upper_j] * np.where(upper_i == upper_j, 1.0, 2.0)
        linear = np.einsum("kij,kj->ki", precisions, centres)
        constant = np.einsum("ki,ki->k", centres, linear)
        weights = np.concatenate([pairs, -2.0 * linear, constant[:, None]], axis=1)
        return weights @ self.t

    def moments(self, resp_t):
        """``nk``, ``sum r y`` and the uncentred ``sum r y y'`` of the tile.

        Parameters
        ----------
        resp_t : ndarray of shape (n_components, n_rows)

        Returns
        -------
        nk : ndarray of shape (n_components,)
        sy : ndarray of shape (n_components, n_features)
        s2 : ndarray of shape (n_components, n_features, n_features)
        """
        d = self.n_features
        n_products = d * (d + 1) // 2
        sums = resp_t @ self.t.T
        upper_i, upper_j = np.triu_indices(d)
        s2 = np.empty((len(sums), d, d), dtype=sums.dtype)
        s2[:, upper_i, upper_j] = sums[:, :n_products]
        s2[:, upper_j, upper_i] = sums[:, :n_products]
        return sums[:, -1], sums[:, n_products : n_products + d], s2


def _move_scatter(s2, nk, sy, centres, sign):
    """Move per-component scatters between the shift and ``centres``, in place.

    ``sum r (y - c)(y - c)' = sum r y y' - (sy c' + c sy') + nk c c'``: with
    ``sign=-1`` this turns the scatter about the shift into the scatter
    about ``c``, with ``sign=+1`` back.

    Parameters
    ----------
    s2 : ndarray of shape (n_components, n_features, n_features)
        Overwritten.
    nk : ndarray of shape (n_components,)
    sy : ndarray of shape (n_components, n_features)
        ``sum r y`` about the shift.
    centres : ndarray of shape (n_components, n_features)
    sign : {-1.0, 1.0}

    Returns
    -------
    s2 : ndarray of shape (n_components, n_features, n_features)
    """
    cross = sy[:, :, None] * centres[:, None, :]
    s2 += sign * (cross + np.swapaxes(cross, 1, 2))
    s2 -= sign * nk[:, None, None] * centres[:, :, None] * centres[:, None, :]
    return s2


class _FullCovariance(_CovarianceType):
    """Full covariance matrices.

    float64 tiles of up to ``_PAIRWISE_MAX_FEATURES`` features use the
    expanded quadratic form of :class:`_PairwiseDesign` (two GEMMs per tile);
    float32 and wider tiles use per-component triangular products centred on
    the current means, which stay accurate in float32.
    """

    name = "full"

    @staticmethod
    def design_width(n_features, dtype):
        if _FullCovariance._expands(n_features, dtype):
            return _PairwiseDesign.width(n_features)
        return n_features

    @staticmethod
    def _expands(n_features, dtype):
        return np.dtype(dtype) == np.float64 and n_features <= _PAIRWISE_MAX_FEATURES

    @classmethod
    def prepare(cls, X, shift):
        if cls._expands(X.shape[1], X.dtype):
            return _PairwiseDesign.build(X, shift)
        return X - shift

    @staticmethod
    def parameter_shape(n_components, n_features):
        return (n_components, n_features, n_features)

    @staticmethod
    def second_moment_shape(n_components, n_features):
        return (n_components, n_features, n_features)

    @staticmethod
    def moments(D, resp_t, centres):
        if isinstance(D, _PairwiseDesign):
            # about the shift; centred on the current means, as the direct form is
            nk, sy, s2 = D.moments(resp_t)
            return nk, sy, _move_scatter(s2, nk, sy, centres, -1.0)
        n_components, n_features = centres.shape
        s2 = np.empty((n_components, n_features, n_features), dtype=D.dtype)
        root = np.sqrt(resp_t)
        buffer = np.empty_like(D)
        for k in range(n_components):
            rows = np.flatnonzero(root[k])
            if 2 * len(rows) < len(D):
                # mostly zero responsibilities (the one-hot labels of an
                # initialisation): only the component's rows, O(rows D^2)
                # instead of O(n D^2) for each of the K components
                diff = np.subtract(D[rows], centres[k], out=buffer[: len(rows)])
                diff *= root[k, rows][:, None]
            else:
                diff = np.subtract(D, centres[k], out=buffer)
                diff *= root[k][:, None]
            # (sqrt(r) * diff).T @ itself: NumPy calls the symmetric rank-k update
            np.matmul(diff.T, diff, out=s2[k])
        return resp_t.sum(axis=1, dtype=np.float64), resp_t @ D, s2

    @staticmethod
    def second_moment_about_shift(s2, nk, sy, centres):
        return _move_scatter(s2.copy(), nk, sy, centres, 1.0)

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
    def squared_mahalanobis_t(D, centres, prec_chol):
        if isinstance(D, _PairwiseDesign):
            return D.quadratic_form_t(centres, prec_chol)
        sq = np.empty((centres.shape[0], D.shape[0]), dtype=D.dtype)
        diff = np.empty_like(D)
        for k in range(centres.shape[0]):
            np.subtract(D, centres[k], out=diff)
            z = _times_upper(diff, prec_chol[k])
            np.einsum("ij,ij->i", z, z, out=sq[k])
        return sq

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
    def moments(D, resp_t, centres):
        # sum_k resp_nk is the row's sample weight
        root = D * np.sqrt(resp_t.sum(axis=0))[:, None]
        return resp_t.sum(axis=1, dtype=np.float64), resp_t @ D, root.T @ root

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
    def squared_mahalanobis_t(D, centres, prec_chol):
        Z = _times_upper(D.copy(), prec_chol)
        M = centres @ prec_chol.astype(D.dtype, copy=False)
        sq = M @ Z.T
        sq *= -2.0
        sq += np.einsum("ij,ij->i", Z, Z)[None, :]
        sq += np.einsum("ij,ij->i", M, M)[:, None]
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
