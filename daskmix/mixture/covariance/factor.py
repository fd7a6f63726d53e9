"""The ``factor`` covariance type: a mixture of factor analysers (MFA).

Component ``k`` has covariance ``Lambda_k Lambda_k' + Psi_k`` with loadings
``Lambda_k`` of shape (n_features, H) and a diagonal noise ``Psi_k``; its
log density is evaluated with the Woodbury identity and the matrix
determinant lemma, at O(n_features H) per row and component. The pure
NumPy kernels (Woodbury factors, distances and moments of rows of one
component) live in :mod:`daskmix.mixture.kernels.factor`, which truncated
EM's pair evaluator shares; this module binds them to the covariance
interface.

Parameters held during a fit (``GaussianParams.covariances`` and
``.prec_chol``) are packed per component:

* ``covariances``: (n_components, n_features, H + 1), ``[Lambda | Psi]``;
* ``prec_chol``: (n_components, n_features, 2H + 1), ``[1/Psi | U | V]``
  (the Woodbury factors, which the E-step needs).

The fitted estimator publishes dense, scikit-learn compatible
``covariances_``, ``precisions_`` and ``precisions_cholesky_`` (shape
(n_components, n_features, n_features)) besides ``loadings_`` and
``noise_variance_``; see :meth:`FactorCovariance.fitted_attributes`.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from daskmix._blas import blas_for_matrices
from daskmix.exceptions import IllDefinedCovarianceError
from daskmix.mixture.covariance._base import CovarianceType
from daskmix.mixture.covariance._linalg import eigen_axis
from daskmix.mixture.covariance.full import FullCovariance
from daskmix.mixture.kernels.factor import (
    component_mahalanobis,
    component_moments,
    first_moment,
    split_moments,
    unpack_woodbury,
    woodbury_factors,
    woodbury_log_det,
)

__all__ = ["FactorCovariance"]

#: The dense layout of the public attributes and of the initialisation.
_DENSE = FullCovariance()


class _FactorDesign:
    """A tile of a factor model: shifted rows, and what the E-step leaves for the M-step.

    Parameters
    ----------
    Y : ndarray of shape (n_rows, n_features)
        Rows minus the pass's shift.

    Attributes
    ----------
    z : ndarray of shape (n_components, n_rows, n_factors) or None
        Posterior means of the factors of every row under every component,
        set by :meth:`FactorCovariance.squared_mahalanobis_t`.
    l_inv : ndarray of shape (n_components, n_factors, n_factors) or None
        ``L^-1`` of every component, set with ``z``.
    """

    __slots__ = ("Y", "l_inv", "z")

    def __init__(self, Y):
        self.Y = Y
        self.z = None
        self.l_inv = None

    @property
    def shape(self):
        """Shape of the rows."""
        return self.Y.shape

    @property
    def dtype(self):
        """The rows' dtype."""
        return self.Y.dtype


