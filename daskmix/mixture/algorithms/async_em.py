"""Asynchronous distributed EM (``algorithm="async"``): the policy.

DEM (Srivastava, DePalma and Liu, 2019) runs the E-step of every data block
as an independent task and the M-step as soon as a fraction ``gamma`` of the
blocks has reported, on the latest statistics of every block: the blocks
that have not reported yet contribute their cached, older statistics
(incremental EM; Neal and Hinton, 1998). A slow worker then delays only the
blocks it is computing, not every M-step. This module owns that policy and
nothing else; the tasks run through :class:`daskmix._dask.futures.BlockTasks`
(``distributed`` futures), the statistics are exact EM's
(:func:`~daskmix.mixture.kernels.suffstats.chunk_em_stats`) and so is the M-step
(:func:`~daskmix.mixture._params.params_from_stats`).

* **Blocks** are the chunks of ``X``, persisted on the workers.
* **Cache.** Each block's latest statistics vector, with the version of the
  parameters it was computed at, and the running total ``S`` that the M-step
  reads: a report replaces its block's vector ``s_j`` and ``S += s_j' - s_j``.
  ``S`` is recomputed from the cache once every ``n_blocks`` reports (at every
  M-step when ``gamma=1``) so that rounding does not accumulate.
* **One shift for the fit.** Statistics computed at different parameters add
  up only about a common point: the kernels subtract the fit's fixed shift
  (the weighted mean of the starting means) and second moments are moved to
  it (:func:`block_stats_about_shift`), as stepwise EM does.
* **Rounds.** The first M-step waits for every block at the starting
  parameters. After that, an M-step runs once ``q = ceil(gamma * n_blocks)``
  blocks have reported since the previous one, whatever parameters they
  used; the blocks still running are used stale when they report. With
  ``gamma=1`` (``q = n_blocks``) every M-step sees every block at the
  current parameters: exact EM, to rounding.
* **Placement (the pull rule, :class:`Placement`).** Tasks are not all
  submitted at once: each worker holds at most ``PIPELINE_DEPTH`` tasks per
  thread (one per thread if it reports less than half as often as the
  busiest worker), and whenever a slot frees up the client submits, at the
  newest parameters, the block whose statistics are oldest among those not
  running and not computed at the current parameters, preferring a block
  whose data the worker holds. So no E-step waits in a slow worker's queue
  while its parameters grow old, a fast worker never waits for a slow one,
  and it also computes blocks stored on a slow worker (Dask copies them to
  it). The scheduler cannot tell a straggler from the task durations it
  sees (a worker slowed by something outside Dask), and a constant stream
  of tasks on the fast worker would leave it no idle time to move work; the
  client can, from how often each worker reports. Exact EM gets a similar
  balance from the scheduler itself, which places each pass's tasks on the
  less busy worker. Which worker computes a block does not change its
  statistics: ``gamma=1`` stays deterministic.
* **Lower bound.** At each M-step: the cached log-likelihoods summed over
  the blocks, per unit weight. When every block is at the current
  parameters (every M-step with ``gamma=1``, the first and the last with
  ``gamma < 1``) this is exact EM's lower bound, the mean log-likelihood of
  the parameters of the E-step; otherwise an estimate in which some blocks
  were evaluated at older parameters (it need not increase monotonically).
* **Stopping.** After ``max_iter`` M-steps, or once the lower bound
  changed by less than ``tol`` since the M-step that produced the oldest
  parameters still in the cache: over a window in which every block has
  been refreshed at least once (about one pass when the workers keep pace,
  longer behind a straggler; for ``gamma=1`` the previous M-step, exact
  EM's rule). Unless the M-step that met the test saw every block at one
  version, one final synchronous round follows (stale tasks cancelled, every
  block evaluated at the current parameters) and its M-step ends the fit, so
  ``lower_bound_`` is always exact. The round of the last allowed M-step is
  synchronous too.
* **Lagging tasks.** When a block's task has been running for more than
  ``MAX_LAG_PASSES`` passes' worth of M-steps (``ceil(n_blocks / q)``
  M-steps a pass), the next round is synchronous: it waits for every block
  at the current parameters. Stale tasks are cancelled and the
  cluster drains, which lets work that a constant stream of new
  E-steps would starve run: after a worker dies, the scheduler's
  recomputation of its blocks is queued (root tasks wait for a free worker
  slot) and the blocks' E-steps wait for it. With the pull rule a task
  rarely lags that long (a worker's queue is short); the rule remains the
  safety net for a task lost without a report.
* **Determinism.** ``gamma=1`` is deterministic for a ``random_state``.
  With ``gamma < 1`` which statistics are stale at each M-step depends on
  the order in which tasks finish, so results vary from run to run within
  the tolerance of the fit (statistical, not bitwise, reproducibility).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from daskmix._errors import raise_if_nonfinite
from daskmix.mixture._params import estep_params, params_from_stats
from daskmix.mixture.algorithms._base import Algorithm
from daskmix.mixture.algorithms.em import RunResult
from daskmix.mixture.kernels.suffstats import StatsLayout, chunk_em_stats

__all__ = [
    "AsyncEM",
    "AsyncModel",
    "BlockCache",
    "Placement",
    "block_stats_about_shift",
    "quorum",
    "run_async",
    "run_async_fit",
]

#: A task still running after about this many passes' worth of M-steps
#: (``ceil(n_blocks / q)`` M-steps each) makes the next round synchronous
#: (see the module docstring).
MAX_LAG_PASSES = 10

#: Tasks each worker thread holds at most (running or queued on the worker);
#: see :class:`Placement`.
PIPELINE_DEPTH = 2

#: What needs a client, in error messages.
_PURPOSE = 'algorithm="async"'


def quorum(gamma, n_blocks):
    """Fresh reports an M-step waits for: ``ceil(gamma * n_blocks)``, at least 1.

    Parameters
    ----------
    gamma : float in (0, 1]
    n_blocks : int

    Returns
    -------
    int
    """
    # round first: 0.3 * 10 is 3.0000000000000004 in floating point
    return max(1, min(int(n_blocks), math.ceil(round(gamma * n_blocks, 9))))


def block_stats_about_shift(X, sample_weight, params, layout, check_finite=False, row_start=0):
    """A block's E-step statistics, second moments about the shift (a chunk kernel).

    :func:`~daskmix.mixture.kernels.suffstats.chunk_em_stats`, with the second
    moment moved from the centres the kernel used to ``params.shift``, so
    that the statistics of blocks evaluated at different parameters (all
    with the same shift) add up.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples, 1) or None
    params : EStepParams
    layout : StatsLayout
    check_finite : bool, default=False
    row_start : int, default=0
        Unused; part of the chunk-kernel signature.

    Returns
    -------
    stats : ndarray of shape (layout.size,)
    """
    vector = chunk_em_stats(X, sample_weight, params, layout, check_finite=check_finite)
    stats = layout.views(vector)
    s2 = params.covariance.second_moment_about_shift(
        stats["s2"], stats["nk"], stats["sy"], params.centres.astype(np.float64)
    )
    if s2 is not stats["s2"]:
        stats["s2"][...] = s2
    return vector


class BlockCache:
    """Every block's latest statistics, their versions and their running total.

    Parameters
    ----------
    n_blocks : int
    size : int
        Length of a statistics vector.
    """

    def __init__(self, n_blocks, size):
        self.vectors = np.zeros((int(n_blocks), int(size)))
        self.versions = np.full(int(n_blocks), -1, dtype=np.int64)
        self._total = np.zeros(int(size))
        self._since_refresh = 0

    def put(self, block, version, vector):
        """Replace ``block``'s statistics by ``vector``, computed at ``version``.

        Parameters
        ----------
        block, version : int
        vector : ndarray of shape (size,)
        """
        self._total += vector - self.vectors[block]
        self.vectors[block] = vector
        self.versions[block] = version
        self._since_refresh += 1

    def all_at(self, version):
        """Whether every block's statistics were computed at ``version``."""
        return bool(np.all(self.versions == version))

    def oldest(self):
        """The oldest version any block's statistics were computed at."""
        return int(self.versions.min())

    def total(self):
        """The sum of the cached vectors (recomputed exactly every ``n_blocks`` puts).

        Returns
        -------
        ndarray of shape (size,)
        """
        if self._since_refresh >= len(self.vectors):
            self._total = self.vectors.sum(axis=0)
            self._since_refresh = 0
        return self._total.copy()


