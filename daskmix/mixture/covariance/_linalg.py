"""Linear-algebra helpers shared by the covariance types (pure NumPy and SciPy)."""

from __future__ import annotations

import functools

import numpy as np
from scipy.linalg.blas import get_blas_funcs
from scipy.linalg.lapack import get_lapack_funcs

__all__ = [
    "check_positive",
    "check_shape",
    "check_symmetric_positive",
    "cholesky_from_precision",
    "cholesky_of_inverse",
    "eigen_axis",
    "floor_eigenvalues",
    "pack_symmetric",
    "times_upper",
    "unpack_symmetric",
    "upper_indices",
]


def _lower_cholesky(a):
    """Lower Cholesky factor of ``a`` (LAPACK ``potrf``, called directly).

    ``scipy.linalg.cholesky`` validates and converts its argument on every
    call, about 40 microseconds: more than the factorisation of the small
    matrices a mixture's components have, one call per component and
    iteration.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not positive definite.
    """
    (potrf,) = get_lapack_funcs(("potrf",), (a,))
    factor, info = potrf(a, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"{info}-th leading minor not positive definite" if info > 0
            else "invalid argument to the Cholesky factorisation")
    return factor


def cholesky_of_inverse(cov):
    """Upper factor ``U`` with ``U @ U.T = inv(cov)`` (scikit-learn's layout).

    ``U`` is the transposed inverse of ``cov``'s lower Cholesky factor, as
    scikit-learn computes it (there by a triangular solve against the
    identity, here by LAPACK's triangular inverse ``trtri``: the same
    quantity, equal to rounding).

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
    cov = np.asarray(cov)
    if not np.all(np.isfinite(cov)):
        raise np.linalg.LinAlgError("non-finite covariance")
    factor = _lower_cholesky(cov)
    (trtri,) = get_lapack_funcs(("trtri",), (factor,))
    inverse, info = trtri(factor, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular Cholesky factor")
    return inverse.T


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

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``precision`` is not positive definite.
    """
    return _flip(_lower_cholesky(np.ascontiguousarray(_flip(np.asarray(precision)))))


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


def floor_eigenvalues(matrices, value):
    """Symmetric matrices with their eigenvalues below ``value`` raised to it.

    The nearest matrices (in Frobenius norm) whose eigenvalues are all at
    least ``value``.

    Parameters
    ----------
    matrices : ndarray of shape (..., n, n)
        Symmetric.
    value : float

    Returns
    -------
    ndarray of shape (..., n, n), float64
    """
    values, vectors = np.linalg.eigh(np.asarray(matrices, dtype=np.float64))
    if values.min(initial=np.inf) >= value:
        return np.asarray(matrices, dtype=np.float64)
    floored = (vectors * np.maximum(values, value)[..., None, :]) @ np.swapaxes(vectors, -1, -2)
    return 0.5 * (floored + np.swapaxes(floored, -1, -2))


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


@functools.cache
def upper_indices(n_features):
    """Row and column indices of the upper triangle (``np.triu_indices``), made once per size.

    Read-only: every fit and pass on the inline path asks for them several
    times, and building them costs more than using them at small sizes.
    """
    indices = np.triu_indices(n_features)
    for index in indices:
        index.flags.writeable = False
    return indices


def pack_symmetric(matrices):
    """The upper triangles of symmetric matrices, row by row.

    Parameters
    ----------
    matrices : ndarray of shape (n, d, d)
        Symmetric (only the upper triangle is read).

    Returns
    -------
    ndarray of shape (n, d * (d + 1) // 2)
    """
    upper_i, upper_j = upper_indices(matrices.shape[-1])
    return matrices[:, upper_i, upper_j]


def unpack_symmetric(packed, n_features):
    """The symmetric matrices of :func:`pack_symmetric`'s triangles.

    Parameters
    ----------
    packed : ndarray of shape (n, n_features * (n_features + 1) // 2)
    n_features : int

    Returns
    -------
    ndarray of shape (n, n_features, n_features)
        A new array.
    """
    upper_i, upper_j = upper_indices(n_features)
    matrices = np.empty((len(packed), n_features, n_features), dtype=packed.dtype)
    matrices[:, upper_i, upper_j] = packed
    matrices[:, upper_j, upper_i] = packed
    return matrices
