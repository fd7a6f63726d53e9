"""The patch prior: a Gaussian mixture fitted to noisy patches, turned into Wiener filters.

The mixture is fitted to the AC coefficients (:func:`~daskmix.imaging._patches.ac_basis`)
of noisy patches scaled by ``1 / sigma``, so the noise is exactly ``I`` in
those coordinates. Component ``k`` of the fitted (noisy) model has covariance
``S_k``; the clean patches' covariance is ``C_k = S_k - I`` with its negative
eigenvalues set to zero (the projection onto the positive semi-definite cone
nearest in Frobenius norm). Under component ``k`` a noisy AC vector ``y`` has
the density ``N(y; mu_k, C_k + I)`` and the clean vector's exact posterior mean
is ``mu_k + C_k (C_k + I)^-1 (y - mu_k)``. :class:`PatchPrior` stores these
maps folded with the DCT, so that both act on raw patch vectors through one
matrix product each.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np

from daskmix.exceptions import ConvergenceWarning, DegenerateComponentWarning
from daskmix.imaging._patches import ac_basis
from daskmix.mixture import GaussianMixture
from daskmix.mixture.covariance._linalg import floor_eigenvalues

__all__ = ["PatchPrior", "fit_patch_prior", "prior_from_mixture"]


@dataclasses.dataclass(frozen=True)
class PatchPrior:
    """Everything the posterior-mean kernel needs, for one image channel.

    With ``d = patch_size ** 2`` and ``K`` components, all arrays float32
    except where said.

    Attributes
    ----------
    patch_size : int
    whiten : ndarray of shape (d, K * (d - 1))
        Column block ``k`` is ``(L_k^-1 B)^T``: ``B`` the AC basis, ``L_k`` the
        Cholesky factor of ``C_k + I``.
    whiten_offset : ndarray of shape (K * (d - 1),)
        Block ``k`` is ``L_k^-1 mu_k``.
    log_norm : ndarray of shape (K,), float64
        ``log pi_k - log det L_k``: the component's log-density up to the
        constant shared by all components is ``log_norm[k] - |z|^2 / 2``.
    filters : ndarray of shape (K, d, d)
        ``filters[k]`` maps a patch row vector ``x`` to its posterior mean
        ``x @ filters[k] + shifts[k]``: ``B^T G_k B + e e^T`` transposed, with
        ``G_k = C_k (C_k + I)^-1`` and ``e`` the constant unit vector (the
        patch mean passes through unchanged).
    shifts : ndarray of shape (K, d)
        ``((I - G_k) mu_k) @ B``.
    means : ndarray of shape (K, d - 1), float64
        Component means in AC coordinates (noise units).
    clean_covariances : ndarray of shape (K, d - 1, d - 1), float64
        ``C_k``.
    weights : ndarray of shape (K,), float64
    patch_weights : ndarray of shape (K,), float32
        Weight of a patch estimate made under component ``k`` in the overlap
        average: ``1 / (1 + trace G_k)``, the inverse of the estimate's
        posterior variance summed over the patch (the patch mean's noise
        variance is the 1), as BM3D weights its groups.
    search : SearchInputs or None, default=None
        The truncated search of the fitted mixture (``algorithm="truncated"``
        with ``n_active < K``): patches are then assigned by their search
        space, about ``n_active * n_neighbors`` components each, instead of
        by all ``K``. None: every component is scored.
    """

    patch_size: int
    whiten: np.ndarray
    whiten_offset: np.ndarray
    log_norm: np.ndarray
    filters: np.ndarray
    shifts: np.ndarray
    means: np.ndarray
    clean_covariances: np.ndarray
    weights: np.ndarray
    patch_weights: np.ndarray
    search: object = None

    @property
    def n_components(self):
        """int: ``K``."""
        return len(self.weights)

    @functools.cached_property
    def ac_basis_t(self):
        """ndarray of shape (d, d - 1), float32: patch rows to AC coefficients (``B^T``)."""
        return np.ascontiguousarray(ac_basis(self.patch_size).T, dtype=np.float32)

    @functools.cached_property
    def block_sum(self):
        """ndarray of shape (K * (d - 1), K), float32: sums each component's block of scores."""
        m = self.means.shape[1]
        return np.repeat(np.eye(self.n_components, dtype=np.float32), m, axis=0)


def clean_covariances(covariances):
    """``S_k - I`` projected onto the positive semi-definite matrices.

    Parameters
    ----------
    covariances : ndarray of shape (K, m, m)
        Fitted covariances of noisy vectors whose noise covariance is ``I``.

    Returns
    -------
    ndarray of shape (K, m, m), float64
    """
    eye = np.eye(covariances.shape[-1])
    return floor_eigenvalues(np.asarray(covariances, dtype=np.float64) - eye, 0.0)


