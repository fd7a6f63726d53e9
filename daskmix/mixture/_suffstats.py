"""Per-chunk kernels of the Gaussian mixture: pure NumPy, no dask import.

A pass over the data evaluates one kernel per chunk. Each kernel returns its
sufficient statistics packed into one flat float64 vector (a :class:`StatsLayout`
says where each statistic sits), so that chunks combine by plain addition in a
tree reduction and travel between workers as a single small array.

Statistics of one chunk (all sums over the chunk's rows, weighted by the
sample weights ``w``)::

    nk       (n_components,)                sum_n w_n r_nk
    sy       (n_components, n_features)     sum_n w_n r_nk (x_n - shift)
    s2       covariance-type specific        see ``_covariance.py``
    loglik   ()                             sum_n w_n log p(x_n)
    weight   ()                             sum_n w_n
    nonfinite ()                            number of non-finite input values
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from daskmix._errors import raise_if_nonfinite

__all__ = [
    "StatsLayout",
    "EStepParams",
    "chunk_em_stats",
    "chunk_resp_stats",
    "chunk_log_prob_resp",
    "estimate_weighted_log_prob",
]


@dataclass(frozen=True)
class StatsLayout:
    """Where each statistic sits in the flat per-chunk vector.

    Parameters
    ----------
    n_components, n_features : int
    s2_shape : tuple of int
        Shape of the covariance type's second-moment statistic.
    """

    n_components: int
    n_features: int
    s2_shape: tuple

    def _fields(self):
        k, d = self.n_components, self.n_features
        return (
            ("nk", (k,)),
            ("sy", (k, d)),
            ("s2", tuple(self.s2_shape)),
            ("loglik", ()),
            ("weight", ()),
            ("nonfinite", ()),
        )

    @property
    def size(self):
        """Length of the packed vector."""
        return sum(int(np.prod(shape)) for _, shape in self._fields())

    def pack(self, **stats):
        """Pack named statistics into one float64 vector of length ``size``."""
        return np.concatenate(
            [np.asarray(stats[name], dtype=np.float64).ravel() for name, _ in self._fields()]
        )

    def unpack(self, vector):
        """Split a packed vector back into a dict of named float64 arrays."""
        out, start = {}, 0
        for name, shape in self._fields():
            size = int(np.prod(shape))
            out[name] = np.asarray(vector[start : start + size]).reshape(shape)
            start += size
        return out


@dataclass(frozen=True, eq=False)
class EStepParams:
    """Parameters a chunk needs for an E-step, in the chunk's dtype.

    Parameters
    ----------
    covariance : type
        Covariance strategy class from ``_covariance.COVARIANCE_TYPES``.
    shift : ndarray of shape (n_features,)
        Reference point subtracted from every row before any product.
    centres : ndarray of shape (n_components, n_features)
        Means minus ``shift``.
    prec_chol : ndarray
        Precision Cholesky factors, shape set by the covariance type.
    log_weights : ndarray of shape (n_components,)
    """

    covariance: type
    shift: np.ndarray
    centres: np.ndarray
    prec_chol: np.ndarray
    log_weights: np.ndarray

    def __dask_tokenize__(self):
        return (
            "daskmix-estep-params",
            self.covariance.name,
            self.shift,
            self.centres,
            self.prec_chol,
            self.log_weights,
        )


def _shifted(X, shift):
    """``X - shift`` in X's floating dtype (a new array)."""
    return X - shift.astype(X.dtype, copy=False)


def estimate_weighted_log_prob(Y, params):
    """``log p(x | k) + log pi_k`` for every row and component.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_features)
        Data already shifted by ``params.shift``.
    params : EStepParams

    Returns
    -------
    log_prob : ndarray of shape (n_samples, n_components)
    """
    log_prob = params.covariance.log_prob(Y, params.centres, params.prec_chol)
    log_prob += params.log_weights
    return log_prob


def _log_prob_resp(Y, params):
    """Per-row log normaliser and responsibilities (one fused log-sum-exp).

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
    resp : ndarray of shape (n_samples, n_components)
    """
    log_prob = estimate_weighted_log_prob(Y, params)
    log_norm = logsumexp(log_prob, axis=1)
    log_prob -= log_norm[:, None]
    np.exp(log_prob, out=log_prob)
    return log_norm, log_prob


