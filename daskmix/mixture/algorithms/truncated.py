"""Truncated variational EM (v-GMM): ``GaussianMixture(algorithm="truncated")``.

Salwig, Kahlke, Hirschberger, Forster and Lücke, "Sublinear Variational
Optimization of Gaussian Mixture Models with Millions to Billions of
Parameters" (JMLR 27, 2026; arXiv 2501.12299), after Forster and Lücke
(AISTATS 2018) and Lücke's truncated variational EM.

Each point ``n`` keeps a set ``K(n)`` of ``n_active`` components (``C'``);
its posterior is truncated to them, ``q_n(c) ∝ p(x_n, c)`` for ``c`` in
``K(n)``. Each component ``c`` keeps a neighbourhood ``g_c`` of at most
``n_neighbors`` components (``G``, ``c`` itself first). One iteration is one
pass over the data:

1. every point searches ``S(n) = (union of g_c over c in K(n)) + one
   random component``, evaluates its log-joints there (``|S(n)| <= C' G +
   1`` evaluations instead of ``n_components``), keeps the ``C'`` best as
   its new ``K(n)`` and emits the M-step moments of the softmax over them,
   the truncated free energy ``sum_n log sum_{c in K(n)} p(x_n, c)`` and,
   for its best component ``c``, the pairs ``(c, k)`` for ``k`` in ``S(n)``
   with ``l_nc - l_nk`` (a random candidate's pair only when it beats one
   of the neighbourhood members: ``kernels.truncated``'s notes);
2. the root sums the blocks' results (tree-reduced; the pairs are sparse
   records merged by key, never a table over all pairs of components),
   runs the M-step of exact EM on the moments (``exact_pass.ExactPass``,
   the same ``finalize`` maths), and sets ``g_c`` to ``c`` and the
   ``G - 1`` components ``k`` with the smallest estimated
   ``KL(p(x|c) || p(x|k))``: the mean of ``l_nc - l_nk`` plus ``log pi_k -
   log pi_c`` (the priors cancel).

Since ``c`` is always in ``g_c``, ``K(n)`` is a subset of ``S(n)``, so the
new ``K(n)`` is never worse than the old one, and the free energy does not
decrease from one iteration to the next (up to ``reg_covar``, re-seeding
and rounding). With ``n_active == n_components`` every point keeps every
component and the algorithm is exact EM.

Initialisation, at a cost per point that does not grow with the number of
components (``TruncatedEM.scalable_init``): the parameters come from the
estimator's ``init_params`` on a row sample (``"kmeans"``: k-means of the
sample with tree-assigned Lloyd iterations, ``daskmix.cluster._tree_seeding``;
see ``mixture._init``). A k-means tree over the initial means
(:class:`daskmix._index.ComponentTree`) then gives ``g_c`` (``c`` and the
``G - 1`` nearest means it finds) and, inside the first pass, each point's
first ``K(n)`` (its ``n_active`` nearest means): O(log K) per point instead
of the dense E-step over all components used before (which cost O(N K)
and dominated the fit at K = 1024 and beyond). Then E-only warm-up passes
(the M-step skipped; as vamm) let ``K(n)`` and ``g_c`` settle, until the
free energy per sample changes by less than ``tol`` or after
:data:`WARMUP_MAX_PASSES` passes; they are skipped when ``n_active ==
n_components``, where ``K(n)`` is every component. The random candidates
are drawn from a counter-based generator keyed by (seed, pass, global row),
so the result does not depend on the chunking, the scheduler or the number
of threads.

Components that lose all their mass (or whose covariance becomes singular)
are re-seeded by the M-step of exact EM (split of the heaviest component);
here each re-seeded component and the component it was split from are
also put into each other's neighbourhood, so that points can reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from daskmix._dask import graph as _graph
from daskmix._index import ComponentTree
from daskmix.mixture._params import estep_params
from daskmix.mixture.algorithms._base import Algorithm
from daskmix.mixture.algorithms.em import EMRun, RunResult
from daskmix.mixture.algorithms.exact_pass import ExactPass
from daskmix.mixture.kernels.pairs import get_pair_evaluator
from daskmix.mixture.kernels.truncated_block import (
    PassInputs,
    active_dtype,
    initial_active_block,
    merge_block_stats,
    tree_active_block,
    truncated_block,
)

__all__ = [
    "NEIGHBOUR_BEAM",
    "N_RANDOM",
    "WARMUP_MAX_PASSES",
    "ExactUpdate",
    "TruncatedEM",
    "TruncatedResult",
    "initial_neighbours",
    "link_reseeded",
    "run_truncated",
    "tree_neighbours",
    "update_neighbours",
]

#: Random candidates per point and pass (the papers' ``E``).
N_RANDOM = 1
#: Beam of the tree search of the first neighbourhoods (once per fit, over
#: the means: wider than the rows' searches costs little).
NEIGHBOUR_BEAM = 16
#: Most E-only warm-up passes before the EM phase.
WARMUP_MAX_PASSES = 5
#: The warm-up stops when a pass raises the free energy per row by less than
#: this fraction of its size (or by less than ``tol``). Each pass reads all
#: the data: at 100,000,000 rows it costs as much as an EM iteration, and the
#: EM iterations go on improving ``K(n)``. Measured on 1,000,000 x 32 rows,
#: K=4096, 20 iterations: final lower bound -53.8139 after 5 warm-up passes,
#: -53.8167 after 2, -53.8248 after 1; on 5,000,000 x 64 rows the second pass
#: gains 1.2%, the third 0.03%.
WARMUP_RTOL = 1e-3
#: Passes a fit can make before the keys of the random draws would wrap.
_PASS_KEY_SPAN = 2**24


@dataclass
class TruncatedResult(RunResult):
    """A run's outcome plus the truncated algorithm's counters.

    Attributes
    ----------
    n_evaluations : list of int
        ``sum_n |S(n)|`` in each EM iteration.
    n_warmup_passes : int
        E-only passes before the first iteration.
    neighbours : ndarray of shape (n_components, G), int32, or None
        The final neighbourhoods ``g_c``.
    """

    n_evaluations: list = field(default_factory=list)
    n_warmup_passes: int = 0
    neighbours: np.ndarray | None = None


def initial_neighbours(means, n_neighbors):
    """``g_c = {c}`` plus the ``n_neighbors - 1`` components with the nearest means.

    Squared Euclidean distances between the means (var-GMM-X's measure),
    computed a slab of components at a time; the first pass replaces them
    with the KL-based neighbourhoods.

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)
    n_neighbors : int

    Returns
    -------
    ndarray of shape (n_components, min(n_neighbors, n_components)), int32
        Nearest first, ties broken by index.
    """
    n_components = len(means)
    width = min(n_neighbors, n_components)
    out = np.empty((n_components, width), dtype=np.int32)
    out[:, 0] = np.arange(n_components)
    if width == 1:
        return out
    squares = np.einsum("ij,ij->i", means, means)
    slab = max(1, 2**22 // n_components)
    for start in range(0, n_components, slab):
        rows = np.arange(start, min(start + slab, n_components))
        distances = squares[rows, None] - 2.0 * means[rows] @ means.T + squares[None, :]
        distances[np.arange(len(rows)), rows] = np.inf  # not itself
        ids = np.broadcast_to(np.arange(n_components), distances.shape)
        order = np.lexsort((ids, distances), axis=1)[:, : width - 1]
        out[rows, 1:] = order
    return out


def tree_neighbours(tree, means, n_neighbors):
    """``g_c = {c}`` plus ``n_neighbors - 1`` near means, found with a tree.

    The O(K log K) counterpart of :func:`initial_neighbours` (whose exact
    search is O(K^2)): each mean's nearest means by
    :meth:`ComponentTree.nearest`, itself removed.

    Parameters
    ----------
    tree : ComponentTree
        Over ``means``.
    means : ndarray of shape (n_components, n_features)
    n_neighbors : int

    Returns
    -------
    ndarray of shape (n_components, min(n_neighbors, n_components)), int32
    """
    n_components = len(means)
    width = min(n_neighbors, n_components)
    out = np.empty((n_components, width), dtype=np.int32)
    out[:, 0] = np.arange(n_components)
    if width == 1:
        return out
    found = tree.nearest(means, min(width + 1, n_components), beam=NEIGHBOUR_BEAM,
                         parallel=True)
    others = found != out[:, :1]
    # stable: each row's other components keep their order, itself moves last
    order = np.argsort(~others, axis=1, kind="stable")
    out[:, 1:] = np.take_along_axis(found, order, axis=1)[:, : width - 1]
    return out


def update_neighbours(neighbours, keys, sums, counts, log_weights):
    """New neighbourhoods from the merged pair records (KL measure).

    ``g_c`` becomes ``c`` followed by the (at most ``G - 1``) components
    ``k`` with the smallest ``sums / counts + log pi_k - log pi_c``, ties
    broken by index; a component without records keeps its neighbourhood.

    Parameters
    ----------
    neighbours : ndarray of shape (n_components, G), int32
    keys : ndarray of int64
        ``c * n_components + k``, sorted (as :func:`merge_block_stats` leaves them).
    sums, counts : ndarray of float32
    log_weights : ndarray of shape (n_components,)
        The log-weights the pass used.

    Returns
    -------
    ndarray of shape (n_components, G), int32
    """
    n_components, width = neighbours.shape
    if width == 1 or width == n_components or keys.size == 0:
        return neighbours
    # compiled (numba), so imported on first use: import daskmix loads no numba
    from daskmix.mixture.kernels.truncated import neighbourhoods_from_records

    out = neighbours.copy()
    neighbourhoods_from_records(keys, sums, counts, np.asarray(log_weights, dtype=np.float64),
                                out)
    return out


def _reseeded(params, nk):
    """Components whose weight the M-step's re-seeding changed (both halves of a split)."""
    expected = nk / nk.sum()
    return np.flatnonzero(~np.isclose(params.weights, expected, rtol=1e-9, atol=0.0))