@dataclass(frozen=True)
class AsyncModel:
    """The E-step arguments and the M-step of one asynchronous run.

    Attributes
    ----------
    covariance : object
        Covariance strategy.
    layout : StatsLayout
    reg_covar : float
    dtype : numpy dtype
        The data's dtype.
    shift : ndarray of shape (n_features,)
        The fit's fixed shift, float64 holding a value exact in ``dtype``.
    """

    covariance: type
    layout: StatsLayout
    reg_covar: float
    dtype: np.dtype
    shift: np.ndarray

    @classmethod
    def from_settings(cls, settings, params, n_features, dtype):
        """The model of a fit's settings, shifted by ``params``' mean.

        Parameters
        ----------
        settings : FitSettings
        params : GaussianParams
            Starting parameters; the shift is their weighted mean of means.
        n_features : int
        dtype : numpy dtype

        Returns
        -------
        AsyncModel
        """
        weights = params.weights / params.weights.sum()
        shift = (weights @ params.means).astype(dtype).astype(np.float64)
        return cls(settings.covariance, settings.layout(n_features),
                   float(settings.reg_covar), np.dtype(dtype), shift)

    def kernel_kwargs(self, params, first):
        """Arguments of :func:`block_stats_about_shift` at ``params``.

        Parameters
        ----------
        params : GaussianParams
        first : bool
            Count non-finite values (the first E-step of each block).

        Returns
        -------
        dict
        """
        return dict(
            params=estep_params(self.covariance, params, self.dtype, shift=self.shift),
            layout=self.layout, check_finite=first,
        )

    def m_step(self, vector):
        """New parameters from summed statistics (second moments about the shift).

        Parameters
        ----------
        vector : ndarray of shape (layout.size,)

        Returns
        -------
        params : GaussianParams
        stats : dict
            The unpacked statistics.

        Raises
        ------
        ValueError
            If an E-step found NaN or infinity in the data.
        """
        stats = self.layout.unpack(vector)
        raise_if_nonfinite(stats["nonfinite"])
        centres = np.zeros_like(stats["sy"])
        params = params_from_stats(self.covariance, stats, self.shift, centres,
                                   self.reg_covar, self.dtype, normalize_weights=True)
        return params, stats