def _moments(layout, covariance, Y, resp, centres, *, loglik, weight, nonfinite):
    """Pack the statistics of one chunk given its (weighted) responsibilities."""
    return layout.pack(
        nk=resp.sum(axis=0, dtype=np.float64),
        sy=resp.T @ Y,
        s2=covariance.second_moment(Y, resp, centres),
        loglik=loglik,
        weight=weight,
        nonfinite=nonfinite,
    )


def _count_nonfinite(X, check_finite):
    if not check_finite:
        return 0
    if np.isfinite(X).all():
        return 0
    return int(np.count_nonzero(~np.isfinite(X)))


def chunk_em_stats(X, sample_weight, params, layout, check_finite=False, row_start=0):
    """E-step on one chunk, returning the packed statistics for the M-step.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None
    params : EStepParams
    layout : StatsLayout
    check_finite : bool, default=False
        Count non-finite input values (done on the first pass only). A chunk
        that has any returns zero statistics apart from the count.
    row_start : int, default=0
        Unused; part of the chunk-kernel signature.

    Returns
    -------
    stats : ndarray of shape (layout.size,)
    """
    nonfinite = _count_nonfinite(X, check_finite)
    if nonfinite:
        return _nonfinite_stats(layout, nonfinite)
    Y = _shifted(X, params.shift)
    log_norm, resp = _log_prob_resp(Y, params)
    if sample_weight is None:
        loglik = float(np.sum(log_norm, dtype=np.float64))
        weight = float(X.shape[0])
    else:
        w = sample_weight.astype(resp.dtype, copy=False)
        resp *= w
        loglik = float(np.dot(w[:, 0].astype(np.float64), log_norm))
        weight = float(np.sum(w, dtype=np.float64))
    return _moments(
        layout, params.covariance, Y, resp, params.centres,
        loglik=loglik, weight=weight, nonfinite=0,
    )


def _nonfinite_stats(layout, count):
    vector = np.zeros(layout.size)
    vector[-1] = count
    return vector


def chunk_resp_stats(X, sample_weight, resp_fn, row_start, covariance, shift, centres,
                     layout, check_finite=False):
    """Statistics of one chunk for responsibilities given by ``resp_fn``.

    Used by initialisation, where responsibilities come from k-means labels
    or a random draw instead of an E-step.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None
    resp_fn : callable
        ``resp_fn(X, row_start) -> resp`` of shape (n_samples, n_components).
    row_start : int
        Global index of the chunk's first row.
    covariance : type
        Covariance strategy class.
    shift : ndarray of shape (n_features,)
    centres : ndarray of shape (n_components, n_features)
        Reference means in shifted coordinates.
    layout : StatsLayout
    check_finite : bool, default=False

    Returns
    -------
    stats : ndarray of shape (layout.size,)
    """
    nonfinite = _count_nonfinite(X, check_finite)
    if nonfinite:
        return _nonfinite_stats(layout, nonfinite)
    resp = np.asarray(resp_fn(X, row_start), dtype=X.dtype)
    if sample_weight is None:
        weight = float(X.shape[0])
    else:
        resp = resp * sample_weight.astype(X.dtype, copy=False)
        weight = float(np.sum(sample_weight, dtype=np.float64))
    Y = _shifted(X, shift)
    return _moments(
        layout, covariance, Y, resp, centres.astype(X.dtype, copy=False),
        loglik=0.0, weight=weight, nonfinite=0,
    )


def chunk_log_prob_resp(X, params, what):
    """Row-wise outputs of a fitted mixture on one chunk.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    params : EStepParams
    what : {"score_samples", "predict_proba", "predict"}

    Returns
    -------
    ndarray
        ``score_samples``: (n_samples,) log densities; ``predict_proba``:
        (n_samples, n_components); ``predict``: (n_samples,) int64 labels.

    Raises
    ------
    ValueError
        If the chunk holds NaN or infinity (raised when the task runs).
    """
    raise_if_nonfinite(_count_nonfinite(X, True))
    Y = _shifted(X, params.shift)
    if what == "predict":
        return np.argmax(estimate_weighted_log_prob(Y, params), axis=1)
    log_norm, resp = _log_prob_resp(Y, params)
    if what == "score_samples":
        return log_norm
    return resp