def link_reseeded(neighbours, means, changed):
    """Put each re-seeded component and its nearest re-seeded partner into each other's ``g``.

    Parameters
    ----------
    neighbours : ndarray of shape (n_components, G), int32
    means : ndarray of shape (n_components, n_features)
    changed : ndarray of int
        Components whose weights were changed by re-seeding.

    Returns
    -------
    ndarray of shape (n_components, G), int32
    """
    if changed.size == 0 or neighbours.shape[1] == 1:
        return neighbours
    out = neighbours.copy()
    for c in changed:
        partners = changed[changed != c] if changed.size > 1 else np.delete(
            np.arange(len(means)), c)
        j = int(partners[np.argmin(np.sum((means[partners] - means[c]) ** 2, axis=1))])
        for a, b in ((j, c), (c, j)):
            row = [int(x) for x in out[a, 1:] if x >= 0 and x != b]
            out[a, 1:] = -1
            merged = [b] + row
            out[a, 1 : 1 + min(len(merged), out.shape[1] - 1)] = merged[: out.shape[1] - 1]
    return out


class ExactUpdate:
    """What truncated passes compute for exact EM's model: its E-step parameters and M-step.

    The truncated search and its statistics do not depend on the model
    fitted; an update says how parameters become kernel parameters, how a
    pass's statistics become new parameters and what the lower bound is.
    Batch VI of the Bayesian mixture has its own
    (``daskmix.mixture.variational.truncated``).

    Parameters
    ----------
    exact : ExactPass
    """

    def __init__(self, exact):
        self.exact = exact
        self.layout = exact.layout

    def estep_params(self, params, dtype):
        """Kernel parameters of a pass at ``params``.

        Parameters
        ----------
        params : GaussianParams
        dtype : numpy dtype

        Returns
        -------
        EStepParams
        """
        return estep_params(self.exact.covariance, params, dtype)

    def unpack(self, vector, kernel_params):
        """The computed statistics of a pass as a dict (``ExactPass.unpack``)."""
        return self.exact.unpack(vector, kernel_params)

    def log_weights(self, params):
        """The per-component constants of the log-joints (the KL measure of ``g_c``)."""
        with np.errstate(divide="ignore"):
            return np.log(params.weights)

    def finish_pass(self, stats, params, with_moments):
        """The pass's statistics for ``EMRun.advance``: unchanged (``loglik`` is the free energy)."""
        return stats

    def m_step(self, stats, params):
        """Exact EM's M-step; also the components it re-seeded.

        Returns
        -------
        params : GaussianParams
        reseeded : ndarray of int
        """
        new = self.exact.m_step(stats, params)
        nk = stats["nk"] + 10 * np.finfo(self.exact.dtype).eps
        return new, _reseeded(new, nk)


