"""Per-chunk kernel of variational inference for the Bayesian Gaussian mixture.

The E-step of batch VI evaluates the same log-densities as exact EM (the
covariance type's kernel, with the Wishart-expected precisions) plus one
constant per component folded into the log-weights (``log_weights`` of
:class:`~daskmix.mixture.kernels.suffstats.EStepParams`). The M-step reads
the same sufficient statistics; the lower bound needs one more, the
responsibilities' negative entropy ``sum_n w_n sum_k r_nk log r_nk``,
taken here from the identity ``log r_nk = L_nk - logsumexp_k L_nk``
(``L`` the weighted log-probabilities), so it costs one dot product per
tile and no logarithm of the responsibilities. Pure NumPy, no dask import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskmix._kernels import row_weights, total_weight
from daskmix.mixture.kernels.suffstats import (
    StatsLayout,
    _Accumulator,
    _nonfinite_stats,
    _normalise_t,
    _tiles,
    _weighted_log_prob_t,
)

__all__ = ["VariationalLayout", "chunk_vi_stats"]


@dataclass(frozen=True)
class VariationalLayout(StatsLayout):
    """:class:`StatsLayout`'s statistics and ``resp_log_resp``, ``sum_n w_n sum_k r_nk log r_nk``."""

    @property
    def fields(self):
        """Those of :class:`StatsLayout`, then ``resp_log_resp``."""
        return super().fields + (("resp_log_resp", ()),)


def _weighted_sum(resp_t, log_prob, dtype):
    """``sum_kn resp_t * log_prob`` accumulated in float64."""
    if dtype == np.float64:
        return float(np.vdot(resp_t, log_prob))
    return float(np.einsum("kn,kn->n", resp_t, log_prob).sum(dtype=np.float64))


def chunk_vi_stats(X, sample_weight, params, layout, check_finite=False, row_start=0):
    """Variational E-step on one chunk: exact EM's statistics plus ``resp_log_resp``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None
    params : EStepParams
        ``log_weights`` holds the expected log-weights plus the
        per-component constants of the variational E-step.
    layout : VariationalLayout
    check_finite : bool, default=False
        Count non-finite input values (first pass only); a chunk that has
        any returns zero statistics apart from the count.
    row_start : int, default=0
        Unused; part of the chunk-kernel signature.

    Returns
    -------
    stats : ndarray of shape (layout.size,)
        ``loglik`` is ``sum_n w_n logsumexp_k L_nk``.
    """
    bad = _nonfinite_stats(X, check_finite, layout)
    if bad is not None:
        return bad
    covariance = params.covariance
    acc = _Accumulator(layout)
    weighted_log_joint = 0.0
    for tile in _tiles(X, covariance, layout.n_components):
        D = covariance.prepare(X[tile], params.shift)
        log_prob = _weighted_log_prob_t(D, params)
        resp_t = log_prob.copy()
        w = row_weights(sample_weight, tile, resp_t.dtype)
        log_norm = _normalise_t(resp_t, w)
        if w is None:
            acc.loglik += float(np.sum(log_norm, dtype=np.float64))
        else:
            acc.loglik += float(np.dot(w.astype(np.float64), log_norm))
        weighted_log_joint += _weighted_sum(resp_t, log_prob, log_prob.dtype)
        acc.add(covariance, D, resp_t, params.centres)
    return layout.pack(
        nk=acc.nk, sy=acc.sy, s2=acc.s2, loglik=acc.loglik,
        weight=total_weight(sample_weight, X.shape[0]), nonfinite=0,
        resp_log_resp=weighted_log_joint - acc.loglik,
    )
