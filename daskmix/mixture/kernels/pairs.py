"""Per-covariance-type evaluation of (point, component) pairs for truncated EM.

Exact EM evaluates every component on every row of a tile with one matrix
product (``mixture/covariance/``). Truncated EM evaluates only the pairs of each
row's search space, and accumulates the M-step's moments only over the
pairs of its truncated posterior. A *pair evaluator* does both for one
family of covariance types, reusing the covariance class's own maths (its
design, folded weights, normalisers, moments layout and ``finalize``), so
no formula is written twice:

An evaluator has ``tables`` (per-component arrays from the E-step
parameters), ``evaluate_tile`` (a tile's new ``K(n)``, responsibilities,
free energy, neighbourhood statistics and moments), ``new_moments`` and
``finish_moments``. ``_TilePipeline`` builds ``evaluate_tile`` from
per-type ``design``, ``log_joints`` and ``add_moments`` steps over
tile-sized arrays; the diagonal family fuses the whole tile instead.

``FoldedPairs`` (``diag``, ``spherical``)
    The design ``[y, q(y), 1]`` of ``DiagonalFamily.prepare`` (built a
    row at a time by ``_fused.design_row``) and the folded weights of
    ``log_prob_weights``: a pair is one dot product of ``2 D + 1``
    (``diag``) or ``D + 2`` (``spherical``) numbers, and the moments are
    ``resp_t @ design`` summed over sparse pairs, split by
    ``moments_from_product`` exactly as the dense product is. One compiled
    loop (``kernels.truncated.folded_tile``) does the whole tile row by
    row.
``CholeskyPairs`` (``full``)
    ``y - mu_c`` times the upper precision factor, O(D^2 / 2) per pair;
    the moments are ``nk``, ``sum r y`` and the scatter centred on the
    current means, the layout ``FullCovariance.moments`` returns.
``WoodburyPairs`` (``factor``)
    The pairs grouped per component (``kernels.truncated.group_pairs``):
    the rows whose search space holds component ``c`` go through one
    (rows, D) x (D, 2H) product, ``kernels.factor.component_mahalanobis``, so a
    pair costs O(D H); the moments are ``kernels.factor.component_moments`` of the
    rows of each component's truncated posterior, with the posterior means
    of the factors at the pass's (old) parameters, as exact EM takes them.

A new covariance type plugs in by registering its own evaluator in
:data:`PAIR_EVALUATORS`.

The compiled loops (``kernels.truncated``, numba) are imported by the
methods that call them, so that importing this module does not load numba.
"""

from __future__ import annotations

import numpy as np

from daskmix.mixture.kernels.factor import (
    component_mahalanobis,
    component_moments,
    first_moment,
    unpack_woodbury,
)

__all__ = [
    "PAIR_EVALUATORS",
    "CholeskyPairs",
    "FoldedPairs",
    "WoodburyPairs",
    "get_pair_evaluator",
]


def _search_width(previous, inputs, random_ids):
    """The most members a row's ``S(n)`` can have: ``n_active * n_neighbors + n_random``."""
    return previous.shape[1] * inputs.neighbours.shape[1] + random_ids.shape[1]


def _table_arrays(table, n_pairs):
    """The arrays the kernels take for ``table``, with room for ``n_pairs`` more pairs.

    ``kernels.truncated.NO_PAIRS`` when ``table`` is None (no pair statistics).
    """
    from daskmix.mixture.kernels import truncated as kernels

    if table is None:
        return kernels.NO_PAIRS
    table.reserve(n_pairs)
    return table.arrays


