"""Per-chunk kernels of the Gaussian mixture: pure NumPy, no dask import.

A pass over the data evaluates one kernel per chunk. Each kernel returns its
sufficient statistics packed into one flat float64 vector (a :class:`StatsLayout`
says where each statistic sits), so that chunks combine by plain addition in a
tree reduction and travel between workers as a single small array.

Statistics of one chunk (all sums over the chunk's rows, weighted by the
sample weights ``w``)::

    nk       (n_components,)                sum_n w_n r_nk
    sy       (n_components, n_features)     sum_n w_n r_nk (x_n - shift)
    s2       covariance-type specific        see ``daskmix.mixture.covariance``
    loglik   ()                             sum_n w_n log p(x_n)
    weight   ()                             sum_n w_n
    nonfinite ()                            number of non-finite input values

The compiled (numba) loops of ``fused`` are imported by the functions that
call them, so that importing this module does not load numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskmix._errors import raise_if_nonfinite
from daskmix._kernels import (
    TILE_ROWS,
    PackedLayout,
    count_nonfinite,
    row_tiles,
    row_weights,
    total_weight,
)

__all__ = [
    "BLOCK_SUMMARY_COLUMNS",
    "BlockParams",
    "EStepParams",
    "StatsLayout",
    "block_params",
    "chunk_block_resp",
    "chunk_block_summary",
    "chunk_em_stats",
    "chunk_log_prob_resp",
    "chunk_resp_stats",
    "estimate_weighted_log_prob",
    "merge_block_summaries",
]


@dataclass(frozen=True)
class StatsLayout(PackedLayout):
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

    @property
    def fields(self):
        """The statistics of the module docstring, in that order."""
        k, d = self.n_components, self.n_features
        return (
            ("nk", (k,)),
            ("sy", (k, d)),
            ("s2", tuple(self.s2_shape)),
            ("loglik", ()),
            ("weight", ()),
            ("nonfinite", ()),
        )


@dataclass(frozen=True, eq=False)
class EStepParams:
    """Parameters a chunk needs for an E-step, in the chunk's dtype.

    Parameters
    ----------
    covariance : CovarianceType
        A covariance type from ``mixture.covariance.get_covariance_type``.
    shift : ndarray of shape (n_features,)
        Reference point subtracted from every row before any product.
    centres : ndarray of shape (n_components, n_features)
        Means minus ``shift``.
    prec_chol : ndarray
        Precision Cholesky factors, shape set by the covariance type.
    log_weights : ndarray of shape (n_components,)
    """

    covariance: object
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


#: Elements of the largest (n_components, tile rows) temporary.
_TILE_ELEMENTS = 2**17
#: Elements of the largest design (tile rows x design columns).
_DESIGN_ELEMENTS = 2**20


def tile_rows(n_components, n_design=1):
    """Rows per tile for a model with ``n_components`` components.

    The per-tile temporaries are the design (tile rows, n_design) and the
    log-probabilities (n_components, tile rows). Keeping the second near
    2**17 elements (1 MB in float64) lets the exp / max / sum passes over it
    run from cache rather than main memory. Keeping the design under 2**20
    elements (8 MB) keeps it in the last-level cache between the E-step
    product that reads it and the M-step product that reads it again
    (measured on full covariance with 32 features: 2**18 elements is 20%
    slower, 2**21 no faster). The matrix products stay long enough
    (hundreds to thousands of rows) to run near peak speed.

    Parameters
    ----------
    n_components : int
    n_design : int, default=1
        Design columns per row (``covariance.design_width``).

    Returns
    -------
    int
    """
    rows = min(
        _TILE_ELEMENTS // max(int(n_components), 1), _DESIGN_ELEMENTS // max(int(n_design), 1)
    )
    return int(min(TILE_ROWS, max(256, rows)))


def _tiles(X, covariance, n_components):
    """Row slices of ``X`` of :func:`tile_rows` rows."""
    n_design = covariance.design_width(X.shape[1], X.dtype)
    return row_tiles(X.shape[0], tile_rows(n_components, n_design))


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
    D = params.covariance.prepare(Y, np.zeros_like(Y[0]))
    return _weighted_log_prob_t(D, params).T


def _weighted_log_prob_t(D, params):
    return params.covariance.log_prob_t(D, params.centres, params.prec_chol, params.log_weights)


#: Half of log(smallest normal float64): exp of it is 1e-154, still normal
#: after multiplying by any data value the M-step products meet.
_LOG_FLOOR_FLOAT64 = np.log(np.finfo(np.float64).tiny) / 2


def _normalise_t(log_prob, weights=None):
    """In place: log-probabilities (K, n) become (weighted) responsibilities.

    One fused log-sum-exp over the components (the first axis); see
    :func:`daskmix.mixture.kernels.fused.normalise_columns`.

    Parameters
    ----------
    log_prob : ndarray of shape (n_components, n_samples)
    weights : ndarray of shape (n_samples,) or None
        Sample weights multiplied into the responsibilities.

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
    """
    from daskmix.mixture.kernels.fused import normalise_columns

    # NumPy's float64 exp falls back to a slow path (about 6x) for inputs
    # whose result underflows; responsibilities below 1e-154 change no sum.
    floor = _LOG_FLOOR_FLOAT64 if log_prob.dtype == np.float64 else -np.inf
    return normalise_columns(log_prob, weights, floor)


class _Accumulator:
    """Float64 running sums of the statistics of a chunk's tiles."""

    def __init__(self, layout):
        k, d = layout.n_components, layout.n_features
        self.nk = np.zeros(k)
        self.sy = np.zeros((k, d))
        self.s2 = np.zeros(layout.s2_shape)
        self.loglik = 0.0

    def add(self, covariance, D, resp_t, centres):
        nk, sy, s2 = covariance.moments(D, resp_t, centres)
        self.nk += nk
        self.sy += sy
        self.s2 += s2

    def packed(self, layout, X, sample_weight):
        """The chunk's packed statistics vector."""
        return layout.pack(
            nk=self.nk, sy=self.sy, s2=self.s2, loglik=self.loglik,
            weight=total_weight(sample_weight, X.shape[0]), nonfinite=0,
        )