class _TruncatedPasses:
    """The passes of one run: parameters, ``g_c`` and ``K(n)`` go in, statistics come out.

    Parameters
    ----------
    settings : FitSettings
        With ``n_active`` and ``n_neighbors`` among its options.
    data : InputData
    sample_weight : dask.array.Array or None
    params : GaussianParams or object
        The initial parameters (initial ``K(n)`` and ``g_c`` are taken from
        their ``means``).
    random_state : numpy.random.RandomState
    update : object or None, default=None
        The model's E-step parameters and M-step (:class:`ExactUpdate`'s
        interface); None for exact EM's.
    """

    def __init__(self, settings, data, sample_weight, params, random_state, update=None):
        self.X = data.array
        self.sample_weight = sample_weight
        if update is None:
            update = ExactUpdate(ExactPass.from_settings(settings, data.array.shape[1],
                                                         data.dtype))
        self.update = update
        self.covariance = settings.covariance
        self.evaluator = get_pair_evaluator(settings.covariance.name)
        self.n_components = int(settings.n_components)
        self.split_every = settings.split_every
        self.seed = int(random_state.randint(np.iinfo(np.int32).max)) * _PASS_KEY_SPAN
        n_active = int(settings.options["n_active"])
        n_neighbors = int(settings.options["n_neighbors"])
        if n_active == self.n_components:
            # exact EM: every point keeps every component
            self.neighbours = initial_neighbours(params.means, n_neighbors)
            kernel, options = initial_active_block, {
                "params": update.estep_params(params, self.X.dtype)}
        else:
            tree = ComponentTree.build(params.means, random_state=self.seed % 2**31)
            self.neighbours = tree_neighbours(tree, params.means, n_neighbors)
            kernel, options = tree_active_block, {"tree": _graph.shared(tree, "truncated-tree")}
        # lazy: computed by the first pass, in the same graph
        self.active = _graph.map_row_blocks(
            self.X, kernel, name="truncated-init-active", n_columns=n_active,
            dtype=active_dtype(self.n_components), n_active=n_active, **options,
        )
        self.n_passes = 0

    def run_pass(self, params, with_moments):
        """One pass at ``params``: updates ``K(n)``; returns the statistics.

        Parameters
        ----------
        params : GaussianParams
        with_moments : bool
            False for a warm-up pass (no M-step moments).

        Returns
        -------
        dict
            ``ExactPass.unpack``'s statistics (``loglik`` is the truncated
            free energy) plus ``evaluations`` and ``pairs`` (keys, sums,
            counts) and the ``log_weights`` the pass used.
        """
        kernel_params = self.update.estep_params(params, self.X.dtype)
        inputs = PassInputs(
            covariance=self.covariance, evaluator=self.evaluator,
            tables=self.evaluator.tables(self.covariance, kernel_params),
            shift=kernel_params.shift, neighbours=self.neighbours,
            random_key=self.seed + self.n_passes, n_random=N_RANDOM,
            layout=self.update.layout, with_moments=with_moments,
            check_finite=self.n_passes == 0,
        )
        new_active, merged = _graph.map_state_reduce(
            self.X, self.sample_weight, self.active, truncated_block,
            merge=merge_block_stats, name="truncated-estep", split_every=self.split_every,
            inputs=_graph.shared(inputs, "truncated-inputs"),
        )
        self.active, value = _graph.persist_and_compute(new_active, merged)
        self.n_passes += 1
        block = value[()]
        stats = self.update.unpack(block.vector, kernel_params)
        stats["evaluations"] = int(block.evaluations)
        stats["pairs"] = (block.keys, block.sums, block.counts)
        stats["log_weights"] = self.update.log_weights(params)
        return self.update.finish_pass(stats, params, with_moments)

    def update_neighbours(self, stats):
        """``g_c`` from a pass's pair records."""
        self.neighbours = update_neighbours(self.neighbours, *stats["pairs"],
                                            stats["log_weights"])

    def m_step(self, stats, params):
        """The update's M-step, then the neighbourhoods (and links to re-seeded components)."""
        new, reseeded = self.update.m_step(stats, params)
        self.update_neighbours(stats)
        self.neighbours = link_reseeded(self.neighbours, new.means, reseeded)
        return new


