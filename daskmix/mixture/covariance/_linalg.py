"""Linear-algebra helpers shared by the covariance types (pure NumPy and SciPy)."""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.linalg.blas import get_blas_funcs

__all__ = [
    "check_positive",
    "check_shape",
    "check_symmetric_positive",
    "cholesky_from_precision",
    "cholesky_of_inverse",
    "eigen_axis",
    "times_upper",
]


def cholesky_of_inverse(cov):
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
    """``a`` with its last two axes reversed."""
    return a[..., ::-1, ::-1]


def cholesky_from_precision(precision):
    """Upper factor ``U`` with ``U @ U.T = precision``, without inverting.

    Parameters
    ----------
    precision : ndarray of shape (n_features, n_features)

    Returns
    -------
    prec_chol : ndarray of shape (n_features, n_features)
    """
    return _flip(linalg.cholesky(_flip(precision), lower=True))


def times_upper(A, upper):
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


def eigen_axis(cov):
    """Standard deviation times the direction of largest variance of ``cov``.

    Parameters
    ----------
    cov : ndarray of shape (n_features, n_features)

    Returns
    -------
    ndarray of shape (n_features,)
    """
    values, vectors = np.linalg.eigh(cov)
    return vectors[:, -1] * np.sqrt(max(values[-1], 0.0))


def check_shape(param, shape, name):
    """Raise ``ValueError`` (scikit-learn's message) if ``param`` is not of ``shape``.

    Parameters
    ----------
    param : ndarray
    shape : tuple of int
    name : str
        The parameter's name in the message.
    """
    if param.shape != tuple(shape):
        raise ValueError(
            f"The parameter '{name}' should have the shape of {tuple(shape)}, "
            f"but got {param.shape}"
        )


def check_symmetric_positive(precision, name):
    """Raise ``ValueError`` unless ``precision`` is symmetric positive-definite.

    Parameters
    ----------
    precision : ndarray of shape (n_features, n_features)
    name : str
        The covariance type's name in the message.
    """
    if not (
        np.allclose(precision, precision.T) and np.all(np.linalg.eigvalsh(precision) > 0)
    ):
        raise ValueError(f"'{name} precision' should be symmetric, positive-definite")


def check_positive(precision, name):
    """Raise ``ValueError`` unless every entry of ``precision`` is positive.

    Parameters
    ----------
    precision : ndarray
    name : str
        The covariance type's name in the message.
    """
    if np.any(np.less_equal(precision, 0.0)):
        raise ValueError(f"'{name} precision' should be positive")