def _nonfinite_stats(X, check_finite, layout):
    """Statistics reporting only the non-finite count, or None if there is none."""
    count = count_nonfinite(X) if check_finite else 0
    if not count:
        return None
    return layout.zeros(nonfinite=count)


def chunk_em_stats(X, sample_weight, params, layout, check_finite=False, row_start=0):
    """E-step on one chunk, returning the packed statistics for the M-step.

    The chunk is processed in tiles of :func:`tile_rows` rows; each tile's
    statistics are computed in the data's dtype and added to float64 sums.

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
    bad = _nonfinite_stats(X, check_finite, layout)
    if bad is not None:
        return bad
    covariance = params.covariance
    acc = _Accumulator(layout)
    for tile in _tiles(X, covariance, layout.n_components):
        D = covariance.prepare(X[tile], params.shift)
        resp_t = _weighted_log_prob_t(D, params)
        w = row_weights(sample_weight, tile, resp_t.dtype)
        log_norm = _normalise_t(resp_t, w)
        if w is None:
            acc.loglik += float(np.sum(log_norm, dtype=np.float64))
        else:
            acc.loglik += float(np.dot(w.astype(np.float64), log_norm))
        acc.add(covariance, D, resp_t, params.centres)
    return acc.packed(layout, X, sample_weight)


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
    covariance : CovarianceType
        The covariance type (an instance from ``mixture.covariance``).
    shift : ndarray of shape (n_features,)
    centres : ndarray of shape (n_components, n_features)
        Reference means in shifted coordinates.
    layout : StatsLayout
    check_finite : bool, default=False

    Returns
    -------
    stats : ndarray of shape (layout.size,)
    """
    bad = _nonfinite_stats(X, check_finite, layout)
    if bad is not None:
        return bad
    centres = centres.astype(X.dtype, copy=False)
    shift = shift.astype(X.dtype, copy=False)
    acc = _Accumulator(layout)
    for tile in _tiles(X, covariance, layout.n_components):
        resp_t = np.asarray(resp_fn(X[tile], row_start + tile.start), dtype=X.dtype).T
        w = row_weights(sample_weight, tile, X.dtype)
        if w is not None:
            resp_t = resp_t * w
        acc.add(covariance, covariance.prepare(X[tile], shift), resp_t, centres)
    return acc.packed(layout, X, sample_weight)


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
    raise_if_nonfinite(count_nonfinite(X))
    n_components = params.centres.shape[0]
    if what == "predict_proba":
        out = np.empty((X.shape[0], n_components), dtype=X.dtype)
    else:
        out = np.empty(X.shape[0], dtype=np.int64 if what == "predict" else X.dtype)
    for tile in _tiles(X, params.covariance, n_components):
        log_prob_t = _weighted_log_prob_t(params.covariance.prepare(X[tile], params.shift), params)
        if what == "predict":
            out[tile] = np.argmax(log_prob_t, axis=0)
            continue
        log_norm = _normalise_t(log_prob_t)
        out[tile] = log_norm if what == "score_samples" else log_prob_t.T
    return out


# ---- row-wise outputs of a model split into blocks of components --------------


@dataclass(frozen=True, eq=False)
class BlockParams:
    """The E-step parameters of one block of components (a sharded model's).

    Parameters
    ----------
    start : int
        The block's first component.
    params : EStepParams
        Of the block's components only; the shift is the whole model's.
    """

    start: int
    params: EStepParams