class _TilePipeline:
    """``evaluate_tile`` for evaluators that go through tile-sized arrays.

    ``search_space``, then the evaluator's ``design`` and ``log_joints``
    over all pairs of the tile, then ``select``, then its ``add_moments``
    over the new ``K(n)``: the evaluator supplies the per-type steps.
    """

    @classmethod
    def evaluate_tile(cls, covariance, inputs, X, previous, random_ids, row_weights, active,
                      resp, table, acc, log_norms=None):
        """One tile of a truncated-EM pass.

        Parameters
        ----------
        covariance : CovarianceType
        inputs : PassInputs
            The pass's tables, shift and neighbourhoods.
        X : ndarray of shape (n_rows, n_features)
            Raw rows, grouped by ``previous[:, 0]``.
        previous : ndarray of shape (n_rows, n_active), int32
            The rows' ``K(n)`` from the previous pass.
        random_ids : ndarray of shape (n_rows, n_random), int32
        row_weights : ndarray of shape (n_rows,), float64
        active : ndarray of shape (n_rows, n_active), int32
            Filled with the new ``K(n)``.
        resp : ndarray of shape (n_rows, n_active), float64
            Filled with the weighted responsibilities.
        table : PairTable or None
            Neighbourhood statistics, added to; None skips them.
        acc : tuple of ndarray or None
            Moment accumulators (``new_moments``), added to; None skips them.
        log_norms : ndarray of shape (n_rows,) or None, default=None
            Filled with each row's ``log sum_{c in K(n)} p(x_n, c)``, if given.

        Returns
        -------
        free_energy : float
        evaluations : int
        """
        from daskmix.mixture.kernels import truncated as kernels

        space = np.empty((len(X), _search_width(previous, inputs, random_ids)),
                         dtype=np.int32)
        counts = np.empty(len(X), dtype=np.int64)
        structured = np.empty(len(X), dtype=np.int64)
        kernels.search_space(previous, inputs.neighbours, random_ids, space, counts, structured)
        design = cls.design(covariance, X, inputs.shift)
        log_joints = np.empty(space.shape)
        cls.log_joints(design, inputs.tables, space, counts, log_joints)
        energy, evaluations = kernels.select(space, counts, log_joints, row_weights, previous,
                                             active, resp, _table_arrays(table, space.size),
                                             log_norms, structured)
        if acc is not None:
            cls.add_moments(design, inputs.tables, active, resp, acc)
        return energy, evaluations