class FactorCovariance(CovarianceType):
    """Covariances ``Lambda_k Lambda_k' + Psi_k`` with ``n_factors`` factors.

    Unlike the other covariance types this one has a setting, the number
    of factors ``H`` (the estimator's ``n_factors``).

    M-step: exact EM for the mixture of factor analysers with the factors
    and the component as hidden variables (Ghahramani and Hinton's joint
    update of ``[Lambda_k, mu_k]``, then ``Psi_k``; :meth:`update`). It is
    chosen over an update from each component's scatter matrix because its
    statistics are O(n_features H) per row and component, the cost of the
    E-step, where a scatter matrix costs O(n_features**2) per row and
    component and O(n_features**2) memory per component. It maximises the
    expected complete-data log-likelihood jointly, so the log-likelihood
    never decreases. ``reg_covar`` is a floor on ``Psi`` (the constrained
    maximiser, so monotonicity holds), not an addition to it;
    ``covariance_floor``, when set, is one too (the larger applies): the
    mixture of factor analysers with the noise built in.

    Initialisation: the initialisation methods compute full covariances
    (:meth:`initial_type`); :meth:`from_initial` turns each into loadings
    and noise as probabilistic PCA would (top-``H`` eigenvectors scaled by
    the square roots of their eigenvalues minus the mean of the others,
    and the remaining diagonal as ``Psi``), with a deterministic sign. A
    factor without a clear eigenvalue gap (below a thousandth of its
    eigenvalue) starts along a coordinate axis with a thousandth of the
    variance instead: zero loadings are a fixed point of EM, and the
    eigenvectors of a near-isotropic matrix are rounding noise.

    Parameters
    ----------
    n_factors : int
        ``H``.
    covariance_floor : float or None, default=None
        Lower bound on ``Psi``.
    """

    name = "factor"
    settings = ("n_factors", "covariance_floor")
    extra_attributes = ("loadings_", "noise_variance_")

    def __init__(self, n_factors=None, covariance_floor=None):
        super().__init__(covariance_floor)
        if n_factors is None:
            raise ValueError(
                "covariance_type='factor' needs n_factors, the number of factors per "
                "component (1 <= n_factors < n_features), e.g. "
                "GaussianMixture(covariance_type='factor', n_factors=2)."
            )
        self.n_factors = int(n_factors)

    # ---- estimator binding: settings -------------------------------------
    def check_settings(self, estimator, n_features):
        if self.n_factors >= n_features:
            raise ValueError(
                f"n_factors={self.n_factors} must be smaller than the number of "
                f"features ({n_features}): with n_factors >= n_features the loadings "
                "alone describe any covariance. Decrease n_factors, or use "
                "covariance_type='full'."
            )

    # ---- kernel maths: shapes --------------------------------------------
    def parameter_shape(self, n_components, n_features):
        """Shape of the public ``covariances_``, ``precisions_`` and ``precisions_cholesky_``."""
        return (n_components, n_features, n_features)

    def second_moment_shape(self, n_components, n_features):
        return (n_components, n_features + self.n_factors + 1, self.n_factors + 2)

    def design_width(self, n_features, dtype):
        return n_features + 2 * self.n_factors

    # ---- estimator binding: initialisation --------------------------------
    def initial_type(self):
        return _DENSE

    def from_initial(self, covariances, prec_chol):
        """Loadings and noise from full covariances, as probabilistic PCA.

        Parameters
        ----------
        covariances : ndarray of shape (n_components, n_features, n_features)
            From the initialisation (``reg_covar`` already on the diagonal).
        prec_chol : ndarray
            Unused (recomputed for the packed parameters).

        Returns
        -------
        covariances : ndarray of shape (n_components, n_features, n_factors + 1)
            ``[Lambda | Psi]``.
        prec_chol : ndarray of shape (n_components, n_features, 2 n_factors + 1)
        """
        covariances = np.asarray(covariances, dtype=np.float64)
        n_components, n_features, _ = covariances.shape
        H = self.n_factors
        packed = np.empty((n_components, n_features, H + 1))
        with blas_for_matrices(n_features):
            values, vectors = np.linalg.eigh(covariances)
        for k, cov in enumerate(covariances):
            # descending order
            values_k, vectors_k = values[k][::-1], vectors[k][:, ::-1]
            rest = max(float(np.mean(values_k[H:])), 0.0)
            top = vectors_k[:, :H]
            # deterministic sign: the largest entry of every column positive
            signs = np.sign(top[np.argmax(np.abs(top), axis=0), np.arange(H)])
            top = top * np.where(signs == 0, 1.0, signs)
            excess = values_k[:H] - rest
            # No clear factor (one-point components of "random_from_data" have
            # reg_covar * I, whose eigenvectors are rounding noise): a
            # thousandth of the variance along a coordinate axis instead, as
            # zero loadings are a fixed point of EM.
            weak = excess <= 1e-3 * values_k[:H]
            top[:, weak] = np.eye(n_features)[:, :H][:, weak]
            loadings = top * np.sqrt(np.where(weak, 1e-3 * values_k[:H], excess))
            diagonal = np.diag(cov)
            packed[k, :, :H] = loadings
            packed[k, :, H] = np.maximum(
                diagonal - np.sum(loadings**2, axis=1), 1e-6 * diagonal
            )
        if self.covariance_floor is not None:
            # start inside the constrained family, so EM's bound never decreases
            packed = self.floor(packed, self.covariance_floor)
        return packed, self.precision_cholesky(packed)

    # ---- kernel maths: Woodbury factors, E-step ----------------------------
    def woodbury(self, prec_chol):
        """Per-component Woodbury factors of packed ``prec_chol``.

        Parameters
        ----------
        prec_chol : ndarray of shape (n_components, n_features, 2 n_factors + 1)
            As in ``GaussianParams.prec_chol`` or ``EStepParams.prec_chol``.

        Returns
        -------
        inv_psi : ndarray of shape (n_components, n_features)
        U, V : ndarray of shape (n_components, n_features, n_factors)
        l_inv : ndarray of shape (n_components, n_factors, n_factors), float64
        log_det : ndarray of shape (n_components,), float64
            ``log det(Lambda Lambda' + Psi)``.

        See Also
        --------
        component_mahalanobis : distances and factors of rows to one component.
        component_moments : M-step statistics of rows of one component.
        """
        return unpack_woodbury(prec_chol) + (woodbury_log_det(np.asarray(prec_chol)),)

    def prepare(self, X, shift):
        return _FactorDesign(X - shift)

    def log_det_cholesky(self, prec_chol, n_features):
        return -0.5 * woodbury_log_det(np.asarray(prec_chol))

    def squared_mahalanobis_t(self, D, centres, prec_chol):
        """Woodbury Mahalanobis distances; leaves the factors' posterior means on ``D``."""
        Y = D.Y
        n_components = centres.shape[0]
        inv_psi, _, _, l_inv = unpack_woodbury(prec_chol)
        n_factors = l_inv.shape[1]
        uv = np.ascontiguousarray(prec_chol[:, :, 1:], dtype=Y.dtype)
        inv_psi = np.asarray(inv_psi, dtype=Y.dtype)
        sq = np.empty((n_components, Y.shape[0]), dtype=Y.dtype)
        z = np.empty((n_components, Y.shape[0], n_factors), dtype=Y.dtype)
        delta = np.empty_like(Y)
        squares = np.empty_like(Y)
        for k in range(n_components):
            np.subtract(Y, centres[k], out=delta)
            sq[k], z[k] = component_mahalanobis(delta, inv_psi[k], uv[k], squares)
        D.z = z
        D.l_inv = l_inv
        return sq

    def moments(self, D, resp_t, centres):
        """``nk``, ``sum r y`` and the packed statistics of :func:`component_moments`.

        Needs the posterior means the E-step left on ``D``.
        """
        if D.z is None:
            raise RuntimeError("factor moments need the E-step's factors: call log_prob_t first")
        Y = D.Y
        n_components, n_features = centres.shape
        n_factors = D.z.shape[2]
        s2 = np.empty((n_components, n_features + n_factors + 1, n_factors + 2), dtype=Y.dtype)
        sy = np.empty((n_components, n_features), dtype=Y.dtype)
        nk = resp_t.sum(axis=1, dtype=np.float64)
        delta = np.empty_like(Y)
        for k in range(n_components):
            np.subtract(Y, centres[k], out=delta)
            s2[k] = component_moments(delta, D.z[k], resp_t[k], D.l_inv[k])
            sy[k] = first_moment(s2[k], nk[k], centres[k])
        return nk, sy, s2

    # ---- M-step ------------------------------------------------------------
    def second_moment_about_shift(self, s2, nk, sy, centres):
        raise ValueError(
            "covariance_type='factor' does not support stepwise EM (partial_fit, "
            "algorithm='minibatch'): its statistics hold posterior means of the factors "
            "at the current parameters and cannot be carried over between updates. "
            "Use fit with algorithm='em'."
        )

    def update(self, s2, nk, sy, old_centres, reg_covar):
        """M-step: new centres and packed ``[Lambda | Psi]`` from summed statistics.

        ``[Lambda_new | mu_new - mu_old] = B A^-1`` and
        ``Psi_new = max((u - rowsum((B A^-1) * B)) / nk, reg_covar)``, with
        ``B, u, A`` taken about the old centres (:func:`component_moments`).
        A component whose ``A`` is singular (no weight) gets zero loadings,
        its old centre and ``Psi = reg_covar``; the caller re-seeds it.

        Parameters
        ----------
        s2 : ndarray of shape (n_components, n_features + H + 1, H + 2)
        nk : ndarray of shape (n_components,)
        sy : ndarray of shape (n_components, n_features)
            Unused (``B`` holds the first moment about the old centres).
        old_centres : ndarray of shape (n_components, n_features)
        reg_covar : float

        Returns
        -------
        new_centres : ndarray of shape (n_components, n_features)
        covariances : ndarray of shape (n_components, n_features, H + 1)
        """
        # a copy: statistics from distributed workers can be unaligned, which
        # LAPACK refuses
        B, u, A = split_moments(np.array(s2, dtype=np.float64))
        n_components, n_features, width = B.shape
        W = np.zeros_like(B)
        with blas_for_matrices(A.shape[-1]):
            for k in range(n_components):
                try:
                    W[k] = linalg.solve(A[k], B[k].T, assume_a="pos").T
                except (np.linalg.LinAlgError, ValueError):
                    continue
        if not np.all(np.isfinite(W)):
            W[~np.all(np.isfinite(W), axis=(1, 2))] = 0.0
        residual = (u - np.einsum("kdh,kdh->kd", W, B)) / nk[:, None]
        packed = np.empty((n_components, n_features, width))
        packed[:, :, : width - 1] = W[:, :, : width - 1]
        packed[:, :, width - 1] = np.maximum(residual, max(reg_covar, self.covariance_floor or 0.0))
        return old_centres + W[:, :, width - 1], packed

    def floor(self, covariances, value):
        # Lambda Lambda' + Psi >= min(Psi) I: a floor on Psi bounds every eigenvalue
        floored = np.array(covariances, dtype=np.float64)
        floored[:, :, -1] = np.maximum(floored[:, :, -1], value)
        return floored

    def finalize(self, s2, nk, new_centres, old_centres, reg_covar):
        return self.update(s2, nk, None, old_centres, reg_covar)[1]

    def precision_cholesky(self, covariances):
        """Packed Woodbury factors ``[1/Psi | U | V]`` of packed ``[Lambda | Psi]``.

        Raises
        ------
        IllDefinedCovarianceError
            Naming the components with a non-positive or non-finite ``Psi``
            or non-finite loadings.
        """
        covariances = np.asarray(covariances, dtype=np.float64)
        loadings, psi = covariances[:, :, :-1], covariances[:, :, -1]
        bad = ~(np.all(np.isfinite(covariances), axis=(1, 2)) & np.all(psi > 0, axis=1))
        if bad.any():
            raise IllDefinedCovarianceError(np.flatnonzero(bad))
        try:
            inv_psi, U, V, _, _ = woodbury_factors(loadings, psi)
        except np.linalg.LinAlgError:
            raise IllDefinedCovarianceError([]) from None
        return np.concatenate([inv_psi[:, :, None], U, V], axis=2)

    def principal_axis(self, covariances, k, n_features):
        return eigen_axis(self.dense(np.asarray(covariances)[k : k + 1])[0])

    def dense(self, covariances):
        """``Lambda Lambda' + diag(Psi)`` of packed parameters, (n_components, d, d)."""
        covariances = np.asarray(covariances, dtype=np.float64)
        loadings, psi = covariances[:, :, :-1], covariances[:, :, -1]
        dense = loadings @ np.swapaxes(loadings, 1, 2)
        n_features = psi.shape[1]
        dense.reshape(len(dense), -1)[:, :: n_features + 1] += psi
        return dense

    def fitted_attributes(self, covariances, prec_chol):
        """Dense ``covariances_``, ``precisions_`` and ``precisions_cholesky_``, plus
        ``loadings_`` and ``noise_variance_``.

        ``precisions_cholesky_`` and ``precisions_`` follow scikit-learn's
        ``full`` layout (``precisions_ = U @ U.T``, ``U`` upper triangular).
        """
        dense = self.dense(covariances)
        dense_chol = _DENSE.precision_cholesky(dense)
        covariances = np.asarray(covariances, dtype=np.float64)
        return {
            "covariances_": dense,
            "precisions_cholesky_": dense_chol,
            "precisions_": _DENSE.precisions_from_cholesky(dense_chol),
            "loadings_": np.ascontiguousarray(covariances[:, :, :-1]),
            "noise_variance_": np.ascontiguousarray(covariances[:, :, -1]),
        }

    def params_from_fitted(self, estimator):
        packed = np.concatenate(
            [np.asarray(estimator.loadings_, dtype=np.float64),
             np.asarray(estimator.noise_variance_, dtype=np.float64)[:, :, None]],
            axis=2,
        )
        return packed, self.precision_cholesky(packed)

    def n_parameters(self, n_components, n_features):
        """Free parameters of the covariances: ``n_features * (H + 1) - H (H - 1) / 2`` each.

        The loadings are identified only up to a rotation of the factors,
        which removes ``H (H - 1) / 2`` of their ``n_features * H`` entries
        (the usual count for factor analysis).
        """
        H = self.n_factors
        return n_components * (n_features * (H + 1) - H * (H - 1) / 2.0)

    # ---- estimator binding: user-given precisions (dense, as for ``full``) ----
    def check_precisions(self, precisions, n_components, n_features):
        _DENSE.check_precisions(precisions, n_components, n_features)

    def precision_cholesky_from_precisions(self, precisions):
        return _DENSE.precision_cholesky_from_precisions(precisions)

    def precisions_from_cholesky(self, prec_chol):
        return _DENSE.precisions_from_cholesky(prec_chol)

    def covariances_from_cholesky(self, prec_chol):
        return _DENSE.covariances_from_cholesky(prec_chol)

    # ---- output (of the dense public ``covariances_``) ------------------------
    def sample(self, rng, mean, covariances, k, n):
        return _DENSE.sample(rng, mean, covariances, k, n)

    def dense_covariances(self, covariances, n_components, n_features):
        return _DENSE.dense_covariances(covariances, n_components, n_features)
