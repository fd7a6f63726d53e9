"""Initial parameters of a Gaussian mixture, computed without loading the data.

Each method follows scikit-learn's ``init_params`` semantics (responsibilities
from k-means labels, uniform random responsibilities, one data point per
component) with a bounded number of passes over the data:

=====================  =======================================================
``init_params``        passes (each one ``dask.compute``)
=====================  =======================================================
``"kmeans"``           1 row sample (up to ``N_CANDIDATES`` k-means runs on it)
                       + 1 pass for the statistics of the chosen run's
                       partition of all the rows
``"k-means++"``        1 row sample (k-means++ seeding on the sample)
``"random"``           1 sample of 1,000 rows (a reference point) + 1 pass
``"random_from_data"`` 1 gather of ``n_components`` rows
=====================  =======================================================

``"kmeans"`` is scikit-learn's k-means procedure (k-means++ seeding, then
Lloyd iterations to its tolerance: :func:`daskmix.cluster._lloyd.kmeans`), run up to ``N_CANDIDATES = 5`` times on one
row sample in the client, stopping early when a run partitions the sample
as the best one so far did, up to half a percent of its rows on cluster
boundaries (two runs on data with one clear optimum, the cost that matters
on small fits); the runs are compared by the log-likelihood of the
sample under the Gaussian mixture made from each run's partition of it
(selection by the likelihood of the initial model, in the spirit of
Biernacki, Celeux and Govaert, *Choosing starting values for the EM
algorithm*, CSDA 2003, with no EM iteration in it), and the chosen centres
partition all the rows in one pass, whose statistics are the initial model.
The rule is the same at every size. On data of at most the sample's size
(10,000 rows for up to 200 components) the sample is the whole data set in
random order, so each run is scikit-learn's ``init_params="kmeans"``
procedure and the best of up to five is kept. On larger data the sample costs one
gather and the runs cost what they cost on 10,000 rows: the initialisation
is two computes whatever the number of rows. No EM iteration is spent on
the choice. Measured by ``python benchmarks/bench_init.py --quality`` and
``python benchmarks/bench_init.py`` (figures in ``docs/benchmarks.md``).
The price of the sample: a cluster holding much less than one
row in 10,000 is likely absent from it, and then gets a component only if
EM moves one there (k-means|| over all rows, ``daskmix.cluster._seeding``,
still seeds ``MiniBatchKMeans``).

The row sample of ``"k-means++"`` holds ``max(10_000, 50 * n_components)``
rows drawn uniformly without replacement; on smaller data it is the whole
data set.

Scalable initialisation (``InitContext.scalable``, set by algorithms whose
passes cost the same per row whatever the number of components: truncated
EM). k-means|| and k-means++ compare every row with every centre, O(N K)
and O(S K): at 4096 components and beyond they cost more than the whole fit
after them. With ``scalable``:

=====================  =======================================================
``"kmeans"``           1 row sample of ``sample_size(N, K, 16)`` rows;
                       :func:`daskmix.cluster._tree_seeding.tree_kmeans` on it
                       (cell k-means++ and Lloyd iterations with tree and
                       neighbourhood assignments, O(S log K)); the parameters
                       are the statistics of the sample's partition
                       (:func:`_partition_params`, sparse one-hot
                       responsibilities)
``"k-means++"``        1 row sample; cell k-means++ on it, then one component
                       per seed row as above
``"random"``,          as without ``scalable`` (``"random"`` stays O(N K))
``"random_from_data"``
=====================  =======================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import kmeans_plusplus

from daskmix._dask import graph as _graph
from daskmix._errors import raise_if_nonfinite
from daskmix._kernels import count_nonfinite
from daskmix._random import counter_uniform
from daskmix.cluster._kmeans_kernels import OneHotNearest
from daskmix.cluster._seeding import recluster
from daskmix.cluster._tree_seeding import cell_kmeans_plusplus, tree_kmeans
from daskmix.mixture._params import GaussianParams, estep_params, params_from_stats
from daskmix.mixture.kernels.suffstats import StatsLayout, chunk_em_stats, chunk_resp_stats

__all__ = ["SCALABLE_ROWS_PER_COMPONENT", "initial_params", "sample_size"]

#: Rows per component in the sample of the scalable initialisations.
SCALABLE_ROWS_PER_COMPONENT = 16
#: k-means runs whose initial models ``init_params="kmeans"`` compares.
N_CANDIDATES = 5
#: Share of the sample's weight two k-means runs' partitions may assign
#: differently and still count as the same optimum (rows on a boundary
#: between two clusters: measured on 1,000 rows of three unit blobs, runs
#: from different seeds ended on two optima one row apart).
PARTITION_TOLERANCE = 0.005
#: Pseudo-rows of the pooled covariance added to each sample cluster's
#: (:func:`_shrunk`).
PRIOR_ROWS = 4


def sample_size(n_samples, n_components, rows_per_component=50):
    """Rows drawn for sample-based seeding: ``max(10_000, rows_per_component * K)``, at most all.

    Parameters
    ----------
    n_samples, n_components : int
    rows_per_component : int, default=50
        :data:`SCALABLE_ROWS_PER_COMPONENT` for the scalable initialisations.

    Returns
    -------
    int
    """
    return int(min(n_samples, max(10_000, rows_per_component * n_components)))


@dataclass(frozen=True)
class InitContext:
    """What every initialisation method needs.

    Attributes
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    sample_weight : dask.array.Array of shape (n_samples,) or None
    n_components : int
    covariance : CovarianceType
        The covariance type the initialisation computes.
    reg_covar : float
    split_every : int or None
    scalable : bool, default=False
        Keep the cost per row independent of ``n_components`` (the
        algorithm's ``scalable_init``): ``"kmeans"`` and ``"k-means++"``
        run on a row sample with tree-accelerated k-means (see the module
        docstring).
    """

    X: object
    sample_weight: object
    n_components: int
    covariance: object
    reg_covar: float
    split_every: object
    scalable: bool = False

    @property
    def layout(self):
        n_features = self.X.shape[1]
        return StatsLayout(
            self.n_components,
            n_features,
            self.covariance.second_moment_shape(self.n_components, n_features),
        )


@dataclass(frozen=True, eq=False)
class UniformResp:
    """Uniform random responsibilities keyed by (seed, global row).

    Parameters
    ----------
    seed : int
    n_components : int
    """

    seed: int
    n_components: int

    def __call__(self, X, row_start):
        resp = counter_uniform(self.seed, row_start, len(X), self.n_components)
        resp /= resp.sum(axis=1, keepdims=True)
        return resp


@dataclass(frozen=True)
class OneHotRows:
    """Row ``i`` (global index) entirely in component ``i``.

    The responsibilities of one component per point; the global row index
    (``row_start``) places a tile's rows, so tiling the points does not
    change the components they go to.

    Parameters
    ----------
    n_components : int
    """

    n_components: int

    def __call__(self, X, row_start):
        resp = np.zeros((len(X), self.n_components), dtype=X.dtype)
        resp[np.arange(len(X)), row_start + np.arange(len(X))] = 1
        return resp


def _total_weight(ctx):
    if ctx.sample_weight is None:
        return float(ctx.X.shape[0])
    return _graph.total(ctx.sample_weight, "total-weight")


#: Up to this many rows, rows are drawn with ``rng.choice(n, size, replace=False)``,
#: exactly as scikit-learn draws them (it permutes all row indices: 8 MB here).
_PERMUTATION_LIMIT = 2**20


def draw_rows(rng, n_samples, size):
    """``size`` distinct row indices in random order, in memory O(size).

    Up to ``_PERMUTATION_LIMIT`` rows this is scikit-learn's draw (so
    ``init_params="random_from_data"`` picks the same rows); beyond, indices
    are drawn with replacement and duplicates dropped until enough remain,
    so a billion-row data set does not cost the client a permutation of a
    billion indices.

    Parameters
    ----------
    rng : numpy.random.RandomState
    n_samples, size : int

    Returns
    -------
    ndarray of int64, shape (size,)
    """
    if n_samples <= _PERMUTATION_LIMIT or 2 * size > n_samples:
        return rng.choice(n_samples, size=size, replace=False).astype(np.int64)
    drawn = np.empty(0, dtype=np.int64)
    while drawn.size < size:
        more = rng.randint(0, n_samples, size=2 * (size - drawn.size) + 16, dtype=np.int64)
        merged = np.concatenate([drawn, more])
        _, first = np.unique(merged, return_index=True)
        drawn = merged[np.sort(first)]
    return drawn[:size]


def _sample_rows(ctx, rng, size):
    """Gather ``size`` random rows (and their weights) and the total weight.

    Rows come back in the order drawn, as scikit-learn's
    ``random_state.choice(n_samples, size, replace=False)`` gives them.
    """
    drawn = draw_rows(rng, ctx.X.shape[0], size)
    order = np.argsort(drawn)
    indices = drawn[order]
    rows = _graph.take_rows(ctx.X, indices)
    weights = None if ctx.sample_weight is None else _graph.take_rows(ctx.sample_weight, indices)
    rows, weights, total = _graph.compute(rows, weights, _total_weight(ctx))
    raise_if_nonfinite(count_nonfinite(rows))
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    weights = None if weights is None else weights[inverse]
    return rows[inverse], weights, float(total)


def _stats_pass(ctx, resp_fn, shift, centres):
    """One pass computing the statistics of responsibilities ``resp_fn``."""
    layout = ctx.layout
    stats = _graph.reduce_blocks(
        ctx.X,
        ctx.sample_weight,
        chunk_resp_stats,
        size=layout.size,
        name="gmm-init-stats",
        split_every=ctx.split_every,
        resp_fn=resp_fn,
        covariance=ctx.covariance,
        shift=shift,
        centres=centres - shift,
        layout=layout,
        check_finite=True,
    )
    (vector,) = _graph.compute(stats)
    stats = layout.unpack(vector)
    raise_if_nonfinite(stats["nonfinite"])
    return params_from_stats(
        ctx.covariance, stats, shift, centres - shift, ctx.reg_covar, ctx.X.dtype,
        normalize_weights=False,
    )


def _params_from_points(ctx, points, total_weight):
    """Parameters with one component on each point (scikit-learn's one-hot init)."""
    layout = ctx.layout
    shift = points.mean(axis=0)
    vector = chunk_resp_stats(
        points, None, OneHotRows(len(points)), 0, ctx.covariance, shift, points - shift,
        layout,
    )
    stats = layout.unpack(vector)
    stats["weight"] = np.float64(total_weight)
    return params_from_stats(
        ctx.covariance, stats, shift, points - shift, ctx.reg_covar, ctx.X.dtype,
        normalize_weights=False,
    )


def _partition_tiles(n_rows, width):
    rows = max(1, 2**23 // max(width, 1))
    return range(0, n_rows, rows), rows


def _partition_params(ctx, rows, weights, labels, centres, total):
    """Parameters from a hard partition of sample rows (sparse one-hot responsibilities).

    The statistics of the rows labelled ``c`` make component ``c``, as the
    k-means partition's statistics do over all the data, in O(rows) instead
    of O(rows K); weights are the labels' shares of ``total``.
    """
    import scipy.sparse as sp

    layout = ctx.layout
    covariance = ctx.covariance
    shift = centres.mean(axis=0)
    rows = np.asarray(rows, dtype=np.float64)
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    nk = np.zeros(ctx.n_components)
    sy = np.zeros((ctx.n_components, rows.shape[1]))
    s2 = np.zeros(layout.s2_shape)
    starts, step = _partition_tiles(len(rows), covariance.design_width(rows.shape[1],
                                                                       np.float64))
    for start in starts:
        part = slice(start, start + step)
        n = len(rows[part])
        resp_t = sp.csr_array((w[part], (labels[part], np.arange(n))),
                              shape=(ctx.n_components, n))
        moments = covariance.moments(covariance.prepare(rows[part], shift), resp_t,
                                     centres - shift)
        for acc, value in zip((nk, sy, s2), moments):
            acc += np.asarray(value)
    stats = {"nk": nk, "sy": sy, "s2": s2, "weight": np.float64(total)}
    params = params_from_stats(covariance, stats, shift, centres - shift, ctx.reg_covar,
                               ctx.X.dtype, normalize_weights=False)
    return _shrunk(covariance, params, nk, rows.shape[1])


def _shrunk(covariance, params, counts, n_features):
    """Each component's covariance pulled towards the pooled one by ``PRIOR_ROWS`` rows.

    ``(n_k C_k + m C) / (n_k + m)`` with ``C`` the count-weighted mean of the
    ``C_k``: a sample cluster of one or two rows would otherwise start with
    ``reg_covar`` as its covariance, take no rows in the first pass and be
    re-seeded (measured on 1,000,000 rows of 4096 blobs at 1024 components:
    48 of them). Types with one covariance for all components are left as
    they are.
    """
    covariances = np.asarray(params.covariances, dtype=np.float64)
    n_components = len(counts)
    per_component = (covariance.parameter_shape(n_components, n_features)
                     != covariance.parameter_shape(1, n_features))
    if not per_component or counts.sum() <= 0:
        return params
    shape = (-1,) + (1,) * (covariances.ndim - 1)
    pooled = np.tensordot(counts / counts.sum(), covariances, axes=1)
    weight = (counts / (counts + PRIOR_ROWS)).reshape(shape)
    shrunk = weight * covariances + (1.0 - weight) * pooled
    return GaussianParams(params.weights, params.means, shrunk,
                          covariance.precision_cholesky(shrunk))


def _sample_loglik(ctx, rows, weights, centres):
    """Mean log-likelihood of sample rows under the model of their k-means partition.

    The model is the one ``init_params="kmeans"`` makes from a partition
    (the statistics of the rows nearest each centre), here of the sample
    alone, in the client.

    Parameters
    ----------
    ctx : InitContext
    rows : ndarray of shape (n_rows, n_features)
        In the data's dtype.
    weights : ndarray of shape (n_rows,) or None
    centres : ndarray of shape (n_components, n_features), float64

    Returns
    -------
    float
    """
    layout = ctx.layout
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[:, None]
    shift = centres.mean(axis=0)
    vector = chunk_resp_stats(
        rows, w, OneHotNearest(centres.astype(rows.dtype)), 0, ctx.covariance,
        shift.astype(rows.dtype), (centres - shift).astype(rows.dtype), layout,
    )
    params = params_from_stats(
        ctx.covariance, layout.unpack(vector), shift, centres - shift, ctx.reg_covar,
        rows.dtype, normalize_weights=True,
    )
    stats = layout.unpack(
        chunk_em_stats(rows, w, estep_params(ctx.covariance, params, rows.dtype), layout)
    )
    return float(stats["loglik"]) / float(stats["weight"])


def _same_partition(labels, other, weights, n_components):
    """Whether two partitions of the sample agree up to ``PARTITION_TOLERANCE`` of its weight.

    Clusters are matched by majority (each cluster of ``labels`` to the
    cluster of ``other`` holding most of its weight), whatever the runs'
    centre order; the partitions agree when the matching is one to one and
    the rows it leaves unmatched weigh at most ``PARTITION_TOLERANCE`` of
    the sample.

    Parameters
    ----------
    labels, other : ndarray of shape (n_rows,), int
    weights : ndarray of shape (n_rows,)
    n_components : int

    Returns
    -------
    bool
    """
    table = np.bincount(labels * n_components + other, weights,
                        minlength=n_components * n_components)
    table = table.reshape(n_components, n_components)
    matched = np.argmax(table, axis=1)
    if len(np.unique(matched)) < n_components:
        return False
    return table.max(axis=1).sum() >= (1.0 - PARTITION_TOLERANCE) * table.sum()


def _best_sample_kmeans(ctx, rng, n_candidates):
    """Centres of the best of up to ``n_candidates`` k-means runs on one row sample.

    Each run is scikit-learn's k-means procedure (k-means++ seeding, then
    Lloyd iterations to its tolerance: ``recluster``) on the sample. Runs are
    compared by the log-likelihood of the sample under the Gaussian mixture
    made from their partition of it (:func:`_sample_loglik`, computed only
    once a run's partition differs from the best one's); ties within a
    relative ``1e-9`` go to the earlier run. The runs stop early when one
    partitions the sample as the best run so far did, up to
    ``PARTITION_TOLERANCE`` of its rows (:func:`_same_partition`): on data
    with one clear optimum (most small, easy fits) two runs instead of
    five. One compute: the sample.

    Returns
    -------
    ndarray of shape (n_components, n_features), float64
    """
    size = sample_size(ctx.X.shape[0], ctx.n_components)
    rows, weights, _ = _sample_rows(ctx, rng, size)
    unit = np.ones(len(rows)) if weights is None else weights
    best_centres, best_labels = recluster(rows, unit, ctx.n_components, rng)
    if n_candidates == 1:
        return best_centres
    best = None  # scored when a second, different partition needs comparing
    for _ in range(n_candidates - 1):
        centres, labels = recluster(rows, unit, ctx.n_components, rng)
        if _same_partition(best_labels, labels, unit, ctx.n_components):
            break  # the best partition found twice
        if best is None:
            best = _finite_or_minus_inf(_sample_loglik(ctx, rows, weights, best_centres))
        score = _finite_or_minus_inf(_sample_loglik(ctx, rows, weights, centres))
        if score > (best + 1e-9 * abs(best) if np.isfinite(best) else best):
            best, best_labels, best_centres = score, labels, centres
    return best_centres


def _finite_or_minus_inf(score):
    return score if np.isfinite(score) else -np.inf


def _init_kmeans(ctx, rng):
    if ctx.scalable:
        size = sample_size(ctx.X.shape[0], ctx.n_components,
                           SCALABLE_ROWS_PER_COMPONENT)
        rows, weights, _ = _sample_rows(ctx, rng, size)
        centres, labels = tree_kmeans(rows, weights, ctx.n_components, rng)
        mass = float(size if weights is None else np.sum(weights, dtype=np.float64))
        return _partition_params(ctx, rows, weights, labels, centres, mass)
    centres = _best_sample_kmeans(ctx, rng, N_CANDIDATES)
    resp_fn = OneHotNearest(centres.astype(ctx.X.dtype))
    return _stats_pass(ctx, resp_fn, centres.mean(axis=0), centres)


def _init_kmeans_plusplus(ctx, rng):
    if ctx.scalable:
        size = sample_size(ctx.X.shape[0], ctx.n_components,
                           SCALABLE_ROWS_PER_COMPONENT)
        rows, weights, total = _sample_rows(ctx, rng, size)
        centres = cell_kmeans_plusplus(rows, weights, ctx.n_components, rng)
        return _params_from_points(ctx, centres, total)
    size = sample_size(ctx.X.shape[0], ctx.n_components)
    rows, weights, total = _sample_rows(ctx, rng, size)
    seed = rng.randint(np.iinfo(np.int32).max)
    centres, _ = kmeans_plusplus(
        rows, ctx.n_components, sample_weight=weights, random_state=seed
    )
    return _params_from_points(ctx, centres, total)


def _init_random(ctx, rng):
    seed = int(rng.randint(np.iinfo(np.int32).max))
    rows, _, _ = _sample_rows(ctx, rng, min(ctx.X.shape[0], 1000))
    reference = rows.mean(axis=0, dtype=np.float64)
    centres = np.broadcast_to(reference, (ctx.n_components, len(reference)))
    return _stats_pass(ctx, UniformResp(seed, ctx.n_components), reference, centres)


def _init_random_from_data(ctx, rng):
    rows, _, total = _sample_rows(ctx, rng, ctx.n_components)
    return _params_from_points(ctx, rows.astype(np.float64), total)


_METHODS = {
    "kmeans": _init_kmeans,
    "k-means++": _init_kmeans_plusplus,
    "random": _init_random,
    "random_from_data": _init_random_from_data,
}


def initial_params(method, ctx, rng):
    """Initial ``GaussianParams`` by ``method``.

    Parameters
    ----------
    method : {"kmeans", "k-means++", "random", "random_from_data"}
    ctx : InitContext
    rng : numpy.random.RandomState

    Returns
    -------
    GaussianParams
    """
    return _METHODS[method](ctx, rng)