def block_params(index, means, log_weights, *arrays, covariance, shift, dtype, prec_chol,
                 **kwargs):
    """:class:`BlockParams` of one block, as ``estep_params`` makes them for the whole model.

    Parameters
    ----------
    index : ndarray of shape (n_block,)
        The block's component indices.
    means : ndarray of shape (n_block, n_features)
    log_weights : ndarray of shape (n_block,)
        The per-component constants of the log-joints (float64).
    *arrays : ndarray
        The block's slices of the arrays ``prec_chol`` needs.
    covariance : CovarianceType
    shift : ndarray of shape (n_features,)
        Float64, the whole model's.
    dtype : numpy dtype
        The data's.
    prec_chol : callable
        ``prec_chol(covariance, *arrays, **kwargs)``: the block's fit-time
        precision factors (float64).
    **kwargs
        Passed to ``prec_chol`` (shared, in-memory arrays).

    Returns
    -------
    BlockParams
    """
    means = np.asarray(means, dtype=np.float64)
    return BlockParams(int(index[0]), EStepParams(
        covariance=covariance,
        shift=shift.astype(dtype),
        centres=(means - shift).astype(dtype),
        prec_chol=np.asarray(prec_chol(covariance, *arrays, **kwargs), dtype=dtype),
        log_weights=np.asarray(log_weights, dtype=np.float64).astype(dtype),
    ))


def _block_log_prob_t(X, tile, params):
    return _weighted_log_prob_t(params.covariance.prepare(X[tile], params.shift), params)


#: Columns of a block's per-row summary: the largest log-joint, its component
#: and the log-sum-exp of the block's log-joints.
BLOCK_SUMMARY_COLUMNS = 3


def chunk_block_summary(X, block):
    """Per-row summary of one block's weighted log-probabilities on one chunk.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    block : BlockParams

    Returns
    -------
    ndarray of shape (n_samples, 3), float64
        The largest ``log pi_k + log p(x | k)`` over the block's components,
        the (global) index of the first component reaching it, and the
        log-sum-exp over the block.

    Raises
    ------
    ValueError
        If the chunk holds NaN or infinity (raised when the task runs).
    """
    raise_if_nonfinite(count_nonfinite(X))
    params = block.params
    out = np.empty((X.shape[0], BLOCK_SUMMARY_COLUMNS), dtype=np.float64)
    for tile in _tiles(X, params.covariance, params.centres.shape[0]):
        log_prob_t = _block_log_prob_t(X, tile, params)
        best = np.argmax(log_prob_t, axis=0)
        out[tile, 0] = log_prob_t[best, np.arange(log_prob_t.shape[1])]
        out[tile, 1] = best + block.start
        out[tile, 2] = _normalise_t(log_prob_t)
    return out


def merge_block_summaries(summaries):
    """The whole model's per-row summary from its blocks' (:func:`chunk_block_summary`).

    Parameters
    ----------
    summaries : ndarray of shape (n_samples, 3 * n_blocks)
        The blocks' summaries side by side, in block order.

    Returns
    -------
    ndarray of shape (n_samples, 3), float64
        The largest log-joint, its component (the first one reaching it, as
        ``argmax`` over all components gives), and the log-sum-exp over all
        components (``score_samples``).
    """
    n = summaries.shape[0]
    parts = summaries.reshape(n, -1, BLOCK_SUMMARY_COLUMNS)
    best = np.argmax(parts[:, :, 0], axis=1)
    rows = np.arange(n)
    top = parts[rows, best, 0]
    with np.errstate(invalid="ignore", over="ignore"):
        log_norm = np.log(np.sum(np.exp(parts[:, :, 2] - top[:, None]), axis=1)) + top
    return np.stack([top, parts[rows, best, 1], log_norm], axis=1)


def chunk_block_resp(X, block, summary):
    """Responsibilities of one block's components on one chunk.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    block : BlockParams
    summary : ndarray of shape (n_samples, 3)
        The whole model's, from :func:`merge_block_summaries`.

    Returns
    -------
    ndarray of shape (n_samples, n_block), X's dtype
        As the block's columns of ``chunk_log_prob_resp(X, params,
        "predict_proba")`` (shifted log-joints below the same floor are
        raised to it).
    """
    params = block.params
    floor = _LOG_FLOOR_FLOAT64 if X.dtype == np.float64 else -np.inf
    out = np.empty((X.shape[0], params.centres.shape[0]), dtype=X.dtype)
    for tile in _tiles(X, params.covariance, params.centres.shape[0]):
        log_prob_t = _block_log_prob_t(X, tile, params)
        top = summary[tile, 0].astype(X.dtype)
        log_prob_t -= top
        np.maximum(log_prob_t, X.dtype.type(floor), out=log_prob_t)
        np.exp(log_prob_t, out=log_prob_t)
        log_prob_t /= np.exp(summary[tile, 2] - summary[tile, 0]).astype(X.dtype)
        out[tile] = log_prob_t.T
    return out
