"""The ``full`` covariance type: one dense covariance matrix per component."""

from __future__ import annotations

import numpy as np

from daskmix._blas import blas_for_matrices
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
    unpack_symmetric,
    upper_indices,
)

__all__ = ["FullCovariance"]

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

    __slots__ = ("n_features", "t")

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
        upper_i, upper_j = upper_indices(d)
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
        s2 = unpack_symmetric(sums[:, :n_products], d)
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



class FullCovariance(CovarianceType):
    """Full covariance matrices.

    float64 tiles of up to ``_PAIRWISE_MAX_FEATURES`` features use the
    expanded quadratic form of :class:`_PairwiseDesign` (two GEMMs per tile);
    float32 and wider tiles use per-component triangular products centred on
    the current means, which stay accurate in float32.
    """

    name = "full"

    # ---- kernel maths ---------------------------------------------------
    def parameter_shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def second_moment_shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    @staticmethod
    def _expands(n_features, dtype):
        return np.dtype(dtype) == np.float64 and n_features <= _PAIRWISE_MAX_FEATURES

    def design_width(self, n_features, dtype):
        if self._expands(n_features, dtype):
            return _PairwiseDesign.width(n_features)
        return n_features

    def prepare(self, X, shift):
        if self._expands(X.shape[1], X.dtype):
            return _PairwiseDesign.build(X, shift)
        return X - shift

    def log_det_cholesky(self, prec_chol, n_features):
        return np.sum(np.log(np.diagonal(prec_chol, axis1=-2, axis2=-1)), axis=-1)

    def squared_mahalanobis_t(self, D, centres, prec_chol):
        if isinstance(D, _PairwiseDesign):
            return D.quadratic_form_t(centres, prec_chol)
        sq = np.empty((centres.shape[0], D.shape[0]), dtype=D.dtype)
        diff = np.empty_like(D)
        for k in range(centres.shape[0]):
            np.subtract(D, centres[k], out=diff)
            z = times_upper(diff, prec_chol[k])
            np.einsum("ij,ij->i", z, z, out=sq[k])
        return sq

    def moments(self, D, resp_t, centres):
        if isinstance(D, _PairwiseDesign):
            # about the shift; centred on the current means, as the direct form is
            nk, sy, s2 = D.moments(resp_t)
            return nk, sy, _move_scatter(s2, nk, sy, centres, -1.0)
        n_components, n_features = centres.shape
        s2 = np.empty((n_components, n_features, n_features), dtype=D.dtype)
        if hasattr(resp_t, "tocsr"):
            return self._sparse_moments(D, resp_t.tocsr(), centres, s2)
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
    def _sparse_moments(D, resp_t, centres, s2):
        """:meth:`moments` for SciPy sparse (CSR) responsibilities: each component's rows only.

        The responsibilities of a hard partition (the sample k-means of a
        scalable initialisation) are one entry per row.
        """
        for k in range(len(centres)):
            where = slice(resp_t.indptr[k], resp_t.indptr[k + 1])
            diff = D[resp_t.indices[where]] - centres[k]
            diff *= np.sqrt(resp_t.data[where])[:, None].astype(D.dtype, copy=False)
            np.matmul(diff.T, diff, out=s2[k])
        nk = np.asarray(resp_t.sum(axis=1), dtype=np.float64).reshape(-1)
        return nk, np.asarray(resp_t @ D), s2

    # ---- M-step ------------------------------------------------------------
    def finalize(self, s2, nk, new_centres, old_centres, reg_covar):
        delta = new_centres - old_centres
        cov = s2 / nk[:, None, None] - delta[:, :, None] * delta[:, None, :]
        n_features = cov.shape[-1]
        cov.reshape(len(cov), -1)[:, :: n_features + 1] += reg_covar
        return cov

    def second_moment_about_shift(self, s2, nk, sy, centres):
        return _move_scatter(s2.copy(), nk, sy, centres, 1.0)

    def floor(self, covariances, value):
        return floor_eigenvalues(covariances, value)

    def precision_cholesky(self, covariances):
        prec_chol = np.empty_like(covariances)
        failed = []
        with blas_for_matrices(covariances.shape[-1]):
            for k, cov in enumerate(covariances):
                try:
                    prec_chol[k] = cholesky_of_inverse(cov)
                except (np.linalg.LinAlgError, ValueError):
                    failed.append(k)
        if failed:
            raise IllDefinedCovarianceError(failed)
        return prec_chol

    def principal_axis(self, covariances, k, n_features):
        return eigen_axis(covariances[k])

    # ---- estimator binding ---------------------------------------------------
    def check_precisions(self, precisions, n_components, n_features):
        check_shape(precisions, (n_components, n_features, n_features), "full precision")
        for precision in precisions:
            check_symmetric_positive(precision, "full")

    def precision_cholesky_from_precisions(self, precisions):
        with blas_for_matrices(np.shape(precisions)[-1]):
            return np.stack([cholesky_from_precision(p) for p in precisions])

    def precisions_from_cholesky(self, prec_chol):
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)

    def covariances_from_cholesky(self, prec_chol):
        return np.linalg.inv(prec_chol @ np.swapaxes(prec_chol, -1, -2))

    # ---- output ------------------------------------------------------------
    def n_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) / 2.0

    def sample(self, rng, mean, covariances, k, n):
        return rng.multivariate_normal(mean, covariances[k], int(n))

    def dense_covariances(self, covariances, n_components, n_features):
        return np.array(covariances, dtype=np.float64)
