"""Pure NumPy kernels of factor analysers: Woodbury factors, distances, moments.

Component ``k`` of a mixture of factor analysers has covariance
``Lambda_k Lambda_k' + Psi_k`` with loadings ``Lambda_k`` of shape
(n_features, H) and a diagonal noise ``Psi_k``. Its log density is evaluated
with the Woodbury identity and the matrix determinant lemma (Ghahramani and
Hinton, 1996): once per component,

    U = Psi^-1 Lambda,  L = I_H + Lambda' U,  V = U L^-1,
    log det(Lambda Lambda' + Psi) = log det L + sum log Psi,

and per row, with ``delta = y - mu``,

    [a, b] = delta' [U | V],
    delta' (Lambda Lambda' + Psi)^-1 delta = sum delta**2 / Psi - a'b,

so a row costs O(n_features H) per component, never O(n_features**2).
``b = L^-1 Lambda' Psi^-1 delta`` is also the posterior mean of the
factors, which the M-step statistics reuse.

The packed Woodbury factors ``[1/Psi | U | V]`` have shape
(n_components, n_features, 2H + 1). These functions are shared by the
``factor`` covariance type (exact EM, :mod:`daskmix.mixture.covariance.factor`)
and by truncated EM's pair evaluator (:mod:`daskmix.mixture.kernels.pairs`),
which evaluates sparse (row, component) pairs. They import nothing of the
covariance package: kernels sit below the covariance types.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from daskmix._blas import blas_for_matrices

__all__ = [
    "component_mahalanobis",
    "component_moments",
    "first_moment",
    "split_moments",
    "unpack_woodbury",
    "woodbury_factors",
    "woodbury_log_det",
]


def woodbury_factors(loadings, noise_variance):
    """Per-component factors of the Woodbury identity and determinant lemma.

    Parameters
    ----------
    loadings : ndarray of shape (n_components, n_features, n_factors)
        ``Lambda``.
    noise_variance : ndarray of shape (n_components, n_features)
        ``Psi``, positive.

    Returns
    -------
    inv_psi : ndarray of shape (n_components, n_features)
        ``1 / Psi``.
    U : ndarray of shape (n_components, n_features, n_factors)
        ``Psi^-1 Lambda``.
    V : ndarray of shape (n_components, n_features, n_factors)
        ``U L^-1`` with ``L = I + Lambda' Psi^-1 Lambda``; ``delta' V`` is
        the posterior mean of the factors.
    l_inv : ndarray of shape (n_components, n_factors, n_factors)
        ``L^-1``, the posterior covariance of the factors.
    log_det : ndarray of shape (n_components,)
        ``log det(Lambda Lambda' + Psi)``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If some ``L`` is not positive definite (non-finite parameters).
    """
    loadings = np.asarray(loadings, dtype=np.float64)
    noise_variance = np.asarray(noise_variance, dtype=np.float64)
    inv_psi = 1.0 / noise_variance
    U = loadings * inv_psi[:, :, None]
    n_factors = loadings.shape[2]
    L = np.eye(n_factors) + np.swapaxes(loadings, 1, 2) @ U
    return (inv_psi, U) + _from_l(U, L, np.sum(np.log(noise_variance), axis=1))


def _from_l(U, L, log_det_psi):
    """``V``, ``L^-1`` and the log-determinant from ``U`` and ``L``."""
    eye = np.eye(L.shape[-1])
    with blas_for_matrices(L.shape[-1]):
        chol = np.linalg.cholesky(L)
        chol_inv = np.stack([linalg.solve_triangular(c, eye, lower=True) for c in chol])
    l_inv = np.swapaxes(chol_inv, 1, 2) @ chol_inv
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1) + log_det_psi
    return U @ l_inv, l_inv, log_det


def unpack_woodbury(prec_chol):
    """``1/Psi``, ``U``, ``V`` and ``L^-1`` from packed Woodbury factors.

    Parameters
    ----------
    prec_chol : ndarray of shape (n_components, n_features, 2 n_factors + 1)
        ``[1/Psi | U | V]`` as :meth:`FactorCovariance.precision_cholesky`
        packs it (possibly cast to the data's dtype).

    Returns
    -------
    inv_psi : ndarray of shape (n_components, n_features)
    U, V : ndarray of shape (n_components, n_features, n_factors)
    l_inv : ndarray of shape (n_components, n_factors, n_factors), float64
        ``L^-1 = I - V' Psi U`` (from ``U' Psi U = L - I``).
    """
    n_factors = (prec_chol.shape[2] - 1) // 2
    inv_psi = prec_chol[:, :, 0]
    U = prec_chol[:, :, 1 : n_factors + 1]
    V = prec_chol[:, :, n_factors + 1 :]
    psi_u = U.astype(np.float64) / inv_psi.astype(np.float64)[:, :, None]
    l_inv = np.eye(n_factors) - np.swapaxes(V.astype(np.float64), 1, 2) @ psi_u
    return inv_psi, U, V, l_inv


def woodbury_log_det(prec_chol):
    """``log det(Lambda Lambda' + Psi)`` per component from packed Woodbury factors.

    Parameters
    ----------
    prec_chol : ndarray of shape (n_components, n_features, 2 n_factors + 1)
        ``[1/Psi | U | V]``.

    Returns
    -------
    ndarray of shape (n_components,), float64
    """
    inv_psi, U, _, _ = unpack_woodbury(prec_chol)
    inv_psi = inv_psi.astype(np.float64)
    U = U.astype(np.float64)
    L = np.eye(U.shape[2]) + np.swapaxes(U, 1, 2) @ (U / inv_psi[:, :, None])
    chol = np.linalg.cholesky(L)
    return (2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
            - np.sum(np.log(inv_psi), axis=1))


def component_mahalanobis(delta, inv_psi, uv, squares=None):
    """Woodbury Mahalanobis distances of rows to one component, and their factors.

    Parameters
    ----------
    delta : ndarray of shape (n_rows, n_features)
        Rows minus the component's mean.
    inv_psi : ndarray of shape (n_features,)
        ``1 / Psi`` in ``delta``'s dtype.
    uv : ndarray of shape (n_features, 2 n_factors)
        ``[U | V]`` in ``delta``'s dtype (the packed Woodbury factors
        without their first column).
    squares : ndarray of shape (n_rows, n_features) or None
        Scratch space for ``delta**2``.

    Returns
    -------
    sq : ndarray of shape (n_rows,)
        ``delta' (Lambda Lambda' + Psi)^-1 delta = sum delta**2 / Psi - a'b``.
    z : ndarray of shape (n_rows, n_factors)
        ``b = delta' V``, the posterior means of the factors.
    """
    n_factors = uv.shape[1] // 2
    ab = delta @ uv
    if squares is None:
        squares = np.empty_like(delta)
    np.square(delta, out=squares)
    sq = squares @ inv_psi
    sq -= np.einsum("ij,ij->i", ab[:, :n_factors], ab[:, n_factors:])
    return sq, ab[:, n_factors:]


def component_moments(delta, z, resp, l_inv):
    """The M-step statistics of one component from a set of rows.

    With ``z~ = [z; 1]`` the posterior mean of the factors extended by a
    one, the statistics (Ghahramani and Hinton's joint ``[Lambda, mu]``
    update) are, summed over the rows,

    * ``B = sum r delta z~'`` of shape (n_features, H + 1),
    * ``u = sum r delta**2`` of shape (n_features,),
    * ``A = sum r z~ z~' + blockdiag(sum r L^-1, 0)`` of shape (H + 1, H + 1),

    packed as one (n_features + H + 1, H + 2) block: ``[[B, u], [A, 0]]``.
    Blocks of disjoint row sets add up.

    Parameters
    ----------
    delta : ndarray of shape (n_rows, n_features)
        Rows minus the component's current mean (the centre the statistics
        are taken about). Overwritten.
    z : ndarray of shape (n_rows, n_factors)
        Posterior means of the factors, ``delta @ V``.
    resp : ndarray of shape (n_rows,)
        Responsibilities (times sample weights).
    l_inv : ndarray of shape (n_factors, n_factors)
        ``L^-1`` of the component at the current parameters.

    Returns
    -------
    block : ndarray of shape (n_features + n_factors + 1, n_factors + 2)
        In ``delta``'s dtype.
    """
    n_rows, n_features = delta.shape
    n_factors = z.shape[1]
    block = np.zeros((n_features + n_factors + 1, n_factors + 2), dtype=delta.dtype)
    z_tilde = np.empty((n_rows, n_factors + 1), dtype=delta.dtype)
    z_tilde[:, :n_factors] = z
    z_tilde[:, n_factors] = 1.0
    weighted = z_tilde * resp[:, None]
    np.matmul(delta.T, weighted, out=block[:n_features, : n_factors + 1])
    np.square(delta, out=delta)
    np.matmul(resp, delta, out=block[:n_features, n_factors + 1])
    np.matmul(z_tilde.T, weighted, out=block[n_features:, : n_factors + 1])
    total = float(np.sum(resp, dtype=np.float64))
    block[n_features : n_features + n_factors, :n_factors] += (total * l_inv).astype(
        delta.dtype
    )
    return block


def first_moment(block, total, centre):
    """``sum r y`` of one component from its :func:`component_moments` block.

    The block's column ``H`` of ``B`` is ``sum r delta`` with ``delta = y -
    centre``, so ``sum r y = B[:, H] + total * centre``.

    Parameters
    ----------
    block : ndarray of shape (n_features + n_factors + 1, n_factors + 2)
    total : float
        ``sum r`` over the block's rows.
    centre : ndarray of shape (n_features,)
        The centre the block was taken about.

    Returns
    -------
    ndarray of shape (n_features,)
    """
    return block[: centre.shape[0], block.shape[1] - 2] + total * centre


def split_moments(s2):
    """``B``, ``u`` and ``A`` of packed statistics (see :func:`component_moments`).

    Parameters
    ----------
    s2 : ndarray of shape (n_components, n_features + n_factors + 1, n_factors + 2)

    Returns
    -------
    B : ndarray of shape (n_components, n_features, n_factors + 1)
    u : ndarray of shape (n_components, n_features)
    A : ndarray of shape (n_components, n_factors + 1, n_factors + 1)
    """
    n_factors = s2.shape[2] - 2
    n_features = s2.shape[1] - n_factors - 1
    B = s2[:, :n_features, : n_factors + 1]
    u = s2[:, :n_features, n_factors + 1]
    A = s2[:, n_features:, : n_factors + 1]
    return B, u, A