def prior_from_mixture(weights, means, covariances, patch_size, search=None):
    """Build the :class:`PatchPrior` of a mixture fitted to noisy AC coefficients.

    Parameters
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d - 1)
    covariances : ndarray of shape (K, d - 1, d - 1)
        Dense covariances of the fitted noisy model (any covariance type,
        expanded to dense), in noise units.
    patch_size : int
    search : SearchInputs or None, default=None
        The fitted mixture's truncated search (see :class:`PatchPrior`).

    Returns
    -------
    PatchPrior
    """
    basis = ac_basis(patch_size)
    d = patch_size * patch_size
    means = np.asarray(means, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    clean = clean_covariances(covariances)
    n_components, m = means.shape
    eye = np.eye(m)
    noisy = clean + eye
    chol = np.linalg.cholesky(noisy)
    chol_inv = np.linalg.solve(chol, np.broadcast_to(eye, chol.shape))
    whiten = np.einsum("kij,jd->dki", chol_inv, basis).reshape(d, n_components * m)
    whiten_offset = np.einsum("kij,kj->ki", chol_inv, means).reshape(-1)
    log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    with np.errstate(divide="ignore"):
        log_norm = np.log(weights) - log_det
    # G_k = C_k (C_k + I)^-1 = I - (C_k + I)^-1 ; symmetric
    gain = eye - np.linalg.inv(noisy)
    gain = 0.5 * (gain + np.swapaxes(gain, 1, 2))
    dc = np.full(d, 1.0 / patch_size)
    filters = np.einsum("ai,kij,jb->kab", basis.T, gain, basis) + np.outer(dc, dc)
    filters = np.swapaxes(filters, 1, 2)
    residual = means - np.einsum("kij,kj->ki", gain, means)
    shifts = residual @ basis
    f32 = np.float32
    return PatchPrior(
        patch_size=patch_size,
        whiten=np.ascontiguousarray(whiten, dtype=f32),
        whiten_offset=whiten_offset.astype(f32),
        log_norm=log_norm,
        filters=np.ascontiguousarray(filters, dtype=f32),
        shifts=shifts.astype(f32),
        means=means,
        clean_covariances=clean,
        weights=weights,
        patch_weights=(1.0 / (1.0 + np.trace(gain, axis1=1, axis2=2))).astype(f32),
        search=search,
    )


def fit_patch_prior(samples, patch_size, *, n_components, covariance_type, n_factors,
                    algorithm, n_active, max_iter, tol, reg_covar, random_state):
    """Fit :class:`daskmix.GaussianMixture` to noisy patches and build their prior.

    Parameters
    ----------
    samples : ndarray of shape (n_samples, patch_size ** 2)
        Noisy patches in noise units (image divided by sigma).
    patch_size : int
    n_components, covariance_type, n_factors, algorithm, n_active, max_iter, tol, reg_covar, random_state
        Passed to :class:`daskmix.GaussianMixture`.

    Returns
    -------
    prior : PatchPrior
    mixture : GaussianMixture
        The fitted mixture (on AC coefficients, noise units).
    """
    basis = ac_basis(patch_size).astype(np.float32)
    coefficients = samples.astype(np.float32, copy=False) @ basis.T
    n_components = min(n_components, len(coefficients))
    options = {"n_factors": n_factors} if covariance_type == "factor" else {}
    if algorithm == "truncated":
        options["n_active"] = min(n_active, n_components)
        options["n_neighbors"] = min(15, n_components)
    mixture = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        algorithm=algorithm,
        init_params="k-means++",
        max_iter=max_iter,
        tol=tol,
        reg_covar=reg_covar,
        # the noise is I in these units: the fit is of clean components seen
        # through that noise, so S_k - I stays positive semi-definite
        covariance_floor=1.0,
        random_state=random_state,
        **options,
    )
    with warnings.catch_warnings():
        # a short fit is the point (the prior need not converge to help), and
        # flat images collapse components that the fit then re-seeds
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        mixture.fit(coefficients)
    search = None
    if mixture._truncated_inference():
        # the mixture's own outputs would search (a truncated fit with
        # n_active < K): the floor makes its covariances exactly C_k + I, so
        # its search assigns patches as the dense scores would
        search = mixture._search_inputs(np.dtype(np.float32))
    # covariances_ is dense for "full" and "factor" alike
    prior = prior_from_mixture(mixture.weights_, mixture.means_, mixture.covariances_,
                               patch_size, search)
    return prior, mixture