def _settled(history, oldest, tol):
    """Whether the lower bound changed by less than ``tol`` since M-step ``oldest``.

    Parameters
    ----------
    history : list of float
        The lower bound before the first M-step, then after each one.
    oldest : int
        The oldest parameter version in the cache (version ``v`` is the
        output of M-step ``v``; 0 the starting parameters).
    tol : float

    Returns
    -------
    bool
    """
    change = history[-1] - history[oldest]
    return math.isfinite(change) and abs(change) < tol


class Placement:
    """Which block each worker with a free slot computes next (the pull rule).

    * **Slots.** A worker keeps at most ``PIPELINE_DEPTH`` tasks per thread
      (one running, one queued behind it, so that it does not wait for the
      client between tasks), and a worker that reports less than half as
      often as the busiest one keeps one per thread: a task queued behind a
      straggler would wait there a long time holding parameters that grow
      old (and, in a synchronous round, hold the round up). No more tasks
      than that are submitted: the blocks wait on the client, which submits
      each one at the newest parameters when a slot frees up.
    * **Which block.** The one whose cached statistics are oldest among
      those not running and not yet computed at the current parameters;
      among equally old blocks, one whose data the worker holds (no copy),
      then the lowest index. A fast worker therefore computes more blocks
      than a slow one, including blocks stored on the slow one, which Dask
      then copies to it (as it does for exact EM's tasks, which the
      scheduler places on the less busy worker).

    Parameters
    ----------
    n_blocks : int
    holders : list of set of str
        The workers holding each block's data at the start.
    """

    def __init__(self, n_blocks, holders):
        self.n_blocks = int(n_blocks)
        self._held = {}  # worker -> bool array: holds each block's data
        for block, workers in enumerate(holders):
            for worker in workers:
                self._holds(worker)[block] = True
        self.rates = {}  # worker -> reports, halved every n_blocks reports
        self._reports = 0

    def _holds(self, worker):
        if worker not in self._held:
            self._held[worker] = np.zeros(self.n_blocks, dtype=bool)
        return self._held[worker]

    def reported(self, block, worker):
        """Note that ``worker`` computed ``block`` (it now holds its data).

        Parameters
        ----------
        block : int
        worker : str or None
        """
        if worker is None:
            return
        self._holds(worker)[block] = True
        self.rates[worker] = self.rates.get(worker, 0.0) + 1.0
        self._reports += 1
        if self._reports % self.n_blocks == 0:
            self.rates = {w: rate / 2 for w, rate in self.rates.items()}

    def depth(self, worker, workers):
        """Tasks per thread ``worker`` may hold (see the class docstring).

        Parameters
        ----------
        worker : str
        workers : iterable of str
            The live workers (the busiest is one of them).

        Returns
        -------
        int
        """
        busiest = max((self.rates.get(w, 0.0) for w in workers), default=0.0)
        return PIPELINE_DEPTH if 2 * self.rates.get(worker, 0.0) >= busiest else 1

    def assign(self, versions, version, running, workers):
        """The ``(block, worker)`` pairs to submit now, at parameter ``version``.

        Free slots are filled in turn over the workers (in address order),
        so that each takes its oldest blocks. O(n_blocks) per slot filled.

        Parameters
        ----------
        versions : ndarray of shape (n_blocks,)
            The version each block's cached statistics were computed at.
        version : int
            The current parameters' version.
        running : dict of int to (int, str or None)
            Block to ``(version, worker)`` of its running task.
        workers : dict of str to int
            Live worker address to number of threads.

        Returns
        -------
        list of (int, str or None)
            ``worker`` is ``None`` when no worker is known (the scheduler
            then places the task when one joins).
        """
        versions = np.asarray(versions, dtype=np.int64)
        ready = versions < version
        ready[list(running)] = False
        if not workers:
            return [(int(block), None) for block in np.flatnonzero(ready)]
        busy = {}
        for _, worker in running.values():
            busy[worker] = busy.get(worker, 0) + 1
        free = {w: self.depth(w, workers) * n - busy.get(w, 0)
                for w, n in sorted(workers.items())}
        # order: oldest version first, then data already on the worker
        rank = 2 * (versions - versions.min())
        sentinel = np.iinfo(np.int64).max
        chosen = []
        while ready.any() and any(n > 0 for n in free.values()):
            for worker in [w for w, n in free.items() if n > 0]:
                if not ready.any():
                    break
                remote = ~self._held.get(worker, np.zeros(self.n_blocks, dtype=bool))
                block = int(np.argmin(np.where(ready, rank + remote, sentinel)))
                ready[block] = False
                free[worker] -= 1
                chosen.append((block, worker))
        return chosen


