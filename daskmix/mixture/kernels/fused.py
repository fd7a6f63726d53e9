"""Compiled element-wise passes of the EM kernels that NumPy cannot fuse.

An EM tile is two matrix products (BLAS, at full speed) around element-wise
work: building the design ``[Y, Y**2, 1]`` from the raw rows before the
E-step product, and turning the (K, n) log-probabilities into
responsibilities after it. In NumPy each of those is several passes over the
tile (subtract, square, fill; max, subtract, floor, exp, sum, scale), each a
separate read and write of up to a megabyte. The loops here do the same
arithmetic in one or two passes and release the GIL, so Dask's threads run
them in parallel.

Measured on one core, per tile of 4096 rows x 32 features and 32 diagonal
components (float64): the design drops from 0.18 ms to 0.05 ms and the
normalisation from 0.25 ms to 0.16 ms, against 0.8 ms for the two products
(float32: 0.12 to 0.05 ms and 0.10 to 0.09 ms). The loops do the same
arithmetic in the same order as the NumPy passes they replace; the tests
check them against SciPy's ``softmax`` and ``logsumexp``.

``exp`` stays NumPy's: its SIMD implementation is several times faster than
the scalar ``exp`` a numba loop compiles to without Intel's SVML.
"""

import numba
import numpy as np

__all__ = ["design_row", "diagonal_design", "normalise_columns"]


@numba.njit(cache=True, nogil=True, inline="always")
def design_row(x, shift, per_feature_squares, out):
    """One row's design ``[y, q(y), 1]`` of ``y = x - shift``, in ``out``'s dtype.

    Shared by :func:`diagonal_design` and the fused truncated-EM pass
    (``kernels.truncated.folded_tile``), which builds the design one row at
    a time.

    Parameters
    ----------
    x, shift : ndarray of shape (n_features,)
    per_feature_squares : bool
        True for ``q(y) = y**2`` (``diag``); False for ``sum_j y_j**2``.
    out : ndarray of shape (2 * n_features + 1,) or (n_features + 2,)
    """
    d = x.shape[0]
    square_sum = 0.0
    for j in range(d):
        y = x[j] - shift[j]
        out[j] = y
        if per_feature_squares:
            out[d + j] = y * y
        else:
            square_sum += y * y
    if per_feature_squares:
        out[2 * d] = 1.0
    else:
        out[d] = square_sum
        out[d + 1] = 1.0


@numba.njit(cache=True, nogil=True)
def _fill_design(X, shift, per_feature_squares, out):
    for i in range(X.shape[0]):
        design_row(X[i], shift, per_feature_squares, out[i])


def diagonal_design(X, shift, per_feature_squares):
    """The design ``[Y, q(Y), 1]`` of ``Y = X - shift``, in one pass.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    shift : ndarray of shape (n_features,)
    per_feature_squares : bool
        True for ``q(Y) = Y**2`` (``diag``); False for ``q(Y) =
        sum_j Y_j**2`` (``spherical``).

    Returns
    -------
    D : ndarray of shape (n_samples, n_features + q + 1), dtype of X
        ``q`` is n_features or 1.
    """
    n, d = X.shape
    width = 2 * d + 1 if per_feature_squares else d + 2
    out = np.empty((n, width), dtype=X.dtype)
    _fill_design(X, np.asarray(shift, dtype=X.dtype), per_feature_squares, out)
    return out


@numba.njit(cache=True, nogil=True)
def _subtract_column_max(L, floor, top):
    K, n = L.shape
    for j in range(n):
        top[j] = L[0, j]
    for k in range(1, K):
        for j in range(n):
            top[j] = max(top[j], L[k, j])
    for k in range(K):
        for j in range(n):
            L[k, j] = max(L[k, j] - top[j], floor)


@numba.njit(cache=True, nogil=True)
def _scale_columns(P, top, weights, log_norm):
    K, n = P.shape
    scale = np.zeros(n, dtype=P.dtype)
    for k in range(K):
        for j in range(n):
            scale[j] += P[k, j]
    for j in range(n):
        log_norm[j] = top[j] + np.log(scale[j])
        scale[j] = 1.0 / scale[j]
        if weights is not None:
            scale[j] *= weights[j]
    for k in range(K):
        for j in range(n):
            P[k, j] *= scale[j]


def normalise_columns(log_prob, weights, floor):
    """In place: (K, n) log-probabilities become (weighted) responsibilities.

    Column ``j`` becomes ``weights[j] * softmax(log_prob[:, j])``; the
    log-sum-exp of each column is returned.

    Parameters
    ----------
    log_prob : ndarray of shape (n_components, n_samples), C-contiguous
    weights : ndarray of shape (n_samples,) or None
        Sample weights multiplied into the responsibilities.
    floor : float
        Shifted log-probabilities below it are raised to it before ``exp``
        (``-inf`` for none). Raising them changes no sum the M-step makes
        when ``exp(floor)`` is far below the rounding of the largest term,
        and keeps NumPy's float64 ``exp`` off its slow path for results
        that underflow.

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
    """
    dtype = log_prob.dtype
    top = np.empty(log_prob.shape[1], dtype=dtype)
    _subtract_column_max(log_prob, dtype.type(floor), top)
    np.exp(log_prob, out=log_prob)
    log_norm = np.empty_like(top)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=dtype)
    _scale_columns(log_prob, top, weights, log_norm)
    return log_norm