class FoldedPairs:
    """Pairs of the diagonal family: one dot product per pair, the whole tile fused.

    The folded weights and the moments are padded with zero columns to a
    multiple of :data:`LANES` (``2 D + 1`` is odd): the dot products then
    vectorise without a remainder loop (measured 4% faster per tile).
    """

    #: Columns of the folded weights are padded to a multiple of this.
    LANES = 4

    @classmethod
    def _padded(cls, width):
        return -(-width // cls.LANES) * cls.LANES

    @staticmethod
    def tables(covariance, params):
        """Per-component arrays the blocks need, from E-step parameters.

        Parameters
        ----------
        covariance : CovarianceType
        params : EStepParams

        Returns
        -------
        tuple of ndarray
            ``(weights,)``, float64 of shape (n_components, n_design) padded
            with zero columns to a multiple of :data:`LANES`.
        """
        weights = covariance.log_prob_weights(params.centres, params.prec_chol,
                                              params.log_weights)
        padded = np.zeros((len(weights), FoldedPairs._padded(weights.shape[1])))
        padded[:, : weights.shape[1]] = weights
        return (padded,)

    @staticmethod
    def evaluate_tile(covariance, inputs, X, previous, random_ids, row_weights, active, resp,
                      table, acc, log_norms=None):
        """One tile in one compiled pass (``kernels.truncated.folded_tile``).

        Parameters and returns as :meth:`_TilePipeline.evaluate_tile`.
        """
        from daskmix.mixture.kernels import truncated as kernels

        weights = inputs.tables[0]
        moments = acc[0] if acc is not None else np.empty((0, weights.shape[1]))
        pairs = _table_arrays(table, len(X) * _search_width(previous, inputs, random_ids))
        return kernels.folded_tile(
            X, inputs.shift, covariance.per_feature_squares(X.shape[1]), weights, previous,
            inputs.neighbours, random_ids, row_weights, active, resp, moments, pairs,
            log_norms,
        )

    @classmethod
    def new_moments(cls, covariance, n_components, n_features):
        """Zeroed float64 accumulators of one block's moments (padded as the weights)."""
        width = covariance.design_width(n_features, np.float64)
        return (np.zeros((n_components, cls._padded(width))),)

    @staticmethod
    def finish_moments(covariance, acc, n_features):
        """``nk, sy, s2`` as ``covariance.moments`` returns them."""
        width = covariance.design_width(n_features, np.float64)
        return covariance.moments_from_product(acc[0][:, :width], n_features)


class CholeskyPairs(_TilePipeline):
    """Pairs of full covariances: a triangular product per pair."""

    @staticmethod
    def tables(covariance, params):
        centres = np.ascontiguousarray(params.centres, dtype=np.float64)
        prec_chol = np.asarray(params.prec_chol, dtype=np.float64)
        factors_t = np.ascontiguousarray(np.swapaxes(prec_chol, 1, 2))
        offsets = covariance.log_normaliser(prec_chol, centres.shape[1], params.log_weights)
        return centres, factors_t, np.ascontiguousarray(offsets, dtype=np.float64)

    tables.__doc__ = FoldedPairs.tables.__doc__

    @staticmethod
    def design(covariance, X, shift):
        """The shifted rows ``X - shift``."""
        return X - shift

    @staticmethod
    def log_joints(design, tables, space, counts, out):
        from daskmix.mixture.kernels import truncated as kernels

        centres, factors_t, offsets = tables
        kernels.cholesky_log_joints(design, centres, factors_t, offsets, space, counts, out)

    @staticmethod
    def new_moments(covariance, n_components, n_features):
        return (np.zeros(n_components), np.zeros((n_components, n_features)),
                np.zeros((n_components, n_features, n_features)))

    @staticmethod
    def add_moments(design, tables, active, resp, acc):
        from daskmix.mixture.kernels import truncated as kernels

        kernels.cholesky_moments(design, tables[0], active, resp, *acc)

    @staticmethod
    def finish_moments(covariance, acc, n_features):
        nk, sy, scatter = acc
        lower = np.tril_indices(n_features, -1)
        scatter = scatter.copy()
        scatter[:, lower[0], lower[1]] = scatter[:, lower[1], lower[0]]
        return nk, sy, scatter


class WoodburyPairs(_TilePipeline):
    """Pairs of factor covariances: the Woodbury identity, O(D H) per pair.

    The log-joints of ``S(n)`` are one compiled loop over the pairs
    (``kernels.truncated.woodbury_log_joints``, measured about 7 times
    faster than grouping the pairs by component and calling NumPy per
    group, whose per-call overhead dominated at a few dozen rows per
    component and tile). The moments of the pairs of ``K(n)``, three per
    row, group them by component for
    :func:`~daskmix.mixture.kernels.factor.component_moments`.
    """

    @staticmethod
    def tables(covariance, params):
        """Per-component arrays the blocks need, from E-step parameters.

        Parameters
        ----------
        covariance : FactorCovariance
        params : EStepParams

        Returns
        -------
        tuple of ndarray
            ``(centres, inv_psi, uv, l_inv, offsets, uv_t)``: the shifted
            means, ``1/Psi`` and ``[U | V]`` in the data's dtype (as
            ``params``), ``L^-1``, the log-joint offsets
            (``log_normaliser``) and ``[U | V]`` transposed per component
            in float64.
        """
        prec_chol = np.asarray(params.prec_chol)
        inv_psi, _, _, l_inv = unpack_woodbury(prec_chol)
        n_features = params.centres.shape[1]
        offsets = covariance.log_normaliser(prec_chol, n_features, params.log_weights)
        uv = prec_chol[:, :, 1:]
        return (np.ascontiguousarray(params.centres), np.ascontiguousarray(inv_psi),
                np.ascontiguousarray(uv), np.ascontiguousarray(l_inv),
                np.ascontiguousarray(offsets, dtype=np.float64),
                np.ascontiguousarray(np.swapaxes(uv, 1, 2), dtype=np.float64))

    @staticmethod
    def design(covariance, X, shift):
        """The shifted rows ``X - shift``."""
        return X - shift

    @staticmethod
    def _groups(design, centres, ids, counts):
        """Per component present: its id, rows, slots, the rows minus its centre, scratch.

        Parameters
        ----------
        design : ndarray of shape (n_rows, n_features)
        centres : ndarray of shape (n_components, n_features)
        ids : ndarray of shape (n_rows, width), int32
        counts : ndarray of shape (n_rows,), int64

        Yields
        ------
        c : int
        rows, slots : ndarray of int64
            The group's pairs.
        delta : ndarray of shape (len(rows), n_features)
            ``design[rows] - centres[c]`` (a reused buffer).
        squares : ndarray of shape (len(rows), n_features)
            Scratch for ``component_mahalanobis``.
        """
        from daskmix.mixture.kernels import truncated as kernels

        rows, slots, components, starts = kernels.group_pairs(ids, counts, len(centres))
        # a component is at most once in a row's S(n) or K(n): a group has at
        # most n_rows rows
        delta_buffer = np.empty_like(design)
        squares_buffer = np.empty_like(design)
        for g, c in enumerate(components):
            group = slice(starts[g], starts[g + 1])
            size = group.stop - group.start
            delta = np.take(design, rows[group], axis=0, out=delta_buffer[:size])
            np.subtract(delta, centres[c], out=delta)
            yield c, rows[group], slots[group], delta, squares_buffer[:size]

    @staticmethod
    def log_joints(design, tables, space, counts, out):
        """Fill ``out`` with the log-joints of the pairs of ``space``."""
        from daskmix.mixture.kernels import truncated as kernels

        centres, inv_psi, _, _, offsets, uv_t = tables
        kernels.woodbury_log_joints(design, centres, inv_psi, uv_t, offsets, space, counts,
                                    out)

    @staticmethod
    def new_moments(covariance, n_components, n_features):
        """Zeroed float64 ``nk``, ``sy`` and packed statistics of one block."""
        return (np.zeros(n_components), np.zeros((n_components, n_features)),
                np.zeros(covariance.second_moment_shape(n_components, n_features)))

    @staticmethod
    def add_moments(design, tables, active, resp, acc):
        """Add the tile's moments of the pairs ``(n, K(n))`` to ``acc``.

        The posterior means of the factors are those of the pass's
        parameters (the old ones, as exact EM's M-step takes them).
        """
        centres, inv_psi, uv, l_inv, _, _ = tables
        nk, sy, s2 = acc
        counts = np.full(len(active), active.shape[1], dtype=np.int64)
        for c, rows, slots, delta, squares in WoodburyPairs._groups(design, centres, active,
                                                                    counts):
            r = resp[rows, slots]
            total = float(np.sum(r))
            _, z = component_mahalanobis(delta, inv_psi[c], uv[c], squares)
            block = component_moments(delta, z, r.astype(design.dtype, copy=False), l_inv[c])
            nk[c] += total
            s2[c] += block
            sy[c] += first_moment(block, total, centres[c])

    @staticmethod
    def finish_moments(covariance, acc, n_features):
        """``nk, sy, s2`` as ``covariance.moments`` returns them."""
        return acc


#: Covariance type name -> pair evaluator.
PAIR_EVALUATORS = {"diag": FoldedPairs, "spherical": FoldedPairs, "full": CholeskyPairs,
                   "factor": WoodburyPairs}


def get_pair_evaluator(name):
    """The pair evaluator of covariance type ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    type

    Raises
    ------
    ValueError
        For a covariance type truncated EM does not support, naming those it does.
    """
    try:
        return PAIR_EVALUATORS[name]
    except KeyError:
        raise ValueError(
            f"algorithm='truncated' supports covariance_type in {sorted(PAIR_EVALUATORS)}, "
            f"got {name!r}. Use one of those, or algorithm='em'."
        ) from None
