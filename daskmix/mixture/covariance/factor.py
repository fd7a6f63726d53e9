"""The ``factor`` covariance type: a mixture of factor analysers (MFA).

Component ``k`` has covariance ``Lambda_k Lambda_k' + Psi_k`` with loadings
``Lambda_k`` of shape (n_features, H) and a diagonal noise ``Psi_k``. Its
log density is evaluated with the Woodbury identity and the matrix
determinant lemma (Ghahramani and Hinton, 1996; the v-MFA code's
``MFA::auxiliary_``): once per component,

    U = Psi^-1 Lambda,  L = I_H + Lambda' U,  V = U L^-1,
    log det(Lambda Lambda' + Psi) = log det L + sum log Psi,

and per row, with ``delta = y - mu``,

    [a, b] = delta' [U | V],
    delta' (Lambda Lambda' + Psi)^-1 delta = sum delta**2 / Psi - a'b,

so a row costs O(n_features H) per component (one (rows, n_features) x
(n_features, 2H) matrix product per component and tile), never
O(n_features**2). ``b = L^-1 Lambda' Psi^-1 delta`` is also the posterior
mean of the factors, which the M-step statistics reuse.

Parameters held during a fit (``GaussianParams.covariances`` and
``.prec_chol``) are packed per component:

* ``covariances``: (n_components, n_features, H + 1), ``[Lambda | Psi]``;
* ``prec_chol``: (n_components, n_features, 2H + 1), ``[1/Psi | U | V]``
  (the Woodbury factors, which the E-step needs).

The fitted estimator publishes dense, scikit-learn compatible
``covariances_``, ``precisions_`` and ``precisions_cholesky_`` (shape
(n_components, n_features, n_features)) besides ``loadings_`` and
``noise_variance_``; see :meth:`_FactorCovariance.fitted_attributes`.

Pieces other algorithms reuse (truncated EM evaluates sparse (row,
component) pairs): :meth:`_FactorCovariance.woodbury` (``1/Psi``, ``U``,
``V``, ``L^-1`` and the log-determinants of packed parameters; also
:func:`woodbury_factors` from loadings and noise),
:func:`component_mahalanobis` (distances and factors' posterior means of
any rows to one component), :func:`component_moments` (the M-step
statistics of one component from any rows; blocks add up;
:func:`first_moment` reads ``sum r y`` off them) and
:meth:`_FactorCovariance.update` (the M-step from the summed statistics;
``params_from_stats`` calls it). The log-joint of a pair is
``log_normaliser(prec_chol, d, log_weights)[k] - sq / 2``.
``_truncated_pairs.WoodburyPairs`` puts them together for
``algorithm="truncated"``.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from daskmix.mixture.covariance._types import (
    IllDefinedCovarianceError,
    _CovarianceType,
    _eigen_axis,
    _FullCovariance,
)

__all__ = [
    "component_mahalanobis",
    "component_moments",
    "first_moment",
    "unpack_woodbury",
    "woodbury_factors",
]

#: Algorithms whose statistics a factor model supports: those whose every
#: pass takes all its statistics at one set of parameters (exact EM, and
#: truncated EM over sparse pairs). Stepwise and asynchronous EM add
#: statistics computed at different parameters, which the factor statistics
#: (posterior means of the factors at the current parameters) cannot be
#: moved between.
_ALGORITHMS = ("em", "truncated")


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
    chol = np.linalg.cholesky(L)
    eye = np.eye(L.shape[-1])
    chol_inv = np.stack([linalg.solve_triangular(c, eye, lower=True) for c in chol])
    l_inv = np.swapaxes(chol_inv, 1, 2) @ chol_inv
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1) + log_det_psi
    return U @ l_inv, l_inv, log_det


def unpack_woodbury(prec_chol):
    """``1/Psi``, ``U``, ``V`` and ``L^-1`` from packed Woodbury factors.

    Parameters
    ----------
    prec_chol : ndarray of shape (n_components, n_features, 2 n_factors + 1)
        ``[1/Psi | U | V]`` as :meth:`_FactorCovariance.precision_cholesky`
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