def run_async(tasks, model, params, *, gamma, lower_bound, max_iter, tol, on_iteration):
    """Asynchronous EM over the blocks of ``tasks`` until convergence or ``max_iter``.

    Parameters
    ----------
    tasks : BlockTasks
        Or any object with its ``n_blocks``, ``workers()``, ``holders()``,
        ``submit(block, tag, worker, **kwargs)``, ``running()``,
        ``cancel(blocks)`` and ``next_report()``; the tags are parameter
        versions.
    model : AsyncModel
    params : GaussianParams
        Starting parameters.
    gamma : float in (0, 1]
        Fraction of the blocks whose fresh reports an M-step waits for.
    lower_bound : float
        Lower bound before the first M-step (``-inf`` on a fresh start).
    max_iter : int
        Most M-steps.
    tol : float
    on_iteration : callable
        ``on_iteration(n_iter, lower_bound, change)`` after every M-step;
        ``change`` is the change since the previous M-step.

    Returns
    -------
    RunResult
        ``n_iter`` counts M-steps; ``lower_bound`` is exact (see the module
        docstring).
    """
    result = RunResult(params=params, lower_bound=lower_bound)
    if max_iter <= 0:
        return result
    n_blocks = tasks.n_blocks
    needed = quorum(gamma, n_blocks)
    always_synchronous = needed >= n_blocks
    max_lag = MAX_LAG_PASSES * -(-n_blocks // needed)
    cache = BlockCache(n_blocks, model.layout.size)
    placement = Placement(n_blocks, tasks.holders())
    history = [lower_bound]
    version, synchronous, finishing = 0, True, False
    kwargs = model.kernel_kwargs(params, first=True)

    def fill():
        for block, worker in placement.assign(cache.versions, version, tasks.running(),
                                              tasks.workers()):
            tasks.submit(block, version, worker, **kwargs)

    fill()
    reported = set()  # blocks reported since the last M-step
    while True:
        block, tag, worker, vector = tasks.next_report()
        cache.put(block, tag, vector)
        placement.reported(block, worker)
        reported.add(block)
        exact = cache.all_at(version)
        if not (exact if synchronous else len(reported) >= needed):
            fill()
            continue
        result.params, stats = model.m_step(cache.total())
        lb = float(stats["loglik"] / stats["weight"])
        result.n_iter += 1
        result.lower_bound = lb
        result.lower_bounds.append(lb)
        change = lb - history[-1]
        history.append(lb)
        on_iteration(result.n_iter, lb, change)
        settled = _settled(history, cache.oldest(), tol)
        if finishing or (settled and exact):
            result.converged = True
            return result
        if result.n_iter >= max_iter:
            return result
        version += 1
        finishing = settled
        running = tasks.running()
        lagging = any(tag < version - max_lag for tag, _ in running.values())
        synchronous = (always_synchronous or settled or lagging
                       or result.n_iter == max_iter - 1)
        if synchronous:
            tasks.cancel([b for b, (tag, _) in running.items() if tag < version])
        kwargs = model.kernel_kwargs(result.params, first=False)
        reported = set()
        fill()


def run_async_fit(settings, data, sample_weight, params, lower_bound, on_iteration):
    """One initialisation's asynchronous EM on the current ``distributed`` client.

    Parameters
    ----------
    settings : FitSettings
        With ``gamma`` among its options.
    data : InputData
    sample_weight : dask.array.Array of shape (n_samples,) or None
    params : GaussianParams
        Starting parameters.
    lower_bound : float
    on_iteration : callable

    Returns
    -------
    RunResult
    """
    from daskmix._dask import futures as _futures

    client = _futures.client_for(_PURPOSE)
    model = AsyncModel.from_settings(settings, params, data.array.shape[1], data.dtype)
    with _futures.BlockTasks(client, data.array, sample_weight, block_stats_about_shift,
                             name="estep") as tasks:
        return run_async(
            tasks, model, params, gamma=settings.options["gamma"], lower_bound=lower_bound,
            max_iter=settings.max_iter, tol=settings.tol, on_iteration=on_iteration,
        )


class AsyncEM(Algorithm):
    """Asynchronous distributed EM (DEM): M-steps on a quorum ``gamma`` of fresh blocks.

    Needs a ``distributed`` client; its statistics are carried between
    parameters about a fixed shift, as stepwise EM's are, so it fits the
    covariance types whose second moments can be moved (not ``"factor"``).
    """

    name = "async"
    covariance_types = frozenset({"full", "tied", "diag", "spherical"})
    parameters = frozenset({"gamma"})

    def check(self, estimator, n_features):
        """Raise early if there is no ``distributed`` client to run on.

        Parameters
        ----------
        estimator : GaussianMixture
        n_features : int

        Raises
        ------
        daskmix.exceptions.NoClientError
            Saying how to start a client, or to use ``algorithm="em"``.
        """
        from daskmix._dask import futures as _futures

        _futures.client_for(_PURPOSE)

    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """Asynchronous EM rounds until convergence; see :meth:`Algorithm.run`.

        Returns
        -------
        RunResult
        """
        return run_async_fit(settings, data, sample_weight, params, lower_bound, on_iteration)