def run_truncated(settings, data, sample_weight, params, lower_bound, on_iteration,
                  random_state, update=None):
    """One initialisation's truncated-EM fit.

    Parameters
    ----------
    settings : FitSettings
        With ``n_active`` and ``n_neighbors`` among its options.
    data : InputData
    sample_weight : dask.array.Array or None
    params : GaussianParams
        Initial (or warm-start) parameters.
    lower_bound : float
        Lower bound before the first iteration.
    on_iteration : callable
        ``on_iteration(n_iter, lower_bound, change)``.
    random_state : numpy.random.RandomState
        Draws the key of the random candidates.
    update : object or None, default=None
        The model's E-step parameters and M-step (see :class:`ExactUpdate`);
        None for exact EM's.

    Returns
    -------
    TruncatedResult
    """
    passes = _TruncatedPasses(settings, data, sample_weight, params, random_state, update)
    n_warmup = 0
    if settings.options["n_active"] < settings.n_components and settings.max_iter > 0:
        previous = -np.inf
        while n_warmup < WARMUP_MAX_PASSES:
            n_warmup += 1
            stats = passes.run_pass(params, with_moments=False)
            passes.update_neighbours(stats)
            energy = float(stats["loglik"] / stats["weight"])
            change = abs(energy - previous)
            if change < settings.tol or change < WARMUP_RTOL * abs(energy):
                break
            previous = energy
    run = EMRun(params, lower_bound=lower_bound, max_iter=settings.max_iter,
                tol=settings.tol)
    evaluations = []
    while not run.done:
        stats = passes.run_pass(run.result.params, with_moments=True)
        evaluations.append(stats["evaluations"])
        on_iteration(*run.advance(stats, passes.m_step))
    result = run.result
    return TruncatedResult(
        params=result.params, lower_bound=result.lower_bound,
        lower_bounds=result.lower_bounds, n_iter=result.n_iter,
        converged=result.converged, n_evaluations=evaluations, n_warmup_passes=n_warmup,
        neighbours=passes.neighbours,
    )