def _log_det(prec_chol):
    """``log det(Lambda Lambda' + Psi)`` per component from packed Woodbury factors."""
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


def _split_moments(s2):
    """``B``, ``u`` and ``A`` of packed statistics (see :func:`component_moments`)."""
    n_factors = s2.shape[2] - 2
    n_features = s2.shape[1] - n_factors - 1
    B = s2[:, :n_features, : n_factors + 1]
    u = s2[:, :n_features, n_factors + 1]
    A = s2[:, n_features:, : n_factors + 1]
    return B, u, A


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
        set by :meth:`_FactorCovariance.squared_mahalanobis_t`.
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


class _FactorCovariance(_CovarianceType):
    """Covariances ``Lambda_k Lambda_k' + Psi_k`` with ``n_factors`` factors.

    Unlike the other covariance types this one has a setting, the number
    of factors ``H``: the estimator binds it through :meth:`for_estimator`
    and the bound instance answers every question of the covariance
    interface. The kernel methods read ``H`` from the shapes of the arrays
    they get, so they work on the class as well.

    M-step: exact EM for the mixture of factor analysers with the factors
    and the component as hidden variables (Ghahramani and Hinton's joint
    update of ``[Lambda_k, mu_k]``, then ``Psi_k``; :meth:`update`). It is
    chosen over an update from each component's scatter matrix because its
    statistics are O(n_features H) per row and component, the cost of the
    E-step, where a scatter matrix costs O(n_features**2) per row and
    component and O(n_features**2) memory per component. It maximises the
    expected complete-data log-likelihood jointly, so the log-likelihood
    never decreases. ``reg_covar`` is a floor on ``Psi`` (the constrained
    maximiser, so monotonicity holds), not an addition to it.

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
    """

    name = "factor"
    #: Fitted attributes only this type sets.
    extra_attributes = ("loadings_", "noise_variance_")
    supports_stepwise = False

    def __init__(self, n_factors):
        self.n_factors = int(n_factors)

    def __repr__(self):
        return f"_FactorCovariance(n_factors={self.n_factors})"

    def __eq__(self, other):
        return isinstance(other, _FactorCovariance) and other.n_factors == self.n_factors

    def __hash__(self):
        return hash((self.name, self.n_factors))

    def __dask_tokenize__(self):
        return ("daskmix-factor-covariance", self.n_factors)

    # ---- binding and validation ----------------------------------------
    @classmethod
    def for_estimator(cls, estimator):
        n_factors = estimator.n_factors
        if n_factors is None:
            raise ValueError(
                "covariance_type='factor' needs n_factors, the number of factors per "
                "component (1 <= n_factors < n_features), e.g. "
                "GaussianMixture(covariance_type='factor', n_factors=2)."
            )
        return cls(n_factors)

    def check_settings(self, estimator, n_features):
        if self.n_factors >= n_features:
            raise ValueError(
                f"n_factors={self.n_factors} must be smaller than the number of "
                f"features ({n_features}): with n_factors >= n_features the loadings "
                "alone describe any covariance. Decrease n_factors, or use "
                "covariance_type='full'."
            )
        if estimator.algorithm not in _ALGORITHMS:
            raise ValueError(
                f"covariance_type='factor' supports algorithm in {list(_ALGORITHMS)}, "
                f"got algorithm={estimator.algorithm!r}. Use algorithm='em' or 'truncated'."
            )

    # ---- shapes ----------------------------------------------------------
    @staticmethod
    def parameter_shape(n_components, n_features):
        """Shape of the public ``covariances_``, ``precisions_`` and ``precisions_cholesky_``."""
        return (n_components, n_features, n_features)

    def second_moment_shape(self, n_components, n_features):
        return (n_components, n_features + self.n_factors + 1, self.n_factors + 2)

    def design_width(self, n_features, dtype):
        return n_features + 2 * self.n_factors

    # ---- initialisation ------------------------------------------------
    @staticmethod
    def initial_type():
        return _FullCovariance

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
        for k, cov in enumerate(covariances):
            values, vectors = np.linalg.eigh(cov)
            values, vectors = values[::-1], vectors[:, ::-1]
            rest = max(float(np.mean(values[H:])), 0.0)
            top = vectors[:, :H]
            # deterministic sign: the largest entry of every column positive
            signs = np.sign(top[np.argmax(np.abs(top), axis=0), np.arange(H)])
            top = top * np.where(signs == 0, 1.0, signs)
            excess = values[:H] - rest
            # No clear factor (one-point components of "random_from_data" have
            # reg_covar * I, whose eigenvectors are rounding noise): a
            # thousandth of the variance along a coordinate axis instead, as
            # zero loadings are a fixed point of EM.
            weak = excess <= 1e-3 * values[:H]
            top[:, weak] = np.eye(n_features)[:, :H][:, weak]
            loadings = top * np.sqrt(np.where(weak, 1e-3 * values[:H], excess))
            diagonal = np.diag(cov)
            packed[k, :, :H] = loadings
            packed[k, :, H] = np.maximum(
                diagonal - np.sum(loadings**2, axis=1), 1e-6 * diagonal
            )
        return packed, self.precision_cholesky(packed)

    # ---- pieces for algorithms that evaluate sparse (row, component) pairs ----
    @staticmethod
    def woodbury(prec_chol):
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
        return unpack_woodbury(prec_chol) + (_log_det(np.asarray(prec_chol)),)

    # ---- E-step ----------------------------------------------------------
    @staticmethod
    def prepare(X, shift):
        return _FactorDesign(X - shift)

    @staticmethod
    def log_det_cholesky(prec_chol, n_features):
        return -0.5 * _log_det(np.asarray(prec_chol))

    @staticmethod
    def squared_mahalanobis_t(D, centres, prec_chol):
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

    # ---- M-step ----------------------------------------------------------
    @staticmethod
    def moments(D, resp_t, centres):
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

    @staticmethod
    def second_moment_about_shift(s2, nk, sy, centres):
        raise ValueError(
            "covariance_type='factor' does not support stepwise EM (partial_fit, "
            "algorithm='minibatch'): its statistics hold posterior means of the factors "
            "at the current parameters and cannot be carried over between updates. "
            "Use fit with algorithm='em'."
        )

    @staticmethod
    def update(s2, nk, sy, old_centres, reg_covar):
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
        B, u, A = _split_moments(np.array(s2, dtype=np.float64))
        n_components, n_features, width = B.shape
        W = np.zeros_like(B)
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
        packed[:, :, width - 1] = np.maximum(residual, reg_covar)
        return old_centres + W[:, :, width - 1], packed

    @classmethod
    def finalize(cls, s2, nk, new_centres, old_centres, reg_covar):
        return cls.update(s2, nk, None, old_centres, reg_covar)[1]

    # ---- parameters --------------------------------------------------------
    @staticmethod
    def precision_cholesky(covariances):
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

    @staticmethod
    def dense(covariances):
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
        dense_chol = _FullCovariance.precision_cholesky(dense)
        covariances = np.asarray(covariances, dtype=np.float64)
        return {
            "covariances_": dense,
            "precisions_cholesky_": dense_chol,
            "precisions_": _FullCovariance.precisions_from_cholesky(dense_chol),
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

    @staticmethod
    def check_precisions(precisions, n_components, n_features):
        """Dense (n_components, n_features, n_features) precisions, as for ``full``."""
        _FullCovariance.check_precisions(precisions, n_components, n_features)

    @staticmethod
    def principal_axis(covariances, k, n_features):
        return _eigen_axis(_FactorCovariance.dense(np.asarray(covariances)[k : k + 1])[0])

    @staticmethod
    def sample(rng, mean, covariances, k, n):
        """Draw from component ``k`` of the dense ``covariances_``."""
        return rng.multivariate_normal(mean, covariances[k], int(n))