class TruncatedEM(Algorithm):
    """Truncated variational EM (v-GMM, and v-MFA with ``covariance_type="factor"``).

    Reads ``n_active`` (``C'``) and ``n_neighbors`` (``G``); publishes
    ``n_evaluations_`` and ``neighbors_`` (the final ``g_c``, which
    truncated inference searches). Each covariance type it supports has a
    pair evaluator in :mod:`daskmix.mixture.kernels.pairs`.
    """

    name = "truncated"
    scalable_init = True
    covariance_types = frozenset({"spherical", "diag", "full", "factor"})
    parameters = frozenset({"n_active", "n_neighbors"})
    lower_bound_name = "truncated free energy per row, a lower bound of the mean log-likelihood"
    fitted_attribute_names = ("n_evaluations_", "neighbors_")

    def check(self, estimator, n_features):
        """Raise if ``n_active`` exceeds ``n_components``.

        Parameters
        ----------
        estimator : GaussianMixture
        n_features : int

        Raises
        ------
        ValueError
            Naming the parameter to change.
        """
        if estimator.n_active > estimator.n_components:
            raise ValueError(
                f"n_active={estimator.n_active} is larger than n_components="
                f"{estimator.n_components}: each point keeps n_active distinct components. "
                "Set n_active <= n_components (n_active == n_components is exact EM)."
            )

    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """Warm-up passes, then truncated EM iterations; see :meth:`Algorithm.run`.

        Returns
        -------
        TruncatedResult
        """
        return run_truncated(settings, data, sample_weight, params, lower_bound,
                             on_iteration, random_state)

    def truncated_inference(self, settings):
        """True when points keep fewer components than there are (``n_active < n_components``).

        Parameters
        ----------
        settings : FitSettings

        Returns
        -------
        bool
        """
        return int(settings.options["n_active"]) < int(settings.n_components)

    def fitted_attributes(self, result):
        """``n_evaluations_`` (evaluations of each iteration) and ``neighbors_`` (``g_c``).

        Parameters
        ----------
        result : TruncatedResult

        Returns
        -------
        dict
        """
        out = {"n_evaluations_": np.asarray(result.n_evaluations, dtype=np.int64)}
        if result.neighbours is not None:
            out["neighbors_"] = np.asarray(result.neighbours, dtype=np.int32)
        return out
